# Over 400 lines: a query and an output serializer for each endpoint of the data API.
"""Small query and output serializers for the FINRA data API, one pair per endpoint."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from django.db import models
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from finra.api.renderers import FORMATS
from finra.gap_rules import GapStatus, gap_stages, gap_tiers
from finra.models import (
    ALL_TIERS,
    STAGES,
    Capture,
    RejectRow,
    SymbolHHIRow,
    SymbolVenueShareRow,
    TierHHIRow,
    TierSplitRow,
    VenueShareRow,
    VenueVolumeRow,
)
from finra.tiers import UnknownTierError, canonical_tier
from finra.weeks import InvalidWeekEnding, parse_week_ending

#: Rows per JSON page unless ``limit`` says otherwise, and the most one page may hold.
DEFAULT_LIMIT = 500
MAX_LIMIT = 5000
OFFSET_MAX = 2**62

# --- query fields ----------------------------------------------------------------------------


@extend_schema_field(OpenApiTypes.DATE)
class WeekEndingField(serializers.CharField):
    """An ISO date that is a Friday; the message is finra.weeks' own."""

    def to_internal_value(self, data: Any) -> date:
        text = super().to_internal_value(data)
        try:
            return parse_week_ending(text)
        except InvalidWeekEnding as exc:
            raise serializers.ValidationError(str(exc)) from None


class TierField(serializers.CharField):
    """Any FINRA spelling of a tier, stored canonical (NMS_TIER_1, NMS_TIER_2, OTC)."""

    def __init__(self, *, allow_all: bool = False, **kwargs: Any) -> None:
        self.allow_all = allow_all
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        text = super().to_internal_value(data)
        if self.allow_all and text.strip().upper() == ALL_TIERS:
            return ALL_TIERS
        try:
            return canonical_tier(text)
        except UnknownTierError as exc:
            raise serializers.ValidationError(str(exc)) from None


class SymbolField(serializers.CharField):
    """Symbols are stored upper-case (see finra.normalize), so ``aabb`` finds AABB."""

    def to_internal_value(self, data: Any) -> str:
        return super().to_internal_value(data).upper()


TIER_HELP = (
    "Any FINRA spelling, case-insensitive: NMS_TIER_1, 'NMS Tier 1', T1, NMS_TIER_2, "
    "'NMS Tier 2', T2, OTC, OTCE. Rows carry the canonical name."
)
WEEK_HELP = "The Friday that ends the trading week (YYYY-MM-DD); another weekday is a 400."


def _week_ending() -> WeekEndingField:
    return WeekEndingField(required=False, help_text=WEEK_HELP)


def _tier() -> TierField:
    return TierField(required=False, max_length=32, help_text=TIER_HELP)


def _symbol() -> SymbolField:
    return SymbolField(required=False, max_length=64, help_text="Exact symbol, any case.")


def _mpid(help_text: str = "Exact MPID of the venue (e.g. OTCN).") -> serializers.CharField:
    return serializers.CharField(required=False, max_length=64, help_text=help_text)


class PageQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_LIMIT,
        help_text=f"Rows per page (default {DEFAULT_LIMIT}, at most {MAX_LIMIT}). With "
        "format=csv, limit/offset export that page only; without them CSV exports every "
        "matching row.",
    )
    offset = serializers.IntegerField(
        required=False, min_value=0, max_value=OFFSET_MAX, help_text="Rows to skip (default 0)."
    )
    format = serializers.ChoiceField(
        choices=list(FORMATS), required=False, help_text="json (default) or csv."
    )


class VersionQuerySerializer(PageQuerySerializer):
    capture_id = serializers.CharField(
        required=False,
        max_length=96,
        help_text="Read this capture's rows (e.g. finra.otc_transparency:OTC:2025-12-12:20260105)"
        "; 404 when the dataset has no such capture.",
    )
    as_of = serializers.DateTimeField(
        required=False,
        help_text="ISO 8601 timestamp (no offset means UTC): per week and tier, the newest "
        "capture captured at or before it. Default: the latest capture.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "capture_id" in attrs and "as_of" in attrs:
            message = "give capture_id or as_of, not both"
            raise serializers.ValidationError({"capture_id": message, "as_of": message})
        return attrs


class CapturesQuerySerializer(PageQuerySerializer):
    week_ending = _week_ending()
    tier = TierField(
        required=False,
        max_length=32,
        allow_all=True,
        help_text=TIER_HELP + " ALL selects tier-split captures, which span the three tiers.",
    )
    stage = serializers.ChoiceField(choices=list(STAGES), required=False)
    capture_id = serializers.CharField(
        required=False, max_length=96, help_text="Every stage of one capture; 404 when unknown."
    )

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("stage"), str):
            data = {**data, "stage": data["stage"].strip().upper()}
        return super().to_internal_value(data)


class VenueVolumeQuerySerializer(VersionQuerySerializer):
    week_ending = _week_ending()
    tier = _tier()
    mpid = _mpid()


class VenueShareQuerySerializer(VenueVolumeQuerySerializer):
    pass


class SymbolVenueShareQuerySerializer(VersionQuerySerializer):
    week_ending = _week_ending()
    tier = _tier()
    symbol = _symbol()
    mpid = _mpid(
        "Exact venue: matches venue_key, which is the MPID (venues without one have a "
        "NOMPID:<hash> key)."
    )


class SymbolHHIQuerySerializer(VersionQuerySerializer):
    week_ending = _week_ending()
    tier = _tier()
    symbol = _symbol()


class TierHHIQuerySerializer(VersionQuerySerializer):
    week_ending = _week_ending()
    tier = _tier()


class TierSplitQuerySerializer(VersionQuerySerializer):
    week_ending = _week_ending()
    symbol = _symbol()


class RejectsQuerySerializer(VersionQuerySerializer):
    week_ending = _week_ending()
    tier = _tier()


# --- output ----------------------------------------------------------------------------------


def _iso_datetime(value: datetime | None) -> str | None:
    """As DRF's DateTimeField renders: current time zone, ISO 8601, UTC as ``Z``."""
    if value is None:
        return None
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _iso_date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _as_is(value: Any) -> Any:
    return value


class RowOutputSerializer(serializers.ModelSerializer):
    # Model fields rendered directly: DRF's generic per-field path costs more than the query
    # for a 5000-row page or a CSV export. The output is identical to the generic rendering
    # (tests/finra/test_data_api.py compares the two).

    @classmethod
    @functools.cache
    def _converters(cls) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
        model = cls.Meta.model
        converters = []
        for name in cls.Meta.fields:
            field = model._meta.get_field(name)
            if isinstance(field, models.DateTimeField):
                converter = _iso_datetime
            elif isinstance(field, models.DateField):
                converter = _iso_date
            else:
                converter = _as_is
            converters.append((name, converter))
        return tuple(converters)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return {name: convert(getattr(instance, name)) for name, convert in self._converters()}


VERSION_FIELDS = ["capture_id", "captured_at", "week_ending"]


class CaptureOutputSerializer(RowOutputSerializer):
    """One capture of one stage: source, clocks and row counts."""

    class Meta:
        model = Capture
        fields = [
            "capture_id",
            "stage",
            "week_ending",
            "tier",
            "status",
            "captured_at",
            "computed_at",
            "row_count",
            "reject_count",
            "source_origin",
            "source_sha256",
            "source_last_update_date",
        ]


class VenueVolumeOutputSerializer(RowOutputSerializer):
    """A venue's weekly share volume, trades and symbols traded in one tier."""

    class Meta:
        model = VenueVolumeRow
        fields = [
            *VERSION_FIELDS,
            "tier",
            "venue_key",
            "mpid",
            "venue_name",
            "share_quantity",
            "trade_count",
            "symbol_count",
        ]


class VenueShareOutputSerializer(RowOutputSerializer):
    """A venue's share (0-1) of its tier's weekly volume; rank 1 is the largest."""

    class Meta:
        model = VenueShareRow
        fields = [
            *VERSION_FIELDS,
            "tier",
            "rank",
            "venue_key",
            "mpid",
            "venue_name",
            "share_quantity",
            "share",
        ]


class SymbolVenueShareOutputSerializer(RowOutputSerializer):
    """A venue's share (0-1) of one symbol's weekly volume within the tier."""

    class Meta:
        model = SymbolVenueShareRow
        fields = [*VERSION_FIELDS, "tier", "symbol", "venue_key", "share_quantity", "share"]


class SymbolHHIOutputSerializer(RowOutputSerializer):
    """Venue concentration of one symbol (HHI on the 0-1 scale)."""

    class Meta:
        model = SymbolHHIRow
        fields = [*VERSION_FIELDS, "tier", "symbol", "hhi", "venue_count", "total_volume"]


class TierHHIOutputSerializer(RowOutputSerializer):
    """Venue concentration of a whole tier (HHI on the 0-1 scale)."""

    class Meta:
        model = TierHHIRow
        fields = [*VERSION_FIELDS, "tier", "hhi", "venue_count", "total_volume"]


class TierSplitOutputSerializer(RowOutputSerializer):
    """One symbol's weekly volume per tier and each tier's share of it."""

    class Meta:
        model = TierSplitRow
        fields = [
            *VERSION_FIELDS,
            "symbol",
            "nms_tier_1_volume",
            "nms_tier_2_volume",
            "otc_volume",
            "total_volume",
            "nms_tier_1_share",
            "nms_tier_2_share",
            "otc_share",
            "nms_tier_1_capture_id",
            "nms_tier_2_capture_id",
            "otc_capture_id",
        ]


class RejectOutputSerializer(RowOutputSerializer):
    """A line of the weekly file left out of the capture, and why."""

    class Meta:
        model = RejectRow
        fields = [*VERSION_FIELDS, "tier", "line_number", "reason", "raw_line"]


# --- gap report -------------------------------------------------------------------------------


class CommaListField(serializers.CharField):
    """A comma-separated list; the view joins a repeated parameter into one."""

    def to_internal_value(self, data: Any) -> list[str]:
        text = super().to_internal_value(data)
        return [part.strip() for part in text.split(",") if part.strip()]


class GapsQuerySerializer(serializers.Serializer):
    since = serializers.DateField(
        required=False,
        help_text="First day of the window (YYYY-MM-DD, any weekday); default: 11 weeks "
        "before `until`, so 12 weeks.",
    )
    until = serializers.DateField(
        required=False,
        help_text="Last day of the window; default: the last completed week ending.",
    )
    tier = CommaListField(
        required=False,
        max_length=200,
        help_text=TIER_HELP + " Repeat it or separate with commas; ALL selects the tier split, "
        "which spans the three tiers. Default: every tier and ALL.",
    )
    stage = CommaListField(
        required=False,
        max_length=200,
        help_text="Stages to report (" + ", ".join(STAGES) + "), repeat or comma-separate.",
    )

    def validate_tier(self, value: list[str]) -> set[str]:
        try:
            return gap_tiers(value)
        except UnknownTierError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate_stage(self, value: list[str]) -> set[str]:
        try:
            return gap_stages(value)
        except KeyError as exc:
            raise serializers.ValidationError(exc.args[0]) from None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        since, until = attrs.get("since"), attrs.get("until")
        if since is not None and until is not None and since > until:
            raise serializers.ValidationError({"since": "after until"})
        return attrs


class GapItemSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="item_id")
    state = serializers.CharField()
    last_error = serializers.CharField(allow_null=True)
    attempt_count = serializers.IntegerField()
    max_attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)


class GapOutputSerializer(serializers.Serializer):
    week_ending = serializers.DateField()
    tier = serializers.CharField(help_text="Canonical tier, or ALL for the tier split.")
    stage = serializers.CharField()
    pipeline = serializers.CharField(help_text="The pipeline that writes the stage.")
    partition_key = serializers.DictField(child=serializers.CharField())
    status = serializers.ChoiceField(choices=[s.value for s in GapStatus])
    due_at = serializers.DateTimeField(help_text="When the partition became (or becomes) due.")
    work_item = GapItemSerializer(
        source="item", allow_null=True, help_text="The stage's pipeline item, if there is one."
    )
    remediation = serializers.CharField(
        help_text="What fills the gap: enqueue a pipeline, retry an item, or what it waits for."
    )


class GapCountsSerializer(serializers.Serializer):
    overdue = serializers.IntegerField()
    not_yet_due = serializers.IntegerField()


class GapReportSerializer(serializers.Serializer):
    since = serializers.DateField()
    until = serializers.DateField()
    checked_at = serializers.DateTimeField()
    counts = GapCountsSerializer()
    gaps = GapOutputSerializer(many=True)
