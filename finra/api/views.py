# Over 400 lines: one short view per dataset, each beside the OpenAPI description that documents it.
"""FINRA data API: one read-only list view per dataset, on the work API's conventions.

Each view parses its query (unknown parameters are a 400 ``unknown_fields``), reads through the
selectors at the asked-for version (latest, ``capture_id`` or ``as_of``), and renders one page
of a small output serializer, or CSV with ``?format=csv``. Errors use the work API's one JSON
shape (``marketspine.api.errors``), CSV requests included.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from finra.api import serializers as s
from finra.api.permissions import CanViewDataset, CanViewGaps
from finra.api.renderers import FinraCSVRenderer, FormatFirstNegotiation
from finra.api.selectors import captures_for_reading, dataset_rows_for_reading
from finra.gaps import InvalidGapWindow, finra_gaps
from finra.models import (
    Capture,
    NormalizedRow,
    RejectRow,
    SymbolHHIRow,
    SymbolVenueShareRow,
    TierHHIRow,
    TierSplitRow,
    VenueShareRow,
    VenueVolumeRow,
)
from finra.selectors import CaptureNotFound
from finra.stages import DATASET_STAGES
from marketspine.api.errors import ApiError, ErrorSerializer
from marketspine.api.query import parse_input, parse_query

#: Rows an unpaged CSV export may hold; above it the request is refused with ``too_many_rows``.
CSV_MAX_ROWS = 200_000


class DataPagination(LimitOffsetPagination):
    """Limit/offset pages whose ``count`` the view may take from a cheaper queryset with the
    same number of rows (``FinraListView.counted_rows``)."""

    default_limit = s.DEFAULT_LIMIT
    max_limit = s.MAX_LIMIT

    def paginate_queryset(
        self, queryset: Any, request: Request, view: Any = None
    ) -> list[Any] | None:
        self.counted = getattr(view, "counted", None)
        return super().paginate_queryset(queryset, request, view)

    def get_count(self, queryset: Any) -> int:
        return super().get_count(queryset if self.counted is None else self.counted)


ERROR_DESCRIPTIONS = {
    400: "invalid_request (bad week_ending, tier, as_of, limit, offset or format; capture_id "
    "with as_of), unknown_fields (a parameter this endpoint does not take), too_many_rows "
    "(an unpaged CSV export above the cap)",
    401: "not_authenticated: no or bad token",
    403: "permission_denied: the user lacks the dataset's view permission",
    404: "not_found: no such capture_id for this dataset",
    503: "database_unavailable",
}


def _errors(*codes: int) -> dict[tuple[int, str], OpenApiResponse]:
    return {
        (code, "application/json"): OpenApiResponse(
            ErrorSerializer, description=ERROR_DESCRIPTIONS[code]
        )
        for code in codes
    }


class FinraListView(GenericAPIView):
    """A paginated, filterable, CSV-capable list of one model's rows."""

    permission_classes: ClassVar = [CanViewDataset]
    pagination_class = DataPagination
    renderer_classes: ClassVar = [JSONRenderer, BrowsableAPIRenderer, FinraCSVRenderer]
    content_negotiation_class = FormatFirstNegotiation

    model: ClassVar[type[models.Model]]
    dataset_name: ClassVar[str]  # the URL segment, also the CSV file name
    query_serializer_class: ClassVar[type[serializers.Serializer]]
    ordering: ClassVar[tuple[str, ...]]
    #: query parameter -> model field, for the exact-match filters the endpoint takes
    exact_filters: ClassVar[dict[str, str]] = {}

    def get_queryset(self) -> models.QuerySet:
        return self.model.objects.none()  # the schema generator's; reads go through rows()

    def rows(self, query: dict[str, Any]) -> models.QuerySet:
        raise NotImplementedError

    def counted_rows(self, query: dict[str, Any]) -> models.QuerySet | None:
        """Rows as many as ``rows(query)``, cheaper to count; None: count ``rows`` itself."""
        return None

    def _filtered(self, rows: models.QuerySet, query: dict[str, Any]) -> models.QuerySet:
        return rows.filter(
            **{field: query[name] for name, field in self.exact_filters.items() if name in query}
        )

    def get(self, request: Request) -> Any:
        query = parse_query(self.query_serializer_class, request)
        try:
            rows = self._filtered(self.rows(query), query).order_by(*self.ordering, "id")
            counted = self.counted_rows(query)
        except CaptureNotFound as exc:
            raise ApiError("not_found", str(exc), status_code=404) from None
        self.counted = None if counted is None else self._filtered(counted, query)
        if request.accepted_renderer.format == "csv":
            return self.csv_response(rows, query)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def csv_response(self, rows: models.QuerySet, query: dict[str, Any]) -> StreamingHttpResponse:
        """Every matching row (up to CSV_MAX_ROWS), or one page when limit/offset are given."""
        if "limit" in query or "offset" in query:
            offset = query.get("offset", 0)
            rows = rows[offset : offset + query.get("limit", s.DEFAULT_LIMIT)]
        else:
            count = (rows if self.counted is None else self.counted).count()
            if count > CSV_MAX_ROWS:
                raise ApiError(
                    "too_many_rows",
                    f"{count} rows match; a CSV export holds at most {CSV_MAX_ROWS}. Narrow it "
                    "(week_ending, tier, symbol) or page it with limit and offset",
                )
        serializer = self.get_serializer()
        header = list(serializer.Meta.fields)
        data = (serializer.to_representation(row) for row in rows.iterator(chunk_size=2000))
        renderer = FinraCSVRenderer()
        response = StreamingHttpResponse(
            renderer.render(data, renderer_context={"header": header}),
            content_type="text/csv; charset=utf-8",
        )
        name = "-".join(
            str(part)
            for part in ("finra", self.dataset_name, query.get("week_ending"), query.get("tier"))
            if part
        )
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        # Errors are JSON even when CSV was asked for: a script must be able to read them.
        if (
            isinstance(response, Response)
            and response.status_code >= 400
            and getattr(getattr(request, "accepted_renderer", None), "format", None) == "csv"
        ):
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


class DatasetListView(FinraListView):
    """A dataset at one version: latest (default), ``capture_id`` or ``as_of``."""

    has_tier: ClassVar[bool] = True

    def rows(
        self, query: dict[str, Any], model: type[models.Model] | None = None
    ) -> models.QuerySet:
        """The dataset's rows at the asked version; with ``model``, that model's rows of the
        captures chosen for the dataset."""
        return dataset_rows_for_reading(
            model or self.model,
            week_ending=query.get("week_ending"),
            tier=query.get("tier") if self.has_tier else None,
            capture_id=query.get("capture_id"),
            as_of=query.get("as_of"),
            stage=DATASET_STAGES[self.model],
        )


VERSIONS_DOC = (
    "Version: by default the latest capture of each week and tier; `capture_id` reads that "
    "capture; `as_of` reads, per week and tier, the newest capture taken at or before it (not "
    "both). Every row names its `capture_id` and `captured_at`. "
)
PAGING_DOC = (
    f"Pages of `limit` rows (default {s.DEFAULT_LIMIT}, at most {s.MAX_LIMIT}) from `offset`, "
    "with the exact `count` and `next`/`previous` links. `format=csv` returns CSV with a header "
    "row and the same fields: every matching row (streamed; at most "
    f"{CSV_MAX_ROWS}, more is a 400 too_many_rows) or, with limit/offset, that page. "
)


def list_schema(
    *,
    operation_id: str,
    summary: str,
    description: str,
    query: type[serializers.Serializer],
    output: type[serializers.Serializer],
    versioned: bool = True,
) -> Any:
    return extend_schema_view(
        get=extend_schema(
            operation_id=operation_id,
            summary=summary,
            description=description + (VERSIONS_DOC if versioned else "") + PAGING_DOC,
            parameters=[query],
            responses={
                (200, "application/json"): output(many=True),
                (200, "text/csv"): OpenApiResponse(
                    OpenApiTypes.STR, description="CSV with a header row (format=csv)"
                ),
                **_errors(400, 401, 403, 404, 503),
            },
        )
    )


@list_schema(
    operation_id="finra_captures",
    summary="FINRA captures: every ingestion and stage, with row counts and sources",
    description=(
        "The capture register, history included (complete and skipped captures), ordered by "
        "week_ending, tier, captured_at. Tier-split captures have tier `ALL`. "
    ),
    query=s.CapturesQuerySerializer,
    output=s.CaptureOutputSerializer,
    versioned=False,
)
class CapturesView(FinraListView):
    model = Capture
    dataset_name = "captures"
    query_serializer_class = s.CapturesQuerySerializer
    serializer_class = s.CaptureOutputSerializer
    ordering = ("week_ending", "tier", "captured_at")

    def rows(self, query: dict[str, Any]) -> models.QuerySet:
        return captures_for_reading(
            week_ending=query.get("week_ending"),
            tier=query.get("tier"),
            stage=query.get("stage"),
            capture_id=query.get("capture_id"),
        )


@list_schema(
    operation_id="finra_venue_volume",
    summary="Weekly volume per venue and tier",
    description="Ordered by week_ending, tier, share_quantity (largest first), venue_key. ",
    query=s.VenueVolumeQuerySerializer,
    output=s.VenueVolumeOutputSerializer,
)
class VenueVolumeView(DatasetListView):
    model = VenueVolumeRow
    dataset_name = "venue-volume"
    query_serializer_class = s.VenueVolumeQuerySerializer
    serializer_class = s.VenueVolumeOutputSerializer
    ordering = ("week_ending", "tier", "-share_quantity", "venue_key")
    exact_filters: ClassVar = {"mpid": "mpid"}


@list_schema(
    operation_id="finra_venue_share",
    summary="Each venue's share (0-1) of its tier's weekly volume, ranked",
    description="Ordered by week_ending, tier, rank (1 is the largest venue). ",
    query=s.VenueShareQuerySerializer,
    output=s.VenueShareOutputSerializer,
)
class VenueShareView(DatasetListView):
    model = VenueShareRow
    dataset_name = "venue-share"
    query_serializer_class = s.VenueShareQuerySerializer
    serializer_class = s.VenueShareOutputSerializer
    ordering = ("week_ending", "tier", "rank", "venue_key")
    exact_filters: ClassVar = {"mpid": "mpid"}


@list_schema(
    operation_id="finra_symbol_venue_share",
    summary="Each venue's share (0-1) of one symbol's weekly volume in the tier",
    description="Ordered by week_ending, tier, symbol, venue_key. ",
    query=s.SymbolVenueShareQuerySerializer,
    output=s.SymbolVenueShareOutputSerializer,
)
class SymbolVenueShareView(DatasetListView):
    model = SymbolVenueShareRow
    dataset_name = "symbol-venue-share"
    query_serializer_class = s.SymbolVenueShareQuerySerializer
    serializer_class = s.SymbolVenueShareOutputSerializer
    ordering = ("week_ending", "tier", "symbol", "venue_key")
    exact_filters: ClassVar = {"symbol": "symbol", "mpid": "venue_key"}

    def counted_rows(self, query: dict[str, Any]) -> models.QuerySet:
        # The view has one row per normalized row of the captures it shows. Counting the view
        # computes every symbol's total first: 0.4-0.5 s on a 1M-row week, against 0.2-0.3 s
        # for counting the rows.
        return self.rows(query, model=NormalizedRow)


@list_schema(
    operation_id="finra_symbol_hhi",
    summary="Venue concentration (HHI, 0-1) of each symbol per week and tier",
    description=(
        "The whole tier's HHI is at /api/v1/finra/tier-hhi. Ordered by week_ending, tier, symbol. "
    ),
    query=s.SymbolHHIQuerySerializer,
    output=s.SymbolHHIOutputSerializer,
)
class SymbolHHIView(DatasetListView):
    model = SymbolHHIRow
    dataset_name = "hhi"
    query_serializer_class = s.SymbolHHIQuerySerializer
    serializer_class = s.SymbolHHIOutputSerializer
    ordering = ("week_ending", "tier", "symbol")
    exact_filters: ClassVar = {"symbol": "symbol"}


@list_schema(
    operation_id="finra_tier_hhi",
    summary="Venue concentration (HHI, 0-1) of each whole tier per week",
    description="One row per week and tier, ordered by week_ending, tier. ",
    query=s.TierHHIQuerySerializer,
    output=s.TierHHIOutputSerializer,
)
class TierHHIView(DatasetListView):
    model = TierHHIRow
    dataset_name = "tier-hhi"
    query_serializer_class = s.TierHHIQuerySerializer
    serializer_class = s.TierHHIOutputSerializer
    ordering = ("week_ending", "tier")


@list_schema(
    operation_id="finra_tier_split",
    summary="Each symbol's weekly volume per tier and each tier's share of it",
    description=(
        "Computed from all three tiers, so there is no tier filter; the latest version is per "
        "week. `*_capture_id` name the normalized capture of each tier used. Ordered by "
        "week_ending, symbol. "
    ),
    query=s.TierSplitQuerySerializer,
    output=s.TierSplitOutputSerializer,
)
class TierSplitView(DatasetListView):
    model = TierSplitRow
    dataset_name = "tier-split"
    query_serializer_class = s.TierSplitQuerySerializer
    serializer_class = s.TierSplitOutputSerializer
    ordering = ("week_ending", "symbol")
    exact_filters: ClassVar = {"symbol": "symbol"}
    has_tier = False


@list_schema(
    operation_id="finra_rejects",
    summary="File lines left out of a capture, and why",
    description="Ordered by week_ending, tier, line_number. ",
    query=s.RejectsQuerySerializer,
    output=s.RejectOutputSerializer,
)
class RejectsView(DatasetListView):
    model = RejectRow
    dataset_name = "rejects"
    query_serializer_class = s.RejectsQuerySerializer
    serializer_class = s.RejectOutputSerializer
    ordering = ("week_ending", "tier", "line_number")


@extend_schema_view(
    get=extend_schema(
        operation_id="finra_gaps",
        summary="FINRA partitions missing from the manifest: overdue, or not yet due",
        description=(
            "Every stage with no manifest row, per week (Fridays from `since` to `until`) and tier "
            "(the tier split per week, as tier `ALL`). `overdue` once FINRA's publication plus the "
            "grace period (FINRA_PUBLICATION_GRACE_HOURS) has passed, `not_yet_due` before. Each "
            "gap names the stage's work item, if any, and what would fill it. Ordered by week, "
            "tier, stage. At most 520 weeks per request. Needs workqueue.view_workitem."
        ),
        parameters=[s.GapsQuerySerializer],
        responses={
            (200, "application/json"): s.GapReportSerializer,
            **_errors(400, 401, 403, 503),
        },
    )
)
class GapsView(APIView):
    permission_classes: ClassVar = [CanViewGaps]

    def get(self, request: Request) -> Response:
        data = {key: request.query_params.get(key) for key in request.query_params}
        for name in ("tier", "stage"):
            if name in request.query_params:
                data[name] = ",".join(request.query_params.getlist(name))
        query = parse_input(s.GapsQuerySerializer, data, allowed_extra=frozenset({"format"}))
        try:
            report = finra_gaps(
                since=query.get("since"),
                until=query.get("until"),
                tiers=query.get("tier") or None,
                stages=query.get("stage") or None,
            )
        except InvalidGapWindow as exc:
            raise ApiError("invalid_request", str(exc), fields={exc.field: str(exc)}) from None
        return Response(s.GapReportSerializer(report).data)
