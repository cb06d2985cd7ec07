"""Staff pages for FINRA captures: read-only history of every capture and stage."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from finra.models import Capture


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
