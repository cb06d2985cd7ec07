"""Every API example of the operational scheduling guide, as written, plus a token header.

The guide's own week, 2025-12-22, is a Monday; week endings must be Fridays, so those exact
bodies get a clear 400 and the same bodies with the Friday 2025-12-19 succeed.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
import requests

from tests.factories import api_key, claim_one
from workqueue.manifest import manifest_record
from workqueue.models import WorkItem
from workqueue.services import Actor, work_item_enqueue
from workqueue.states import WorkState

pytestmark = pytest.mark.django_db

DOMAIN = "finra.otc_transparency"
GUIDE_WEEK = "2025-12-22"  # a Monday, as printed in the guide
FRIDAY = "2025-12-19"
TIERS = ["NMS_TIER_1", "NMS_TIER_2", "OTC"]


def with_week(body: dict, week: str) -> dict:
    return {**body, "partition_key": {**body["partition_key"], "week_ending": week}}


PHASE_1 = [
    {
        "domain": DOMAIN,
        "pipeline": "ingest_week",
        "partition_key": {"week_ending": "2025-12-22", "tier": "NMS_TIER_1"},
        "params": {"file_url": "https://finra.org/.../tier1_20251222.csv"},
        "desired_at": "2025-12-23T10:30:00Z",
    },
    {
        "domain": DOMAIN,
        "pipeline": "ingest_week",
        "partition_key": {"week_ending": "2025-12-22", "tier": "NMS_TIER_2"},
        "params": {"file_url": "https://finra.org/.../tier2_20251222.csv"},
        "desired_at": "2025-12-23T10:30:00Z",
    },
    {
        "domain": DOMAIN,
        "pipeline": "ingest_week",
        "partition_key": {"week_ending": "2025-12-22", "tier": "OTC"},
        "params": {"file_url": "https://finra.org/.../otc_20251222.csv"},
        "desired_at": "2025-12-23T10:30:00Z",
    },
]
PHASE_2 = [
    {
        "domain": DOMAIN,
        "pipeline": "normalize_week",
        "partition_key": {"week_ending": "2025-12-22", "tier": tier},
        "desired_at": "2025-12-23T10:35:00Z",
    }
    for tier in TIERS
]
PHASE_3 = [
    {
        "domain": DOMAIN,
        "pipeline": calc,
        "partition_key": {"week_ending": "2025-12-22", "tier": "NMS_TIER_1"},
        "desired_at": "2025-12-23T10:40:00Z",
    }
    for calc in ["compute_venue_volume", "compute_venue_share", "compute_hhi", "compute_tier_split"]
]
ALL_PHASES = PHASE_1 + PHASE_2 + PHASE_3


def ids(bodies: list[dict]) -> list[str]:
    return [f"{b['pipeline']}-{b['partition_key'].get('tier', 'all')}" for b in bodies]


@pytest.mark.parametrize("body", ALL_PHASES, ids=ids(ALL_PHASES))
def test_guide_enqueue_body_with_its_monday_week_is_refused_clearly(api, body):
    response = api.post("/api/v1/work/enqueue", body, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_partition_key"
    assert error["message"] == "week_ending 2025-12-22 is a Monday; it must be a Friday"
    assert error["fields"] == {"partition_key.week_ending": "must be a Friday"}
    assert not WorkItem.objects.exists()


@pytest.mark.parametrize("body", ALL_PHASES, ids=ids(ALL_PHASES))
def test_guide_enqueue_body_with_a_friday_creates_the_item(api, body):
    body = with_week(body, FRIDAY)

    response = api.post("/api/v1/work/enqueue", body, format="json")

    assert response.status_code == 201
    data = response.json()
    assert data["created"] is True
    assert data["status"] == "created"
    assert data["state"] == "PENDING"
    assert data["pipeline"] == body["pipeline"]
    assert data["partition_key"] == body["partition_key"]
    assert data["params"] == body.get("params", {})
    assert data["desired_at"] == body["desired_at"]
    assert data["attempt_count"] == 0
    assert data["max_attempts"] == 3
    assert WorkItem.objects.get(pk=data["id"]).state == WorkState.PENDING


def test_cron_calling_twice_gets_the_same_item_back(api):
    body = with_week(PHASE_1[0], FRIDAY)
    first = api.post("/api/v1/work/enqueue", body, format="json")

    second = api.post("/api/v1/work/enqueue", body, format="json")

    assert second.status_code == 200
    assert second.json()["created"] is False
    assert second.json()["status"] == "existing"
    assert second.json()["id"] == first.json()["id"]
    assert WorkItem.objects.count() == 1


def bash_script_bodies(week_ending: str, now: str) -> list[dict]:
    """What weekly_finra.sh sends: its JSON text with the shell variables filled in."""
    bodies = []
    for tier in TIERS:
        bodies.append(
            "{"
            f'"domain": "finra.otc_transparency", "pipeline": "ingest_week", '
            f'"partition_key": {{"week_ending": "{week_ending}", "tier": "{tier}"}}, '
            f'"params": {{"tier": "{tier}"}}, "desired_at": "{now}"'
            "}"
        )
    for tier in TIERS:
        bodies.append(
            "{"
            f'"domain": "finra.otc_transparency", "pipeline": "normalize_week", '
            f'"partition_key": {{"week_ending": "{week_ending}", "tier": "{tier}"}}, '
            f'"desired_at": "{now}"'
            "}"
        )
    for calc in [
        "compute_venue_volume",
        "compute_venue_share",
        "compute_hhi",
        "compute_tier_split",
    ]:
        bodies.append(
            "{"
            f'"domain": "finra.otc_transparency", "pipeline": "{calc}", '
            f'"partition_key": {{"week_ending": "{week_ending}"}}, "desired_at": "{now}"'
            "}"
        )
    return bodies


def test_weekly_bash_script_enqueues_ten_items(api):
    # WEEK_ENDING=$(date -d "last Friday" +%Y-%m-%d) is always a Friday.
    for text in bash_script_bodies(FRIDAY, "2025-12-22T15:30:00Z"):
        response = api.post("/api/v1/work/enqueue", text, content_type="application/json")
        assert response.status_code == 201, response.json()

    items = WorkItem.objects.filter(domain=DOMAIN)
    assert items.count() == 10
    ingest = items.get(pipeline="ingest_week", partition_key={"week_ending": FRIDAY, "tier": "OTC"})
    assert ingest.params == {"tier": "OTC"}
    hhi = items.get(pipeline="compute_hhi")
    assert hhi.partition_key == {"week_ending": FRIDAY}


def test_single_week_backfill_body_from_the_guide(api):
    # The guide's backfill week 2025-11-01 is a Saturday; the Friday before it is 2025-10-31.
    body = {
        "domain": "finra.otc_transparency",
        "pipeline": "ingest_week",
        "partition_key": {"week_ending": "2025-11-01", "tier": "NMS_TIER_1"},
        "desired_at": "2025-12-23T00:00:00Z",
        "priority": 50,
    }
    refused = api.post("/api/v1/work/enqueue", body, format="json")
    assert refused.status_code == 400
    assert refused.json()["error"]["message"].startswith("week_ending 2025-11-01 is a Saturday")

    response = api.post("/api/v1/work/enqueue", with_week(body, "2025-10-31"), format="json")

    assert response.status_code == 201
    assert response.json()["priority"] == 50


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_backfill_range_script_against_a_live_server(live_server, django_user_model, capsys):
    user = django_user_model.objects.create_superuser("cron", password="pw")
    headers = {"Authorization": f"Token {api_key(user)}"}

    # scripts/backfill_range.py, as written, plus the token header.
    api_base = f"{live_server.url}/api/v1"
    start_date = date(2025, 10, 1)
    end_date = date(2025, 12, 22)

    current = start_date
    statuses = []
    while current <= end_date:
        if current.weekday() == 4:
            for tier in ["NMS_TIER_1", "NMS_TIER_2", "OTC"]:
                work_item = {
                    "domain": "finra.otc_transparency",
                    "pipeline": "ingest_week",
                    "partition_key": {"week_ending": current.isoformat(), "tier": tier},
                    "desired_at": "2025-12-23T00:00:00Z",
                    "priority": 25,
                }
                response = requests.post(
                    f"{api_base}/work/enqueue", json=work_item, headers=headers, timeout=10
                )
                statuses.append(response.status_code)
                print(f"✓ Enqueued {tier} for {current.isoformat()}: {response.status_code}")
        current += timedelta(days=1)

    fridays = 12  # 2025-10-03 .. 2025-12-19
    assert statuses == [201] * (fridays * 3)
    assert WorkItem.objects.filter(domain=DOMAIN, priority=25).count() == fridays * 3
    assert "✓ Enqueued OTC for 2025-12-19: 201" in capsys.readouterr().out

    pending = requests.get(f"{api_base}/work/pending", headers=headers, timeout=10)
    assert pending.json()["counts"]["pending"] == fridays * 3


@pytest.fixture
def queue(api):
    """Items in several states: 2 PENDING finra, 1 FAILED finra, 1 RETRY_WAIT and 1 RUNNING."""
    actor = Actor.cli()
    for tier in ["NMS_TIER_1", "OTC"]:
        work_item_enqueue(
            domain=DOMAIN,
            pipeline="ingest_week",
            partition_key={"week_ending": FRIDAY, "tier": tier},
            actor=actor,
        )
    failed = work_item_enqueue(
        domain=DOMAIN,
        pipeline="normalize_week",
        partition_key={"week_ending": FRIDAY, "tier": "OTC"},
        actor=actor,
    ).item
    WorkItem.objects.filter(pk=failed.pk).update(
        state=WorkState.FAILED, attempt_count=3, last_error="HTTP 503: FINRA API unavailable"
    )
    from tests.factories import enqueue

    waiting = enqueue(week="w1")
    WorkItem.objects.filter(pk=waiting.pk).update(state=WorkState.RETRY_WAIT)
    running = enqueue(week="w2", priority=1000)
    claim_one()
    return {"failed": failed.pk, "retry_wait": waiting.pk, "running": running.pk}


def test_list_all_pending_work(api, queue):
    response = api.get("/api/v1/work/pending")

    assert response.status_code == 200
    data = response.json()
    assert set(data) == {"pending", "running", "retry_wait", "failed", "counts"}
    assert data["counts"] == {"pending": 2, "running": 1, "retry_wait": 1, "failed": 1}
    assert [item["id"] for item in data["running"]] == [queue["running"]]


def test_pending_filtered_by_domain(api, queue):
    response = api.get("/api/v1/work/pending?domain=finra.otc_transparency")

    data = response.json()
    assert data["counts"] == {"pending": 2, "running": 0, "retry_wait": 0, "failed": 1}
    assert {item["domain"] for item in data["pending"] + data["failed"]} == {DOMAIN}


def test_pending_filtered_by_state_retry_wait(api, queue):
    response = api.get("/api/v1/work/pending?state=RETRY_WAIT")

    assert response.json() == {
        "retry_wait": [response.json()["retry_wait"][0]],
        "counts": {"retry_wait": 1},
    }
    assert response.json()["retry_wait"][0]["id"] == queue["retry_wait"]


def test_failed_work_listing_matches_the_guide_example(api, queue):
    response = api.get("/api/v1/work/pending?state=FAILED")

    # curl .../work/pending?state=FAILED | jq '.failed | length'
    assert len(response.json()["failed"]) == 1
    item = response.json()["failed"][0]
    assert item["id"] == queue["failed"]
    assert item["domain"] == DOMAIN
    assert item["pipeline"] == "normalize_week"
    assert item["partition_key"] == {"week_ending": FRIDAY, "tier": "OTC"}
    assert item["state"] == "FAILED"
    assert item["attempt_count"] == 3
    assert item["last_error"] == "HTTP 503: FINRA API unavailable"


def test_manual_retry_of_a_specific_item(api, queue):
    response = api.post("/api/v1/work/retry", {"work_item_id": queue["failed"]}, format="json")

    assert response.status_code == 200
    assert response.json() == {"retried": [queue["failed"]], "count": 1}
    item = WorkItem.objects.get(pk=queue["failed"])
    assert (item.state, item.attempt_count, item.last_error) == (WorkState.PENDING, 0, None)


def test_retry_all_failed_items_for_a_domain(api, queue):
    response = api.post("/api/v1/work/retry", {"domain": DOMAIN}, format="json")

    assert response.status_code == 200
    assert response.json() == {"retried": [queue["failed"]], "count": 1}
    assert not WorkItem.objects.filter(state=WorkState.FAILED).exists()


def test_cancel_a_specific_item_before_it_runs(api, queue):
    pending_id = WorkItem.objects.filter(state=WorkState.PENDING).first().pk

    response = api.post("/api/v1/work/cancel", {"work_item_id": pending_id}, format="json")

    assert response.status_code == 200
    assert response.json()["id"] == pending_id
    assert response.json()["state"] == "CANCELLED"


def test_manifest_dependency_check_from_the_guide(api):
    def check(partition: dict) -> bool:
        response = api.get(
            "/api/v1/manifest",
            {"domain": DOMAIN, "partition_key": json.dumps(partition), "stage": "RAW"},
        )
        return response.json().get("row_count", 0) > 0

    partition = {"week_ending": FRIDAY, "tier": "NMS_TIER_1"}
    assert check(partition) is False  # RAW stage not ready

    manifest_record(domain=DOMAIN, partition_key=partition, stage="RAW", row_count=4210)

    assert check(partition) is True
    assert check({"tier": "NMS_TIER_1", "week_ending": FRIDAY}) is True  # any key order
