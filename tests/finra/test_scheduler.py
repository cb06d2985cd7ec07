"""The multi-week FINRA scheduler: plan, enqueue, wait (or run here), report, record."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import time_machine
from django.core.management import call_command
from django.db import OperationalError

from finra.models import (
    Capture,
    CaptureStatus,
    SchedulerAction,
    SchedulerRun,
    SchedulerRunStatus,
    Stage,
)
from finra.scheduler import (
    Mode,
    OnlyStage,
    RunHere,
    SchedulerConfigError,
    SchedulerOptions,
    parse_duration,
    parse_tiers,
    parse_weeks,
    weekly_schedule_run,
)
from finra.selectors import capture_latest
from workqueue.models import WorkerHeartbeat, WorkItem
from workqueue.states import WorkState

pytestmark = pytest.mark.django_db

WEEKS = (date(2025, 11, 28), date(2025, 12, 5))
TIERS = ("NMS_TIER_1", "NMS_TIER_2", "OTC")
# Monday 2026-01-12 10:00 New York: every tier of both weeks is due.
ALL_DUE = datetime(2026, 1, 12, 15, 0, tzinfo=UTC)


def options(**overrides: Any) -> SchedulerOptions:
    values: dict[str, Any] = {"weeks": WEEKS, "wait_timeout": 60.0, "poll_seconds": 0.05}
    values.update(overrides)
    return SchedulerOptions(**values)


@pytest.fixture
def two_weeks(place_generated: Callable[..., Path]) -> Callable[..., Path]:
    for week in WEEKS:
        for tier in TIERS:
            place_generated(week.isoformat(), tier, rows=200)
    return place_generated


def run(at: datetime = ALL_DUE, **overrides: Any):
    with time_machine.travel(at, tick=False):
        return weekly_schedule_run(options=options(**overrides))


def actions(report) -> dict[tuple[str, str], str]:
    return {(r.week_ending.isoformat(), r.tier): r.action for r in report.rows}


def stages_of(week: date, tier: str) -> set[str]:
    return set(
        Capture.objects.complete()
        .filter(week_ending=week, tier=tier)
        .values_list("stage", flat=True)
    )


# --- flags --------------------------------------------------------------------------------------


def test_weeks_must_be_fridays_and_a_monday_names_its_friday():
    assert parse_weeks("2025-12-05, 2025-11-28,2025-12-05") == (
        date(2025, 11, 28),
        date(2025, 12, 5),
    )
    with pytest.raises(SchedulerConfigError) as exc:
        parse_weeks("2025-12-15,2025-12-19")
    assert "2025-12-15 is a Monday; the week containing it ends Friday 2025-12-19" in str(exc.value)
    with pytest.raises(SchedulerConfigError, match="2025-12-20 is a Saturday; the week before"):
        parse_weeks("2025-12-20")
    with pytest.raises(SchedulerConfigError, match="not an ISO date"):
        parse_weeks("12/19/2025")


def test_wait_timeout_and_tiers_flags():
    assert parse_duration("45m") == 2700 and parse_duration("90") == 90
    assert parse_duration("1.5h") == 5400
    with pytest.raises(SchedulerConfigError):
        parse_duration("soon")
    assert parse_tiers("OTC,T1") == ("NMS_TIER_1", "OTC")
    with pytest.raises(SchedulerConfigError, match="unknown tier"):
        parse_tiers("T9")


# --- a run --------------------------------------------------------------------------------------


def test_first_run_ingests_every_due_partition_and_chains_every_stage(two_weeks):
    report = run()

    assert report.exit_code == 0 and report.status == SchedulerRunStatus.SUCCESS
    assert set(actions(report).values()) == {"ingested"}
    assert report.ran_here  # no worker alive in the test: the items ran in this process
    for week in WEEKS:
        for tier in TIERS:
            assert stages_of(week, tier) == {
                "RAW",
                "NORMALIZED",
                "VENUE_VOLUME",
                "VENUE_SHARE",
                "HHI",
            }
        assert capture_latest(stage=Stage.TIER_SPLIT, week_ending=week, tier="ALL") is not None
    recorded = SchedulerRun.objects.get(pk=report.run_id)
    assert recorded.status == "success" and recorded.exit_code == 0
    assert recorded.counts["ingested"] == 6 and recorded.counts["failed"] == 0
    assert recorded.finished_at is not None and recorded.duration_seconds is not None
    assert len(recorded.results) == 6 and recorded.results[0]["action"] == "ingested"
    assert sorted(recorded.work_item_ids) == sorted(
        WorkItem.objects.filter(pipeline="ingest_week").values_list("pk", flat=True)
    )
    assert recorded.arguments["weeks"] == ["2025-11-28", "2025-12-05"]
    assert WorkItem.objects.exclude(state=WorkState.COMPLETE).count() == 0


def test_revision_detection_unchanged_then_revised_on_a_later_day(two_weeks):
    first = run()
    assert set(actions(first).values()) == {"ingested"}

    unchanged = run(ALL_DUE + timedelta(days=1))
    assert set(actions(unchanged).values()) == {"unchanged"} and unchanged.exit_code == 0
    skipped = Capture.objects.filter(stage=Stage.RAW, status=CaptureStatus.SKIPPED)
    assert skipped.count() == 6  # each re-check recorded, nothing re-ingested
    assert Capture.objects.filter(stage=Stage.NORMALIZED).count() == 6

    # FINRA restates Tier 2 of the first week.
    two_weeks("2025-11-28", "NMS_TIER_2", rows=200, revision=1)
    before = capture_latest(stage=Stage.RAW, week_ending=WEEKS[0], tier="NMS_TIER_2")
    revised = run(ALL_DUE + timedelta(days=2))

    got = actions(revised)
    assert got.pop(("2025-11-28", "NMS_TIER_2")) == "revised"
    assert set(got.values()) == {"unchanged"}
    assert revised.exit_code == 0 and "revised: 2025-11-28 NMS_TIER_2" in revised.summary()
    after = capture_latest(stage=Stage.RAW, week_ending=WEEKS[0], tier="NMS_TIER_2")
    assert after.capture_id.endswith(":20260114") and after.capture_id != before.capture_id
    # The restatement went down the chain: new normalized rows, calcs and tier split.
    normalized = capture_latest(stage=Stage.NORMALIZED, week_ending=WEEKS[0], tier="NMS_TIER_2")
    assert normalized.capture_id == after.capture_id
    hhi = capture_latest(stage=Stage.HHI, week_ending=WEEKS[0], tier="NMS_TIER_2")
    assert hhi.capture_id == after.capture_id
    split = capture_latest(stage=Stage.TIER_SPLIT, week_ending=WEEKS[0], tier="ALL")
    assert split.upstream["NORMALIZED"]["NMS_TIER_2"] == after.capture_id
    recorded = SchedulerRun.objects.get(pk=revised.run_id)
    assert recorded.counts["revised"] == 1 and recorded.counts["unchanged"] == 5


def test_force_reingests_unchanged_content(two_weeks):
    run()
    forced = run(ALL_DUE + timedelta(days=1), force=True)
    # New captures of the same content: ingested again, not revised (nothing changed).
    assert set(actions(forced).values()) == {"ingested"}
    assert forced.weeks_with(SchedulerAction.REVISED) == []
    assert Capture.objects.filter(stage=Stage.RAW, status=CaptureStatus.COMPLETE).count() == 12


def test_a_malformed_file_fails_its_partition_and_the_others_still_run(two_weeks, place_file):
    place_file("2025-12-05", "OTC", b"this|is|not|a|finra|file\n1|2|3|4|5|6\n")

    report = run()

    assert report.exit_code == 1 and report.status == SchedulerRunStatus.PARTIAL
    failed = [r for r in report.rows if r.action == "failed"]
    assert [(r.week_ending.isoformat(), r.tier) for r in failed] == [("2025-12-05", "OTC")]
    assert "ingest_week: FAILED" in failed[0].error and "header" in failed[0].error.lower()
    assert sum(1 for r in report.rows if r.action == "ingested") == 5
    assert stages_of(date(2025, 12, 5), "NMS_TIER_1") >= {"NORMALIZED", "HHI"}
    recorded = SchedulerRun.objects.get(pk=report.run_id)
    assert recorded.status == "partial" and recorded.exit_code == 1
    assert recorded.counts["failed"] == 1 and recorded.counts["ingested"] == 5

    # Fixed file, next run: the FAILED item is re-armed and the week ingested.
    place_file("2025-12-05", "OTC", b"")
    two_weeks("2025-12-05", "OTC", rows=200)
    again = run(ALL_DUE + timedelta(days=1))
    assert actions(again)[("2025-12-05", "OTC")] == "ingested" and again.exit_code == 0


def test_a_due_week_without_its_file_is_reported_failed_and_keeps_waiting(two_weeks):
    report = run(weeks=(*WEEKS, date(2025, 12, 12)), tiers=("NMS_TIER_1",))
    row = next(r for r in report.rows if r.week_ending == date(2025, 12, 12))
    assert row.action == "failed" and "source not available" in row.error
    assert "not found" in row.error and report.exit_code == 1
    assert WorkItem.objects.get(pk=row.item_id).state == WorkState.RETRY_WAIT


def test_weeks_not_yet_due_are_skipped_never_failed(two_weeks):
    # Tuesday 2025-12-23: Tier 1 of both weeks is due (Mondays 12-15, 12-22); Tier 2 and OTC
    # of neither (Mondays 12-29, 2026-01-05).
    report = run(datetime(2025, 12, 23, 15, 0, tzinfo=UTC))

    got = actions(report)
    assert (
        got[("2025-12-05", "NMS_TIER_2")] == "not_due" and got[("2025-12-05", "OTC")] == "not_due"
    )
    assert got[("2025-12-05", "NMS_TIER_1")] == "ingested"
    assert report.exit_code == 0
    assert not WorkItem.objects.filter(
        pipeline="ingest_week", partition_key={"tier": "OTC", "week_ending": "2025-12-05"}
    ).exists()
    assert SchedulerRun.objects.get(pk=report.run_id).counts["not_due"] == 4


def test_lookback_counts_back_from_new_york_today(two_weeks):
    report = run(weeks=None, lookback_weeks=6)
    weeks = sorted({r.week_ending for r in report.rows})
    assert weeks[0] == date(2025, 12, 5) and weeks[-1] == date(2026, 1, 9) and len(weeks) == 6


def test_dry_run_writes_nothing_and_says_what_would_change(two_weeks):
    run()
    two_weeks("2025-12-05", "OTC", rows=200, revision=1)
    counts = (WorkItem.objects.count(), SchedulerRun.objects.count(), Capture.objects.count())

    report = run(ALL_DUE + timedelta(days=1), mode=Mode.DRY_RUN, force=False)

    assert (
        WorkItem.objects.count(),
        SchedulerRun.objects.count(),
        Capture.objects.count(),
    ) == counts
    assert report.run_id is None and report.exit_code == 0
    notes = {(r.week_ending.isoformat(), r.tier): r.note for r in report.rows}
    assert notes[("2025-12-05", "OTC")].startswith("would revise (content differs from")
    assert notes[("2025-11-28", "OTC")].startswith("unchanged (same sha256 as")


def test_dry_run_of_a_first_run(two_weeks):
    report = run(mode=Mode.DRY_RUN)
    assert {r.note.split(" (")[0] for r in report.rows} == {"would ingest"}
    assert WorkItem.objects.count() == 0 and SchedulerRun.objects.count() == 0


def test_only_stage_ingest_then_normalize_then_calcs(two_weeks):
    ingest = run(only_stage=OnlyStage.INGEST)
    assert set(actions(ingest).values()) == {"ingested"} and ingest.exit_code == 0
    assert not WorkItem.objects.exclude(pipeline="ingest_week").exists()
    assert stages_of(WEEKS[0], "OTC") == {"RAW"}

    normalize = run(only_stage=OnlyStage.NORMALIZE)
    assert set(actions(normalize).values()) == {"processed"} and normalize.exit_code == 0
    assert stages_of(WEEKS[0], "OTC") == {"RAW", "NORMALIZED"}
    assert set(WorkItem.objects.values_list("pipeline", flat=True)) == {
        "ingest_week",
        "normalize_week",
    }

    calcs = run(only_stage=OnlyStage.CALCS)
    assert set(actions(calcs).values()) == {"processed"} and calcs.exit_code == 0
    assert stages_of(WEEKS[0], "OTC") == {"RAW", "NORMALIZED", "VENUE_VOLUME", "VENUE_SHARE", "HHI"}
    assert capture_latest(stage=Stage.TIER_SPLIT, week_ending=WEEKS[0], tier="ALL") is not None

    # A later full run re-arms the items with the default params: chaining is back.
    two_weeks("2025-11-28", "OTC", rows=200, revision=1)
    full = run(ALL_DUE + timedelta(days=1))
    assert actions(full)[("2025-11-28", "OTC")] == "revised"
    latest = capture_latest(stage=Stage.RAW, week_ending=WEEKS[0], tier="OTC")
    hhi = capture_latest(stage=Stage.HHI, week_ending=WEEKS[0], tier="OTC")
    assert hhi.capture_id == latest.capture_id


def test_normalize_only_fails_the_partitions_without_raw(two_weeks):
    report = run(only_stage=OnlyStage.NORMALIZE)
    assert set(actions(report).values()) == {"failed"} and report.exit_code == 1
    assert "no RAW capture" in report.rows[0].error


# --- workers and critical failures ----------------------------------------------------------------


def test_with_a_live_worker_it_waits_and_no_worker_taking_the_work_is_critical(two_weeks):
    WorkerHeartbeat.objects.create(worker="host:1", seen_at=ALL_DUE)

    report = run(wait_timeout=0.3)

    assert not report.ran_here
    assert report.exit_code == 2 and report.status == SchedulerRunStatus.CRITICAL
    assert "no worker took the work" in report.message
    recorded = SchedulerRun.objects.get(pk=report.run_id)
    assert recorded.status == "critical" and recorded.exit_code == 2
    assert WorkItem.objects.filter(state=WorkState.PENDING).count() == 6


def test_an_in_process_heartbeat_is_not_a_live_worker(two_weeks):
    WorkerHeartbeat.objects.create(worker="host:1:in-process", seen_at=ALL_DUE)
    report = run()
    assert report.ran_here and report.exit_code == 0


def test_never_run_here_waits_for_workers(two_weeks):
    report = run(run_here=RunHere.NEVER, wait_timeout=0.2)
    assert report.exit_code == 2 and not report.ran_here


def test_an_unreachable_database_is_critical_and_not_recorded():
    with mock.patch.object(
        SchedulerRun.objects, "exists", side_effect=OperationalError("connection refused")
    ):
        report = weekly_schedule_run(options=options())
    assert report.exit_code == 2 and "database unreachable" in report.message
    assert "connection refused" in report.message
    assert SchedulerRun.objects.count() == 0


# --- the command ------------------------------------------------------------------------------


def call(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        call_command("run_finra_weekly_schedule", *args, stdout=out, stderr=err)
    except SystemExit as exc:
        code = int(exc.code)
    return code, out.getvalue(), err.getvalue()


def test_command_prints_the_table_and_exits_0(two_weeks):
    with time_machine.travel(ALL_DUE, tick=False):
        code, out, _ = call("--weeks", "2025-11-28,2025-12-05", "--wait-timeout", "1m", "--verbose")
    assert code == 0
    assert "2025-11-28   NMS_TIER_1  ingested" in out
    assert "running the items in this process" in out
    assert "success (exit 0)" in out


def test_command_refuses_a_monday_with_exit_2_and_records_it():
    code, _, err = call("--weeks", "2025-12-15,2025-12-22,2025-12-29", "--force")
    assert code == 2
    assert "2025-12-15 is a Monday; the week containing it ends Friday 2025-12-19" in err
    run_row = SchedulerRun.objects.get()
    assert run_row.status == "critical" and run_row.exit_code == 2
    assert "2025-12-29 is a Monday" in run_row.message


def test_command_exit_1_on_a_failed_partition(two_weeks, place_file):
    place_file("2025-11-28", "NMS_TIER_1", b"garbage\n")
    with time_machine.travel(ALL_DUE, tick=False):
        code, out, _ = call("--weeks", "2025-11-28", "--tiers", "T1,OTC")
    assert code == 1 and "failed" in out and "partial (exit 1)" in out


def test_command_bad_wait_timeout_is_critical():
    code, _, err = call("--wait-timeout", "soon")
    assert code == 2 and "--wait-timeout" in err


def test_task_runs_the_service_with_the_defaults(two_weeks):
    from finra.tasks import run_weekly_schedule

    # The task tidies the worker's connections; the test's own is inside its transaction.
    with (
        time_machine.travel(ALL_DUE, tick=False),
        mock.patch("finra.tasks.close_old_connections"),
    ):
        result = run_weekly_schedule()
    assert result["run_id"] == SchedulerRun.objects.get().pk
    # The lookback window from 2026-01-12 holds 2025-12-05 (files) and later weeks (none).
    assert result["counts"]["ingested"] == 3


def test_admin_lists_runs_and_shows_the_results(two_weeks, admin_client):
    report = run()
    listing = admin_client.get("/admin/finra/schedulerrun/")
    assert listing.status_code == 200 and b"6 ingested" in listing.content
    detail = admin_client.get(f"/admin/finra/schedulerrun/{report.run_id}/change/")
    assert detail.status_code == 200
    assert b"<td>2025-11-28</td><td>NMS_TIER_1</td><td>ingested</td>" in detail.content
    assert admin_client.get("/admin/finra/schedulerrun/add/").status_code == 403
