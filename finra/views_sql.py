"""SQL of the ``_latest`` views, shared by the migrations (plain SQL: SQLite and PostgreSQL).

``finra_otc_transparency_captures_latest`` keeps, per (stage, week_ending, tier), the complete
capture with the newest ``captured_at`` (ties, which need two runs in the same microsecond,
go to the larger capture_id). Every dataset view keeps the rows whose capture is that one for
the dataset's stage. Selecting the newest capture from the small captures table, instead of a
max() over the dataset itself, keeps both "latest for one week and tier" (captures index, then
the dataset's capture_id index) and "one symbol across weeks" (the dataset's symbol index) fast
however much history accumulates.

The views select ``d.*``: PostgreSQL expands that when a view is created, so a migration that
adds a column to a dataset must drop and re-create its view (``drop_views``/``create_views``).
"""

from __future__ import annotations

CAPTURES_TABLE = "finra_otc_transparency_captures"

CAPTURES_LATEST = f"""
CREATE VIEW {CAPTURES_TABLE}_latest AS
SELECT c.* FROM {CAPTURES_TABLE} c
WHERE c.status = 'complete'
  AND NOT EXISTS (
    SELECT 1 FROM {CAPTURES_TABLE} n
    WHERE n.stage = c.stage AND n.week_ending = c.week_ending AND n.tier = c.tier
      AND n.status = 'complete'
      AND (n.captured_at > c.captured_at
           OR (n.captured_at = c.captured_at AND n.capture_id > c.capture_id))
  )
"""

# Dataset table -> the stage of its captures.
DATASET_VIEWS: dict[str, str] = {
    "finra_otc_transparency_raw": "RAW",
    "finra_otc_transparency_rejects": "RAW",
    "finra_otc_transparency_normalized": "NORMALIZED",
    "finra_otc_transparency_venue_volume": "VENUE_VOLUME",
    "finra_otc_transparency_venue_share": "VENUE_SHARE",
    "finra_otc_transparency_symbol_venue_share": "VENUE_SHARE",
    "finra_otc_transparency_symbol_hhi": "HHI",
    "finra_otc_transparency_tier_hhi": "HHI",
    "finra_otc_transparency_tier_split": "TIER_SPLIT",
}


def dataset_view(table: str, stage: str) -> str:
    return f"""
CREATE VIEW {table}_latest AS
SELECT d.* FROM {table} d
WHERE d.capture_id IN (
    SELECT l.capture_id FROM {CAPTURES_TABLE}_latest l WHERE l.stage = '{stage}'
)
"""


def create_views() -> list[str]:
    return [CAPTURES_LATEST] + [dataset_view(t, s) for t, s in DATASET_VIEWS.items()]


def drop_views() -> list[str]:
    return [f"DROP VIEW IF EXISTS {t}_latest" for t in DATASET_VIEWS] + [
        f"DROP VIEW IF EXISTS {CAPTURES_TABLE}_latest"
    ]
