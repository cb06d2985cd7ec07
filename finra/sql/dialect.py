"""SQL that reads the same on PostgreSQL and SQLite: types, ratios, sums, temp tables, loads.

The stage SQL (``finra.sql.stages``) is written with these helpers so one statement runs on
both databases; where they differ (a cast, a collation, a setting) the difference is here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.db import connection, models

from finra.partitions import literal, partition_name

if TYPE_CHECKING:
    from finra.storage import CaptureTarget

# Settings for the stage's transaction only (SET LOCAL). Hash aggregates over a 1M-row week
# want more than the default 4MB of work_mem. A capture written moments ago has no planner
# statistics yet (autovacuum analyzes later), so the planner guesses a few thousand rows and
# picks nested loops and sorts that are quadratic or slow at a million; every statement here
# reads whole captures, for which hash joins and hash aggregates are the right plan. The
# statements are a single pass each: compiling them (JIT) costs more than it saves.
_PG_SETTINGS = {
    "work_mem": "128MB",
    "enable_nestloop": "off",
    "enable_sort": "off",
    "jit": "off",
}


def pg() -> bool:
    return connection.vendor == "postgresql"


def float_type() -> str:
    return "double precision" if pg() else "REAL"


def binary_order(column: str) -> str:
    """ORDER BY term comparing text by code point, like Python (and pandas) do."""
    return f'{column} COLLATE "C"' if pg() else f"{column} COLLATE BINARY"


def ratio(part: str, total: str) -> str:
    """part / total as a float, 0.0 when total is 0 (the reference's ``_safe_share``)."""
    real = float_type()
    return (
        f"CASE WHEN {total} = 0 THEN 0.0 ELSE CAST({part} AS {real}) / CAST({total} AS {real}) END"
    )


def int_sum(expression: str, over: str = "") -> str:
    """SUM of integers as an integer. PostgreSQL sums bigints as numeric, which is slow to
    add and to convert to double precision (through its text form) for the ratios."""
    return f"CAST(SUM({expression}){over} AS BIGINT)"


def quoted_table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def capture_rows(model: type[models.Model], capture_id: str) -> str:
    """A FROM item holding the rows of one capture of ``model``.

    PostgreSQL: the capture's partition itself. Read through the parent with ``capture_id =``,
    every row would be compared with the id, although the partition holds no other: a scan
    of a 1M-row capture spends a fifth of its time on it. SQLite: the rows of the table with
    that capture_id (through its capture_id index).
    """
    table = model._meta.db_table
    if pg():
        partition = partition_name(table, capture_id)
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [partition])
            if cursor.fetchone()[0]:
                return partition
    # No partition: the capture has no rows (or this is SQLite).
    return f"(SELECT * FROM {quoted_table(model)} WHERE capture_id = {literal(capture_id)})"


def prepare_transaction() -> None:
    """Session settings for large aggregates; local to the current transaction."""
    if pg():
        with connection.cursor() as cursor:
            for name, value in _PG_SETTINGS.items():
                cursor.execute(f"SET LOCAL {name} = '{value}'")


@contextmanager
def by_symbol() -> Iterator[None]:
    """PostgreSQL: aggregate per symbol in symbol order, reading the normalized captures
    through their symbol index (a merge of them when there are several), instead of hashing
    half a million symbols. Every normalized partition has the index, and is written in file
    order, which FINRA sorts by symbol: the index scan reads the table nearly sequentially."""
    if not pg():
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_hashagg = off")
        try:
            yield
        finally:
            cursor.execute("SET LOCAL enable_hashagg = on")


def insert_select(
    model: type[models.Model],
    *,
    target: CaptureTarget,
    columns: Sequence[str],
    select: str,
    params: Sequence[Any] = (),
    order_by: str = "",
) -> int:
    """``INSERT INTO target (constants..., columns...) SELECT <constants>, q.<columns> FROM
    (select) q``; constant values (if the target still needs them, see ``CaptureTarget``)
    travel as parameters, cast to their column's type."""
    fields = {f.column: f for f in model._meta.concrete_fields}
    quote = connection.ops.quote_name
    constants = target.constants
    placeholders = []
    values = []
    for column, value in constants.items():
        field = fields[column]
        placeholders.append(f"CAST(%s AS {field.db_type(connection)})" if pg() else "%s")
        values.append(field.get_db_prep_value(value, connection))
    into = ", ".join(quote(c) for c in [*constants, *columns])
    selected = ", ".join([*placeholders, *(f"q.{quote(c)}" for c in columns)])
    order = f" ORDER BY {order_by}" if order_by else ""
    statement = f"INSERT INTO {target.table} ({into}) SELECT {selected} FROM ({select}) q{order}"
    with connection.cursor() as cursor:
        cursor.execute(statement, [*values, *params])
        return cursor.rowcount


def distinct(sql: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def temp_table(name: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")
        definition = ", ".join(f"{c} TEXT NOT NULL" for c in columns)
        cursor.execute(f"CREATE TEMPORARY TABLE {name} ({definition})")
        if rows:
            placeholders = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {name} VALUES ({placeholders})", list(rows))
        if pg():
            cursor.execute(f"ANALYZE {name}")


def drop_temp_tables(*names: str) -> None:
    with connection.cursor() as cursor:
        for name in names:
            cursor.execute(f"DROP TABLE IF EXISTS {name}")


def needs_python(column: str, canonical_pattern: str) -> str:
    """SQL condition: the value may change under the Python rule (PostgreSQL prefilter).

    Values matching ``canonical_pattern`` (plain printable ASCII in canonical form) are left
    as they are by the rule, so only the others go to Python. SQLite has no regex operator:
    there every distinct value goes to Python, which is fine at SQLite sizes.
    """
    if pg():
        return f"{column} !~ '{canonical_pattern}'"
    return "1 = 1"
