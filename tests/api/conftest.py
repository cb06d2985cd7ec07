from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

import tests.api.finra_standins  # noqa: F401 - registers finra.otc_transparency stand-ins
from tests.factories import api_key


@pytest.fixture
def make_user(db) -> Callable[..., User]:
    def make(username: str, *, group: str | None = None, superuser: bool = False) -> User:
        if superuser:
            return User.objects.create_superuser(username, password="pw")
        user = User.objects.create_user(username, password="pw")
        if group:
            user.groups.add(Group.objects.get(name=group))
        return user

    return make


def token_client(user: User, name: str | None = None) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key(user, name)}")
    return client


@pytest.fixture
def operator(make_user) -> User:
    return make_user("ops", group="data_ops")


@pytest.fixture
def api(operator) -> APIClient:
    """A data_ops user's token client."""
    return token_client(operator)


@pytest.fixture
def viewer_api(make_user) -> APIClient:
    return token_client(make_user("viewer", group="viewers"))


@pytest.fixture
def auditor_api(make_user) -> APIClient:
    return token_client(make_user("auditor", group="auditors"))
