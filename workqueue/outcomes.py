"""Recording how an attempt ended: success (in batches), failure with retry or not, or a wait
for an upstream stage. Every write is conditional on the execution still owning the item, so a
worker whose lease was taken away cannot overwrite what happened since."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from workqueue.models import Execution, ExecutionOutcome, WorkItem
from workqueue.pipelines import PipelineResult
from workqueue.policy import RetryPolicy
from workqueue.redaction import redact
from workqueue.states import Event, IllegalTransition, sources_of

logger = logging.getLogger(__name__)


def _retry_at(item: WorkItem, now: datetime) -> datetime | None:
    """When the next attempt may start, or None when the item has no attempts left."""
    if item.attempt_count >= item.max_attempts:
        return None
    return now + RetryPolicy.from_settings().delay_before_attempt(item.attempt_count + 1)


def record_failure(
    item: WorkItem,
    *,
    error: str,
    trace: str | None,
    outcome: str,
    final: bool,
    duration: float | None,
    now: datetime,
) -> None:
    """A failed attempt: RETRY_WAIT with backoff, or FAILED when ``final`` or out of attempts.

    The error and traceback are redacted (``workqueue.redaction``) before they are stored or
    logged: viewers read them, and an exception's message may quote a URL's password.
    """
    error, trace = redact(error) or "", redact(trace)
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


def record_dependency_wait(item: WorkItem, *, reason: str, duration: float, now: datetime) -> None:
    """Upstream stage missing: wait without spending an attempt, up to the wait limit."""
    reason = redact(reason) or ""
    execution_id = item.current_execution_id
    assert execution_id is not None
    limit = timedelta(seconds=settings.WORKQUEUE_DEPENDENCY_WAIT_LIMIT_SECONDS)
    waiting_since = item.dependency_waiting_since or now
    if now - waiting_since >= limit:
        hours = limit.total_seconds() / 3600
        record_failure(
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
class Success:
    item: WorkItem
    result: PipelineResult
    duration: float


def complete_batch(successes: list[Success]) -> int:
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
        WorkItem.objects.complete(execution_ids=owned, now=now)
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
