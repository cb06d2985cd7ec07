from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import override_settings
from django.utils import timezone
from django_q.models import OrmQ

from tests.factories import claim_one, enqueue
from workqueue.dispatch import request_drain
from workqueue.leases import LeaseKeeper, reap_expired_leases
from workqueue.manifest import manifest_record
from workqueue.models import DispatchSignal, Execution, WorkItem
from workqueue.runner import claim_batch, drain
from workqueue.states import WorkState

pytestmark = pytest.mark.django_db

MONDAY = datetime(2025, 12, 22, 10, 30, tzinfo=UTC)


def test_a_claimed_item_is_running_with_a_lease_and_an_execution():
    item = enqueue(pipeline="produce_first")
    claimed = claim_one(worker_id="host-a:42")
    assert claimed.pk == item.pk
    item.refresh_from_db()
    execution = Execution.objects.get(work_item=item)
    assert item.state == WorkState.RUNNING
    assert (item.locked_by, item.attempt_count) == ("host-a:42", 1)
    assert item.locked_at is not None and item.current_execution_id == execution.pk
    assert (execution.attempt, execution.worker, execution.outcome) == (1, "host-a:42", "RUNNING")
    assert claim_batch(worker_id="host-b:1", limit=10) == []  # never handed out twice


def test_success_completes_the_item_and_records_the_execution():
    item = enqueue(pipeline="produce_first", params={"rows": 7})
    summary = drain(time_budget=5)
    item.refresh_from_db()
    execution = item.executions.get()
    assert summary.completed == 1
    assert item.state == WorkState.COMPLETE and item.completed_at is not None
    assert (item.locked_by, item.locked_at) == (None, None)
    assert (execution.outcome, execution.rows_written, execution.capture_id) == (
        "SUCCESS",
        7,
        "cap:2025-12-12",
    )
    assert execution.finished_at is not None and execution.duration_seconds >= 0


def test_claim_order_is_priority_then_desired_at_then_id():
    early = MONDAY - timedelta(hours=2)
    with time_machine.travel(MONDAY, tick=False):
        low = enqueue(week="low", priority=25, desired_at=early)
        high_late = enqueue(week="high-late", priority=200, desired_at=MONDAY)
        high_early = enqueue(week="high-early", priority=200, desired_at=early)
        normal_a = enqueue(week="normal-a", desired_at=early)
        normal_b = enqueue(week="normal-b", desired_at=early)
        future = enqueue(week="future", priority=999, desired_at=MONDAY + timedelta(minutes=1))
        order = [i.pk for i in claim_batch(worker_id="w", limit=10)]
    assert order == [high_early.pk, high_late.pk, normal_a.pk, normal_b.pk, low.pk]
    assert WorkItem.objects.get(pk=future.pk).state == WorkState.PENDING


def test_three_failures_with_backoff_end_in_failed_with_the_error_kept():
    with time_machine.travel(MONDAY, tick=False) as clock:
        item = enqueue()
        drain(time_budget=5)
        item.refresh_from_db()
        assert (item.state, item.attempt_count) == (WorkState.RETRY_WAIT, 1)
        assert item.next_attempt_at == MONDAY + timedelta(minutes=5)
        assert "attempt 1" in item.last_error

        clock.shift(timedelta(minutes=4, seconds=59))
        assert drain(time_budget=5).claimed == 0  # not before its time
        clock.shift(timedelta(seconds=1))
        drain(time_budget=5)
        item.refresh_from_db()
        assert (item.state, item.attempt_count) == (WorkState.RETRY_WAIT, 2)
        assert item.next_attempt_at == MONDAY + timedelta(minutes=5 + 15)

        clock.shift(timedelta(minutes=15))
        drain(time_budget=5)
        item.refresh_from_db()
    assert (item.state, item.attempt_count, item.next_attempt_at) == (WorkState.FAILED, 3, None)
    assert item.last_error == "RuntimeError: HTTP 503: upstream unavailable (attempt 3)"
    assert item.last_error_at == MONDAY + timedelta(minutes=20)
    outcomes = list(item.executions.order_by("attempt").values_list("attempt", "outcome"))
    assert outcomes == [(1, "FAILED"), (2, "FAILED"), (3, "FAILED")]
    assert "Traceback" in item.executions.last().traceback


@override_settings(
    WORKQUEUE_RETRY_BASE_SECONDS=10, WORKQUEUE_RETRY_FACTOR=2, WORKQUEUE_RETRY_MAX_SECONDS=15
)
def test_backoff_base_factor_and_cap_come_from_settings_and_max_attempts_per_item():
    with time_machine.travel(MONDAY, tick=False) as clock:
        item = enqueue(max_attempts=4)
        expected_delays = [10, 15, 15]  # 10, 20 capped at 15, 40 capped at 15
        for delay in expected_delays:
            drain(time_budget=5)
            item.refresh_from_db()
            assert item.next_attempt_at == timezone.now() + timedelta(seconds=delay)
            clock.shift(timedelta(seconds=delay))
        drain(time_budget=5)
        item.refresh_from_db()
    assert (item.state, item.attempt_count) == (WorkState.FAILED, 4)


def test_a_retry_that_succeeds_completes():
    with time_machine.travel(MONDAY, tick=False) as clock:
        item = enqueue(params={"succeed_on": 2})
        drain(time_budget=5)
        clock.shift(timedelta(minutes=5))
        drain(time_budget=5)
        item.refresh_from_db()
    assert (item.state, item.attempt_count, item.last_error) == (WorkState.COMPLETE, 2, None)


def test_non_retryable_error_fails_at_once():
    item = enqueue(pipeline="broken")
    drain(time_budget=5)
    item.refresh_from_db()
    assert (item.state, item.attempt_count) == (WorkState.FAILED, 1)
    assert item.last_error == "NonRetryableError: file is not UTF-8"


def test_skipped_run_completes_and_is_recorded_as_skipped():
    item = enqueue(pipeline="skipper")
    drain(time_budget=5)
    execution = Execution.objects.get(work_item=item)
    assert execution.outcome == "SKIPPED"
    assert execution.details == {"message": "same content as the latest capture"}
    assert WorkItem.objects.get(pk=item.pk).state == WorkState.COMPLETE


def test_dependency_not_ready_waits_without_spending_attempts():
    with time_machine.travel(MONDAY, tick=False) as clock:
        item = enqueue(pipeline="needs_first")
        for _ in range(5):  # more waits than max_attempts: none of them counts
            drain(time_budget=5)
            item.refresh_from_db()
            assert (item.state, item.attempt_count) == (WorkState.RETRY_WAIT, 0)
            assert (
                item.waiting_for == 'waiting for stage FIRST of tests.queue {"week":"2025-12-12"}'
            )
            assert item.last_error.startswith("dependency not ready: waiting for stage FIRST")
            assert item.next_attempt_at == timezone.now() + timedelta(seconds=60)
            clock.shift(timedelta(seconds=60))

        manifest_record(
            domain="tests.queue", partition_key={"week": "2025-12-12"}, stage="FIRST", row_count=3
        )
        drain(time_budget=5)
        item.refresh_from_db()
    assert (item.state, item.attempt_count, item.waiting_for) == (WorkState.COMPLETE, 1, "")
    outcomes = list(item.executions.values_list("outcome", flat=True).order_by("id"))
    assert outcomes == ["DEPENDENCY_WAIT"] * 5 + ["SUCCESS"]


@override_settings(WORKQUEUE_DEPENDENCY_WAIT_LIMIT_SECONDS=3600)
def test_dependency_wait_has_a_limit_then_fails():
    with time_machine.travel(MONDAY, tick=False) as clock:
        item = enqueue(pipeline="needs_first")
        drain(time_budget=5)
        clock.shift(timedelta(minutes=61))
        drain(time_budget=5)
        item.refresh_from_db()
    assert item.state == WorkState.FAILED
    assert item.last_error.startswith("dependency not ready after waiting 1 h: waiting for stage")


def test_unregistered_pipeline_in_the_queue_fails_with_a_clear_message():
    item = enqueue()
    WorkItem.objects.filter(pk=item.pk).update(pipeline="retired_pipeline")
    drain(time_budget=5)
    item.refresh_from_db()
    assert item.state == WorkState.FAILED
    assert "unknown pipeline 'retired_pipeline'" in item.last_error


def test_reaper_recovers_an_item_whose_lease_expired():
    with time_machine.travel(MONDAY, tick=False) as clock:
        item = enqueue(pipeline="produce_first")
        claim_one(worker_id="dead-host:7")
        clock.shift(timedelta(seconds=59))
        assert reap_expired_leases() == []  # still within its one-minute lease (the default)
        clock.shift(timedelta(seconds=2))
        assert reap_expired_leases() == [item.pk]
        item.refresh_from_db()
        assert (item.state, item.attempt_count, item.locked_by) == (WorkState.RETRY_WAIT, 1, None)
        assert "lease expired: worker dead-host:7" in item.last_error
        assert item.executions.get().outcome == "LEASE_EXPIRED"

        clock.shift(timedelta(minutes=5))
        drain(time_budget=5)
        item.refresh_from_db()
    assert (item.state, item.attempt_count) == (WorkState.COMPLETE, 2)


def test_heartbeat_keeps_a_long_run_from_being_reaped():
    with time_machine.travel(MONDAY, tick=False) as clock:
        item = enqueue(pipeline="produce_first")
        claimed = claim_one(worker_id="busy-host:1")
        keeper = LeaseKeeper("busy-host:1", interval=3600)
        keeper.hold([claimed.current_execution_id])
        for _ in range(40):  # ten minutes of work, beating every 15 seconds (the default)
            clock.shift(timedelta(seconds=15))
            assert keeper.beat() == 1
            assert reap_expired_leases() == []
        keeper.release([claimed.current_execution_id])
        clock.shift(timedelta(seconds=61))
        assert keeper.beat() == 0
        assert reap_expired_leases() == [item.pk]


def test_a_reaped_item_is_not_completed_by_its_late_worker():
    from workqueue.outcomes import Success as _Success
    from workqueue.outcomes import complete_batch as _complete
    from workqueue.pipelines import PipelineResult

    with time_machine.travel(MONDAY, tick=False) as clock:
        enqueue(pipeline="produce_first")
        late = claim_one(worker_id="slow:1")
        clock.shift(timedelta(seconds=61))
        reap_expired_leases()
        clock.shift(timedelta(minutes=5))
        fresh = claim_one(worker_id="fast:2")
        assert _complete([_Success(item=late, result=PipelineResult(), duration=1.0)]) == 0
        fresh.refresh_from_db()
        assert fresh.state == WorkState.RUNNING and fresh.locked_by == "fast:2"


def test_exhausted_attempts_after_lease_expiry_end_failed():
    with time_machine.travel(MONDAY, tick=False) as clock:
        item = enqueue(pipeline="produce_first", max_attempts=1)
        claim_one()
        clock.shift(timedelta(seconds=61))
        reap_expired_leases()
        item.refresh_from_db()
    assert (item.state, item.attempt_count) == (WorkState.FAILED, 1)


def test_drain_requests_are_debounced_to_one_queued_task():
    assert request_drain() is True
    assert request_drain() is False
    assert OrmQ.objects.count() == 1
    assert DispatchSignal.objects.get(pk=1).drain_queued is True
    drain(time_budget=1)  # a starting drain clears the flag before it claims
    assert DispatchSignal.objects.get(pk=1).drain_queued is False
    assert request_drain() is True
    assert OrmQ.objects.count() == 2


def test_drain_works_through_a_backlog_in_growing_batches():
    from workqueue.services import Actor, EnqueueRequest, work_items_enqueue

    work_items_enqueue(
        requests=[
            EnqueueRequest(domain="workqueue.diagnostics", pipeline="noop", partition_key={"n": n})
            for n in range(300)
        ],
        actor=Actor.cli(),
    )
    summary = drain(time_budget=60)
    assert (summary.claimed, summary.completed) == (300, 300)
    assert summary.batches < 300 / 4
    assert WorkItem.objects.filter(state=WorkState.COMPLETE).count() == 300
    assert Execution.objects.filter(outcome="SUCCESS").count() == 300
