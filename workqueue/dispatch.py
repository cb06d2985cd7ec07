"""Waking workers: ask django-q2 for one drain task, debounced through one row."""

from __future__ import annotations

from django.utils import timezone

from workqueue.models import DispatchSignal

DRAIN_TASK = "workqueue.tasks.drain_queue"


def request_drain() -> bool:
    """Ask django-q2 for a drain task unless one is already waiting. Returns True if queued.

    Debounced through one row: ``drain_queued`` flips false -> true here with a conditional
    UPDATE, and a starting drain flips it back before it claims. So an enqueue that finds the
    flag already set knows a drain will claim after its commit, and thousands of enqueues per
    second queue a single task.
    """
    from django_q.tasks import async_task

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
        async_task(DRAIN_TASK, task_name="workqueue drain", save=False)
    except Exception:
        DispatchSignal.objects.filter(pk=1).update(drain_queued=False)
        raise
    return True


def drain_started() -> None:
    """A drain is about to claim: the next enqueue must queue a new drain task."""
    DispatchSignal.objects.filter(pk=1).update(drain_queued=False)
