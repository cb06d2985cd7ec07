"""The API's only request parser: JSON, with the checks that keep bad input from the database.

Besides malformed JSON it refuses, with a clear 400 or 413 rather than a database error later:
bodies above ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (DRF reads the raw stream, so Django's own limit
does not apply), NaN and infinite numbers (PostgreSQL's jsonb rejects them), NUL characters and
unpaired surrogates in strings (no database text type stores them) and absurd nesting.
"""

from __future__ import annotations

import json
import math
from typing import Any

from django.conf import settings
from rest_framework import status
from rest_framework.parsers import JSONParser

from marketspine.api.errors import ApiError

MAX_DEPTH = 32


def _bad_number(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text} is too large")
    return value


def _bad_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _check(value: Any, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise ApiError("invalid_request", f"JSON nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        _check_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check(item, depth + 1)


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise ApiError("invalid_request", "strings must not contain NUL (\\u0000) characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(
            "invalid_request", "strings must not contain unpaired surrogate characters"
        ) from None


def parse_json_text(text: str | bytes, *, name: str = "body") -> Any:
    """Parse and check JSON text; raises ApiError ``malformed_json`` naming ``name``."""
    try:
        value = json.loads(text, parse_float=_bad_number, parse_constant=_bad_constant)
    except (ValueError, RecursionError) as exc:
        raise ApiError(
            "malformed_json", f"{name} is not valid JSON: {exc}", fields={name: "not valid JSON"}
        ) from None
    _check(value)
    return value


class StrictJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise ApiError(
                "body_too_large",
                f"request body is larger than {limit} bytes; split a bulk enqueue into smaller "
                "requests",
                status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        if not raw.strip():
            raise ApiError("malformed_json", "request body is empty; send a JSON object")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError("malformed_json", "request body is not UTF-8") from None
        return parse_json_text(text)
