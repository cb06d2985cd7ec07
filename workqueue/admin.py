# Over 400 lines: a small ModelAdmin for each queue page, from work items to the change log.
"""The admin pages data-ops staff live in: the queue, failures, running work, history.

Actions are short: they call the same service functions as the API and the commands (so every
action is audited with source "admin"), report what happened, and turn refusals into messages.
Executions, the manifest and the audit log are read-only here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.models import LogEntry
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from workqueue import admin_views
from workqueue.exceptions import WorkItemNotFound
from workqueue.fields import canonical_json
from workqueue.models import (
    AuditEvent,
    Execution,
    FailedWorkItem,
    ManifestEntry,
    RunningWorkItem,
    WorkItem,
)
from workqueue.services import (
    EnqueueRequest,
    EnqueueStatus,
    work_item_cancel,
    work_item_retry,
    work_items_enqueue,
)
from workqueue.states import IllegalTransition, WorkState


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
            service(item_id=pk, actor=admin_views.admin_actor(request))
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
        actor=admin_views.admin_actor(request),
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
        "duration",
        "rows_written",
        "capture_id",
        "error_details",
    ]
    readonly_fields = fields
    show_change_link = True

    @admin.display(description="duration")
    def duration(self, execution: Execution) -> str:
        if execution.duration_seconds is None:
            return "-"
        return f"{execution.duration_seconds:.3f} s"

    @admin.display(description="error")
    def error_details(self, execution: Execution) -> str:
        if not execution.error and not execution.traceback:
            return "-"
        summary = (execution.error or "error").splitlines()[0]
        return format_html(
            '<details class="console-trace"><summary>{}</summary><pre>{}</pre>'
            "<pre>{}</pre></details>",
            summary if len(summary) <= 120 else summary[:117] + "...",
            execution.error or "",
            execution.traceback or "(no traceback)",
        )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AuditInline(admin.TabularInline):
    model = AuditEvent
    extra = 0
    can_delete = False
    fields = [
        "occurred_at",
        "actor_name",
        "source",
        "action",
        "outcome",
        "client_address",
        "details",
    ]
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
    change_form_template = "admin/workqueue/workitem/change_form.html"
    readonly_fields = [*(f.name for f in WorkItem._meta.fields), "partition"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "domain",
                    "pipeline",
                    "partition",
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

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        admin_views.refuse_changelist_action(request, self)
        return super().changelist_view(request, extra_context)

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        buttons = [
            path(
                f"<path:object_id>/{name}/",
                self.admin_site.admin_view(
                    partial(admin_views.work_item_action, action=name, model_admin=self)
                ),
                name=f"{info[0]}_{info[1]}_{name}",
            )
            for name in admin_views.ITEM_ACTIONS
        ]
        return buttons + super().get_urls()

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        item = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if item is not None:
            context["item_actions"] = admin_views.item_actions(request, item)
            if request.user.has_perm("workqueue.view_manifestentry"):
                query = {"domain": item.domain, "partition_key": item.partition_key_text}
                context["manifest_url"] = (
                    reverse("admin:workqueue_manifestentry_changelist") + "?" + urlencode(query)
                )
            if request.user.has_perm("workqueue.view_auditevent"):
                context["audit_url"] = (
                    reverse("admin:workqueue_auditevent_changelist")
                    + "?"
                    + urlencode({"work_item__exact": item.pk})
                )
        return super().change_view(request, object_id, form_url, context)

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


class ActorFilter(admin.SimpleListFilter):
    """By who acted: users, command-line accounts and "system" alike (the recorded name)."""

    title = "actor"
    parameter_name = "actor"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        names = (
            AuditEvent.objects.order_by("actor_name")
            .values_list("actor_name", flat=True)
            .distinct()[:200]
        )
        return [(name, name) for name in names]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() is None:
            return queryset
        return queryset.filter(actor_name=self.value())


class OccurredRangeFilter(admin.ListFilter):
    """From and to dates (UTC, both inclusive) on ``occurred_at``."""

    title = "date range"
    template = "admin/workqueue/auditevent/date_range_filter.html"
    from_name, to_name = "occurred_from", "occurred_to"

    def __init__(self, request: HttpRequest, params: dict, model: Any, model_admin: Any) -> None:
        super().__init__(request, params, model, model_admin)
        for name in (self.from_name, self.to_name):
            if name in params:
                value = params.pop(name)[-1]
                if value:
                    self.used_parameters[name] = value

    def _day(self, name: str) -> datetime | None:
        value = self.used_parameters.get(name)
        if not value:
            return None
        try:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
        except ValueError:
            raise IncorrectLookupParameters(f"{name} must be a date (YYYY-MM-DD)") from None

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str]:
        return [self.from_name, self.to_name]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        start, end = self._day(self.from_name), self._day(self.to_name)
        if start is not None:
            queryset = queryset.filter(occurred_at__gte=start)
        if end is not None:
            queryset = queryset.filter(occurred_at__lt=end + timedelta(days=1))
        return queryset

    def choices(self, changelist: Any) -> list[dict[str, Any]]:
        ours = set(self.expected_parameters())
        keep = [(k, v) for k, v in changelist.params.items() if k not in ours and k != "p"]
        selected = bool(self.used_parameters)
        return [
            {
                "keep": keep,
                "from_name": self.from_name,
                "to_name": self.to_name,
                "from_value": self.used_parameters.get(self.from_name, ""),
                "to_value": self.used_parameters.get(self.to_name, ""),
                "clear_url": changelist.get_query_string(remove=list(ours)) if selected else "",
                "selected": selected,
            }
        ]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = [
        "occurred_at",
        "actor_name",
        "source",
        "action",
        "outcome",
        "work_item",
        "client_address",
    ]
    list_filter = [ActorFilter, "action", "outcome", "source", OccurredRangeFilter]
    search_fields = ["actor_name", "action", "details", "=work_item__id", "client_address"]
    date_hierarchy = "occurred_at"
    list_select_related = ["work_item"]
    change_list_template = "admin/workqueue/auditevent/change_list.html"

    def get_urls(self) -> list[URLPattern]:
        export = path(
            "export.csv",
            self.admin_site.admin_view(partial(admin_views.audit_events_csv, model_admin=self)),
            name="workqueue_auditevent_export",
        )
        return [export, *super().get_urls()]


@admin.register(LogEntry)
class LogEntryAdmin(ReadOnlyAdmin):
    """The admin's own change log: who added, changed or deleted which object through it."""

    list_display = ["action_time", "user", "action_flag", "content_type", "object_repr"]
    list_filter = ["action_flag", ("content_type", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["object_repr", "change_message", "user__username"]
    date_hierarchy = "action_time"
    list_select_related = ["user", "content_type"]


from workqueue import admin_accounts  # noqa: E402, F401 - users, groups and tokens, audited
