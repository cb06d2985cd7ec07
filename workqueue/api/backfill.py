"""POST /api/v1/work/backfill: the backfill service over HTTP, with the command's fields."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from marketspine.api.errors import ApiError
from marketspine.api.query import parse_input
from marketspine.api.views import JSONAPIView
from workqueue.api.permissions import CanOperateWorkItems
from workqueue.api.serializers import INT32_MAX, INT32_MIN, JSONObjectField
from workqueue.api.views import BULK_MAX_ITEMS, api_actor, errors
from workqueue.backfill import (
    BackfillOutcome,
    BackfillResult,
    Reprocess,
    TooManyPartitions,
    option_values,
    range_option_names,
    work_items_backfill,
)


class BackfillInputSerializer(serializers.Serializer):
    domain = serializers.CharField(max_length=100)
    pipeline = serializers.CharField(max_length=100)
    partitions = serializers.ListField(
        child=JSONObjectField(),
        required=False,
        allow_empty=False,
        help_text="Partition keys to enqueue, instead of a range.",
    )
    from_ = serializers.DateField(required=False, help_text="First date of the range.")
    to = serializers.DateField(required=False, help_text="Last date of the range.")
    options = JSONObjectField(
        required=False,
        help_text="Range options the pipeline takes (FINRA: tiers); also accepted at top level.",
    )
    reprocess = serializers.ChoiceField(
        choices=[mode.value for mode in Reprocess],
        default=Reprocess.NONE.value,
        help_text="none: new partitions only; failed: also re-arm FAILED and CANCELLED; "
        "all: also re-run COMPLETE ones (forced).",
    )
    priority = serializers.IntegerField(
        required=False, min_value=INT32_MIN, max_value=INT32_MAX, help_text="Higher runs first."
    )
    desired_at = serializers.DateTimeField(required=False, help_text="Not before this time.")
    params = JSONObjectField(required=False, help_text="Passed to every item's pipeline.")
    dry_run = serializers.BooleanField(default=False, help_text="Answer without writing.")
    include_partitions = serializers.BooleanField(
        default=False, help_text="List every partition's outcome in the answer."
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")  # a Python keyword, a JSON field name
        return fields


class BackfillPartitionSerializer(serializers.Serializer):
    partition_key = serializers.DictField()
    outcome = serializers.ChoiceField(choices=[o.value for o in BackfillOutcome])
    state = serializers.CharField(allow_null=True, help_text="The item's state before the call.")
    item_id = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField()


class BackfillCountsSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    rearmed = serializers.IntegerField()
    active = serializers.IntegerField()
    complete = serializers.IntegerField()
    refused = serializers.IntegerField()


class BackfillOutputSerializer(serializers.Serializer):
    domain = serializers.CharField()
    pipeline = serializers.CharField()
    reprocess = serializers.CharField()
    dry_run = serializers.BooleanField()
    total = serializers.IntegerField()
    enqueued = serializers.IntegerField(help_text="created + rearmed")
    counts = BackfillCountsSerializer()
    partitions = BackfillPartitionSerializer(many=True, required=False)


def render(result: BackfillResult, *, include_partitions: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "domain": result.domain,
        "pipeline": result.pipeline,
        "reprocess": result.reprocess.value,
        "dry_run": result.dry_run,
        "total": result.total,
        "enqueued": result.enqueued,
        "counts": result.counts,
    }
    if include_partitions:
        body["partitions"] = [
            {
                "partition_key": p.partition_key,
                "outcome": p.outcome.value,
                "state": p.state,
                "item_id": p.item_id,
                "reason": p.reason,
            }
            for p in result.partitions
        ]
    return body


class WorkBackfillView(JSONAPIView):
    permission_classes = [CanOperateWorkItems]

    @extend_schema(
        operation_id="work_backfill",
        summary="Enqueue a pipeline for a range (or a list) of partitions in one transaction",
        description=(
            "Give `from` and `to` (the domain turns the range into partitions: FINRA takes "
            "every Friday between them, times `tiers`, default all three) or `partitions`. "
            "Each partition is created, re-armed, or left alone (already active, already "
            "complete, or refused: FAILED/CANCELLED without `reprocess: failed`). `dry_run` "
            "answers the same without writing. At most "
            f"{BULK_MAX_ITEMS} partitions per request (413 too_many_items). 201 when it "
            "enqueued something, otherwise 200."
        ),
        request=BackfillInputSerializer,
        responses={
            201: BackfillOutputSerializer,
            200: BackfillOutputSerializer,
            **errors(400, 401, 403, 413, 415, 503),
        },
        examples=[
            OpenApiExample(
                "a quarter of ingests",
                value={
                    "domain": "finra.otc_transparency",
                    "pipeline": "ingest_week",
                    "from": "2025-10-01",
                    "to": "2025-12-22",
                    "tiers": ["NMS_TIER_1", "OTC"],
                    "reprocess": "failed",
                    "priority": 25,
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        option_names = frozenset(range_option_names())
        fields = parse_input(BackfillInputSerializer, request.data, allowed_extra=option_names)
        options = dict(fields.get("options") or {})
        for name in option_names & set(request.data):
            options[name] = option_values(request.data[name])
        try:
            result = work_items_backfill(
                domain=fields["domain"],
                pipeline=fields["pipeline"],
                actor=api_actor(request),
                partitions=fields.get("partitions"),
                start=fields.get("from"),
                end=fields.get("to"),
                options={k: option_values(v) for k, v in options.items()},
                reprocess=fields["reprocess"],
                priority=fields.get("priority"),
                desired_at=fields.get("desired_at"),
                params=fields.get("params"),
                dry_run=fields["dry_run"],
                max_items=BULK_MAX_ITEMS,
            )
        except TooManyPartitions as exc:
            raise ApiError(
                "too_many_items",
                exc.message,
                fields=exc.fields,
                status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            ) from None
        code = status.HTTP_201_CREATED if result.enqueued and not result.dry_run else 200
        body = render(result, include_partitions=fields["include_partitions"])
        return Response(body, status=code)
