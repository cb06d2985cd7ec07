"""With DEBUG off under gunicorn, whitenoise serves the admin's and the API docs' assets."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
ASSETS = [
    "/static/admin/css/base.css",
    "/static/admin/js/theme.js",
    "/static/workqueue/console.css",
    "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css",
    "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def production_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MARKETSPINE_TESTING"}
    env.update(
        DEBUG="false",
        SECRET_KEY="static-test-" + "x" * 40,
        SECURE_SSL_REDIRECT="false",
        MARKETSPINE_VAR_DIR=str(tmp_path),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        DJANGO_SETTINGS_MODULE="marketspine.settings",
    )
    return env


@pytest.mark.timeout(120)
def test_gunicorn_serves_admin_and_api_docs_assets(production_env, tmp_path):
    python = sys.executable
    subprocess.run(
        [python, "manage.py", "collectstatic", "--no-input", "--verbosity", "0"],
        cwd=BASE_DIR,
        env=production_env,
        check=True,
        timeout=120,
    )
    assert (tmp_path / "static" / "admin" / "css" / "base.css").exists()
    port = _free_port()
    server = subprocess.Popen(
        [
            str(Path(python).parent / "gunicorn"),
            "marketspine.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
        ],
        cwd=BASE_DIR,
        env=production_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        # Until gunicorn answers (its worker may take a while to boot on a busy machine).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                requests.get(base + ASSETS[0], timeout=5)
                break
            except requests.RequestException:
                if server.poll() is not None:
                    pytest.fail(f"gunicorn exited: {server.stderr.read().decode()[-2000:]}")
                time.sleep(0.1)
        answers = {path: requests.get(base + path, timeout=30) for path in ASSETS}
        assert {path: r.status_code for path, r in answers.items()} == dict.fromkeys(ASSETS, 200)
        assert "text/css" in answers[ASSETS[0]].headers["Content-Type"]
        assert b"--body-fg" in answers[ASSETS[0]].content
        assert requests.get(base + "/static/admin/css/missing.css", timeout=30).status_code == 404
    finally:
        server.terminate()
        server.wait(timeout=10)
