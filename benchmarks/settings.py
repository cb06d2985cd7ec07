"""Benchmark-only settings: the product's settings plus a URL conf with a baseline view."""

from __future__ import annotations

from marketspine.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.urls"
