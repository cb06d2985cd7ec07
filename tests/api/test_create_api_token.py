from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=StringIO())
    return out.getvalue().strip()


def test_prints_a_working_token_and_the_same_one_again(operator):
    key = run("ops")

    assert run("ops") == key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/work/pending").status_code == 200


def test_rotate_replaces_the_token(operator):
    old = run("ops")

    new = run("ops", "--rotate")

    assert new != old
    assert list(Token.objects.values_list("key", flat=True)) == [new]


def test_unknown_user_is_a_clear_error(db):
    with pytest.raises(CommandError, match="no user 'ghost'"):
        run("ghost")
