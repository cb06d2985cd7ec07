"""The ``_latest`` SQL views keep exactly the captures ``Capture.objects.latest_complete`` picks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection

from finra.models import Capture, CaptureStatus, Stage
from finra.stages import DATASET_STAGES
from tests.finra.conftest import enqueue, run_queue
from workqueue.models import WorkItem
from workqueue.states import WorkState

pytestmark = pytest.mark.django_db

WEEK = "2025-11-28"
OTHER_WEEK = "2025-12-05"
DAY_1 = datetime(2025, 12, 29, 10, 30, tzinfo=UTC)
DAY_2 = datetime(2026, 1, 5, 10, 30, tzinfo=UTC)
DAY_3 = datetime(2026, 1, 12, 10, 30, tzinfo=UTC)
TIERS = ("NMS_TIER_1", "NMS_TIER_2", "OTC")


def ingest(week: str, tier: str) -> WorkItem:
    item = enqueue("ingest_week", {"week_ending": week, "tier": tier}, reprocess=True)
    run_queue()
    item.refresh_from_db()
    assert item.state == WorkState.COMPLETE, item.last_error
    return item


def distinct_ids(relation: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT capture_id FROM {relation}")
        return {capture_id for (capture_id,) in cursor.fetchall()}


def row_count(sql: str, params: list[str]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


@pytest.fixture
def history(place_generated):
    """Several captures per week and tier on different days, one of them skipped."""
    for tier in TIERS:
        place_generated(WEEK, tier, rows=120, seed=3)
    place_generated(OTHER_WEEK, "OTC", rows=80, seed=4)
    with time_machine.travel(DAY_1, tick=False):
        for tier in TIERS:
            ingest(WEEK, tier)
        ingest(OTHER_WEEK, "OTC")
    place_generated(WEEK, "NMS_TIER_1", rows=120, seed=3, revision=1)
    with time_machine.travel(DAY_2, tick=False):
        ingest(WEEK, "NMS_TIER_1")  # restated
        ingest(WEEK, "NMS_TIER_2")  # same content: skipped
    place_generated(WEEK, "OTC", rows=120, seed=3, revision=1)
    place_generated(OTHER_WEEK, "OTC", rows=80, seed=4, revision=1)
    with time_machine.travel(DAY_3, tick=False):
        ingest(WEEK, "OTC")
        ingest(OTHER_WEEK, "OTC")


def test_the_history_has_restatements_and_a_skipped_capture(history):
    assert Capture.objects.filter(status=CaptureStatus.SKIPPED, stage=Stage.RAW).count() == 1
    for stage in (Stage.RAW, Stage.NORMALIZED, Stage.HHI, Stage.TIER_SPLIT):
        complete = Capture.objects.complete().filter(stage=stage)
        assert complete.count() > complete.latest_complete().count(), stage


def test_the_captures_view_keeps_the_captures_the_queryset_picks(history):
    with connection.cursor() as cursor:
        cursor.execute("SELECT stage, capture_id FROM finra_otc_transparency_captures_latest")
        in_view = set(cursor.fetchall())
    picked = set(Capture.objects.latest_complete().values_list("stage", "capture_id"))
    assert in_view == picked
    assert ("NORMALIZED", "finra.otc_transparency:NMS_TIER_1:2025-11-28:20260105") in picked
    assert ("NORMALIZED", "finra.otc_transparency:NMS_TIER_2:2025-11-28:20251229") in picked
    assert ("TIER_SPLIT", "finra.otc_transparency:ALL:2025-11-28:20260112") in picked


@pytest.mark.parametrize("model", list(DATASET_STAGES), ids=lambda m: m._meta.db_table)
def test_every_latest_view_returns_the_rows_of_the_picked_captures(history, model):
    table = model._meta.db_table
    stage = DATASET_STAGES[model]
    picked = set(
        Capture.objects.filter(stage=stage).latest_complete().values_list("capture_id", flat=True)
    )
    stored = distinct_ids(table)
    assert distinct_ids(f"{table}_latest") == picked & stored
    placeholders = ", ".join(["%s"] * len(picked))
    expected_rows = row_count(
        f"SELECT count(*) FROM {table} WHERE capture_id IN ({placeholders})", sorted(picked)
    )
    assert row_count(f"SELECT count(*) FROM {table}_latest", []) == expected_rows


def test_as_of_picks_the_captures_taken_by_then(history):
    picked = set(
        Capture.objects.filter(stage=Stage.NORMALIZED)
        .latest_complete(as_of=DAY_2)
        .values_list("tier", "capture_id")
    )
    assert picked == {
        ("NMS_TIER_1", "finra.otc_transparency:NMS_TIER_1:2025-11-28:20260105"),
        ("NMS_TIER_2", "finra.otc_transparency:NMS_TIER_2:2025-11-28:20251229"),
        ("OTC", "finra.otc_transparency:OTC:2025-11-28:20251229"),
        ("OTC", "finra.otc_transparency:OTC:2025-12-05:20251229"),
    }
