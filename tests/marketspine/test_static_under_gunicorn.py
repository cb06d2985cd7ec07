"""With DEBUG off under gunicorn, whitenoise serves the admin's and the API docs' assets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.marketspine.conftest import ROOT, gunicorn, production_env

ASSETS = [
    "/static/admin/css/base.css",
    "/static/admin/js/theme.js",
    "/static/workqueue/console.css",
    "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css",
    "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
]


@pytest.mark.timeout(120)
def test_gunicorn_serves_admin_and_api_docs_assets(tmp_path: Path):
    env = production_env(tmp_path, SECURE_SSL_REDIRECT="false")
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    assert (tmp_path / "static" / "admin" / "css" / "base.css").exists()
    with gunicorn(env, probe=ASSETS[0]) as base:
        answers = {path: requests.get(base + path, timeout=30) for path in ASSETS}
        assert {path: r.status_code for path, r in answers.items()} == dict.fromkeys(ASSETS, 200)
        assert "text/css" in answers[ASSETS[0]].headers["Content-Type"]
        assert b"--body-fg" in answers[ASSETS[0]].content
        assert requests.get(base + "/static/admin/css/missing.css", timeout=30).status_code == 404
