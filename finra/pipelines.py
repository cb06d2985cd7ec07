"""The FINRA pipelines, one per stage of ``finra.stages``, registered with the work queue.

Each pipeline is a thin wrapper: validate the partition, call the stage's service in
``finra.services``, enqueue the stages computed from it (``stages.downstream_of``). Chaining:
``ingest_week`` -> ``normalize_week`` -> ``compute_venue_volume`` + ``compute_venue_share`` +
``compute_hhi`` for the tier, and ``compute_tier_split`` once all three tiers of the week are
normalized. Downstream items are
enqueued with ``reprocess=True`` when the upstream capture changed, so a restatement re-runs
what was already COMPLETE; an active (queued or running) downstream item is left alone, so
enqueueing every phase by hand, as some cron scripts do, works too.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from finra import services
from finra.models import DOMAIN
from finra.stages import STAGE_ORDER, PartitionShape, StageSpec, by_stage, downstream_of
from finra.stages import STAGES as SPECS
from finra.tiers import TIERS, UnknownTierError, canonical_tier
from finra.weeks import InvalidWeekEnding, fridays_between, parse_week_ending
from workqueue.pipelines import (
    DependencyNotReady,
    InvalidPartitionKey,
    NonRetryableError,
    Param,
    PipelineContext,
    PipelineResult,
    register_pipeline,
    registry,
)
from workqueue.services import Actor, EnqueueRequest, work_items_enqueue

registry.register_stages(DOMAIN, STAGE_ORDER)


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

    A cron script may send ``"params": {"tier": ...}`` beside the partition key: accepted
    when it names the same tier (in any spelling), refused when it disagrees,
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


# --- params -----------------------------------------------------------------------------------

#: What every FINRA pipeline reads: ``tier`` (scripts send it beside the partition key) and
#: ``chain`` (false: enqueue nothing downstream, as the scheduler's ``--only-stage`` does).
STAGE_PARAMS = {
    "tier": Param(
        str,
        check=services.check_tier,
        description="Any tier spelling; must agree with the partition's tier.",
    ),
    "chain": Param(bool, description="false: do not enqueue the stages computed from this one."),
}
#: ``ingest_week`` also reads where its content comes from, and whether to redo unchanged
#: content.
INGEST_PARAMS = {
    "source": Param(
        str,
        choices=services.SOURCES,
        description="file (default: FINRA_DATA_DIR/<week_ending>/<TIER>.psv) or api.",
    ),
    "file_path": Param(
        str,
        check=services.check_file_path,
        description="A file inside FINRA_DATA_DIR, relative to it or absolute.",
    ),
    "file_url": Param(
        str,
        check=services.check_file_url,
        description="An http(s) URL on a host of FINRA_ALLOWED_HOSTS.",
    ),
    "force": Param(bool, description="true: ingest content identical to the latest capture."),
    **STAGE_PARAMS,
}


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
                # Chained items run with the defaults: a re-arm must not keep params such as
                # {"chain": false} left on the item by an earlier, single-stage run.
                params={},
                priority=context.item.priority,
                reprocess=reprocess,
            )
            for name, key in pipelines
        ],
        actor=Actor.system(f"pipeline:{context.pipeline.name}"),
    )


def _enqueue_downstream(
    context: PipelineContext, spec: StageSpec, week_ending: date, tier: str, *, reprocess: bool
) -> None:
    """Enqueue the stages computed from ``spec``'s, for the tier, and the per-week ones once
    every tier of the week has ``spec``'s stage.

    Checked after our own commit: of several tiers finishing at once, the last to commit sees
    all three and queues the per-week stages.
    """
    downstream = []
    for child in downstream_of(spec.stage):
        if child.partition is PartitionShape.TIER:
            downstream.append((child.pipeline, services.tier_partition_key(week_ending, tier)))
            continue
        complete = services.tiers_with_stage(stage=spec.stage, week_ending=week_ending)
        if len(complete) == len(TIERS):
            downstream.append((child.pipeline, services.week_partition_key(week_ending)))
    _enqueue_next(context, downstream, reprocess=reprocess)


def _chains(context: PipelineContext) -> bool:
    """False when the item asks not to enqueue the stages computed from it (``chain: false``),
    as the weekly scheduler's ``--only-stage`` does."""
    return context.params.get("chain", True) is not False


def _result(outcome: services.StageOutcome) -> PipelineResult:
    return PipelineResult(
        rows_written=outcome.rows_written,
        capture_id=outcome.capture_id,
        skipped=outcome.skipped,
        message=outcome.message,
        details=outcome.details,
    )


# --- pipelines --------------------------------------------------------------------------------


def ingest_week(context: PipelineContext) -> PipelineResult:
    """Fetch and parse a week's file for one tier and store it as a RAW capture.

    params: source (file | api), file_path, file_url, force, tier (must match the partition),
    chain (false: do not enqueue normalize_week).
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
        run=context,
    )
    # A skip changed nothing downstream depends on: make sure normalize exists, re-run nothing.
    if _chains(context):
        _enqueue_downstream(
            context, by_stage(outcome.stage), week_ending, tier, reprocess=not outcome.skipped
        )
    return _result(outcome)


def _run_derived(context: PipelineContext, spec: StageSpec) -> PipelineResult:
    """Run a derived stage for the partition. A per-tier stage that takes any tier, given only
    week_ending, runs for every tier that has its upstream stage for the week (waiting when
    none has)."""
    week_ending = _week(context)
    # Scripts that enqueue the calcs per tier send a tier with every calc: accepted, and a
    # per-week stage still covers the whole week (same capture id, so either key gives the
    # same rows).
    tier = None if spec.partition is PartitionShape.WEEK else _tier(context)
    if spec.partition is PartitionShape.WEEK or tier is not None:
        outcome = services.stage_compute(
            stage=spec.stage, week_ending=week_ending, tier=tier, run=context
        )
        if tier is not None and _chains(context):
            _enqueue_downstream(context, spec, week_ending, tier, reprocess=True)
        return _result(outcome)
    assert spec.upstream is not None
    tiers = services.tiers_with_stage(stage=spec.upstream, week_ending=week_ending)
    if not tiers:
        raise DependencyNotReady(
            f"waiting for stage {spec.upstream} of any tier of week {week_ending.isoformat()}"
        )
    outcomes = []
    for each in tiers:
        outcomes.append(
            services.stage_compute(
                stage=spec.stage,
                week_ending=week_ending,
                tier=each,
                run=context,
            )
        )
        if _chains(context):
            _enqueue_downstream(context, spec, week_ending, each, reprocess=True)
    return PipelineResult(
        rows_written=sum(o.rows_written for o in outcomes),
        capture_id=outcomes[0].capture_id if len(outcomes) == 1 else None,
        message="; ".join(o.message for o in outcomes),
        details={"captures": {t: o.capture_id for t, o in zip(tiers, outcomes, strict=True)}},
    )


# --- ranges (backfills) ------------------------------------------------------------------------


def range_tiers(options: Mapping[str, Any]) -> list[str]:
    """The canonical tiers a range asks for (``tiers``, any FINRA spelling); default all three."""
    asked = options.get("tiers") or list(TIERS)
    if isinstance(asked, str) or not isinstance(asked, list | tuple):
        raise InvalidPartitionKey(
            "tiers must be a list of tier names", fields={"tiers": "not a list"}
        )
    tiers: list[str] = []
    for name in asked:
        try:
            tier = canonical_tier(name)
        except (UnknownTierError, TypeError):
            raise InvalidPartitionKey(
                f"unknown tier {name!r}; known tiers: {', '.join(TIERS)}",
                fields={"tiers": "unknown tier"},
            ) from None
        if tier not in tiers:
            tiers.append(tier)
    return tiers


def expand_tier_range(start: date, end: date, options: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every Friday from ``start`` to ``end`` (any dates) times the tiers asked."""
    tiers = range_tiers(options)
    return [
        {"week_ending": friday.isoformat(), "tier": tier}
        for friday in fridays_between(start, end)
        for tier in tiers
    ]


def expand_week_range(start: date, end: date, options: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every Friday from ``start`` to ``end``: the partitions of a stage that spans the tiers."""
    return [{"week_ending": friday.isoformat()} for friday in fridays_between(start, end)]


def _register(spec: StageSpec) -> None:
    if spec.upstream is None:
        handler = ingest_week
    else:

        def handler(context: PipelineContext) -> PipelineResult:
            return _run_derived(context, spec)

        handler.__name__ = spec.pipeline
        handler.__doc__ = spec.description
    if spec.partition is PartitionShape.TIER and not spec.any_tier:
        keys, optional = ["week_ending", "tier"], []
        # The queue checks the manifest for the upstream stage before the run (and the item
        # waits without spending an attempt) when the upstream has this same partition key.
        upstream_here = spec.upstream is not None and (
            by_stage(spec.upstream).partition is PartitionShape.TIER
        )
    else:
        keys, optional = ["week_ending"], ["tier"]
        upstream_here = False
    register_pipeline(
        domain=DOMAIN,
        name=spec.pipeline,
        partition_keys=keys,
        optional_keys=optional,
        validate_partition=validate_partition,
        produces_stage=spec.stage,
        depends_on_stage=spec.upstream if upstream_here else None,
        expand_range=expand_week_range
        if spec.partition is PartitionShape.WEEK
        else (expand_tier_range),
        range_options=() if spec.partition is PartitionShape.WEEK else ("tiers",),
        # An ingest of content identical to the latest capture is skipped unless forced.
        force_params={"force": True} if spec.upstream is None else None,
        params=INGEST_PARAMS if spec.upstream is None else STAGE_PARAMS,
        check_params_together=services.check_source_params if spec.upstream is None else None,
    )(handler)


for _spec in SPECS:
    _register(_spec)
