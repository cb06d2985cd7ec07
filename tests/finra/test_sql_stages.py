"""The in-database normalization and calcs agree with the pandas reference (``reference``)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from finra.models import (
    Capture,
    NormalizedRow,
    Stage,
    SymbolHHIRow,
    SymbolVenueShareRow,
    TierHHIRow,
    VenueShareRow,
    VenueVolumeRow,
)
from finra.parsing import parse_weekly_file
from tests.finra import reference as calcs
from tests.finra.conftest import REAL_FILE, REAL_WEEK, enqueue, run_queue
from tests.finra.reference import normalize_frame

pytestmark = pytest.mark.django_db


def stored(model, columns, key):
    capture_id = model.objects.values_list("capture_id", flat=True).first()
    frame = calcs.read_capture_frame(model, capture_id=capture_id, columns=columns)
    return frame.sort_values(key).reset_index(drop=True)


@pytest.mark.parametrize("hints", [True, False], ids=["ingest-hints", "no-hints"])
def test_sql_stages_match_the_pandas_reference_on_the_real_file(place_file, hints):
    """With the RAW capture's normalize hints, and without them (a capture written before
    ingest recorded them): normalization looks the distinct values up in the database."""
    place_file(REAL_WEEK, "OTC", REAL_FILE)
    enqueue("ingest_week", {"week_ending": REAL_WEEK, "tier": "OTC"})
    run_queue()
    if not hints:
        raw = Capture.objects.get(stage=Stage.RAW)
        del raw.metrics["normalize_hints"]
        raw.save()
        enqueue("normalize_week", {"week_ending": REAL_WEEK, "tier": "OTC"}, reprocess=True)
        run_queue()
        assert Capture.objects.get(stage=Stage.NORMALIZED).computed_at > raw.computed_at
    parsed = parse_weekly_file(REAL_FILE.read_bytes(), week_ending=date(2025, 11, 14), tier="OTC")
    reference = normalize_frame(parsed.frame, tier="OTC").frame

    columns = ["symbol", "issue_name", "venue_key", "mpid", "venue_name", "share_quantity"]
    pd.testing.assert_frame_equal(
        stored(NormalizedRow, columns, ["symbol", "venue_key"]),
        reference[columns].sort_values(["symbol", "venue_key"]).reset_index(drop=True),
        check_dtype=False,
    )
    expected = calcs.venue_volume(reference).sort_values("venue_key").reset_index(drop=True)
    got = stored(VenueVolumeRow, list(expected.columns), "venue_key")
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)

    expected = calcs.venue_share(reference).sort_values("venue_key").reset_index(drop=True)
    got = stored(VenueShareRow, list(expected.columns), "venue_key")
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, rtol=1e-12)

    expected = calcs.symbol_venue_share(reference)
    got = stored(SymbolVenueShareRow, list(expected.columns), ["symbol", "venue_key"])
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, rtol=1e-12)

    expected = calcs.symbol_hhi(reference)
    got = stored(SymbolHHIRow, list(expected.columns), "symbol")
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, rtol=1e-12)
    assert TierHHIRow.objects.get().hhi == pytest.approx(calcs.tier_hhi(reference), rel=1e-12)
