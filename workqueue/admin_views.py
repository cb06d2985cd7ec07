"""Admin pages of the work queue beyond Django's lists: dashboard panels, item buttons, export.

Every write goes through the service functions (so it is audited with source "admin"), needs
``workqueue.operate_workitem`` and a POST, and reports its outcome as a message: a refused
transition is an error message on the page, never an error page.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect, StreamingHttpResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from marketspine.api.addresses import client_address
from marketspine.api.csvsafe import csv_safe_row
from workqueue import dashboard
from workqueue.audit import audit_refusal
from workqueue.exceptions import EnqueueError, WorkItemNotFound
from workqueue.models import AuditOutcome, AuditSource, WorkItem
from workqueue.services import (
    Actor,
    EnqueueStatus,
    work_item_cancel,
    work_item_enqueue,
    work_item_retry,
)
from workqueue.states import TRANSITIONS, Event, IllegalTransition

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

OPERATE = "workqueue.operate_workitem"

#: item buttons: name -> (label, the event whose source states allow it)
ITEM_ACTIONS = {
    "retry": ("Retry", Event.RETRY),
    "cancel": ("Cancel", Event.CANCEL),
    "reprocess": ("Reprocess", Event.REPROCESS),
}


def admin_actor(request: HttpRequest) -> Actor:
    return Actor.for_user(
        request.user, source=AuditSource.ADMIN, client_address=client_address(request)
    )


def can_operate(request: HttpRequest) -> bool:
    return request.user.has_perm(OPERATE)


def record_refusal(
    request: HttpRequest,
    *,
    action: str,
    work_item_id: int | None = None,
    target: dict[str, Any] | None = None,
) -> None:
    """An admin write this signed-in user may not make, in the audit log (outcome refused)."""
    if not request.user.is_authenticated:
        return
    audit_refusal(
        actor=admin_actor(request),
        action=action,
        outcome=AuditOutcome.REFUSED,
        work_item_id=work_item_id,
        details={
            "method": request.method,
            "path": request.path,
            "status": 403,
            "code": "permission_denied",
            "message": f"needs the {OPERATE} permission",
            "target": target or {},
        },
    )


def refuse_changelist_action(request: HttpRequest, model_admin: ModelAdmin) -> None:
    """Django leaves out of the list the actions a user may not run, and ignores a POST of
    one anyway; such a POST is an attempt all the same: audit it and say so on the page."""
    name = request.POST.get("action", "") if request.method == "POST" else ""
    declared = {getattr(action, "__name__", action) for action in model_admin.actions or ()}
    if name not in declared or name in model_admin.get_actions(request):
        return
    selected = request.POST.getlist(ACTION_CHECKBOX_NAME)[:100]
    record_refusal(request, action=name, target={"selected": selected})
    model_admin.message_user(
        request, f"You may not run {name!r}: it needs the operate permission.", messages.ERROR
    )


def item_actions(request: HttpRequest, item: WorkItem) -> list[tuple[str, str]]:
    """The buttons this user may press on this item now: (name, label)."""
    if not can_operate(request):
        return []
    return [
        (name, label)
        for name, (label, event) in ITEM_ACTIONS.items()
        if item.state in TRANSITIONS[event][0]
    ]


# --- dashboard panels ---------------------------------------------------------------------------


def _may_view_items(request: HttpRequest) -> bool:
    return request.user.has_perm("workqueue.view_workitem")


def queue_health_panel(request: HttpRequest) -> tuple[str, dict[str, Any]] | None:
    if not _may_view_items(request):
        return None
    return "admin/workqueue/panels/queue_health.html", {"overview": dashboard.queue_overview()}


def latest_failures_panel(request: HttpRequest) -> tuple[str, dict[str, Any]] | None:
    if not _may_view_items(request):
        return None
    return "admin/workqueue/panels/latest_failures.html", {
        "failures": dashboard.latest_failures(limit=10),
        "can_operate": can_operate(request),
    }


CHART_WIDTH, CHART_HEIGHT = 840, 120


def throughput_panel(request: HttpRequest) -> tuple[str, dict[str, Any]] | None:
    if not request.user.has_perm("workqueue.view_execution"):
        return None
    buckets = dashboard.finished_per_hour(days=7)
    finished = dashboard.bars(
        [(f"{b.hour:%Y-%m-%d %H}:00", b.finished) for b in buckets],
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
    )
    failed = dashboard.bars(
        [(f"{b.hour:%Y-%m-%d %H}:00", b.failed) for b in buckets],
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
    )
    # Failed bars share the finished bars' scale, so they sit inside them.
    peak = max((b.finished for b in buckets), default=0)
    scale = CHART_HEIGHT / peak if peak else 0
    failed = [
        dashboard.Bar(
            x=bar.x,
            y=round(CHART_HEIGHT - b.failed * scale, 2),
            width=bar.width,
            height=round(b.failed * scale, 2),
            value=b.failed,
            label=bar.label,
        )
        for bar, b in zip(failed, buckets, strict=True)
    ]
    days = [(bar.x, b.hour) for bar, b in zip(finished, buckets, strict=True) if b.hour.hour == 0]
    return "admin/workqueue/panels/throughput.html", {
        "rows": list(zip(finished, failed, strict=True)),
        "days": days,
        "total_finished": sum(b.finished for b in buckets),
        "total_failed": sum(b.failed for b in buckets),
        "peak": peak,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
    }


def durations_panel(request: HttpRequest) -> tuple[str, dict[str, Any]] | None:
    if not request.user.has_perm("workqueue.view_execution"):
        return None
    pipelines = dashboard.durations_per_week(weeks=12)
    charts = [
        {
            "pipeline": p,
            "bars": list(
                zip(
                    dashboard.bars(
                        [(w.iso_week, w.total_seconds) for w in p.weeks], width=360, height=48
                    ),
                    p.weeks,
                    strict=True,
                )
            ),
        }
        for p in pipelines
    ]
    return "admin/workqueue/panels/durations.html", {"charts": charts, "weeks": 12}


# --- item buttons -------------------------------------------------------------------------------


def _back(request: HttpRequest, item_id: int) -> HttpResponseRedirect:
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("admin:workqueue_workitem_change", args=[item_id])
    return HttpResponseRedirect(target)


@require_POST
def work_item_action(
    request: HttpRequest, object_id: str, *, action: str, model_admin: ModelAdmin
) -> HttpResponseRedirect:
    """Retry, cancel or reprocess one item, then go back where the button was."""
    try:
        item_id = int(object_id)
    except ValueError:
        raise PermissionDenied from None
    if not can_operate(request):
        record_refusal(request, action=action, work_item_id=item_id)
        raise PermissionDenied
    try:
        if action == "retry":
            item = work_item_retry(item_id=item_id, actor=admin_actor(request))
            model_admin.message_user(
                request, f"Retried #{item.pk}: it is {item.state} again.", messages.SUCCESS
            )
        elif action == "cancel":
            item = work_item_cancel(item_id=item_id, actor=admin_actor(request))
            model_admin.message_user(request, f"Cancelled #{item.pk}.", messages.SUCCESS)
        else:
            _reprocess(request, item_id, model_admin)
    except (IllegalTransition, WorkItemNotFound, EnqueueError) as exc:
        model_admin.message_user(request, str(exc), level=messages.ERROR)
    return _back(request, item_id)


def _reprocess(request: HttpRequest, item_id: int, model_admin: ModelAdmin) -> None:
    item = WorkItem.objects.filter(pk=item_id).first()
    if item is None:
        raise WorkItemNotFound(f"work item {item_id} does not exist")
    result = work_item_enqueue(
        domain=item.domain,
        pipeline=item.pipeline,
        partition_key=item.partition_key,
        reprocess=True,
        actor=admin_actor(request),
    )
    if result.status is EnqueueStatus.REARMED:
        model_admin.message_user(
            request, f"Re-armed #{item_id} for reprocessing.", messages.SUCCESS
        )
    else:
        model_admin.message_user(
            request,
            f"#{item_id} is {result.item.state}: only finished items are reprocessed",
            level=messages.ERROR,
        )


# --- audit export -------------------------------------------------------------------------------

AUDIT_CSV_COLUMNS = [
    "occurred_at",
    "actor_name",
    "source",
    "action",
    "outcome",
    "work_item_id",
    "client_address",
    "details",
]


class _Echo:
    def write(self, value: str) -> str:
        return value


def audit_events_csv(request: HttpRequest, *, model_admin: ModelAdmin) -> StreamingHttpResponse:
    """The audit changelist as CSV, with the filters and search of the page it was asked from.

    Names and details come from users (a refused sign-in records the username tried), so
    every row goes through ``csv_safe_row``: no cell opens as a formula in a spreadsheet.
    """
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    changelist = model_admin.get_changelist_instance(request)
    rows = changelist.queryset.values_list(*AUDIT_CSV_COLUMNS)

    def lines() -> Iterator[str]:
        writer = csv.writer(_Echo())
        yield writer.writerow(AUDIT_CSV_COLUMNS)
        for occurred_at, *middle, details in rows.iterator(chunk_size=2000):
            yield writer.writerow(
                csv_safe_row(
                    [
                        occurred_at.isoformat(),
                        *("" if v is None else v for v in middle),
                        json.dumps(details, sort_keys=True),
                    ]
                )
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="audit-events.csv"'
    return response
