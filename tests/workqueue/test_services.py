from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import User
from django.db import connection

from tests.factories import claim_one, enqueue
from workqueue.exceptions import InvalidPartitionKey, UnknownPipeline, WorkItemNotFound
from workqueue.manifest import manifest_has_stage, manifest_record
from workqueue.models import AuditEvent, AuditSource, Execution, ManifestEntry, WorkItem
from workqueue.runner import drain
from workqueue.services import (
    Actor,
    EnqueueRequest,
    EnqueueStatus,
    work_item_cancel,
    work_item_enqueue,
    work_item_retry,
    work_items_enqueue,
    work_items_retry_failed,
)
from workqueue.states import IllegalTransition, WorkState

pytestmark = pytest.mark.django_db


def test_enqueue_creates_pending_item_with_defaults(actor):
    result = work_item_enqueue(
        domain="tests.queue", pipeline="flaky", partition_key={"week": "2025-12-12"}, actor=actor
    )
    item = WorkItem.objects.get(pk=result.item.pk)
    assert result.status is EnqueueStatus.CREATED and result.created
    assert item.state == WorkState.PENDING
    assert (item.priority, item.max_attempts, item.attempt_count) == (100, 3, 0)
    assert item.partition_key == {"week": "2025-12-12"}


def test_reordered_keys_are_one_item():
    from workqueue.pipelines import Pipeline, registry

    registry.register(
        Pipeline(
            domain="tests.queue",
            name="two_keys",
            handler=lambda context: None,
            partition_keys=("week_ending", "tier"),
        )
    )
    try:
        one = work_item_enqueue(
            domain="tests.queue",
            pipeline="two_keys",
            partition_key={"tier": "OTC", "week_ending": "2025-12-12"},
            actor=Actor.cli(),
        )
        two = work_item_enqueue(
            domain="tests.queue",
            pipeline="two_keys",
            partition_key={"week_ending": "2025-12-12", "tier": "OTC"},
            actor=Actor.cli(),
        )
    finally:
        registry.unregister("tests.queue", "two_keys")
    assert one.created and not two.created
    assert one.item.pk == two.item.pk
    assert WorkItem.objects.filter(pipeline="two_keys").count() == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT partition_key FROM core_work_items WHERE id = %s", [one.item.pk])
        assert cursor.fetchone()[0] == '{"tier":"OTC","week_ending":"2025-12-12"}'


def test_enqueue_of_an_active_item_returns_it_unchanged():
    item = enqueue(params={"succeed_on": 1}, priority=10)
    again = work_item_enqueue(
        domain="tests.queue",
        pipeline="flaky",
        partition_key={"week": "2025-12-12"},
        params={"succeed_on": 2},
        priority=99,
        actor=Actor.cli(),
    )
    assert again.status is EnqueueStatus.EXISTING and not again.created
    item.refresh_from_db()
    assert (item.params, item.priority) == ({"succeed_on": 1}, 10)


def test_finished_item_is_rearmed_only_when_reprocess_is_asked():
    item = enqueue(pipeline="produce_first")
    drain(time_budget=5)
    item.refresh_from_db()
    assert item.state == WorkState.COMPLETE

    kept = work_item_enqueue(
        domain="tests.queue",
        pipeline="produce_first",
        partition_key={"week": "2025-12-12"},
        actor=Actor.cli(),
    )
    assert kept.status is EnqueueStatus.FINISHED
    assert WorkItem.objects.get(pk=item.pk).state == WorkState.COMPLETE

    rearmed = work_item_enqueue(
        domain="tests.queue",
        pipeline="produce_first",
        partition_key={"week": "2025-12-12"},
        params={"rows": 20},
        reprocess=True,
        actor=Actor.cli(),
    )
    item.refresh_from_db()
    assert rearmed.status is EnqueueStatus.REARMED
    assert (item.state, item.attempt_count, item.params) == (WorkState.PENDING, 0, {"rows": 20})
    assert item.executions.count() == 1  # history kept


def test_unknown_pipeline_and_domain_are_refused_with_a_message_naming_them(actor):
    with pytest.raises(UnknownPipeline, match=r"unknown pipeline 'nope'.*known pipelines: broken"):
        work_item_enqueue(domain="tests.queue", pipeline="nope", partition_key={}, actor=actor)
    with pytest.raises(UnknownPipeline, match=r"unknown domain 'finra\.otc'"):
        work_item_enqueue(domain="finra.otc", pipeline="x", partition_key={}, actor=actor)
    assert WorkItem.objects.count() == 0


def test_partition_key_problems_name_the_field(actor):
    with pytest.raises(InvalidPartitionKey) as info:
        work_item_enqueue(
            domain="tests.queue", pipeline="flaky", partition_key={"wek": "x"}, actor=actor
        )
    assert info.value.fields == {
        "partition_key.week": "required",
        "partition_key.wek": "unknown key",
    }
    assert "missing week" in str(info.value) and "unknown wek" in str(info.value)


def test_bulk_enqueue_is_all_or_nothing_and_reports_each_item(actor):
    good = EnqueueRequest(domain="tests.queue", pipeline="flaky", partition_key={"week": "a"})
    bad = EnqueueRequest(domain="tests.queue", pipeline="flaky", partition_key={"day": "b"})
    with pytest.raises(InvalidPartitionKey) as info:
        work_items_enqueue(requests=[good, bad], actor=actor)
    assert "[1].partition_key.week" in info.value.fields
    assert WorkItem.objects.count() == 0

    results = work_items_enqueue(
        requests=[
            good,
            EnqueueRequest(domain="tests.queue", pipeline="flaky", partition_key={"week": "b"}),
            good,
        ],
        actor=actor,
    )
    assert [r.status for r in results] == [EnqueueStatus.CREATED] * 3
    assert results[0].item.pk == results[2].item.pk
    assert WorkItem.objects.count() == 2


def test_naive_desired_at_is_refused(actor):
    with pytest.raises(Exception, match="time zone"):
        work_item_enqueue(
            domain="tests.queue",
            pipeline="flaky",
            partition_key={"week": "a"},
            desired_at=datetime(2025, 12, 23, 10, 30),
            actor=actor,
        )


def _failed_item(week: str = "2025-12-12") -> WorkItem:
    item = enqueue(week=week, max_attempts=1)
    drain(time_budget=5)
    item.refresh_from_db()
    assert item.state == WorkState.FAILED
    return item


def test_retry_rearms_a_failed_item_and_keeps_history(actor):
    item = _failed_item()
    assert item.last_error.startswith("RuntimeError: HTTP 503")

    work_item_retry(item_id=item.pk, actor=actor)
    item.refresh_from_db()
    assert item.state == WorkState.PENDING
    assert (item.attempt_count, item.last_error, item.last_error_at) == (0, None, None)
    assert Execution.objects.filter(work_item=item, outcome="FAILED").count() == 1


def test_retry_refuses_items_that_are_not_failed_or_cancelled(actor):
    item = enqueue()
    with pytest.raises(IllegalTransition, match="it is PENDING, and only CANCELLED or FAILED"):
        work_item_retry(item_id=item.pk, actor=actor)
    with pytest.raises(WorkItemNotFound):
        work_item_retry(item_id=987654, actor=actor)


def test_retry_all_failed_items_of_a_domain_and_pipeline(actor):
    failed = [_failed_item("w1"), _failed_item("w2")]
    other = enqueue(pipeline="produce_first", week="w3")
    rearmed = work_items_retry_failed(domain="tests.queue", pipeline="flaky", actor=actor)
    assert sorted(i.pk for i in rearmed) == sorted(i.pk for i in failed)
    assert WorkItem.objects.filter(state=WorkState.PENDING).count() == 3
    assert other.pk not in {i.pk for i in rearmed}
    assert work_items_retry_failed(domain="tests.queue", actor=actor) == []


def test_cancel_pending_and_retry_wait_but_refuse_running_and_finished(actor):
    pending = enqueue(week="p")
    assert work_item_cancel(item_id=pending.pk, actor=actor).state == WorkState.CANCELLED

    waiting = enqueue(week="w")
    drain(time_budget=5)  # fails once, waits to retry
    waiting.refresh_from_db()
    assert waiting.state == WorkState.RETRY_WAIT
    assert work_item_cancel(item_id=waiting.pk, actor=actor).state == WorkState.CANCELLED

    running = enqueue(week="r")
    claim_one()
    with pytest.raises(IllegalTransition, match=r"cannot cancel work item .*it is RUNNING"):
        work_item_cancel(item_id=running.pk, actor=actor)
    assert WorkItem.objects.get(pk=running.pk).state == WorkState.RUNNING

    with pytest.raises(IllegalTransition, match="it is CANCELLED"):
        work_item_cancel(item_id=pending.pk, actor=actor)


def test_cancelled_item_can_be_retried(actor):
    item = enqueue()
    work_item_cancel(item_id=item.pk, actor=actor)
    assert work_item_retry(item_id=item.pk, actor=actor).state == WorkState.PENDING


def test_actions_write_audit_events_with_who_and_where():
    user = User.objects.create_user("dana")
    api_actor = Actor.for_user(user, source=AuditSource.API, client_address="10.1.2.3")
    item = work_item_enqueue(
        domain="tests.queue", pipeline="flaky", partition_key={"week": "a"}, actor=api_actor
    ).item
    work_item_cancel(item_id=item.pk, actor=api_actor)
    work_item_retry(item_id=item.pk, actor=Actor.cli())
    events = list(AuditEvent.objects.filter(work_item=item).order_by("id"))
    assert [e.action for e in events] == ["enqueue", "cancel", "retry"]
    assert (events[0].actor, events[0].actor_name, events[0].source) == (user, "dana", "api")
    assert events[0].client_address == "10.1.2.3"
    assert events[1].details == {"previous": {"state": "PENDING"}}
    assert events[2].source == "cli" and events[2].actor is None


def test_audit_log_is_append_only():
    enqueue()
    event = AuditEvent.objects.get()
    event.action = "tampered"
    with pytest.raises(TypeError, match="append-only"):
        event.save()
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.all().delete()
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.update(action="x")
    assert AuditEvent.objects.get().action == "enqueue"


def test_manifest_records_the_latest_capture_per_stage():
    key = {"week": "2025-12-12"}
    assert not manifest_has_stage(domain="tests.queue", partition_key=key, stage="FIRST")
    manifest_record(
        domain="tests.queue", partition_key=key, stage="FIRST", row_count=10, capture_id="c1"
    )
    manifest_record(
        domain="tests.queue", partition_key=key, stage="FIRST", row_count=12, capture_id="c2"
    )
    entry = ManifestEntry.objects.get()
    assert (entry.row_count, entry.capture_id, entry.stage_rank) == (12, "c2", 1)
    assert manifest_has_stage(domain="tests.queue", partition_key=key, stage="FIRST")
    with pytest.raises(ValueError, match="unknown stage 'THIRD'"):
        manifest_record(domain="tests.queue", partition_key=key, stage="THIRD", row_count=1)


def test_desired_at_in_the_future_is_kept(actor):
    when = datetime(2030, 1, 1, 10, 30, tzinfo=UTC)
    item = enqueue(desired_at=when)
    assert WorkItem.objects.get(pk=item.pk).desired_at == when
