"""Parsing a request's body or query string with a serializer, refusing unknown fields."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from rest_framework import serializers
from rest_framework.request import Request

from marketspine.api.errors import ApiError


@functools.cache
def _field_names(serializer_class: type[serializers.Serializer]) -> frozenset[str]:
    return frozenset(serializer_class().fields)


def parse_input(
    serializer_class: type[serializers.Serializer],
    data: Any,
    *,
    prefix: str = "",
    allowed_extra: frozenset[str] = frozenset(),
    validator: serializers.Serializer | None = None,
) -> dict[str, Any]:
    """Validate ``data`` with ``serializer_class``; unknown fields are refused, not ignored, so
    a misspelt option never passes silently. Pass one ``validator`` instance to validate many
    objects (a bulk body) without building the serializer's fields again for each."""
    where = prefix.rstrip(".") or "body"
    if not isinstance(data, Mapping):
        raise ApiError(
            "invalid_request", f"{where} must be a JSON object", fields={where: "not an object"}
        )
    known = _field_names(serializer_class) | allowed_extra
    unknown = sorted(str(name) for name in data if name not in known)
    if unknown:
        raise ApiError(
            "unknown_fields",
            f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}",
            fields={f"{prefix}{name}": "unknown field" for name in unknown},
        )
    validator = validator or serializer_class()
    try:
        return dict(validator.run_validation(data))
    except serializers.ValidationError as exc:
        detail = exc.detail
        raise serializers.ValidationError({where: detail} if prefix else detail) from None


def parse_query(
    serializer_class: type[serializers.Serializer],
    request: Request,
    *,
    allowed_extra: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    data = {key: request.query_params.get(key) for key in request.query_params}
    return parse_input(serializer_class, data, allowed_extra=allowed_extra | {"format"})
