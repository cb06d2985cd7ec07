"""Small input and output serializers, one pair per operation (see views.py)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from marketspine.api.errors import ErrorSerializer
from workqueue.services import EnqueueResult
from workqueue.states import WorkState

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
ID_MAX = 2**63 - 1
STATE_NAMES = [state.lower() for state in WorkState.values]


@extend_schema_field(OpenApiTypes.OBJECT)
class JSONObjectField(serializers.JSONField):
    default_error_messages = {"not_object": "must be a JSON object"}

    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        if not isinstance(value, Mapping):
            self.fail("not_object")
        return dict(value)


# --- errors ----------------------------------------------------------------------------------


class ManifestNotFoundSerializer(ErrorSerializer):
    row_count = serializers.IntegerField(help_text="Always 0: the stage has no rows yet.")


# --- work items ------------------------------------------------------------------------------


class EnqueueInputSerializer(serializers.Serializer):
    domain = serializers.CharField(max_length=100)
    pipeline = serializers.CharField(max_length=100)
    partition_key = JSONObjectField(help_text='e.g. {"week_ending": "2025-12-19", "tier": "OTC"}')
    params = JSONObjectField(required=False, help_text="Passed to the pipeline as is.")
    desired_at = serializers.DateTimeField(
        required=False, help_text="Not before this time (ISO 8601; no offset means UTC)."
    )
    priority = serializers.IntegerField(
        required=False, min_value=INT32_MIN, max_value=INT32_MAX, help_text="Higher runs first."
    )
    max_attempts = serializers.IntegerField(required=False, min_value=1, max_value=INT32_MAX)
    reprocess = serializers.BooleanField(
        required=False, default=False, help_text="Re-arm the item if it already finished."
    )


class ExecutionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    attempt = serializers.IntegerField()
    worker = serializers.CharField()
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    outcome = serializers.CharField()
    error = serializers.CharField(allow_null=True)
    rows_written = serializers.IntegerField(allow_null=True)
    capture_id = serializers.CharField(allow_null=True)
    duration_seconds = serializers.FloatField(allow_null=True)


class WorkItemOutputSerializer(serializers.Serializer):
    """One work item. ``include_params=False`` leaves its params out (lists do, by default)."""

    #: Whether ``params`` is rendered; lists of items say False unless asked (include=params).
    include_params = True

    id = serializers.IntegerField()
    domain = serializers.CharField()
    pipeline = serializers.CharField()
    partition_key = serializers.DictField()
    params = serializers.DictField()
    state = serializers.ChoiceField(choices=WorkState.values)
    priority = serializers.IntegerField()
    desired_at = serializers.DateTimeField()
    attempt_count = serializers.IntegerField()
    max_attempts = serializers.IntegerField()
    last_error = serializers.CharField(allow_null=True)
    last_error_at = serializers.DateTimeField(allow_null=True)
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def __init__(self, *args: Any, include_params: bool | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if include_params is not None:
            self.include_params = include_params

    def to_representation(self, instance: Any) -> dict[str, Any]:
        """The fields above, rendered directly: DRF's generic per-field path costs more than
        the rest of a 500-item bulk enqueue. Output is identical to the generic rendering
        (tests/api/test_serializers.py compares the two). Without params, the item's params
        are not even read (a list's selector defers the column)."""
        data: dict[str, Any] = {
            "id": instance.pk,
            "domain": instance.domain,
            "pipeline": instance.pipeline,
            "partition_key": instance.partition_key,
        }
        if self.include_params:
            data["params"] = instance.params
        data.update(
            {
                "state": instance.state,
                "priority": instance.priority,
                "desired_at": _iso(instance.desired_at),
                "attempt_count": instance.attempt_count,
                "max_attempts": instance.max_attempts,
                "last_error": instance.last_error,
                "last_error_at": _iso(instance.last_error_at),
                "next_attempt_at": _iso(instance.next_attempt_at),
                "created_at": _iso(instance.created_at),
                "updated_at": _iso(instance.updated_at),
            }
        )
        return data


class WorkItemListOutputSerializer(WorkItemOutputSerializer):
    """An item in a list: params are left out unless asked for with ``include=params``, so a
    list of a thousand items stays small whatever their params hold."""

    include_params = False

    params = serializers.DictField(required=False, help_text="Only with `include=params`.")


def _iso(value: datetime | None) -> str | None:
    """As DRF's DateTimeField renders: in the current time zone, ISO 8601, UTC as ``Z``."""
    if value is None:
        return None
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class WorkItemDetailOutputSerializer(WorkItemOutputSerializer):
    executions = ExecutionOutputSerializer(many=True, help_text="Attempts, oldest first.")

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["executions"] = ExecutionOutputSerializer(
            sorted(instance.executions.all(), key=lambda e: (e.attempt, e.pk)), many=True
        ).data
        return data


class EnqueueResultOutputSerializer(WorkItemOutputSerializer):
    created = serializers.BooleanField(help_text="True only when this call created the item.")
    status = serializers.ChoiceField(
        choices=["created", "existing", "rearmed", "finished"],
        help_text="created; existing (already queued or running, unchanged); rearmed (finished "
        "and re-armed by reprocess); finished (finished and left alone).",
    )

    def to_representation(self, instance: EnqueueResult) -> dict[str, Any]:
        # One item serializer per response (a bulk list shares this child), not one per item:
        # building a serializer's fields costs more than rendering an item.
        if not hasattr(self, "_item_serializer"):
            self._item_serializer = WorkItemOutputSerializer(include_params=self.include_params)
        item = self._item_serializer.to_representation(instance.item)
        return {"created": instance.created, "status": instance.status.value, **item}


class EnqueueResultListOutputSerializer(EnqueueResultOutputSerializer):
    """A bulk enqueue's per-item result: params only with ``include=params``."""

    include_params = False

    params = serializers.DictField(required=False, help_text="Only with `include=params`.")


class AlreadyFinishedSerializer(ErrorSerializer):
    created = serializers.BooleanField()
    status = serializers.CharField()
    item = WorkItemOutputSerializer()


#: What ``include`` may add to a list answer.
INCLUDABLE = ("params",)


class PendingQuerySerializer(serializers.Serializer):
    domain = serializers.CharField(required=False, max_length=100)
    pipeline = serializers.CharField(required=False, max_length=100)
    limit = serializers.IntegerField(required=False, default=100, min_value=1, max_value=1000)
    include = serializers.CharField(
        required=False,
        max_length=100,
        help_text="`params`: add each item's params (left out of lists by default).",
    )


class PendingOutputSerializer(serializers.Serializer):
    """Keys are the asked-for states in lower case; only those keys are present."""

    pending = WorkItemListOutputSerializer(many=True, required=False)
    running = WorkItemListOutputSerializer(many=True, required=False)
    retry_wait = WorkItemListOutputSerializer(many=True, required=False)
    complete = WorkItemListOutputSerializer(many=True, required=False)
    failed = WorkItemListOutputSerializer(many=True, required=False)
    cancelled = WorkItemListOutputSerializer(many=True, required=False)
    counts = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Exact number of items per asked-for state, even when a list is truncated.",
    )


class RetryInputSerializer(serializers.Serializer):
    work_item_id = serializers.IntegerField(required=False, min_value=1, max_value=ID_MAX)
    domain = serializers.CharField(required=False, max_length=100)
    pipeline = serializers.CharField(required=False, max_length=100)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        by_id, by_domain = "work_item_id" in attrs, "domain" in attrs
        if by_id == by_domain:
            raise serializers.ValidationError(
                "give either work_item_id (one item) or domain (all FAILED items of it, "
                "optionally one pipeline), not both and not neither"
            )
        if by_id and "pipeline" in attrs:
            raise serializers.ValidationError({"pipeline": "only allowed with domain"})
        return attrs


class RetryOutputSerializer(serializers.Serializer):
    retried = serializers.ListField(child=serializers.IntegerField(), help_text="Item ids.")
    count = serializers.IntegerField()


class CancelInputSerializer(serializers.Serializer):
    work_item_id = serializers.IntegerField(min_value=1, max_value=ID_MAX)


# --- manifest --------------------------------------------------------------------------------


class ManifestQuerySerializer(serializers.Serializer):
    domain = serializers.CharField(max_length=100)
    partition_key = serializers.CharField(
        help_text='JSON object as text, any key order, e.g. {"week_ending":"2025-12-19","tier":'
        '"OTC"}'
    )
    stage = serializers.CharField(required=False, max_length=50)


class ManifestEntryOutputSerializer(serializers.Serializer):
    domain = serializers.CharField()
    partition_key = serializers.DictField()
    stage = serializers.CharField()
    stage_rank = serializers.IntegerField()
    row_count = serializers.IntegerField()
    capture_id = serializers.CharField(allow_null=True)
    updated_at = serializers.DateTimeField()
    execution_id = serializers.IntegerField(allow_null=True)
    metrics = serializers.DictField()


class ManifestPartitionOutputSerializer(serializers.Serializer):
    domain = serializers.CharField()
    partition_key = serializers.DictField()
    stages = ManifestEntryOutputSerializer(many=True, help_text="In stage_rank order.")


# --- health ----------------------------------------------------------------------------------


class HealthOutputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "unhealthy"])
    database = serializers.ChoiceField(choices=["ok", "unreachable"])
    newest_worker_seen_at = serializers.DateTimeField(allow_null=True)
    worker_age_seconds = serializers.FloatField(allow_null=True)
    max_worker_age_seconds = serializers.FloatField()
    due_unclaimed = serializers.IntegerField(
        allow_null=True, help_text="Items whose time has come that no worker has claimed."
    )
    counts = serializers.DictField(child=serializers.IntegerField())
    problems = serializers.ListField(child=serializers.CharField())
