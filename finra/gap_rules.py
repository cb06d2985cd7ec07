"""Which (week, tier, stage) partitions are missing, and what would fill each one.

Pure: the caller passes the weeks, which stages the manifest holds, the work items it found and
``now``; nothing here reads the database or the clock (``finra.gaps`` does the reads). A gap is
a stage with no manifest row for its partition: per tier for every stage but the tier split,
per week for the tier split (reported under the tier ``ALL``, as its captures are).

A gap is **overdue** once its week and tier are due (``finra.calendar.publication_due_at``,
grace included): the tier split once all three tiers are. Every missing stage of a due
partition is overdue, downstream stages included, since nothing else would make them appear.

Each gap names its *roots*: the earliest missing stages it waits for. A root is a gap whose
upstream stage is present (or that has none: RAW), so running its pipeline makes progress, and
the pipelines' chaining runs the rest. Filling the roots of every overdue gap fills them all.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from finra.calendar import publication_due_at
from finra.models import ALL_TIERS, Stage
from finra.stages import STAGES, PartitionShape, StageSpec, by_stage
from finra.tiers import TIERS, canonical_tier
from workqueue.fields import canonical_json
from workqueue.states import WorkState

#: Characters of an item's last error quoted in a remediation.
ERROR_EXCERPT = 120


class GapStatus(StrEnum):
    OVERDUE = "overdue"
    NOT_YET_DUE = "not_yet_due"


@dataclass(frozen=True)
class ItemInfo:
    """What a gap report shows of the work item of a stage's pipeline for a partition."""

    item_id: int
    state: str
    last_error: str | None = None
    attempt_count: int = 0
    max_attempts: int = 0
    next_attempt_at: datetime | None = None


@dataclass(frozen=True)
class Root:
    """A missing stage that can run now: its upstream is present (or it has none)."""

    stage: str
    tier: str
    pipeline: str
    partition_key: dict[str, str]
    item: ItemInfo | None

    @property
    def fixable(self) -> bool:
        """Whether enqueueing fills it: no item yet, or one that FAILED (re-armed)."""
        return self.item is None or self.item.state == WorkState.FAILED


@dataclass(frozen=True)
class Gap:
    week_ending: date
    tier: str  # canonical tier, or ALL for the tier split
    stage: str
    pipeline: str
    partition_key: dict[str, str]
    status: GapStatus
    due_at: datetime
    item: ItemInfo | None
    roots: tuple[Root, ...] = field(default=())
    remediation: str = ""

    @property
    def overdue(self) -> bool:
        return self.status is GapStatus.OVERDUE


def partition_key(spec: StageSpec, week_ending: date, tier: str) -> dict[str, str]:
    if spec.partition is PartitionShape.WEEK:
        return {"week_ending": week_ending.isoformat()}
    return {"tier": tier, "week_ending": week_ending.isoformat()}


def partition_keys(weeks: Iterable[date]) -> list[str]:
    """Every partition key (canonical text) a report over ``weeks`` may look up."""
    keys = []
    for week_ending in weeks:
        keys.extend(
            canonical_json(partition_key(spec, week_ending, tier))
            for spec in (STAGES[0], by_stage(Stage.TIER_SPLIT))
            for tier in (TIERS if spec.partition is PartitionShape.TIER else (ALL_TIERS,))
        )
    return keys


def due_at(spec: StageSpec, week_ending: date, tier: str, *, grace_hours: int) -> datetime:
    """When the stage's partition becomes due: the tier's due moment, or for a stage over the
    whole week the latest due moment of the three tiers."""
    if spec.partition is PartitionShape.WEEK:
        return max(publication_due_at(week_ending, t, grace_hours=grace_hours) for t in TIERS)
    return publication_due_at(week_ending, tier, grace_hours=grace_hours)


def _describe_item(root: Root) -> str:
    item = root.item
    if item is None:
        return f"enqueue {root.pipeline}"
    label = f"work item #{item.item_id}"
    error = ""
    if item.last_error:
        first_line = item.last_error.strip().splitlines()[0] if item.last_error.strip() else ""
        if len(first_line) > ERROR_EXCERPT:
            first_line = first_line[: ERROR_EXCERPT - 3] + "..."
        error = f": {first_line}"
    if item.state == WorkState.FAILED:
        return f"retry {label} ({item.state}{error})"
    if item.state == WorkState.CANCELLED:
        return f"retry {label} (CANCELLED by hand; fill it only if that was a mistake)"
    if item.state == WorkState.COMPLETE:
        return f"reprocess {label} (COMPLETE, but no {root.stage} in the manifest)"
    if item.state == WorkState.RETRY_WAIT and item.next_attempt_at is not None:
        when = item.next_attempt_at.strftime("%Y-%m-%d %H:%M UTC")
        return f"wait: {label} is RETRY_WAIT until {when}{error}"
    return f"wait: {label} is {item.state}"


def _describe_root(root: Root, *, status: GapStatus, due: datetime) -> str:
    if status is GapStatus.NOT_YET_DUE and root.item is None:
        return f"not due before {due:%Y-%m-%d %H:%M} UTC"
    return _describe_item(root)


def remediation(gap: Gap) -> str:
    """What to do about a gap, in words: its own action when it is a root, otherwise what it
    waits for and what would fill that."""
    if len(gap.roots) == 1 and gap.roots[0].stage == gap.stage and gap.roots[0].tier == gap.tier:
        return _describe_root(gap.roots[0], status=gap.status, due=gap.due_at)
    parts = []
    for root in gap.roots:
        where = root.stage if root.tier == gap.tier else f"{root.stage} of {root.tier}"
        parts.append(f"{where} ({_describe_root(root, status=gap.status, due=gap.due_at)})")
    return "waits for " + ", ".join(parts)


def find_gaps(
    *,
    weeks: Sequence[date],
    present: Collection[tuple[str, str]],
    items: Mapping[tuple[str, str], ItemInfo],
    now: datetime,
    grace_hours: int,
    tiers: Collection[str] | None = None,
    stages: Collection[str] | None = None,
) -> list[Gap]:
    """The missing stages of ``weeks``, oldest week first, then tier and stage order.

    ``present`` holds ``(stage, partition key text)`` of the manifest rows found; ``items``
    maps ``(pipeline, partition key text)`` to the work item. ``tiers`` (canonical tiers and
    ``ALL``) and ``stages`` narrow what is returned, not what is looked at: a gap's roots may
    lie in a stage or a tier outside the filter. ``now`` must be time-zone aware.
    """
    if now.utcoffset() is None:
        raise ValueError(f"now must be time-zone aware, not naive {now.isoformat()}")
    present = set(present)

    def missing(spec: StageSpec, week_ending: date, tier: str) -> bool:
        key = canonical_json(partition_key(spec, week_ending, tier))
        return (spec.stage, key) not in present

    def roots_of(spec: StageSpec, week_ending: date, tier: str) -> list[Root]:
        if spec.upstream is not None:
            upstream = by_stage(spec.upstream)
            upstream_tiers = TIERS if spec.partition is PartitionShape.WEEK else (tier,)
            blocked = [t for t in upstream_tiers if missing(upstream, week_ending, t)]
            if blocked:
                return [r for t in blocked for r in roots_of(upstream, week_ending, t)]
        key = partition_key(spec, week_ending, tier)
        return [
            Root(
                stage=spec.stage,
                tier=tier,
                pipeline=spec.pipeline,
                partition_key=key,
                item=items.get((spec.pipeline, canonical_json(key))),
            )
        ]

    gaps = []
    for week_ending in weeks:
        for tier in (*TIERS, ALL_TIERS):
            if tiers is not None and tier not in tiers:
                continue
            for spec in STAGES:
                if (spec.partition is PartitionShape.WEEK) != (tier == ALL_TIERS):
                    continue
                if stages is not None and spec.stage not in stages:
                    continue
                if not missing(spec, week_ending, tier):
                    continue
                due = due_at(spec, week_ending, tier, grace_hours=grace_hours)
                key = partition_key(spec, week_ending, tier)
                gap = Gap(
                    week_ending=week_ending,
                    tier=tier,
                    stage=spec.stage,
                    pipeline=spec.pipeline,
                    partition_key=key,
                    status=GapStatus.OVERDUE if now >= due else GapStatus.NOT_YET_DUE,
                    due_at=due,
                    item=items.get((spec.pipeline, canonical_json(key))),
                    roots=tuple(roots_of(spec, week_ending, tier)),
                )
                gaps.append(_with_remediation(gap))
    return gaps


def _with_remediation(gap: Gap) -> Gap:
    return Gap(**{**gap.__dict__, "remediation": remediation(gap)})


def fix_targets(gaps: Iterable[Gap]) -> dict[str, list[dict[str, Any]]]:
    """Per pipeline, the partitions to enqueue to fill the overdue gaps: their fixable roots,
    each once, in the order the gaps name them."""
    targets: dict[str, dict[str, dict[str, Any]]] = {}
    for gap in gaps:
        if not gap.overdue:
            continue
        for root in gap.roots:
            if root.fixable:
                keys = targets.setdefault(root.pipeline, {})
                keys.setdefault(canonical_json(root.partition_key), root.partition_key)
    return {pipeline: list(keys.values()) for pipeline, keys in targets.items()}


def gap_tiers(values: Iterable[str]) -> set[str]:
    """Tiers to report, any FINRA spelling, ``ALL`` for the tier split; UnknownTierError."""
    tiers = set()
    for value in values:
        text = value.strip()
        if not text:
            continue
        tiers.add(ALL_TIERS if text.upper() == ALL_TIERS else canonical_tier(text))
    return tiers


def gap_stages(values: Iterable[str]) -> set[str]:
    """Stages to report, any case; KeyError naming the known stages."""
    return {by_stage(value.strip().upper()).stage for value in values if value.strip()}
