"""Start-up configuration: the development env file ``make run`` writes, and errors as one line.

``manage.py`` reads ``.env`` (or ``MARKETSPINE_ENV_FILE``) for what the environment leaves unset;
``marketspine.wsgi`` reads no file. A bad value stops either with one line on stderr.
"""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from marketspine.env import write_development_env_file
from tests.marketspine.conftest import GUNICORN, ROOT, free_port, production_env
from tests.marketspine.test_settings import manage

SHOW_SETTINGS = "from django.conf import settings; print(settings.DEBUG, settings.SECRET_KEY)"


def env_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dev.env"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("WORKQUEUE_MAX_ATTEMPTS", "three", "WORKQUEUE_MAX_ATTEMPTS='three' is not an integer"),
        ("DATABASE_URL", "nonsense://x", "DATABASE_URL is not a valid database URL"),
        ("SECRET_KEY", "", "SECRET_KEY must be set to a private value"),
    ],
)
def test_a_configuration_error_is_one_line_on_stderr(variable, value, message):
    environment = {"SECRET_KEY": "k" * 50, "DEBUG": "false", variable: value}
    if variable == "SECRET_KEY":
        environment.pop("SECRET_KEY")

    result = manage(
        "enqueue", "workqueue.diagnostics", "noop", "--partition", '{"n": 1}', **environment
    )

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("manage.py: configuration error: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_manage_py_reads_the_env_file_when_the_environment_sets_nothing(tmp_path):
    path = env_file(tmp_path, "DEBUG=true\nSECRET_KEY=from-the-file-$HOME-#1\n")

    result = manage("shell", "--no-imports", "-c", SHOW_SETTINGS, MARKETSPINE_ENV_FILE=str(path))

    assert result.returncode == 0, result.stderr
    # Taken literally: no expansion of $HOME, no comment after #.
    assert result.stdout.split() == ["True", "from-the-file-$HOME-#1"]


def test_a_variable_in_the_environment_wins_over_the_file(tmp_path):
    path = env_file(tmp_path, "DEBUG=true\nSECRET_KEY=from-the-file\n")

    result = manage(
        "shell",
        "--no-imports",
        "-c",
        SHOW_SETTINGS,
        MARKETSPINE_ENV_FILE=str(path),
        DEBUG="false",
        SECRET_KEY="from-the-environment-" + "e" * 40,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "from-the-environment-" + "e" * 40]


def test_an_env_file_that_is_named_but_missing_is_a_configuration_error(tmp_path):
    result = manage("check", MARKETSPINE_ENV_FILE=str(tmp_path / "missing.env"))

    assert result.returncode == 2
    assert result.stderr == (
        f"manage.py: configuration error: MARKETSPINE_ENV_FILE='{tmp_path / 'missing.env'}' "
        "is not a file\n"
    )


def test_the_development_file_is_private_never_rewritten_and_makes_commands_work(tmp_path):
    path = tmp_path / ".env"

    assert write_development_env_file(path) is True
    first = path.read_text()
    assert write_development_env_file(path) is False
    assert path.read_text() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    result = manage("shell", "--no-imports", "-c", SHOW_SETTINGS, MARKETSPINE_ENV_FILE=str(path))
    assert result.returncode == 0, result.stderr
    debug, key = result.stdout.split()
    assert debug == "True"
    assert len(key) >= 50
    assert key != "insecure-development-key-do-not-use-in-production"
    other = tmp_path / "other.env"
    write_development_env_file(other)
    assert other.read_text() != first  # a fresh key each time


@pytest.mark.timeout(60)
def test_gunicorn_stops_with_the_one_line_and_reads_no_env_file(tmp_path):
    # A development file beside the code is not the server's configuration: still refused.
    path = env_file(tmp_path, "DEBUG=true\nSECRET_KEY=from-the-file\n")
    env = production_env(tmp_path, MARKETSPINE_ENV_FILE=str(path), WORKQUEUE_BROKER="kafka")

    result = subprocess.run(
        [str(GUNICORN), "marketspine.wsgi", "--bind", f"127.0.0.1:{free_port()}", "-w", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=50,
    )

    assert result.returncode == 4  # gunicorn's "App failed to load": no endless worker reboots
    line = (
        "marketspine.wsgi: configuration error: WORKQUEUE_BROKER='kafka' must be one of: orm, redis"
    )
    assert line + "\n" in result.stderr
    assert "Traceback" not in result.stderr


def test_wsgi_does_not_take_debug_from_an_env_file(tmp_path):
    path = env_file(tmp_path, "DEBUG=true\n")
    env = production_env(tmp_path, MARKETSPINE_ENV_FILE=str(path))
    env.pop("SECRET_KEY")

    result = subprocess.run(
        [sys.executable, "-c", "import marketspine.wsgi"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=50,
    )

    assert result.returncode == 4
    assert "SECRET_KEY must be set to a private value" in result.stderr
