"""Gap detection: the report, --fix, the command's exit codes and GET /api/v1/finra/gaps.

The history, seen on Wednesday 2026-01-21 at 18:00 UTC with a 6-hour grace:

- 2025-12-05: every stage of every tier, and the tier split. No gap.
- 2025-12-12: NMS Tier 1 and 2 complete; the OTC ingest FAILED. Overdue: OTC's five stages
  and the tier split.
- 2025-12-19: NMS Tier 1 and OTC complete; nothing at all for NMS Tier 2 (no item), due since
  Tuesday 2026-01-20 21:00 UTC (Monday was Martin Luther King Jr. Day). Overdue: its five
  stages and the tier split.
- 2025-12-26: NMS Tier 1 complete; Tier 2 and OTC not published before Monday 2026-01-26.
  Not yet due: ten stages and the tier split.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime

import pytest
import time_machine
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from finra.gap_rules import GapStatus
from finra.gaps import finra_gaps
from finra.models import DOMAIN
from finra.stages import STAGES, PartitionShape
from finra.tiers import TIERS
from tests.api.conftest import token_client
from workqueue.manifest import manifest_record
from workqueue.models import ManifestEntry, WorkItem
from workqueue.services import Actor, work_item_enqueue
from workqueue.states import WorkState

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 1, 21, 18, 0, tzinfo=UTC)
SINCE, UNTIL = "2025-12-05", "2025-12-26"
PER_TIER = [spec for spec in STAGES if spec.partition is PartitionShape.TIER]


def record_tier(week_ending: str, tier: str) -> None:
    for spec in PER_TIER:
        manifest_record(
            domain=DOMAIN,
            partition_key={"week_ending": week_ending, "tier": tier},
            stage=spec.stage,
            row_count=10,
        )


def record_week(week_ending: str, tiers: tuple[str, ...]) -> None:
    for tier in tiers:
        record_tier(week_ending, tier)
    if set(tiers) == set(TIERS):
        manifest_record(
            domain=DOMAIN,
            partition_key={"week_ending": week_ending},
            stage="TIER_SPLIT",
            row_count=10,
        )


@pytest.fixture
def history(settings) -> WorkItem:
    """The history above; returns the FAILED OTC ingest of 2025-12-12."""
    settings.FINRA_PUBLICATION_GRACE_HOURS = 6
    record_week("2025-12-05", TIERS)
    record_week("2025-12-12", ("NMS_TIER_1", "NMS_TIER_2"))
    record_week("2025-12-19", ("NMS_TIER_1", "OTC"))
    record_week("2025-12-26", ("NMS_TIER_1",))
    failed = work_item_enqueue(
        domain=DOMAIN,
        pipeline="ingest_week",
        partition_key={"week_ending": "2025-12-12", "tier": "OTC"},
        actor=Actor.cli(),
    ).item
    WorkItem.objects.filter(pk=failed.pk).update(
        state=WorkState.FAILED,
        attempt_count=3,
        last_error="HTTP 503: FINRA unavailable\nTraceback ...",
    )
    failed.refresh_from_db()
    return failed


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def summary(report) -> list[tuple[str, str, str, str]]:
    return [(g.week_ending.isoformat(), g.tier, g.stage, g.status.value) for g in report.gaps]


def test_the_report_splits_overdue_from_not_yet_due(history):
    report = finra_gaps(since=date(2025, 12, 5), until=date(2025, 12, 26), now=NOW)

    derived = ["NORMALIZED", "VENUE_VOLUME", "VENUE_SHARE", "HHI"]
    assert summary(report) == [
        *[("2025-12-12", "OTC", s, "overdue") for s in ["RAW", *derived]],
        ("2025-12-12", "ALL", "TIER_SPLIT", "overdue"),
        *[("2025-12-19", "NMS_TIER_2", s, "overdue") for s in ["RAW", *derived]],
        ("2025-12-19", "ALL", "TIER_SPLIT", "overdue"),
        *[
            ("2025-12-26", t, s, "not_yet_due")
            for t in ("NMS_TIER_2", "OTC")
            for s in ["RAW", *derived]
        ],
        ("2025-12-26", "ALL", "TIER_SPLIT", "not_yet_due"),
    ]
    assert report.counts == {"overdue": 12, "not_yet_due": 11}


def test_each_gap_says_what_fills_it(history):
    report = finra_gaps(since=date(2025, 12, 5), until=date(2025, 12, 26), now=NOW)
    by_key = {(g.week_ending.isoformat(), g.tier, g.stage): g for g in report.gaps}

    failed_raw = by_key[("2025-12-12", "OTC", "RAW")]
    assert failed_raw.item.item_id == history.pk and failed_raw.item.state == "FAILED"
    assert failed_raw.remediation == (
        f"retry work item #{history.pk} (FAILED: HTTP 503: FINRA unavailable)"
    )
    assert by_key[("2025-12-12", "OTC", "HHI")].remediation == (
        f"waits for RAW (retry work item #{history.pk} (FAILED: HTTP 503: FINRA unavailable))"
    )
    assert by_key[("2025-12-19", "NMS_TIER_2", "RAW")].item is None
    assert by_key[("2025-12-19", "NMS_TIER_2", "RAW")].remediation == "enqueue ingest_week"
    assert by_key[("2025-12-19", "ALL", "TIER_SPLIT")].remediation == (
        "waits for RAW of NMS_TIER_2 (enqueue ingest_week)"
    )
    not_due = by_key[("2025-12-26", "OTC", "RAW")]
    assert not_due.status is GapStatus.NOT_YET_DUE
    assert not_due.due_at == datetime(2026, 1, 26, 21, 0, tzinfo=UTC)
    assert not_due.remediation == "not due before 2026-01-26 21:00 UTC"


def test_a_week_becomes_overdue_at_its_due_moment(history):
    # Tier 2 of 2025-12-19: published Tuesday 2026-01-20 (Monday was a holiday), 10:00 New
    # York is 15:00 UTC, plus six hours.
    just_before = datetime(2026, 1, 20, 20, 59, tzinfo=UTC)
    at = datetime(2026, 1, 20, 21, 0, tzinfo=UTC)
    week = date(2025, 12, 19)

    before = finra_gaps(since=week, until=week, tiers={"NMS_TIER_2"}, now=just_before)
    after = finra_gaps(since=week, until=week, tiers={"NMS_TIER_2"}, now=at)

    assert {g.status for g in before.gaps} == {GapStatus.NOT_YET_DUE}
    assert {g.status for g in after.gaps} == {GapStatus.OVERDUE}


def test_filters_narrow_the_report_but_not_the_roots(history):
    report = finra_gaps(
        since=date(2025, 12, 5),
        until=date(2025, 12, 26),
        tiers={"ALL"},
        stages={"TIER_SPLIT"},
        now=NOW,
    )

    assert summary(report) == [
        ("2025-12-12", "ALL", "TIER_SPLIT", "overdue"),
        ("2025-12-19", "ALL", "TIER_SPLIT", "overdue"),
        ("2025-12-26", "ALL", "TIER_SPLIT", "not_yet_due"),
    ]
    assert [r.partition_key for r in report.gaps[0].roots] == [
        {"week_ending": "2025-12-12", "tier": "OTC"}
    ]


def test_the_report_takes_two_queries_whatever_the_window(history, django_assert_num_queries):
    with django_assert_num_queries(2):
        finra_gaps(since=date(2024, 1, 1), until=date(2025, 12, 26), now=NOW)


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("finra_gaps", *args, stdout=out, stderr=io.StringIO())
    except SystemExit as exc:
        return int(exc.code), out.getvalue()
    return 0, out.getvalue()


def test_the_command_exits_1_on_overdue_gaps_and_prints_a_table(history, frozen):
    code, out = run("--since", SINCE, "--until", UNTIL)

    assert code == 1
    lines = out.splitlines()
    assert lines[0].split() == [
        "week_ending",
        "tier",
        "stage",
        "status",
        "work",
        "item",
        "remediation",
    ]
    assert any(
        line.split()[:5] == ["2025-12-12", "OTC", "RAW", "overdue", f"#{history.pk}"]
        for line in lines
    )
    assert lines[-1] == "4 week(s) from 2025-12-05 to 2025-12-26: 12 overdue, 11 not yet due"


def test_the_command_exits_0_when_only_not_yet_due_gaps_remain(history, frozen):
    code, out = run("--since", "2025-12-26", "--until", UNTIL, "--format", "json")

    body = json.loads(out)
    assert code == 0
    assert body["counts"] == {"overdue": 0, "not_yet_due": 11}
    assert body["since"] == "2025-12-26" and body["until"] == "2025-12-26"
    assert body["gaps"][0] == {
        "week_ending": "2025-12-26",
        "tier": "NMS_TIER_2",
        "stage": "RAW",
        "pipeline": "ingest_week",
        "partition_key": {"tier": "NMS_TIER_2", "week_ending": "2025-12-26"},
        "status": "not_yet_due",
        "due_at": "2026-01-26T21:00:00Z",
        "work_item": None,
        "remediation": "not due before 2026-01-26 21:00 UTC",
    }


def test_json_names_the_work_item(history, frozen):
    code, out = run(
        "--since", SINCE, "--until", UNTIL, "--tiers", "OTC", "--stage", "raw", "--format", "json"
    )

    body = json.loads(out)
    assert code == 1
    assert [g["week_ending"] for g in body["gaps"]] == ["2025-12-12", "2025-12-26"]
    assert body["gaps"][0]["work_item"] == {
        "id": history.pk,
        "state": "FAILED",
        "last_error": "HTTP 503: FINRA unavailable\nTraceback ...",
        "attempt_count": 3,
        "max_attempts": 3,
        "next_attempt_at": None,
    }


def test_the_default_window_is_the_last_twelve_completed_weeks(history, frozen):
    code, out = run("--format", "json")

    body = json.loads(out)
    assert (body["since"], body["until"]) == ("2025-10-31", "2026-01-16")
    assert code == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (("--since", "2025-13-01"), "--since '2025-13-01' is not a date"),
        (("--since", "2025-12-26", "--until", "2025-12-01"), "is after until"),
        (("--tiers", "NMS_TIER_9"), "--tiers: unknown tier 'NMS_TIER_9'"),
        (("--stage", "CALC"), "--stage: unknown FINRA stage 'CALC'"),
        (("--since", "2000-01-01", "--until", "2025-12-26"), "at most 520 per report"),
    ],
)
def test_bad_input_exits_2(args, message):
    with pytest.raises(CommandError, match=message) as excinfo:
        call_command("finra_gaps", *args, stdout=io.StringIO())
    assert excinfo.value.returncode == 2


def test_fix_enqueues_exactly_the_due_missing_partitions(history, frozen):
    code, out = run("--since", SINCE, "--until", UNTIL, "--fix")

    items = WorkItem.objects.filter(domain=DOMAIN, state=WorkState.PENDING)
    assert sorted((i.pipeline, i.partition_key_text) for i in items) == [
        ("ingest_week", '{"tier":"NMS_TIER_2","week_ending":"2025-12-19"}'),
        ("ingest_week", '{"tier":"OTC","week_ending":"2025-12-12"}'),
    ]
    assert WorkItem.objects.count() == 2  # the FAILED one re-armed, one created
    assert code == 1  # still missing until the workers have run
    assert "--fix: 2 item(s) enqueued" in out
    assert f"re-armed #{history.pk}" in out


def test_fix_a_second_time_leaves_the_queued_items_alone(history, frozen):
    run("--since", SINCE, "--until", UNTIL, "--fix")
    _, out = run("--since", SINCE, "--until", UNTIL, "--fix")

    assert WorkItem.objects.count() == 2
    assert "--fix: nothing to enqueue" in out
    assert "wait: work item" in out


def test_fix_a_missing_calc_enqueues_only_that_calc(settings, frozen):
    settings.FINRA_PUBLICATION_GRACE_HOURS = 6
    record_week("2025-12-05", TIERS)
    WorkItem.objects.all().delete()
    ManifestEntry.objects.filter(stage="HHI", partition_key__contains='"OTC"').delete()

    code, out = run("--since", "2025-12-05", "--until", "2025-12-05", "--fix", "--format", "json")

    body = json.loads(out)
    assert code == 1
    assert [(g["tier"], g["stage"], g["remediation"]) for g in body["gaps"]] == [
        ("OTC", "HHI", "enqueue compute_hhi")
    ]
    assert body["fixed"][0]["pipeline"] == "compute_hhi"
    assert body["fixed"][0]["enqueued"] == 1
    item = WorkItem.objects.get()
    assert (item.pipeline, item.partition_key) == (
        "compute_hhi",
        {"tier": "OTC", "week_ending": "2025-12-05"},
    )


# --- the API ------------------------------------------------------------------------------


@pytest.fixture
def viewer_api() -> APIClient:
    user = User.objects.create_user("viewer", password="pw")
    user.groups.add(Group.objects.get(name="viewers"))
    return token_client(user)


def test_the_endpoint_returns_the_report(history, frozen, viewer_api):
    response = viewer_api.get(
        "/api/v1/finra/gaps",
        {"since": SINCE, "until": UNTIL, "tier": ["OTC", "T2"], "stage": "RAW"},
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["counts"] == {"overdue": 2, "not_yet_due": 2}
    assert [(g["week_ending"], g["tier"], g["status"]) for g in body["gaps"]] == [
        ("2025-12-12", "OTC", "overdue"),
        ("2025-12-19", "NMS_TIER_2", "overdue"),
        ("2025-12-26", "NMS_TIER_2", "not_yet_due"),
        ("2025-12-26", "OTC", "not_yet_due"),
    ]
    assert body["gaps"][0]["work_item"]["id"] == history.pk


def test_the_endpoint_takes_comma_separated_tiers(history, frozen, viewer_api):
    response = viewer_api.get(
        "/api/v1/finra/gaps", {"since": SINCE, "until": UNTIL, "tier": "OTC,ALL"}
    )

    assert response.status_code == 200
    assert {g["tier"] for g in response.json()["gaps"]} == {"OTC", "ALL"}


@pytest.mark.parametrize(
    "query, field",
    [
        ({"since": "2025-12-40"}, "since"),
        ({"since": "2025-12-26", "until": "2025-12-01"}, "since"),
        ({"tier": "NMS_TIER_9"}, "tier"),
        ({"stage": "CALC"}, "stage"),
        ({"since": "2000-01-01", "until": "2025-12-26"}, "since"),
        ({"week": "2025-12-12"}, "week"),
    ],
)
def test_bad_queries_are_400_with_the_field(viewer_api, query, field):
    response = viewer_api.get("/api/v1/finra/gaps", query)

    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_the_endpoint_needs_the_work_item_view_permission(client):
    user = User.objects.create_user("nobody", password="pw")

    assert token_client(user).get("/api/v1/finra/gaps").status_code == 403
    assert client.get("/api/v1/finra/gaps").status_code == 401
