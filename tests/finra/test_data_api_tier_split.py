"""Tier split and rejects through the data API, on a hand-made week of all three tiers."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from finra.models import Capture, Stage
from tests.api.conftest import token_client
from tests.finra.conftest import enqueue, run_queue

pytestmark = pytest.mark.django_db

WEEK = "2025-12-26"
HEADER = (
    "tierDescription|issueSymbolIdentifier|issueName|marketParticipantName|MPID|"
    "totalWeeklyShareQuantity|totalWeeklyTradeCount|lastUpdateDate"
)


def week_file(tier_description: str, rows: list[tuple[str, str, str]]) -> bytes:
    lines = [HEADER] + [
        f"{tier_description}|{symbol}|{symbol} Corp|{mpid} VENUE|{mpid}|{shares}|1|2026-01-12"
        for symbol, mpid, shares in rows
    ]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def desk():
    user = User.objects.create_user("desk")
    user.groups.add(Group.objects.get(name="auditors"))
    return token_client(user)


@pytest.fixture
def three_tiers(place_file, settings):
    settings.FINRA_MAX_REJECT_RATIO = 1.0  # keep the OTC file's one bad line as a reject
    place_file(WEEK, "NMS_TIER_1", week_file("NMS Tier 1", [("AAA", "UBSA", "300")]))
    place_file(WEEK, "NMS_TIER_2", week_file("NMS Tier 2", [("AAA", "UBSA", "100")]))
    place_file(
        WEEK,
        "OTC",
        week_file("OTC", [("AAA", "OTCN", "600"), ("CCC", "OTCN", "50"), ("DDD", "OTCN", "x")]),
    )
    for tier in ("NMS_TIER_1", "NMS_TIER_2", "OTC"):
        enqueue("ingest_week", {"week_ending": WEEK, "tier": tier})
    run_queue()


def test_tier_split_rows_name_the_captures_they_came_from(three_tiers, desk):
    body = desk.get("/api/v1/finra/tier-split", {"week_ending": WEEK}).json()

    assert body["count"] == 2
    aaa, ccc = body["results"]
    assert (aaa["symbol"], aaa["total_volume"]) == ("AAA", 1000)
    assert (aaa["nms_tier_1_share"], aaa["nms_tier_2_share"], aaa["otc_share"]) == (
        pytest.approx(0.3),
        pytest.approx(0.1),
        pytest.approx(0.6),
    )
    assert (ccc["symbol"], ccc["otc_share"]) == ("CCC", 1.0)
    split_capture = Capture.objects.get(stage=Stage.TIER_SPLIT)
    assert aaa["capture_id"] == split_capture.capture_id
    assert (
        aaa["otc_capture_id"] == Capture.objects.get(stage=Stage.NORMALIZED, tier="OTC").capture_id
    )
    assert desk.get("/api/v1/finra/tier-split", {"symbol": "ccc"}).json()["count"] == 1
    assert desk.get("/api/v1/finra/tier-split", {"tier": "OTC"}).json()["error"]["code"] == (
        "unknown_fields"
    )
    captures = desk.get("/api/v1/finra/captures", {"tier": "all"}).json()["results"]
    assert [(c["stage"], c["tier"]) for c in captures] == [("TIER_SPLIT", "ALL")]


def test_rejects_show_the_line_and_the_reason(three_tiers, desk):
    body = desk.get("/api/v1/finra/rejects", {"week_ending": WEEK, "tier": "OTC"}).json()

    assert body["count"] == 1
    reject = body["results"][0]
    assert reject["line_number"] == 4
    assert reject["raw_line"].startswith("OTC|DDD|")
    assert "totalWeeklyShareQuantity" in reject["reason"]
    assert desk.get("/api/v1/finra/rejects", {"tier": "T1"}).json()["count"] == 0
