# Over 400 lines: one run in four numbered steps (plan, enqueue, wait, report) that share its rows.
"""The multi-week FINRA scheduler: re-check the last weeks, ingest what changed, report.

One run, for each (week, tier) of the lookback window (or of ``--weeks``):

1. **Plan**: is the week's file due yet (``finra.calendar``)? Not due: reported ``not_due``,
   never an error. Due: it is enqueued, with the latest complete RAW capture noted.
2. **Enqueue** through the backfill service, in one transaction: ``ingest_week`` re-armed
   without force (``reprocess="all", force=False``), so a complete week re-checks its source and
   the ingest records "skipped" when the content is unchanged (revision detection); FAILED and
   CANCELLED items are re-armed too. ``force`` re-ingests whatever the content.
   ``only_stage`` enqueues one stage with ``{"chain": false}`` instead.
3. **Wait** for the enqueued items and the stages the pipelines chain from them (normalize,
   the three calcs, the week's tier split), polling the items, up to ``wait_timeout``. With no
   live worker (no heartbeat within ``HEALTH_MAX_WORKER_AGE_SECONDS``) the items run here.
4. **Report**: per (week, tier) an action (``SchedulerAction``) and the error, a status and an
   exit code for cron: 0 everything due succeeded or was unchanged, 1 some partitions failed
   (the others were still processed), 2 the run could not do its job (database, flags, nothing
   finished before the timeout). Each run but a dry run is recorded in ``SchedulerRun``.

A due week whose source is not there yet (the ingest waits for it) counts as failed for this
run: the week is overdue, and the item keeps waiting in the queue for the file to arrive.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from finra.calendar import (
    PUBLICATION_TIME_ZONE,
    PublicationState,
    configured_publication_state,
    publication_due_at,
)
from finra.models import (
    DOMAIN,
    Capture,
    SchedulerAction,
    SchedulerRun,
    SchedulerRunStatus,
    Stage,
)
from finra.parsing import content_sha256
from finra.selectors import capture_latest, tiers_with_stage
from finra.services.sources import SOURCES
from finra.sources import SourceError
from finra.stages import by_stage
from finra.tiers import TIERS, UnknownTierError, canonical_tier
from finra.weeks import FRIDAY, lookback_week_endings
from workqueue.backfill import BackfillOutcome, work_items_backfill
from workqueue.exceptions import EnqueueError
from workqueue.inprocess import run_due_items_here, worker_alive
from workqueue.models import Execution, ExecutionOutcome, WorkItem
from workqueue.services import Actor
from workqueue.states import WorkState

logger = logging.getLogger(__name__)

DEFAULT_LOOKBACK_WEEKS = 6
DEFAULT_WAIT_TIMEOUT_SECONDS = 45 * 60.0
POLL_SECONDS = 1.0
ACTOR_NAME = "finra-weekly-scheduler"

INGEST = by_stage(Stage.RAW).pipeline
NORMALIZE = by_stage(Stage.NORMALIZED).pipeline
TIER_CALCS = tuple(by_stage(stage).pipeline for stage in (Stage.VENUE_VOLUME, Stage.VENUE_SHARE))
TIER_CALCS += (by_stage(Stage.HHI).pipeline,)
TIER_SPLIT = by_stage(Stage.TIER_SPLIT).pipeline


class Mode(StrEnum):
    RUN = "run"
    DRY_RUN = "dry-run"


class OnlyStage(StrEnum):
    ALL = "all"  # ingest, and the stages the pipelines chain from it
    INGEST = "ingest"  # ingest only (chain: false)
    NORMALIZE = "normalize"  # normalize the latest RAW capture (chain: false)
    CALCS = "calcs"  # the three per-tier calcs and the tier split, on what is normalized


class RunHere(StrEnum):
    AUTO = "auto"  # run the items here when no worker is alive
    ALWAYS = "always"  # run them here (the django-q2 task: it is a worker itself)
    NEVER = "never"  # only wait for workers


class SchedulerConfigError(ValueError):
    """A bad flag or setting: the run does nothing and exits 2."""


# --- flags ---------------------------------------------------------------------------------------

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smh]?)")


def parse_weeks(text: str) -> tuple[date, ...]:
    """The Fridays of ``--weeks 2025-11-28,2025-12-05``, oldest first, each once.

    Any other day is refused with the Friday the user probably meant: a silently shifted week
    would ingest the wrong file under the right-looking key.
    """
    problems: list[str] = []
    weeks: set[date] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            if not _ISO_DATE.fullmatch(part):
                raise ValueError
            day = date.fromisoformat(part)
        except ValueError:
            problems.append(f"{part!r} is not an ISO date (YYYY-MM-DD)")
            continue
        if day.weekday() < FRIDAY:
            friday = day + timedelta(days=FRIDAY - day.weekday())
            problems.append(
                f"{day.isoformat()} is a {day:%A}; the week containing it ends Friday "
                f"{friday.isoformat()}"
            )
        elif day.weekday() > FRIDAY:
            friday = day - timedelta(days=day.weekday() - FRIDAY)
            problems.append(
                f"{day.isoformat()} is a {day:%A}; the week before it ends Friday "
                f"{friday.isoformat()}"
            )
        else:
            weeks.add(day)
    if problems:
        raise SchedulerConfigError("--weeks takes week endings (Fridays): " + "; ".join(problems))
    if not weeks:
        raise SchedulerConfigError("--weeks names no week (e.g. --weeks 2025-11-28,2025-12-05)")
    return tuple(sorted(weeks))


def parse_duration(text: str) -> float:
    """Seconds from ``2700``, ``2700s``, ``45m`` or ``1.5h``."""
    match = _DURATION.fullmatch(str(text).strip().lower())
    if not match:
        raise SchedulerConfigError(
            f"--wait-timeout {text!r} is not a duration (seconds, or e.g. 45m, 2h)"
        )
    value = float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]
    if value <= 0:
        raise SchedulerConfigError("--wait-timeout must be more than zero")
    return value


def parse_tiers(text: str) -> tuple[str, ...]:
    tiers: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            tier = canonical_tier(part)
        except UnknownTierError:
            raise SchedulerConfigError(
                f"--tiers: unknown tier {part!r}; known tiers: {', '.join(TIERS)}"
            ) from None
        if tier not in tiers:
            tiers.append(tier)
    if not tiers:
        raise SchedulerConfigError("--tiers names no tier")
    return tuple(t for t in TIERS if t in tiers)


@dataclass(frozen=True)
class SchedulerOptions:
    weeks: tuple[date, ...] | None = None  # None: the lookback window
    lookback_weeks: int = DEFAULT_LOOKBACK_WEEKS
    mode: Mode = Mode.RUN
    force: bool = False
    only_stage: OnlyStage = OnlyStage.ALL
    source: str = "file"
    tiers: tuple[str, ...] = tuple(TIERS)
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT_SECONDS
    run_here: RunHere = RunHere.AUTO
    poll_seconds: float = POLL_SECONDS

    def __post_init__(self) -> None:
        if self.weeks is None and not 1 <= self.lookback_weeks <= 520:
            raise SchedulerConfigError("--lookback-weeks must be between 1 and 520")
        if self.source not in SOURCES:
            raise SchedulerConfigError(f"--source {self.source!r}: accepted {', '.join(SOURCES)}")

    def as_arguments(self) -> dict[str, Any]:
        return {
            "weeks": [w.isoformat() for w in self.weeks] if self.weeks else None,
            "lookback_weeks": None if self.weeks else self.lookback_weeks,
            "mode": self.mode.value,
            "force": self.force,
            "only_stage": self.only_stage.value,
            "source": self.source,
            "tiers": list(self.tiers),
            "wait_timeout": self.wait_timeout,
        }


# --- the report ------------------------------------------------------------------------------


@dataclass
class PartitionRow:
    """One (week, tier) of a run: what was planned, what happened."""

    week_ending: date
    tier: str
    due_at: datetime
    due: bool
    previous_capture_id: str | None = None  # the latest complete RAW capture before the run
    previous_sha256: str = ""
    captured_sha256: str = ""  # the source sha256 of the capture this run made
    action: SchedulerAction | None = None
    error: str = ""
    capture_id: str | None = None
    item_id: int | None = None
    note: str = ""  # a dry run's "would ..."; a run's extra detail

    @property
    def partition_key(self) -> dict[str, str]:
        return {"tier": self.tier, "week_ending": self.week_ending.isoformat()}

    def settle(self, action: SchedulerAction, error: str = "") -> None:
        if self.action is None:
            self.action, self.error = action, error

    def as_result(self) -> dict[str, Any]:
        return {
            "week_ending": self.week_ending.isoformat(),
            "tier": self.tier,
            "action": self.action.value if self.action else None,
            "error": self.error,
            "capture_id": self.capture_id,
            "previous_capture_id": self.previous_capture_id,
            "item_id": self.item_id,
            "note": self.note,
        }


EXIT_CODES = {
    SchedulerRunStatus.SUCCESS: 0,
    SchedulerRunStatus.PARTIAL: 1,
    SchedulerRunStatus.CRITICAL: 2,
}


@dataclass
class SchedulerReport:
    options: SchedulerOptions | None
    started_at: datetime
    rows: list[PartitionRow] = field(default_factory=list)
    status: SchedulerRunStatus = SchedulerRunStatus.SUCCESS
    message: str = ""
    ran_here: bool = False
    work_item_ids: list[int] = field(default_factory=list)
    run_id: int | None = None
    finished_at: datetime | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    @property
    def counts(self) -> dict[str, int]:
        counts = {action.value: 0 for action in SchedulerAction}
        for row in self.rows:
            if row.action is not None:
                counts[row.action.value] += 1
        return counts

    def weeks_with(self, action: SchedulerAction) -> list[str]:
        return [f"{r.week_ending.isoformat()} {r.tier}" for r in self.rows if r.action == action]

    def summary(self) -> str:
        counts = ", ".join(f"{n} {a.replace('_', ' ')}" for a, n in self.counts.items() if n)
        parts = [counts or "nothing to do"]
        revised = self.weeks_with(SchedulerAction.REVISED)
        if revised:
            parts.append("revised: " + ", ".join(revised))
        if self.message:
            parts.append(self.message)
        return "; ".join(parts)


Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


# --- 1. plan ---------------------------------------------------------------------------------


def schedule_weeks(*, options: SchedulerOptions, now: datetime) -> tuple[date, ...]:
    """The weeks of the run: ``options.weeks``, or the last N completed weeks (New York's
    date, where FINRA's calendar lives)."""
    if options.weeks:
        return options.weeks
    today = now.astimezone(PUBLICATION_TIME_ZONE).date()
    return tuple(lookback_week_endings(today, options.lookback_weeks))


def schedule_plan(*, options: SchedulerOptions, now: datetime) -> list[PartitionRow]:
    """A row per (week, tier), due or not, with the latest complete RAW capture. Reads only."""
    rows = []
    for week_ending in schedule_weeks(options=options, now=now):
        for tier in options.tiers:
            latest = capture_latest(stage=Stage.RAW, week_ending=week_ending, tier=tier)
            state = configured_publication_state(
                week_ending, tier, now=now, has_raw=latest is not None
            )
            row = PartitionRow(
                week_ending=week_ending,
                tier=tier,
                due_at=publication_due_at(
                    week_ending, tier, grace_hours=settings.FINRA_PUBLICATION_GRACE_HOURS
                ),
                due=state is not PublicationState.NOT_YET_DUE,
                previous_capture_id=latest.capture_id if latest else None,
                previous_sha256=latest.source_sha256 if latest else "",
            )
            if not row.due:
                row.settle(SchedulerAction.NOT_DUE)
                row.note = f"due from {row.due_at:%Y-%m-%d %H:%M} UTC"
            rows.append(row)
    return rows


def _file_sha256(row: PartitionRow) -> str:
    """The sha256 the ingest would store for the partition's default file."""
    from finra.sources import files

    content = files.read_week_file(week_ending=row.week_ending, tier=row.tier)
    return content_sha256(content.data)


def dry_run_note(row: PartitionRow, options: SchedulerOptions) -> str:
    """What a run would do for a due row, without writing anything."""
    if options.only_stage is OnlyStage.NORMALIZE:
        if row.previous_capture_id is None:
            return "no RAW capture: nothing to normalize"
        return f"would normalize capture {row.previous_capture_id}"
    if options.only_stage is OnlyStage.CALCS:
        normalized = capture_latest(
            stage=Stage.NORMALIZED, week_ending=row.week_ending, tier=row.tier
        )
        if normalized is None:
            return "no NORMALIZED capture: nothing to compute"
        return f"would compute the calcs of capture {normalized.capture_id}"
    then = "" if options.only_stage is OnlyStage.INGEST else ", then normalize and the calcs"
    if options.source != "file":
        return f"would query the FINRA API (unchanged content is skipped){then}"
    try:
        sha256 = _file_sha256(row)
    except SourceError as exc:
        return f"source not available: {exc}"
    if row.previous_capture_id is None:
        return f"would ingest (first capture){then}"
    if sha256 == row.previous_sha256:
        if options.force:
            return f"would re-ingest (forced; same content as {row.previous_capture_id}){then}"
        return f"unchanged (same sha256 as {row.previous_capture_id}): would skip"
    return f"would revise (content differs from {row.previous_capture_id}){then}"


# --- 2. enqueue -------------------------------------------------------------------------------


def _backfill(pipeline: str, keys: list[dict[str, str]], *, params: dict[str, Any], force: bool):
    return work_items_backfill(
        domain=DOMAIN,
        pipeline=pipeline,
        actor=Actor.system(ACTOR_NAME),
        partitions=keys,
        reprocess="all",
        force=force,
        params=params,
    )


@dataclass
class _Watch:
    """A stage's item the run waits for: done once COMPLETE at or after ``since``."""

    pipeline: str
    partition_key: dict[str, str]
    since: datetime
    done: bool = False


@dataclass
class _Tracking:
    started_at: datetime
    deadline_at: datetime
    chain: bool
    #: Per row (by index): the stages still to watch, in order (each gated by the previous).
    watches: dict[int, list[_Watch]] = field(default_factory=dict)
    #: Per week: the tier split to watch, once its tiers are settled.
    week_watches: dict[date, _Watch] = field(default_factory=dict)
    #: Per row: the start of this run's successful ingest (chained stages run after it).
    ingested_at: dict[int, datetime] = field(default_factory=dict)
    item_ids: list[int] = field(default_factory=list)


def schedule_enqueue(
    *, rows: list[PartitionRow], options: SchedulerOptions, tracking: _Tracking
) -> None:
    """Enqueue the run's items in one transaction per pipeline, noting what to wait for."""
    due = [(index, row) for index, row in enumerate(rows) if row.due and row.action is None]
    if not due:
        return
    chain_off = {"chain": False}
    if options.only_stage in (OnlyStage.ALL, OnlyStage.INGEST):
        params: dict[str, Any] = {"source": options.source}
        if options.only_stage is OnlyStage.INGEST:
            params.update(chain_off)
        _enqueue_for(INGEST, due, params=params, force=options.force, tracking=tracking)
        return
    if options.only_stage is OnlyStage.NORMALIZE:
        ready = []
        for index, row in due:
            if row.previous_capture_id is None:
                row.settle(SchedulerAction.FAILED, "no RAW capture to normalize: ingest it first")
            else:
                ready.append((index, row))
        _enqueue_for(NORMALIZE, ready, params=chain_off, force=False, tracking=tracking)
        return
    ready = []
    for index, row in due:
        normalized = capture_latest(
            stage=Stage.NORMALIZED, week_ending=row.week_ending, tier=row.tier
        )
        if normalized is None:
            row.settle(SchedulerAction.FAILED, "no NORMALIZED capture: normalize it first")
        else:
            row.capture_id = normalized.capture_id
            ready.append((index, row))
    for pipeline in TIER_CALCS:
        _enqueue_for(pipeline, ready, params=chain_off, force=False, tracking=tracking)
    weeks = sorted({row.week_ending for _, row in ready})
    split_weeks = [
        w
        for w in weeks
        if len(tiers_with_stage(stage=Stage.NORMALIZED, week_ending=w)) == len(TIERS)
    ]
    if split_weeks:
        result = _backfill(
            TIER_SPLIT,
            [{"week_ending": w.isoformat()} for w in split_weeks],
            params=chain_off,
            force=False,
        )
        for partition in result.partitions:
            week = date.fromisoformat(partition.partition_key["week_ending"])
            tracking.week_watches[week] = _Watch(
                TIER_SPLIT, partition.partition_key, since=tracking.started_at
            )
            if partition.item_id is not None:
                tracking.item_ids.append(partition.item_id)


def _enqueue_for(
    pipeline: str,
    rows: list[tuple[int, PartitionRow]],
    *,
    params: dict[str, Any],
    force: bool,
    tracking: _Tracking,
) -> None:
    if not rows:
        return
    result = _backfill(pipeline, [row.partition_key for _, row in rows], params=params, force=force)
    by_key = {
        (p.partition_key["week_ending"], p.partition_key["tier"]): p for p in result.partitions
    }
    for index, row in rows:
        partition = by_key[(row.week_ending.isoformat(), row.tier)]
        if partition.outcome is BackfillOutcome.REFUSED:  # not with reprocess="all"; be explicit
            row.settle(SchedulerAction.FAILED, partition.reason)
            continue
        if pipeline == INGEST or row.item_id is None:
            row.item_id = partition.item_id
        if partition.item_id is not None:
            tracking.item_ids.append(partition.item_id)
        tracking.watches.setdefault(index, []).append(
            _Watch(pipeline, row.partition_key, since=tracking.started_at)
        )


# --- 3. wait ----------------------------------------------------------------------------------


def _item(watch: _Watch) -> WorkItem | None:
    return WorkItem.objects.for_partition(
        domain=DOMAIN, pipeline=watch.pipeline, partition_key=watch.partition_key
    ).first()


def _watch_state(watch: _Watch, *, deadline_at: datetime) -> tuple[str, str]:
    """("done" | "failed" | "waiting", error) for one watched stage."""
    item = _item(watch)
    if item is None:
        return "waiting", ""
    if item.state == WorkState.COMPLETE and item.completed_at and item.completed_at >= watch.since:
        return "done", ""
    if item.state in (WorkState.FAILED, WorkState.CANCELLED):
        return "failed", f"{watch.pipeline}: {item.state}: {item.last_error or 'no error recorded'}"
    if item.state == WorkState.RETRY_WAIT:
        if watch.pipeline == INGEST and item.waiting_for and item.updated_at >= watch.since:
            # This run found nothing at the source for a due week: it is overdue. The item
            # keeps waiting for the file in the queue; an item that was already waiting before
            # the run gets its next check first.
            return "failed", f"source not available (the item keeps waiting): {item.waiting_for}"
        if item.next_attempt_at and item.next_attempt_at > deadline_at:
            return "failed", (
                f"{watch.pipeline}: {item.last_error or 'failed'} (next attempt at "
                f"{item.next_attempt_at:%Y-%m-%d %H:%M} UTC, after this run's wait)"
            )
    return "waiting", ""


def _ingest_execution(row: PartitionRow, since: datetime) -> Execution | None:
    return (
        Execution.objects.filter(work_item_id=row.item_id, started_at__gte=since)
        .exclude(outcome__in=[ExecutionOutcome.RUNNING, ExecutionOutcome.DEPENDENCY_WAIT])
        .order_by("-attempt", "-id")
        .first()
    )


def _changed_action(row: PartitionRow) -> SchedulerAction:
    """Revised only when the content differs: a forced re-ingest of the same file is ingested."""
    if row.previous_capture_id and row.captured_sha256 != row.previous_sha256:
        return SchedulerAction.REVISED
    return SchedulerAction.INGESTED


def schedule_poll(*, rows: list[PartitionRow], tracking: _Tracking) -> bool:
    """Advance every row by what its items did; True once nothing is left to wait for."""
    for index, watches in tracking.watches.items():
        row = rows[index]
        while watches and row.action is None:
            watch = watches[0]
            state, error = _watch_state(watch, deadline_at=tracking.deadline_at)
            if state == "waiting":
                break
            if state == "failed":
                row.settle(SchedulerAction.FAILED, error)
                break
            watches.pop(0)
            if watch.pipeline == INGEST:
                _ingest_done(index, row, watches, tracking)
        if row.action is None and not watches:
            # An ingest that skipped settled the row already; what is left changed something.
            row.settle(
                _changed_action(row) if index in tracking.ingested_at else SchedulerAction.PROCESSED
            )
    for week_ending in sorted({r.week_ending for r in rows}):
        _poll_week(week_ending, rows, tracking)
    return all(r.action is not None for r in rows) and all(
        w.done for w in tracking.week_watches.values()
    )


def _ingest_done(index: int, row: PartitionRow, watches: list[_Watch], tracking: _Tracking):
    execution = _ingest_execution(row, tracking.started_at)
    if execution is None or execution.outcome == ExecutionOutcome.SKIPPED:
        row.capture_id = row.previous_capture_id
        row.settle(SchedulerAction.UNCHANGED)
        return
    row.capture_id = execution.capture_id
    row.captured_sha256 = (
        Capture.objects.filter(capture_id=execution.capture_id, stage=Stage.RAW)
        .values_list("source_sha256", flat=True)
        .first()
        or ""
    )
    tracking.ingested_at[index] = execution.started_at
    if tracking.chain:
        # Each stage is re-armed by its upstream before that upstream's item completes, so a
        # stage item COMPLETE since the ingest started is this run's.
        watches.append(_Watch(NORMALIZE, row.partition_key, since=execution.started_at))
        for pipeline in TIER_CALCS:
            watches.append(_Watch(pipeline, row.partition_key, since=execution.started_at))


def _poll_week(week_ending: date, rows: list[PartitionRow], tracking: _Tracking) -> None:
    """The week's tier split: watched once its tiers' own stages are settled, when the run
    changed one of them (chained) or enqueued it (``only_stage=calcs``)."""
    week_rows = [(i, r) for i, r in enumerate(rows) if r.week_ending == week_ending]
    if any(r.action is None for _, r in week_rows):
        return
    changed = [
        i for i, r in week_rows if i in tracking.ingested_at and r.action != SchedulerAction.FAILED
    ]
    watch = tracking.week_watches.get(week_ending)
    if watch is None and tracking.chain and changed:
        if len(tiers_with_stage(stage=Stage.NORMALIZED, week_ending=week_ending)) < len(TIERS):
            return  # a tier was never ingested: no tier split for the week
        since = min(tracking.ingested_at[i] for i in changed)
        watch = tracking.week_watches[week_ending] = _Watch(
            TIER_SPLIT, {"week_ending": week_ending.isoformat()}, since=since
        )
    if watch is None or watch.done:
        return
    state, error = _watch_state(watch, deadline_at=tracking.deadline_at)
    if state == "waiting":
        return
    watch.done = True
    if state == "failed":
        for _, row in week_rows:
            if row.action in (SchedulerAction.INGESTED, SchedulerAction.REVISED) or (
                not tracking.chain and row.item_id is not None
            ):
                row.action, row.error = SchedulerAction.FAILED, error


def schedule_wait(
    *,
    rows: list[PartitionRow],
    tracking: _Tracking,
    options: SchedulerOptions,
    run_here: bool,
    log: Log,
) -> bool:
    """Poll until every row is settled or the wait times out (False); with ``run_here``, run
    the due items in this process between polls."""
    deadline = time.monotonic() + options.wait_timeout
    while True:
        if schedule_poll(rows=rows, tracking=tracking):
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        if run_here:
            ran = run_due_items_here(time_budget=min(remaining, 30.0))
            if ran:
                log(f"ran {ran} item(s) in this process")
                continue
        time.sleep(min(options.poll_seconds, max(remaining, 0)))


def _timed_out(rows: list[PartitionRow], tracking: _Tracking, options: SchedulerOptions) -> str:
    ids = tracking.item_ids
    never_claimed = WorkItem.objects.filter(
        pk__in=ids, state=WorkState.PENDING, attempt_count=0
    ).count()
    for row in rows:
        row.settle(
            SchedulerAction.FAILED,
            f"not finished within the wait timeout ({options.wait_timeout:g}s)",
        )
    waited = f"{options.wait_timeout:g}s"
    if never_claimed and never_claimed == WorkItem.objects.filter(pk__in=ids).count():
        return f"no worker took the work within {waited}: start `manage.py qcluster`"
    return f"the work did not finish within {waited} ({never_claimed} item(s) never claimed)"


# --- 4. the run -------------------------------------------------------------------------------


def weekly_schedule_run(
    *, options: SchedulerOptions, now: datetime | None = None, log: Log | None = None
) -> SchedulerReport:
    """Run the scheduler once (see the module docstring); never raises for a partition's
    failure, and turns an unreachable database into a CRITICAL report."""
    log = log or _quiet
    now = now or timezone.now()
    report = SchedulerReport(options=options, started_at=now)
    try:
        SchedulerRun.objects.exists()
    except DatabaseError as exc:
        return _critical(
            report, f"database unreachable (or not migrated: manage.py migrate): {_first_line(exc)}"
        )
    if options.mode is Mode.DRY_RUN:
        report.rows = schedule_plan(options=options, now=now)
        for row in report.rows:
            if row.action is None:
                row.note = dry_run_note(row, options)
        report.finished_at = timezone.now()
        return report

    run = SchedulerRun.objects.create(
        started_at=now, arguments=options.as_arguments(), host=socket.gethostname()
    )
    report.run_id = run.pk
    try:
        _run(report, options=options, now=now, log=log)
    except DatabaseError as exc:
        report.status, report.message = (
            SchedulerRunStatus.CRITICAL,
            f"database error: {_first_line(exc)}",
        )
    except EnqueueError as exc:
        report.status, report.message = SchedulerRunStatus.CRITICAL, f"enqueue refused: {exc}"
    report.finished_at = timezone.now()
    try:
        _record(run, report)
    except DatabaseError:
        logger.exception("could not record scheduler run %s", run.pk)
    return report


def _run(report: SchedulerReport, *, options: SchedulerOptions, now: datetime, log: Log) -> None:
    report.rows = rows = schedule_plan(options=options, now=now)
    due = sum(1 for r in rows if r.due)
    log(f"{len(rows)} partition(s), {due} due; stage {options.only_stage.value}")
    tracking = _Tracking(
        started_at=now,
        deadline_at=timezone.now() + timedelta(seconds=options.wait_timeout),
        chain=options.only_stage is OnlyStage.ALL,
    )
    schedule_enqueue(rows=rows, options=options, tracking=tracking)
    report.work_item_ids = sorted(set(tracking.item_ids))
    log(f"enqueued or re-armed {len(report.work_item_ids)} item(s)")
    if report.work_item_ids:
        if options.run_here is RunHere.ALWAYS:
            report.ran_here = True
        elif options.run_here is RunHere.AUTO:
            report.ran_here = not worker_alive()
        if report.ran_here:
            log("no live worker: running the items in this process")
        finished = schedule_wait(
            rows=rows, tracking=tracking, options=options, run_here=report.ran_here, log=log
        )
        if not finished:
            report.status = SchedulerRunStatus.CRITICAL
            report.message = _timed_out(rows, tracking, options)
            return
    for row in rows:  # nothing was enqueued for it and nothing settled it: say so
        row.settle(SchedulerAction.FAILED, "nothing was enqueued for this partition")
    if any(r.action == SchedulerAction.FAILED for r in rows):
        report.status = SchedulerRunStatus.PARTIAL
    if report.ran_here:
        report.message = "ran the items in this process (no live worker)"


def _record(run: SchedulerRun, report: SchedulerReport) -> None:
    run.status = report.status
    run.exit_code = report.exit_code
    run.finished_at = report.finished_at
    run.counts = report.counts
    run.results = [row.as_result() for row in report.rows]
    run.work_item_ids = report.work_item_ids
    run.message = report.summary()
    run.save()


def _critical(report: SchedulerReport, message: str) -> SchedulerReport:
    report.status, report.message = SchedulerRunStatus.CRITICAL, message
    report.finished_at = timezone.now()
    return report


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def weekly_schedule_refused(*, arguments: dict[str, Any], message: str) -> int | None:
    """Record a run refused for its flags or configuration as CRITICAL (exit 2), when the
    database is reachable; returns the run's id, or None when it could not be recorded."""
    now = timezone.now()
    try:
        run = SchedulerRun.objects.create(
            started_at=now,
            finished_at=now,
            status=SchedulerRunStatus.CRITICAL,
            exit_code=EXIT_CODES[SchedulerRunStatus.CRITICAL],
            arguments=arguments,
            counts={action.value: 0 for action in SchedulerAction},
            message=message,
            host=socket.gethostname(),
        )
    except DatabaseError:
        return None
    return run.pk


def report_table(rows: Iterable[PartitionRow], *, dry_run: bool = False) -> list[str]:
    """The per (week, tier) table the command prints."""
    header = ("week_ending", "tier", "would" if dry_run else "action", "detail")
    lines = []
    body = []
    for row in rows:
        if dry_run and row.action is None:
            action, detail = "due", row.note
        else:
            action = (row.action or "").replace("_", " ")
            detail = row.error or row.note or (row.capture_id or "")
        body.append((row.week_ending.isoformat(), row.tier, action, detail))
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(3)]
    for cells in [header, *body]:
        lines.append(
            "  ".join(c.ljust(w) for c, w in zip(cells[:3], widths, strict=True)) + "  " + cells[3]
        )
    return [line.rstrip() for line in lines]
