"""API tokens in the admin: created with the key shown once, revoked, rotated, re-dated and
deleted, every change in the audit log and no key in it."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from rest_framework.test import APIClient

from tests.console import role_user
from tests.factories import api_key
from workqueue.models import ApiToken, AuditEvent

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:workqueue_apitoken_changelist"


@pytest.fixture
def admin_client(client):
    client.force_login(role_user("superuser"))
    return client


@pytest.fixture
def owner(db) -> User:
    from django.contrib.auth.models import Group

    user = User.objects.create_user("cron", password="pw")
    user.groups.add(Group.objects.get(name="data_ops"))
    return user


def works(key: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/v1/work/pending").status_code == 200


def shown_keys(page: str) -> list[str]:
    return re.findall(r'<code class="api-token-key">([^<]+)</code>', page)


def token_actions() -> list[tuple[str, str, str]]:
    events = AuditEvent.objects.filter(action__startswith="api_token").order_by("id")
    return [(e.action, e.details["name"], e.source) for e in events]


def test_a_token_added_in_the_admin_shows_its_key_once_and_works(admin_client, owner):
    response = admin_client.post(
        reverse("admin:workqueue_apitoken_add"),
        {"user": owner.pk, "name": "cron-weekly", "expires_at_0": "", "expires_at_1": ""},
    )

    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    [key] = shown_keys(response.content.decode())
    assert works(key)
    token = ApiToken.objects.get()
    assert (token.user, token.name, token.prefix) == (owner, "cron-weekly", key[:8])
    change = admin_client.get(reverse("admin:workqueue_apitoken_change", args=[token.pk]))
    listing = admin_client.get(reverse(CHANGELIST))
    for page in (change, listing):
        assert key not in page.content.decode()
        assert key[:8] in page.content.decode()
    assert token_actions() == [("api_token_create", "cron-weekly", "admin")]
    assert key not in str(list(AuditEvent.objects.values_list("details", flat=True)))


def test_a_second_token_of_the_same_name_is_refused_on_the_form(admin_client, owner):
    api_key(owner, "cron-weekly")

    response = admin_client.post(
        reverse("admin:workqueue_apitoken_add"),
        {"user": owner.pk, "name": "cron-weekly", "expires_at_0": "", "expires_at_1": ""},
    )

    assert response.status_code == 200
    assert not shown_keys(response.content.decode())
    assert "errornote" in response.content.decode()
    assert ApiToken.objects.count() == 1


def test_revoke_and_rotate_actions(admin_client, owner):
    revoked, rotated, kept = (api_key(owner, name) for name in ("old", "weekly", "backfill"))
    ids = dict(ApiToken.objects.values_list("name", "pk"))

    admin_client.post(
        reverse(CHANGELIST), {"action": "revoke_tokens", "_selected_action": [ids["old"]]}
    )
    response = admin_client.post(
        reverse(CHANGELIST), {"action": "rotate_tokens", "_selected_action": [ids["weekly"]]}
    )

    [new_key] = shown_keys(response.content.decode())
    assert not works(revoked) and not works(rotated)
    assert works(new_key) and works(kept)
    assert ApiToken.objects.get(pk=ids["old"]).status() == "revoked"
    assert token_actions()[-2:] == [
        ("api_token_revoke", "old", "admin"),
        ("api_token_rotate", "weekly", "admin"),
    ]


def test_changing_the_expiry_and_deleting_are_audited(admin_client, owner):
    key = api_key(owner, "weekly")
    token = ApiToken.objects.get()
    url = reverse("admin:workqueue_apitoken_change", args=[token.pk])

    response = admin_client.post(
        url, {"name": "weekly", "expires_at_0": "2020-01-01", "expires_at_1": "00:00:00"}
    )
    assert response.status_code == 302
    assert not works(key)
    expiry = AuditEvent.objects.get(action="api_token_expiry_change")
    assert expiry.details["expires_at"] == {"from": None, "to": "2020-01-01T00:00:00+00:00"}

    admin_client.post(reverse("admin:workqueue_apitoken_delete", args=[token.pk]), {"post": "yes"})
    assert not ApiToken.objects.exists()
    assert token_actions()[-1] == ("api_token_delete", "weekly", "admin")
