"""The gap rules on their own: no database, no clock."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from finra.gap_rules import GapStatus, ItemInfo, find_gaps, fix_targets, gap_stages, gap_tiers
from finra.stages import STAGES, PartitionShape
from finra.tiers import TIERS, UnknownTierError
from workqueue.fields import canonical_json

WEEK = date(2025, 12, 5)
# Every tier due (Tier 2 and OTC on Monday 2026-01-05, 15:00 UTC plus the grace).
LATER = datetime(2026, 1, 6, tzinfo=UTC)
# Tier 1 due (Monday 2025-12-22), Tier 2 and OTC not yet.
BETWEEN = datetime(2025, 12, 29, tzinfo=UTC)


def complete(*tiers: str) -> set[tuple[str, str]]:
    present = set()
    for tier in tiers:
        for spec in STAGES:
            if spec.partition is PartitionShape.TIER:
                key = {"tier": tier, "week_ending": WEEK.isoformat()}
                present.add((spec.stage, canonical_json(key)))
    return present


def gaps(present, *, now=LATER, items=None, **filters):
    return find_gaps(
        weeks=[WEEK], present=present, items=items or {}, now=now, grace_hours=6, **filters
    )


def test_a_complete_week_has_no_gap():
    present = complete(*TIERS) | {("TIER_SPLIT", canonical_json({"week_ending": "2025-12-05"}))}

    assert gaps(present) == []


def test_the_tier_split_waits_for_every_tier_to_be_due():
    present = complete("NMS_TIER_1", "NMS_TIER_2", "OTC")

    (between,) = gaps(present, now=BETWEEN)
    (later,) = gaps(present, now=LATER)

    assert (between.tier, between.stage, between.status) == (
        "ALL",
        "TIER_SPLIT",
        GapStatus.NOT_YET_DUE,
    )
    assert later.status is GapStatus.OVERDUE
    assert later.remediation == "enqueue compute_tier_split"


def test_tier_1_is_overdue_while_the_others_are_not_yet_due():
    found = gaps(set(), now=BETWEEN, stages={"RAW"})

    assert [(g.tier, g.status) for g in found] == [
        ("NMS_TIER_1", GapStatus.OVERDUE),
        ("NMS_TIER_2", GapStatus.NOT_YET_DUE),
        ("OTC", GapStatus.NOT_YET_DUE),
    ]
    assert fix_targets(found) == {
        "ingest_week": [{"tier": "NMS_TIER_1", "week_ending": "2025-12-05"}]
    }


def test_active_and_cancelled_items_are_not_fixed():
    key = canonical_json({"tier": "OTC", "week_ending": "2025-12-05"})
    items = {("ingest_week", key): ItemInfo(item_id=7, state="CANCELLED")}

    found = gaps(complete("NMS_TIER_1", "NMS_TIER_2"), items=items, tiers={"OTC"}, stages={"RAW"})

    assert found[0].remediation.startswith("retry work item #7 (CANCELLED")
    assert fix_targets(found) == {}


def test_long_errors_are_cut_to_their_first_line():
    key = canonical_json({"tier": "OTC", "week_ending": "2025-12-05"})
    error = "x" * 300 + "\nsecond line"
    items = {("ingest_week", key): ItemInfo(item_id=3, state="FAILED", last_error=error)}

    (raw,) = gaps(complete("NMS_TIER_1", "NMS_TIER_2"), items=items, tiers={"OTC"}, stages={"RAW"})

    assert raw.remediation == f"retry work item #3 (FAILED: {'x' * 117}...)"


def test_filters_take_finra_spellings_and_refuse_unknown_values():
    assert gap_tiers(["T1", "otce", " all ", ""]) == {"NMS_TIER_1", "OTC", "ALL"}
    assert gap_stages(["raw", "Tier_Split"]) == {"RAW", "TIER_SPLIT"}
    with pytest.raises(UnknownTierError):
        gap_tiers(["T9"])
    with pytest.raises(KeyError):
        gap_stages(["CALC"])


def test_now_must_be_aware():
    with pytest.raises(ValueError, match="time-zone aware"):
        gaps(set(), now=datetime(2026, 1, 6))
