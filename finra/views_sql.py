"""SQL of the dataset views, for the migrations (plain SQL: SQLite and PostgreSQL).

``finra_otc_transparency_captures_latest`` keeps, per (stage, week_ending, tier), the complete
capture with the newest ``captured_at`` (ties, which need two runs in the same microsecond,
go to the larger capture_id). Every dataset's ``_latest`` view keeps the rows whose capture is
that one for the dataset's stage. Selecting the newest capture from the small captures table,
instead of a max() over the dataset itself, keeps both "latest for one week and tier" (captures
index, then the dataset's capture partition or index) and "one symbol across weeks" (the
dataset's symbol index) fast however much history accumulates.

``finra_otc_transparency_symbol_venue_share`` is itself a view (migration
``0007_symbol_venue_share_view``): a venue's share of a symbol's volume is its normalized row's
volume over the symbol's total, so the VENUE_SHARE stage does not write a second copy of the
normalized rows; the view divides, for the normalized captures whose VENUE_SHARE capture is
complete. The symbol's total is a window over (capture, week, tier, symbol): a filter on any of
those (a symbol, a capture, a week) is applied before the window, so reading one symbol reads
that symbol's rows through the normalized symbol index.

The views select ``d.*`` or name the normalized columns: PostgreSQL fixes the column list when
a view is created, so a migration that changes a dataset's columns must drop and re-create the
views around it (``drop_views``/``create_views``). A migration passes the tables it knew, as a
literal copy: the tables now are the stages' (``finra.stages.DATASET_TABLES``), and a stage
added later must not change what an old migration does.
"""

from __future__ import annotations

CAPTURES_TABLE = "finra_otc_transparency_captures"
NORMALIZED_TABLE = "finra_otc_transparency_normalized"
SYMBOL_VENUE_SHARE = "finra_otc_transparency_symbol_venue_share"

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


def dataset_view(table: str, stage: str) -> str:
    return f"""
CREATE VIEW {table}_latest AS
SELECT d.* FROM {table} d
WHERE d.capture_id IN (
    SELECT l.capture_id FROM {CAPTURES_TABLE}_latest l WHERE l.stage = '{stage}'
)
"""


def _symbol_venue_shares(name: str, captures: str) -> str:
    """A view of the symbol venue shares of the normalized captures ``captures`` selects.

    ``id`` is the normalized row's (NULL on PostgreSQL, see ``finra.partitions``). Sums of
    integers are cast before dividing (PostgreSQL sums bigints as numeric); a zero total
    gives shares of 0.
    """
    total = "CAST(SUM(n.share_quantity) OVER symbol_rows AS DOUBLE PRECISION)"
    return f"""
CREATE VIEW {name} AS
SELECT n.id, n.capture_id, n.captured_at, n.week_ending, n.tier, n.symbol, n.venue_key,
       n.share_quantity,
       CASE WHEN {total} = 0 THEN 0.0
            ELSE CAST(n.share_quantity AS DOUBLE PRECISION) / {total} END AS share
FROM {NORMALIZED_TABLE} n
WHERE n.capture_id IN ({captures})
WINDOW symbol_rows AS (PARTITION BY n.capture_id, n.week_ending, n.tier, n.symbol)
"""


SYMBOL_VENUE_SHARE_VIEW = _symbol_venue_shares(
    SYMBOL_VENUE_SHARE,
    f"SELECT c.capture_id FROM {CAPTURES_TABLE} c"
    " WHERE c.stage = 'VENUE_SHARE' AND c.status = 'complete'",
)
# Its _latest view applies the latest-capture rule below the window, so the window only
# ever sees the latest captures' rows.
SYMBOL_VENUE_SHARE_LATEST_VIEW = _symbol_venue_shares(
    f"{SYMBOL_VENUE_SHARE}_latest",
    f"SELECT l.capture_id FROM {CAPTURES_TABLE}_latest l WHERE l.stage = 'VENUE_SHARE'",
)


def _tables_now() -> dict[str, str]:
    # Imported here: the migrations import this module and pass their own tables.
    from finra.stages import DATASET_TABLES

    return DATASET_TABLES


def create_views(
    tables: dict[str, str] | None = None, *, symbol_venue_share: bool | None = None
) -> list[str]:
    """Create the views: the captures' and every table's ``_latest`` view, and the symbol venue
    share views. ``tables`` (table -> stage) defaults to the stages' tables now; the symbol
    venue share views come by default only with those (it was a table before migration 0007).
    """
    if symbol_venue_share is None:
        symbol_venue_share = tables is None
    tables = _tables_now() if tables is None else tables
    views = [CAPTURES_LATEST, *(dataset_view(t, s) for t, s in tables.items())]
    if symbol_venue_share:
        views += [SYMBOL_VENUE_SHARE_VIEW, SYMBOL_VENUE_SHARE_LATEST_VIEW]
    return views


def drop_views(
    tables: dict[str, str] | None = None, *, symbol_venue_share: bool | None = None
) -> list[str]:
    """Drop what ``create_views`` with the same arguments creates."""
    if symbol_venue_share is None:
        symbol_venue_share = tables is None
    tables = _tables_now() if tables is None else tables
    views = []
    if symbol_venue_share:
        views += [
            f"DROP VIEW IF EXISTS {SYMBOL_VENUE_SHARE}_latest",
            f"DROP VIEW IF EXISTS {SYMBOL_VENUE_SHARE}",
        ]
    return [
        *views,
        *(f"DROP VIEW IF EXISTS {t}_latest" for t in tables),
        f"DROP VIEW IF EXISTS {CAPTURES_TABLE}_latest",
    ]
