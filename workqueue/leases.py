"""Leases on RUNNING items: the heartbeat that keeps a live run's lease fresh, and the reaper
that recovers the items of a worker that stopped beating."""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from workqueue.models import ExecutionOutcome, WorkerHeartbeat, WorkItem
from workqueue.outcomes import record_failure

logger = logging.getLogger(__name__)


class LeaseKeeper:
    """Renews the lease of the items a worker holds, from a background thread.

    A live long run is never reaped: every ``WORKQUEUE_HEARTBEAT_SECONDS`` the thread sets
    ``locked_at = now`` on the RUNNING items whose current execution is held here, on its own
    database connection, so a pipeline holding a long SQL statement keeps its lease. A
    SIGKILLed worker stops beating, and its items expire after ``WORKQUEUE_LEASE_SECONDS``.
    """

    def __init__(self, worker_id: str, interval: float | None = None) -> None:
        self.worker_id = worker_id
        self.interval = interval or settings.WORKQUEUE_HEARTBEAT_SECONDS
        self._held: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def hold(self, execution_ids: list[int]) -> None:
        with self._lock:
            self._held.update(execution_ids)

    def release(self, execution_ids: list[int]) -> None:
        with self._lock:
            self._held.difference_update(execution_ids)

    def beat(self) -> int:
        with self._lock:
            held = list(self._held)
        now = timezone.now()
        renewed = 0
        if held:
            renewed = WorkItem.objects.renew_leases(execution_ids=held, now=now)
        WorkerHeartbeat.objects.update_or_create(worker=self.worker_id, defaults={"seen_at": now})
        return renewed

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    self.beat()
                except Exception:  # a failed beat must not kill the worker; the next may work
                    logger.exception("lease heartbeat failed for %s", self.worker_id)
                    # After a database restart this thread's connection is dead for good:
                    # drop it, so the next beat connects afresh instead of failing again.
                    connections.close_all()
        finally:
            connections.close_all()


def reap_expired_leases(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Return RUNNING items whose lease expired to the retry path (or FAILED when exhausted)."""
    now = now or timezone.now()
    reaped: list[int] = []
    with transaction.atomic():
        expired = list(
            WorkItem.objects.with_expired_lease(now)
            .select_for_update(skip_locked=True)
            .order_by("locked_at")[:limit]
        )
        for item in expired:
            error = (
                f"lease expired: worker {item.locked_by} stopped renewing it "
                f"(last at {item.locked_at:%Y-%m-%d %H:%M:%S} UTC)"
            )
            record_failure(
                item,
                error=error,
                trace=None,
                outcome=ExecutionOutcome.LEASE_EXPIRED,
                final=False,
                duration=None,
                now=now,
            )
            reaped.append(item.pk)
    if reaped:
        logger.warning("reaped %d item(s) with expired leases: %s", len(reaped), reaped)
    return reaped
