"""One error shape for every API failure: ``{"error": {"code", "message", "fields"}}``.

Codes are stable for scripts; messages are for people. The DRF exception handler maps DRF's own
exceptions, and any exception that names its ``code`` and ``http_status`` (the apps' service
errors declare them, so this module knows no app); ``page_not_found`` and ``server_error`` do
the same for Django's 404/500 pages under ``/api/``.

A write that an authenticated user was refused (403 or 409) is announced with the
``write_refused`` signal, so an app can audit it; the handler is the one place every such
answer passes through.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.dispatch import Signal
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response

logger = logging.getLogger(__name__)

#: Sent when an authenticated user's write (a method other than GET, HEAD, OPTIONS) is answered
#: 403 or 409, with ``request`` (DRF's), ``view`` and ``response`` (its data holds the error):
#: the attempt changed nothing, and an app records it (the work queue's audit log).
write_refused = Signal()

#: The answers that refuse a write: no permission, or not allowed in the target's state.
REFUSAL_STATUSES = frozenset({status.HTTP_403_FORBIDDEN, status.HTTP_409_CONFLICT})


class ApiError(exceptions.APIException):
    """An error with a stable code, raised by API views and parsers."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status_code: int = status.HTTP_400_BAD_REQUEST,
        fields: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail=message, code=code)
        self.code = code
        self.message = message
        self.status_code = status_code
        self.fields = dict(fields or {})
        self.extra = dict(extra or {})  # top-level keys beside "error" (manifest's row_count)


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable code for scripts, e.g. invalid_partition_key.")
    message = serializers.CharField(help_text="What went wrong, for people.")
    fields = serializers.DictField(
        child=serializers.CharField(), help_text='Culprit fields, e.g. {"partition_key.tier": ...}'
    )


class ErrorSerializer(serializers.Serializer):
    """The schema of every error body."""

    error = ErrorDetailSerializer()


def error_body(code: str, message: str, fields: Mapping[str, str] | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": dict(fields or {})}}


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, str]:
    """DRF's nested validation errors as ``{"partition_key.tier": "message"}``."""
    flat: dict[str, str] = {}
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            name = "" if key == "non_field_errors" else str(key)
            joined = f"{prefix}.{name}" if prefix and name else (prefix or name)
            flat.update(flatten_errors(value, joined))
    elif isinstance(detail, list) and detail and all(isinstance(d, str) for d in detail):
        flat[prefix or "body"] = " ".join(str(d) for d in detail)
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            if value:
                flat.update(flatten_errors(value, f"{prefix}[{index}]"))
    else:
        flat[prefix or "body"] = str(detail)
    return flat


def _summary(fields: Mapping[str, str]) -> str:
    parts = [f"{name}: {message}" for name, message in list(fields.items())[:5]]
    more = f" (and {len(fields) - 5} more)" if len(fields) > 5 else ""
    return "invalid request: " + "; ".join(parts) + more


_SIMPLE = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ParseError: "malformed_json",
}


def _respond(
    exc: exceptions.APIException, code: str, message: str, fields: Mapping[str, str] | None
) -> Response:
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    return Response(error_body(code, message, fields), status=exc.status_code, headers=headers)


def _declared_error(exc: Exception) -> Response | None:
    """An app's error that declares ``code`` (str) and ``http_status`` (int) as class
    attributes, with an optional ``message`` (else ``str(exc)``) and ``fields``."""
    code, http_status = getattr(exc, "code", None), getattr(exc, "http_status", None)
    if not (isinstance(code, str) and isinstance(http_status, int)):
        return None
    message = getattr(exc, "message", None) or str(exc)
    return Response(error_body(code, message, getattr(exc, "fields", None)), status=http_status)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF EXCEPTION_HANDLER: every expected failure becomes the one JSON error shape, and a
    refused write by a signed-in user is announced (``write_refused``)."""
    response = _error_response(exc)
    if response is not None and response.status_code in REFUSAL_STATUSES:
        _announce_refusal(response, context)
    return response


def _announce_refusal(response: Response, context: dict[str, Any]) -> None:
    request = context.get("request")
    if request is None or request.method in SAFE_METHODS:
        return
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return
    view = context.get("view")
    results = write_refused.send_robust(
        sender=type(view), request=request, view=view, response=response
    )
    for receiver, result in results:
        # A refusal still answers 403/409 if it could not be recorded; the log says why.
        if isinstance(result, Exception):
            logger.error("recording a refused write failed in %r", receiver, exc_info=result)


def _error_response(exc: Exception) -> Response | None:
    if isinstance(exc, ApiError):
        body = {**exc.extra, **error_body(exc.code, exc.message, exc.fields)}
        return Response(body, status=exc.status_code)
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        message = f"request body is larger than {limit} bytes; split a bulk enqueue"
        return Response(error_body("body_too_large", message), status=413)
    declared = _declared_error(exc)
    if declared is not None:
        return declared
    if isinstance(exc, (OperationalError, InterfaceError)):
        logger.exception("database unavailable during an API request")
        return Response(
            error_body("database_unavailable", "the database is unreachable; try again later"),
            status=503,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.ValidationError):
        fields = flatten_errors(exc.detail)
        return _respond(exc, "invalid_request", _summary(fields), fields)
    if isinstance(exc, exceptions.APIException):
        code = next((c for cls, c in _SIMPLE.items() if isinstance(exc, cls)), None)
        if code is None:
            code = exc.get_codes() if isinstance(exc.get_codes(), str) else "error"
        return _respond(exc, code, str(exc.detail), None)
    return None  # unexpected: Django's 500 handler (JSON under /api/, see server_error)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        message = f"no API endpoint at {request.path}; see /api/v1/docs/"
        return JsonResponse(error_body("not_found", message), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        message = "internal error; the server log has the details"
        return JsonResponse(error_body("server_error", message), status=500)
    return defaults.server_error(request)
