"""Behaviour of each endpoint beyond the guide: idempotency, bulk, listing, retries, health."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import OperationalError
from django.utils import timezone

from tests.factories import claim_one, enqueue
from workqueue.manifest import manifest_record
from workqueue.models import AuditEvent, WorkerHeartbeat, WorkItem
from workqueue.runner import drain
from workqueue.states import WorkState

pytestmark = pytest.mark.django_db

URL = "/api/v1/work/enqueue"


def body(week: str = "w1", **extra) -> dict:
    return {"domain": "tests.queue", "pipeline": "flaky", "partition_key": {"week": week}, **extra}


def finish(item_id: int, state: WorkState = WorkState.COMPLETE) -> None:
    WorkItem.objects.filter(pk=item_id).update(state=state)


def test_finished_item_is_409_unless_reprocess_is_asked(api):
    item_id = api.post(URL, body(), format="json").json()["id"]
    finish(item_id)

    refused = api.post(URL, body(), format="json")

    assert refused.status_code == 409
    data = refused.json()
    assert data["error"]["code"] == "already_finished"
    assert '"reprocess": true' in data["error"]["message"]
    assert (data["created"], data["status"]) == (False, "finished")
    assert data["item"]["id"] == item_id
    assert data["item"]["state"] == "COMPLETE"

    rearmed = api.post(URL, body(reprocess=True, priority=7), format="json")

    assert rearmed.status_code == 200
    assert (rearmed.json()["created"], rearmed.json()["status"]) == (False, "rearmed")
    assert rearmed.json()["state"] == "PENDING"
    assert rearmed.json()["priority"] == 7


def test_desired_at_offsets_are_converted_to_utc(api):
    response = api.post(URL, body(desired_at="2025-12-23T05:30:00-05:00"), format="json")

    assert response.json()["desired_at"] == "2025-12-23T10:30:00Z"


def test_bulk_enqueue_returns_results_in_order(api):
    first = api.post(URL, [body("a"), body("b")], format="json")
    assert first.status_code == 201
    assert [r["status"] for r in first.json()] == ["created", "created"]
    finish(first.json()[1]["id"])

    second = api.post(URL, [body("c"), body("a"), body("b"), body("a")], format="json")

    assert second.status_code == 200
    results = second.json()
    assert [r["status"] for r in results] == ["created", "existing", "finished", "existing"]
    assert [r["created"] for r in results] == [True, False, False, False]
    assert results[1]["id"] == results[3]["id"] == first.json()[0]["id"]
    assert [r["partition_key"] for r in results] == [{"week": w} for w in "caba"]
    assert WorkItem.objects.count() == 3


def test_bulk_of_one_names_the_culprit_by_index(api):
    response = api.post(URL, [{**body(), "pipeline": "x"}], format="json")

    assert response.json()["error"]["fields"] == {"[0].pipeline": "unknown pipeline"}


def test_pending_limit_truncates_lists_but_counts_stay_exact(api):
    for n in range(5):
        enqueue(week=f"w{n}", priority=n)

    response = api.get("/api/v1/work/pending?state=pending&limit=2")

    data = response.json()
    assert data["counts"] == {"pending": 5}
    assert [item["priority"] for item in data["pending"]] == [4, 3]  # priority desc


def test_pending_states_repeat_and_mix_case(api):
    enqueue(week="a")
    done = enqueue(week="b")
    finish(done.pk)

    response = api.get("/api/v1/work/pending?state=complete&state=Pending,cancelled")

    assert response.json()["counts"] == {"pending": 1, "complete": 1, "cancelled": 0}
    assert response.json()["cancelled"] == []


def test_pending_orders_by_priority_then_desired_at_then_id(api):
    now = timezone.now()
    late = enqueue(week="late", desired_at=now + timedelta(hours=1))
    early = enqueue(week="early", desired_at=now)
    urgent = enqueue(week="urgent", desired_at=now + timedelta(hours=2), priority=500)

    ids = [i["id"] for i in api.get("/api/v1/work/pending?state=PENDING").json()["pending"]]

    assert ids == [urgent.pk, early.pk, late.pk]


def test_item_detail_shows_its_executions(api):
    item = enqueue(max_attempts=1)
    drain(time_budget=5)

    response = api.get(f"/api/v1/work/items/{item.pk}")

    assert response.status_code == 200
    data = response.json()
    assert data["state"] == "FAILED"
    assert data["last_error"] == "RuntimeError: HTTP 503: upstream unavailable (attempt 1)"
    assert data["last_error_at"].endswith("Z")
    [execution] = data["executions"]
    assert execution["attempt"] == 1
    assert execution["outcome"] == "FAILED"
    assert "HTTP 503" in execution["error"]
    assert execution["duration_seconds"] >= 0
    assert set(execution) >= {"worker", "started_at", "finished_at", "rows_written", "capture_id"}


def test_retry_of_an_item_that_is_not_failed_is_409_with_the_reason(api):
    item = enqueue()

    response = api.post("/api/v1/work/retry", {"work_item_id": item.pk}, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "illegal_transition"
    assert (
        "it is PENDING, and only CANCELLED or FAILED items can be retried"
        in (response.json()["error"]["message"])
    )


def test_retry_and_cancel_of_an_unknown_item_are_404(api):
    for url in ["/api/v1/work/retry", "/api/v1/work/cancel"]:
        response = api.post(url, {"work_item_id": 424242}, format="json")
        assert response.status_code == 404
        assert response.json()["error"] == {
            "code": "not_found",
            "message": "work item 424242 does not exist",
            "fields": {},
        }


def test_retry_by_domain_and_pipeline_only_touches_that_pipeline(api):
    flaky = enqueue(week="a")
    other = enqueue(pipeline="broken", week="a")
    WorkItem.objects.filter(pk__in=[flaky.pk, other.pk]).update(state=WorkState.FAILED)

    response = api.post(
        "/api/v1/work/retry", {"domain": "tests.queue", "pipeline": "broken"}, format="json"
    )

    assert response.json() == {"retried": [other.pk], "count": 1}
    assert WorkItem.objects.get(pk=flaky.pk).state == WorkState.FAILED
    assert AuditEvent.objects.filter(action="retry", work_item=other).count() == 1


def test_retry_by_domain_with_nothing_failed(api):
    response = api.post("/api/v1/work/retry", {"domain": "tests.queue"}, format="json")

    assert response.json() == {"retried": [], "count": 0}


@pytest.mark.parametrize("state", ["RUNNING", "COMPLETE"])
def test_cancel_of_a_running_or_finished_item_is_409(api, state):
    item = enqueue()
    if state == "RUNNING":
        claim_one()
    else:
        finish(item.pk)

    response = api.post("/api/v1/work/cancel", {"work_item_id": item.pk}, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "illegal_transition"
    assert (
        f"it is {state}, and only PENDING or RETRY_WAIT items can be cancelled"
        in (response.json()["error"]["message"])
    )
    assert WorkItem.objects.get(pk=item.pk).state == state


def test_manifest_without_stage_lists_stages_in_order(api):
    partition = {"week": "2025-12-12"}
    manifest_record(domain="tests.queue", partition_key=partition, stage="SECOND", row_count=1)
    manifest_record(
        domain="tests.queue",
        partition_key=partition,
        stage="FIRST",
        row_count=10,
        capture_id="cap:1",
        metrics={"symbols": 3},
    )

    response = api.get(
        "/api/v1/manifest", {"domain": "tests.queue", "partition_key": '{"week":"2025-12-12"}'}
    )

    data = response.json()
    assert data["domain"] == "tests.queue"
    assert data["partition_key"] == partition
    assert [(s["stage"], s["stage_rank"], s["row_count"]) for s in data["stages"]] == [
        ("FIRST", 1, 10),
        ("SECOND", 2, 1),
    ]
    assert data["stages"][0]["capture_id"] == "cap:1"
    assert data["stages"][0]["metrics"] == {"symbols": 3}


def test_manifest_with_a_stage_returns_that_entry(api):
    manifest_record(domain="tests.queue", partition_key={"week": "x"}, stage="FIRST", row_count=9)

    response = api.get(
        "/api/v1/manifest",
        {"domain": "tests.queue", "partition_key": '{"week": "x"}', "stage": "FIRST"},
    )

    assert response.status_code == 200
    assert response.json()["row_count"] == 9
    assert response.json()["stage"] == "FIRST"


# --- health ----------------------------------------------------------------------------------


def test_health_of_an_idle_queue_without_workers_is_ok(api):
    response = api.get("/api/v1/health")

    assert response.status_code == 200
    data = response.json()
    assert (data["status"], data["database"], data["due_unclaimed"]) == ("ok", "ok", 0)
    assert data["newest_worker_seen_at"] is None


def test_health_is_503_when_items_are_due_and_no_worker_is_recent(api, settings):
    settings.HEALTH_MAX_WORKER_AGE_SECONDS = 300
    enqueue()
    enqueue(week="later", desired_at=timezone.now() + timedelta(days=1))
    WorkerHeartbeat.objects.create(worker="host:1", seen_at=timezone.now() - timedelta(minutes=10))

    response = api.get("/api/v1/health")

    assert response.status_code == 503
    data = response.json()
    assert data["status"] == "unhealthy"
    assert data["due_unclaimed"] == 1
    assert data["counts"]["pending"] == 2
    assert 599 <= data["worker_age_seconds"] <= 700
    assert "1 item(s) are due but no worker was seen in the last 300s" in data["problems"][0]


def test_health_is_ok_with_due_items_while_a_worker_is_recent(api):
    enqueue()
    with time_machine.travel(timezone.now() - timedelta(seconds=30)):
        WorkerHeartbeat.objects.create(worker="host:1", seen_at=timezone.now())

    response = api.get("/api/v1/health")

    assert response.status_code == 200
    assert response.json()["newest_worker_seen_at"].endswith("Z")
    assert 29 <= response.json()["worker_age_seconds"] < 60


def test_health_is_503_when_the_database_is_unreachable(api, monkeypatch):
    def unreachable(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("workqueue.selectors.queue_health", unreachable)

    response = api.get("/api/v1/health")

    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"
    assert response.json()["status"] == "unhealthy"


def test_any_api_call_during_a_database_outage_is_503_json(api, monkeypatch):
    def unreachable(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("workqueue.selectors.work_items_by_state", unreachable)

    response = api.get("/api/v1/work/pending")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "database_unavailable"
