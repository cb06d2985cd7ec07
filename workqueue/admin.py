"""The admin pages data-ops staff live in: the queue, failures, running work, history.

Actions are short: they call the same service functions as the API and the commands (so every
action is audited with source "admin"), report what happened, and turn refusals into messages.
Executions, the manifest and the audit log are read-only here.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

from workqueue.exceptions import WorkItemNotFound
from workqueue.fields import canonical_json
from workqueue.models import (
    AuditEvent,
    AuditSource,
    Execution,
    FailedWorkItem,
    ManifestEntry,
    RunningWorkItem,
    WorkItem,
)
from workqueue.services import (
    Actor,
    EnqueueRequest,
    EnqueueStatus,
    work_item_cancel,
    work_item_retry,
    work_items_enqueue,
)
from workqueue.states import IllegalTransition, WorkState


def _actor(request: HttpRequest) -> Actor:
    return Actor.for_user(
        request.user, source=AuditSource.ADMIN, client_address=request.META.get("REMOTE_ADDR")
    )


def _report(request: HttpRequest, verb: str, done: list[int], refused: list[str]) -> None:
    if done:
        ids = ", ".join(f"#{pk}" for pk in done)
        messages.success(request, f"{verb} {len(done)} item(s): {ids}")
    for reason in refused[:10]:
        messages.error(request, reason)
    if len(refused) > 10:
        messages.error(request, f"... and {len(refused) - 10} more refused")


def _each(request: HttpRequest, queryset: QuerySet, service: Any, verb: str) -> None:
    """Apply a one-item service to each selected item; refusals become messages."""
    done, refused = [], []
    for pk in queryset.values_list("pk", flat=True):
        try:
            service(item_id=pk, actor=_actor(request))
            done.append(pk)
        except (IllegalTransition, WorkItemNotFound) as exc:
            refused.append(str(exc))
    _report(request, verb, done, refused)


@admin.action(description="Retry selected items (FAILED or CANCELLED)", permissions=["operate"])
def retry_items(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    _each(request, queryset, work_item_retry, "Re-armed")


@admin.action(description="Cancel selected items (PENDING or RETRY_WAIT)", permissions=["operate"])
def cancel_items(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    _each(request, queryset, work_item_cancel, "Cancelled")


@admin.action(description="Reprocess selected finished items", permissions=["operate"])
def reprocess_items(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    items = list(queryset)
    results = work_items_enqueue(
        requests=[
            EnqueueRequest(
                domain=item.domain,
                pipeline=item.pipeline,
                partition_key=item.partition_key,
                reprocess=True,
            )
            for item in items
        ],
        actor=_actor(request),
    )
    done = [r.item.pk for r in results if r.status is EnqueueStatus.REARMED]
    refused = [
        f"#{r.item.pk} is {r.item.state}: only finished items are reprocessed"
        for r in results
        if r.status is not EnqueueStatus.REARMED
    ]
    _report(request, "Re-armed for reprocessing", done, refused)


class ExecutionInline(admin.TabularInline):
    model = Execution
    extra = 0
    can_delete = False
    ordering = ["-attempt", "-id"]
    fields = [
        "attempt",
        "outcome",
        "worker",
        "started_at",
        "finished_at",
        "duration_seconds",
        "rows_written",
        "capture_id",
        "error",
    ]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AuditInline(admin.TabularInline):
    model = AuditEvent
    extra = 0
    can_delete = False
    fields = ["occurred_at", "actor_name", "source", "action", "client_address", "details"]
    readonly_fields = fields
    verbose_name_plural = "audit trail"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WorkItem)
class WorkItemAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "domain",
        "pipeline",
        "partition",
        "state_badge",
        "priority",
        "attempts",
        "desired_at",
        "next_attempt_at",
        "short_error",
        "updated_at",
    ]
    list_filter = ["state", "domain", "pipeline"]
    search_fields = ["partition_key", "last_error", "=id"]
    ordering = ["-priority", "desired_at", "id"]
    date_hierarchy = "desired_at"
    actions = [retry_items, cancel_items, reprocess_items]
    inlines = [ExecutionInline, AuditInline]
    list_per_page = 100
    readonly_fields = [f.name for f in WorkItem._meta.fields]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "domain",
                    "pipeline",
                    "partition_key",
                    "params",
                    "state",
                    "priority",
                    "desired_at",
                ]
            },
        ),
        (
            "Attempts",
            {
                "fields": [
                    "attempt_count",
                    "max_attempts",
                    "next_attempt_at",
                    "last_error",
                    "last_error_at",
                    "waiting_for",
                    "dependency_waiting_since",
                ]
            },
        ),
        ("Lease", {"fields": ["locked_by", "locked_at", "current_execution"]}),
        ("Times", {"fields": ["created_at", "updated_at", "completed_at"]}),
    ]

    # Items change only through the services (enqueue, retry, cancel): never by editing rows.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_operate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("workqueue.operate_workitem")

    @admin.display(description="partition", ordering="partition_key")
    def partition(self, item: WorkItem) -> str:
        return canonical_json(item.partition_key)

    @admin.display(description="attempts")
    def attempts(self, item: WorkItem) -> str:
        return f"{item.attempt_count}/{item.max_attempts}"

    @admin.display(description="state", ordering="state")
    def state_badge(self, item: WorkItem) -> str:
        colours = {
            WorkState.FAILED: "#ba2121",
            WorkState.RUNNING: "#205067",
            WorkState.RETRY_WAIT: "#b36b00",
            WorkState.COMPLETE: "#2e7d32",
        }
        return format_html(
            '<strong style="color:{}">{}</strong>', colours.get(item.state, "inherit"), item.state
        )

    @admin.display(description="last error")
    def short_error(self, item: WorkItem) -> str:
        error = item.last_error or ""
        return error if len(error) <= 90 else error[:87] + "..."


@admin.register(FailedWorkItem)
class FailedWorkItemAdmin(WorkItemAdmin):
    list_display = [
        "id",
        "domain",
        "pipeline",
        "partition",
        "attempts",
        "last_error_at",
        "short_error",
    ]
    list_filter = ["domain", "pipeline"]
    actions = [retry_items]
    date_hierarchy = "last_error_at"


@admin.register(RunningWorkItem)
class RunningWorkItemAdmin(WorkItemAdmin):
    list_display = [
        "id",
        "domain",
        "pipeline",
        "partition",
        "locked_by",
        "locked_at",
        "lease_age",
        "attempts",
    ]
    list_filter = ["domain", "pipeline", "locked_by"]
    actions: list[Any] = []
    date_hierarchy = None

    @admin.display(description="since last heartbeat")
    def lease_age(self, item: WorkItem) -> str:
        if item.locked_at is None:
            return "-"
        seconds = int((timezone.now() - item.locked_at).total_seconds())
        return f"{seconds // 60} min {seconds % 60} s"


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Execution)
class ExecutionAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "work_item",
        "attempt",
        "outcome",
        "worker",
        "started_at",
        "duration_seconds",
        "rows_written",
        "capture_id",
    ]
    list_filter = ["outcome", "work_item__domain", "work_item__pipeline"]
    search_fields = ["=work_item__id", "worker", "capture_id", "error"]
    list_select_related = ["work_item"]
    date_hierarchy = "started_at"


@admin.register(ManifestEntry)
class ManifestEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "domain",
        "partition",
        "stage",
        "stage_rank",
        "row_count",
        "capture_id",
        "updated_at",
    ]
    list_filter = ["domain", "stage"]
    search_fields = ["partition_key", "capture_id"]
    ordering = ["domain", "partition_key", "stage_rank"]

    @admin.display(description="partition", ordering="partition_key")
    def partition(self, entry: ManifestEntry) -> str:
        return canonical_json(entry.partition_key)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "actor_name", "source", "action", "work_item", "client_address"]
    list_filter = ["source", "action"]
    search_fields = ["actor_name", "=work_item__id", "client_address"]
    date_hierarchy = "occurred_at"
    list_select_related = ["work_item"]
