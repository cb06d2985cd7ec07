"""Stand-in pipelines for ``finra.otc_transparency``, so the guide's examples run on the API.

The real FINRA pipelines live in the finra app; these have the same names, partition keys,
validation and stages, and do nothing when run. Registering twice is harmless.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from workqueue.pipelines import (
    InvalidPartitionKey,
    Pipeline,
    PipelineContext,
    PipelineResult,
    registry,
)

DOMAIN = "finra.otc_transparency"
STAGES = ["RAW", "NORMALIZED", "VENUE_VOLUME", "VENUE_SHARE", "HHI", "TIER_SPLIT"]
TIERS = ("NMS_TIER_1", "NMS_TIER_2", "OTC")


def validate_partition(key: dict[str, Any]) -> dict[str, Any]:
    raw = key["week_ending"]
    try:
        week_ending = date.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        week_ending = None
    if week_ending is None:
        raise InvalidPartitionKey(
            f"week_ending {raw!r} is not an ISO date (YYYY-MM-DD)",
            fields={"week_ending": "not an ISO date"},
        )
    if week_ending.weekday() != 4:
        raise InvalidPartitionKey(
            f"week_ending {week_ending} is a {week_ending:%A}; it must be a Friday",
            fields={"week_ending": "must be a Friday"},
        )
    if "tier" in key and key["tier"] not in TIERS:
        raise InvalidPartitionKey(
            f"unknown tier {key['tier']!r}; known tiers: {', '.join(TIERS)}",
            fields={"tier": "unknown tier"},
        )
    return {**key, "week_ending": week_ending.isoformat()}


def _do_nothing(context: PipelineContext) -> PipelineResult:
    return PipelineResult(rows_written=0)


PIPELINES = [
    ("ingest_week", ("week_ending", "tier"), (), "RAW"),
    ("normalize_week", ("week_ending", "tier"), (), "NORMALIZED"),
    ("compute_venue_volume", ("week_ending",), ("tier",), "VENUE_VOLUME"),
    ("compute_venue_share", ("week_ending",), ("tier",), "VENUE_SHARE"),
    ("compute_hhi", ("week_ending",), ("tier",), "HHI"),
    ("compute_tier_split", ("week_ending",), ("tier",), "TIER_SPLIT"),
]


def register() -> None:
    registry.register_stages(DOMAIN, STAGES)
    for name, keys, optional, stage in PIPELINES:
        pipeline = Pipeline(
            domain=DOMAIN,
            name=name,
            handler=_do_nothing,
            partition_keys=keys,
            optional_keys=optional,
            validate_partition=validate_partition,
            produces_stage=stage,
        )
        try:
            registry.get(DOMAIN, name)
        except Exception:
            registry.register(pipeline)


register()
