"""Turn parsed weekly rows into one row per (symbol, venue), the shape every calc reads.

Raw rows keep FINRA's text verbatim (the RAW stage is an audit copy); normalization is where
spelling differences are removed so that the same venue or symbol always groups together:
symbols are upper-cased, names whitespace-collapsed, and venues without an MPID get a stable
synthetic key. String work runs once per distinct value (a 1M-row week has a few thousand
names), not once per row.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

NO_MPID_PREFIX = "NOMPID:"


def collapse_whitespace(text: str) -> str:
    """Strip and collapse runs of whitespace, so 'ACME  Corp ' and 'ACME Corp' are one name."""
    return " ".join(text.split())


def venue_key_for(mpid: str, participant_name: str) -> str:
    """The key a venue is grouped and stored under.

    The MPID when there is one. FINRA leaves the MPID blank for non-ATS firms and the
    "De Minimis Firms" bucket; those get ``NOMPID:`` plus the first 12 hex characters of the
    SHA-1 of the upper-cased, whitespace-collapsed participant name, which is the same on every
    run and machine (unlike Python's ``hash``), so captures of different weeks join on it.
    """
    mpid = mpid.strip()
    if mpid:
        return mpid
    canonical_name = collapse_whitespace(participant_name).upper()
    digest = hashlib.sha1(canonical_name.encode("utf-8"), usedforsecurity=False).hexdigest()
    return f"{NO_MPID_PREFIX}{digest[:12]}"


def venue_name_for(mpid: str, participant_name: str) -> str:
    """The participant name without FINRA's leading MPID token ('UBSA UBS ATS' -> 'UBS ATS')."""
    name = collapse_whitespace(participant_name)
    mpid = mpid.strip()
    first, _, remainder = name.partition(" ")
    if mpid and first == mpid and remainder:
        return remainder
    return name


def factorize_pairs(pairs: pd.DataFrame) -> tuple[np.ndarray, list[tuple[str, str]]]:
    left_codes, left = pd.factorize(pairs.iloc[:, 0].to_numpy(dtype=object))
    right_codes, right = pd.factorize(pairs.iloc[:, 1].to_numpy(dtype=object))
    combined = left_codes.astype(np.int64) * max(len(right), 1) + right_codes
    codes, distinct = pd.factorize(combined)
    width = max(len(right), 1)
    return codes, [(left[value // width], right[value % width]) for value in distinct]


# At most this many values of each kind are listed in a RAW capture's normalize hints; a week
# with more leaves the list out and normalization finds the values in the database instead.
HINT_LIMIT = 1000


def normalize_hints(frame: pd.DataFrame) -> dict[str, object]:
    """What normalizing these raw rows needs to know, computed from the parsed frame.

    Recorded on the RAW capture (``metrics``) so that the database normalization can skip its
    scans of the stored rows: ``repeated_keys`` counts the rows repeating an earlier
    (canonical symbol, venue_key); ``venues`` lists the distinct raw (mpid, participant_name)
    pairs; ``symbols`` and ``issue_names`` the distinct raw values that their rule changes.
    A list longer than ``HINT_LIMIT`` is left out.
    """
    symbol_codes, symbols = pd.factorize(frame["symbol"].to_numpy(dtype=object))
    canonical = [value.strip().upper() for value in symbols]
    canonical_codes, _ = pd.factorize(np.array(canonical, dtype=object))
    pair_codes, pairs = factorize_pairs(frame[["mpid", "participant_name"]])
    keys = np.array([venue_key_for(m, n) for m, n in pairs], dtype=object)
    key_codes, distinct_keys = pd.factorize(keys)
    if len(frame):
        combined = canonical_codes[symbol_codes].astype(np.int64) * max(len(distinct_keys), 1)
        combined += key_codes[pair_codes]
        repeated = len(combined) - len(pd.unique(combined))
    else:
        repeated = 0
    hints: dict[str, object] = {"repeated_keys": int(repeated)}
    changed_symbols = [s for s, c in zip(symbols, canonical, strict=True) if s != c]
    names = pd.unique(frame["issue_name"].to_numpy(dtype=object))
    changed_names = [n for n in names if collapse_whitespace(n) != n]
    for name, values in (
        ("venues", [[m, n] for m, n in pairs]),
        ("symbols", changed_symbols),
        ("issue_names", changed_names),
    ):
        if len(values) <= HINT_LIMIT:
            hints[name] = values
    return hints
