"""A JSON object stored as canonical text.

Partition keys are stored with sorted keys and no spaces, so ``{"tier": "OTC", "week_ending":
"2025-12-12"}`` and the same keys in another order are byte-identical. That makes the plain
UNIQUE(domain, pipeline, partition_key) constraint do the deduplication on every database, and
keeps ops staff's ``partition_key LIKE '%2025-12-22%'`` queries working on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models


def canonical_json(value: Mapping[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class CanonicalJSONField(models.TextField):
    description = "JSON object stored as canonical text (sorted keys, no spaces)"

    def from_db_value(self, value: str | None, expression: object, connection: object) -> Any:
        if value is None:
            return None
        return json.loads(value)

    def to_python(self, value: Any) -> Any:
        if value is None or isinstance(value, Mapping):
            return value
        try:
            decoded = json.loads(value)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"not valid JSON: {exc}") from None
        if not isinstance(decoded, Mapping):
            raise ValidationError("must be a JSON object")
        return decoded

    def get_prep_value(self, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, str):
            # Already JSON text (e.g. from a query string): canonicalise it as well.
            value = self.to_python(value)
        if not isinstance(value, Mapping):
            raise TypeError(f"{self.name} must be a JSON object, got {type(value).__name__}")
        return canonical_json(value)

    def value_to_string(self, obj: models.Model) -> str:
        return self.get_prep_value(self.value_from_object(obj)) or ""
