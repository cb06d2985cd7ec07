"""Migration 0009_api_tokens: plaintext DRF tokens become digests, and their keys keep working."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from workqueue.models import ApiToken

pytestmark = pytest.mark.django_db

migration = importlib.import_module("workqueue.migrations.0009_api_tokens")
PLAINTEXT_KEY = "0123456789abcdef0123456789abcdef01234567"  # a DRF key as cron jobs hold it


def test_existing_plaintext_keys_are_hashed_in_and_keep_working():
    cron = User.objects.create_user("cron")
    cron.groups.add(Group.objects.get(name="data_ops"))
    Token.objects.create(key=PLAINTEXT_KEY, user=cron)

    migration.hash_plaintext_tokens(apps, None)

    assert not Token.objects.exists()
    token = ApiToken.objects.get()
    assert (token.user, token.name, token.prefix) == (cron, "default", "01234567")
    assert token.digest != PLAINTEXT_KEY
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {PLAINTEXT_KEY}")
    assert client.get("/api/v1/work/pending").status_code == 200
