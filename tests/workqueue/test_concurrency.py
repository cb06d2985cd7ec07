"""Concurrent writers on PostgreSQL: real threads, real connections, real row locks."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from workqueue.models import AuditEvent, WorkItem
from workqueue.runner import claim_batch
from workqueue.services import Actor, EnqueueRequest, work_item_enqueue, work_items_enqueue

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_together(target, count: int) -> list:
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            barrier.wait()
            results[index] = target(index)
        except BaseException as exc:  # reported to the test below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return results


def test_simultaneous_enqueues_of_one_new_partition_make_one_item():
    def enqueue(_: int):
        return work_item_enqueue(
            domain="tests.queue",
            pipeline="produce_first",
            partition_key={"week": "2025-12-12"},
            actor=Actor.cli(),
        )

    results = run_together(enqueue, 8)
    assert WorkItem.objects.count() == 1
    assert sum(r.created for r in results) == 1
    assert {r.item.pk for r in results} == {WorkItem.objects.get().pk}
    assert AuditEvent.objects.filter(action="enqueue").count() == 8


def test_overlapping_bulk_enqueues_never_duplicate_a_partition():
    def enqueue(index: int):
        weeks = range(index * 50, index * 50 + 100)  # each overlaps its neighbour by 50
        return work_items_enqueue(
            requests=[
                EnqueueRequest(
                    domain="tests.queue", pipeline="produce_first", partition_key={"week": str(w)}
                )
                for w in weeks
            ],
            actor=Actor.cli(),
        )

    results = run_together(enqueue, 4)
    assert WorkItem.objects.count() == 250
    assert sum(r.created for batch in results for r in batch) == 250


def test_concurrent_claimers_get_disjoint_items():
    work_items_enqueue(
        requests=[
            EnqueueRequest(domain="workqueue.diagnostics", pipeline="noop", partition_key={"n": n})
            for n in range(400)
        ],
        actor=Actor.cli(),
    )

    def claim(index: int) -> list[int]:
        claimed: list[int] = []
        while batch := claim_batch(worker_id=f"worker-{index}", limit=7):
            claimed.extend(item.pk for item in batch)
        return claimed

    results = run_together(claim, 6)
    everything = [pk for claimed in results for pk in claimed]
    assert len(everything) == len(set(everything)) == 400
    assert sum(1 for claimed in results if claimed) >= 2
