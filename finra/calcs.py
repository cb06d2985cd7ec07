"""Venue volume, venue share, HHI concentration and tier split over normalized weekly rows.

These pandas functions are the reference implementation: the SQLite path uses them directly and
any SQL version must reproduce their numbers. Every input is the output of
:func:`finra.normalize.normalize_frame` for ONE tier and ONE week (one row per symbol and venue).

Shares are fractions (0-1) and HHI is on the 0-1 scale (sum of squared fractions; multiply by
10,000 for the antitrust convention). A zero denominator gives 0.0, never NaN or an error: a
week in which a symbol did not trade is a valid week, not a failure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from finra.tiers import TIERS, canonical_tier


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
