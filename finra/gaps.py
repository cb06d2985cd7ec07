"""Gap reports: the FINRA partitions missing from the manifest, overdue or not yet due.

The one selector behind ``manage.py finra_gaps``, ``GET /api/v1/finra/gaps`` and the
``market_spine_finra_overdue_partitions`` metric. Two queries whatever the window (the manifest
rows and the work items of its partitions); the rules are ``finra.gap_rules``.

The window is every Friday from ``since`` to ``until``. ``until`` defaults to the last
completed week (in New York, where the trading week ends), ``since`` to the
``DEFAULT_WEEKS`` weeks ending at ``until``; at most ``MAX_WEEKS`` weeks per report.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.utils import timezone

from finra.calendar import PUBLICATION_TIME_ZONE
from finra.gap_rules import Gap, GapStatus, ItemInfo, find_gaps, partition_keys
from finra.models import ALL_TIERS, DOMAIN
from finra.stages import STAGES, PartitionShape
from finra.tiers import TIERS
from finra.weeks import fridays_between, last_completed_week_ending
from workqueue.fields import canonical_json
from workqueue.models import ManifestEntry, WorkItem

DEFAULT_WEEKS = 12
MAX_WEEKS = 520  # ten years: 2,080 partition keys, well inside both databases' limits


class InvalidGapWindow(ValueError):
    """A window that is reversed, holds no Friday or is longer than MAX_WEEKS."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class GapReport:
    since: date
    until: date
    weeks: tuple[date, ...]
    checked_at: datetime
    gaps: tuple[Gap, ...]

    @property
    def overdue(self) -> list[Gap]:
        return [gap for gap in self.gaps if gap.overdue]

    @property
    def counts(self) -> dict[str, int]:
        counts = {status.value: 0 for status in GapStatus}
        for gap in self.gaps:
            counts[gap.status.value] += 1
        return counts


def gap_window(*, since: date | None, until: date | None, now: datetime) -> tuple[date, date]:
    """The (since, until) a report covers, defaults applied; InvalidGapWindow when unusable."""
    if until is None:
        until = last_completed_week_ending(timezone.localtime(now, PUBLICATION_TIME_ZONE).date())
    if since is None:
        since = until - timedelta(weeks=DEFAULT_WEEKS - 1)
    if since > until:
        raise InvalidGapWindow(
            f"since {since.isoformat()} is after until {until.isoformat()}", field="since"
        )
    weeks = fridays_between(since, until)
    if not weeks:
        raise InvalidGapWindow(
            f"no Friday from {since.isoformat()} to {until.isoformat()}", field="since"
        )
    if len(weeks) > MAX_WEEKS:
        raise InvalidGapWindow(
            f"{len(weeks)} weeks from {since.isoformat()} to {until.isoformat()}; at most "
            f"{MAX_WEEKS} per report: narrow the window",
            field="since",
        )
    return since, until


def finra_gaps(
    *,
    since: date | None = None,
    until: date | None = None,
    tiers: Collection[str] | None = None,
    stages: Collection[str] | None = None,
    now: datetime | None = None,
) -> GapReport:
    """Every missing stage of every week from ``since`` to ``until``, for ``tiers``
    (canonical, plus ``ALL`` for the tier split; default every one) and ``stages``."""
    now = now or timezone.now()
    since, until = gap_window(since=since, until=until, now=now)
    weeks = fridays_between(since, until)
    keys = partition_keys(weeks)
    # values_list decodes the key; the rules compare canonical text.
    present = {
        (stage, canonical_json(key))
        for stage, key in ManifestEntry.objects.filter(
            domain=DOMAIN, partition_key__in=keys
        ).values_list("stage", "partition_key")
    }
    items = {
        (item.pipeline, item.partition_key_text): ItemInfo(
            item_id=item.pk,
            state=item.state,
            last_error=item.last_error,
            attempt_count=item.attempt_count,
            max_attempts=item.max_attempts,
            next_attempt_at=item.next_attempt_at,
        )
        for item in WorkItem.objects.filter(
            domain=DOMAIN,
            pipeline__in=[spec.pipeline for spec in STAGES],
            partition_key__in=keys,
        ).only(
            "id",
            "pipeline",
            "partition_key",
            "state",
            "last_error",
            "attempt_count",
            "max_attempts",
            "next_attempt_at",
        )
    }
    gaps = find_gaps(
        weeks=weeks,
        present=present,
        items=items,
        now=now,
        grace_hours=settings.FINRA_PUBLICATION_GRACE_HOURS,
        tiers=tiers,
        stages=stages,
    )
    return GapReport(since=since, until=until, weeks=tuple(weeks), checked_at=now, gaps=tuple(gaps))


def overdue_counts(
    *, weeks: int = DEFAULT_WEEKS, now: datetime | None = None
) -> dict[tuple[str, str], int]:
    """Overdue gaps per (tier, stage) over the last ``weeks`` weeks, zero included."""
    now = now or timezone.now()
    until = last_completed_week_ending(timezone.localtime(now, PUBLICATION_TIME_ZONE).date())
    report = finra_gaps(since=until - timedelta(weeks=weeks - 1), until=until, now=now)
    counts = {
        (tier, spec.stage): 0
        for spec in STAGES
        for tier in ((ALL_TIERS,) if spec.partition is PartitionShape.WEEK else TIERS)
    }
    for gap in report.overdue:
        counts[(gap.tier, gap.stage)] += 1
    return counts
