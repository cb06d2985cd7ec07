"""Carrying out work items: claim a batch, run each pipeline, hand its outcome on, drain.

How work reaches a worker
-------------------------
django-q2 only executes; ``core_work_items`` is the record of truth. After an enqueue commits
(and every minute from a django-q2 schedule) ``workqueue.dispatch.request_drain`` queues one
``drain_queue`` task. A django-q2 worker running it claims a batch of due items with
``SELECT ... FOR UPDATE SKIP LOCKED`` (on SQLite, IMMEDIATE transactions serialize the claim
instead), runs them, and completes the successes in one transaction (``workqueue.outcomes``).
The worker that claims an item is the one that runs it and holds its lease
(``workqueue.leases``), so a queued django-q2 task never sits on claimed work.

A drain whose batch came back full asks for another drain before running it, so idle workers
join in while there is a backlog; the batch size adapts so one batch takes about
``WORKQUEUE_BATCH_TARGET_SECONDS`` (many no-op items per batch, one slow ingest per batch).

When the cluster stops (``workqueue.shutdown``, set on SIGTERM by ``workqueue.cluster``) a drain
claims nothing more: the item running finishes and the rest of its batch is handed back unspent.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import F
from django.utils import timezone

from workqueue.dispatch import drain_started, request_drain
from workqueue.exceptions import DependencyNotReady, NonRetryableError, UnknownPipeline
from workqueue.fields import canonical_json
from workqueue.leases import LeaseKeeper
from workqueue.manifest import manifest_has_stage
from workqueue.models import Execution, ExecutionOutcome, WorkerHeartbeat, WorkItem
from workqueue.outcomes import Success, complete_batch, record_dependency_wait, record_failure
from workqueue.pipelines import PipelineContext, PipelineResult, registry
from workqueue.shutdown import stop_requested
from workqueue.states import Event, sources_of, target_of

logger = logging.getLogger(__name__)


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# --- claiming ---------------------------------------------------------------------------------


def claim_batch(*, worker_id: str, limit: int, now: datetime | None = None) -> list[WorkItem]:
    """Claim up to ``limit`` due items for ``worker_id``: RUNNING, leased, one Execution each.

    Exactly-once: on PostgreSQL the SELECT takes row locks with SKIP LOCKED, so concurrent
    claimers get disjoint sets without waiting on each other; on SQLite the transaction is
    IMMEDIATE (see settings), so claimers take turns. Either way the rows cannot change between
    the SELECT and the UPDATE below, which is why the UPDATE needs no state condition.
    """
    now = now or timezone.now()
    with transaction.atomic():
        items = list(WorkItem.objects.claimable(now).select_for_update(skip_locked=True)[:limit])
        if not items:
            return []
        assert all(i.state in sources_of(Event.CLAIM) for i in items)
        executions = [
            Execution(
                work_item_id=item.pk,
                attempt=item.attempt_count + 1,
                worker=worker_id,
                started_at=now,
            )
            for item in items
        ]
        Execution.objects.bulk_create(executions)
        for item, execution in zip(items, executions, strict=True):
            item.state = target_of(Event.CLAIM)
            item.attempt_count += 1
            item.current_execution_id = execution.pk
            item.locked_by = worker_id
            item.locked_at = now
            item.next_attempt_at = None
            item.updated_at = now
        WorkItem.objects.bulk_update(
            items,
            [
                "state",
                "attempt_count",
                "current_execution",
                "locked_by",
                "locked_at",
                "next_attempt_at",
                "updated_at",
            ],
        )
    return items


# --- running -----------------------------------------------------------------------------------


def _run_one(item: WorkItem, worker_id: str) -> Success | None:
    started = time.monotonic()
    assert item.current_execution_id is not None
    try:
        pipeline = registry.get(item.domain, item.pipeline)
    except UnknownPipeline as exc:
        record_failure(
            item,
            error=f"{exc} (is the code that registers it deployed on worker {worker_id}?)",
            trace=None,
            outcome=ExecutionOutcome.FAILED,
            final=True,
            duration=0.0,
            now=timezone.now(),
        )
        return None
    context = PipelineContext(
        item=item, pipeline=pipeline, execution_id=item.current_execution_id, worker_id=worker_id
    )
    try:
        if pipeline.depends_on_stage and not manifest_has_stage(
            domain=item.domain, partition_key=item.partition_key, stage=pipeline.depends_on_stage
        ):
            raise DependencyNotReady(
                f"waiting for stage {pipeline.depends_on_stage} of {item.domain} "
                f"{canonical_json(item.partition_key)}"
            )
        result = pipeline.run(context) or PipelineResult()
    except DependencyNotReady as exc:
        record_dependency_wait(
            item, reason=str(exc), duration=time.monotonic() - started, now=timezone.now()
        )
        return None
    except Exception as exc:
        record_failure(
            item,
            error=f"{type(exc).__name__}: {exc}",
            trace=traceback.format_exc(),
            outcome=ExecutionOutcome.FAILED,
            final=isinstance(exc, NonRetryableError),
            duration=time.monotonic() - started,
            now=timezone.now(),
        )
        return None
    return Success(item=item, result=result, duration=time.monotonic() - started)


# --- draining ---------------------------------------------------------------------------------


@dataclass
class DrainSummary:
    claimed: int = 0  # items started here (claimed and not handed back)
    completed: int = 0
    batches: int = 0
    released: int = 0  # items claimed but handed back unstarted because the cluster stopped
    stopped_by: str = "empty"


def drain(
    *,
    worker_id: str | None = None,
    time_budget: float | None = None,
    max_items: int | None = None,
) -> DrainSummary:
    """Claim and run due items until none is due, the time budget is spent, max_items ran or
    the cluster is stopping.

    A stopping cluster (``workqueue.shutdown``) claims nothing more: the item running finishes,
    the rest of its batch goes back to PENDING without spending an attempt, and no further
    drain is requested. A drain that django-q2 had fetched before the stop returns at once.
    """
    worker_id = worker_id or worker_identity()
    summary = DrainSummary()
    drain_started()
    if stop_requested():
        summary.stopped_by = "shutdown"
        return summary
    budget = settings.WORKQUEUE_DRAIN_SECONDS if time_budget is None else time_budget
    deadline = time.monotonic() + budget
    # Past the budget a drain carries on only when no other drain could be queued (the broker
    # is down), and never close to django-q2's task timeout, which would kill it mid-item.
    last_call = time.monotonic() + max(budget, settings.WORKQUEUE_TASK_TIMEOUT_SECONDS / 2)
    batch_size = 1
    with LeaseKeeper(worker_id) as keeper:
        keeper.beat()
        while True:
            if stop_requested():
                summary.stopped_by = "shutdown"
                break
            if time.monotonic() >= deadline:
                if time.monotonic() >= last_call or not _due_work_left() or _hand_over():
                    summary.stopped_by = "time budget"
                    break
                deadline = time.monotonic() + budget
            limit = (
                batch_size if max_items is None else min(batch_size, max_items - summary.claimed)
            )
            if limit <= 0:
                summary.stopped_by = "max items"
                break
            items = claim_batch(worker_id=worker_id, limit=limit)
            if not items:
                break
            if len(items) == batch_size and max_items is None:
                _hand_over()  # more is probably due: let an idle worker join in
            execution_ids = [i.current_execution_id for i in items if i.current_execution_id]
            keeper.hold(execution_ids)
            started = time.monotonic()
            successes, unstarted = _run_batch(items, worker_id)
            summary.completed += complete_batch(successes)
            summary.released += release_claims(unstarted)
            keeper.release(execution_ids)
            ran = len(items) - len(unstarted)
            summary.claimed += ran
            summary.batches += 1
            batch_size = _next_batch_size(ran, time.monotonic() - started)
    if summary.completed:
        WorkerHeartbeat.objects.filter(worker=worker_id).update(
            items_completed=F("items_completed") + summary.completed
        )
    return summary


def _run_batch(items: list[WorkItem], worker_id: str) -> tuple[list[Success], list[WorkItem]]:
    """Run the claimed items in order; returns the successes and the items left unstarted
    because the cluster began stopping."""
    successes = []
    for index, item in enumerate(items):
        if stop_requested():
            return successes, items[index:]
        success = _run_one(item, worker_id)
        if success:
            successes.append(success)
    return successes, []


def release_claims(items: list[WorkItem]) -> int:
    """Hand back items claimed here and never started: PENDING, attempt not spent.

    The claim's Execution row is deleted rather than marked: no pipeline code ran, so it was
    no attempt, and ``attempt_count`` keeps counting attempts started. The row lock taken here
    (and the execution ids in the WHERE clause) keep a reaper that got there first from being
    undone.
    """
    execution_ids = [i.current_execution_id for i in items if i.current_execution_id]
    if not execution_ids:
        return 0
    with transaction.atomic():
        owned = list(
            WorkItem.objects.select_for_update()
            .filter(state__in=sources_of(Event.RELEASE), current_execution_id__in=execution_ids)
            .values_list("current_execution_id", flat=True)
        )
        if not owned:
            return 0
        released = WorkItem.objects.release_unstarted(execution_ids=owned, now=timezone.now())
        Execution.objects.filter(pk__in=owned).delete()
    logger.info("stopping: handed back %d claimed item(s) that had not started", released)
    return released


def _due_work_left() -> bool:
    return WorkItem.objects.claimable(timezone.now()).exists()


def _hand_over() -> bool:
    """Ask for another drain; False when none could be queued (the broker is unreachable).

    A debounced request (a drain is already waiting) counts as handed over.
    """
    try:
        request_drain()
    except Exception:  # the broker is down: this drain must not die with items claimed
        logger.exception("could not queue another drain; carrying on in this one")
        return False
    return True


def _next_batch_size(ran: int, seconds: float) -> int:
    target = settings.WORKQUEUE_BATCH_TARGET_SECONDS
    per_item = max(seconds / max(ran, 1), 1e-5)
    return max(1, min(settings.WORKQUEUE_MAX_BATCH, int(target / per_item), ran * 4))


def drain_task() -> dict[str, Any]:
    """The django-q2 entry point: drain, then tidy this process's database connections."""
    close_old_connections()
    try:
        summary = drain()
        return summary.__dict__
    finally:
        close_old_connections()
