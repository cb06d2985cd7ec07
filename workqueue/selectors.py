"""Reads over the work queue for the API (and anyone else who needs them): no writes here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Max, QuerySet
from django.utils import timezone

from workqueue.exceptions import WorkItemNotFound
from workqueue.models import ManifestEntry, WorkerHeartbeat, WorkItem
from workqueue.states import WorkState

#: What ``GET /work/pending`` shows when no state is asked for: everything needing attention.
DEFAULT_PENDING_STATES = (
    WorkState.PENDING,
    WorkState.RUNNING,
    WorkState.RETRY_WAIT,
    WorkState.FAILED,
)


def work_items_filtered(*, domain: str | None = None, pipeline: str | None = None) -> QuerySet:
    rows = WorkItem.objects.all()
    if domain:
        rows = rows.filter(domain=domain)
    if pipeline:
        rows = rows.filter(pipeline=pipeline)
    return rows


def work_items_by_state(
    *,
    states: Iterable[str],
    limit: int,
    domain: str | None = None,
    pipeline: str | None = None,
    with_params: bool = True,
) -> dict[str, list[WorkItem]]:
    """Up to ``limit`` items per state, in claim order (priority desc, desired_at, id).

    ``with_params=False`` leaves the params column unread (a list that does not show them
    need not load up to WORKQUEUE_MAX_PARAMS_BYTES per item); reading it then costs a query.
    """
    rows = work_items_filtered(domain=domain, pipeline=pipeline)
    if not with_params:
        rows = rows.defer("params")
    return {
        state: list(rows.filter(state=state).order_by("-priority", "desired_at", "id")[:limit])
        for state in states
    }


def work_item_counts_by_state(
    *, states: Iterable[str] | None = None, domain: str | None = None, pipeline: str | None = None
) -> dict[str, int]:
    """Exact item counts per state (zero for a state with no items), in one query."""
    wanted = list(states) if states is not None else list(WorkState.values)
    rows = work_items_filtered(domain=domain, pipeline=pipeline).filter(state__in=wanted)
    found = dict(rows.values_list("state").annotate(n=Count("id")).order_by())
    return {state: found.get(state, 0) for state in wanted}


def work_item_get(*, item_id: int) -> WorkItem:
    """One item with its executions (oldest attempt first)."""
    try:
        return WorkItem.objects.prefetch_related("executions").get(pk=item_id)
    except WorkItem.DoesNotExist:
        raise WorkItemNotFound(f"work item {item_id} does not exist") from None


def manifest_entries(
    *, domain: str, partition_key: Mapping[str, Any], stage: str | None = None
) -> QuerySet:
    """Manifest rows of one partition in stage order; the key's order does not matter."""
    rows = ManifestEntry.objects.filter(domain=domain, partition_key=dict(partition_key))
    if stage is not None:
        rows = rows.filter(stage=stage)
    return rows.order_by("stage_rank", "stage")


@dataclass(frozen=True)
class QueueHealth:
    checked_at: datetime
    newest_heartbeat_at: datetime | None
    counts: dict[str, int]
    due_unclaimed: int

    @property
    def worker_age_seconds(self) -> float | None:
        if self.newest_heartbeat_at is None:
            return None
        return max(0.0, (self.checked_at - self.newest_heartbeat_at).total_seconds())


def queue_health(*, now: datetime | None = None) -> QueueHealth:
    """What a health check needs: the newest worker heartbeat, counts, and due-but-unclaimed."""
    now = now or timezone.now()
    newest = WorkerHeartbeat.objects.aggregate(newest=Max("seen_at"))["newest"]
    return QueueHealth(
        checked_at=now,
        newest_heartbeat_at=newest,
        counts=work_item_counts_by_state(),
        due_unclaimed=WorkItem.objects.claimable(now).count(),
    )


@dataclass(frozen=True)
class HealthStatus:
    """The health verdict: unhealthy when the database is unreachable, or when items are due
    and no worker was seen within ``max_worker_age_seconds``. An idle queue with no worker is
    healthy: nothing is waiting for one."""

    database_reachable: bool
    max_worker_age_seconds: float
    queue: QueueHealth | None  # None when the database is unreachable
    problems: tuple[str, ...] = ()

    @property
    def healthy(self) -> bool:
        return not self.problems


def health_status(*, now: datetime | None = None) -> HealthStatus:
    """The verdict ``GET /health`` renders (503 unless healthy)."""
    max_age = settings.HEALTH_MAX_WORKER_AGE_SECONDS
    try:
        health = queue_health(now=now)
    except DatabaseError as exc:
        return HealthStatus(
            database_reachable=False,
            max_worker_age_seconds=max_age,
            queue=None,
            problems=(f"database unreachable: {exc}",),
        )
    problems = []
    age = health.worker_age_seconds
    if health.due_unclaimed and (age is None or age > max_age):
        seen = "no worker has ever been seen" if age is None else f"newest {age:.0f}s ago"
        problems.append(
            f"{health.due_unclaimed} item(s) are due but no worker was seen in the last "
            f"{max_age:.0f}s ({seen})"
        )
    return HealthStatus(
        database_reachable=True,
        max_worker_age_seconds=max_age,
        queue=health,
        problems=tuple(problems),
    )
