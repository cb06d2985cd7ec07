"""``GET /healthz`` answers probes that reach the pod by its IP over plain HTTP, with the database
down, while every other path keeps its host check and its https redirect.

The in-process tests carry no ``django_db`` mark: pytest-django refuses any query they make, so
a 200 there is an answer given without the database.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.marketspine.conftest import gunicorn, production_env

POD_IP = "10.42.0.17:8000"


def test_liveness_answers_alive_without_a_database(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "alive"}
    assert response["Cache-Control"] == "no-store"


def test_liveness_answers_a_probe_whose_host_is_the_pod_address(client):
    assert client.get("/healthz", HTTP_HOST=POD_IP).status_code == 200
    assert client.head("/healthz", HTTP_HOST=POD_IP).status_code == 200


def test_other_paths_still_refuse_a_host_outside_allowed_hosts(client):
    assert client.get("/admin/login/", HTTP_HOST=POD_IP).status_code == 400
    assert client.get("/api/v1/health", HTTP_HOST=POD_IP).status_code == 400
    # Only GET and HEAD of the exact path skip the host check.
    assert client.post("/healthz", HTTP_HOST=POD_IP).status_code == 400
    assert client.get("/healthz/", HTTP_HOST=POD_IP).status_code == 400


def test_liveness_is_not_redirected_to_https(client, settings):
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/healthz").status_code == 200
    redirected = client.get("/admin/login/")
    assert redirected.status_code == 301
    assert redirected["Location"] == "https://testserver/admin/login/"


def test_liveness_exempt_from_redirect_even_behind_the_security_middleware(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if not m.endswith("LivenessMiddleware")]

    assert client.get("/healthz").status_code == 200
    assert client.get("/admin/login/").status_code == 301


def test_other_methods_are_refused(client):
    response = client.post("/healthz")

    assert response.status_code == 405


@pytest.mark.timeout(120)
def test_gunicorn_in_production_answers_liveness_with_the_database_unreachable(tmp_path: Path):
    # Nothing listens on port 9: every query would fail, as with PostgreSQL down.
    env = production_env(
        tmp_path,
        DATABASE_URL="postgres://nobody@127.0.0.1:9/marketspine",
        ALLOWED_HOSTS="spine.example.com",
        SECURE_SSL_REDIRECT="true",
    )
    with gunicorn(env) as base:
        alive = requests.get(base + "/healthz", headers={"Host": POD_IP}, timeout=30)
        assert alive.status_code == 200
        assert alive.json() == {"status": "alive"}

        refused = requests.get(base + "/admin/", headers={"Host": POD_IP}, timeout=30)
        assert refused.status_code == 400
        redirected = requests.get(
            base + "/admin/",
            headers={"Host": "spine.example.com"},
            allow_redirects=False,
            timeout=30,
        )
        assert redirected.status_code == 301
        assert redirected.headers["Location"] == "https://spine.example.com/admin/"
