"""Migration 0009_api_tokens: plaintext DRF tokens become digests, and their keys keep working."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from rest_framework.test import APIClient

from workqueue.models import ApiToken

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

BEFORE = [("workqueue", "0008_console_roles")]
PLAINTEXT_KEY = "0123456789abcdef0123456789abcdef01234567"  # a DRF key as cron jobs hold it


def migrate(targets: list[tuple[str, str]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def test_existing_plaintext_keys_are_hashed_in_and_keep_working():
    migrate(BEFORE)
    old_apps = MigrationExecutor(connection).loader.project_state(BEFORE).apps
    User = old_apps.get_model("auth", "User")
    Group = old_apps.get_model("auth", "Group")
    cron = User.objects.create(username="cron", password="!")
    cron.groups.add(Group.objects.get(name="data_ops"))
    old_apps.get_model("authtoken", "Token").objects.create(key=PLAINTEXT_KEY, user=cron)

    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM authtoken_token")
        assert cursor.fetchone()[0] == 0
    token = ApiToken.objects.get()
    assert (token.user.username, token.name, token.prefix) == ("cron", "default", "01234567")
    assert token.digest != PLAINTEXT_KEY
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {PLAINTEXT_KEY}")
    assert client.get("/api/v1/work/pending").status_code == 200
