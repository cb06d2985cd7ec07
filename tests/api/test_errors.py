"""Bad input of every kind gets the one JSON error shape and a stable code, never a 500."""

from __future__ import annotations

import pytest
from django.test import override_settings

from workqueue.api.views import BULK_MAX_ITEMS
from workqueue.models import WorkItem

pytestmark = pytest.mark.django_db

URL = "/api/v1/work/enqueue"
GOOD = {"domain": "tests.queue", "pipeline": "flaky", "partition_key": {"week": "w1"}}


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["message"]
    return body["error"]


def test_unknown_pipeline_names_the_known_ones(api):
    response = api.post(URL, {**GOOD, "pipeline": "nope"}, format="json")

    error = error_of(response, 400)
    assert error["code"] == "unknown_pipeline"
    assert "known pipelines: broken, flaky, needs_first" in error["message"]
    assert error["fields"] == {"pipeline": "unknown pipeline"}


def test_unknown_domain(api):
    error = error_of(api.post(URL, {**GOOD, "domain": "finra"}, format="json"), 400)

    assert error["code"] == "unknown_pipeline"
    assert error["fields"] == {"domain": "unknown domain"}


@pytest.mark.parametrize(
    ("partition_key", "fields"),
    [
        ({}, {"partition_key.week": "required"}),
        ({"week": "w", "x": 1}, {"partition_key.x": "unknown key"}),
    ],
)
def test_bad_partition_key(api, partition_key, fields):
    error = error_of(api.post(URL, {**GOOD, "partition_key": partition_key}, format="json"), 400)

    assert error["code"] == "invalid_partition_key"
    assert error["fields"] == fields


def test_unknown_tier_is_refused(api):
    body = {
        "domain": "finra.otc_transparency",
        "pipeline": "ingest_week",
        "partition_key": {"week_ending": "2025-12-19", "tier": "TIER_9"},
    }
    error = error_of(api.post(URL, body, format="json"), 400)

    assert error["code"] == "invalid_partition_key"
    assert error["message"] == "unknown tier 'TIER_9'; known tiers: NMS_TIER_1, NMS_TIER_2, OTC"


@pytest.mark.parametrize("text", ["{", '{"domain": }', "[1, 2", "NaN", '{"a": Infinity}', "1e999"])
def test_malformed_json(api, text):
    error = error_of(api.post(URL, text, content_type="application/json"), 400)

    assert error["code"] == "malformed_json"


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"priority": "high"}, {"priority": "A valid integer is required."}),
        ({"max_attempts": 0}, {"max_attempts": "Ensure this value is greater than or equal to 1."}),
        (
            {"priority": 2**40},
            {"priority": "Ensure this value is less than or equal to 2147483647."},
        ),
        ({"desired_at": "next monday"}, None),
        ({"partition_key": "w1"}, {"partition_key": "must be a JSON object"}),
        ({"params": [1]}, {"params": "must be a JSON object"}),
        ({"reprocess": "maybe"}, {"reprocess": "Must be a valid boolean."}),
        ({"domain": None}, {"domain": "This field may not be null."}),
    ],
)
def test_wrong_types_are_invalid_request_naming_the_field(api, change, fields):
    error = error_of(api.post(URL, {**GOOD, **change}, format="json"), 400)

    assert error["code"] == "invalid_request"
    if fields is None:
        assert list(error["fields"]) == list(change)
    else:
        assert error["fields"] == fields


def test_missing_fields(api):
    error = error_of(api.post(URL, {}, format="json"), 400)

    assert error["code"] == "invalid_request"
    assert set(error["fields"]) == {"domain", "pipeline", "partition_key"}


def test_a_body_that_is_not_an_object(api):
    error = error_of(api.post(URL, '"hello"', content_type="application/json"), 400)

    assert error["code"] == "invalid_request"


@pytest.mark.parametrize(
    ("url", "body"),
    [
        (URL, {**GOOD, "priorty": 5}),
        ("/api/v1/work/retry", {"work_item_id": 1, "force": True}),
        ("/api/v1/work/cancel", {"work_item_id": 1, "reason": "x"}),
    ],
)
def test_unknown_fields_are_refused_not_ignored(api, url, body):
    error = error_of(api.post(url, body, format="json"), 400)

    assert error["code"] == "unknown_fields"
    unknown = (set(body) - {"work_item_id", *GOOD}).pop()
    assert error["fields"] == {unknown: "unknown field"}
    assert not WorkItem.objects.exists()


def test_unknown_query_parameters_are_refused(api):
    error = error_of(api.get("/api/v1/work/pending?stat=FAILED"), 400)

    assert error["code"] == "unknown_fields"
    assert error["fields"] == {"stat": "unknown field"}


@pytest.mark.parametrize("text", ['{"domain": "a\\u0000b"}', '{"domain": "\\ud800"}'])
def test_strings_no_database_can_store_are_refused(api, text):
    error = error_of(api.post(URL, text, content_type="application/json"), 400)

    assert error["code"] == "invalid_request"


def test_deep_nesting_is_refused(api):
    text = '{"params": ' + "[" * 50 + "]" * 50 + "}"

    error = error_of(api.post(URL, text, content_type="application/json"), 400)

    assert "nested deeper" in error["message"]


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=2048)
def test_body_too_large(api):
    body = {**GOOD, "params": {"blob": "x" * 4096}}

    error = error_of(api.post(URL, body, format="json"), 413)

    assert error["code"] == "body_too_large"


def test_bulk_over_the_limit(api):
    body = [{**GOOD, "partition_key": {"week": str(n)}} for n in range(BULK_MAX_ITEMS + 1)]

    error = error_of(api.post(URL, body, format="json"), 413)

    assert error["code"] == "too_many_items"
    assert "at most 1000 items, got 1001" in error["message"]
    assert not WorkItem.objects.exists()


def test_bulk_with_invalid_elements_names_each_by_index_and_enqueues_nothing(api):
    body = [GOOD, {**GOOD, "priority": "x"}, {**GOOD, "partition_key": {"week": "w9"}}, "nope"]

    error = error_of(api.post(URL, body, format="json"), 400)

    assert error["code"] == "invalid_request"
    assert error["fields"] == {
        "[1].priority": "A valid integer is required.",
        "[3]": "not an object",
    }
    assert not WorkItem.objects.exists()


def test_bulk_with_an_unknown_pipeline_names_its_index(api):
    body = [GOOD, {**GOOD, "pipeline": "nope"}]

    error = error_of(api.post(URL, body, format="json"), 400)

    assert error["code"] == "unknown_pipeline"
    assert error["fields"] == {"[1].pipeline": "unknown pipeline"}
    assert not WorkItem.objects.exists()


def test_empty_bulk(api):
    assert error_of(api.post(URL, [], format="json"), 400)["code"] == "invalid_request"


def test_form_bodies_are_unsupported(api):
    error = error_of(
        api.post(URL, "domain=x", content_type="application/x-www-form-urlencoded"), 415
    )

    assert error["code"] == "unsupported_media_type"


def test_wrong_method(api):
    error = error_of(api.get(URL), 405)

    assert error["code"] == "method_not_allowed"


def test_unknown_api_path_is_json_404(api):
    error = error_of(api.get("/api/v1/work/nothing-here"), 404)

    assert error["code"] == "not_found"


@pytest.mark.parametrize("url", ["/api/v1/work/items/999", f"/api/v1/work/items/{2**70}"])
def test_unknown_item_is_404(api, url):
    error = error_of(api.get(url), 404)

    assert error["code"] == "not_found"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"domain": "d"}, "invalid_request"),
        ({"domain": "d", "partition_key": "{week"}, "malformed_json"),
        ({"domain": "d", "partition_key": "[1]"}, "invalid_partition_key"),
        ({"domain": "d", "partition_key": '{"a": NaN}'}, "malformed_json"),
    ],
)
def test_manifest_query_errors(api, params, code):
    error = error_of(api.get("/api/v1/manifest", params), 400)

    assert error["code"] == code


def test_pending_with_an_unknown_state_or_limit(api):
    error = error_of(api.get("/api/v1/work/pending?state=FAILED,DONE"), 400)
    assert error["code"] == "invalid_request"
    assert "unknown state(s) DONE" in error["message"]
    assert error_of(api.get("/api/v1/work/pending?limit=5000"), 400)["fields"] == {
        "limit": "Ensure this value is less than or equal to 1000."
    }


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"work_item_id": 1, "domain": "x"},
        {"work_item_id": 1, "pipeline": "p"},
        {"work_item_id": 0},
    ],
)
def test_retry_needs_exactly_one_of_id_or_domain(api, body):
    assert error_of(api.post("/api/v1/work/retry", body, format="json"), 400)["code"] == (
        "invalid_request"
    )


def test_unexpected_errors_are_json_500(api, monkeypatch, settings):
    settings.DEBUG_PROPAGATE_EXCEPTIONS = False

    def boom(**kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr("workqueue.selectors.work_items_by_state", boom)
    api.raise_request_exception = False

    error = error_of(api.get("/api/v1/work/pending"), 500)

    assert error["code"] == "server_error"
