"""The backfill service and command: one transaction, counts per reprocess mode, dry runs."""

from __future__ import annotations

import io
from datetime import date, datetime

import pytest
from django.core.management import CommandError, call_command

from tests.pipelines import DOMAIN
from workqueue.backfill import BackfillOutcome, Reprocess, outcome_for, work_items_backfill
from workqueue.exceptions import EnqueueError, UnknownPipeline
from workqueue.models import AuditEvent, WorkItem
from workqueue.states import WorkState

pytestmark = pytest.mark.django_db

# tests.queue/ranged: one partition per 7 days from `from` to `to`, per lane (default x, y).
RANGE = {"start": date(2025, 12, 5), "end": date(2025, 12, 19)}  # 3 weeks x 2 lanes


def backfill(actor, **kwargs):
    kwargs.setdefault("domain", DOMAIN)
    kwargs.setdefault("pipeline", "ranged")
    return work_items_backfill(actor=actor, **kwargs)


def set_state(week: str, lane: str, state: str) -> WorkItem:
    item = WorkItem.objects.get(pipeline="ranged", partition_key={"week": week, "lane": lane})
    WorkItem.objects.filter(pk=item.pk).update(state=state)
    item.refresh_from_db()
    return item


def test_a_range_becomes_its_partitions_in_one_call(actor):
    result = backfill(actor, **RANGE)

    assert result.counts == {
        "created": 6,
        "rearmed": 0,
        "active": 0,
        "complete": 0,
        "refused": 0,
    }
    keys = sorted(
        (i.partition_key["week"], i.partition_key["lane"])
        for i in WorkItem.objects.filter(pipeline="ranged")
    )
    assert keys == [
        (week, lane) for week in ("2025-12-05", "2025-12-12", "2025-12-19") for lane in ("x", "y")
    ]
    assert all(p.item_id for p in result.partitions)


def test_range_options_reach_the_domain(actor):
    result = backfill(actor, options={"lanes": ["y"]}, **RANGE)

    assert result.total == 3
    assert {p.partition_key["lane"] for p in result.partitions} == {"y"}


def test_priority_and_desired_at_apply_to_new_items(actor):
    when = datetime.fromisoformat("2025-12-23T00:00:00+00:00")
    backfill(actor, priority=25, desired_at=when, **RANGE)

    assert set(WorkItem.objects.values_list("priority", "desired_at")) == {(25, when)}


@pytest.fixture
def mixed(actor):
    """Six partitions: COMPLETE, FAILED, CANCELLED, PENDING, RETRY_WAIT and one never queued."""
    backfill(actor, **RANGE)
    WorkItem.objects.get(partition_key={"week": "2025-12-19", "lane": "y"}).delete()
    set_state("2025-12-05", "x", WorkState.COMPLETE)
    set_state("2025-12-05", "y", WorkState.FAILED)
    set_state("2025-12-12", "x", WorkState.CANCELLED)
    set_state("2025-12-19", "x", WorkState.RETRY_WAIT)


@pytest.mark.parametrize(
    ("mode", "counts", "pending_after"),
    [
        ("none", {"created": 1, "rearmed": 0, "active": 2, "complete": 1, "refused": 2}, 2),
        ("failed", {"created": 1, "rearmed": 2, "active": 2, "complete": 1, "refused": 0}, 4),
        ("all", {"created": 1, "rearmed": 3, "active": 2, "complete": 0, "refused": 0}, 5),
    ],
)
def test_each_reprocess_mode(actor, mixed, mode, counts, pending_after):
    result = backfill(actor, reprocess=mode, **RANGE)

    assert result.counts == counts
    assert WorkItem.objects.filter(pipeline="ranged", state=WorkState.PENDING).count() == (
        pending_after
    )
    assert WorkItem.objects.filter(pipeline="ranged").count() == 6


def test_reprocess_all_forces_the_complete_items_it_rearms(actor, mixed):
    backfill(actor, reprocess="all", **RANGE)

    complete = WorkItem.objects.get(partition_key={"week": "2025-12-05", "lane": "x"})
    failed = WorkItem.objects.get(partition_key={"week": "2025-12-05", "lane": "y"})
    assert complete.state == WorkState.PENDING
    assert complete.params == {"force": True}
    assert failed.params == {}


def test_reprocess_all_without_force_rearms_complete_items_as_they_were(actor, mixed):
    backfill(actor, reprocess="all", force=False, **RANGE)

    complete = WorkItem.objects.get(partition_key={"week": "2025-12-05", "lane": "x"})
    assert complete.state == WorkState.PENDING
    assert complete.params == {}


def test_refused_and_left_alone_partitions_say_why(actor, mixed):
    result = backfill(actor, reprocess="none", **RANGE)

    by_key = {(p.partition_key["week"], p.partition_key["lane"]): p for p in result.partitions}
    assert by_key[("2025-12-05", "y")].outcome is BackfillOutcome.REFUSED
    assert "reprocess=failed" in by_key[("2025-12-05", "y")].reason
    assert by_key[("2025-12-05", "x")].outcome is BackfillOutcome.COMPLETE
    assert by_key[("2025-12-19", "x")].reason == "already RETRY_WAIT"


def test_dry_run_answers_the_same_and_writes_nothing(actor, mixed):
    before = list(WorkItem.objects.order_by("id").values_list("id", "state", "params"))
    audit_before = AuditEvent.objects.count()

    dry = backfill(actor, reprocess="all", dry_run=True, **RANGE)

    assert list(WorkItem.objects.order_by("id").values_list("id", "state", "params")) == before
    assert AuditEvent.objects.count() == audit_before
    real = backfill(actor, reprocess="all", **RANGE)
    assert dry.counts == real.counts
    assert [p.outcome for p in dry.partitions] == [p.outcome for p in real.partitions]


def test_one_audit_event_records_the_call(actor):
    before = AuditEvent.objects.count()

    result = backfill(actor, reprocess="failed", priority=25, options={"lanes": ["x"]}, **RANGE)

    assert AuditEvent.objects.count() == before + 1
    event = AuditEvent.objects.get(pk=result.audit_event_id)
    assert event.action == "backfill"
    assert event.actor_name == actor.name
    assert event.details["from"] == "2025-12-05"
    assert event.details["to"] == "2025-12-19"
    assert event.details["options"] == {"lanes": ["x"]}
    assert event.details["reprocess"] == "failed"
    assert event.details["counts"]["created"] == 3


def test_a_list_of_partitions_is_canonicalised_and_deduplicated(actor):
    result = backfill(
        actor,
        partitions=[
            {"week": "2025-12-05", "lane": "x"},
            {"lane": "x", "week": "2025-12-05"},
            {"week": "2025-12-12", "lane": "y"},
        ],
    )

    assert result.total == 2
    assert WorkItem.objects.filter(pipeline="ranged").count() == 2


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"start": date(2025, 12, 19), "end": date(2025, 12, 5)}, "from"),
        ({"start": date(2025, 12, 5)}, "to"),
        ({**RANGE, "options": {"colour": ["red"]}}, "colour"),
        ({**RANGE, "partitions": [{"week": "2025-12-05", "lane": "x"}]}, "partitions"),
        ({"partitions": [{"week": "2025-12-05"}]}, "partitions[0].lane"),
        ({**RANGE, "reprocess": "sometimes"}, "reprocess"),
        ({**RANGE, "desired_at": datetime(2025, 12, 23)}, "desired_at"),
        ({**RANGE, "max_items": 5}, "partitions"),
        ({"pipeline": "flaky", **RANGE}, "from"),  # flaky takes no range
    ],
)
def test_bad_input_is_refused_and_changes_nothing(actor, kwargs, field):
    with pytest.raises(EnqueueError) as excinfo:
        backfill(actor, **kwargs)

    assert field in excinfo.value.fields
    assert WorkItem.objects.count() == 0
    assert AuditEvent.objects.count() == 0


def test_unknown_pipeline_is_refused(actor):
    with pytest.raises(UnknownPipeline):
        backfill(actor, pipeline="nope", **RANGE)


def test_outcome_table():
    assert outcome_for(None, Reprocess.NONE) is BackfillOutcome.CREATED
    assert outcome_for(WorkState.RUNNING, Reprocess.ALL) is BackfillOutcome.ACTIVE
    assert outcome_for(WorkState.COMPLETE, Reprocess.FAILED) is BackfillOutcome.COMPLETE
    assert outcome_for(WorkState.CANCELLED, Reprocess.NONE) is BackfillOutcome.REFUSED
    assert outcome_for(WorkState.CANCELLED, Reprocess.FAILED) is BackfillOutcome.REARMED


# --- the command ---------------------------------------------------------------------------------


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("backfill", DOMAIN, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_command_prints_progress_lines_and_a_summary_under_cron():
    out, err = run("ranged", "--from", "2025-12-05", "--to", "2025-12-19", "--lanes", "x")

    assert "classified 3/3 partitions" in err  # no terminal: plain lines, no bar
    assert "3 partitions, reprocess none" in out
    assert "created" in out and "3 item(s) were enqueued" in out
    assert WorkItem.objects.filter(pipeline="ranged").count() == 3


def test_command_dry_run_and_partition_listing():
    out, _ = run(
        "ranged", "--from", "2025-12-05", "--to", "2025-12-05", "--dry-run", "--show-partitions"
    )

    assert '{"lane":"x","week":"2025-12-05"}' in out
    assert "dry run: nothing written" in out
    assert "2 item(s) would be enqueued" in out
    assert WorkItem.objects.count() == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2025-13-01", "--to", "2025-12-19"], "is not a date"),
        (["--from", "2025-12-19", "--to", "2025-12-05"], "is after to"),
        (["--from", "2025-12-05"], "to is missing"),
        (["--partition", "[1]"], "must be a JSON object"),
        (["--from", "2025-12-05", "--to", "2025-12-19", "--desired-at", "soon"], "ISO 8601"),
    ],
)
def test_command_bad_input_exits_1_with_a_message(args, message):
    with pytest.raises(CommandError, match=message):
        run("ranged", *args)
    assert WorkItem.objects.count() == 0
