"""The stage descriptions and what is derived from them."""

from __future__ import annotations

import pytest

from finra.models import DOMAIN, NormalizedRow, Stage, SymbolVenueShareRow, TierSplitRow
from finra.stages import (
    DATASET_STAGES,
    DATASET_TABLES,
    STAGE_ORDER,
    STAGES,
    PartitionShape,
    by_pipeline,
    by_stage,
    downstream_of,
)
from finra.storage import PARTITIONED_TABLES
from workqueue.pipelines import registry


def test_the_specs_follow_the_stage_enum_in_order():
    assert tuple(Stage.values) == STAGE_ORDER
    assert [spec.rank for spec in STAGES] == [1, 2, 3, 4, 5, 6]
    assert by_stage(Stage.HHI).pipeline == "compute_hhi"
    assert by_pipeline("normalize_week").stage == Stage.NORMALIZED
    with pytest.raises(KeyError, match="unknown FINRA stage"):
        by_stage("NOPE")


def test_downstream_stages_follow_the_upstreams():
    assert [s.pipeline for s in downstream_of(Stage.RAW)] == ["normalize_week"]
    assert [s.pipeline for s in downstream_of(Stage.NORMALIZED)] == [
        "compute_venue_volume",
        "compute_venue_share",
        "compute_hhi",
        "compute_tier_split",
    ]
    assert downstream_of(Stage.TIER_SPLIT) == ()
    assert by_stage(Stage.TIER_SPLIT).partition is PartitionShape.WEEK


def test_datasets_views_and_partitions_derive_from_the_specs():
    assert DATASET_STAGES[SymbolVenueShareRow] == Stage.VENUE_SHARE
    assert DATASET_STAGES[TierSplitRow] == Stage.TIER_SPLIT
    # The view is no table: it has a _latest view of its own but no partitions.
    assert SymbolVenueShareRow._meta.db_table not in DATASET_TABLES
    assert list(PARTITIONED_TABLES) == list(DATASET_TABLES)
    assert PARTITIONED_TABLES[NormalizedRow._meta.db_table] == "finra_otc_normalized_sym"


def test_the_pipelines_register_from_the_specs():
    for spec in STAGES:
        pipeline = registry.get(DOMAIN, spec.pipeline)
        assert pipeline.produces_stage == spec.stage
    # Only where the partition key is the upstream's can the queue check the manifest.
    assert registry.get(DOMAIN, "normalize_week").depends_on_stage == Stage.RAW
    assert registry.get(DOMAIN, "compute_hhi").depends_on_stage is None
    assert registry.get(DOMAIN, "compute_hhi").optional_keys == ("tier",)
    assert registry.get(DOMAIN, "ingest_week").partition_keys == ("week_ending", "tier")
