"""The FINRA pipelines through the work queue, on the real OTC file and generated weeks."""

from __future__ import annotations

import pytest
from django.db import connection

from finra.models import (
    Capture,
    NormalizedRow,
    Stage,
    SymbolHHIRow,
    TierHHIRow,
    VenueShareRow,
    VenueVolumeRow,
)
from tests.finra.conftest import REAL_FILE, REAL_WEEK, enqueue, run_queue
from workqueue.models import ManifestEntry, WorkItem
from workqueue.states import WorkState

pytestmark = pytest.mark.django_db


def latest_view(table: str, columns: str, where: str = "", params: tuple = ()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM finra_otc_transparency_{table}_latest {where}", params
        )
        return cursor.fetchall()


def test_real_otc_file_through_ingest_normalize_and_calcs(place_file):
    place_file(REAL_WEEK, "OTC", REAL_FILE)
    enqueue("ingest_week", {"week_ending": REAL_WEEK, "tier": "OTC"}, params={"tier": "OTC"})

    run_queue()

    states = dict(WorkItem.objects.values_list("pipeline", "state"))
    assert states == {
        "ingest_week": WorkState.COMPLETE,
        "normalize_week": WorkState.COMPLETE,
        "compute_venue_volume": WorkState.COMPLETE,
        "compute_venue_share": WorkState.COMPLETE,
        "compute_hhi": WorkState.COMPLETE,
    }
    # RAW: every row of the file, read back through the _latest view.
    assert latest_view("raw", "count(*), count(DISTINCT symbol), count(DISTINCT mpid)") == [
        (5328, 3111, 9)
    ]
    assert latest_view("raw", "sum(share_quantity)") == [(1_335_995_901,)]
    assert latest_view("rejects", "count(*)") == [(0,)]
    raw_capture = Capture.objects.get(stage=Stage.RAW)
    assert raw_capture.row_count == 5328
    assert raw_capture.source_last_update_date.isoformat() == "2025-12-15"
    assert raw_capture.source_origin == "file:2025-11-14/OTC.psv"
    assert len(raw_capture.source_sha256) == 64

    assert NormalizedRow.objects.count() == 5328
    assert latest_view("normalized", "sum(share_quantity)") == [(1_335_995_901,)]

    shares = {
        row.venue_key: (round(row.share, 6), row.rank)
        for row in VenueShareRow.objects.filter(rank__lte=3)
    }
    assert shares == {"OTCN": (0.821884, 1), "OTCX": (0.144232, 2), "ARCA": (0.030691, 3)}
    assert latest_view("venue_share", "sum(share)")[0][0] == pytest.approx(1.0, abs=1e-9)
    assert VenueVolumeRow.objects.count() == 9

    hhi = dict(SymbolHHIRow.objects.values_list("symbol", "hhi"))
    assert len(hhi) == 3111
    assert hhi["AABB"] == pytest.approx(0.988203, abs=1e-6)
    assert hhi["AACAY"] == pytest.approx(0.417181, abs=1e-6)
    assert latest_view("symbol_hhi", "count(*)", "WHERE venue_count = 1 AND hhi = 1.0") == [(1625,)]
    assert TierHHIRow.objects.get().total_volume == 1_335_995_901

    key = '{"tier":"OTC","week_ending":"2025-11-14"}'
    manifest = dict(
        ManifestEntry.objects.filter(partition_key=key).values_list("stage", "row_count")
    )
    assert manifest == {
        "RAW": 5328,
        "NORMALIZED": 5328,
        "VENUE_VOLUME": 9,
        "VENUE_SHARE": 9 + 5328,
        "HHI": 3111 + 1,
    }


# --- a hand-computed three-tier week ------------------------------------------------------------

HAND_WEEK = "2025-12-05"
HEADER = (
    "tierDescription|issueSymbolIdentifier|issueName|marketParticipantName|MPID|"
    "totalWeeklyShareQuantity|totalWeeklyTradeCount|lastUpdateDate"
)


def hand_file(tier_description: str, rows: list[tuple[str, str, int, int]]) -> bytes:
    lines = [HEADER] + [
        f"{tier_description}|{symbol}|{symbol} Corp|{mpid} VENUE|{mpid}|{shares}|{trades}|"
        "2025-12-29"
        for symbol, mpid, shares, trades in rows
    ]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def hand_week(place_file):
    # AAA: 100 + 300 in tier 1, 600 in tier 2 -> split 0.4 / 0.6 / 0; tier-1 HHI .25^2 + .75^2
    # BBB: traded nothing (0 shares) in tier 1 only -> every share and its HHI are 0
    # CCC: 50 in OTC only -> OTC share 1
    place_file(
        HAND_WEEK,
        "NMS_TIER_1",
        hand_file(
            "NMS Tier 1", [("AAA", "UBSA", 100, 2), ("AAA", "JPMX", 300, 3), ("BBB", "UBSA", 0, 0)]
        ),
    )
    place_file(HAND_WEEK, "NMS_TIER_2", hand_file("NMS Tier 2", [("AAA", "UBSA", 600, 6)]))
    place_file(HAND_WEEK, "OTC", hand_file("OTC", [("CCC", "OTCN", 50, 1)]))


def test_hand_computed_week_tier_split_and_hhi(hand_week):
    for tier in ("NMS_TIER_1", "NMS_TIER_2", "OTC"):
        enqueue("ingest_week", {"week_ending": HAND_WEEK, "tier": tier})
    run_queue()

    assert set(WorkItem.objects.values_list("state", flat=True)) == {WorkState.COMPLETE}
    split = {
        row[0]: row[1:]
        for row in latest_view(
            "tier_split",
            "symbol, nms_tier_1_volume, nms_tier_2_volume, otc_volume, total_volume, "
            "nms_tier_1_share, nms_tier_2_share, otc_share",
        )
    }
    assert split == {
        "AAA": (400, 600, 0, 1000, 0.4, 0.6, 0.0),
        "BBB": (0, 0, 0, 0, 0.0, 0.0, 0.0),
        "CCC": (0, 0, 50, 50, 0.0, 0.0, 1.0),
    }
    hhi = {
        (tier, symbol): value
        for tier, symbol, value in latest_view("symbol_hhi", "tier, symbol, hhi")
    }
    assert hhi[("NMS_TIER_1", "AAA")] == pytest.approx(0.625, abs=1e-12)
    assert hhi[("NMS_TIER_1", "BBB")] == 0.0
    assert hhi[("NMS_TIER_2", "AAA")] == 1.0
    tier_hhi = dict(latest_view("tier_hhi", "tier, hhi"))
    assert tier_hhi["NMS_TIER_1"] == pytest.approx(0.25**2 + 0.75**2, abs=1e-12)
    for (total,) in latest_view(
        "symbol_venue_share", "sum(share)", "GROUP BY tier, symbol HAVING sum(share_quantity) > 0"
    ):
        assert total == pytest.approx(1.0, abs=1e-9)
    assert latest_view(
        "symbol_venue_share", "share", "WHERE symbol = 'BBB' AND tier = 'NMS_TIER_1'"
    ) == [(0.0,)]
    assert latest_view("normalized", "avg_trade_size", "WHERE symbol = 'BBB'") == [(0.0,)]

    # The split records which normalized capture of each tier it used.
    used = latest_view(
        "tier_split", "DISTINCT nms_tier_1_capture_id, nms_tier_2_capture_id, otc_capture_id"
    )
    expected = tuple(
        Capture.objects.get(stage=Stage.NORMALIZED, tier=tier).capture_id
        for tier in ("NMS_TIER_1", "NMS_TIER_2", "OTC")
    )
    assert used == [expected]
    weekly = ManifestEntry.objects.filter(partition_key__contains=HAND_WEEK)
    assert set(weekly.values_list("stage", flat=True)) == {
        "RAW",
        "NORMALIZED",
        "VENUE_VOLUME",
        "VENUE_SHARE",
        "HHI",
        "TIER_SPLIT",
    }
    assert weekly.filter(stage="TIER_SPLIT").get().partition_key == {"week_ending": HAND_WEEK}


def test_tier_split_enqueued_with_a_tier_computes_the_whole_week(hand_week):
    for tier in ("NMS_TIER_1", "NMS_TIER_2", "OTC"):
        enqueue("ingest_week", {"week_ending": HAND_WEEK, "tier": tier})
    run_queue()
    split = enqueue("compute_tier_split", {"week_ending": HAND_WEEK, "tier": "OTC"})
    run_queue()

    split.refresh_from_db()
    assert split.state == WorkState.COMPLETE
    assert latest_view("tier_split", "count(*)") == [(3,)]


def test_tier_split_waits_naming_the_tiers_not_yet_normalized(hand_week):
    enqueue("ingest_week", {"week_ending": HAND_WEEK, "tier": "NMS_TIER_1"})
    run_queue()
    split = enqueue("compute_tier_split", {"week_ending": HAND_WEEK})
    run_queue()

    split.refresh_from_db()
    assert split.state == WorkState.RETRY_WAIT
    assert split.attempt_count == 0  # waiting does not spend an attempt
    assert "waits for stage NORMALIZED of NMS_TIER_2, OTC" in split.last_error


def test_calcs_enqueued_with_only_week_ending_run_for_each_normalized_tier(hand_week):
    for tier in ("NMS_TIER_1", "OTC"):
        enqueue("ingest_week", {"week_ending": HAND_WEEK, "tier": tier})
        enqueue("normalize_week", {"week_ending": HAND_WEEK, "tier": tier})
    hhi = enqueue("compute_hhi", {"week_ending": HAND_WEEK})
    run_queue()

    hhi.refresh_from_db()
    assert hhi.state == WorkState.COMPLETE
    assert sorted(SymbolHHIRow.objects.values_list("tier", "symbol")) == [
        ("NMS_TIER_1", "AAA"),
        ("NMS_TIER_1", "BBB"),
        ("OTC", "CCC"),
    ]


def test_calc_with_only_week_ending_waits_when_no_tier_is_normalized(data_dir):
    item = enqueue("compute_venue_volume", {"week_ending": HAND_WEEK})
    run_queue()
    item.refresh_from_db()
    assert item.state == WorkState.RETRY_WAIT
    assert "waiting for stage NORMALIZED of any tier of week 2025-12-05" in item.last_error
