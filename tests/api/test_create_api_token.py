from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from workqueue.models import ApiToken, AuditEvent

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    """The command's stdout; scripts take the key from its last line."""
    out = StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=StringIO())
    return out.getvalue().strip().splitlines()[-1]


def status_of(key: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/v1/work/pending").status_code


def test_prints_a_working_key_that_is_stored_only_as_a_digest(operator):
    key = run("ops")

    assert status_of(key) == 200
    token = ApiToken.objects.get()
    assert (token.name, token.prefix) == ("default", key[:8])
    assert key not in {token.digest, token.prefix, token.name}
    event = AuditEvent.objects.get(action="api_token_create")
    assert event.source == "cli"
    assert event.details == {
        "user": "ops",
        "name": "default",
        "prefix": key[:8],
        "expires_at": None,
    }
    assert key not in str(event.details)


def test_an_existing_name_is_refused_without_rotate(operator):
    key = run("ops")

    with pytest.raises(CommandError, match=r"already has a token named 'default'.*--rotate"):
        run("ops")
    assert status_of(key) == 200
    assert ApiToken.objects.count() == 1


def test_named_tokens_work_side_by_side_and_rotate_replaces_only_its_own(operator):
    weekly = run("ops", "--name", "cron-weekly")
    backfill = run("ops", "--name", "cron-backfill")

    new_weekly = run("ops", "--name", "cron-weekly", "--rotate")

    assert new_weekly not in (weekly, backfill)
    assert status_of(weekly) == 401
    assert status_of(new_weekly) == 200
    assert status_of(backfill) == 200
    rotate = AuditEvent.objects.get(action="api_token_rotate")
    assert rotate.details["replaced_prefix"] == weekly[:8]
    assert rotate.details["prefix"] == new_weekly[:8]


def test_rotate_of_a_missing_name_creates_it(operator):
    key = run("ops", "--name", "fresh", "--rotate")

    assert status_of(key) == 200


@time_machine.travel(datetime(2026, 3, 2, 12, 0, tzinfo=UTC), tick=False)
def test_expiry_flags(operator):
    run("ops", "--name", "by-date", "--expires", "2026-03-31")
    run("ops", "--name", "by-days", "--expires-in-days", "30")
    run("ops", "--name", "by-time", "--expires", "2026-04-01T09:30:00")

    expiries = dict(ApiToken.objects.values_list("name", "expires_at"))
    assert expiries["by-date"] == datetime(2026, 3, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert expiries["by-days"] == datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
    assert expiries["by-time"] == datetime(2026, 4, 1, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--expires", "next week"], "not an ISO date"),
        (["--expires", "2020-01-01"], "is in the past"),
        (["--expires-in-days", "0"], "at least 1"),
        (["--expires", "2099-01-01", "--expires-in-days", "3"], "not both"),
        (["--name", " "], "--name must be 1 to 100 characters"),
    ],
)
def test_bad_flags_are_clear_errors_and_create_nothing(operator, args, message):
    with pytest.raises(CommandError, match=message):
        run("ops", *args)
    assert not ApiToken.objects.exists()


def test_unknown_user_is_a_clear_error(db):
    with pytest.raises(CommandError, match="no user 'ghost'"):
        run("ghost")
