"""PostgreSQL: one partition per capture for every FINRA dataset table.

On PostgreSQL each ``finra_otc_transparency_<name>`` dataset table is a parent table
``PARTITION BY LIST (capture_id)`` (migration ``0005_capture_partitions``); SQLite keeps ordinary
tables. A capture's rows live in their own partition, ``<table>_p<12 hex of sha1(capture_id)>``
(at most 55 characters, under PostgreSQL's 63).

Writing a capture (``storage.capture_target``), inside the caller's transaction:

1. ``CREATE TABLE <table>_s<hash> (LIKE <table> ...)`` without ``id`` and the columns every
   row shares (capture_id, captured_at, week_ending, tier, ...): a staging table nobody else
   can see, holding only the per-row data;
2. load it (COPY, or INSERT ... SELECT);
3. add the shared columns back, each with its value as a constant DEFAULT, plus a
   ``CHECK (capture_id = ...)`` so ATTACH needs no validation scan. PostgreSQL (11+) does not
   write a column added this way into existing rows: it keeps the value once in the catalog
   and every row reads it from there. The capture id, the timestamps and the tier cost no space
   and no write per row, which on a 1M-row capture is about a third of the bytes of a
   normalized row and more of a calc row;
4. build the indexes the reads need, and gather the planner statistics of the new table
   (``ANALYZE``, on a small sample: see ``STATISTICS_TARGET``);
5. ``DROP TABLE`` the capture's old partition if any (a same-day re-run), rename the staging
   table to the partition name and ``ATTACH PARTITION`` it.

DDL is transactional, so readers see the old partition or the new one, never part of either.
Creating and loading the staging table locks nothing readers use. Attaching takes a SHARE
UPDATE EXCLUSIVE lock on the parent (reads go on); dropping an old partition, which only a
same-day re-run does, takes an ACCESS EXCLUSIVE lock on the parent until the stage commits,
which is right after: reads of that dataset wait for that short moment.

Dataset rows have no row id on PostgreSQL: ``id`` (Django's primary key, kept for SQLite) is
NULL there (migration ``0006_no_row_ids``). A row is named by its capture and its business key
(symbol, venue, line number, ...); no read looks rows up by id, PostgreSQL could not index it
on a partitioned table anyway, and filling it from a sequence cost a sequence call and 8 bytes
per row. The ``capture_id`` btree indexes of the Django models are not created either
(partition pruning replaces them); the symbol indexes are partitioned btree indexes on the
parents, built per capture after its load.
"""

from __future__ import annotations

import hashlib

# Dataset tables partitioned by capture_id on PostgreSQL, with their symbol-index names (the
# Django ``SymbolIndex`` of the model: a partitioned btree on the parent), if any: the tables
# as migrations 0005 and 0006 found them (the symbol venue shares became a view in 0007). The
# tables partitioned now are the stages' (``finra.storage.PARTITIONED_TABLES``).
PARTITIONED_TABLES_0005: dict[str, str | None] = {
    "finra_otc_transparency_raw": None,
    "finra_otc_transparency_rejects": None,
    "finra_otc_transparency_normalized": "finra_otc_normalized_sym",
    "finra_otc_transparency_venue_volume": None,
    "finra_otc_transparency_venue_share": None,
    "finra_otc_transparency_symbol_venue_share": "finra_otc_svs_sym",
    "finra_otc_transparency_symbol_hhi": "finra_otc_symbol_hhi_sym",
    "finra_otc_transparency_tier_hhi": None,
    "finra_otc_transparency_tier_split": "finra_otc_tier_split_sym",
}

# ``default_statistics_target`` for that ANALYZE: a sample of 3,000 rows (300 per unit). Row
# counts, the single capture_id/week/tier value and the symbol distribution the plans depend
# on come out right from it, and it reads a tenth of what the default target (100) reads:
# 30 to 130 ms on a 1M-row normalized capture instead of about 450 ms.
STATISTICS_TARGET = 10


def _digest(capture_id: str) -> str:
    return hashlib.sha1(capture_id.encode("utf-8")).hexdigest()[:12]


def partition_name(table: str, capture_id: str) -> str:
    """The partition holding ``capture_id``'s rows of ``table``."""
    return f"{table}_p{_digest(capture_id)}"


def staging_name(table: str, capture_id: str) -> str:
    """The table a capture is loaded into before it is attached as the partition."""
    return f"{table}_s{_digest(capture_id)}"


def sequence_name(table: str) -> str:
    return f"{table}_id_seq"


def literal(value: str) -> str:
    """A SQL string literal (standard_conforming_strings is on in every supported server)."""
    return "'" + value.replace("'", "''") + "'"
