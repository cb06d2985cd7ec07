"""Capture ids, partition keys, the capture register's rows and what a stage run reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from finra.models import DOMAIN, Capture, CaptureStatus
from finra.selectors import capture_latest
from finra.stages import StageSpec, by_stage
from workqueue.pipelines import DependencyNotReady


@dataclass
class StageOutcome:
    """What one stage run did, in the shape a PipelineResult needs."""

    stage: str
    capture_id: str | None
    rows_written: int = 0
    skipped: bool = False
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)


def capture_id_for(*, tier: str, week_ending: date, run_at: datetime) -> str:
    """``finra.otc_transparency:{tier}:{week_ending}:{YYYYMMDD}``, the date the run's (UTC)."""
    run_day = run_at.astimezone(UTC).strftime("%Y%m%d")
    return f"{DOMAIN}:{tier}:{week_ending.isoformat()}:{run_day}"


def tier_partition_key(week_ending: date, tier: str) -> dict[str, str]:
    return {"tier": tier, "week_ending": week_ending.isoformat()}


def week_partition_key(week_ending: date) -> dict[str, str]:
    return {"week_ending": week_ending.isoformat()}


def upstream_capture(spec: StageSpec, *, week_ending: date, tier: str) -> Capture:
    """The latest complete capture of ``spec``'s upstream stage for the week and tier, or
    DependencyNotReady (the item waits) naming the pipeline that writes it."""
    assert spec.upstream is not None
    capture = capture_latest(stage=spec.upstream, week_ending=week_ending, tier=tier)
    if capture is None:
        writer = by_stage(spec.upstream).pipeline
        raise DependencyNotReady(
            f"waiting for stage {spec.upstream} of {tier} week {week_ending.isoformat()} "
            f"(run {writer} first)"
        )
    return capture


def capture_save(
    *,
    capture_id: str,
    stage: str,
    week_ending: date,
    tier: str,
    captured_at: datetime,
    computed_at: datetime,
    row_count: int,
    execution_id: int | None,
    reject_count: int = 0,
    source_origin: str = "",
    source_sha256: str = "",
    source_last_update_date: date | None = None,
    upstream: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    source_from: Capture | None = None,
) -> Capture:
    """Record a complete capture of ``stage`` (a same-day re-run updates its row)."""
    if source_from is not None:
        # Derived stages repeat their source's provenance so each row of the table stands alone.
        source_origin = source_from.source_origin
        source_sha256 = source_from.source_sha256
        source_last_update_date = source_from.source_last_update_date
    capture, _ = Capture.objects.update_or_create(
        capture_id=capture_id,
        stage=stage,
        defaults={
            "week_ending": week_ending,
            "tier": tier,
            "status": CaptureStatus.COMPLETE,
            "source_origin": source_origin,
            "source_sha256": source_sha256,
            "source_last_update_date": source_last_update_date,
            "captured_at": captured_at,
            "computed_at": computed_at,
            "row_count": row_count,
            "reject_count": reject_count,
            "execution_id": execution_id,
            "upstream": upstream or {},
            "metrics": metrics or {},
        },
    )
    return capture
