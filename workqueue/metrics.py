"""The work queue's Prometheus metrics, read from the database at scrape time.

A collector, not process-global counters: every web process answers a scrape with the same
numbers (the tables are the record of truth), and a restart loses nothing. Four aggregate
queries per scrape, whatever the size of the queue. Domains add their own collectors beside
this one (the ``/metrics`` view wires them).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, F, Min, Q
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from workqueue.models import WorkerHeartbeat, WorkItem
from workqueue.states import WorkState

PREFIX = "market_spine_"


def _age(now: datetime, then: datetime | None) -> float:
    return max(0.0, (now - then).total_seconds()) if then is not None else 0.0


class WorkQueueCollector:
    """Work items by domain, pipeline and state; exhausted items; the oldest due item's wait;
    running leases; each worker's last heartbeat."""

    def __init__(self, *, now: datetime | None = None) -> None:
        self.now = now

    def collect(self) -> Iterator[Metric]:
        now = self.now or timezone.now()
        yield from self._items()
        yield from self._ages(now)
        yield from self._workers(now)

    def _items(self) -> Iterator[Metric]:
        items = GaugeMetricFamily(
            PREFIX + "work_items",
            "Work items by domain, pipeline and state (every state, zeros included).",
            labels=["domain", "pipeline", "state"],
        )
        exhausted = GaugeMetricFamily(
            PREFIX + "work_items_exhausted",
            "FAILED work items that used all their attempts (attempt_count >= max_attempts).",
            labels=["domain", "pipeline"],
        )
        counts: dict[tuple[str, str], dict[str, int]] = {}
        rows = WorkItem.objects.values_list("domain", "pipeline", "state").annotate(n=Count("id"))
        for domain, pipeline, state, n in rows.order_by():
            counts.setdefault((domain, pipeline), {})[state] = n
        failed = dict.fromkeys(counts, 0)
        rows = (
            WorkItem.objects.filter(state=WorkState.FAILED, attempt_count__gte=F("max_attempts"))
            .values_list("domain", "pipeline")
            .annotate(n=Count("id"))
        )
        for domain, pipeline, n in rows.order_by():
            failed[(domain, pipeline)] = n
        for (domain, pipeline), by_state in sorted(counts.items()):
            for state in WorkState.values:
                items.add_metric([domain, pipeline, state], by_state.get(state, 0))
            exhausted.add_metric([domain, pipeline], failed[(domain, pipeline)])
        yield items
        yield exhausted

    def _ages(self, now: datetime) -> Iterator[Metric]:
        cutoff = now - timedelta(seconds=settings.WORKQUEUE_LEASE_SECONDS)
        found = WorkItem.objects.aggregate(
            oldest_pending=Min(
                "desired_at", filter=Q(state=WorkState.PENDING, desired_at__lte=now)
            ),
            oldest_retry=Min(
                "next_attempt_at", filter=Q(state=WorkState.RETRY_WAIT, next_attempt_at__lte=now)
            ),
            oldest_lease=Min("locked_at", filter=Q(state=WorkState.RUNNING)),
            expired=Count("id", filter=Q(state=WorkState.RUNNING, locked_at__lt=cutoff)),
        )
        due = [t for t in (found["oldest_pending"], found["oldest_retry"]) if t is not None]
        yield GaugeMetricFamily(
            PREFIX + "work_oldest_due_age_seconds",
            "How long the longest-waiting claimable item has been due (0: none is due).",
            value=_age(now, min(due) if due else None),
        )
        yield GaugeMetricFamily(
            PREFIX + "work_lease_age_max_seconds",
            "Age of the oldest lease renewal among RUNNING items (0: none is running). A live "
            "worker renews its leases every heartbeat.",
            value=_age(now, found["oldest_lease"]),
        )
        yield GaugeMetricFamily(
            PREFIX + "work_leases_expired",
            "RUNNING items whose lease expired and that the reaper has not recovered yet.",
            value=found["expired"],
        )

    def _workers(self, now: datetime) -> Iterator[Metric]:
        age = GaugeMetricFamily(
            PREFIX + "worker_heartbeat_age_seconds",
            "Seconds since each worker's last heartbeat (workers beat while they drain the "
            "queue, so an idle worker ages too).",
            labels=["worker"],
        )
        completed = CounterMetricFamily(
            PREFIX + "worker_items_completed",
            "Work items each worker has completed.",
            labels=["worker"],
        )
        for worker, seen_at, items_completed in WorkerHeartbeat.objects.order_by(
            "worker"
        ).values_list("worker", "seen_at", "items_completed"):
            age.add_metric([worker], _age(now, seen_at))
            completed.add_metric([worker], items_completed)
        yield age
        yield completed
