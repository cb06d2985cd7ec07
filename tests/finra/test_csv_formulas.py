"""A weekly file shaped by someone who wants a desk's spreadsheet to run their formula: every
``format=csv`` endpoint quotes such text cells, and the JSON answers keep the values as they are."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth.models import Group, User

from tests.api.conftest import token_client
from tests.finra.conftest import enqueue, run_queue

pytestmark = pytest.mark.django_db

API = "/api/v1/finra"
WEEK = "2025-12-26"
HEADER = (
    "tierDescription|issueSymbolIdentifier|issueName|marketParticipantName|MPID|"
    "totalWeeklyShareQuantity|totalWeeklyTradeCount|lastUpdateDate"
)


def week_file(tier: str, lines: list[str]) -> bytes:
    return ("\n".join([HEADER, *(f"{tier}|{line}" for line in lines)]) + "\n").encode()


@pytest.fixture
def hostile_week(place_file, settings):
    """Symbols ``=1+1`` and ``-2+3``, a venue named ``@SUM(9)`` with MPID ``+EVIL``, and a
    rejected line that opens with a formula, in all three tiers of one week."""
    settings.FINRA_MAX_REJECT_RATIO = 1.0
    otc = [
        "=1+1|Formula Corp|@SUM(9)|+EVIL|600|3|2026-01-12",
        "-2+3|Minus Corp|OTCN OTC LINK|OTCN|400|2|2026-01-12",
        "AAA|Plain Corp|OTCN OTC LINK|OTCN|1000|5|2026-01-12",
    ]
    place_file(WEEK, "OTC", week_file("OTC", otc) + b'=HYPERLINK("http://x")|x|x|x|x|y|1|z\n')
    nms = ["=1+1|Formula Corp|UBS|UBSA|100|1|2026-01-12"]
    for tier, description in (("NMS_TIER_1", "NMS Tier 1"), ("NMS_TIER_2", "NMS Tier 2")):
        place_file(WEEK, tier, week_file(description, nms))
    for tier in ("NMS_TIER_1", "NMS_TIER_2", "OTC"):
        enqueue("ingest_week", {"week_ending": WEEK, "tier": tier})
    run_queue()


@pytest.fixture
def desk():
    user = User.objects.create_user("desk")
    user.groups.add(Group.objects.get(name="auditors"))
    return token_client(user)


def csv_rows(desk, endpoint: str, **query: str) -> list[dict[str, str]]:
    response = desk.get(f"{API}/{endpoint}", {"format": "csv", **query})
    assert response.status_code == 200, response.content
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def json_rows(desk, endpoint: str, **query: str) -> list[dict]:
    response = desk.get(f"{API}/{endpoint}", query)
    assert response.status_code == 200, response.content
    return response.json()["results"]


def by(rows: list[dict], key: str) -> dict:
    return {row[key]: row for row in rows}


def test_venue_endpoints_quote_a_formula_venue_and_mpid(hostile_week, desk):
    for endpoint in ("venue-volume", "venue-share"):
        rows = by(csv_rows(desk, endpoint, week_ending=WEEK, tier="OTC"), "venue_key")

        assert set(rows) == {"'+EVIL", "OTCN"}
        assert rows["'+EVIL"]["mpid"] == "'+EVIL"
        assert rows["'+EVIL"]["venue_name"] == "'@SUM(9)"
        assert rows["OTCN"]["venue_name"] == "OTC LINK"  # plain text is untouched
        json_venues = by(json_rows(desk, endpoint, week_ending=WEEK, tier="OTC"), "venue_key")
        assert json_venues["+EVIL"]["venue_name"] == "@SUM(9)"


def test_symbol_endpoints_quote_formula_symbols(hostile_week, desk):
    expected = {"'=1+1", "'-2+3", "AAA"}
    assert {r["symbol"] for r in csv_rows(desk, "hhi", week_ending=WEEK, tier="OTC")} == expected
    assert {r["symbol"] for r in csv_rows(desk, "tier-split", week_ending=WEEK)} == expected
    shares = csv_rows(desk, "symbol-venue-share", week_ending=WEEK, tier="OTC")
    assert {(r["symbol"], r["venue_key"]) for r in shares} == {
        ("'=1+1", "'+EVIL"),
        ("'-2+3", "OTCN"),
        ("AAA", "OTCN"),
    }
    assert {r["symbol"] for r in json_rows(desk, "hhi", week_ending=WEEK, tier="OTC")} == {
        "=1+1",
        "-2+3",
        "AAA",
    }


def test_rejects_quote_a_raw_line_that_opens_with_a_formula(hostile_week, desk):
    (reject,) = csv_rows(desk, "rejects", week_ending=WEEK, tier="OTC")

    assert reject["raw_line"].startswith("'=HYPERLINK(")
    (json_reject,) = json_rows(desk, "rejects", week_ending=WEEK, tier="OTC")
    assert json_reject["raw_line"].startswith("=HYPERLINK(")


def test_numbers_stay_numbers_in_csv(hostile_week, desk):
    row = by(csv_rows(desk, "tier-split", week_ending=WEEK), "symbol")["'=1+1"]
    assert (row["total_volume"], row["otc_volume"], row["otc_share"]) == ("800", "600", "0.75")
    tiers = csv_rows(desk, "tier-hhi", week_ending=WEEK, tier="OTC")
    assert [(r["tier"], r["total_volume"]) for r in tiers] == [("OTC", "2000")]
    captures = csv_rows(desk, "captures", week_ending=WEEK, tier="OTC", stage="RAW")
    assert [(c["row_count"], c["reject_count"]) for c in captures] == [("3", "1")]
