"""bootstrap_demo prints a working token each run; the previous run's demo token stops."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from finra.management.commands.bootstrap_demo import DEMO_USERNAME, Command

pytestmark = pytest.mark.django_db


def status_of(key: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/v1/work/pending").status_code


def test_each_run_prints_a_fresh_working_demo_token():
    User.objects.create_superuser(DEMO_USERNAME, password="pw")

    first = Command()._demo_token()
    second = Command()._demo_token()

    assert first != second
    assert status_of(second) == 200
    assert status_of(first) == 401
