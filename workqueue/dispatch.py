"""Waking workers: ask django-q2 for one drain task, debounced through one row."""

from __future__ import annotations

import logging

from django.utils import timezone

from workqueue.models import DispatchSignal
from workqueue.shutdown import stop_requested

logger = logging.getLogger(__name__)

DRAIN_TASK = "workqueue.tasks.drain_queue"
REAP_TASK = "workqueue.tasks.reap_expired_leases"


def request_drain() -> bool:
    """Ask django-q2 for a drain task unless one is already waiting. Returns True if queued.

    Debounced through one row: ``drain_queued`` flips false -> true here with a conditional
    UPDATE, and a starting drain flips it back before it claims. So an enqueue that finds the
    flag already set knows a drain will claim after its commit, and thousands of enqueues per
    second queue a single task.

    A process of a stopping cluster queues nothing: the drain would only wait in the broker
    for the next cluster to start (which drains at once anyway, see :func:`cluster_started`).
    """
    if stop_requested():
        return False
    now = timezone.now()
    flipped = DispatchSignal.objects.filter(pk=1, drain_queued=False).update(
        drain_queued=True, requested_at=now
    )
    if not flipped:
        _, created = DispatchSignal.objects.get_or_create(
            pk=1, defaults={"drain_queued": True, "requested_at": now}
        )
        if not created:
            return False
    try:
        _queue(DRAIN_TASK, "workqueue drain")
    except Exception:
        DispatchSignal.objects.filter(pk=1).update(drain_queued=False)
        raise
    return True


def drain_started() -> None:
    """A drain is about to claim: the next enqueue must queue a new drain task."""
    DispatchSignal.objects.filter(pk=1).update(drain_queued=False)


def cluster_started() -> None:
    """A cluster just started: recover expired leases and drain due work now, not at the
    next run of the one-minute schedules.

    The drain is queued whatever the debounce flag says, since a flag left set by a drain task
    lost with a crashed cluster would otherwise hold back every enqueue's drain until the
    schedule ran one.
    """
    DispatchSignal.objects.update_or_create(
        pk=1, defaults={"drain_queued": True, "requested_at": timezone.now()}
    )
    _queue(REAP_TASK, "workqueue reap at start-up")
    _queue(DRAIN_TASK, "workqueue drain at start-up")


def _queue(func: str, task_name: str) -> None:
    from django_q.tasks import async_task

    async_task(func, task_name=task_name, save=False)
