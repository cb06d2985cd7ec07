"""The API's only request parser: JSON, with the checks that keep bad input from the database.

Besides malformed JSON it refuses, with a clear 400 or 413 rather than a database error later:
bodies above ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (DRF reads the raw stream, so Django's own limit
does not apply), NaN and infinite numbers (PostgreSQL's jsonb rejects them), NUL characters and
unpaired surrogates in strings (no database text type stores them), absurd nesting, and an
object with the same key twice (Python's json keeps the last silently: the sender may have
meant the first).

DRF never calls a parser for a body without bytes (it hands the view ``{}``, which then reads as
"field required"), so :func:`require_json_body` answers that case; ``marketspine.api.views``
calls it for every write.
"""

from __future__ import annotations

import json
import math
from typing import Any

from django.conf import settings
from rest_framework import status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request

from marketspine.api.errors import ApiError

MAX_DEPTH = 32


def _bad_number(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text} is too large")
    return value


def _bad_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class _DuplicatedKeys(dict):
    """A JSON object that was given some key more than once (``duplicates``, in order).

    Made only in that case, so :func:`_find_duplicate` can name where it is; ordinary objects
    stay plain dicts and the common path pays for one length comparison per object.
    """

    duplicates: tuple[str, ...] = ()


class _Duplicated(Exception):
    """Raised by the check walk on meeting a _DuplicatedKeys, to look for its path."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) == len(pairs):
        return value
    seen: set[str] = set()
    duplicates: list[str] = []
    for key, _ in pairs:
        if key in seen and key not in duplicates:
            duplicates.append(key)
        seen.add(key)
    marked = _DuplicatedKeys(value)
    marked.duplicates = tuple(duplicates)
    return marked


def _find_duplicate(value: Any, path: str) -> tuple[str, str] | None:
    """(path of the object, key) of the first object given a key twice, depth first."""
    if isinstance(value, _DuplicatedKeys):
        return path, value.duplicates[0]
    if isinstance(value, dict):
        items = ((f"{path}.{key}" if path else key, item) for key, item in value.items())
    elif isinstance(value, list):
        items = ((f"{path}[{index}]", item) for index, item in enumerate(value))
    else:
        return None
    for where, item in items:
        found = _find_duplicate(item, where)
        if found is not None:
            return found
    return None


def _refuse_duplicate(value: Any, root: str) -> None:
    found = _find_duplicate(value, root)
    assert found is not None, "the check walk met a duplicate the path walk did not"
    path, key = found
    where = f"in {path}" if path else "at the top level"
    raise ApiError(
        "malformed_json",
        f'duplicate key "{key}" {where}: each key may appear once in an object',
        fields={f"{path}.{key}" if path else key: "duplicate key"},
    )


def _check(value: Any, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise ApiError("invalid_request", f"JSON nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        _check_text(value)
    elif isinstance(value, dict):
        if type(value) is _DuplicatedKeys:
            raise _Duplicated
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
    """Parse and check JSON text; raises ApiError ``malformed_json`` naming ``name``.

    A duplicate key is named by its path below ``name`` (``partition_key.tier``); in the
    request body (``name="body"``) paths start at its fields.
    """
    try:
        value = json.loads(
            text, parse_float=_bad_number, parse_constant=_bad_constant, object_pairs_hook=_object
        )
    except (ValueError, RecursionError) as exc:
        raise ApiError(
            "malformed_json", f"{name} is not valid JSON: {exc}", fields={name: "not valid JSON"}
        ) from None
    try:
        _check(value)
    except _Duplicated:
        # Rare: only then is the tree walked again, building paths, to name the place.
        _refuse_duplicate(value, "" if name == "body" else name)
    return value


EMPTY_BODY_MESSAGE = "request body is empty; send a JSON object"


def require_json_body(request: Request) -> None:
    """Refuse a write whose body DRF would read as ``{}`` without calling the parser.

    DRF skips parsing when there are no bytes (no body, ``Content-Length: 0``, or no length at
    all) and when there is no Content-Type; either way the view would see an empty object and
    answer "field required" for each field, which hides the real mistake.
    """
    if request.stream is None:
        raise ApiError("malformed_json", EMPTY_BODY_MESSAGE, fields={"body": "empty"})
    if not request.content_type:
        raise ApiError(
            "unsupported_media_type",
            "request body has no Content-Type; send Content-Type: application/json",
            status_code=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        )


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
            raise ApiError("malformed_json", EMPTY_BODY_MESSAGE, fields={"body": "empty"})
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError("malformed_json", "request body is not UTF-8") from None
        return parse_json_text(text)
