"""The operations guide's SQL, run exactly as written (DESIGN: it must work on SQLite)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from tests.factories import claim_one, enqueue
from workqueue.manifest import manifest_record
from workqueue.models import WorkItem
from workqueue.runner import drain
from workqueue.states import WorkState

pytestmark = pytest.mark.django_db

STUCK_SQL = """
-- Reset stuck work (no activity in 30 minutes)
UPDATE core_work_items
SET state = 'PENDING',
    current_execution_id = NULL,
    locked_by = NULL,
    locked_at = NULL
WHERE state = 'RUNNING'
  AND locked_at < datetime('now', '-30 minutes');
"""

MANIFEST_SQL = """
-- Check pipeline progress
SELECT 
    partition_key,
    stage,
    row_count,
    updated_at
FROM core_manifest
WHERE domain = 'finra.otc_transparency'
    AND partition_key LIKE '%2025-12-22%'
ORDER BY stage_rank;
"""


@pytest.mark.skipif("connection.vendor != 'sqlite'", reason="datetime('now') is SQLite SQL")
def test_work_stuck_in_running_sql_resets_only_items_idle_for_30_minutes():
    stuck = enqueue(pipeline="produce_first", week="stuck")
    claim_one(worker_id="crashed:1")
    busy = enqueue(pipeline="produce_first", week="busy")
    claim_one(worker_id="alive:2")
    WorkItem.objects.filter(pk=stuck.pk).update(locked_at=timezone.now() - timedelta(minutes=45))
    WorkItem.objects.filter(pk=busy.pk).update(locked_at=timezone.now() - timedelta(minutes=5))

    with connection.cursor() as cursor:
        cursor.execute(STUCK_SQL)
        assert cursor.rowcount == 1

    stuck.refresh_from_db()
    busy.refresh_from_db()
    assert (stuck.state, stuck.locked_by, stuck.current_execution_id) == ("PENDING", None, None)
    assert (busy.state, busy.locked_by) == ("RUNNING", "alive:2")
    # The reset item runs again normally.
    drain(time_budget=5)
    stuck.refresh_from_db()
    assert stuck.state == WorkState.COMPLETE


def test_leverage_manifest_sql_lists_stages_of_the_week_in_order():
    from workqueue.pipelines import registry

    domain = "finra.otc_transparency"
    if not registry.stages(domain):
        registry.register_stages(
            domain, ["RAW", "NORMALIZED", "VENUE_VOLUME", "VENUE_SHARE", "HHI", "TIER_SPLIT"]
        )
    key = {"week_ending": "2025-12-22", "tier": "OTC"}
    manifest_record(domain=domain, partition_key=key, stage="HHI", row_count=3111)
    manifest_record(domain=domain, partition_key=key, stage="RAW", row_count=5328)
    manifest_record(domain=domain, partition_key=key, stage="NORMALIZED", row_count=5328)
    other_week = {"week_ending": "2025-12-12", "tier": "OTC"}
    manifest_record(domain=domain, partition_key=other_week, stage="RAW", row_count=1)

    with connection.cursor() as cursor:
        cursor.execute(MANIFEST_SQL)
        rows = cursor.fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ('{"tier":"OTC","week_ending":"2025-12-22"}', "RAW", 5328),
        ('{"tier":"OTC","week_ending":"2025-12-22"}', "NORMALIZED", 5328),
        ('{"tier":"OTC","week_ending":"2025-12-22"}', "HHI", 3111),
    ]


DUPLICATE_SQL = """
INSERT INTO core_work_items (domain, pipeline, partition_key, params, priority, state,
    attempt_count, max_attempts, created_at, updated_at)
SELECT domain, pipeline, %s, params, priority, state, 0, max_attempts, created_at, updated_at
FROM core_work_items WHERE id = %s
"""


@pytest.fixture
def otc_item() -> WorkItem:
    item = enqueue(pipeline="produce_first", week="dup")
    WorkItem.objects.filter(pk=item.pk).update(
        partition_key={"week_ending": "2025-12-19", "tier": "OTC"}
    )
    return item


def test_a_duplicate_row_inserted_in_sql_is_rejected_by_the_database(otc_item):
    # Troubleshooting, "Duplicate Work Items": UNIQUE(domain, pipeline, partition_key).
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(DUPLICATE_SQL, ['{"tier":"OTC","week_ending":"2025-12-19"}', otc_item.pk])

    assert WorkItem.objects.count() == 1


def test_a_duplicate_with_its_keys_in_another_order_is_rejected_too(otc_item):
    # The key is stored canonically, so another key order is the same partition.
    with pytest.raises(IntegrityError), transaction.atomic():
        WorkItem.objects.create(
            domain=otc_item.domain,
            pipeline=otc_item.pipeline,
            partition_key=json.loads('{"week_ending": "2025-12-19", "tier": "OTC"}'),
        )

    assert WorkItem.objects.count() == 1
