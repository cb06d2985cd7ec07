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
    ],
)
def test_a_bad_value_is_an_error_at_start_up_naming_the_variable(variable, value, message):
    result = manage("check", **{**PRODUCTION, variable: value})
    assert result.returncode != 0
    assert message in result.stderr
