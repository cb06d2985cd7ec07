"""Settings come from the environment; bad values stop start-up with a message naming them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "SECRET_KEY": "a-private-production-secret-key-with-enough-length-and-entropy-1234567890",
    "ALLOWED_HOSTS": "spine.example.com",
    "DEBUG": "false",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MARKETSPINE_", "DJANGO_"))}
    clean.pop("DATABASE_URL", None)
    # No development .env either: these tests are about what the environment alone gives.
    clean.update(
        env,
        MARKETSPINE_VAR_DIR=env.get("MARKETSPINE_VAR_DIR", str(ROOT / "var")),
        MARKETSPINE_ENV_FILE=env.get("MARKETSPINE_ENV_FILE", ""),
    )
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True
    )


def test_check_deploy_is_clean_with_production_variables():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    result = manage("check", DEBUG="false", ALLOWED_HOSTS="spine.example.com")
    assert result.returncode != 0
    assert "SECRET_KEY must be set to a private value" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("WORKQUEUE_MAX_ATTEMPTS", "three", "WORKQUEUE_MAX_ATTEMPTS='three' is not an integer"),
        ("WORKQUEUE_MAX_ATTEMPTS", "0", "WORKQUEUE_MAX_ATTEMPTS=0 must be at least 1"),
        ("WORKQUEUE_RETRY_FACTOR", "x", "WORKQUEUE_RETRY_FACTOR='x' is not a number"),
        ("DEBUG", "maybe", "DEBUG='maybe' is not a boolean"),
        ("WORKQUEUE_BROKER", "kafka", "WORKQUEUE_BROKER='kafka' must be one of: orm, redis"),
        ("DATABASE_URL", "nonsense://x", "DATABASE_URL is not a valid database URL"),
        (
            "FINRA_PUBLICATION_GRACE_HOURS",
            "-1",
            "FINRA_PUBLICATION_GRACE_HOURS=-1 must be at least 0",
        ),
        (
            "FINRA_PUBLICATION_GRACE_HOURS",
            "6.5",
            "FINRA_PUBLICATION_GRACE_HOURS='6.5' is not an integer",
        ),
        ("API_THROTTLE_RATE", "fast", "API_THROTTLE_RATE='fast' is not a rate"),
        ("API_THROTTLE_RATE", "0/min", "API_THROTTLE_RATE='0/min' is not a rate"),
        ("CACHE_URL", "memcached://x", "CACHE_URL='memcached://x' must be redis://"),
        ("TRUST_X_FORWARDED_PROTO", "sometimes", "TRUST_X_FORWARDED_PROTO='sometimes' is not"),
        ("LOGIN_FAILURE_LIMIT", "0", "LOGIN_FAILURE_LIMIT=0 must be at least 1"),
    ],
)
def test_a_bad_value_is_an_error_at_start_up_naming_the_variable(variable, value, message):
    result = manage("check", **{**PRODUCTION, variable: value})
    assert result.returncode != 0
    assert message in result.stderr


def settings_values(*names: str, **env: str) -> list[str]:
    code = "from django.conf import settings; " + "; ".join(
        f"print(repr(settings.{name}))" for name in names
    )
    result = manage("shell", "--no-imports", "-c", code, **{**PRODUCTION, **env})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()


def test_proxy_headers_are_believed_only_when_configured_and_hsts_preload_is_off():
    assert settings_values("SECURE_PROXY_SSL_HEADER", "SECURE_HSTS_PRELOAD") == ["None", "False"]
    assert settings_values("SECURE_PROXY_SSL_HEADER", TRUST_X_FORWARDED_PROTO="true") == [
        "('HTTP_X_FORWARDED_PROTO', 'https')"
    ]
    assert settings_values("SECURE_HSTS_PRELOAD", SECURE_HSTS_PRELOAD="true") == ["True"]


def test_throttle_rate_and_shared_cache_come_from_the_environment():
    assert settings_values("API_THROTTLE_RATE", API_THROTTLE_RATE="90/min") == ["(90, 60)"]
    assert settings_values("API_THROTTLE_RATE", API_THROTTLE_RATE="off") == ["None"]
    backend = "CACHES['default']['BACKEND']"
    assert settings_values(backend, CACHE_URL="") == [
        "'django.core.cache.backends.locmem.LocMemCache'"
    ]
    assert settings_values(backend, REDIS_URL="redis://127.0.0.1:6379/3") == [
        "'django.core.cache.backends.redis.RedisCache'"
    ]
