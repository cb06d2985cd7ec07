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
    assert raw_capture.source_origin == "file:2025-12-12/OTC.psv"
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

    key = '{"tier":"OTC","week_ending":"2025-12-12"}'
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
