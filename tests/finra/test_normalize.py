from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from finra.normalize import venue_key_for, venue_name_for
from finra.parsing import parse_weekly_file
from tests.finra.reference import normalize_frame

REAL_FILE = Path(__file__).parent / "data" / "finra_otc_weekly_otc_20251215.psv"
HEADER = (
    "tierDescription|issueSymbolIdentifier|issueName|marketParticipantName|MPID|"
    "totalWeeklyShareQuantity|totalWeeklyTradeCount|lastUpdateDate"
)
# sha1("DE MINIMIS FIRMS") starts with cec5745321c9; pinned so a change of derivation, which
# would split a venue's history across two keys, fails loudly.
DE_MINIMIS_KEY = "NOMPID:cec5745321c9"


def normalized(rows: list[str], tier: str = "NMS_TIER_1"):
    data = "\n".join([HEADER, *rows]).encode()
    parsed = parse_weekly_file(data, week_ending=date(2025, 12, 12), tier=tier)
    return normalize_frame(parsed.frame, tier=tier)


def test_output_columns_and_types():
    result = normalized(["NMS Tier 1|aapl |Apple  Inc.|UBSA UBS ATS|UBSA|1000|4|2025-12-22"])
    frame = result.frame
    assert list(frame.columns) == [
        "tier",
        "symbol",
        "issue_name",
        "venue_key",
        "mpid",
        "venue_name",
        "share_quantity",
        "trade_count",
        "avg_trade_size",
    ]
    assert frame.iloc[0].to_dict() == {
        "tier": "NMS_TIER_1",
        "symbol": "AAPL",
        "issue_name": "Apple Inc.",
        "venue_key": "UBSA",
        "mpid": "UBSA",
        "venue_name": "UBS ATS",
        "share_quantity": 1000,
        "trade_count": 4,
        "avg_trade_size": 250.0,
    }
    assert str(frame["share_quantity"].dtype) == "int64"
    assert str(frame["avg_trade_size"].dtype) == "float64"
    assert result.merged_duplicates == 0


def test_blank_mpid_gets_a_stable_key_from_the_participant_name():
    result = normalized(
        [
            "NMS Tier 1|AAPL|Apple Inc.|De Minimis Firms||10|1|2025-12-22",
            "NMS Tier 1|MSFT|Microsoft|de minimis  FIRMS ||20|2|2025-12-22",
        ]
    )
    frame = result.frame
    assert frame["venue_key"].tolist() == [DE_MINIMIS_KEY, DE_MINIMIS_KEY]
    assert frame["mpid"].tolist() == ["", ""]
    assert frame["venue_name"].tolist() == ["De Minimis Firms", "de minimis FIRMS"]
    assert venue_key_for("", "De Minimis Firms") == DE_MINIMIS_KEY
    assert venue_key_for("OTCN", "De Minimis Firms") == "OTCN"


@pytest.mark.parametrize(
    ("mpid", "participant_name", "venue_name"),
    [
        ("UBSA", "UBSA UBS ATS", "UBS ATS"),
        ("OTCN", "OTCN OTC LINK NQB IDQS", "OTC LINK NQB IDQS"),
        ("SWCL", "SWCL  INX SECURITIES, LLC", "INX SECURITIES, LLC"),
        ("JPMX", "J.P. MORGAN  SECURITIES", "J.P. MORGAN SECURITIES"),  # no MPID prefix
        ("UBSA", "UBSA", "UBSA"),  # nothing left after the MPID: keep the name
        ("", "De Minimis Firms", "De Minimis Firms"),
        ("ARC", "ARCA GLOBAL OTC", "ARCA GLOBAL OTC"),  # a prefix of a word is not the MPID
    ],
)
def test_venue_name_drops_the_leading_mpid_token(mpid, participant_name, venue_name):
    assert venue_name_for(mpid, participant_name) == venue_name


def test_duplicate_symbol_venue_rows_are_summed_and_counted():
    result = normalized(
        [
            "NMS Tier 1|AAPL|Apple Inc.|UBSA UBS ATS|UBSA|100|1|2025-12-22",
            "NMS Tier 1|aapl|Apple Inc.|UBSA UBS ATS|UBSA|300|3|2025-12-22",
            "NMS Tier 1|AAPL|Apple Inc.|JPMX JPM-X|JPMX|50|0|2025-12-22",
            "NMS Tier 1|AAPL|Apple Inc.|De Minimis Firms||7|1|2025-12-22",
            "NMS Tier 1|AAPL|Apple Inc.|De  Minimis Firms||3|1|2025-12-22",
        ]
    )
    frame = result.frame.set_index("venue_key")
    assert result.merged_duplicates == 2
    assert len(frame) == 3
    assert frame.loc["UBSA", "share_quantity"] == 400
    assert frame.loc["UBSA", "trade_count"] == 4
    assert frame.loc["UBSA", "avg_trade_size"] == 100.0
    assert frame.loc[DE_MINIMIS_KEY, "share_quantity"] == 10
    # No trades: average trade size is 0.0, not NaN or inf.
    assert frame.loc["JPMX", "avg_trade_size"] == 0.0


def test_empty_symbol_stays_empty():
    result = normalized(["NMS Tier 1| |Unknown issue|UBSA UBS ATS|UBSA|5|1|2025-12-22"])
    assert result.frame["symbol"].tolist() == [""]


def test_real_file_normalizes_without_merging():
    parsed = parse_weekly_file(REAL_FILE.read_bytes(), week_ending=date(2025, 11, 14), tier="OTC")
    result = normalize_frame(parsed.frame, tier="OTCE")
    frame = result.frame
    assert result.merged_duplicates == 0
    assert len(frame) == 5328
    assert set(frame["tier"]) == {"OTC"}
    assert int(frame["share_quantity"].sum()) == 1_335_995_901
    venues = dict(zip(frame["venue_key"], frame["venue_name"], strict=True))
    assert venues["OTCN"] == "OTC LINK NQB IDQS"
    assert venues["SWCL"] == "INX SECURITIES, LLC"
    assert frame["issue_name"].str.contains("  ", regex=False).sum() == 0


def test_empty_frame_normalizes_to_empty():
    parsed = parse_weekly_file(
        f"{HEADER}\nOTC|A|A|OTCN OTC LINK|OTCN|-1|1|2025-12-15".encode(),
        week_ending=date(2025, 12, 12),
        tier="OTC",
        max_reject_ratio=1.0,
    )
    result = normalize_frame(parsed.frame, tier="OTC")
    assert len(result.frame) == 0
    assert result.merged_duplicates == 0
