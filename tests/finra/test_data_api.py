"""The FINRA data API as a trading desk uses it: the real OTC week through the pipelines, then
read back over HTTP with filters, pages, versions, CSV, errors and roles."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
import time_machine
from django.contrib.auth.models import Group, Permission, User
from rest_framework.test import APIClient

from finra.api import serializers as s
from finra.api import views
from finra.models import Capture, SymbolHHIRow, VenueShareRow
from tests.api.conftest import token_client
from tests.finra.conftest import REAL_FILE, REAL_WEEK, enqueue, run_queue

pytestmark = pytest.mark.django_db

API = "/api/v1/finra"
DAY_1 = datetime(2025, 12, 15, 14, 0, tzinfo=UTC)
DAY_2 = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)
OLD_ID = "finra.otc_transparency:OTC:2025-11-14:20251215"
NEW_ID = "finra.otc_transparency:OTC:2025-11-14:20260105"
ENDPOINTS = (
    "captures",
    "venue-volume",
    "venue-share",
    "symbol-venue-share",
    "hhi",
    "tier-hhi",
    "tier-split",
    "rejects",
)


def client_in(group: str | None, username: str = "desk") -> APIClient:
    user = User.objects.create_user(username, password="pw")
    if group:
        user.groups.add(Group.objects.get(name=group))
    return token_client(user)


@pytest.fixture
def desk() -> APIClient:
    return client_in("viewers")


@pytest.fixture
def real_week(place_file) -> None:
    """The real OTC file of week 2025-11-14, captured on DAY_1, through every calc."""
    place_file(REAL_WEEK, "OTC", REAL_FILE)
    with time_machine.travel(DAY_1, tick=False):
        enqueue("ingest_week", {"week_ending": REAL_WEEK, "tier": "OTC"}, params={"tier": "OTC"})
        run_queue()


@pytest.fixture
def restated_week(real_week, place_file) -> None:
    """FINRA restates the week on DAY_2: the same file without the ARCA venue's rows."""
    lines = REAL_FILE.read_bytes().decode().splitlines()
    kept = [line for line in lines if line.split("|")[4] != "ARCA"]
    assert len(kept) < len(lines)
    place_file(REAL_WEEK, "OTC", ("\n".join(kept) + "\n").encode())
    with time_machine.travel(DAY_2, tick=False):
        enqueue(
            "ingest_week",
            {"week_ending": REAL_WEEK, "tier": "OTC"},
            params={"tier": "OTC"},
            reprocess=True,
        )
        run_queue()


def get(client: APIClient, endpoint: str, **params) -> dict:
    response = client.get(f"{API}/{endpoint}", params)
    assert response.status_code == 200, response.content
    return response.json()


def top_venues(body: dict) -> dict[str, tuple[float, int]]:
    return {row["venue_key"]: (row["share"], row["rank"]) for row in body["results"][:3]}


# --- values -----------------------------------------------------------------------------------


def test_venue_share_of_the_real_otc_week(real_week, desk):
    body = get(desk, "venue-share", week_ending=REAL_WEEK, tier="OTC")

    assert body["count"] == 9
    assert [row["rank"] for row in body["results"]] == list(range(1, 10))
    top = body["results"][:3]
    assert [row["venue_key"] for row in top] == ["OTCN", "OTCX", "ARCA"]
    for row, share in zip(top, (0.821884, 0.144232, 0.030691), strict=True):
        assert row["share"] == pytest.approx(share, abs=1e-6)
        assert row["capture_id"] == OLD_ID
        assert row["captured_at"] == "2025-12-15T14:00:00Z"
        assert row["week_ending"] == REAL_WEEK
        assert row["tier"] == "OTC"
    assert sum(row["share"] for row in body["results"]) == pytest.approx(1.0, abs=1e-9)


def test_symbol_hhi_and_tier_hhi_of_the_real_otc_week(real_week, desk):
    aabb = get(desk, "hhi", symbol="AABB")["results"]
    aacay = get(desk, "hhi", symbol="aacay", week_ending=REAL_WEEK)["results"]

    assert len(aabb) == 1
    assert aabb[0]["hhi"] == pytest.approx(0.988203, abs=1e-6)
    assert aacay[0]["symbol"] == "AACAY"
    assert aacay[0]["hhi"] == pytest.approx(0.417181, abs=1e-6)
    tier_hhi = get(desk, "tier-hhi")["results"]
    assert [(row["tier"], row["total_volume"]) for row in tier_hhi] == [("OTC", 1_335_995_901)]


def test_filters_by_tier_week_mpid_and_symbol(real_week, desk):
    assert get(desk, "venue-share", tier="otce")["count"] == 9  # any FINRA spelling
    assert get(desk, "venue-share", tier="NMS Tier 1")["count"] == 0
    assert get(desk, "venue-share", week_ending="2025-12-05")["count"] == 0

    otcx = get(desk, "venue-share", mpid="OTCX")["results"]
    assert [(row["mpid"], row["rank"]) for row in otcx] == [("OTCX", 2)]
    assert get(desk, "venue-volume", mpid="OTCN")["results"][0]["venue_key"] == "OTCN"

    aacay_hhi = get(desk, "hhi", symbol="AACAY")["results"][0]
    venues = get(desk, "symbol-venue-share", symbol="AACAY")
    assert venues["count"] == aacay_hhi["venue_count"]
    assert {row["symbol"] for row in venues["results"]} == {"AACAY"}
    assert sum(row["share"] ** 2 for row in venues["results"]) == pytest.approx(
        aacay_hhi["hhi"], abs=1e-9
    )
    on_otcn = get(desk, "symbol-venue-share", mpid="OTCN", limit=5000)
    assert on_otcn["count"] > 0
    assert {row["venue_key"] for row in on_otcn["results"]} == {"OTCN"}


def test_pages_are_exact_and_stable(real_week, desk):
    first = get(desk, "hhi", limit=1000)
    assert first["count"] == 3111
    assert first["previous"] is None
    assert "offset=1000" in first["next"]

    symbols, url = [], f"{API}/hhi?limit=1000"
    while url:
        page = desk.get(url).json()
        symbols += [row["symbol"] for row in page["results"]]
        url = page["next"]
    assert len(symbols) == 3111
    assert symbols == sorted(set(symbols))  # ordered by symbol, no repeats, none lost

    last = get(desk, "hhi", limit=1000, offset=3000)
    assert len(last["results"]) == 111
    assert last["next"] is None
    assert len(get(desk, "hhi")["results"]) == s.DEFAULT_LIMIT


def every_row(client: APIClient, endpoint: str, **params) -> tuple[int, list[dict]]:
    """The count of the first page and every row of every page."""
    body = get(client, endpoint, limit=s.MAX_LIMIT, **params)
    count, rows = body["count"], body["results"]
    while body["next"]:
        body = client.get(body["next"]).json()
        rows += body["results"]
    return count, rows


def test_symbol_venue_share_counts_the_rows_it_returns(restated_week, desk):
    # The restatement's normalized rows exist, but its VENUE_SHARE capture is not there (as
    # while its calcs wait): the symbol venue shares are still the first capture's, and so is
    # the count.
    Capture.objects.filter(capture_id=NEW_ID, stage="VENUE_SHARE").delete()

    count, rows = every_row(desk, "symbol-venue-share", week_ending=REAL_WEEK, tier="OTC")
    assert count == len(rows) == 5328
    assert {row["capture_id"] for row in rows} == {OLD_ID}
    for params in ({"mpid": "ARCA"}, {"symbol": "AACAY"}, {"capture_id": OLD_ID}):
        count, rows = every_row(desk, "symbol-venue-share", **params)
        assert count == len(rows) > 0, params
    count, rows = every_row(desk, "symbol-venue-share", symbol="AACAY", mpid="OTCX")
    assert (count, [(row["symbol"], row["venue_key"]) for row in rows]) == (1, [("AACAY", "OTCX")])
    response = desk.get(f"{API}/symbol-venue-share", {"capture_id": NEW_ID})
    assert response.status_code == 404


# --- versions ---------------------------------------------------------------------------------


def test_latest_as_of_and_capture_id_after_a_restatement(restated_week, desk):
    latest = get(desk, "venue-share", week_ending=REAL_WEEK, tier="OTC")
    assert {row["capture_id"] for row in latest["results"]} == {NEW_ID}
    assert {row["captured_at"] for row in latest["results"]} == {"2026-01-05T14:00:00Z"}
    assert "ARCA" not in {row["venue_key"] for row in latest["results"]}
    assert latest["count"] == 8
    assert latest["results"][0]["share"] > 0.83  # OTCN gains ARCA's part

    expected_old = {"OTCN": (0.821884, 1), "OTCX": (0.144232, 2), "ARCA": (0.030691, 3)}
    for params in (
        {"as_of": "2025-12-31T00:00:00Z"},
        {"as_of": "2025-12-15T14:00:00"},  # no offset: UTC, and "at or before" is inclusive
        {"capture_id": OLD_ID},
    ):
        old = get(desk, "venue-share", **params)
        assert old["count"] == 9, params
        assert {row["capture_id"] for row in old["results"]} == {OLD_ID}
        for venue, (share, rank) in top_venues(old).items():
            assert share == pytest.approx(expected_old[venue][0], abs=1e-6)
            assert rank == expected_old[venue][1]

    assert get(desk, "venue-share", as_of="2025-12-01T00:00:00Z")["count"] == 0
    assert get(desk, "hhi", capture_id=NEW_ID, symbol="AABB")["results"][0]["capture_id"] == (
        NEW_ID
    )
    # Both versions are kept: the capture register lists them.
    captures = get(desk, "captures", stage="venue_share")["results"]
    assert [(c["capture_id"], c["stage"]) for c in captures] == [
        (OLD_ID, "VENUE_SHARE"),
        (NEW_ID, "VENUE_SHARE"),
    ]
    assert VenueShareRow.objects.count() == 17


def test_reads_across_weeks_take_each_weeks_own_version(restated_week, desk, place_file):
    # A second week, captured once on DAY_1: read across weeks (no week_ending), every week
    # gives its latest capture, or with as_of its newest at that time, never a superseded one.
    earlier_week = "2025-11-07"
    earlier_id = f"finra.otc_transparency:OTC:{earlier_week}:20251215"
    place_file(earlier_week, "OTC", REAL_FILE)
    with time_machine.travel(DAY_1, tick=False):
        enqueue("ingest_week", {"week_ending": earlier_week, "tier": "OTC"}, params={"tier": "OTC"})
        run_queue()

    def versions(endpoint: str, **params) -> list[tuple[str, str]]:
        count, rows = every_row(desk, endpoint, **params)
        assert count == len(rows), (endpoint, params)
        return sorted({(row["week_ending"], row["capture_id"]) for row in rows})

    latest = [(earlier_week, earlier_id), (REAL_WEEK, NEW_ID)]
    before_restatement = [(earlier_week, earlier_id), (REAL_WEEK, OLD_ID)]
    for endpoint in ("hhi", "symbol-venue-share"):
        assert versions(endpoint, symbol="AABB") == latest, endpoint
        assert versions(endpoint, symbol="AABB", as_of="2025-12-31T00:00:00Z") == (
            before_restatement
        ), endpoint
    assert versions("venue-share", tier="OTC") == latest
    assert get(desk, "venue-share", tier="OTC")["count"] == 9 + 8  # ARCA left in the restatement
    assert versions("venue-share", as_of="2025-12-31T00:00:00Z") == before_restatement
    assert get(desk, "hhi", symbol="AABB", tier="OTC")["results"][1]["hhi"] == pytest.approx(
        0.988203, abs=1e-6
    )


def test_captures_filters(real_week, desk):
    every = get(desk, "captures", week_ending=REAL_WEEK, tier="OTC")["results"]
    assert [c["stage"] for c in every] == [
        "RAW",
        "NORMALIZED",
        "VENUE_VOLUME",
        "VENUE_SHARE",
        "HHI",
    ]
    raw = get(desk, "captures", capture_id=OLD_ID, stage="RAW")["results"][0]
    assert raw["row_count"] == 5328
    assert raw["source_last_update_date"] == "2025-12-15"
    assert raw["status"] == "complete"
    assert get(desk, "captures", tier="ALL")["count"] == 0


# --- CSV --------------------------------------------------------------------------------------


def read_csv(response) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    content = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(content)))


def test_csv_exports_every_matching_row_with_a_header(real_week, desk):
    response = desk.get(f"{API}/hhi", {"format": "csv", "week_ending": REAL_WEEK, "tier": "T2"})
    assert read_csv(response) == []

    response = desk.get(f"{API}/hhi", {"format": "csv", "week_ending": REAL_WEEK})
    assert response["Content-Disposition"] == 'attachment; filename="finra-hhi-2025-11-14.csv"'
    rows = read_csv(response)
    assert len(rows) == 3111  # all of them, not one page
    assert list(rows[0]) == s.SymbolHHIOutputSerializer.Meta.fields
    aabb = next(row for row in rows if row["symbol"] == "AABB")
    assert float(aabb["hhi"]) == pytest.approx(0.988203, abs=1e-6)
    assert aabb["capture_id"] == OLD_ID

    shares = read_csv(desk.get(f"{API}/venue-share", {"format": "csv", "tier": "OTC"}))
    assert [row["venue_key"] for row in shares[:3]] == ["OTCN", "OTCX", "ARCA"]


def test_csv_pages_with_limit_and_refuses_exports_above_the_cap(real_week, desk, monkeypatch):
    page = read_csv(desk.get(f"{API}/hhi", {"format": "csv", "limit": 10, "offset": 3105}))
    assert len(page) == 6

    monkeypatch.setattr(views, "CSV_MAX_ROWS", 3000)
    response = desk.get(f"{API}/hhi", {"format": "csv"})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "too_many_rows"
    assert len(read_csv(desk.get(f"{API}/hhi", {"format": "csv", "limit": 3000}))) == 3000


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "code", "field", "fragment"),
    [
        ({"week_ending": "2025-12-11"}, "invalid_request", "week_ending", "is a Thursday"),
        ({"week_ending": "12/12/2025"}, "invalid_request", "week_ending", "not an ISO date"),
        ({"tier": "T3"}, "invalid_request", "tier", "unknown tier 'T3'"),
        ({"venue": "OTCN"}, "unknown_fields", "venue", "unknown field(s) venue"),
        ({"symbol": "AABB"}, "unknown_fields", "symbol", "unknown field"),  # no symbol column
        (
            {"capture_id": OLD_ID, "as_of": "2026-01-01T00:00:00Z"},
            "invalid_request",
            "as_of",
            "not both",
        ),
        ({"as_of": "last tuesday"}, "invalid_request", "as_of", "Datetime has wrong format"),
        ({"limit": 5001}, "invalid_request", "limit", "5000"),
        ({"limit": 0}, "invalid_request", "limit", "1"),
        ({"format": "xml"}, "invalid_request", "format", "unknown format 'xml'"),
        ({"format": "api"}, "invalid_request", "format", "use one of json, csv"),
    ],
)
def test_bad_queries_are_400_with_a_code_and_the_culprit(desk, params, code, field, fragment):
    response = desk.get(f"{API}/venue-share", params)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    assert field in error["fields"]
    assert fragment in error["message"]


def test_week_ending_message_is_the_one_from_finra_weeks(desk):
    error = desk.get(f"{API}/hhi", {"week_ending": "2025-12-13"}).json()["error"]
    assert error["fields"]["week_ending"] == (
        "week_ending 2025-12-13 is a Saturday; it must be a Friday (the last trading day of the "
        "week)"
    )


def test_unknown_capture_id_is_a_404(real_week, desk):
    for endpoint in ("venue-share", "hhi", "captures"):
        response = desk.get(f"{API}/{endpoint}", {"capture_id": "finra.otc_transparency:nope"})
        assert response.status_code == 404, endpoint
        assert response.json()["error"]["code"] == "not_found"
    # A real capture that never reached the tier split is unknown to that dataset.
    response = desk.get(f"{API}/tier-split", {"capture_id": OLD_ID})
    assert response.status_code == 404
    assert "TIER_SPLIT" in response.json()["error"]["message"]


def test_errors_are_json_when_csv_was_asked(desk):
    response = desk.get(f"{API}/hhi", {"format": "csv", "tier": "T9"})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "invalid_request"


# --- who may read -----------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_anonymous_is_401(endpoint):
    response = APIClient().get(f"{API}/{endpoint}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_user_without_the_view_permission_is_403(endpoint):
    response = client_in(None).get(f"{API}/{endpoint}")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "permission_denied"
    assert "finra.view_" in error["message"]


def test_one_permission_opens_one_dataset():
    user = User.objects.create_user("hhi-only")
    user.user_permissions.add(Permission.objects.get(codename="view_symbolhhirow"))
    client = token_client(user)
    assert client.get(f"{API}/hhi").status_code == 200
    assert client.get(f"{API}/venue-share").status_code == 403


@pytest.mark.parametrize("group", ["viewers", "auditors", "data_ops"])
def test_every_role_reads_every_dataset(real_week, group):
    client = client_in(group)
    for endpoint in ENDPOINTS:
        response = client.get(f"{API}/{endpoint}", {"format": "json"})
        assert response.status_code == 200, (group, endpoint)
        assert "count" in response.json()
    assert get(client, "venue-share")["count"] == 9


# --- serializers ------------------------------------------------------------------------------


def test_fast_rendering_is_drf_rendering(real_week):
    from rest_framework import serializers as drf

    for serializer_class, row in (
        (s.SymbolHHIOutputSerializer, SymbolHHIRow.objects.first()),
        (s.VenueShareOutputSerializer, VenueShareRow.objects.first()),
    ):
        serializer = serializer_class()
        generic = drf.ModelSerializer.to_representation(serializer, row)
        assert serializer.to_representation(row) == dict(generic)
