"""Writing and reading the rows of one capture: replace-capture writes, COPY on PostgreSQL.

A capture's rows are replaced inside the caller's transaction, so a re-run of the same
capture_id never duplicates rows and readers (on either database) only ever see the old rows or
the new ones, never a mix. Callers open the transaction (``transaction.atomic``) around every
table of a stage plus its capture and manifest rows: all of it commits or none.

On SQLite the old rows are deleted and the new ones inserted into the table. On PostgreSQL every
capture is a partition of its own (``finra.partitions``): the new rows are loaded into a fresh
table that replaces the old partition at the end (``capture_target``).

On PostgreSQL rows travel with ``COPY ... FROM STDIN`` (psycopg 3) as pipe-delimited CSV; on
SQLite with ``executemany``. Reads back into pandas use ``COPY ... TO STDOUT`` on PostgreSQL.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from itertools import repeat
from typing import Any

import numpy as np
import pandas as pd
from django.db import connection, models

from finra.models import RawRow, SymbolIndex
from finra.partitions import STATISTICS_TARGET, literal, partition_name, staging_name
from finra.stages import STAGES


def _symbol_index(model: type[models.Model]) -> str | None:
    names = [index.name for index in model._meta.indexes if isinstance(index, SymbolIndex)]
    return names[0] if names else None


# The dataset tables partitioned by capture_id on PostgreSQL (every table a stage writes), with
# the name of their symbol index (a partitioned btree on the parent), if any.
PARTITIONED_TABLES: dict[str, str | None] = {
    model._meta.db_table: _symbol_index(model) for spec in STAGES for model in spec.models
}

# Tables whose captures get planner statistics when written: the ones readers query. Without
# statistics the planner takes a fresh 1M-row capture for a few rows and picks nested loops
# and on-disk sorts: the first page of the symbol venue shares of such a week took 5 s instead
# of 10 ms. Autovacuum analyzes a table some time after it changes, if it is on at all. RAW is
# only read by normalization, whose statements do not need them (see ``finra.sql.stages``).
ANALYZED_TABLES: frozenset[str] = frozenset(PARTITIONED_TABLES) - {RawRow._meta.db_table}

_ROWS_PER_WRITE = 100_000
# The fast CSV form uses a quote character no FINRA value contains, so values go unquoted.
# A value holding it, the delimiter or a line break falls back to the csv module with real quoting.
_NO_QUOTE = "\x01"
_UNSAFE = (_NO_QUOTE, "|", "\n", "\r")


def insert_columns(model: type[models.Model]) -> list[str]:
    """The columns a load writes: every concrete column but the id and generated ones."""
    return [
        field.column
        for field in model._meta.concrete_fields
        if not isinstance(field, (models.AutoField, models.GeneratedField))
    ]


def _text_fields(model: type[models.Model]) -> set[str]:
    return {
        field.column
        for field in model._meta.concrete_fields
        if isinstance(field, (models.CharField, models.TextField))
    }


def _partitioned(model: type[models.Model]) -> bool:
    return connection.vendor == "postgresql" and model._meta.db_table in PARTITIONED_TABLES


def delete_capture(model: type[models.Model], capture_id: str) -> None:
    """Remove the rows of ``capture_id`` (on PostgreSQL: drop its partition, if any)."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if _partitioned(model):
            cursor.execute(f"DROP TABLE IF EXISTS {partition_name(table, capture_id)}")
        else:
            quoted = connection.ops.quote_name(table)
            cursor.execute(f"DELETE FROM {quoted} WHERE capture_id = %s", [capture_id])


@dataclass(frozen=True)
class CaptureTarget:
    """Where one capture's rows are written, and the shared values writers still have to send.

    ``table`` is quoted. On PostgreSQL the staging table has only the per-row columns (the shared
    ones are added after the load), so ``constants`` is empty there; on SQLite it holds
    capture_id, captured_at and the rest.
    """

    table: str
    constants: dict[str, Any]
    partitioned: bool

    def capture_condition(self) -> tuple[str, list[Any]]:
        """A WHERE condition (and its parameters) for the capture's rows in ``table``.

        A staging table holds this capture only (and has no capture_id column yet).
        """
        if self.partitioned:
            return "TRUE", []
        return "capture_id = %s", [self.constants["capture_id"]]


@contextmanager
def capture_target(
    model: type[models.Model], *, capture_id: str, constants: dict[str, Any]
) -> Iterator[CaptureTarget]:
    """Replace the rows of ``capture_id`` with what the block writes into the target table.

    SQLite: deletes the capture's rows and hands out the table itself. PostgreSQL: hands out a
    new staging table with the per-row columns only; when the block ends it gets the shared
    columns, its indexes, and replaces the capture's partition (see ``finra.partitions``).
    Must run inside the caller's ``transaction.atomic()``; if the block raises, the
    transaction's rollback removes the staging table.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("capture writes must run inside transaction.atomic()")
    constants = {**constants, "capture_id": capture_id}
    table = model._meta.db_table
    if not _partitioned(model):
        delete_capture(model, capture_id)
        yield CaptureTarget(connection.ops.quote_name(table), constants, partitioned=False)
        return
    staging = staging_name(table, capture_id)
    quote = connection.ops.quote_name
    fields = {field.column: field for field in model._meta.concrete_fields}
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {staging} (LIKE {table} INCLUDING GENERATED)")
        # Only the per-row columns are loaded; the shared ones come back after the load.
        dropped = ", ".join(f"DROP COLUMN {quote(column)}" for column in ["id", *constants])
        cursor.execute(f"ALTER TABLE {staging} {dropped}")
    yield CaptureTarget(staging, {}, partitioned=True)
    # Columns added with a constant DEFAULT to a filled table are not written into its rows:
    # PostgreSQL keeps the value once, in the catalog, and every row reads it from there. So
    # the values all rows share cost no space and no write, however many rows the capture has.
    # ``id`` comes back empty (NULL): see finra.partitions.
    added = [
        f"ADD COLUMN {quote(column)} {fields[column].db_type(connection)} NOT NULL"
        f" DEFAULT {literal(_as_text(value))}"
        for column, value in constants.items()
    ]
    added.append(f"ADD COLUMN {quote('id')} bigint")
    # The CHECK lets ATTACH PARTITION skip its own validation scan.
    added.append(
        f"ADD CONSTRAINT {staging}_capture CHECK ({quote('capture_id')} = {literal(capture_id)})"
    )
    partition = partition_name(table, capture_id)
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {staging} {', '.join(added)}")
        if PARTITIONED_TABLES[table]:
            # Matches the parent's partitioned index, so ATTACH adopts it.
            cursor.execute(f"CREATE INDEX ON {staging} (symbol)")
        if table in ANALYZED_TABLES:
            _analyze(cursor, staging)
        cursor.execute(f"DROP TABLE IF EXISTS {partition}")
        cursor.execute(f"ALTER TABLE {staging} RENAME TO {partition}")
        cursor.execute(
            f"ALTER TABLE {table} ATTACH PARTITION {partition}"
            f" FOR VALUES IN ({literal(capture_id)})"
        )


def _analyze(cursor: Any, table: str) -> None:
    """``ANALYZE table`` on the sample of ``STATISTICS_TARGET``, leaving the setting as it was."""
    cursor.execute("SELECT current_setting('default_statistics_target')")
    previous = cursor.fetchone()[0]
    cursor.execute(
        "SELECT set_config('default_statistics_target', %s, true)", [str(STATISTICS_TARGET)]
    )
    cursor.execute(f"ANALYZE {table}")
    cursor.execute("SELECT set_config('default_statistics_target', %s, true)", [previous])


def replace_capture_rows(
    model: type[models.Model],
    *,
    capture_id: str,
    constants: dict[str, Any],
    frame: pd.DataFrame,
) -> int:
    """Replace the rows of ``capture_id`` in the model's table with ``frame``'s rows.

    ``constants`` holds the values shared by every row (capture_id, captured_at, week_ending,
    tier); ``frame`` the rest, one column per remaining table column. Must run inside the
    caller's ``transaction.atomic()``: the delete and the insert commit together.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("replace_capture_rows must run inside transaction.atomic()")
    columns = insert_columns(model)
    shared = {**constants, "capture_id": capture_id}
    per_row = [c for c in columns if c not in shared]
    missing = [c for c in per_row if c not in frame.columns]
    if missing:
        raise ValueError(f"{model._meta.db_table}: frame lacks columns {missing}")
    if frame.empty:
        delete_capture(model, capture_id)
        return 0
    with capture_target(model, capture_id=capture_id, constants=constants) as target:
        if connection.vendor == "postgresql":
            _copy_in(model, target, frame, per_row)
        else:
            _executemany(model, target, frame, per_row)
    return len(frame)


def file_lines_streamable(data: bytes, header: Sequence[str]) -> bool:
    """Whether ``stream_file_lines`` can load ``data``'s data lines as they are (PostgreSQL).

    The header must be exactly ``header`` (the columns in table order), lines must end in LF
    without a BOM, and no value may hold the character COPY is told to use as quote.
    """
    if connection.vendor != "postgresql":
        return False
    first = data.find(b"\n")
    return (
        first > 0
        and data[:first] == "|".join(header).encode("ascii")
        and b"\r" not in data
        and _NO_QUOTE.encode("ascii") not in data
    )


@contextmanager
def stream_file_lines(
    model: type[models.Model],
    target: CaptureTarget,
    data: bytes,
    *,
    columns: Sequence[str],
    line_number: str,
) -> Iterator[None]:
    """COPY the data lines of a pipe-delimited file into ``target`` while the block runs.

    The bytes go to the server from a worker thread, so PostgreSQL parses them while the block
    (typically the validating parse of the same file) runs; the block must not use the
    connection. ``line_number`` gets the physical line number (the header is line 1). If the
    block raises, the COPY is cancelled and the exception propagates: the caller's
    transaction rollback then discards whatever was loaded. Text values go in verbatim, empty
    ones as '' (never NULL), as the frame path stores them.
    """
    from psycopg.copy import QueuedLibpqWriter

    if not target.partitioned:
        raise RuntimeError("stream_file_lines needs a PostgreSQL staging table")
    quote = connection.ops.quote_name
    sequence = f"{target.table}_line"
    start = data.find(b"\n") + 1
    body = memoryview(data)[start:]
    text_columns = [c for c in columns if c in _text_fields(model)]
    statement = (
        f"COPY {target.table} ({', '.join(quote(c) for c in columns)}) FROM STDIN WITH"
        " (FORMAT csv, DELIMITER '|', QUOTE E'\\x01', FREEZE,"
        f" FORCE_NOT_NULL ({', '.join(quote(c) for c in text_columns)}))"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE SEQUENCE {sequence} START 2 CACHE 10000")
        cursor.execute(
            f"ALTER TABLE {target.table} ALTER {quote(line_number)}"
            f" SET DEFAULT nextval('{sequence}')"
        )
        raw_cursor = cursor.cursor
        with raw_cursor.copy(statement, writer=QueuedLibpqWriter(raw_cursor)) as copy:
            for offset in range(0, len(body), _STREAM_CHUNK):
                copy.write(body[offset : offset + _STREAM_CHUNK])
            yield
        cursor.execute(f"ALTER TABLE {target.table} ALTER {quote(line_number)} DROP DEFAULT")
        cursor.execute(f"DROP SEQUENCE {sequence}")


_STREAM_CHUNK = 512 * 1024


def _as_text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _column_text(series: pd.Series) -> list[str]:
    kind = series.dtype.kind
    if kind in "iuf":
        # numpy prints floats in their shortest round-trip form, so they load exactly.
        return series.to_numpy().astype(str).tolist()
    if kind == "b":
        return np.where(series.to_numpy(), "true", "false").tolist()
    values = series.tolist()
    if values and not isinstance(values[0], str):
        return [_as_text(v) for v in values]
    return values


def _copy_in(
    model: type[models.Model], target: CaptureTarget, frame: pd.DataFrame, per_row: list[str]
) -> None:
    quote = connection.ops.quote_name
    constants = target.constants
    constant_columns = list(constants)
    text_fields = _text_fields(model)
    text_columns = [c for c in per_row if c in text_fields]
    text_columns += [c for c in constant_columns if c in text_fields]
    constant_text = [_as_text(constants[c]) for c in constant_columns]
    safe = not any(ch in value for value in constant_text for ch in _UNSAFE) and all(
        not any(ch in joined for ch in _UNSAFE)
        for joined in ("".join(map(str, frame[c].tolist())) for c in per_row if c in text_fields)
    )
    column_list = ", ".join(quote(c) for c in constant_columns + per_row)
    options = ["FORMAT csv", "DELIMITER '|'"]
    options.append("QUOTE E'\\x01'" if safe else "QUOTE '\"'")
    if text_columns:
        # In CSV, an empty unquoted field means NULL: our text columns hold '' instead.
        options.append(f"FORCE_NOT_NULL ({', '.join(quote(c) for c in text_columns)})")
    statement = f"COPY {target.table} ({column_list}) FROM STDIN WITH ({', '.join(options)})"
    prefix = "|".join(constant_text)
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        # Slices of rows, so the text of a 1M-row frame never exists all at once.
        for start in range(0, len(frame), _ROWS_PER_WRITE):
            part = frame.iloc[start : start + _ROWS_PER_WRITE]
            columns = [_column_text(part[c]) for c in per_row]
            if safe:
                if constant_text:
                    lines = zip(repeat(prefix, len(part)), *columns, strict=False)
                else:
                    lines = zip(*columns, strict=True)
                copy.write(("\n".join(map("|".join, lines)) + "\n").encode("utf-8"))
            else:
                buffer = io.StringIO()
                writer = csv.writer(buffer, delimiter="|", quotechar='"', lineterminator="\n")
                writer.writerows([*constant_text, *row] for row in zip(*columns, strict=True))
                copy.write(buffer.getvalue().encode("utf-8"))


def _executemany(
    model: type[models.Model], target: CaptureTarget, frame: pd.DataFrame, per_row: list[str]
) -> None:
    quote = connection.ops.quote_name
    constants = target.constants
    constant_columns = list(constants)
    all_columns = constant_columns + per_row
    placeholders = ", ".join(["%s"] * len(all_columns))
    statement = (
        f"INSERT INTO {target.table} "
        f"({', '.join(quote(c) for c in all_columns)}) VALUES ({placeholders})"
    )
    field_by_column = {f.column: f for f in model._meta.concrete_fields}
    constant_values = [
        field_by_column[c].get_db_prep_value(constants[c], connection) for c in constant_columns
    ]
    columns = [frame[c].tolist() for c in per_row]
    rows: Iterable[Sequence[Any]] = ((*constant_values, *row) for row in zip(*columns, strict=True))
    with connection.cursor() as cursor:
        cursor.executemany(statement, rows)
