"""CSV for the desks, on djangorestframework-csv's streaming renderer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework_csv.renderers import CSVStreamingRenderer

from marketspine.api.csvsafe import csv_safe_row
from marketspine.api.errors import ApiError


class FinraCSVRenderer(CSVStreamingRenderer):
    """``text/csv`` with a header row of the endpoint's fields, in the JSON field order.

    Views stream it (StreamingHttpResponse) instead of returning a DRF Response, so an export
    of every matching row never sits in memory at once. Text cells that a spreadsheet would
    run as a formula (a symbol ``=1+1``) are quoted by ``marketspine.api.csvsafe``.
    """

    media_type = "text/csv"
    format = "csv"

    def tablize(self, data: Any, header: Any = None, labels: Any = None) -> Iterator[list[Any]]:
        for row in super().tablize(data, header=header, labels=labels):
            yield csv_safe_row(row)


#: What ``?format=`` may ask for; the browsable API is reached with a browser's Accept header.
FORMATS = ("json", "csv")


class FormatFirstNegotiation(DefaultContentNegotiation):
    """``?format=`` wins over the Accept header (a desk's spreadsheet tool sends its own
    Accept), and an unknown format is a 400 instead of DRF's 404."""

    def select_renderer(self, request, renderers, format_suffix=None):  # type: ignore[no-untyped-def]
        format_query = format_suffix or request.query_params.get(self.settings.URL_FORMAT_OVERRIDE)
        if format_query:
            for renderer in renderers:
                if renderer.format == format_query and format_query in FORMATS:
                    return renderer, renderer.media_type
            raise ApiError(
                "invalid_request",
                f"unknown format {format_query!r}; use one of {', '.join(FORMATS)}",
                fields={"format": "unknown format"},
            )
        return super().select_renderer(request, renderers, format_suffix)
