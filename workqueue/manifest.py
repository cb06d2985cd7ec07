"""The stage manifest: which stage each partition of a domain reached, and the stages' order.

A domain declares its stages in order once (through ``registry.register_stages`` or
:func:`register_stages`); their rank (1, 2, ...) orders manifest reads. A pipeline records the
stage it reached with ``PipelineContext.record_stage``, which writes through
:func:`manifest_record`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.utils import timezone

from workqueue.models import ManifestEntry

_stage_ranks: dict[str, dict[str, int]] = {}


def register_stages(domain: str, stages: Sequence[str]) -> None:
    """Stages of a domain in order; their rank (1, 2, ...) orders manifest reads."""
    _stage_ranks[domain] = {stage: rank for rank, stage in enumerate(stages, start=1)}


def stage_rank(domain: str, stage: str) -> int:
    try:
        return _stage_ranks[domain][stage]
    except KeyError:
        known = ", ".join(_stage_ranks.get(domain, {})) or "none"
        raise ValueError(
            f"unknown stage {stage!r} for domain {domain!r} (known: {known})"
        ) from None


def stages(domain: str) -> list[str]:
    return list(_stage_ranks.get(domain, {}))


def manifest_record(
    *,
    domain: str,
    partition_key: Mapping[str, Any],
    stage: str,
    row_count: int,
    capture_id: str | None = None,
    execution_id: int | None = None,
    metrics: Mapping[str, Any] | None = None,
) -> ManifestEntry:
    """Record that a partition reached a stage; the row describes the latest capture there."""
    entry, _ = ManifestEntry.objects.update_or_create(
        domain=domain,
        partition_key=dict(partition_key),
        stage=stage,
        defaults={
            "stage_rank": stage_rank(domain, stage),
            "row_count": row_count,
            "capture_id": capture_id,
            "execution_id": execution_id,
            "metrics": dict(metrics or {}),
            "updated_at": timezone.now(),
        },
    )
    return entry


def manifest_has_stage(*, domain: str, partition_key: Mapping[str, Any], stage: str) -> bool:
    return ManifestEntry.objects.filter(
        domain=domain, partition_key=dict(partition_key), stage=stage
    ).exists()
