"""Benchmark-only settings for benchmarks/token_lookup.py: the product's settings plus knox."""

from __future__ import annotations

from benchmarks.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "knox"]  # noqa: F405
REST_KNOX = {"AUTH_HEADER_PREFIX": "Token", "AUTO_REFRESH": False}
