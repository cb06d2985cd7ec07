"""FINRA OTC Transparency tiers: one canonical spelling for everything we store.

FINRA spells a tier differently in the weekly files (``NMS Tier 1``), in the Query API
(``T1``) and in our partition keys (``NMS_TIER_1``). Every boundary converts to the canonical
form through :func:`canonical_tier` so that two spellings can never create two partitions.
"""

from __future__ import annotations

from enum import StrEnum


class Tier(StrEnum):
    """Canonical tier names, as stored in partition keys, capture ids and tables."""

    NMS_TIER_1 = "NMS_TIER_1"
    NMS_TIER_2 = "NMS_TIER_2"
    OTC = "OTC"


# Canonical order: the order tiers appear in reports, tier-split columns and schedules.
TIERS: tuple[str, ...] = (Tier.NMS_TIER_1.value, Tier.NMS_TIER_2.value, Tier.OTC.value)

# Every spelling we accept, keyed by its upper-cased, whitespace-collapsed form so that
# "nms tier 1" or "NMS  Tier 1" from a hand-typed command line still resolves.
_SPELLINGS: dict[str, str] = {
    "NMS_TIER_1": "NMS_TIER_1",
    "NMS TIER 1": "NMS_TIER_1",
    "T1": "NMS_TIER_1",
    "NMS_TIER_2": "NMS_TIER_2",
    "NMS TIER 2": "NMS_TIER_2",
    "T2": "NMS_TIER_2",
    "OTC": "OTC",
    "OTCE": "OTC",
}

_ACCEPTED_SPELLINGS = (
    "NMS_TIER_1, 'NMS Tier 1', T1, NMS_TIER_2, 'NMS Tier 2', T2, OTC, OTCE (case-insensitive)"
)

_API_IDENTIFIERS: dict[str, str] = {
    Tier.NMS_TIER_1: "T1",
    Tier.NMS_TIER_2: "T2",
    Tier.OTC: "OTCE",
}

# How FINRA writes tierDescription in the weekly files; the sample generator relies on it.
FILE_DESCRIPTIONS: dict[str, str] = {
    Tier.NMS_TIER_1: "NMS Tier 1",
    Tier.NMS_TIER_2: "NMS Tier 2",
    Tier.OTC: "OTC",
}


class UnknownTierError(ValueError):
    """A tier spelling we do not recognise; the message lists what is accepted."""


def canonical_tier(value: str) -> str:
    """Return the canonical tier for any accepted spelling.

    Raises UnknownTierError naming the value and the accepted spellings, because the value
    usually comes from a person (a command-line flag, an API payload) who needs to fix it.
    """
    key = " ".join(str(value).split()).upper()
    try:
        return _SPELLINGS[key]
    except KeyError:
        raise UnknownTierError(
            f"unknown tier {value!r}; accepted spellings: {_ACCEPTED_SPELLINGS}"
        ) from None


def api_tier_identifier(tier: str) -> str:
    """The ``tierIdentifier`` the FINRA Query API expects (``T1``, ``T2`` or ``OTCE``)."""
    return _API_IDENTIFIERS[canonical_tier(tier)]


def file_tier_description(tier: str) -> str:
    """How FINRA spells the tier in a weekly file's ``tierDescription`` column."""
    return FILE_DESCRIPTIONS[canonical_tier(tier)]
