"""A stopping cluster: drains claim nothing new, hand back what they had not started and queue
no further drain; a starting cluster drains at once. Real clusters under SIGTERM are in
test_shutdown_cluster.py; here the stop is requested in-process, as the SIGTERM handler does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django_q.models import OrmQ

from tests.factories import claim_one, enqueue
from workqueue.dispatch import cluster_started, request_drain
from workqueue.leases import reap_expired_leases
from workqueue.models import DispatchSignal, Execution, WorkItem
from workqueue.runner import drain, release_claims
from workqueue.shutdown import clear_stop, request_stop
from workqueue.states import WorkState

pytestmark = pytest.mark.django_db

MONDAY = datetime(2025, 12, 22, 10, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_stop_flag() -> Iterator[None]:
    clear_stop()
    yield
    clear_stop()


def queued_tasks() -> list[str]:
    return sorted(task.func() for task in OrmQ.objects.all())


def test_a_stop_mid_batch_finishes_the_running_item_and_hands_back_the_rest():
    first = enqueue(pipeline="produce_first", week="first", priority=300)
    stopper = enqueue(pipeline="stops_cluster", week="stopper", priority=200)
    rest = [enqueue(pipeline="produce_first", week=f"rest-{n}") for n in range(3)]

    # Batch one is `first`; batch two (four items) is the stopper and the rest, which the
    # stop, arriving while the stopper runs, leaves unstarted.
    summary = drain(time_budget=60)

    assert (summary.stopped_by, summary.claimed, summary.released) == ("shutdown", 2, 3)
    assert WorkItem.objects.get(pk=first.pk).state == WorkState.COMPLETE
    assert WorkItem.objects.get(pk=stopper.pk).state == WorkState.COMPLETE
    for item in rest:
        item.refresh_from_db()
        assert (item.state, item.attempt_count) == (WorkState.PENDING, 0)
        assert (item.locked_by, item.locked_at, item.current_execution_id) == (None, None, None)
        assert not item.executions.exists()  # the claim was no attempt

    clear_stop()  # the cluster restarts
    drain(time_budget=60)
    for item in rest:
        item.refresh_from_db()
        assert (item.state, item.attempt_count) == (WorkState.COMPLETE, 1)
        assert list(item.executions.values_list("attempt", "outcome")) == [(1, "SUCCESS")]


def test_a_drain_fetched_before_the_stop_claims_nothing():
    item = enqueue(pipeline="produce_first")
    assert request_drain() is True
    request_stop()

    summary = drain(time_budget=60)

    assert (summary.stopped_by, summary.claimed) == ("shutdown", 0)
    item.refresh_from_db()
    assert (item.state, item.attempt_count) == (WorkState.PENDING, 0)
    assert not Execution.objects.exists()
    # That drain was the one waiting: the next enqueue (on a live cluster) must queue another.
    assert DispatchSignal.objects.get(pk=1).drain_queued is False


def test_a_stopping_process_queues_no_drain():
    request_stop()

    assert request_drain() is False

    assert queued_tasks() == []
    assert not DispatchSignal.objects.filter(drain_queued=True).exists()


def test_a_handed_back_retry_keeps_its_spent_attempts_and_history():
    with time_machine.travel(MONDAY, tick=False) as clock:
        item = enqueue(pipeline="flaky", params={"succeed_on": 2})
        drain(time_budget=60)  # attempt 1 fails
        first_attempt = item.executions.get()
        clock.shift(timedelta(minutes=6))
        claimed = claim_one()  # attempt 2 claimed, then the cluster stops before it starts

        assert release_claims([claimed]) == 1

        item.refresh_from_db()
        assert (item.state, item.attempt_count) == (WorkState.PENDING, 1)
        assert item.current_execution_id == first_attempt.pk
        assert "HTTP 503" in item.last_error
        assert list(item.executions.values_list("attempt", "outcome")) == [(1, "FAILED")]
        drain(time_budget=60)
        item.refresh_from_db()
    assert (item.state, item.attempt_count) == (WorkState.COMPLETE, 2)
    assert list(item.executions.order_by("attempt").values_list("attempt", "outcome")) == [
        (1, "FAILED"),
        (2, "SUCCESS"),
    ]


def test_an_item_reaped_meanwhile_is_not_handed_back():
    with time_machine.travel(MONDAY, tick=False) as clock:
        item = enqueue(pipeline="produce_first")
        claimed = claim_one(worker_id="slow:1")
        clock.shift(timedelta(seconds=61))
        assert reap_expired_leases() == [item.pk]

        assert release_claims([claimed]) == 0

    item.refresh_from_db()
    assert (item.state, item.attempt_count) == (WorkState.RETRY_WAIT, 1)
    assert list(item.executions.values_list("outcome", flat=True)) == ["LEASE_EXPIRED"]


def test_a_starting_cluster_reaps_and_drains_at_once_even_if_a_drain_seems_queued():
    # A drain queued by a cluster that then crashed left the flag set and its task lost.
    DispatchSignal.objects.update_or_create(pk=1, defaults={"drain_queued": True})

    cluster_started()

    assert queued_tasks() == ["workqueue.tasks.drain_queue", "workqueue.tasks.reap_expired_leases"]
    assert DispatchSignal.objects.get(pk=1).drain_queued is True


def test_a_drain_past_its_budget_hands_over_to_a_fresh_drain():
    items = [enqueue(pipeline="produce_first", week=f"w{n}") for n in range(3)]

    summary = drain(time_budget=0)

    assert (summary.stopped_by, summary.claimed) == ("time budget", 0)
    assert queued_tasks() == ["workqueue.tasks.drain_queue"]
    pending = WorkItem.objects.filter(pk__in=[i.pk for i in items], state=WorkState.PENDING)
    assert pending.count() == 3


def test_a_drain_that_cannot_hand_over_carries_on_itself(monkeypatch):
    def broker_down() -> bool:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr("workqueue.runner.request_drain", broker_down)
    for n in range(3):
        enqueue(pipeline="produce_first", week=f"w{n}")

    summary = drain(time_budget=0)

    assert summary.claimed == 3  # not 0, as when a fresh drain could take over
    assert WorkItem.objects.filter(state=WorkState.COMPLETE).count() == 3
