"""FINRA's Prometheus metrics: the weekly scheduler's runs and the overdue partitions.

Read from ``finra_scheduler_runs`` and the gap selector at scrape time (four queries), so every
web process reports the same numbers. The scheduler counters count the finished runs the table
holds: they only grow while rows are kept (deleting old runs reads as a counter reset).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F, IntegerField, Max, Q, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils import timezone
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from finra.gaps import DEFAULT_WEEKS, overdue_counts
from finra.models import SchedulerAction, SchedulerRun, SchedulerRunStatus

PREFIX = "market_spine_"

#: Upper bounds (seconds) of the scheduler duration histogram: a quick check to a long wait.
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200)

FINISHED = [status for status in SchedulerRunStatus.values if status != SchedulerRunStatus.RUNNING]


class FinraCollector:
    def __init__(self, *, now: datetime | None = None) -> None:
        self.now = now

    def collect(self) -> Iterator[Metric]:
        now = self.now or timezone.now()
        yield from self._scheduler()
        yield self._overdue(now)

    def _scheduler(self) -> Iterator[Metric]:
        runs = CounterMetricFamily(
            PREFIX + "scheduler_runs",
            "Finished FINRA scheduler runs by status (success, partial, critical).",
            labels=["status"],
        )
        by_status = dict(
            SchedulerRun.objects.filter(status__in=FINISHED)
            .values_list("status")
            .annotate(n=Count("id"))
            .order_by()
        )
        for status in FINISHED:
            runs.add_metric([status], by_status.get(status, 0))
        yield runs

        duration = ExpressionWrapper(
            F("finished_at") - F("started_at"), output_field=DurationField()
        )
        finished = SchedulerRun.objects.filter(status__in=FINISHED, finished_at__isnull=False)
        found = finished.annotate(duration=duration).aggregate(
            count=Count("id"),
            total=Sum("duration"),
            **{
                f"le_{bound}": Count("id", filter=Q(duration__lte=timedelta(seconds=bound)))
                for bound in DURATION_BUCKETS
            },
            **{
                f"action_{action}": Sum(Cast(KT(f"counts__{action}"), IntegerField()))
                for action in SchedulerAction.values
            },
        )
        weeks = CounterMetricFamily(
            PREFIX + "scheduler_weeks_processed",
            "(week, tier) partitions the finished scheduler runs handled, by what they did.",
            labels=["action"],
        )
        for action in SchedulerAction.values:
            weeks.add_metric([action], found[f"action_{action}"] or 0)
        yield weeks

        total: timedelta | None = found["total"]
        yield HistogramMetricFamily(
            PREFIX + "scheduler_duration_seconds",
            "Duration of the finished FINRA scheduler runs.",
            buckets=[
                *((str(float(bound)), found[f"le_{bound}"]) for bound in DURATION_BUCKETS),
                ("+Inf", found["count"]),
            ],
            sum_value=total.total_seconds() if total is not None else 0.0,
        )

        last = SchedulerRun.objects.aggregate(last=Max("started_at"))["last"]
        if last is not None:  # no sample at all before the first run
            yield GaugeMetricFamily(
                PREFIX + "scheduler_last_run_timestamp",
                "Unix time the latest FINRA scheduler run started.",
                value=last.timestamp(),
            )

    def _overdue(self, now: datetime) -> Metric:
        overdue = GaugeMetricFamily(
            PREFIX + "finra_overdue_partitions",
            f"FINRA stages missing from the manifest though due, over the last {DEFAULT_WEEKS} "
            "completed weeks, by tier (ALL: the tier split) and stage.",
            labels=["tier", "stage"],
        )
        for (tier, stage), n in overdue_counts(weeks=DEFAULT_WEEKS, now=now).items():
            overdue.add_metric([tier, stage], n)
        return overdue
