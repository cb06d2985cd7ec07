"""JSON bodies at the door: an object with a key twice, and a write with no body at all."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from workqueue.models import AuditEvent, WorkItem

pytestmark = pytest.mark.django_db

URL = "/api/v1/work/enqueue"
WRITES = [
    "/api/v1/work/enqueue",
    "/api/v1/work/backfill",
    "/api/v1/work/retry",
    "/api/v1/work/cancel",
]


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body["error"]) == {"code", "message", "fields"}
    return body["error"]


@pytest.mark.parametrize(
    ("text", "message", "field"),
    [
        (
            '{"domain": "tests.queue", "domain": "finra.otc_transparency", "pipeline": "flaky",'
            ' "partition_key": {"week": "w1"}}',
            'duplicate key "domain" at the top level: each key may appear once in an object',
            "domain",
        ),
        (
            '{"domain": "tests.queue", "pipeline": "flaky",'
            ' "partition_key": {"week": "w1", "week": "w2"}}',
            'duplicate key "week" in partition_key: each key may appear once in an object',
            "partition_key.week",
        ),
        (
            '[{"domain": "tests.queue", "pipeline": "flaky", "partition_key": {"week": "w1"}},'
            ' {"domain": "tests.queue", "pipeline": "flaky", "partition_key": {"week": "w2"},'
            ' "params": {"succeed_on": 1, "succeed_on": 3}}]',
            'duplicate key "succeed_on" in [1].params: each key may appear once in an object',
            "[1].params.succeed_on",
        ),
    ],
)
def test_a_duplicate_key_at_any_depth_is_refused_naming_it(api, text, message, field):
    error = error_of(api.post(URL, text, content_type="application/json"), 400)

    assert error["code"] == "malformed_json"
    assert error["message"] == message
    assert error["fields"] == {field: "duplicate key"}
    assert not WorkItem.objects.exists()
    assert not AuditEvent.objects.exclude(action="api_token_create").exists()


def test_the_same_key_in_two_objects_is_not_a_duplicate(api):
    text = (
        '[{"domain": "tests.queue", "pipeline": "flaky", "partition_key": {"week": "w1"}},'
        ' {"domain": "tests.queue", "pipeline": "flaky", "partition_key": {"week": "w2"}}]'
    )
    assert api.post(URL, text, content_type="application/json").status_code == 201
    assert WorkItem.objects.count() == 2


def test_a_duplicate_key_in_the_manifest_query_is_named(api):
    query = {"domain": "d", "partition_key": '{"tier": "OTC", "tier": "T1"}'}

    error = error_of(api.get("/api/v1/manifest", query), 400)

    assert error["fields"] == {"partition_key.tier": "duplicate key"}


@pytest.mark.parametrize("url", WRITES)
@pytest.mark.parametrize("body", [b"", b"   \n\t "], ids=["no bytes", "whitespace"])
def test_an_empty_body_is_answered_as_such_not_as_missing_fields(api, url, body):
    response = api.generic("POST", url, body, content_type="application/json")

    error = error_of(response, 400)
    assert error["code"] == "malformed_json"
    assert error["message"] == "request body is empty; send a JSON object"
    assert error["fields"] == {"body": "empty"}
    assert not WorkItem.objects.exists()


def test_a_body_without_a_content_length_is_empty_too(api):
    response = api.generic("POST", URL, b"", content_type="application/json", CONTENT_LENGTH="")

    assert error_of(response, 400)["message"] == "request body is empty; send a JSON object"


def test_an_empty_form_post_is_empty_too(api):
    response = api.post(URL)  # the test client's default: multipart, no fields

    assert error_of(response, 400)["message"] == "request body is empty; send a JSON object"


def test_a_body_without_a_content_type_is_unsupported_not_ignored(api):
    body = b'{"domain": "tests.queue", "pipeline": "flaky", "partition_key": {"week": "w1"}}'
    response = api.generic("POST", URL, body, content_type="")

    error = error_of(response, 415)
    assert error["code"] == "unsupported_media_type"
    assert "Content-Type: application/json" in error["message"]
    assert not WorkItem.objects.exists()


def test_an_empty_body_from_an_anonymous_caller_is_still_401(db):
    response = APIClient().generic("POST", URL, b"", content_type="application/json")

    assert error_of(response, 401)["code"] == "not_authenticated"


def test_an_empty_body_from_a_viewer_is_still_403(viewer_api):
    response = viewer_api.generic("POST", URL, b"", content_type="application/json")

    assert error_of(response, 403)["code"] == "permission_denied"


def test_an_empty_post_to_a_read_only_endpoint_is_still_405(api):
    response = api.generic("POST", "/api/v1/work/pending", b"", content_type="application/json")

    assert error_of(response, 405)["code"] == "method_not_allowed"
