"""One description of each FINRA stage: its pipeline, what it reads, writes and computes.

Everything else follows from ``STAGES``: the pipelines register from it (``finra.pipelines``),
one envelope runs every derived stage from it (``finra.services.derived``), the data API and
the selectors map a dataset to its stage with ``DATASET_STAGES``, the ``_latest`` views and
the PostgreSQL capture partitions cover ``DATASET_TABLES``. A stage's upstream is declared here
and nowhere else.

Importing this module has no side effects and touches no database: a scheduler, a backfill or
an admin page may read the specs freely. Migrations do not read them (they keep literal copies
of the tables they knew), so adding a stage never changes what an old migration does.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from django.db import models

from finra.models import (
    Capture,
    NormalizedRow,
    RawRow,
    RejectRow,
    Stage,
    SymbolHHIRow,
    SymbolVenueShareRow,
    TierHHIRow,
    TierSplitRow,
    VenueShareRow,
    VenueVolumeRow,
)
from finra.sql import stages as sql

if TYPE_CHECKING:
    from finra.storage import CaptureTarget


class PartitionShape(enum.Enum):
    """What one capture (and one manifest row) of a stage covers."""

    #: One tier's week, ``{"week_ending", "tier"}``: the capture id is the ingest's.
    TIER = "tier"
    #: One week across the tiers, ``{"week_ending"}``: a capture id of its own (tier ``ALL``),
    #: made from the latest upstream capture of every tier; its rows name each one in
    #: ``<tier>_capture_id``.
    WEEK = "week"


@dataclass(frozen=True)
class StageRun:
    """What a derived stage's compute function gets: the capture it writes, its upstream
    captures (one per tier it reads) and a write target per table of the stage."""

    capture_id: str
    week_ending: date
    tier: str
    upstream: dict[str, Capture]
    targets: dict[type[models.Model], CaptureTarget]

    @property
    def source(self) -> Capture:
        """The upstream capture of a per-tier stage."""
        return self.upstream[self.tier]


@dataclass(frozen=True)
class Computed:
    """What a compute function wrote: the rows, the capture's metrics, the run's message.

    ``manifest_metrics`` (the manifest row's and the outcome's details) default to ``metrics``.
    """

    rows: int
    metrics: dict[str, Any]
    message: str
    manifest_metrics: dict[str, Any] | None = None


@dataclass(frozen=True)
class StageSpec:
    stage: str
    pipeline: str
    description: str
    partition: PartitionShape
    #: The stage whose latest complete capture this one is computed from (None: ingest).
    upstream: str | None
    #: The tables the stage writes, one capture of each per run.
    models: tuple[type[models.Model], ...]
    #: Derived stages: computes ``models`` from the upstream captures (``finra.sql.stages``).
    compute: Callable[[StageRun], Computed] | None = None
    #: Views over other stages' rows that belong to this stage's captures.
    views: tuple[type[models.Model], ...] = ()
    #: A per-tier stage whose pipeline also takes ``{"week_ending"}`` alone, then runs for
    #: every tier whose upstream stage is complete for the week.
    any_tier: bool = False

    @property
    def rank(self) -> int:
        return STAGE_ORDER.index(self.stage) + 1

    @property
    def datasets(self) -> tuple[type[models.Model], ...]:
        """Every model whose rows belong to this stage's captures."""
        return self.models + self.views


# --- how each derived stage computes ----------------------------------------------------------


def _normalized(run: StageRun) -> Computed:
    rows, raw_rows = sql.normalize_capture(
        raw_capture_id=run.source.capture_id,
        capture_id=run.capture_id,
        target=run.targets[NormalizedRow],
        hints=run.source.metrics.get("normalize_hints"),
    )
    return Computed(
        rows=rows,
        metrics={"merged_duplicates": raw_rows - rows, "raw_rows": raw_rows},
        message=f"{rows:,} (symbol, venue) rows from {raw_rows:,} raw rows",
    )


def _tier_calc(
    stage: str, counts: dict[type[models.Model], int], run: StageRun, **extra: Any
) -> Computed:
    rows = sum(counts.values())
    return Computed(
        rows=rows,
        metrics={"rows": {m._meta.db_table: n for m, n in counts.items()}, **extra},
        message=f"{stage} of {run.tier} {run.week_ending}: {rows:,} rows",
    )


def _venue_volume(run: StageRun) -> Computed:
    counts = sql.venue_volume(capture_id=run.capture_id, targets=run.targets)
    return _tier_calc(Stage.VENUE_VOLUME, counts, run)


def _venue_share(run: StageRun) -> Computed:
    counts = sql.venue_share(capture_id=run.capture_id, targets=run.targets)
    # The symbol venue shares (a view) have one row per normalized row.
    counts[SymbolVenueShareRow] = run.source.row_count
    return _tier_calc(Stage.VENUE_SHARE, counts, run)


def _hhi(run: StageRun) -> Computed:
    counts, tier_hhi = sql.hhi(capture_id=run.capture_id, targets=run.targets)
    return _tier_calc(Stage.HHI, counts, run, tier_hhi=tier_hhi)


def _tier_split(run: StageRun) -> Computed:
    used = {tier: capture.capture_id for tier, capture in run.upstream.items()}
    rows = sql.tier_split(
        target=run.targets[TierSplitRow],
        used=used,
        rows={tier: capture.row_count for tier, capture in run.upstream.items()},
    )
    return Computed(
        rows=rows,
        metrics={},
        manifest_metrics={"normalized_captures": used},
        message=f"tier split of {rows:,} symbols for week {run.week_ending.isoformat()}",
    )


# --- the stages, in order ---------------------------------------------------------------------

STAGES: tuple[StageSpec, ...] = (
    StageSpec(
        stage=Stage.RAW,
        pipeline="ingest_week",
        description="Fetch and parse a week's file for one tier and store it as a RAW capture.",
        partition=PartitionShape.TIER,
        upstream=None,
        models=(RawRow, RejectRow),
    ),
    StageSpec(
        stage=Stage.NORMALIZED,
        pipeline="normalize_week",
        description=(
            "Normalize the latest RAW capture of a week and tier: one row per (symbol, venue)."
        ),
        partition=PartitionShape.TIER,
        upstream=Stage.RAW,
        models=(NormalizedRow,),
        compute=_normalized,
    ),
    StageSpec(
        stage=Stage.VENUE_VOLUME,
        pipeline="compute_venue_volume",
        description=(
            "Per venue: shares, trades and symbols traded (one tier, or every normalized tier)."
        ),
        partition=PartitionShape.TIER,
        upstream=Stage.NORMALIZED,
        models=(VenueVolumeRow,),
        compute=_venue_volume,
        any_tier=True,
    ),
    StageSpec(
        stage=Stage.VENUE_SHARE,
        pipeline="compute_venue_share",
        description="Venue share of the tier's volume and of each symbol's volume.",
        partition=PartitionShape.TIER,
        upstream=Stage.NORMALIZED,
        models=(VenueShareRow,),
        views=(SymbolVenueShareRow,),
        compute=_venue_share,
        any_tier=True,
    ),
    StageSpec(
        stage=Stage.HHI,
        pipeline="compute_hhi",
        description="HHI venue concentration per symbol and for the whole tier.",
        partition=PartitionShape.TIER,
        upstream=Stage.NORMALIZED,
        models=(SymbolHHIRow, TierHHIRow),
        compute=_hhi,
        any_tier=True,
    ),
    StageSpec(
        stage=Stage.TIER_SPLIT,
        pipeline="compute_tier_split",
        description="Each symbol's volume per tier from each tier's latest normalized capture.",
        partition=PartitionShape.WEEK,
        upstream=Stage.NORMALIZED,
        models=(TierSplitRow,),
        compute=_tier_split,
    ),
)

STAGE_ORDER: tuple[str, ...] = tuple(spec.stage for spec in STAGES)

_BY_STAGE = {spec.stage: spec for spec in STAGES}
_BY_PIPELINE = {spec.pipeline: spec for spec in STAGES}


def by_stage(stage: str) -> StageSpec:
    """The spec of ``stage``; KeyError naming the known stages otherwise."""
    try:
        return _BY_STAGE[stage]
    except KeyError:
        raise KeyError(f"unknown FINRA stage {stage!r}; known: {', '.join(STAGE_ORDER)}") from None


def by_pipeline(name: str) -> StageSpec:
    """The spec of the stage pipeline ``name`` writes; KeyError otherwise."""
    try:
        return _BY_PIPELINE[name]
    except KeyError:
        raise KeyError(f"no FINRA stage is written by pipeline {name!r}") from None


def downstream_of(stage: str) -> tuple[StageSpec, ...]:
    """The stages computed directly from ``stage``, in stage order."""
    return tuple(spec for spec in STAGES if spec.upstream == stage)


#: Dataset model -> the stage whose captures its rows belong to (tables and views).
DATASET_STAGES: dict[type[models.Model], str] = {
    model: spec.stage for spec in STAGES for model in spec.datasets
}

#: Dataset table -> its stage, for the tables the stages write (not the views over them).
DATASET_TABLES: dict[str, str] = {
    model._meta.db_table: spec.stage for spec in STAGES for model in spec.models
}
