"""The independent reference the in-database stages are checked against, and test-only reads.

The pandas normalization (``normalize_frame``) and calcs (``venue_volume`` ... ``tier_split``)
compute every stage's numbers a second way, from a parsed file: the SQL stages
(``finra.sql.stages``) must reproduce them. Every calc input is the output of
``normalize_frame`` for ONE tier and ONE week (one row per symbol and venue).

Shares are fractions (0-1) and HHI is on the 0-1 scale (sum of squared fractions; multiply by
10,000 for the antitrust convention). A zero denominator gives 0.0, never NaN or an error: a
week in which a symbol did not trade is a valid week, not a failure.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from django.db import connection, models

from finra.models import Capture
from finra.normalize import collapse_whitespace, factorize_pairs, venue_key_for, venue_name_for
from finra.stages import DATASET_STAGES
from finra.tiers import TIERS, canonical_tier

# --- calcs --------------------------------------------------------------------------------------


def venue_volume(frame: pd.DataFrame) -> pd.DataFrame:
    """Per venue: total shares and trades and how many distinct symbols it traded.

    Ordered by share_quantity (largest first), then venue_key, so output is deterministic.
    """
    volume = frame.groupby("venue_key", sort=True, as_index=False).agg(
        venue_name=("venue_name", "first"),
        mpid=("mpid", "first"),
        share_quantity=("share_quantity", "sum"),
        trade_count=("trade_count", "sum"),
        symbol_count=("symbol", "nunique"),
    )
    volume = volume.astype(
        {"share_quantity": np.int64, "trade_count": np.int64, "symbol_count": np.int64}
    )
    return _largest_first(volume).reset_index(drop=True)


def venue_share(frame: pd.DataFrame) -> pd.DataFrame:
    """Per venue: its share of the tier's weekly share volume and its rank (1 = largest).

    Equal volumes are ranked by venue_key so that two runs over the same data always agree.
    """
    volume = venue_volume(frame)[["venue_key", "venue_name", "mpid", "share_quantity"]].copy()
    volume["share"] = _safe_share(volume["share_quantity"], volume["share_quantity"].sum())
    volume["rank"] = np.arange(1, len(volume) + 1, dtype=np.int64)
    return volume


def symbol_venue_share(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (symbol, venue): the venue's share of the symbol's weekly volume."""
    pairs = frame.groupby(["symbol", "venue_key"], sort=True, as_index=False)[
        "share_quantity"
    ].sum()
    symbol_total = pairs.groupby("symbol", sort=False)["share_quantity"].transform("sum")
    pairs["share"] = _safe_share(pairs["share_quantity"], symbol_total)
    pairs["share_quantity"] = pairs["share_quantity"].astype(np.int64)
    return pairs


def symbol_hhi(frame: pd.DataFrame) -> pd.DataFrame:
    """Per symbol: HHI of venue shares, number of venues and total volume.

    venue_count counts every venue that reported the symbol, including a venue that reported
    zero shares (it adds nothing to the HHI). A symbol with zero total volume has HHI 0.0.
    """
    shares = symbol_venue_share(frame)
    shares["share_squared"] = shares["share"] ** 2
    hhi = shares.groupby("symbol", sort=True, as_index=False).agg(
        hhi=("share_squared", "sum"),
        venue_count=("venue_key", "nunique"),
        total_volume=("share_quantity", "sum"),
    )
    return hhi.astype({"hhi": np.float64, "venue_count": np.int64, "total_volume": np.int64})


def tier_hhi(frame: pd.DataFrame) -> float:
    """HHI of venue shares across the whole tier (0.0 for a tier with no volume)."""
    return float((venue_share(frame)["share"] ** 2).sum())


def tier_split(frames_by_tier: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per symbol: its volume in each tier given and each tier's share of its total.

    Columns, for the tiers given in canonical order: ``<tier>_volume`` (lower-cased tier, e.g.
    ``nms_tier_1_volume``), ``total_volume``, then ``<tier>_share``. Only the tiers given get
    columns: a missing tier is unknown, and reporting it as 0 would claim it had no volume.
    A symbol absent from a tier has 0 volume there. The shares of a symbol sum to 1 (0 for
    all tiers when its total is 0).
    """
    canonical: dict[str, pd.DataFrame] = {}
    for tier, frame in frames_by_tier.items():
        name = canonical_tier(tier)
        if name in canonical:
            raise ValueError(f"tier {name} given twice (as {tier!r})")
        canonical[name] = frame
    tiers = [tier for tier in TIERS if tier in canonical]
    volume_columns = [f"{tier.lower()}_volume" for tier in tiers]
    share_columns = [f"{tier.lower()}_share" for tier in tiers]

    per_tier = [
        canonical[tier].groupby("symbol", sort=False)["share_quantity"].sum().rename(column)
        for tier, column in zip(tiers, volume_columns, strict=True)
    ]
    if per_tier:
        split = pd.concat(per_tier, axis=1, sort=False).fillna(0)
    else:
        split = pd.DataFrame(index=pd.Index([], dtype=str, name="symbol"))
    split = split.astype(dict.fromkeys(volume_columns, np.int64))
    split.index.name = "symbol"
    split = split.sort_index().reset_index()
    split["total_volume"] = split[volume_columns].sum(axis=1).astype(np.int64)
    for volume_column, share_column in zip(volume_columns, share_columns, strict=True):
        split[share_column] = _safe_share(split[volume_column], split["total_volume"])
    return split[["symbol", *volume_columns, "total_volume", *share_columns]]


def _largest_first(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(
        ["share_quantity", "venue_key"], ascending=[False, True], kind="mergesort"
    )


def _safe_share(part: pd.Series, total: pd.Series | float | int) -> np.ndarray:
    """part / total as floats, 0.0 where total is 0."""
    top = np.asarray(part, dtype=np.float64)
    bottom = np.broadcast_to(np.asarray(total, dtype=np.float64), top.shape)
    result = np.zeros(top.shape, dtype=np.float64)
    np.divide(top, bottom, out=result, where=bottom != 0)
    return result


# --- normalization ------------------------------------------------------------------------------

NORMALIZED_COLUMNS: tuple[str, ...] = (
    "tier",
    "symbol",
    "issue_name",
    "venue_key",
    "mpid",
    "venue_name",
    "share_quantity",
    "trade_count",
    "avg_trade_size",
)


@dataclass
class NormalizedResult:
    """Normalized rows, plus how many input rows were folded into an existing (symbol, venue)."""

    frame: pd.DataFrame
    merged_duplicates: int


def normalize_frame(frame: pd.DataFrame, *, tier: str) -> NormalizedResult:
    """Normalize a parsed frame (``ParsedFile.frame``) of one tier and week.

    Rows repeating a (symbol, venue_key) are summed into one; FINRA should not send them, so
    their number is reported for the capture's metrics rather than silently absorbed.
    """
    tier = canonical_tier(tier)
    mpid = _per_distinct(frame["mpid"], str.strip)
    venue_pairs = pd.DataFrame({"mpid": mpid, "participant_name": frame["participant_name"]})
    pair_codes, pairs = factorize_pairs(venue_pairs)
    venue_keys = np.array([venue_key_for(m, n) for m, n in pairs], dtype=object)
    venue_names = np.array([venue_name_for(m, n) for m, n in pairs], dtype=object)

    rows = pd.DataFrame(
        {
            "symbol": _per_distinct(frame["symbol"], lambda text: text.strip().upper()),
            "issue_name": _per_distinct(frame["issue_name"], collapse_whitespace),
            "venue_key": venue_keys[pair_codes],
            "mpid": mpid,
            "venue_name": venue_names[pair_codes],
            "share_quantity": frame["share_quantity"].to_numpy(dtype=np.int64),
            "trade_count": frame["trade_count"].to_numpy(dtype=np.int64),
        }
    )
    grouped = rows.groupby(["symbol", "venue_key"], sort=True, as_index=False).agg(
        issue_name=("issue_name", "first"),
        mpid=("mpid", "first"),
        venue_name=("venue_name", "first"),
        share_quantity=("share_quantity", "sum"),
        trade_count=("trade_count", "sum"),
    )
    grouped.insert(0, "tier", tier)
    grouped["avg_trade_size"] = _safe_ratio(grouped["share_quantity"], grouped["trade_count"])
    normalized = grouped[list(NORMALIZED_COLUMNS)].astype(
        {
            "tier": str,
            "symbol": str,
            "issue_name": str,
            "venue_key": str,
            "mpid": str,
            "venue_name": str,
            "share_quantity": np.int64,
            "trade_count": np.int64,
            "avg_trade_size": np.float64,
        }
    )
    return NormalizedResult(frame=normalized, merged_duplicates=len(frame) - len(normalized))


def _per_distinct(values: pd.Series, transform: Callable[[str], str]) -> np.ndarray:
    """Apply a string function once per distinct value and broadcast the results back."""
    codes, distinct = pd.factorize(values.to_numpy(dtype=object))
    transformed = np.array([transform(value) for value in distinct], dtype=object)
    if len(codes) == 0:
        return np.array([], dtype=object)
    return transformed[codes]


def _safe_ratio(numerator: pd.Series, denominator: pd.Series) -> np.ndarray:
    """numerator / denominator as floats, 0.0 where the denominator is 0 (no NaN, no inf)."""
    top = numerator.to_numpy(dtype=np.float64)
    bottom = denominator.to_numpy(dtype=np.float64)
    result = np.zeros(len(top), dtype=np.float64)
    np.divide(top, bottom, out=result, where=bottom != 0)
    return result


# --- reads --------------------------------------------------------------------------------------


def read_capture_frame(
    model: type[models.Model],
    *,
    capture_id: str,
    columns: Sequence[str],
    order_by: Sequence[str] = (),
) -> pd.DataFrame:
    """The rows of one capture as a DataFrame (integers as int64, text as str)."""
    quote = connection.ops.quote_name
    fields = {f.column: f for f in model._meta.concrete_fields}
    select = ", ".join(quote(c) for c in columns)
    order = f" ORDER BY {', '.join(quote(c) for c in order_by)}" if order_by else ""
    table = quote(model._meta.db_table)
    dtypes = {c: _pandas_dtype(fields[c]) for c in columns}
    if connection.vendor == "postgresql":
        from psycopg import sql

        query = sql.SQL(
            "COPY (SELECT {} FROM {} WHERE capture_id = {}{}) TO STDOUT WITH (FORMAT csv)"
        )
        statement = query.format(
            sql.SQL(select), sql.SQL(table), sql.Literal(capture_id), sql.SQL(order)
        )
        buffer = io.BytesIO()
        with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
            for block in copy:
                buffer.write(block)
        buffer.seek(0)
        if buffer.getbuffer().nbytes == 0:
            return _empty_frame(columns, dtypes)
        return pd.read_csv(
            buffer,
            header=None,
            names=list(columns),
            dtype=dtypes,
            keep_default_na=False,
            na_filter=False,
            engine="c",
        )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {select} FROM {table} WHERE capture_id = %s{order}", [capture_id])
        rows = cursor.fetchall()
    if not rows:
        return _empty_frame(columns, dtypes)
    frame = pd.DataFrame.from_records(rows, columns=list(columns))
    return frame.astype(dtypes)


def _pandas_dtype(field: models.Field) -> Any:
    if isinstance(field, (models.BigIntegerField, models.IntegerField)):
        return np.int64
    if isinstance(field, models.FloatField):
        return np.float64
    return str


def _empty_frame(columns: Sequence[str], dtypes: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=dtypes[c]) for c in columns})


def symbol_history(model: type[models.Model], *, symbol: str) -> models.QuerySet:
    """One symbol's rows across weeks, latest capture of each week (and tier) only."""
    stage = DATASET_STAGES[model]
    latest = Capture.objects.raw(
        "SELECT id, capture_id FROM finra_otc_transparency_captures_latest WHERE stage = %s",
        [stage],
    )
    ids = [c.capture_id for c in latest]
    return model.objects.filter(symbol=symbol, capture_id__in=ids).order_by("week_ending")
