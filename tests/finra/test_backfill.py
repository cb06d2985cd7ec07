"""FINRA ranges for the backfill service: every Friday between two dates, times the tiers."""

from __future__ import annotations

import io
from datetime import date

import pytest
from django.core.management import CommandError, call_command

from finra.models import DOMAIN
from workqueue.backfill import work_items_backfill
from workqueue.exceptions import EnqueueError
from workqueue.models import WorkItem
from workqueue.states import WorkState

pytestmark = pytest.mark.django_db


def test_the_guides_quarter_with_two_tiers_from_the_command():
    out = io.StringIO()
    call_command(
        "backfill",
        DOMAIN,
        "ingest_week",
        "--from",
        "2025-10-01",
        "--to",
        "2025-12-22",
        "--tiers",
        "NMS_TIER_1,OTC",
        "--priority",
        "25",
        stdout=out,
        stderr=io.StringIO(),
    )

    items = WorkItem.objects.filter(domain=DOMAIN, pipeline="ingest_week")
    weeks = sorted({i.partition_key["week_ending"] for i in items})
    assert weeks[0] == "2025-10-03" and weeks[-1] == "2025-12-19" and len(weeks) == 12
    assert {i.partition_key["tier"] for i in items} == {"NMS_TIER_1", "OTC"}
    assert items.count() == 24
    assert set(items.values_list("priority", flat=True)) == {25}
    assert "24 item(s) were enqueued" in out.getvalue()


def test_tiers_default_to_all_three_and_take_finra_spellings(actor):
    every = work_items_backfill(
        domain=DOMAIN,
        pipeline="normalize_week",
        actor=actor,
        start=date(2025, 12, 1),
        end=date(2025, 12, 7),
        dry_run=True,
    )
    spelled = work_items_backfill(
        domain=DOMAIN,
        pipeline="compute_hhi",
        actor=actor,
        start=date(2025, 12, 1),
        end=date(2025, 12, 7),
        options={"tiers": ["T1", "OTCE", "NMS Tier 1"]},
        dry_run=True,
    )

    assert [p.partition_key["tier"] for p in every.partitions] == [
        "NMS_TIER_1",
        "NMS_TIER_2",
        "OTC",
    ]
    assert [p.partition_key for p in spelled.partitions] == [
        {"week_ending": "2025-12-05", "tier": "NMS_TIER_1"},
        {"week_ending": "2025-12-05", "tier": "OTC"},
    ]


def test_the_tier_split_is_per_week_and_takes_no_tiers(actor):
    result = work_items_backfill(
        domain=DOMAIN,
        pipeline="compute_tier_split",
        actor=actor,
        start=date(2025, 11, 1),
        end=date(2025, 11, 30),
    )

    assert [p.partition_key for p in result.partitions] == [
        {"week_ending": w} for w in ("2025-11-07", "2025-11-14", "2025-11-21", "2025-11-28")
    ]
    with pytest.raises(EnqueueError) as excinfo:
        work_items_backfill(
            domain=DOMAIN,
            pipeline="compute_tier_split",
            actor=actor,
            start=date(2025, 11, 1),
            end=date(2025, 11, 30),
            options={"tiers": ["OTC"]},
        )
    assert "tiers" in excinfo.value.fields


def test_reprocess_all_forces_a_complete_ingest(actor):
    work_items_backfill(
        domain=DOMAIN,
        pipeline="ingest_week",
        actor=actor,
        partitions=[{"week_ending": "2025-12-05", "tier": "OTC"}],
        params={"source": "file"},
    )
    WorkItem.objects.update(state=WorkState.COMPLETE)

    result = work_items_backfill(
        domain=DOMAIN,
        pipeline="ingest_week",
        actor=actor,
        start=date(2025, 12, 5),
        end=date(2025, 12, 5),
        options={"tiers": ["OTC"]},
        reprocess="all",
    )

    assert result.counts["rearmed"] == 1
    item = WorkItem.objects.get()
    assert item.state == WorkState.PENDING
    assert item.params == {"source": "file", "force": True}


def test_an_unknown_tier_is_refused_with_its_name():
    with pytest.raises(CommandError, match="unknown tier 'TIER_9'"):
        call_command(
            "backfill",
            DOMAIN,
            "ingest_week",
            "--from",
            "2025-12-01",
            "--to",
            "2025-12-31",
            "--tiers",
            "OTC,TIER_9",
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
    assert WorkItem.objects.count() == 0
