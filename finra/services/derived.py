"""Every derived stage (NORMALIZED, the calcs, the tier split) through one envelope.

``stage_compute`` finds the stage's upstream captures (``finra.stages``: the spec's upstream),
opens one transaction, opens a capture target per table the stage writes, runs the spec's
compute function, and writes the capture row and the manifest row beside the rows: all of it
commits or none, and readers never see a capture half-written. A same-day re-run of the same
capture replaces its rows.
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import date, datetime

from django.db import transaction
from django.utils import timezone

from finra import storage
from finra.models import ALL_TIERS, Capture
from finra.selectors import capture_latest
from finra.services.captures import (
    StageOutcome,
    capture_id_for,
    capture_save,
    tier_partition_key,
    upstream_capture,
    week_partition_key,
)
from finra.sql.dialect import prepare_transaction
from finra.stages import PartitionShape, StageRun, StageSpec, by_stage
from finra.tiers import TIERS, canonical_tier
from workqueue.pipelines import DependencyNotReady, PipelineContext


def stage_compute(
    *,
    stage: str,
    week_ending: date,
    run: PipelineContext,
    tier: str | None = None,
    now: datetime | None = None,
) -> StageOutcome:
    """Compute ``stage`` for a week (and tier, for a per-tier stage) from the latest complete
    capture of its upstream stage: DependencyNotReady (the item waits) while there is none.

    A per-tier stage writes under its upstream capture's id and ``captured_at``. A per-week
    stage (the tier split) reads the latest upstream capture of every tier, waits until all
    tiers have one, and gets a capture id of its own for the run's day (tier ``ALL``); it
    never groups by capture id, so a restated tier replaces its old numbers. The capture row
    and the manifest row (through ``run.record_stage``) are written in the stage's transaction.
    """
    execution_id = run.execution_id
    spec = by_stage(stage)
    if spec.compute is None:
        raise ValueError(f"not a derived stage: {stage}")
    now = now or timezone.now()
    if spec.partition is PartitionShape.TIER:
        if tier is None:
            raise ValueError(f"{stage} is computed per tier: pass a tier")
        tier = canonical_tier(tier)
        source = upstream_capture(spec, week_ending=week_ending, tier=tier)
        upstream = {tier: source}
        capture_id, captured_at = source.capture_id, source.captured_at
        constants = {"captured_at": captured_at, "week_ending": week_ending, "tier": tier}
        recorded_upstream: dict[str, object] = {spec.upstream: source.capture_id}
        partition_key = tier_partition_key(week_ending, tier)
    else:
        tier = ALL_TIERS
        upstream = _every_tier(spec, week_ending=week_ending)
        used = {t: capture.capture_id for t, capture in upstream.items()}
        capture_id = capture_id_for(tier=ALL_TIERS, week_ending=week_ending, run_at=now)
        captured_at = now
        constants = {
            "captured_at": captured_at,
            "week_ending": week_ending,
            **{f"{t.lower()}_capture_id": used[t] for t in TIERS},
        }
        recorded_upstream = {spec.upstream: used}
        source = None
        partition_key = week_partition_key(week_ending)
    with transaction.atomic():
        prepare_transaction()
        with ExitStack() as stack:
            targets = {
                model: stack.enter_context(
                    storage.capture_target(model, capture_id=capture_id, constants=constants)
                )
                for model in spec.models
            }
            computed = spec.compute(
                StageRun(
                    capture_id=capture_id,
                    week_ending=week_ending,
                    tier=tier,
                    upstream=upstream,
                    targets=targets,
                )
            )
        details = (
            computed.metrics if computed.manifest_metrics is None else computed.manifest_metrics
        )
        capture_save(
            capture_id=capture_id,
            stage=stage,
            week_ending=week_ending,
            tier=tier,
            captured_at=captured_at,
            computed_at=now if source is None else timezone.now(),
            row_count=computed.rows,
            execution_id=execution_id,
            upstream=recorded_upstream,
            metrics=computed.metrics,
            source_from=source,
        )
        run.record_stage(
            partition_key=partition_key,
            stage=stage,
            row_count=computed.rows,
            capture_id=capture_id,
            metrics=details,
        )
    return StageOutcome(
        stage=stage,
        capture_id=capture_id,
        rows_written=computed.rows,
        message=computed.message,
        details=details,
    )


def _every_tier(spec: StageSpec, *, week_ending: date) -> dict[str, Capture]:
    assert spec.upstream is not None
    latest = {
        tier: capture_latest(stage=spec.upstream, week_ending=week_ending, tier=tier)
        for tier in TIERS
    }
    missing = [tier for tier, capture in latest.items() if capture is None]
    if missing:
        raise DependencyNotReady(
            f"{spec.pipeline} of week {week_ending.isoformat()} waits for stage "
            f"{spec.upstream} of {', '.join(missing)}"
        )
    return {tier: capture for tier, capture in latest.items() if capture is not None}
