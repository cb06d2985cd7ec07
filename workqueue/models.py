# Over 400 lines: the queue's tables in one module; most of it is WorkItem's transitions.
"""Durable work items, their executions, the stage manifest and the audit log.

Table and column names are part of the contract with ops staff, who query them by name in SQL,
so ``db_table`` is fixed here and columns are only ever added.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from workqueue.fields import CanonicalJSONField, canonical_json
from workqueue.states import (
    ACTIVE_STATES,
    FINISHED_STATES,
    Event,
    IllegalTransition,
    WorkState,
    sources_of,
    target_of,
)


def default_max_attempts() -> int:
    return settings.WORKQUEUE_MAX_ATTEMPTS


#: What every way out of RUNNING clears (success, failure, dependency wait, lease expiry): the
#: worker's lease, the retry time and any dependency wait. A transition that sets one of these
#: (a failure's retry time, a dependency wait's reason) overrides it.
LEASE_RELEASE: dict[str, Any] = {
    "locked_by": None,
    "locked_at": None,
    "next_attempt_at": None,
    "waiting_for": "",
    "dependency_waiting_since": None,
}
_NO_ERROR: dict[str, Any] = {"last_error": None, "last_error_at": None}
#: What a fresh round of attempts clears (retry, reprocess): the release, plus attempts, the
#: error and the finished run. History (executions, audit) is kept.
RESET: dict[str, Any] = {
    **LEASE_RELEASE,
    **_NO_ERROR,
    "attempt_count": 0,
    "completed_at": None,
    "current_execution": None,
}


class WorkItemQuerySet(models.QuerySet["WorkItem"]):
    def claimable(self, now: datetime) -> WorkItemQuerySet:
        """Items due to run now, in claim order: priority desc, desired_at, id.

        PENDING items wait for ``desired_at``; RETRY_WAIT items for ``next_attempt_at``.
        """
        due_pending = Q(state=WorkState.PENDING, desired_at__lte=now)
        due_retry = Q(state=WorkState.RETRY_WAIT, next_attempt_at__lte=now)
        return self.filter(due_pending | due_retry).order_by("-priority", "desired_at", "id")

    def active(self) -> WorkItemQuerySet:
        """Items with work ahead of them (PENDING, RUNNING, RETRY_WAIT)."""
        return self.filter(state__in=ACTIVE_STATES)

    def finished(self) -> WorkItemQuerySet:
        return self.filter(state__in=FINISHED_STATES)

    def with_expired_lease(self, now: datetime) -> WorkItemQuerySet:
        """RUNNING items whose worker has not renewed the lease within the lease period."""
        cutoff = now - timedelta(seconds=settings.WORKQUEUE_LEASE_SECONDS)
        return self.filter(state=WorkState.RUNNING, locked_at__lt=cutoff)

    def for_partition(
        self, *, domain: str, pipeline: str, partition_key: dict[str, Any]
    ) -> WorkItemQuerySet:
        return self.filter(domain=domain, pipeline=pipeline, partition_key=partition_key)

    def complete(self, *, execution_ids: Iterable[int], now: datetime) -> int:
        """COMPLETE the RUNNING items whose current execution is one of ``execution_ids``.

        Returns how many rows changed. An item reaped meanwhile has another current execution
        (or is no longer RUNNING), so the WHERE clause leaves it alone.
        """
        return self.filter(
            state__in=sources_of(Event.SUCCEED), current_execution_id__in=list(execution_ids)
        ).update(
            state=target_of(Event.SUCCEED),
            completed_at=now,
            updated_at=now,
            **LEASE_RELEASE,
            **_NO_ERROR,
        )

    def renew_leases(self, *, execution_ids: Iterable[int], now: datetime) -> int:
        """Heartbeat: set ``locked_at = now`` on the RUNNING items held by these executions.

        Matching on the execution (not the worker) means an item the reaper took away and
        another worker claimed is never renewed by its old worker.
        """
        return self.filter(
            state=WorkState.RUNNING, current_execution_id__in=list(execution_ids)
        ).update(locked_at=now)

    def release_unstarted(self, *, execution_ids: Iterable[int], now: datetime) -> int:
        """Hand back RUNNING items whose current execution never started: PENDING again, the
        claim's attempt given back, ``current_execution`` pointing at the attempt before.

        Returns how many rows changed. Like :meth:`complete`, the WHERE clause names the
        executions, so an item that was reaped and claimed by another worker is left alone.
        """
        earlier_attempt = (
            Execution.objects.filter(work_item=models.OuterRef("pk"))
            .exclude(pk=models.OuterRef("current_execution_id"))
            .order_by("-attempt", "-id")
            .values("pk")[:1]
        )
        return self.filter(
            state__in=sources_of(Event.RELEASE), current_execution_id__in=list(execution_ids)
        ).update(
            state=target_of(Event.RELEASE),
            attempt_count=models.F("attempt_count") - 1,
            current_execution=models.Subquery(earlier_attempt),
            locked_by=None,
            locked_at=None,
            next_attempt_at=None,
            updated_at=now,
        )


WorkItemManager = models.Manager.from_queryset(WorkItemQuerySet)


class WorkItem(models.Model):
    domain = models.CharField(max_length=100)
    pipeline = models.CharField(max_length=100)
    partition_key = CanonicalJSONField()
    params = models.JSONField(default=dict, blank=True)
    desired_at = models.DateTimeField(default=timezone.now)
    priority = models.IntegerField(default=100, help_text="Higher runs first.")
    state = models.CharField(max_length=16, choices=WorkState.choices, default=WorkState.PENDING)
    attempt_count = models.PositiveIntegerField(default=0, help_text="Attempts started.")
    max_attempts = models.PositiveIntegerField(default=default_max_attempts)
    last_error = models.TextField(null=True, blank=True)  # noqa: DJ001 - NULL means "no error"
    last_error_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    current_execution = models.ForeignKey(
        "Execution",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,  # the circular reference is kept loose; executions are history
    )
    locked_by = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    locked_at = models.DateTimeField(null=True, blank=True)
    waiting_for = models.TextField(
        blank=True, default="", help_text="What a dependency wait is waiting for."
    )
    dependency_waiting_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = WorkItemManager()

    class Meta:
        db_table = "core_work_items"
        constraints = [
            models.UniqueConstraint(
                fields=["domain", "pipeline", "partition_key"], name="core_work_items_unique_key"
            ),
        ]
        indexes = [
            models.Index(
                fields=["state", "-priority", "desired_at", "id"], name="core_work_items_claim"
            ),
            models.Index(fields=["state", "next_attempt_at"], name="core_work_items_retry"),
            models.Index(fields=["state", "locked_at"], name="core_work_items_lease"),
        ]
        permissions = [("operate_workitem", "Can enqueue, retry and cancel work items")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.domain}/{self.pipeline} {self.partition_key_text}"

    @property
    def partition_key_text(self) -> str:
        return canonical_json(self.partition_key or {})

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def is_finished(self) -> bool:
        return self.state in FINISHED_STATES

    # --- single-row transitions ---------------------------------------------------------------
    def _apply(self, event: Event, *, only_execution: int | None = None, **changes: Any) -> None:
        """Move this item along ``event`` with a conditional UPDATE, or refuse loudly.

        The WHERE clause carries the allowed source states (and, for a running item, the
        execution that owns it), so a concurrent change by another process makes this update
        match no row instead of overwriting it.
        """
        now = timezone.now()
        changes = {"state": target_of(event), "updated_at": now, **changes}
        rows = WorkItem.objects.filter(pk=self.pk, state__in=sources_of(event))
        if only_execution is not None:
            rows = rows.filter(current_execution_id=only_execution)
        if rows.update(**changes) != 1:
            current = WorkItem.objects.filter(pk=self.pk).values_list("state", flat=True).first()
            raise IllegalTransition(event=event, current=current or "DELETED", item_label=str(self))
        for field, value in changes.items():
            setattr(self, field, value)

    def mark_cancelled(self) -> None:
        self._apply(Event.CANCEL, next_attempt_at=None)

    def rearm(self, event: Event, **changes: Any) -> None:
        """Back to PENDING for a fresh round of attempts (retry or reprocess); history is kept."""
        self._apply(event, **{**RESET, **changes})

    def mark_failed_attempt(
        self, *, execution_id: int, error: str, retry_at: datetime | None, now: datetime
    ) -> None:
        """Record a failed attempt: RETRY_WAIT until ``retry_at``, or FAILED when it is None."""
        self._apply(
            Event.FAIL_FINAL if retry_at is None else Event.FAIL_RETRYABLE,
            only_execution=execution_id,
            **{
                **LEASE_RELEASE,
                "next_attempt_at": retry_at,
                "last_error": error,
                "last_error_at": now,
            },
        )

    def mark_waiting_for_dependency(
        self, *, execution_id: int, reason: str, retry_at: datetime, now: datetime
    ) -> None:
        """Reschedule without spending an attempt: the claim's increment is given back."""
        self._apply(
            Event.WAIT_FOR_DEPENDENCY,
            only_execution=execution_id,
            **{
                **LEASE_RELEASE,
                "attempt_count": models.F("attempt_count") - 1,
                "next_attempt_at": retry_at,
                "waiting_for": reason,
                "dependency_waiting_since": self.dependency_waiting_since or now,
                "last_error": f"dependency not ready: {reason}",
                "last_error_at": now,
            },
        )
        self.refresh_from_db(fields=["attempt_count"])


class FailedWorkItemManager(WorkItemManager):
    def get_queryset(self) -> WorkItemQuerySet:
        return super().get_queryset().filter(state=WorkState.FAILED)


class RunningWorkItemManager(WorkItemManager):
    def get_queryset(self) -> WorkItemQuerySet:
        return super().get_queryset().filter(state=WorkState.RUNNING)


class FailedWorkItem(WorkItem):
    """FAILED items only (a proxy: same table), for the admin's failures page."""

    objects = FailedWorkItemManager()

    class Meta:
        proxy = True
        verbose_name = "failed work item"
        verbose_name_plural = "failed work items"


class RunningWorkItem(WorkItem):
    """RUNNING items only (a proxy: same table), for the admin's page of leases."""

    objects = RunningWorkItemManager()

    class Meta:
        proxy = True
        verbose_name = "running work item"
        verbose_name_plural = "running work items"


class ExecutionOutcome(models.TextChoices):
    RUNNING = "RUNNING", "Running"
    SUCCESS = "SUCCESS", "Success"
    SKIPPED = "SKIPPED", "Skipped (nothing new)"
    FAILED = "FAILED", "Failed"
    DEPENDENCY_WAIT = "DEPENDENCY_WAIT", "Dependency not ready"
    LEASE_EXPIRED = "LEASE_EXPIRED", "Lease expired (worker lost)"


class Execution(models.Model):
    """One attempt at a work item. Append-only history: the queue deletes a row only when a
    stopping worker hands back an item it claimed and never started, which was no attempt."""

    work_item = models.ForeignKey(WorkItem, on_delete=models.CASCADE, related_name="executions")
    attempt = models.PositiveIntegerField()
    worker = models.CharField(max_length=200)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(
        max_length=16, choices=ExecutionOutcome.choices, default=ExecutionOutcome.RUNNING
    )
    error = models.TextField(null=True, blank=True)  # noqa: DJ001
    traceback = models.TextField(null=True, blank=True)  # noqa: DJ001
    rows_written = models.BigIntegerField(null=True, blank=True)
    capture_id = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    duration_seconds = models.FloatField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "core_executions"
        indexes = [
            models.Index(fields=["work_item", "attempt"], name="core_executions_item"),
            models.Index(fields=["outcome", "started_at"], name="core_executions_outcome"),
        ]

    def __str__(self) -> str:
        return f"execution {self.pk} of item {self.work_item_id} (attempt {self.attempt})"


class ManifestEntry(models.Model):
    """The latest capture that reached a stage for one partition of a domain."""

    domain = models.CharField(max_length=100)
    partition_key = CanonicalJSONField()
    stage = models.CharField(max_length=50)
    stage_rank = models.PositiveSmallIntegerField()
    row_count = models.BigIntegerField(default=0)
    capture_id = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    execution = models.ForeignKey(
        Execution, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)
    metrics = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "core_manifest"
        constraints = [
            models.UniqueConstraint(
                fields=["domain", "partition_key", "stage"], name="core_manifest_unique_stage"
            ),
        ]
        ordering = ["domain", "partition_key", "stage_rank"]
        verbose_name_plural = "manifest entries"

    def __str__(self) -> str:
        return f"{self.domain} {canonical_json(self.partition_key)} {self.stage}"


class AuditSource(models.TextChoices):
    API = "api", "REST API"
    ADMIN = "admin", "Admin"
    CLI = "cli", "Command line"
    SYSTEM = "system", "System"


class AuditOutcome(models.TextChoices):
    """How the attempt an event records ended: done, or refused before it changed anything."""

    DONE = "done", "Done"
    REFUSED = "refused", "Refused (no permission)"
    CONFLICT = "conflict", "Conflict (not allowed in its state)"


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> int:
        raise TypeError("the audit log is append-only: audit events cannot be updated")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise TypeError("the audit log is append-only: audit events cannot be deleted")


class AuditEvent(models.Model):
    """Who did what to which work item, from where and when. Append-only."""

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    actor_name = models.CharField(max_length=150, help_text="Username at the time, or 'system'.")
    source = models.CharField(max_length=10, choices=AuditSource.choices)
    action = models.CharField(max_length=50)
    outcome = models.CharField(
        max_length=10, choices=AuditOutcome.choices, default=AuditOutcome.DONE, db_index=True
    )
    work_item = models.ForeignKey(
        WorkItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    client_address = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        db_table = "core_audit_events"
        ordering = ["-occurred_at", "-id"]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise TypeError("the audit log is append-only: audit events cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise TypeError("the audit log is append-only: audit events cannot be deleted")


class DispatchSignal(models.Model):
    """One row that says whether a drain task is already waiting in the django-q2 broker.

    It debounces the "start work now" signal sent after every enqueue: thousands of enqueues
    per second queue at most one drain task at a time (see ``workqueue.dispatch.request_drain``).
    """

    drain_queued = models.BooleanField(default=False)
    requested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "core_dispatch_signal"

    def __str__(self) -> str:
        return f"dispatch signal (drain queued: {self.drain_queued})"


class WorkerHeartbeat(models.Model):
    """Last sign of life of each worker process that runs work items (shown by health checks)."""

    worker = models.CharField(max_length=200, unique=True)
    seen_at = models.DateTimeField()
    items_completed = models.BigIntegerField(default=0)

    class Meta:
        db_table = "core_worker_heartbeats"

    def __str__(self) -> str:
        return f"{self.worker} seen {self.seen_at:%Y-%m-%d %H:%M:%S}"


# --- API tokens -------------------------------------------------------------------------------

#: Characters of a key kept in clear so people can tell their tokens apart (never enough to use).
API_TOKEN_PREFIX_LENGTH = 8
#: New keys start with this marker, so a leaked key is recognisable (secret scanners, logs).
API_TOKEN_MARKER = "ms_"


def api_token_digest(key: str) -> str:
    """SHA-256 of a key, hex. Keys are 256 random bits, so a fast hash is enough: there is no
    guessable password to stretch, and the lookup stays one indexed equality."""
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_new_key() -> str:
    return API_TOKEN_MARKER + secrets.token_urlsafe(32)


class ApiTokenStatus(models.TextChoices):
    ACTIVE = "active", "active"
    EXPIRED = "expired", "expired"
    REVOKED = "revoked", "revoked"


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def usable(self, now: datetime | None = None) -> ApiTokenQuerySet:
        """Tokens that authenticate: not revoked and not past their expiry."""
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """An API key of one user: only its SHA-256 digest and a short visible prefix are stored.

    A user holds any number of named tokens (one per cron job). Revoking keeps the row, so a
    script that still sends the key is told it was revoked rather than that it never existed.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What uses it, e.g. cron-weekly-finra.")
    prefix = models.CharField(max_length=API_TOKEN_PREFIX_LENGTH, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires. UTC.")
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        db_table = "core_api_tokens"
        ordering = ["user_id", "name", "-created_at"]
        verbose_name = "API token"
        constraints = [
            # One usable name per user: rotating revokes the old token of that name first.
            models.UniqueConstraint(
                fields=["user", "name"],
                condition=Q(revoked_at__isnull=True),
                name="core_api_tokens_one_active_name_per_user",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def status(self, now: datetime | None = None) -> ApiTokenStatus:
        if self.revoked_at is not None:
            return ApiTokenStatus.REVOKED
        if self.expires_at is not None and self.expires_at <= (now or timezone.now()):
            return ApiTokenStatus.EXPIRED
        return ApiTokenStatus.ACTIVE

    @classmethod
    def digest_of(cls, key: str) -> str:
        return api_token_digest(key)
