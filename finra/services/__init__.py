"""FINRA operations: fetch a week's content, and turn captures into the next stage.

Keyword-only functions called by the pipelines in ``finra.pipelines`` (and usable from a shell
or a command), split by job: ``sources`` (where content comes from), ``ingest`` (the RAW
stage), ``derived`` (every other stage, through one envelope) and ``captures`` (capture ids,
partition keys and capture rows). Each stage writes its dataset rows, its capture row and its
manifest row in ONE transaction. Reads are in ``finra.selectors``.
"""

from __future__ import annotations

from finra.selectors import tiers_with_stage
from finra.services.captures import (
    StageOutcome,
    capture_id_for,
    tier_partition_key,
    week_partition_key,
)
from finra.services.derived import stage_compute
from finra.services.ingest import week_ingest
from finra.services.sources import (
    SOURCES,
    check_file_path,
    check_file_url,
    check_source_params,
    check_tier,
    source_fetch,
    tier_param,
)

__all__ = [
    "SOURCES",
    "StageOutcome",
    "capture_id_for",
    "check_file_path",
    "check_file_url",
    "check_source_params",
    "check_tier",
    "source_fetch",
    "stage_compute",
    "tier_param",
    "tier_partition_key",
    "tiers_with_stage",
    "week_ingest",
    "week_partition_key",
]
