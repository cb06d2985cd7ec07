"""Staff pages for FINRA captures: read-only history of every capture and stage."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from finra.models import Capture, SchedulerRun


@admin.register(Capture)
class CaptureAdmin(admin.ModelAdmin):
    list_display = (
        "capture_id",
        "stage",
        "week_ending",
        "tier",
        "status",
        "row_count",
        "reject_count",
        "source_last_update_date",
        "captured_at",
        "computed_at",
    )
    list_filter = ("stage", "status", "tier", "week_ending")
    search_fields = ("capture_id", "source_sha256", "source_origin")
    date_hierarchy = "captured_at"
    ordering = ("-captured_at", "stage")

    # Captures are written by the pipelines only: the admin shows history, it never edits it.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Capture | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Capture | None = None) -> bool:
        return False


@admin.register(SchedulerRun)
class SchedulerRunAdmin(admin.ModelAdmin):
    """Each weekly scheduler run: flags, outcome, and a table of what it did per week."""

    list_display = ("started_at", "status", "exit_code", "duration", "counts_text", "host")
    list_filter = ("status",)
    date_hierarchy = "started_at"
    ordering = ("-started_at", "-id")
    readonly_fields = (
        "started_at",
        "finished_at",
        "duration",
        "status",
        "exit_code",
        "arguments",
        "counts",
        "results_table",
        "work_item_ids",
        "message",
        "host",
    )
    exclude = ("results",)

    @admin.display(description="duration")
    def duration(self, obj: SchedulerRun) -> str:
        seconds = obj.duration_seconds
        return "-" if seconds is None else f"{seconds:.1f} s"

    @admin.display(description="counts")
    def counts_text(self, obj: SchedulerRun) -> str:
        return ", ".join(f"{n} {action}" for action, n in (obj.counts or {}).items() if n) or "-"

    @admin.display(description="results")
    def results_table(self, obj: SchedulerRun) -> str:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    r.get("week_ending", ""),
                    r.get("tier", ""),
                    r.get("action", ""),
                    r.get("capture_id") or "",
                    r.get("error") or r.get("note") or "",
                )
                for r in obj.results or []
            ),
        )
        return format_html(
            "<table><thead><tr><th>week ending</th><th>tier</th><th>action</th>"
            "<th>capture</th><th>error / note</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    # Written by the scheduler only: the admin shows runs, it never edits them.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SchedulerRun | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: SchedulerRun | None = None) -> bool:
        return False
