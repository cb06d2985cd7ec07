"""The guide's curl commands from "Backfilling" to "Troubleshooting", run by bash against a live
server exactly as printed, with two edits: the token header after ``curl``, and the sample id
123 replaced by a real item's id."""

from __future__ import annotations

import json
import subprocess

import pytest
from django.contrib.auth.models import Group, User

from tests.factories import api_key
from workqueue.models import WorkItem
from workqueue.services import Actor, work_item_enqueue
from workqueue.states import WorkState

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

DOMAIN = "finra.otc_transparency"
FRIDAY = "2025-12-19"

BACKFILL_SINGLE_WEEK = """
curl -X POST http://localhost:8000/api/v1/work/enqueue \\
  -H "Content-Type: application/json" \\
  -d '{
    "domain": "finra.otc_transparency",
    "pipeline": "ingest_week",
    "partition_key": {"week_ending": "2025-11-01", "tier": "NMS_TIER_1"},
    "desired_at": "2025-12-23T00:00:00Z",
    "priority": 50
  }'
"""
LIST_FAILED = "curl http://localhost:8000/api/v1/work/pending?state=FAILED"
RETRY_ONE = """
curl -X POST http://localhost:8000/api/v1/work/retry \\
  -H "Content-Type: application/json" \\
  -d '{"work_item_id": 123}'
"""
RETRY_DOMAIN = """
curl -X POST http://localhost:8000/api/v1/work/retry \\
  -H "Content-Type: application/json" \\
  -d '{"domain": "finra.otc_transparency"}'
"""
PENDING_ALL = "curl http://localhost:8000/api/v1/work/pending"
PENDING_DOMAIN = "curl http://localhost:8000/api/v1/work/pending?domain=finra.otc_transparency"
PENDING_RETRY_WAIT = "curl http://localhost:8000/api/v1/work/pending?state=RETRY_WAIT"
CANCEL_ONE = """
curl -X POST http://localhost:8000/api/v1/work/cancel \\
  -H "Content-Type: application/json" \\
  -d '{"work_item_id": 123}'
"""
FAILED_COUNT = "curl http://localhost:8000/api/v1/work/pending?state=FAILED | jq '.failed | length'"


@pytest.fixture
def sh(live_server):
    """Run a guide command with bash: the live server for localhost:8000, plus the token."""
    user = User.objects.create_user("cron", password="pw")
    user.groups.add(Group.objects.get(name="data_ops"))
    token = api_key(user)

    def run(command: str, *, item_id: int | None = None) -> str:
        command = command.replace("http://localhost:8000", live_server.url)
        command = command.replace(
            "curl ", 'curl -sS -H "Authorization: Token $MARKET_SPINE_TOKEN" ', 1
        )
        if item_id is not None:
            command = command.replace('"work_item_id": 123', f'"work_item_id": {item_id}')
        result = subprocess.run(
            ["bash", "-c", f"set -o pipefail\n{command}"],
            env={"PATH": "/usr/local/bin:/usr/bin:/bin", "MARKET_SPINE_TOKEN": token},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    return run


def queued(tier: str, pipeline: str = "ingest_week") -> WorkItem:
    return work_item_enqueue(
        domain=DOMAIN,
        pipeline=pipeline,
        partition_key={"week_ending": FRIDAY, "tier": tier},
        actor=Actor.cli(),
    ).item


def failed(tier: str) -> WorkItem:
    item = queued(tier, "normalize_week")
    WorkItem.objects.filter(pk=item.pk).update(
        state=WorkState.FAILED, attempt_count=3, last_error="HTTP 503: FINRA API unavailable"
    )
    return item


def test_single_week_backfill_curl_names_the_saturday_and_enqueues_nothing(sh):
    answer = json.loads(sh(BACKFILL_SINGLE_WEEK))

    # 2025-11-01 is a Saturday: the guide's own week is refused with a clear message.
    assert answer["error"]["code"] == "invalid_partition_key"
    assert answer["error"]["message"] == "week_ending 2025-11-01 is a Saturday; it must be a Friday"
    assert not WorkItem.objects.exists()

    friday = json.loads(sh(BACKFILL_SINGLE_WEEK.replace("2025-11-01", "2025-10-31")))
    assert (friday["status"], friday["priority"], friday["state"]) == ("created", 50, "PENDING")
    assert WorkItem.objects.get().partition_key == {
        "week_ending": "2025-10-31",
        "tier": "NMS_TIER_1",
    }


def test_failure_handling_curls_list_count_and_retry(sh):
    first, second = failed("OTC"), failed("NMS_TIER_1")
    queued("NMS_TIER_2")

    listing = json.loads(sh(LIST_FAILED))
    assert [item["id"] for item in listing["failed"]] == [first.pk, second.pk]
    assert listing["failed"][0]["last_error"] == "HTTP 503: FINRA API unavailable"
    assert sh(FAILED_COUNT).strip() == "2"

    assert json.loads(sh(RETRY_ONE, item_id=first.pk)) == {"retried": [first.pk], "count": 1}
    assert json.loads(sh(RETRY_DOMAIN)) == {"retried": [second.pk], "count": 1}
    assert sh(FAILED_COUNT).strip() == "0"
    assert set(WorkItem.objects.values_list("state", flat=True)) == {WorkState.PENDING}


def test_queue_management_curls_pending_filters_and_cancel(sh):
    pending = queued("OTC")
    waiting = queued("NMS_TIER_1")
    WorkItem.objects.filter(pk=waiting.pk).update(state=WorkState.RETRY_WAIT)

    assert json.loads(sh(PENDING_ALL))["counts"] == {
        "pending": 1, "running": 0, "retry_wait": 1, "failed": 0,
    }  # fmt: skip
    by_domain = json.loads(sh(PENDING_DOMAIN))
    assert [item["id"] for item in by_domain["pending"]] == [pending.pk]
    retry_wait = json.loads(sh(PENDING_RETRY_WAIT))
    assert retry_wait["counts"] == {"retry_wait": 1}
    assert [item["id"] for item in retry_wait["retry_wait"]] == [waiting.pk]

    cancelled = json.loads(sh(CANCEL_ONE, item_id=pending.pk))
    assert (cancelled["id"], cancelled["state"]) == (pending.pk, "CANCELLED")
    assert WorkItem.objects.get(pk=pending.pk).state == WorkState.CANCELLED
