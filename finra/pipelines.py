"""The six FINRA pipelines, registered with the work queue, and how they chain.

Each pipeline is a thin wrapper: validate the partition, call the stage's service in
``finra.services``, enqueue what comes next. Chaining: ``ingest_week`` -> ``normalize_week`` ->
``compute_venue_volume`` + ``compute_venue_share`` + ``compute_hhi`` for the tier, and
``compute_tier_split`` once all three tiers of the week are normalized. Downstream items are
enqueued with ``reprocess=True`` when the upstream capture changed, so a restatement re-runs
what was already COMPLETE; an active (queued or running) downstream item is left alone, so
enqueueing every phase by hand, as the operations guide does, works too.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from finra import services
from finra.models import DOMAIN, STAGES, Stage
from finra.tiers import TIERS, UnknownTierError, canonical_tier
from finra.weeks import InvalidWeekEnding, parse_week_ending
from workqueue.pipelines import (
    DependencyNotReady,
    InvalidPartitionKey,
    NonRetryableError,
    PipelineContext,
    PipelineResult,
    register_pipeline,
    registry,
)
from workqueue.services import Actor, EnqueueRequest, work_items_enqueue

registry.register_stages(DOMAIN, STAGES)

CALC_PIPELINES: dict[str, str] = {
    "compute_venue_volume": Stage.VENUE_VOLUME,
    "compute_venue_share": Stage.VENUE_SHARE,
    "compute_hhi": Stage.HHI,
}


# --- partition keys ---------------------------------------------------------------------------


def validate_partition(key: dict[str, Any]) -> dict[str, Any]:
    """Canonical form of a FINRA partition key: ISO Friday, canonical tier (when present).

    ``{"tier": "T1"}`` and ``{"tier": "NMS_TIER_1"}`` become one partition. The messages are
    the API's contract (clients match on them), so they are spelled out here.
    """
    canonical: dict[str, Any] = {}
    raw_week = key["week_ending"]
    try:
        canonical["week_ending"] = parse_week_ending(raw_week).isoformat()
    except InvalidWeekEnding as exc:
        try:
            day = date.fromisoformat(raw_week) if isinstance(raw_week, str) else None
        except ValueError:
            day = None
        if day is not None and len(raw_week) == 10:
            raise InvalidPartitionKey(
                f"week_ending {day.isoformat()} is a {day:%A}; it must be a Friday",
                fields={"week_ending": "must be a Friday"},
            ) from None
        raise InvalidPartitionKey(str(exc), fields={"week_ending": "not an ISO date"}) from None
    if "tier" in key:
        try:
            canonical["tier"] = canonical_tier(key["tier"])
        except UnknownTierError:
            raise InvalidPartitionKey(
                f"unknown tier {key['tier']!r}; known tiers: {', '.join(TIERS)}",
                fields={"tier": "unknown tier"},
            ) from None
    return canonical


def _week(context: PipelineContext) -> date:
    return parse_week_ending(context.partition_key["week_ending"])


def _tier(context: PipelineContext) -> str | None:
    """The partition's tier, checked against ``params.tier`` when both are given.

    The operations guide's cron script sends ``"params": {"tier": ...}`` beside the partition
    key: accepted when it names the same tier (in any spelling), refused when it disagrees,
    since one of the two is wrong and guessing which would ingest the wrong file.
    """
    key_tier = context.partition_key.get("tier")
    tier = canonical_tier(key_tier) if key_tier is not None else None
    if "tier" in context.params and context.params["tier"] is not None:
        param_tier = services.tier_param(context.params["tier"])
        if tier is not None and param_tier != tier:
            raise NonRetryableError(
                f"params.tier {context.params['tier']!r} ({param_tier}) disagrees with the "
                f"partition's tier {tier}; fix one of them and enqueue again"
            )
        tier = param_tier
    return tier


# --- chaining ---------------------------------------------------------------------------------


def _enqueue_next(
    context: PipelineContext, pipelines: list[tuple[str, dict[str, str]]], *, reprocess: bool
) -> None:
    if not pipelines:
        return
    work_items_enqueue(
        requests=[
            EnqueueRequest(
                domain=DOMAIN,
                pipeline=name,
                partition_key=key,
                priority=context.item.priority,
                reprocess=reprocess,
            )
            for name, key in pipelines
        ],
        actor=Actor.system(f"pipeline:{context.pipeline.name}"),
    )


def _after_normalized(context: PipelineContext, week_ending: date, tier: str) -> None:
    key = services.tier_partition_key(week_ending, tier)
    downstream = [(name, key) for name in CALC_PIPELINES]
    # Checked after our own commit: of several tiers finishing at once, the last to commit
    # sees all three and queues the split.
    normalized = services.tiers_with_stage(stage=Stage.NORMALIZED, week_ending=week_ending)
    if len(normalized) == len(TIERS):
        downstream.append(("compute_tier_split", services.week_partition_key(week_ending)))
    _enqueue_next(context, downstream, reprocess=True)


def _result(outcome: services.StageOutcome) -> PipelineResult:
    return PipelineResult(
        rows_written=outcome.rows_written,
        capture_id=outcome.capture_id,
        skipped=outcome.skipped,
        message=outcome.message,
        details=outcome.details,
    )


# --- pipelines --------------------------------------------------------------------------------


@register_pipeline(
    domain=DOMAIN,
    name="ingest_week",
    partition_keys=["week_ending", "tier"],
    validate_partition=validate_partition,
    produces_stage=Stage.RAW,
)
def ingest_week(context: PipelineContext) -> PipelineResult:
    """Fetch and parse a week's file for one tier and store it as a RAW capture.

    params: source (file | api), file_path, file_url, force, tier (must match the partition).
    """
    week_ending, tier = _week(context), _tier(context)
    assert tier is not None
    params = context.params
    content = services.source_fetch(week_ending=week_ending, tier=tier, params=params)
    outcome = services.week_ingest(
        week_ending=week_ending,
        tier=tier,
        content=content,
        force=bool(params.get("force", False)),
        execution_id=context.execution_id,
    )
    # A skip changed nothing downstream depends on: make sure normalize exists, re-run nothing.
    _enqueue_next(
        context,
        [("normalize_week", services.tier_partition_key(week_ending, tier))],
        reprocess=not outcome.skipped,
    )
    return _result(outcome)


@register_pipeline(
    domain=DOMAIN,
    name="normalize_week",
    partition_keys=["week_ending", "tier"],
    validate_partition=validate_partition,
    produces_stage=Stage.NORMALIZED,
    depends_on_stage=Stage.RAW,
)
def normalize_week(context: PipelineContext) -> PipelineResult:
    """Normalize the latest RAW capture of a week and tier: one row per (symbol, venue)."""
    week_ending, tier = _week(context), _tier(context)
    assert tier is not None
    outcome = services.week_normalize(
        week_ending=week_ending, tier=tier, execution_id=context.execution_id
    )
    _after_normalized(context, week_ending, tier)
    return _result(outcome)


def _run_tier_calc(context: PipelineContext, stage: str) -> PipelineResult:
    """Run a calc for the partition's tier, or, with only week_ending, for every tier that has
    NORMALIZED data for the week (waiting when none has)."""
    week_ending, tier = _week(context), _tier(context)
    if tier is not None:
        return _result(
            services.tier_calc_compute(
                stage=stage, week_ending=week_ending, tier=tier, execution_id=context.execution_id
            )
        )
    tiers = services.tiers_with_stage(stage=Stage.NORMALIZED, week_ending=week_ending)
    if not tiers:
        raise DependencyNotReady(
            f"waiting for stage NORMALIZED of any tier of week {week_ending.isoformat()}"
        )
    outcomes = [
        services.tier_calc_compute(
            stage=stage, week_ending=week_ending, tier=t, execution_id=context.execution_id
        )
        for t in tiers
    ]
    return PipelineResult(
        rows_written=sum(o.rows_written for o in outcomes),
        capture_id=outcomes[0].capture_id if len(outcomes) == 1 else None,
        message="; ".join(o.message for o in outcomes),
        details={"captures": {t: o.capture_id for t, o in zip(tiers, outcomes, strict=True)}},
    )


def _register_calc(name: str, stage: str, doc: str) -> None:
    def handler(context: PipelineContext) -> PipelineResult:
        return _run_tier_calc(context, stage)

    handler.__name__ = name
    handler.__doc__ = doc
    register_pipeline(
        domain=DOMAIN,
        name=name,
        partition_keys=["week_ending"],
        optional_keys=["tier"],
        validate_partition=validate_partition,
        produces_stage=stage,
    )(handler)


_register_calc(
    "compute_venue_volume",
    Stage.VENUE_VOLUME,
    "Per venue: shares, trades and symbols traded (one tier, or every normalized tier).",
)
_register_calc(
    "compute_venue_share",
    Stage.VENUE_SHARE,
    "Venue share of the tier's volume and of each symbol's volume.",
)
_register_calc(
    "compute_hhi",
    Stage.HHI,
    "HHI venue concentration per symbol and for the whole tier.",
)


@register_pipeline(
    domain=DOMAIN,
    name="compute_tier_split",
    partition_keys=["week_ending"],
    # The guide's phase 3 sends a tier with every calc: accepted, and the split still covers
    # the whole week (same capture id, so either key gives the same rows).
    optional_keys=["tier"],
    validate_partition=validate_partition,
    produces_stage=Stage.TIER_SPLIT,
)
def compute_tier_split(context: PipelineContext) -> PipelineResult:
    """Each symbol's volume per tier from each tier's latest normalized capture."""
    outcome = services.tier_split_compute(
        week_ending=_week(context), execution_id=context.execution_id
    )
    return _result(outcome)
