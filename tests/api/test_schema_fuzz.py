"""Fuzz every operation from the OpenAPI schema, in process, as a data_ops user: no 5xx, and
every response (errors included) matches the schema for its status code.

Bounded (a few dozen examples per operation) so it runs in seconds on either database.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from marketspine.wsgi import application
from tests.api.conftest import token_client

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(autouse=True)
def keep_the_test_connection():
    """Requests go straight to the WSGI app; like Django's test client, stop it closing the
    connection that holds the test's transaction at the end of each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def operator_headers(make_user) -> dict[str, str]:
    client = token_client(make_user("fuzzer", group="data_ops"))
    return {"Authorization": client._credentials["HTTP_AUTHORIZATION"]}


def served_schema() -> dict:
    """The schema /api/v1/schema/ serves (same generator), built without a request so the
    test can be parametrized at collection time (schemathesis' lazy fixture loader does not
    run on pytest 9)."""
    return SchemaGenerator().get_schema(request=None, public=True)


schema = schemathesis.openapi.from_dict(served_schema())
schema.app = application


@pytest.mark.django_db
def test_served_schema_is_the_one_fuzzed(api):
    response = api.get("/api/v1/schema/")

    assert response.status_code == 200
    assert json.loads(response.content)["paths"].keys() == served_schema()["paths"].keys()


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema_and_never_errors(case, operator_headers):
    case.call_and_validate(headers=operator_headers, checks=CHECKS)
