from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from finra.parsing import parse_weekly_file
from tests.finra.reference import (
    normalize_frame,
    symbol_hhi,
    symbol_venue_share,
    tier_hhi,
    tier_split,
    venue_share,
    venue_volume,
)

REAL_FILE = Path(__file__).parent / "data" / "finra_otc_weekly_otc_20251215.psv"
HEADER = (
    "tierDescription|issueSymbolIdentifier|issueName|marketParticipantName|MPID|"
    "totalWeeklyShareQuantity|totalWeeklyTradeCount|lastUpdateDate"
)
DE_MINIMIS_KEY = "NOMPID:cec5745321c9"
TOLERANCE = 1e-6


def week(tier: str, rows: list[str]):
    data = "\n".join([HEADER, *rows]).encode()
    parsed = parse_weekly_file(data, week_ending=date(2025, 12, 12), tier=tier)
    return normalize_frame(parsed.frame, tier=tier).frame


# A hand-computed week. Volumes (shares) per symbol and venue:
#   NMS_TIER_1: AAA UBSA 600, AAA JPMX 400, BBB UBSA 100
#   NMS_TIER_2: AAA INCR 500, CCC JPMX 0
#   OTC:        BBB OTCN 300, DDD OTCN 250, DDD De Minimis Firms (blank MPID) 750
@pytest.fixture
def hand_week():
    return {
        "NMS_TIER_1": week(
            "NMS_TIER_1",
            [
                "NMS Tier 1|AAA|Aaa Corp|UBSA UBS ATS|UBSA|600|6|2025-12-22",
                "NMS Tier 1|AAA|Aaa Corp|JPMX JPM-X|JPMX|400|2|2025-12-22",
                "NMS Tier 1|BBB|Bbb Corp|UBSA UBS ATS|UBSA|100|1|2025-12-22",
            ],
        ),
        "NMS_TIER_2": week(
            "NMS_TIER_2",
            [
                "NMS Tier 2|AAA|Aaa Corp|INCR INTELLIGENT CROSS LLC|INCR|500|5|2026-01-05",
                "NMS Tier 2|CCC|Ccc Corp|JPMX JPM-X|JPMX|0|0|2026-01-05",
            ],
        ),
        "OTC": week(
            "OTC",
            [
                "OTC|BBB|Bbb Corp|OTCN OTC LINK NQB IDQS|OTCN|300|3|2026-01-05",
                "OTC|DDD|Ddd Corp|OTCN OTC LINK NQB IDQS|OTCN|250|5|2026-01-05",
                "OTC|DDD|Ddd Corp|De Minimis Firms||750|1|2026-01-05",
            ],
        ),
    }


def test_hand_week_tier_split(hand_week):
    split = tier_split(hand_week).set_index("symbol")
    assert list(split.columns) == [
        "nms_tier_1_volume",
        "nms_tier_2_volume",
        "otc_volume",
        "total_volume",
        "nms_tier_1_share",
        "nms_tier_2_share",
        "otc_share",
    ]
    assert list(split.index) == ["AAA", "BBB", "CCC", "DDD"]
    # AAA: 1000 in T1 + 500 in T2 = 1500 -> 2/3, 1/3, 0.
    assert split.loc["AAA", ["nms_tier_1_volume", "nms_tier_2_volume", "otc_volume"]].tolist() == [
        1000,
        500,
        0,
    ]
    assert split.loc["AAA", "total_volume"] == 1500
    assert split.loc["AAA", "nms_tier_1_share"] == pytest.approx(2 / 3, abs=1e-12)
    assert split.loc["AAA", "nms_tier_2_share"] == pytest.approx(1 / 3, abs=1e-12)
    # BBB: 100 in T1 + 300 in OTC = 400 -> 0.25, 0, 0.75.
    assert split.loc["BBB", "total_volume"] == 400
    assert split.loc["BBB", "nms_tier_1_share"] == 0.25
    assert split.loc["BBB", "otc_share"] == 0.75
    # CCC traded zero shares: every share is 0, not NaN.
    assert split.loc["CCC", "total_volume"] == 0
    assert split.loc["CCC", ["nms_tier_1_share", "nms_tier_2_share", "otc_share"]].tolist() == [
        0.0,
        0.0,
        0.0,
    ]
    # DDD: 250 + 750 = 1000, all OTC.
    assert split.loc["DDD", "otc_volume"] == 1000
    assert split.loc["DDD", "otc_share"] == 1.0
    share_sums = split[["nms_tier_1_share", "nms_tier_2_share", "otc_share"]].sum(axis=1)
    assert ((share_sums - 1).abs() <= 1e-9).sum() == 3
    assert share_sums["CCC"] == 0.0


def test_tier_split_accepts_finra_spellings_and_only_reports_given_tiers(hand_week):
    split = tier_split({"T1": hand_week["NMS_TIER_1"], "OTCE": hand_week["OTC"]})
    assert list(split.columns) == [
        "symbol",
        "nms_tier_1_volume",
        "otc_volume",
        "total_volume",
        "nms_tier_1_share",
        "otc_share",
    ]
    assert split.set_index("symbol").loc["BBB", "otc_share"] == 0.75
    with pytest.raises(ValueError, match="given twice"):
        tier_split({"T1": hand_week["NMS_TIER_1"], "NMS Tier 1": hand_week["NMS_TIER_1"]})


def test_hand_week_symbol_hhi(hand_week):
    tier_1 = symbol_hhi(hand_week["NMS_TIER_1"]).set_index("symbol")
    # AAA: shares 0.6 and 0.4 -> 0.36 + 0.16 = 0.52. BBB: one venue -> 1.0.
    assert tier_1.loc["AAA", "hhi"] == pytest.approx(0.52, abs=1e-12)
    assert tier_1.loc["AAA", "venue_count"] == 2
    assert tier_1.loc["AAA", "total_volume"] == 1000
    assert tier_1.loc["BBB", "hhi"] == 1.0
    # DDD in OTC: 250/1000 and 750/1000 -> 0.0625 + 0.5625 = 0.625 (blank MPID is a venue).
    otc = symbol_hhi(hand_week["OTC"]).set_index("symbol")
    assert otc.loc["DDD", "hhi"] == pytest.approx(0.625, abs=1e-12)
    assert otc.loc["DDD", "venue_count"] == 2
    # CCC in Tier 2 traded nothing: HHI 0.0, one reporting venue.
    tier_2 = symbol_hhi(hand_week["NMS_TIER_2"]).set_index("symbol")
    assert tier_2.loc["CCC", "hhi"] == 0.0
    assert tier_2.loc["CCC", "venue_count"] == 1
    assert tier_2.loc["CCC", "total_volume"] == 0


def test_hand_week_tier_hhi_and_venue_share(hand_week):
    # Tier 1 venues: UBSA 700, JPMX 400 of 1100 -> (49 + 16) / 121 = 0.537190...
    assert tier_hhi(hand_week["NMS_TIER_1"]) == pytest.approx(65 / 121, abs=1e-12)
    # OTC venues: De Minimis 750, OTCN 550 of 1300 -> (750² + 550²) / 1300² = 0.511834...
    assert tier_hhi(hand_week["OTC"]) == pytest.approx(865_000 / 1_690_000, abs=1e-12)
    shares = venue_share(hand_week["OTC"])
    assert shares["venue_key"].tolist() == [DE_MINIMIS_KEY, "OTCN"]
    assert shares["rank"].tolist() == [1, 2]
    assert shares["share"].tolist() == pytest.approx([750 / 1300, 550 / 1300], abs=1e-12)
    assert shares["venue_name"].tolist() == ["De Minimis Firms", "OTC LINK NQB IDQS"]


def test_zero_volume_tier_gives_zero_shares_not_nan(hand_week):
    shares = venue_share(hand_week["NMS_TIER_2"].assign(share_quantity=0))
    assert shares["share"].tolist() == [0.0, 0.0]
    assert tier_hhi(hand_week["NMS_TIER_2"].assign(share_quantity=0)) == 0.0


def test_equal_volumes_rank_by_venue_key():
    frame = week(
        "NMS_TIER_1",
        [
            "NMS Tier 1|AAA|Aaa|UBSA UBS ATS|UBSA|100|1|2025-12-22",
            "NMS Tier 1|AAA|Aaa|JPMX JPM-X|JPMX|100|1|2025-12-22",
            "NMS Tier 1|BBB|Bbb|CROS CROSSFINDER|CROS|300|1|2025-12-22",
        ],
    )
    shares = venue_share(frame)
    assert shares["venue_key"].tolist() == ["CROS", "JPMX", "UBSA"]
    assert shares["rank"].tolist() == [1, 2, 3]
    assert shares["share"].tolist() == [0.6, 0.2, 0.2]


def test_venue_volume_counts_distinct_symbols(hand_week):
    volume = venue_volume(hand_week["NMS_TIER_1"]).set_index("venue_key")
    assert volume.loc["UBSA", "share_quantity"] == 700
    assert volume.loc["UBSA", "trade_count"] == 7
    assert volume.loc["UBSA", "symbol_count"] == 2
    assert volume.loc["UBSA", "venue_name"] == "UBS ATS"
    assert volume.loc["JPMX", "symbol_count"] == 1


@pytest.fixture(scope="module")
def real_week():
    parsed = parse_weekly_file(REAL_FILE.read_bytes(), week_ending=date(2025, 11, 14), tier="OTC")
    return normalize_frame(parsed.frame, tier="OTC").frame


def test_real_file_venue_share(real_week):
    shares = venue_share(real_week)
    assert int(shares["share_quantity"].sum()) == 1_335_995_901
    assert len(shares) == 9
    top = shares.head(3)
    assert top["venue_key"].tolist() == ["OTCN", "OTCX", "ARCA"]
    assert top["rank"].tolist() == [1, 2, 3]
    assert top["share"].tolist() == pytest.approx([0.821884, 0.144232, 0.030691], abs=TOLERANCE)
    assert shares["share"].sum() == pytest.approx(1.0, abs=1e-12)


def test_real_file_symbol_hhi(real_week):
    hhi = symbol_hhi(real_week).set_index("symbol")
    assert len(hhi) == 3111
    assert hhi.loc["AABB", "hhi"] == pytest.approx(0.988203, abs=TOLERANCE)
    assert hhi.loc["AACAY", "hhi"] == pytest.approx(0.417181, abs=TOLERANCE)
    assert hhi.loc["AACAY", "venue_count"] == 3
    assert int((hhi["hhi"] == 1.0).sum()) == 1625
    assert int((hhi["venue_count"] == 1).sum()) == 1625


def test_real_file_symbol_venue_share(real_week):
    shares = symbol_venue_share(real_week).set_index(["symbol", "venue_key"])["share"]
    assert shares.loc[("AABB", "OTCN")] == pytest.approx(0.994067, abs=TOLERANCE)
    assert shares.loc[("AABB", "OTCX")] == pytest.approx(0.005933, abs=TOLERANCE)
    assert shares.loc[("AACAY", "ARCA")] == pytest.approx(0.491081, abs=TOLERANCE)
    assert shares.loc[("AACAY", "OTCN")] == pytest.approx(0.406974, abs=TOLERANCE)
    assert shares.loc[("AACAY", "OTCX")] == pytest.approx(0.101946, abs=TOLERANCE)
    per_symbol = shares.groupby(level="symbol").sum()
    assert ((per_symbol - 1).abs() <= 1e-9).all()


def test_real_file_tier_split_alone_is_all_otc(real_week):
    split = tier_split({"OTC": real_week})
    assert len(split) == 3111
    assert (split["otc_share"] == 1.0).all()
    assert int(split["total_volume"].sum()) == 1_335_995_901
