"""GET /metrics: exact values after a known sequence, METRICS_TOKEN, and the alert rules.

The history, scraped at 2026-01-21 18:00 UTC:

- tests.queue/flaky week 1 (one attempt allowed) fails: FAILED, exhausted;
- tests.queue/broken week 3 fails for good on its first of three attempts: FAILED, not
  exhausted; tests.queue/produce_first week 2 completes on worker host-a:1;
- produce_first week 4 waits for a desired_at in the future, week 5 has been due for 120 s;
- flaky weeks 6 and 7 are RUNNING, their leases renewed 90 s and 2,000 s ago (the second
  expired: the lease period is 1,800 s);
- worker host-a:1 beat 30 s ago, host-b:1 4,000 s ago;
- scheduler runs: success (30 s), partial (90 s), critical (0.5 s), one still running.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
import yaml
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from finra.models import DOMAIN, SchedulerRun
from finra.stages import STAGES
from finra.tiers import TIERS
from tests.factories import enqueue
from workqueue.manifest import manifest_record
from workqueue.models import WorkerHeartbeat, WorkItem
from workqueue.runner import claim_batch, drain

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 1, 21, 18, 0, tzinfo=UTC)
ALERTS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yaml"


def scrape(client: Client, **headers: str) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


@pytest.fixture
def history(settings) -> None:
    settings.WORKQUEUE_LEASE_SECONDS = 1800
    settings.FINRA_PUBLICATION_GRACE_HOURS = 6
    # Written around NOW (the clock runs), so that "in the future" means after NOW.
    with time_machine.travel(NOW, tick=True):
        _write_history()


def _write_history() -> None:
    WorkerHeartbeat.objects.create(worker="host-a:1", seen_at=NOW)
    enqueue("flaky", "w1", max_attempts=1)
    enqueue("produce_first", "w2")
    enqueue("broken", "w3")
    drain(worker_id="host-a:1", time_budget=30)
    enqueue("produce_first", "w4", desired_at=NOW + timedelta(days=1))
    enqueue("flaky", "w6")
    enqueue("flaky", "w7")
    running = claim_batch(worker_id="host-b:1", limit=2)
    assert len(running) == 2
    for item, age in zip(running, (90, 2000), strict=True):
        WorkItem.objects.filter(pk=item.pk).update(locked_at=NOW - timedelta(seconds=age))
    due = enqueue("produce_first", "w5")
    WorkItem.objects.filter(pk=due.pk).update(desired_at=NOW - timedelta(seconds=120))
    WorkerHeartbeat.objects.filter(worker="host-a:1").update(seen_at=NOW - timedelta(seconds=30))
    WorkerHeartbeat.objects.update_or_create(
        worker="host-b:1", defaults={"seen_at": NOW - timedelta(seconds=4000)}
    )
    for status, seconds, counts, started in (
        ("success", 30, {"ingested": 3, "unchanged": 2, "not_due": 1}, NOW - timedelta(days=3)),
        ("partial", 90, {"ingested": 1, "failed": 2}, NOW - timedelta(days=2)),
        ("critical", 0.5, {}, NOW - timedelta(days=1)),
    ):
        SchedulerRun.objects.create(
            started_at=started,
            finished_at=started + timedelta(seconds=seconds),
            status=status,
            exit_code={"success": 0, "partial": 1, "critical": 2}[status],
            counts=counts,
        )
    SchedulerRun.objects.create(started_at=NOW - timedelta(hours=1), counts={"ingested": 9})


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def test_work_queue_metrics(history, frozen, client):
    samples = scrape(client)

    def items(pipeline: str, state: str) -> float:
        return value(
            samples, "market_spine_work_items", domain="tests.queue", pipeline=pipeline, state=state
        )

    assert (items("flaky", "FAILED"), items("flaky", "RUNNING"), items("flaky", "PENDING")) == (
        1,
        2,
        0,
    )
    assert (items("produce_first", "COMPLETE"), items("produce_first", "PENDING")) == (1, 2)
    assert items("broken", "FAILED") == 1
    exhausted = "market_spine_work_items_exhausted"
    assert value(samples, exhausted, domain="tests.queue", pipeline="flaky") == 1
    assert value(samples, exhausted, domain="tests.queue", pipeline="broken") == 0
    assert value(samples, "market_spine_work_oldest_due_age_seconds") == 120
    assert value(samples, "market_spine_work_lease_age_max_seconds") == 2000
    assert value(samples, "market_spine_work_leases_expired") == 1
    age = "market_spine_worker_heartbeat_age_seconds"
    assert value(samples, age, worker="host-a:1") == 30
    assert value(samples, age, worker="host-b:1") == 4000
    assert value(samples, "market_spine_worker_items_completed_total", worker="host-a:1") == 1


def test_scheduler_metrics(history, frozen, client):
    samples = scrape(client)

    runs = "market_spine_scheduler_runs_total"
    assert [value(samples, runs, status=s) for s in ("success", "partial", "critical")] == [
        1,
        1,
        1,
    ]
    weeks = "market_spine_scheduler_weeks_processed_total"
    assert {
        action: value(samples, weeks, action=action)
        for action in ("ingested", "revised", "unchanged", "not_due", "failed")
    } == {"ingested": 4, "revised": 0, "unchanged": 2, "not_due": 1, "failed": 2}
    bucket = "market_spine_scheduler_duration_seconds_bucket"
    assert value(samples, bucket, le="1.0") == 1
    assert value(samples, bucket, le="30.0") == 2
    assert value(samples, bucket, le="60.0") == 2
    assert value(samples, bucket, le="120.0") == 3
    assert value(samples, bucket, le="+Inf") == 3
    assert value(samples, "market_spine_scheduler_duration_seconds_count") == 3
    assert value(samples, "market_spine_scheduler_duration_seconds_sum") == 120.5
    last = value(samples, "market_spine_scheduler_last_run_timestamp")
    assert last == (NOW - timedelta(hours=1)).timestamp()


def test_overdue_partitions_over_the_last_twelve_weeks(settings, frozen, client):
    # Weeks 2025-10-31 to 2026-01-16. Due by now: Tier 1 up to 2026-01-02 (10 weeks), Tier 2
    # and OTC up to 2025-12-19 (8 weeks); one of them complete.
    settings.FINRA_PUBLICATION_GRACE_HOURS = 6
    for tier in TIERS:
        for spec in STAGES[:-1]:
            manifest_record(
                domain=DOMAIN,
                partition_key={"week_ending": "2025-12-05", "tier": tier},
                stage=spec.stage,
                row_count=1,
            )
    manifest_record(
        domain=DOMAIN, partition_key={"week_ending": "2025-12-05"}, stage="TIER_SPLIT", row_count=1
    )

    samples = scrape(client)

    overdue = "market_spine_finra_overdue_partitions"
    assert value(samples, overdue, tier="NMS_TIER_1", stage="RAW") == 9
    assert value(samples, overdue, tier="NMS_TIER_1", stage="HHI") == 9
    assert value(samples, overdue, tier="OTC", stage="RAW") == 7
    assert value(samples, overdue, tier="ALL", stage="TIER_SPLIT") == 7
    assert sum(v for (name, _), v in samples.items() if name == overdue) == 9 * 5 + 7 * 10 + 7


def test_a_scrape_takes_a_few_queries(history, frozen, client, django_assert_max_num_queries):
    with django_assert_max_num_queries(9):
        scrape(client)


def test_no_token_leaves_the_endpoint_open(settings, client):
    settings.METRICS_TOKEN = ""

    assert client.get("/metrics").status_code == 200


def test_a_token_is_required_when_set(settings, client):
    settings.METRICS_TOKEN = "s3cret-token"

    missing = client.get("/metrics")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-it")
    other_scheme = client.get("/metrics", HTTP_AUTHORIZATION="Token s3cret-token")
    right = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")

    assert (missing.status_code, wrong.status_code, other_scheme.status_code) == (401, 401, 401)
    assert missing["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"market_spine_work" not in wrong.content
    assert right.status_code == 200
    assert b"market_spine_scheduler_runs_total" in right.content


def test_only_get(client):
    assert client.post("/metrics").status_code == 405


# --- the alert rules ------------------------------------------------------------------------

METRIC_NAME = re.compile(r"\bmarket_spine_[a-zA-Z0-9_:]*")


def test_every_alert_uses_metrics_the_endpoint_exports(history, frozen, client):
    exported = {name for name, _ in scrape(client)}
    rules = [
        rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]
    ]

    assert {rule["alert"] for rule in rules} >= {
        "MarketSpineWorkFailed",
        "SchedulerPartialFailure",
        "SchedulerCriticalFailure",
        "SchedulerNotRunning",
        "MarketSpineFinraPartitionsOverdue",
        "MarketSpineWorkerHeartbeatStale",
    }
    for rule in rules:
        names = set(METRIC_NAME.findall(rule["expr"]))
        assert names, f"{rule['alert']} uses no market_spine_ metric"
        assert names <= exported, f"{rule['alert']}: {sorted(names - exported)} not exported"
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]


def test_the_scrape_config_example_sends_the_token():
    config = yaml.safe_load((ALERTS.parent / "prometheus.yml").read_text())
    job = config["scrape_configs"][0]

    assert job["metrics_path"] == "/metrics"
    assert job["authorization"]["type"] == "Bearer"
    assert config["rule_files"] == ["alerts.yaml"]
