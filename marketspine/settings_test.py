"""Test overlay: the production settings with test-only speed-ups."""

from __future__ import annotations

import os

os.environ.setdefault("MARKETSPINE_TESTING", "1")

from marketspine.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Throttle counters stay in this process, whatever REDIS_URL the environment has.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
