"""Synthetic FINRA weekly files in the real layout, for demos, tests and benchmarks.

FINRA's terms limit its data to non-commercial use and a real week is only a few thousand rows
per tier, so load tests and demos need generated files. They copy the traits of real files that
break naive code: long-tailed volumes dominated by a few venues, names with commas, double spaces
and quotes, suffixed symbols (``BRK.B``, ``KKR$D``), symbols that look like missing values
(``NA``, ``NAN``, ``NULL``, ``TRUE``), an empty symbol, and blank-MPID rows ("De Minimis Firms").

Everything is drawn from numpy generators seeded by (seed, tier, week[, revision]), so the same
arguments always give the same bytes, and 1,000,000 rows take a couple of seconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from finra.parsing import HEADER_COLUMNS
from finra.tiers import TIERS, Tier, canonical_tier, file_tier_description
from finra.weeks import expected_publication_date, is_business_day, parse_week_ending

# (MPID, marketParticipantName, weight). The weight drives both how often a venue reports a
# symbol and how much of the symbol's volume it gets, which makes the first few dominant.
_OTC_VENUES: tuple[tuple[str, str, float], ...] = (
    ("OTCN", "OTCN OTC LINK NQB IDQS", 60.0),
    ("OTCX", "OTCX OTC LINK ECN ATS", 12.0),
    ("ARCA", "ARCA GLOBAL OTC", 4.0),
    ("PPEX", "PPEX NORTH CAPITAL PRIVATE SECURITIES CORPORATION", 0.6),
    ("SWCL", "SWCL INX SECURITIES, LLC", 0.2),
    ("PROS", "PROS TZERO SECURITIES LLC", 0.1),
    ("ALTS", "ALTS LODAS SECURITIES ALTERNATIVE TRADING SYSTEM", 0.05),
    ("SMKT", "SMKT SECURITIZE MARKETS ATS", 0.05),
    ("STEN", "STEN STARTENGINE SECONDARY", 0.02),
    ("", "De Minimis Firms", 0.3),
)
_NMS_VENUES: tuple[tuple[str, str, float], ...] = (
    ("UBSA", "UBSA UBS ATS", 14.0),
    ("JPMX", "JPMX JPM-X", 10.0),
    ("INCR", "INCR INTELLIGENT CROSS LLC", 9.0),
    ("MSPL", "MSPL MS POOL (ATS-4)", 7.0),
    ("CROS", "CROS CROSSFINDER", 6.0),
    ("SGMA", "SGMA SIGMA X2", 5.0),
    ("EBXL", "EBXL LEVEL ATS", 3.0),
    ("BIDS", "BIDS BIDS TRADING L.P.", 2.5),
    ("LQNT", "LQNT LIQUIDNET  ATS", 1.5),
    ("IATS", "IATS IBKR ATS", 1.0),
    ("", "De Minimis Firms", 0.8),
    ("", 'NON-ATS  "OTC" TRADING, LLC', 0.4),
)

# Symbols that must survive parsing as text and suffix punctuation FINRA uses for classes,
# preferreds and warrants. The empty symbol is a real FINRA quirk.
_SPECIAL_SYMBOLS: tuple[str, ...] = ("", "NA", "NAN", "NULL", "TRUE", "BRK.B", "KKR$D", "BF.A")
_SUFFIXES = np.array([".A", ".B", ".WS", "$D", "$A", ".U"], dtype=object)

_NAME_FIRST = np.array(
    [
        "Asia",
        "American",
        "Pacific",
        "Global",
        "Northern",
        "Blue",
        "Green",
        "Golden",
        "Atlantic",
        "Western",
        "Summit",
        "Liberty",
        "Silver",
        "Pioneer",
        "Sierra",
        "Harbor",
        "Eagle",
        "Quantum",
        "Delta",
        "Union",
    ],
    dtype=object,
)
_NAME_SECOND = np.array(
    [
        "Broadband",
        "Technologies",
        "Mining",
        "Energy",
        "Pharmaceuticals",
        "Capital",
        "Resources",
        "Bancorp",
        "Minerals",
        "Semiconductor",
        "Networks",
        "Foods",
        "Biosciences",
        "Realty",
        "Gold",
    ],
    dtype=object,
)
_NAME_TAIL = np.array(
    [
        "Inc Common Stock",
        "Corp Common Stock",
        "Holdings, Inc. Common Stock",
        "Co., Ltd. Unsponsored ADR (Cayman Islands)",
        "Inc  Common Stock",
        "Ltd Ordinary Shares",
        "Corp  Class B Common Stock",
        "Inc 6.50% Pfd Ser D",
        'Trust "Units"',
    ],
    dtype=object,
)

_RESTATEMENT_DELAY_DAYS = 7
_RESTATED_ROW_FRACTION = 0.05


def sample_file_name(week_ending: date | str, tier: str) -> str:
    """Relative path of a week's file under ``FINRA_DATA_DIR``.

    Layout: ``<FINRA_DATA_DIR>/<week_ending>/<tier>.psv`` with the ISO week ending and the
    canonical tier, e.g. ``2025-12-12/NMS_TIER_1.psv``: one folder per week keeps a week's three
    tiers together, and canonical names mean one spelling per file.
    """
    return f"{parse_week_ending(week_ending).isoformat()}/{canonical_tier(tier)}.psv"


def generate_week_file(
    *,
    week_ending: date | str,
    tier: str,
    rows: int,
    seed: int,
    revision: int = 0,
    final_newline: bool = True,
) -> bytes:
    """A weekly file for (week_ending, tier) with exactly ``rows`` data rows.

    ``revision=0`` is the first publication (``lastUpdateDate`` = expected publication date).
    ``revision=n`` is FINRA restating the same week: the same symbols and venues in the same
    order, about 5% of the volumes changed, and ``lastUpdateDate`` 7 days later per revision
    (the next business day when that is a market holiday).
    """
    week_ending = parse_week_ending(week_ending)
    tier = canonical_tier(tier)
    if rows < 0:
        raise ValueError(f"rows must be zero or more, not {rows}")
    if revision < 0:
        raise ValueError(f"revision must be zero or more, not {revision}")
    key = [seed, TIERS.index(tier), week_ending.toordinal()]
    layout = _generate_layout(np.random.default_rng(key), tier=tier, rows=rows)
    shares, trades = layout["shares"], layout["trades"]
    if revision:
        shares, trades = _restate(np.random.default_rng([*key, revision]), shares, trades)
    last_update = expected_publication_date(week_ending, tier) + timedelta(
        days=_RESTATEMENT_DELAY_DAYS * revision
    )
    while not is_business_day(last_update):
        last_update += timedelta(days=1)
    columns = [
        [file_tier_description(tier)] * rows,
        layout["symbols"],
        layout["issue_names"],
        layout["participant_names"],
        layout["mpids"],
        shares.astype(str).tolist(),
        trades.astype(str).tolist(),
        [last_update.isoformat()] * rows,
    ]
    lines = ["|".join(HEADER_COLUMNS), *map("|".join, zip(*columns, strict=True))]
    text = "\n".join(lines)
    if final_newline:
        text += "\n"
    return text.encode("utf-8")


def write_sample_set(
    out_dir: Path | str,
    *,
    week_endings: Iterable[date | str],
    tiers: Iterable[str] = TIERS,
    rows: int,
    seed: int,
) -> list[Path]:
    """Write one file per (week, tier) under ``out_dir`` in the :func:`sample_file_name` layout."""
    written = []
    tier_list = list(tiers)
    for week_ending in week_endings:
        for tier in tier_list:
            path = Path(out_dir) / sample_file_name(week_ending, tier)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(
                generate_week_file(week_ending=week_ending, tier=tier, rows=rows, seed=seed)
            )
            written.append(path)
    return written


def _generate_layout(rng: np.random.Generator, *, tier: str, rows: int) -> dict:
    venues = _OTC_VENUES if tier == Tier.OTC else _NMS_VENUES
    venue_mpids = np.array([mpid for mpid, _, _ in venues], dtype=object)
    venue_names = np.array([name for _, name, _ in venues], dtype=object)
    weights = np.array([weight for _, _, weight in venues], dtype=np.float64)
    venue_total = len(venues)

    # Venues per symbol: mostly one or two (1,625 of 3,111 real OTC symbols trade on one venue),
    # with a tail; NMS symbols trade on more venues.
    success = 0.55 if tier == Tier.OTC else 0.3
    venue_counts = np.minimum(rng.geometric(success, size=max(rows, 1)), venue_total)
    cumulative = np.cumsum(venue_counts)
    symbol_count = int(np.searchsorted(cumulative, rows) + 1) if rows else 0
    venue_counts = venue_counts[:symbol_count]
    if symbol_count:
        venue_counts[-1] -= int(cumulative[symbol_count - 1] - rows)

    # Weighted sampling without replacement per symbol (Gumbel top-k): no duplicate venues.
    keys = np.log(weights) + rng.gumbel(size=(symbol_count, venue_total))
    ranked = np.argsort(-keys, axis=1)
    chosen = np.arange(venue_total) < venue_counts[:, None]
    venue_index = ranked[chosen]
    symbol_index = np.repeat(np.arange(symbol_count), venue_counts)

    symbols = _symbols(rng, symbol_count)
    issue_names = (
        _NAME_FIRST[rng.integers(len(_NAME_FIRST), size=symbol_count)]
        + " "
        + _NAME_SECOND[rng.integers(len(_NAME_SECOND), size=symbol_count)]
        + " "
        + _NAME_TAIL[rng.integers(len(_NAME_TAIL), size=symbol_count)]
    )

    # Long-tailed symbol volume split across venues in proportion to noisy venue weights.
    median_volume, spread = (np.exp(9.0), 2.6) if tier == Tier.OTC else (np.exp(11.0), 2.0)
    symbol_volume = median_volume * rng.lognormal(0.0, spread, size=symbol_count)
    venue_pull = weights[venue_index] * rng.lognormal(0.0, 1.0, size=rows)
    pull_per_symbol = np.bincount(symbol_index, weights=venue_pull, minlength=symbol_count)
    portion = venue_pull / pull_per_symbol[symbol_index]
    shares = np.maximum(np.rint(symbol_volume[symbol_index] * portion), 1).astype(np.int64)
    trade_size = np.exp(rng.normal(np.log(400.0), 1.2, size=rows))
    trades = np.clip(np.rint(shares / trade_size), 1, shares).astype(np.int64)

    # FINRA sorts by symbol, then participant name.
    symbol_order = np.argsort(np.argsort(symbols, kind="stable"), kind="stable")
    name_order = np.argsort(np.argsort(venue_names, kind="stable"), kind="stable")
    row_order = np.lexsort((name_order[venue_index], symbol_order[symbol_index]))
    symbol_index, venue_index = symbol_index[row_order], venue_index[row_order]
    return {
        "symbols": symbols[symbol_index].tolist(),
        "issue_names": issue_names[symbol_index].tolist(),
        "participant_names": venue_names[venue_index].tolist(),
        "mpids": venue_mpids[venue_index].tolist(),
        "shares": shares[row_order],
        "trades": trades[row_order],
    }


def _symbols(rng: np.random.Generator, count: int) -> np.ndarray:
    """Distinct symbols: the special ones first, then random five-letter codes."""
    special = list(_SPECIAL_SYMBOLS[:count])
    generated_count = count - len(special)
    codes = rng.choice(26**5, size=generated_count, replace=False)
    letters = (codes[:, None] // (26 ** np.arange(4, -1, -1))) % 26 + ord("A")
    generated = letters.astype(np.uint8).view("S5").ravel().astype("U5").astype(object)
    # About 1% carry a class or preferred suffix; appending keeps them distinct.
    suffixed = rng.random(generated_count) < 0.01
    generated[suffixed] = (
        generated[suffixed] + _SUFFIXES[rng.integers(len(_SUFFIXES), size=int(suffixed.sum()))]
    )
    return np.concatenate([np.array(special, dtype=object), generated])


def _restate(
    rng: np.random.Generator, shares: np.ndarray, trades: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Change about 5% of the rows' volumes, as a FINRA restatement does (never to zero)."""
    changed = rng.random(len(shares)) < _RESTATED_ROW_FRACTION
    factor = rng.uniform(0.5, 1.5, size=int(changed.sum()))
    shares, trades = shares.copy(), trades.copy()
    shares[changed] = np.maximum(np.rint(shares[changed] * factor), 1).astype(np.int64)
    trades[changed] = np.clip(np.rint(trades[changed] * factor), 1, shares[changed]).astype(
        np.int64
    )
    return shares, trades
