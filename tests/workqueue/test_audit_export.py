"""The admin's audit export opened in a spreadsheet: names people typed are text, not formulas."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from tests.console import role_user

pytestmark = pytest.mark.django_db


def exported(client) -> list[dict[str, str]]:
    response = client.get(reverse("admin:workqueue_auditevent_export"))
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_a_sign_in_tried_with_a_formula_username_exports_as_text(client):
    formula = '=HYPERLINK("http://x.example","open")'
    client.post(reverse("admin:login"), {"username": formula, "password": "nope"})
    client.post(reverse("admin:login"), {"username": "@SUM(9)", "password": "nope"})
    client.force_login(role_user("auditors"))

    rows = [r for r in exported(client) if r["action"] == "login_failed"]

    assert sorted(r["actor_name"] for r in rows) == sorted(["'" + formula, "'@SUM(9)"])
    assert all(r["details"].startswith("{") for r in rows)
    assert {r["client_address"] for r in rows} == {"127.0.0.1"}
