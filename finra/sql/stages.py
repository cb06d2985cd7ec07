# Over 400 lines: every stage's SQL, which share temp tables and the venue totals.
"""Normalization and the calcs as ``INSERT ... SELECT`` inside the database.

A 1M-row week used to travel from the database into pandas and back for every stage; here the
rows never leave the database. The SQL is portable (PostgreSQL and SQLite both run it, window
functions included) and reproduces the pandas reference the tests keep
(``tests/finra/reference.py``); the tests compare both on the real file and the hand-computed
weeks.

Where the reference applies Python string rules (``normalize.venue_key_for`` and friends), the
rules still run in Python, once per distinct value that needs them: the database hands over
the few distinct venues and the symbols and names that are not already in canonical form, and
gets back small mapping tables to join with.

Every function writes into the caller's transaction (``transaction.atomic``) and returns the
number of rows written. The portable pieces (types, ratios, temp tables) are in
``finra.sql.dialect``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.db import connection, models

from finra.models import (
    NormalizedRow,
    RawRow,
    SymbolHHIRow,
    TierHHIRow,
    TierSplitRow,
    VenueShareRow,
    VenueVolumeRow,
)
from finra.normalize import collapse_whitespace, venue_key_for, venue_name_for
from finra.sql.dialect import (
    binary_order,
    by_symbol,
    capture_rows,
    distinct,
    drop_temp_tables,
    float_type,
    insert_select,
    int_sum,
    needs_python,
    pg,
    ratio,
    temp_table,
)
from finra.tiers import TIERS

if TYPE_CHECKING:
    from finra.storage import CaptureTarget

# --- NORMALIZED -------------------------------------------------------------------------------


# Printable ASCII without spaces or lower-case letters: ``strip().upper()`` leaves it alone.
_CANONICAL_SYMBOL = r"^[!-`{-~]*$"
# Printable ASCII words separated by single spaces: ``collapse_whitespace`` leaves it alone.
_CANONICAL_NAME = r"^([!-~]+( [!-~]+)*)?$"


def _value_map(
    name: str,
    raw: str,
    column: str,
    canonical_pattern: str,
    hinted: Sequence[str] | None,
    rule: Callable[[str], str],
) -> int:
    """Temp table ``name`` (value, canonical) of the raw ``column`` values that ``rule`` changes.

    The candidates are ``hinted`` (from the ingest) or, without hints, the distinct values the
    database cannot tell are already canonical. Returns the number of values mapped.
    """
    if hinted is None:
        values = [
            value
            for (value,) in distinct(
                f"SELECT DISTINCT {column} FROM {raw} r"
                f" WHERE {needs_python(column, canonical_pattern)}"
            )
        ]
    else:
        values = list(hinted)
    changed = [(value, canonical) for value in values if (canonical := rule(value)) != value]
    temp_table(name, ["value", "canonical"], changed)
    return len(changed)


_VENUES = "finra_tmp_venues"
_SYMBOLS = "finra_tmp_symbols"
_NAMES = "finra_tmp_issue_names"


def normalize_capture(
    *,
    raw_capture_id: str,
    capture_id: str,
    target: CaptureTarget,
    hints: dict[str, Any] | None = None,
) -> tuple[int, int]:
    """Write the NORMALIZED rows of one RAW capture: one row per (symbol, venue_key).

    Returns (rows written, raw rows read). Rows repeating a (symbol, venue_key) are summed;
    their text columns come from the first of them in file order, as in the reference.

    ``hints`` are the RAW capture's ``normalize_hints`` (``finra.normalize.normalize_hints``,
    recorded at ingest from the parsed rows): the distinct values they list are not looked up
    in the stored rows again, and the check for repeated keys is skipped when they say there
    are none. Without them (captures recorded before hints existed) the database answers.
    """
    raw = capture_rows(RawRow, raw_capture_id)
    hints = hints or {}
    if "venues" in hints:
        venues = [tuple(pair) for pair in hints["venues"]]
    else:
        venues = distinct(f"SELECT DISTINCT mpid, participant_name FROM {raw} r")
    temp_table(
        _VENUES,
        ["mpid", "participant_name", "mpid_n", "venue_key", "venue_name"],
        [
            (mpid, name, mpid.strip(), venue_key_for(mpid, name), venue_name_for(mpid, name))
            for mpid, name in venues
        ],
    )
    symbols = _value_map(
        _SYMBOLS,
        raw,
        "symbol",
        _CANONICAL_SYMBOL,
        hints.get("symbols"),
        lambda v: v.strip().upper(),
    )
    names = _value_map(
        _NAMES, raw, "issue_name", _CANONICAL_NAME, hints.get("issue_names"), collapse_whitespace
    )
    # Raw rows with their canonical symbol, issue name and venue columns. A mapping that maps
    # nothing (FINRA's symbols are canonical already) is not joined: every row would probe it.
    symbol, issue_name, joins = "r.symbol", "r.issue_name", []
    if symbols:
        symbol = "COALESCE(s.canonical, r.symbol)"
        joins.append(f"LEFT JOIN {_SYMBOLS} s ON s.value = r.symbol")
    if names:
        issue_name = "COALESCE(n.canonical, r.issue_name)"
        joins.append(f"LEFT JOIN {_NAMES} n ON n.value = r.issue_name")
    mapped = f"""
        SELECT r.line_number, {symbol} AS symbol, {issue_name} AS issue_name,
               v.venue_key, v.mpid_n AS mpid, v.venue_name,
               r.share_quantity, r.trade_count
        FROM {raw} r
        JOIN {_VENUES} v ON v.mpid = r.mpid AND v.participant_name = r.participant_name
        {" ".join(joins)}
    """
    columns = [
        "symbol",
        "issue_name",
        "venue_key",
        "mpid",
        "venue_name",
        "share_quantity",
        "trade_count",
    ]
    # FINRA never repeats a (symbol, venue) in a week: write the rows as they are, in file
    # order (which keeps them in symbol order for the symbol index), and check. Only if some
    # repeat are the rows written again, summed per (symbol, venue_key).
    # Every raw row has exactly one venue row, so this writes one row per raw row.
    rows = raw_rows = insert_select(NormalizedRow, target=target, columns=columns, select=mapped)
    repeats = hints.get("repeated_keys")
    if repeats is None:
        repeats = _has_repeats(target)
    if repeats:
        condition, condition_params = target.capture_condition()
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {target.table} WHERE {condition}", condition_params)
        rows = insert_select(
            NormalizedRow,
            target=target,
            columns=columns,
            select=f"""
                SELECT symbol, venue_key, MIN(issue_name) AS issue_name, MIN(mpid) AS mpid,
                       MIN(venue_name) AS venue_name,
                       {int_sum("share_quantity")} AS share_quantity,
                       {int_sum("trade_count")} AS trade_count
                FROM ({mapped}) m GROUP BY symbol, venue_key
            """,
        )
        _first_row_text(mapped, target=target)
    drop_temp_tables(_VENUES, _SYMBOLS, _NAMES)
    return rows, raw_rows


def _has_repeats(target: CaptureTarget) -> bool:
    condition, params = target.capture_condition()
    with connection.cursor() as cursor:
        if pg():
            # Nearly every key is unique, so partial aggregates in parallel workers reduce
            # nothing and only add a pass: one process is faster (and the rest of the
            # transaction does not need parallel plans).
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        cursor.execute(
            f"SELECT 1 FROM {target.table} WHERE {condition}"
            " GROUP BY symbol, venue_key HAVING COUNT(*) > 1 LIMIT 1",
            params,
        )
        return cursor.fetchone() is not None


def _first_row_text(mapped: str, *, target: CaptureTarget) -> None:
    """For merged (symbol, venue_key) groups, take the text columns of the group's first line.

    Only runs when the capture has duplicates, which FINRA should never send.
    """
    first = f"""
        SELECT m.symbol, m.venue_key, m.issue_name, m.mpid, m.venue_name
        FROM ({mapped}) m
        JOIN (
            SELECT symbol, venue_key, MIN(line_number) AS line_number
            FROM ({mapped}) g GROUP BY symbol, venue_key HAVING COUNT(*) > 1
        ) d ON d.symbol = m.symbol AND d.venue_key = m.venue_key
           AND d.line_number = m.line_number
    """
    with connection.cursor() as cursor:
        cursor.execute(first)
        rows = cursor.fetchall()
        condition, params = target.capture_condition()
        cursor.executemany(
            f"UPDATE {target.table} SET issue_name = %s, mpid = %s, venue_name = %s"
            f" WHERE {condition} AND symbol = %s AND venue_key = %s",
            [
                (issue_name, mpid, venue_name, *params, symbol, venue_key)
                for symbol, venue_key, issue_name, mpid, venue_name in rows
            ],
        )


# --- calcs over one tier ----------------------------------------------------------------------


_VENUE_TOTALS = "finra_tmp_venue_totals"


@contextmanager
def _venue_totals(capture_id: str) -> Iterator[str]:
    """A temp table of per-venue names, volumes and distinct symbols of a normalized capture,
    for the block; dropped when it ends.

    Normalized rows are unique per (symbol, venue_key), so a venue's row count is its number
    of distinct symbols. Where rows of one venue disagree on its name, the smallest is kept.

    ``CREATE TABLE ... AS`` may read the capture with parallel workers (``INSERT ... SELECT``
    may not): with a few dozen venues the partial aggregates are tiny, so the scan of a 1M-row
    capture splits across the machine's cores. The venue calcs then read the small table.
    """
    drop_temp_tables(_VENUE_TOTALS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            CREATE TEMPORARY TABLE {_VENUE_TOTALS} AS
            SELECT venue_key, MIN(venue_name) AS venue_name, MIN(mpid) AS mpid,
                   {int_sum("share_quantity")} AS share_quantity,
                   {int_sum("trade_count")} AS trade_count,
                   COUNT(*) AS symbol_count
            FROM {capture_rows(NormalizedRow, capture_id)} n GROUP BY venue_key
            """
        )
    yield _VENUE_TOTALS
    drop_temp_tables(_VENUE_TOTALS)


def _venue_shares(venues: str) -> str:
    return f"""
        SELECT venue_key, venue_name, mpid, share_quantity,
               {ratio("share_quantity", int_sum("share_quantity", " OVER ()"))} AS share,
               ROW_NUMBER() OVER (
                   ORDER BY share_quantity DESC, {binary_order("venue_key")}
               ) AS {connection.ops.quote_name("rank")}
        FROM {venues} v
    """


def _largest_first() -> str:
    return f"q.share_quantity DESC, {binary_order('q.venue_key')}"


# Each calc gets the capture it reads and a ``CaptureTarget`` per table it writes.
Targets = dict[type[models.Model], "CaptureTarget"]


def venue_volume(*, capture_id: str, targets: Targets) -> dict[type, int]:
    with _venue_totals(capture_id) as venues:
        rows = insert_select(
            VenueVolumeRow,
            target=targets[VenueVolumeRow],
            columns=[
                "venue_key",
                "venue_name",
                "mpid",
                "share_quantity",
                "trade_count",
                "symbol_count",
            ],
            select=f"SELECT * FROM {venues}",
            order_by=_largest_first(),
        )
    return {VenueVolumeRow: rows}


def venue_share(*, capture_id: str, targets: Targets) -> dict[type, int]:
    """Each venue's share of the tier and its rank.

    The venue shares of each symbol are not written: ``finra_otc_transparency_symbol_venue_share``
    is a view that computes them from the normalized rows (``finra.views_sql``) for captures
    with a complete VENUE_SHARE capture.
    """
    with _venue_totals(capture_id) as venues:
        rows = insert_select(
            VenueShareRow,
            target=targets[VenueShareRow],
            columns=["venue_key", "venue_name", "mpid", "share_quantity", "share", "rank"],
            select=_venue_shares(venues),
            order_by=f"q.{connection.ops.quote_name('rank')}",
        )
    return {VenueShareRow: rows}


def hhi(*, capture_id: str, targets: Targets) -> tuple[dict[type, int], float]:
    """Symbol HHI and tier HHI; returns the row counts and the tier's HHI."""
    real = float_type()
    normalized = capture_rows(NormalizedRow, capture_id)
    # sum((v_i / T)^2) written as sum(v_i^2) / T^2: one pass over the week instead of a
    # join of every row with its symbol's total. The two agree to the last bits of a double.
    with by_symbol():
        symbols = insert_select(
            SymbolHHIRow,
            target=targets[SymbolHHIRow],
            columns=["symbol", "hhi", "venue_count", "total_volume"],
            select=f"""
            SELECT symbol,
                   {ratio("squares", "CAST(total_volume AS " + real + ") * total_volume")}
                       AS hhi,
                   venue_count, total_volume
            FROM (
                SELECT symbol,
                       SUM(CAST(share_quantity AS {real}) * share_quantity) AS squares,
                       COUNT(*) AS venue_count, {int_sum("share_quantity")} AS total_volume
                FROM {normalized} n GROUP BY symbol
            ) s
        """,
        )
    with _venue_totals(capture_id) as venues:
        tier = insert_select(
            TierHHIRow,
            target=targets[TierHHIRow],
            columns=["hhi", "venue_count", "total_volume"],
            select=f"""
                SELECT COALESCE(SUM(share * share), 0.0) AS hhi, COUNT(*) AS venue_count,
                       COALESCE({int_sum("share_quantity")}, 0) AS total_volume
                FROM ({_venue_shares(venues)}) v
            """,
        )
    with connection.cursor() as cursor:
        condition, params = targets[TierHHIRow].capture_condition()
        cursor.execute(f"SELECT hhi FROM {targets[TierHHIRow].table} WHERE {condition}", params)
        tier_hhi = float(cursor.fetchone()[0])
    return {SymbolHHIRow: symbols, TierHHIRow: tier}, tier_hhi


# --- TIER_SPLIT -------------------------------------------------------------------------------


def tier_split(*, target: CaptureTarget, used: dict[str, str], rows: dict[str, int]) -> int:
    """Per symbol, its volume in each tier (0 where absent) and each tier's share of it.

    ``used`` maps every tier to the normalized capture read for it, ``rows`` to that capture's
    row count. Each capture is summed per symbol on its own (in symbol order, through its
    symbol index), and the three sums are matched by symbol with full joins: a symbol traded in
    one tier only, the usual case, is one row of one sum. (Summing the union of the three
    captures at once does the tier bookkeeping on every normalized row instead, and takes twice
    as long at 1M rows.) The largest capture's sums come first: the planner then builds its
    hash tables on the smaller sums. Joined last, the largest was the one hashed (the planner
    keeps the side whose key is a plain column for the hash), which cost a third more on a
    1M-row tier.
    """
    sums = {
        tier: f"""(
            SELECT symbol, {int_sum("share_quantity")} AS volume
            FROM {capture_rows(NormalizedRow, used[tier])} n GROUP BY symbol
        )"""
        for tier in TIERS
    }
    aliases = {tier: f"t{k}" for k, tier in enumerate(TIERS)}
    order = sorted(TIERS, key=lambda tier: -rows[tier])  # stable: ties keep TIERS order
    joined = f"{sums[order[0]]} {aliases[order[0]]}"
    for k, tier in enumerate(order[1:], start=1):
        earlier = [f"{aliases[t]}.symbol" for t in order[:k]]
        matched = earlier[0] if len(earlier) == 1 else f"COALESCE({', '.join(earlier)})"
        joined += f" FULL JOIN {sums[tier]} {aliases[tier]} ON {aliases[tier]}.symbol = {matched}"
    symbol = f"COALESCE({', '.join(f'{aliases[t]}.symbol' for t in TIERS)})"
    volumes = [f"COALESCE({aliases[t]}.volume, 0) AS {t.lower()}_volume" for t in TIERS]
    totals = " + ".join(f"{t.lower()}_volume" for t in TIERS)
    shares = [f"{ratio(f'{t.lower()}_volume', 'total_volume')} AS {t.lower()}_share" for t in TIERS]
    select = f"""
        SELECT symbol, {", ".join(f"{t.lower()}_volume" for t in TIERS)}, total_volume,
               {", ".join(shares)}
        FROM (
            SELECT symbol, {", ".join(f"{t.lower()}_volume" for t in TIERS)},
                   {totals} AS total_volume
            FROM (SELECT {symbol} AS symbol, {", ".join(volumes)} FROM {joined}) v
        ) t
    """
    columns = [
        "symbol",
        *(f"{t.lower()}_volume" for t in TIERS),
        "total_volume",
        *(f"{t.lower()}_share" for t in TIERS),
    ]
    with by_symbol():
        return insert_select(TierSplitRow, target=target, columns=columns, select=select)
