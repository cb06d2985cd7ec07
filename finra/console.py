# Over 400 lines: the reads of every FINRA console page (grid, lookback, weeks, week, symbol).
"""Reads for the FINRA pages of the operations console: the partition grid, the lookback panel,
the week and symbol pages. No writes here.

Each function runs a fixed, small number of queries whatever the number of weeks or items (the
grid: the work items and the manifest rows of the page's partition keys, two queries), and
returns plain values; the templates turn them into tables and SVG charts.

A grid cell is one stage of one partition: per tier for every stage but the tier split, per
week for the tier split. Its state comes from its work item when there is one, from the
manifest otherwise, and for a partition nothing has reached yet from the publication calendar:
missing and overdue once the week and tier are due, not yet due before: the gap report's rule
(``finra.gap_rules.find_gaps``), applied to the same two reads.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, Min, Q, Sum
from django.utils import timezone

from finra.calendar import PUBLICATION_TIME_ZONE
from finra.gap_rules import GapStatus, ItemInfo, due_at, find_gaps, partition_key, partition_keys
from finra.models import (
    ALL_TIERS,
    DOMAIN,
    Capture,
    CaptureStatus,
    SchedulerRun,
    Stage,
    SymbolHHIRow,
    SymbolVenueShareRow,
    TierHHIRow,
    TierSplitRow,
    VenueShareRow,
)
from finra.selectors import dataset_rows
from finra.stages import STAGES, PartitionShape, StageSpec
from finra.tiers import TIERS
from finra.weeks import fridays_between, last_completed_week_ending, lookback_week_endings
from workqueue.fields import canonical_json
from workqueue.models import ManifestEntry, WorkItem
from workqueue.states import WorkState

TIER_STAGES: tuple[StageSpec, ...] = tuple(s for s in STAGES if s.partition is PartitionShape.TIER)
WEEK_STAGES: tuple[StageSpec, ...] = tuple(s for s in STAGES if s.partition is PartitionShape.WEEK)


class CellState(StrEnum):
    COMPLETE = "complete"
    RUNNING = "running"
    QUEUED = "queued"
    WAITING_UPSTREAM = "waiting_upstream"
    RETRY_WAIT = "retry_wait"
    FAILED = "failed"
    CANCELLED = "cancelled"
    OVERDUE = "overdue"
    NOT_YET_DUE = "not_yet_due"


CELL_LABELS: dict[CellState, str] = {
    CellState.COMPLETE: "complete",
    CellState.RUNNING: "running",
    CellState.QUEUED: "queued",
    CellState.WAITING_UPSTREAM: "waiting for upstream",
    CellState.RETRY_WAIT: "retry wait",
    CellState.FAILED: "failed",
    CellState.CANCELLED: "cancelled",
    CellState.OVERDUE: "missing and overdue",
    CellState.NOT_YET_DUE: "not yet due",
}


#: A mark per state, so a cell reads without its colour.
CELL_MARKS: dict[CellState, str] = {
    CellState.COMPLETE: "\u2713",
    CellState.RUNNING: "\u25b6",
    CellState.QUEUED: "\u2026",
    CellState.WAITING_UPSTREAM: "\u21e1",
    CellState.RETRY_WAIT: "\u21bb",
    CellState.FAILED: "\u2717",
    CellState.CANCELLED: "\u2298",
    CellState.OVERDUE: "!",
    CellState.NOT_YET_DUE: "\u00b7",
}
#: Column headings of the stages.
STAGE_SHORT: dict[str, str] = {
    Stage.RAW: "raw",
    Stage.NORMALIZED: "norm",
    Stage.VENUE_VOLUME: "vol",
    Stage.VENUE_SHARE: "share",
    Stage.HHI: "hhi",
    Stage.TIER_SPLIT: "split",
}


class Summary(StrEnum):
    """The dashboard's coarser grouping of cell states."""

    COMPLETE = "complete"
    RUNNING = "running"
    WAITING = "waiting"
    FAILED = "failed"
    OVERDUE = "overdue"
    NOT_YET_DUE = "not_yet_due"


SUMMARY_OF: dict[CellState, Summary] = {
    CellState.COMPLETE: Summary.COMPLETE,
    CellState.RUNNING: Summary.RUNNING,
    CellState.QUEUED: Summary.WAITING,
    CellState.WAITING_UPSTREAM: Summary.WAITING,
    CellState.RETRY_WAIT: Summary.WAITING,
    CellState.FAILED: Summary.FAILED,
    CellState.CANCELLED: Summary.FAILED,
    CellState.OVERDUE: Summary.OVERDUE,
    CellState.NOT_YET_DUE: Summary.NOT_YET_DUE,
}
SUMMARY_LABELS: dict[Summary, str] = {
    Summary.COMPLETE: "complete",
    Summary.RUNNING: "running",
    Summary.WAITING: "waiting",
    Summary.FAILED: "failed",
    Summary.OVERDUE: "overdue",
    Summary.NOT_YET_DUE: "not yet due",
}


def cell_state(*, item_state: str | None, waiting_for: str, gap: GapStatus | None) -> CellState:
    """The state of one stage of one partition (pure).

    ``gap`` is the gap report's status of the stage (``finra.gap_rules``: missing from the
    manifest, overdue once due, else not yet due), None when the manifest holds it. Work under
    way shows first (running, queued, waiting), then a failure, even over a stage the manifest
    holds: staff need to see that the newest attempt failed. A cancelled item over a stage the
    manifest holds is complete.
    """
    if item_state == WorkState.RUNNING:
        return CellState.RUNNING
    if item_state == WorkState.PENDING:
        return CellState.QUEUED
    if item_state == WorkState.RETRY_WAIT:
        return CellState.WAITING_UPSTREAM if waiting_for else CellState.RETRY_WAIT
    if item_state == WorkState.FAILED:
        return CellState.FAILED
    if gap is None:
        return CellState.COMPLETE
    if item_state == WorkState.CANCELLED:
        return CellState.CANCELLED
    return CellState.OVERDUE if gap is GapStatus.OVERDUE else CellState.NOT_YET_DUE


@dataclass(frozen=True)
class Cell:
    week_ending: date
    tier: str  # canonical, or ALL for a stage over the whole week
    stage: str
    pipeline: str
    partition_key: dict[str, str]
    state: CellState
    due_at: datetime
    item_id: int | None = None
    last_error: str = ""
    capture_id: str = ""
    #: for a missing stage, what would fill it (the gap report's words)
    remediation: str = ""

    @property
    def label(self) -> str:
        return CELL_LABELS[self.state]

    @property
    def mark(self) -> str:
        return CELL_MARKS[self.state]

    @property
    def selection(self) -> str:
        """How a backfill form names this cell: ``pipeline:partition key``."""
        return f"{self.pipeline}:{canonical_json(self.partition_key)}"

    @property
    def title(self) -> str:
        where = f"{self.stage} {self.tier} {self.week_ending.isoformat()}: {self.label}"
        if self.state is CellState.NOT_YET_DUE:
            return f"{where}, due {self.due_at:%Y-%m-%d %H:%M} UTC"
        if self.last_error and self.state is not CellState.COMPLETE:
            return f"{where}: {self.last_error[:300]}"
        if self.remediation and self.state is CellState.OVERDUE:
            return f"{where}: {self.remediation}"
        return where


@dataclass(frozen=True)
class GridRow:
    week_ending: date
    #: per tier shown, its cells in stage order
    tiers: list[tuple[str, list[Cell]]]
    #: the stages over the whole week (the tier split)
    week_cells: list[Cell]

    @property
    def cells(self) -> list[Cell]:
        return [cell for _, cells in self.tiers for cell in cells] + self.week_cells

    @property
    def selection(self) -> str:
        """Every cell of the row, one per line, as a backfill form takes them."""
        return "\n".join(cell.selection for cell in self.cells)


def grid_rows(
    weeks: list[date], *, tiers: tuple[str, ...] = TIERS, now: datetime | None = None
) -> list[GridRow]:
    """The cells of ``weeks`` (in the order given) for ``tiers``: two queries (the manifest rows
    and the work items of the weeks' partition keys), the gaps found by ``finra.gap_rules``."""
    now = now or timezone.now()
    grace = settings.FINRA_PUBLICATION_GRACE_HOURS
    keys = partition_keys(weeks)
    items: dict[tuple[str, str], ItemInfo] = {}
    waiting: dict[tuple[str, str], str] = {}
    present: dict[tuple[str, str], str] = {}
    if keys:
        rows = WorkItem.objects.filter(
            domain=DOMAIN, pipeline__in=[s.pipeline for s in STAGES], partition_key__in=keys
        ).values_list("id", "pipeline", "partition_key", "state", "waiting_for", "last_error")
        for item_id, pipeline, key, state, waiting_for, last_error in rows:
            name = (pipeline, canonical_json(key))
            items[name] = ItemInfo(item_id=item_id, state=state, last_error=last_error)
            waiting[name] = waiting_for or ""
        for stage, key, capture_id in ManifestEntry.objects.filter(
            domain=DOMAIN, partition_key__in=keys
        ).values_list("stage", "partition_key", "capture_id"):
            present[(stage, canonical_json(key))] = capture_id or ""
    gaps = {
        (gap.week_ending, gap.tier, gap.stage): gap
        for gap in find_gaps(
            weeks=weeks,
            present=present.keys(),
            items=items,
            now=now,
            grace_hours=grace,
            tiers={*tiers, ALL_TIERS},
        )
    }

    def cell(spec: StageSpec, week_ending: date, tier: str) -> Cell:
        key = partition_key(spec, week_ending, tier)
        text = canonical_json(key)
        item = items.get((spec.pipeline, text))
        gap = gaps.get((week_ending, tier, spec.stage))
        return Cell(
            week_ending=week_ending,
            tier=tier,
            stage=spec.stage,
            pipeline=spec.pipeline,
            partition_key=key,
            state=cell_state(
                item_state=item.state if item else None,
                waiting_for=waiting.get((spec.pipeline, text), ""),
                gap=gap.status if gap else None,
            ),
            due_at=gap.due_at if gap else due_at(spec, week_ending, tier, grace_hours=grace),
            item_id=item.item_id if item else None,
            last_error=(item.last_error or "") if item else "",
            capture_id=present.get((spec.stage, text), ""),
            remediation=gap.remediation if gap else "",
        )

    return [
        GridRow(
            week_ending=week_ending,
            tiers=[
                (tier, [cell(spec, week_ending, tier) for spec in TIER_STAGES]) for tier in tiers
            ],
            week_cells=[cell(spec, week_ending, ALL_TIERS) for spec in WEEK_STAGES],
        )
        for week_ending in weeks
    ]


def newest_week(now: datetime | None = None) -> date:
    """The last completed week, in New York where the trading week ends."""
    now = now or timezone.now()
    return last_completed_week_ending(timezone.localtime(now, PUBLICATION_TIME_ZONE).date())


def grid_weeks(
    *, start: date | None, end: date | None, now: datetime | None = None, minimum: int = 26
) -> list[date]:
    """The grid's weeks, newest first: every Friday from ``start`` to ``end``.

    ``end`` defaults to the last completed week; ``start`` to the oldest week with a capture or
    ``minimum`` weeks back, whichever is earlier (one aggregate query).
    """
    end = end or newest_week(now)
    if start is None:
        oldest = Capture.objects.aggregate(oldest=Min("week_ending"))["oldest"]
        start = end - timedelta(weeks=minimum - 1)
        if oldest is not None and oldest < start:
            start = oldest
    return list(reversed(fridays_between(start, end)))


# --- the dashboard panel --------------------------------------------------------------------


@dataclass(frozen=True)
class WeekSummary:
    week_ending: date
    #: per tier (then ALL for the tier split): (summary state, its label, count), zero included
    columns: list[tuple[str, list[tuple[str, str, int]]]]


def lookback_summary(*, weeks: int = 6, now: datetime | None = None) -> list[WeekSummary]:
    """The lookback window's weeks, newest first, with their cells counted by summary state."""
    now = now or timezone.now()
    today = timezone.localtime(now, PUBLICATION_TIME_ZONE).date()
    week_list = list(reversed(lookback_week_endings(today, weeks)))
    summaries = []
    for row in grid_rows(week_list, now=now):
        columns = []
        for tier, cells in [*row.tiers, (ALL_TIERS, row.week_cells)]:
            found = Counter(SUMMARY_OF[c.state].value for c in cells)
            columns.append(
                (tier, [(s.value, SUMMARY_LABELS[s], found.get(s.value, 0)) for s in Summary])
            )
        summaries.append(WeekSummary(row.week_ending, columns))
    return summaries


def latest_scheduler_runs(*, limit: int = 5) -> list[SchedulerRun]:
    return list(
        SchedulerRun.objects.defer("results", "work_item_ids", "arguments").order_by(
            "-started_at", "-id"
        )[:limit]
    )


# --- the week index and the week page ---------------------------------------------------------


@dataclass(frozen=True)
class WeekEntry:
    week_ending: date
    tiers: list[str]  # canonical tiers with a complete capture of any stage
    captures: int
    last_captured_at: datetime | None


def week_index() -> list[WeekEntry]:
    """Every week with a capture, newest first (one aggregate query over the register)."""
    rows = (
        Capture.objects.complete()
        .exclude(tier=ALL_TIERS)
        .values("week_ending", "tier")
        .annotate(n=Count("id"), last=Max("captured_at"))
        .order_by()
    )
    by_week: dict[date, dict[str, Any]] = {}
    for row in rows:
        entry = by_week.setdefault(row["week_ending"], {"tiers": set(), "n": 0, "last": None})
        entry["tiers"].add(row["tier"])
        entry["n"] += row["n"]
        if entry["last"] is None or row["last"] > entry["last"]:
            entry["last"] = row["last"]
    return [
        WeekEntry(week, [t for t in TIERS if t in e["tiers"]], e["n"], e["last"])
        for week, e in sorted(by_week.items(), reverse=True)
    ]


#: The HHI histogram's buckets: tenths of the 0-1 scale (the last one includes 1.0).
HHI_BUCKETS = 10


@dataclass(frozen=True)
class CaptureEntry:
    capture: Capture
    latest: bool


@dataclass(frozen=True)
class WeekPage:
    week_ending: date
    tier: str
    venue_shares: list[VenueShareRow]
    tier_hhi: TierHHIRow | None
    #: symbols per HHI bucket, lowest bucket first
    hhi_buckets: list[int]
    most_concentrated: list[SymbolHHIRow]
    tier_split: dict[str, Any] | None
    captures: list[CaptureEntry]


def hhi_histogram(rows: Any) -> list[int]:
    """Symbols per tenth of the HHI scale in one aggregate; HHI 1.0 counts in the last tenth."""
    step = 1.0 / HHI_BUCKETS
    aggregates = {
        f"b{n}": Count(
            "symbol",
            filter=Q(hhi__gte=n * step)
            & (Q(hhi__lt=(n + 1) * step) if n < HHI_BUCKETS - 1 else Q()),
        )
        for n in range(HHI_BUCKETS)
    }
    found = rows.aggregate(**aggregates)
    return [found[f"b{n}"] for n in range(HHI_BUCKETS)]


def week_page(*, week_ending: date, tier: str, top: int = 10) -> WeekPage:
    """One week and tier: venue shares, HHI distribution, tier split, capture history."""
    venue_shares = list(
        dataset_rows(VenueShareRow, week_ending=week_ending, tier=tier).order_by(
            "rank", "venue_key"
        )
    )
    hhi_rows = dataset_rows(SymbolHHIRow, week_ending=week_ending, tier=tier)
    buckets = hhi_histogram(hhi_rows)
    most = list(hhi_rows.order_by("-hhi", "-total_volume", "symbol")[:top])
    tier_hhi = dataset_rows(TierHHIRow, week_ending=week_ending, tier=tier).first()
    split = dataset_rows(TierSplitRow, week_ending=week_ending).aggregate(
        symbols=Count("symbol"),
        nms_tier_1=Sum("nms_tier_1_volume"),
        nms_tier_2=Sum("nms_tier_2_volume"),
        otc=Sum("otc_volume"),
        total=Sum("total_volume"),
    )
    tier_split = None
    if split["symbols"]:
        total = split["total"] or 0
        tier_split = {
            "symbols": split["symbols"],
            "total": total,
            "tiers": [
                (name, split[field] or 0, (split[field] or 0) / total if total else 0.0)
                for name, field in zip(TIERS, ("nms_tier_1", "nms_tier_2", "otc"), strict=True)
            ],
        }
    captures = list(
        Capture.objects.filter(week_ending=week_ending, tier__in=[tier, ALL_TIERS]).order_by(
            "-captured_at", "-capture_id"
        )
    )
    latest: dict[str, Capture] = {}
    for capture in captures:  # newest first: the first complete one per stage is the latest
        if capture.status == CaptureStatus.COMPLETE:
            latest.setdefault(capture.stage, capture)
    order = {stage: n for n, stage in enumerate(Stage.values)}
    captures.sort(key=lambda c: order.get(c.stage, 99))  # stable: newest first within a stage
    return WeekPage(
        week_ending=week_ending,
        tier=tier,
        venue_shares=venue_shares,
        tier_hhi=tier_hhi,
        hhi_buckets=buckets,
        most_concentrated=most,
        tier_split=tier_split,
        captures=[CaptureEntry(c, latest.get(c.stage) is c) for c in captures],
    )


# --- the symbol page --------------------------------------------------------------------------


@dataclass(frozen=True)
class SymbolHistory:
    symbol: str
    tier: str
    weeks: list[date]  # oldest first
    #: per week: (hhi, venue count, total volume)
    hhi: dict[date, tuple[float, int, int]]
    #: venue -> week -> share, for the venues with the largest volume over the window
    venue_shares: dict[str, dict[date, float]]


def _latest_capture_ids(*, stage: str, tier: str, since: date, until: date) -> list[str]:
    return list(
        Capture.objects.filter(stage=stage, tier=tier, week_ending__range=(since, until))
        .latest_complete()
        .values_list("capture_id", flat=True)
    )


def symbol_history(
    *, symbol: str, tier: str, weeks: int = 52, venues: int = 5, now: datetime | None = None
) -> SymbolHistory:
    """One symbol's HHI and its largest venues' shares, week by week, over ``weeks`` weeks."""
    until = newest_week(now)
    since = until - timedelta(weeks=weeks - 1)
    hhi_ids = _latest_capture_ids(stage=Stage.HHI, tier=tier, since=since, until=until)
    hhi = {
        week: (value, venue_count, total)
        for week, value, venue_count, total in SymbolHHIRow.objects.filter(
            capture_id__in=hhi_ids, symbol=symbol
        ).values_list("week_ending", "hhi", "venue_count", "total_volume")
    }
    share_ids = _latest_capture_ids(stage=Stage.VENUE_SHARE, tier=tier, since=since, until=until)
    share_rows = list(
        SymbolVenueShareRow.objects.filter(capture_id__in=share_ids, symbol=symbol).values_list(
            "week_ending", "venue_key", "share", "share_quantity"
        )
    )
    volume: Counter[str] = Counter()
    for _, venue, _, quantity in share_rows:
        volume[venue] += quantity
    top = [venue for venue, _ in sorted(volume.items(), key=lambda v: (-v[1], v[0]))[:venues]]
    shares: dict[str, dict[date, float]] = {venue: {} for venue in top}
    for week, venue, share, _ in share_rows:
        if venue in shares:
            shares[venue][week] = share
    seen = sorted(set(hhi) | {week for _, by in shares.items() for week in by})
    return SymbolHistory(symbol, tier, seen, hhi, shares)
