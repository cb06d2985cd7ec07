"""POST /api/v1/work/backfill: the backfill service's answer over HTTP."""

from __future__ import annotations

import pytest

from tests.pipelines import DOMAIN
from workqueue.models import AuditEvent, WorkItem
from workqueue.states import WorkState

pytestmark = pytest.mark.django_db

URL = "/api/v1/work/backfill"
RANGE = {"domain": DOMAIN, "pipeline": "ranged", "from": "2025-12-05", "to": "2025-12-19"}


def test_a_range_is_enqueued_with_counts(api):
    response = api.post(URL, {**RANGE, "priority": 25}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["total"] == 6
    assert body["enqueued"] == 6
    assert body["counts"] == {"created": 6, "rearmed": 0, "active": 0, "complete": 0, "refused": 0}
    assert "partitions" not in body
    assert set(WorkItem.objects.values_list("priority", flat=True)) == {25}
    event = AuditEvent.objects.get(action="backfill")
    assert event.source == "api" and event.actor_name == "ops"


def test_range_options_at_top_level_as_a_list_or_a_comma_string(api):
    listed = api.post(URL, {**RANGE, "lanes": ["x"], "dry_run": True}, format="json").json()
    comma = api.post(URL, {**RANGE, "lanes": "x,y", "dry_run": True}, format="json").json()

    assert listed["total"] == 3
    assert comma["total"] == 6


def test_dry_run_lists_partitions_and_writes_nothing(api):
    api.post(URL, RANGE, format="json")
    WorkItem.objects.filter(partition_key={"week": "2025-12-05", "lane": "x"}).update(
        state=WorkState.FAILED
    )

    response = api.post(
        URL,
        {**RANGE, "reprocess": "failed", "dry_run": True, "include_partitions": True},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert body["dry_run"] is True
    assert body["counts"]["rearmed"] == 1 and body["counts"]["active"] == 5
    first = body["partitions"][0]
    assert first == {
        "partition_key": {"lane": "x", "week": "2025-12-05"},
        "outcome": "rearmed",
        "state": "FAILED",
        "item_id": first["item_id"],
        "reason": "",
    }
    assert WorkItem.objects.filter(state=WorkState.FAILED).count() == 1


def test_a_list_of_partitions(api):
    response = api.post(
        URL,
        {
            "domain": DOMAIN,
            "pipeline": "ranged",
            "partitions": [{"week": "2025-12-05", "lane": "x"}],
        },
        format="json",
    )

    assert response.status_code == 201
    assert WorkItem.objects.count() == 1


def test_more_partitions_than_a_bulk_enqueue_takes_is_413(api):
    response = api.post(URL, {**RANGE, "from": "2000-01-07", "to": "2025-12-19"}, format="json")

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_many_items"
    assert WorkItem.objects.count() == 0


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"from": "2025-12-19", "to": "2025-12-05"}, "invalid_request", "from"),
        ({"reprocess": "sometimes"}, "invalid_request", "reprocess"),
        ({"colour": "red"}, "unknown_fields", "colour"),
        ({"pipeline": "nope"}, "unknown_pipeline", "pipeline"),
        ({"from": "12/05/2025"}, "invalid_request", "from"),
    ],
)
def test_bad_input_is_400_and_enqueues_nothing(api, change, code, field):
    response = api.post(URL, {**RANGE, **change}, format="json")

    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == code
    assert field in error["fields"]
    assert WorkItem.objects.count() == 0


def test_backfill_needs_the_operate_permission(viewer_api):
    response = viewer_api.post(URL, RANGE, format="json")

    assert response.status_code == 403
    assert WorkItem.objects.count() == 0
