"""Running due work items in the calling process, for callers that cannot count on a worker.

``manage.py run_queue`` and a domain's own commands (the FINRA weekly scheduler when no
django-q2 worker is alive) use this instead of reaching into the runner and the reaper.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from workqueue.leases import reap_expired_leases
from workqueue.models import WorkerHeartbeat
from workqueue.runner import drain, worker_identity

#: Heartbeats of in-process runs end with this: they stop when their caller's work is done, so
#: they are never the live worker another caller may count on.
IN_PROCESS_SUFFIX = ":in-process"


def run_due_items_here(*, time_budget: float) -> int:
    """Recover expired leases, then claim and run due items here for up to ``time_budget``
    seconds (the items they enqueue included); returns how many items ran."""
    reap_expired_leases()
    worker_id = worker_identity() + IN_PROCESS_SUFFIX
    return drain(worker_id=worker_id, time_budget=max(0.1, time_budget)).claimed


def worker_alive() -> bool:
    """Whether a worker (not an in-process run) beat within ``HEALTH_MAX_WORKER_AGE_SECONDS``,
    the health check's rule."""
    since = timezone.now() - timedelta(seconds=settings.HEALTH_MAX_WORKER_AGE_SECONDS)
    return (
        WorkerHeartbeat.objects.filter(seen_at__gte=since)
        .exclude(worker__endswith=IN_PROCESS_SUFFIX)
        .exists()
    )
