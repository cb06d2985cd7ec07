"""A real gunicorn serving the project, for what only a WSGI server in front shows."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """The process environment of a production web host: DEBUG off, a private key, the
    settings module itself (not the test overlay) and no development env file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MARKETSPINE_", "DJANGO_"))}
    env.update(
        DEBUG="false",
        SECRET_KEY="gunicorn-test-" + "x" * 40,
        MARKETSPINE_VAR_DIR=str(tmp_path),
        MARKETSPINE_ENV_FILE="",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        DJANGO_SETTINGS_MODULE="marketspine.settings",
    )
    env.update(overrides)
    return env


@contextmanager
def gunicorn(env: dict[str, str], *, probe: str = "/healthz") -> Iterator[str]:
    """gunicorn with deploy/gunicorn.conf.py and one worker on a free port; yields its base URL
    once ``probe`` answers."""
    port = free_port()
    config = ["-c", "deploy/gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    server = subprocess.Popen(
        [str(GUNICORN), *config, "marketspine.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # Until gunicorn answers (its worker may take a while to boot on a busy machine).
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(base + probe, timeout=5)
                break
            except requests.RequestException:
                if server.poll() is not None:
                    pytest.fail(f"gunicorn exited: {server.stderr.read().decode()[-2000:]}")
                if time.monotonic() > deadline:
                    pytest.fail("gunicorn did not answer within 60 s")
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)
