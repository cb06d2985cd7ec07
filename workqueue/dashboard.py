"""Reads for the operations dashboard and the admin pages: no writes here.

Each function runs a fixed, small number of queries whatever the size of the queue, and returns
plain numbers; the templates turn them into tables and SVG charts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db.models import Count, F, Min, Q, Sum
from django.db.models.functions import TruncHour, TruncWeek
from django.utils import timezone

from workqueue.models import Execution, ExecutionOutcome, WorkerHeartbeat, WorkItem
from workqueue.states import WorkState


def format_age(seconds: float | None) -> str:
    """A short age for people: "42 s", "7 min", "3 h 5 min", "2 d 4 h"."""
    if seconds is None:
        return "-"
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60} min"
    return f"{whole // 86400} d {whole % 86400 // 3600} h"


# --- queue health -------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerSeen:
    worker: str
    seen_at: datetime
    age_seconds: float
    items_completed: int

    @property
    def age_text(self) -> str:
        return format_age(self.age_seconds)


@dataclass(frozen=True)
class QueueOverview:
    checked_at: datetime
    counts: dict[str, int]
    due_now: int
    oldest_due_at: datetime | None
    exhausted_failures: int
    workers: list[WorkerSeen]

    @property
    def oldest_due_age_seconds(self) -> float | None:
        if self.oldest_due_at is None:
            return None
        return max(0.0, (self.checked_at - self.oldest_due_at).total_seconds())

    @property
    def oldest_due_age_text(self) -> str:
        return format_age(self.oldest_due_age_seconds)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def queue_overview(*, now: datetime | None = None, worker_limit: int = 50) -> QueueOverview:
    """Counts by state, what is due now and since when, exhausted failures, worker heartbeats.

    An item is due when PENDING with ``desired_at`` passed or RETRY_WAIT with
    ``next_attempt_at`` passed (the claim order's rule); it has been due since that time.
    """
    now = now or timezone.now()
    due_pending = Q(state=WorkState.PENDING, desired_at__lte=now)
    due_retry = Q(state=WorkState.RETRY_WAIT, next_attempt_at__lte=now)
    found = dict(WorkItem.objects.values_list("state").annotate(n=Count("id")).order_by())
    due = WorkItem.objects.aggregate(
        pending=Count("id", filter=due_pending),
        retry=Count("id", filter=due_retry),
        oldest_pending=Min("desired_at", filter=due_pending),
        oldest_retry=Min("next_attempt_at", filter=due_retry),
        exhausted=Count(
            "id", filter=Q(state=WorkState.FAILED, attempt_count__gte=F("max_attempts"))
        ),
    )
    oldest = [t for t in (due["oldest_pending"], due["oldest_retry"]) if t is not None]
    workers = [
        WorkerSeen(
            worker=beat.worker,
            seen_at=beat.seen_at,
            age_seconds=max(0.0, (now - beat.seen_at).total_seconds()),
            items_completed=beat.items_completed,
        )
        for beat in WorkerHeartbeat.objects.order_by("-seen_at")[:worker_limit]
    ]
    return QueueOverview(
        checked_at=now,
        counts={state: found.get(state, 0) for state in WorkState.values},
        due_now=due["pending"] + due["retry"],
        oldest_due_at=min(oldest) if oldest else None,
        exhausted_failures=due["exhausted"],
        workers=workers,
    )


def latest_failures(*, limit: int = 10) -> list[WorkItem]:
    """The most recent FAILED items, newest error first."""
    return list(
        WorkItem.objects.filter(state=WorkState.FAILED)
        .only(
            "id",
            "domain",
            "pipeline",
            "partition_key",
            "attempt_count",
            "max_attempts",
            "last_error",
            "last_error_at",
        )
        .order_by(F("last_error_at").desc(nulls_last=True), "-id")[:limit]
    )


# --- charts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HourBucket:
    hour: datetime
    finished: int
    failed: int


def finished_per_hour(*, now: datetime | None = None, days: int = 7) -> list[HourBucket]:
    """Executions finished in each UTC hour of the last ``days`` days, oldest hour first.

    Every hour is present (zero when nothing finished), so the chart's bars line up with time.
    ``failed`` counts the executions that ended in failure or a lost lease.
    """
    now = now or timezone.now()
    last_hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    first_hour = last_hour - timedelta(hours=days * 24 - 1)
    failed = Q(outcome__in=[ExecutionOutcome.FAILED, ExecutionOutcome.LEASE_EXPIRED])
    rows = (
        Execution.objects.filter(finished_at__gte=first_hour, finished_at__lte=now)
        .annotate(hour=TruncHour("finished_at", tzinfo=UTC))
        .values("hour")
        .annotate(finished=Count("id"), failed=Count("id", filter=failed))
        .order_by()
    )
    found = {row["hour"]: row for row in rows}
    buckets = []
    for offset in range(days * 24):
        hour = first_hour + timedelta(hours=offset)
        row = found.get(hour, {})
        buckets.append(HourBucket(hour, row.get("finished", 0), row.get("failed", 0)))
    return buckets


@dataclass(frozen=True)
class WeekDuration:
    week_start: date  # the Monday of the ISO week
    executions: int
    total_seconds: float

    @property
    def iso_week(self) -> str:
        year, week, _ = self.week_start.isocalendar()
        return f"{year}-W{week:02d}"

    @property
    def mean_seconds(self) -> float:
        return self.total_seconds / self.executions if self.executions else 0.0


@dataclass(frozen=True)
class PipelineDurations:
    domain: str
    pipeline: str
    weeks: list[WeekDuration]

    @property
    def peak_seconds(self) -> float:
        return max((w.total_seconds for w in self.weeks), default=0.0)


def durations_per_week(*, now: datetime | None = None, weeks: int = 12) -> list[PipelineDurations]:
    """Total execution time per pipeline per ISO week over the last ``weeks`` weeks.

    Every week is present for every pipeline seen in the window, oldest first.
    """
    now = now or timezone.now()
    this_monday = now.astimezone(UTC).date() - timedelta(days=now.astimezone(UTC).weekday())
    first_monday = this_monday - timedelta(weeks=weeks - 1)
    start = datetime.combine(first_monday, datetime.min.time(), tzinfo=UTC)
    rows = (
        Execution.objects.filter(
            finished_at__gte=start, finished_at__lte=now, duration_seconds__isnull=False
        )
        .annotate(week=TruncWeek("finished_at", tzinfo=UTC))
        .values("work_item__domain", "work_item__pipeline", "week")
        .annotate(executions=Count("id"), total=Sum("duration_seconds"))
        .order_by()
    )
    found: dict[tuple[str, str], dict[date, tuple[int, float]]] = {}
    for row in rows:
        key = (row["work_item__domain"], row["work_item__pipeline"])
        week = row["week"].date() if isinstance(row["week"], datetime) else row["week"]
        found.setdefault(key, {})[week] = (row["executions"], float(row["total"] or 0.0))
    mondays = [first_monday + timedelta(weeks=n) for n in range(weeks)]
    return [
        PipelineDurations(
            domain=domain,
            pipeline=pipeline,
            weeks=[WeekDuration(monday, *by_week.get(monday, (0, 0.0))) for monday in mondays],
        )
        for (domain, pipeline), by_week in sorted(found.items())
    ]


# --- chart geometry (pure) ----------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: float
    label: str


def bars(
    values: list[tuple[str, float]], *, width: float, height: float, gap: float = 1.0
) -> list[Bar]:
    """Bars for ``values`` laid side by side in a ``width`` x ``height`` box, scaled to the max."""
    if not values:
        return []
    peak = max(v for _, v in values) or 1.0
    step = width / len(values)
    bar_width = max(step - gap, 0.5)
    result = []
    for index, (label, value) in enumerate(values):
        bar_height = height * value / peak
        result.append(
            Bar(
                x=round(index * step, 2),
                y=round(height - bar_height, 2),
                width=round(bar_width, 2),
                height=round(bar_height, 2),
                value=value,
                label=label,
            )
        )
    return result


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    value: float
    label: str


def line_points(
    values: list[tuple[str, float | None]],
    *,
    width: float,
    height: float,
    peak: float | None = None,
) -> list[Point]:
    """Points of a line chart: ``values`` spread evenly across ``width``, scaled to ``peak``
    (default their max) over ``height``. A None value (no data that week) has no point."""
    if not values:
        return []
    top = peak or max((v for _, v in values if v is not None), default=0.0) or 1.0
    step = width / (len(values) - 1) if len(values) > 1 else 0.0
    return [
        Point(
            x=round(index * step, 2),
            y=round(height - height * value / top, 2),
            value=value,
            label=label,
        )
        for index, (label, value) in enumerate(values)
        if value is not None
    ]


def polyline(points: list[Point]) -> str:
    """The ``points`` attribute of an SVG polyline through ``points``."""
    return " ".join(f"{p.x},{p.y}" for p in points)
