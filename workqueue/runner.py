"""Carrying out work items: claim a batch, run each pipeline, record outcomes, keep leases.

How work reaches a worker
-------------------------
django-q2 only executes; ``core_work_items`` is the record of truth. After an enqueue commits
(and every minute from a django-q2 schedule) :func:`request_drain` queues one ``drain_queue``
task. A django-q2 worker running it claims a batch of due items with ``SELECT ... FOR UPDATE
SKIP LOCKED`` (on SQLite, IMMEDIATE transactions serialize the claim instead), runs them, and
completes the successes in one transaction. The worker that claims an item is the one that runs
it and holds its lease, so a queued django-q2 task never sits on claimed work.

A drain whose batch came back full asks for another drain before running it, so idle workers
join in while there is a backlog; the batch size adapts so one batch takes about
``WORKQUEUE_BATCH_TARGET_SECONDS`` (many no-op items per batch, one slow ingest per batch).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections, transaction
from django.db.models import F
from django.utils import timezone

from workqueue.exceptions import DependencyNotReady, NonRetryableError, UnknownPipeline
from workqueue.fields import canonical_json
from workqueue.models import (
    DispatchSignal,
    Execution,
    ExecutionOutcome,
    ManifestEntry,
    WorkerHeartbeat,
    WorkItem,
)
from workqueue.policy import RetryPolicy
from workqueue.registry import Pipeline, registry
from workqueue.services import manifest_has_stage, manifest_record
from workqueue.states import Event, IllegalTransition, WorkState, sources_of, target_of

logger = logging.getLogger(__name__)

DRAIN_TASK = "workqueue.tasks.drain_queue"


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# --- what pipelines see -----------------------------------------------------------------------


@dataclass
class PipelineResult:
    """What a pipeline reports back. ``skipped`` records a run that found nothing new."""

    rows_written: int | None = None
    capture_id: str | None = None
    skipped: bool = False
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class PipelineContext:
    item: WorkItem
    pipeline: Pipeline
    execution_id: int
    worker_id: str

    @property
    def partition_key(self) -> dict[str, Any]:
        return dict(self.item.partition_key)

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.item.params or {})

    @property
    def attempt(self) -> int:
        return self.item.attempt_count

    def record_stage(
        self,
        *,
        row_count: int,
        capture_id: str | None = None,
        stage: str | None = None,
        partition_key: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> ManifestEntry:
        """Record in the manifest that this partition reached the pipeline's stage."""
        stage = stage or self.pipeline.produces_stage
        if stage is None:
            raise ValueError(f"pipeline {self.pipeline.label} declares no stage to record")
        return manifest_record(
            domain=self.item.domain,
            partition_key=partition_key or self.partition_key,
            stage=stage,
            row_count=row_count,
            capture_id=capture_id,
            execution_id=self.execution_id,
            metrics=metrics,
        )


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


# --- outcomes ---------------------------------------------------------------------------------


def _retry_at(item: WorkItem, now: datetime) -> datetime | None:
    """When the next attempt may start, or None when the item has no attempts left."""
    if item.attempt_count >= item.max_attempts:
        return None
    return now + RetryPolicy.from_settings().delay_before_attempt(item.attempt_count + 1)


def _record_failure(
    item: WorkItem,
    *,
    error: str,
    trace: str | None,
    outcome: str,
    final: bool,
    duration: float | None,
    now: datetime,
) -> None:
    execution_id = item.current_execution_id
    assert execution_id is not None
    retry_at = None if final else _retry_at(item, now)
    with transaction.atomic():
        try:
            item.mark_failed_attempt(
                execution_id=execution_id, error=error, retry_at=retry_at, now=now
            )
        except IllegalTransition:
            logger.warning("item %s lost its lease before its failure was recorded", item.pk)
            return
        Execution.objects.filter(pk=execution_id).update(
            outcome=outcome,
            finished_at=now,
            error=error,
            traceback=trace,
            duration_seconds=duration,
        )
    if retry_at is None:
        logger.error("work item %s FAILED after %s attempt(s): %s", item, item.attempt_count, error)
    else:
        logger.warning("work item %s failed, retry at %s: %s", item, retry_at.isoformat(), error)


def _record_dependency_wait(item: WorkItem, *, reason: str, duration: float, now: datetime) -> None:
    execution_id = item.current_execution_id
    assert execution_id is not None
    limit = timedelta(seconds=settings.WORKQUEUE_DEPENDENCY_WAIT_LIMIT_SECONDS)
    waiting_since = item.dependency_waiting_since or now
    if now - waiting_since >= limit:
        hours = limit.total_seconds() / 3600
        _record_failure(
            item,
            error=f"dependency not ready after waiting {hours:g} h: {reason}",
            trace=None,
            outcome=ExecutionOutcome.FAILED,
            final=True,
            duration=duration,
            now=now,
        )
        return
    retry_at = now + timedelta(seconds=settings.WORKQUEUE_DEPENDENCY_RETRY_SECONDS)
    with transaction.atomic():
        try:
            item.mark_waiting_for_dependency(
                execution_id=execution_id, reason=reason, retry_at=retry_at, now=now
            )
        except IllegalTransition:
            logger.warning("item %s lost its lease during a dependency check", item.pk)
            return
        Execution.objects.filter(pk=execution_id).update(
            outcome=ExecutionOutcome.DEPENDENCY_WAIT,
            finished_at=now,
            error=f"dependency not ready: {reason}",
            duration_seconds=duration,
        )


@dataclass
class _Success:
    item: WorkItem
    result: PipelineResult
    duration: float


def _complete(successes: list[_Success]) -> int:
    """Complete a batch of successful items in one transaction; returns how many it completed.

    An item whose lease was taken by the reaper meanwhile (its current execution is no longer
    ours) is left alone: the state condition and the execution id in the WHERE clause see to it.
    """
    if not successes:
        return 0
    now = timezone.now()
    by_execution = {s.item.current_execution_id: s for s in successes}
    with transaction.atomic():
        owned = set(
            WorkItem.objects.select_for_update()
            .filter(state__in=sources_of(Event.SUCCEED), current_execution_id__in=by_execution)
            .values_list("current_execution_id", flat=True)
        )
        if not owned:
            return 0
        WorkItem.objects.filter(current_execution_id__in=owned).update(
            state=target_of(Event.SUCCEED),
            completed_at=now,
            updated_at=now,
            locked_by=None,
            locked_at=None,
            next_attempt_at=None,
            last_error=None,
            last_error_at=None,
            waiting_for="",
            dependency_waiting_since=None,
        )
        executions = []
        for execution_id in owned:
            success = by_execution[execution_id]
            result = success.result
            details = dict(result.details)
            if result.message:
                details["message"] = result.message
            executions.append(
                Execution(
                    pk=execution_id,
                    outcome=ExecutionOutcome.SKIPPED
                    if result.skipped
                    else ExecutionOutcome.SUCCESS,
                    finished_at=now,
                    duration_seconds=success.duration,
                    rows_written=result.rows_written,
                    capture_id=result.capture_id,
                    details=details,
                )
            )
        Execution.objects.bulk_update(
            executions,
            ["outcome", "finished_at", "duration_seconds", "rows_written", "capture_id", "details"],
        )
    return len(owned)


def _run_one(item: WorkItem, worker_id: str) -> _Success | None:
    started = time.monotonic()
    assert item.current_execution_id is not None
    try:
        pipeline = registry.get(item.domain, item.pipeline)
    except UnknownPipeline as exc:
        _record_failure(
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
        result = pipeline.handler(context) or PipelineResult()
    except DependencyNotReady as exc:
        _record_dependency_wait(
            item, reason=str(exc), duration=time.monotonic() - started, now=timezone.now()
        )
        return None
    except Exception as exc:
        _record_failure(
            item,
            error=f"{type(exc).__name__}: {exc}",
            trace=traceback.format_exc(),
            outcome=ExecutionOutcome.FAILED,
            final=isinstance(exc, NonRetryableError),
            duration=time.monotonic() - started,
            now=timezone.now(),
        )
        return None
    return _Success(item=item, result=result, duration=time.monotonic() - started)


# --- leases -----------------------------------------------------------------------------------


class LeaseKeeper:
    """Renews the lease of the items a worker holds, from a background thread.

    A live long run is never reaped: every ``WORKQUEUE_HEARTBEAT_SECONDS`` the thread sets
    ``locked_at = now`` on the RUNNING items whose current execution is held here. A SIGKILLed
    worker stops beating, and its items expire after ``WORKQUEUE_LEASE_SECONDS``.
    """

    def __init__(self, worker_id: str, interval: float | None = None) -> None:
        self.worker_id = worker_id
        self.interval = interval or settings.WORKQUEUE_HEARTBEAT_SECONDS
        self._held: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def hold(self, execution_ids: list[int]) -> None:
        with self._lock:
            self._held.update(execution_ids)

    def release(self, execution_ids: list[int]) -> None:
        with self._lock:
            self._held.difference_update(execution_ids)

    def beat(self) -> int:
        with self._lock:
            held = list(self._held)
        now = timezone.now()
        renewed = 0
        if held:
            renewed = WorkItem.objects.filter(
                state=WorkState.RUNNING, current_execution_id__in=held
            ).update(locked_at=now)
        WorkerHeartbeat.objects.update_or_create(worker=self.worker_id, defaults={"seen_at": now})
        return renewed

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    self.beat()
                except Exception:  # a failed beat must not kill the worker; the next may work
                    logger.exception("lease heartbeat failed for %s", self.worker_id)
        finally:
            connections.close_all()


def reap_expired_leases(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Return RUNNING items whose lease expired to the retry path (or FAILED when exhausted)."""
    now = now or timezone.now()
    reaped: list[int] = []
    with transaction.atomic():
        expired = list(
            WorkItem.objects.with_expired_lease(now)
            .select_for_update(skip_locked=True)
            .order_by("locked_at")[:limit]
        )
        for item in expired:
            error = (
                f"lease expired: worker {item.locked_by} stopped renewing it "
                f"(last at {item.locked_at:%Y-%m-%d %H:%M:%S} UTC)"
            )
            _record_failure(
                item,
                error=error,
                trace=None,
                outcome=ExecutionOutcome.LEASE_EXPIRED,
                final=False,
                duration=None,
                now=now,
            )
            reaped.append(item.pk)
    if reaped:
        logger.warning("reaped %d item(s) with expired leases: %s", len(reaped), reaped)
    return reaped


# --- draining ---------------------------------------------------------------------------------


def request_drain() -> bool:
    """Ask django-q2 for a drain task unless one is already waiting. Returns True if queued.

    Debounced through one row: ``drain_queued`` flips false -> true here with a conditional
    UPDATE, and a starting drain flips it back before it claims. So an enqueue that finds the
    flag already set knows a drain will claim after its commit, and thousands of enqueues per
    second queue a single task.
    """
    from django_q.tasks import async_task

    now = timezone.now()
    flipped = DispatchSignal.objects.filter(pk=1, drain_queued=False).update(
        drain_queued=True, requested_at=now
    )
    if not flipped:
        _, created = DispatchSignal.objects.get_or_create(
            pk=1, defaults={"drain_queued": True, "requested_at": now}
        )
        if not created:
            return False
    try:
        async_task(DRAIN_TASK, task_name="workqueue drain", save=False)
    except Exception:
        DispatchSignal.objects.filter(pk=1).update(drain_queued=False)
        raise
    return True


@dataclass
class DrainSummary:
    claimed: int = 0
    completed: int = 0
    batches: int = 0
    stopped_by: str = "empty"


def drain(
    *,
    worker_id: str | None = None,
    time_budget: float | None = None,
    max_items: int | None = None,
) -> DrainSummary:
    """Claim and run due items until none is due, the time budget is spent or max_items ran."""
    worker_id = worker_id or worker_identity()
    DispatchSignal.objects.filter(pk=1).update(drain_queued=False)
    budget = settings.WORKQUEUE_DRAIN_SECONDS if time_budget is None else time_budget
    deadline = time.monotonic() + budget
    batch_size = 1
    summary = DrainSummary()
    with LeaseKeeper(worker_id) as keeper:
        keeper.beat()
        while True:
            if time.monotonic() >= deadline:
                summary.stopped_by = "time budget"
                break
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
                request_drain()  # more is probably due: let an idle worker join in
            execution_ids = [i.current_execution_id for i in items if i.current_execution_id]
            keeper.hold(execution_ids)
            started = time.monotonic()
            successes = [s for s in (_run_one(item, worker_id) for item in items) if s]
            summary.completed += _complete(successes)
            keeper.release(execution_ids)
            summary.claimed += len(items)
            summary.batches += 1
            batch_size = _next_batch_size(len(items), time.monotonic() - started)
        if (
            summary.stopped_by == "time budget"
            and WorkItem.objects.claimable(timezone.now()).exists()
        ):
            request_drain()
    if summary.completed:
        WorkerHeartbeat.objects.filter(worker=worker_id).update(
            items_completed=F("items_completed") + summary.completed
        )
    return summary


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
