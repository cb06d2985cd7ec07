# Over 400 lines: seven short views, each beside the OpenAPI description that documents it.
"""REST API v1: one view per operation; each parses its input, calls a service or a selector,
and renders a small output serializer. Errors are raised and rendered by
``marketspine.api.errors``."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponseRedirect
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from marketspine.api.addresses import client_address
from marketspine.api.errors import ApiError, ErrorSerializer, flatten_errors
from marketspine.api.parsers import parse_json_text
from marketspine.api.query import parse_input, parse_query
from marketspine.api.views import JSONAPIView
from workqueue import selectors
from workqueue.api import serializers as s
from workqueue.api.permissions import CanOperateWorkItems, CanViewManifest, CanViewWorkItems
from workqueue.exceptions import EnqueueError
from workqueue.models import AuditSource
from workqueue.services import (
    Actor,
    EnqueueRequest,
    EnqueueStatus,
    work_item_cancel,
    work_item_retry,
    work_items_enqueue,
    work_items_retry_failed,
)
from workqueue.states import WorkState

#: Items per bulk enqueue request; more is refused with 413 too_many_items.
BULK_MAX_ITEMS = 1000

# Enqueue is the hot path of cron jobs and backfills. Building a serializer's fields costs
# more than validating or rendering one item, and these two keep no per-request state (no
# context, no is_valid), so one instance of each serves every request.
_ENQUEUE_VALIDATOR = s.EnqueueInputSerializer()
_ENQUEUE_RESULT = s.EnqueueResultOutputSerializer()

INCLUDE_PARAMETER = OpenApiParameter(
    "include",
    str,
    enum=list(s.INCLUDABLE),
    description="`params`: each item of the list carries its params (left out by default, so "
    "a long list stays small). Comma-separated or repeated.",
)


# --- helpers ---------------------------------------------------------------------------------


def api_actor(request: Request) -> Actor:
    return Actor.for_user(
        request.user, source=AuditSource.API, client_address=client_address(request)
    )


def parse_states(request: Request) -> list[str]:
    """``state`` may repeat and hold comma lists, in any case; unknown names are a 400."""
    asked = [
        part.strip().upper()
        for value in request.query_params.getlist("state")
        for part in value.split(",")
        if part.strip()
    ]
    unknown = [name for name in asked if name not in WorkState.values]
    if unknown:
        raise ApiError(
            "invalid_request",
            f"unknown state(s) {', '.join(unknown)}; known: {', '.join(WorkState.values)}",
            fields={"state": "unknown state"},
        )
    ordered = [state for state in WorkState.values if state in asked]
    return ordered or [str(state) for state in selectors.DEFAULT_PENDING_STATES]


def parse_include(request: Request) -> frozenset[str]:
    """``include`` may repeat and hold comma lists; only ``s.INCLUDABLE`` names are known."""
    asked = {
        part.strip()
        for value in request.query_params.getlist("include")
        for part in value.split(",")
        if part.strip()
    }
    unknown = sorted(asked - set(s.INCLUDABLE))
    if unknown:
        raise ApiError(
            "invalid_request",
            f"unknown include {', '.join(unknown)}; known: {', '.join(s.INCLUDABLE)}",
            fields={"include": "unknown name"},
        )
    return frozenset(asked)


def one_or_many(
    component_name: str,
    serializer: type[serializers.Serializer],
    list_serializer: type[serializers.Serializer] | None = None,
) -> PolymorphicProxySerializer:
    """Schema of a body that is one object or a JSON list of them (bulk enqueue); a list's
    elements may have their own serializer (results without params)."""
    return PolymorphicProxySerializer(
        component_name=component_name,
        serializers=[serializer, (list_serializer or serializer)(many=True)],
        resource_type_field_name=None,
        many=False,
    )


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    descriptions = {
        400: "Bad input: invalid_request, unknown_fields, malformed_json (also an empty body or "
        "a key given twice), unknown_pipeline, invalid_partition_key, invalid_params",
        401: "not_authenticated: no or bad token",
        403: "permission_denied: the user lacks the permission",
        404: "not_found",
        409: "conflict: illegal_transition",
        413: "body_too_large, too_many_items or params_too_large",
        415: "unsupported_media_type: send Content-Type: application/json",
        503: "database_unavailable",
    }
    return {
        code: OpenApiResponse(ErrorSerializer, description=descriptions[code]) for code in codes
    }


READ_ERRORS = (400, 401, 403, 503)
WRITE_ERRORS = (400, 401, 403, 413, 415, 503)


# --- work items ------------------------------------------------------------------------------

ENQUEUE_EXAMPLE = {
    "domain": "finra.otc_transparency",
    "pipeline": "ingest_week",
    "partition_key": {"week_ending": "2025-12-19", "tier": "NMS_TIER_1"},
    "params": {"file_url": "https://finra.org/.../tier1_20251219.csv"},
    "desired_at": "2025-12-23T10:30:00Z",
}


class WorkEnqueueView(JSONAPIView):
    permission_classes = [CanOperateWorkItems]

    @extend_schema(
        operation_id="work_enqueue",
        summary="Enqueue a work item, or many (a JSON list, for backfills)",
        description=(
            "Idempotent per (domain, pipeline, partition_key). One object: 201 when created; "
            "200 with `created: false` when the partition is already queued or running "
            '(`status: "existing"`) or was finished and re-armed by `reprocess: true` '
            '(`status: "rearmed"`); 409 `already_finished` when it is finished and `reprocess`'
            f" was not asked. A list (at most {BULK_MAX_ITEMS} objects) is enqueued in one "
            "transaction: any invalid element rejects all (400, fields named `[index].field`); "
            "the answer is the per-item results in order, 201 when every item was created, "
            'otherwise 200 (finished items are reported with `status: "finished"`); the '
            "results of a list leave params out unless `include=params` is asked. `params` "
            "must be what the pipeline declares (400 `invalid_params` naming `params.<name>`) "
            "and at most WORKQUEUE_MAX_PARAMS_BYTES (16 KB) of JSON (413 `params_too_large`)."
        ),
        parameters=[INCLUDE_PARAMETER],
        request=one_or_many("EnqueueRequestBody", s.EnqueueInputSerializer),
        responses={
            201: one_or_many(
                "EnqueueCreated",
                s.EnqueueResultOutputSerializer,
                s.EnqueueResultListOutputSerializer,
            ),
            200: one_or_many(
                "EnqueueNotCreated",
                s.EnqueueResultOutputSerializer,
                s.EnqueueResultListOutputSerializer,
            ),
            409: OpenApiResponse(
                s.AlreadyFinishedSerializer,
                description="already_finished: pass reprocess: true to run it again",
            ),
            **errors(*WRITE_ERRORS),
        },
        examples=[OpenApiExample("weekly ingest", value=ENQUEUE_EXAMPLE, request_only=True)],
    )
    def post(self, request: Request) -> Response:
        data = request.data
        if isinstance(data, list):
            return self._bulk(request, data, include_params="params" in parse_include(request))
        fields = parse_input(s.EnqueueInputSerializer, data, validator=_ENQUEUE_VALIDATOR)
        result = work_items_enqueue(requests=[EnqueueRequest(**fields)], actor=api_actor(request))[
            0
        ]
        if result.status is EnqueueStatus.FINISHED:
            item = result.item
            raise ApiError(
                "already_finished",
                f"work item {item.pk} ({item.domain}/{item.pipeline} {item.partition_key_text}) "
                f'is already {item.state}; pass "reprocess": true to run it again',
                status_code=status.HTTP_409_CONFLICT,
                extra={
                    "created": False,
                    "status": result.status.value,
                    "item": s.WorkItemOutputSerializer(item).data,
                },
            )
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response(_ENQUEUE_RESULT.to_representation(result), status=code)

    def _bulk(self, request: Request, data: list[Any], *, include_params: bool) -> Response:
        if not data:
            raise ApiError("invalid_request", "the list of items to enqueue is empty")
        if len(data) > BULK_MAX_ITEMS:
            raise ApiError(
                "too_many_items",
                f"a bulk enqueue takes at most {BULK_MAX_ITEMS} items, got {len(data)}; "
                "split it into several requests",
                status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        parsed, problems, codes = [], {}, set()
        for index, element in enumerate(data):
            try:
                parsed.append(
                    parse_input(
                        s.EnqueueInputSerializer,
                        element,
                        prefix=f"[{index}].",
                        validator=_ENQUEUE_VALIDATOR,
                    )
                )
            except ApiError as exc:
                problems.update(exc.fields)
                codes.add(exc.code)
            except serializers.ValidationError as exc:
                problems.update(flatten_errors(exc.detail))
                codes.add("invalid_request")
        if problems:
            code = codes.pop() if len(codes) == 1 else "invalid_request"
            bad = sorted({name.split(".")[0] for name in problems})
            raise ApiError(
                code,
                f"{len(bad)} of {len(data)} items are invalid ({', '.join(bad[:10])}); "
                "nothing was enqueued",
                fields=problems,
            )
        requests = [EnqueueRequest(**fields) for fields in parsed]
        try:
            results = work_items_enqueue(requests=requests, actor=api_actor(request))
        except EnqueueError as exc:
            if len(requests) > 1:
                raise
            # The service names culprits with [index]. only for two or more items.
            fields = {f"[0].{name}": message for name, message in exc.fields.items()}
            raise type(exc)(f"[0].{exc.message}", fields=fields) from None
        all_created = all(result.created for result in results)
        rendered = s.EnqueueResultListOutputSerializer(
            results, many=True, include_params=include_params
        )
        return Response(
            rendered.data,
            status=status.HTTP_201_CREATED if all_created else status.HTTP_200_OK,
        )


class WorkPendingView(JSONAPIView):
    permission_classes = [CanViewWorkItems]

    @extend_schema(
        operation_id="work_pending",
        summary="Work items by state, with exact counts",
        description=(
            "The answer has one list per asked-for state, keyed by the lower-case state name "
            "(`pending`, `running`, `retry_wait`, `complete`, `failed`, `cancelled`), each at "
            "most `limit` items in claim order (priority desc, desired_at, id), and `counts`: "
            "the exact number per state. Without `state`: PENDING, RUNNING, RETRY_WAIT, FAILED. "
            "Items carry no `params` unless `include=params` is asked."
        ),
        parameters=[
            s.PendingQuerySerializer,
            INCLUDE_PARAMETER,
            OpenApiParameter(
                "state",
                str,
                many=True,
                explode=True,
                enum=WorkState.values,
                description="Repeatable or comma-separated, case-insensitive.",
            ),
        ],
        responses={200: s.PendingOutputSerializer, **errors(*READ_ERRORS)},
    )
    def get(self, request: Request) -> Response:
        query = parse_query(s.PendingQuerySerializer, request, allowed_extra=frozenset({"state"}))
        states = parse_states(request)
        include_params = "params" in parse_include(request)
        filters = {"domain": query.get("domain"), "pipeline": query.get("pipeline")}
        lists = selectors.work_items_by_state(
            states=states, limit=query["limit"], with_params=include_params, **filters
        )
        counts = selectors.work_item_counts_by_state(states=states, **filters)
        body: dict[str, Any] = {
            state.lower(): s.WorkItemListOutputSerializer(
                items, many=True, include_params=include_params
            ).data
            for state, items in lists.items()
        }
        body["counts"] = {state.lower(): count for state, count in counts.items()}
        return Response(body)


class WorkItemDetailView(JSONAPIView):
    permission_classes = [CanViewWorkItems]

    @extend_schema(
        operation_id="work_item_detail",
        summary="One work item with its executions",
        responses={200: s.WorkItemDetailOutputSerializer, **errors(401, 403, 404, 503)},
    )
    def get(self, request: Request, item_id: int) -> Response:
        if item_id > s.ID_MAX:
            raise ApiError("not_found", f"work item {item_id} does not exist", status_code=404)
        item = selectors.work_item_get(item_id=item_id)
        return Response(s.WorkItemDetailOutputSerializer(item).data)


class WorkRetryView(JSONAPIView):
    permission_classes = [CanOperateWorkItems]

    @extend_schema(
        operation_id="work_retry",
        summary="Retry one FAILED or CANCELLED item, or every FAILED item of a domain",
        description=(
            'Either `{"work_item_id": N}` (409 illegal_transition unless the item is FAILED or '
            'CANCELLED) or `{"domain": "...", "pipeline": "..."?}` (all FAILED items; may be '
            "none). Retried items go back to PENDING with attempts reset; history is kept."
        ),
        request=s.RetryInputSerializer,
        responses={200: s.RetryOutputSerializer, **errors(*WRITE_ERRORS, 404, 409)},
    )
    def post(self, request: Request) -> Response:
        fields = parse_input(s.RetryInputSerializer, request.data)
        actor = api_actor(request)
        if "work_item_id" in fields:
            items = [work_item_retry(item_id=fields["work_item_id"], actor=actor)]
        else:
            items = work_items_retry_failed(
                domain=fields["domain"], pipeline=fields.get("pipeline"), actor=actor
            )
        ids = [item.pk for item in items]
        return Response({"retried": ids, "count": len(ids)})


class WorkCancelView(JSONAPIView):
    permission_classes = [CanOperateWorkItems]

    @extend_schema(
        operation_id="work_cancel",
        summary="Cancel a PENDING or RETRY_WAIT item",
        description="A RUNNING or finished item is refused with 409 illegal_transition.",
        request=s.CancelInputSerializer,
        responses={200: s.WorkItemOutputSerializer, **errors(*WRITE_ERRORS, 404, 409)},
    )
    def post(self, request: Request) -> Response:
        fields = parse_input(s.CancelInputSerializer, request.data)
        item = work_item_cancel(item_id=fields["work_item_id"], actor=api_actor(request))
        return Response(s.WorkItemOutputSerializer(item).data)


# --- manifest --------------------------------------------------------------------------------


class ManifestView(JSONAPIView):
    permission_classes = [CanViewManifest]

    @extend_schema(
        operation_id="manifest",
        summary="Which stages a partition has reached",
        description=(
            "With `stage`: that stage's entry, or 404 whose body also carries `row_count: 0` "
            "(so `response.json().get('row_count', 0) > 0` is a readiness check). Without: "
            "every stage the partition reached, in stage order."
        ),
        parameters=[s.ManifestQuerySerializer],
        responses={
            (200, "application/json"): PolymorphicProxySerializer(
                component_name="ManifestResult",
                serializers=[s.ManifestEntryOutputSerializer, s.ManifestPartitionOutputSerializer],
                resource_type_field_name=None,
            ),
            404: OpenApiResponse(
                s.ManifestNotFoundSerializer, description="not_found: stage not reached yet"
            ),
            **errors(*READ_ERRORS),
        },
    )
    def get(self, request: Request) -> Response:
        query = parse_query(s.ManifestQuerySerializer, request)
        partition_key = parse_json_text(query["partition_key"], name="partition_key")
        if not isinstance(partition_key, dict):
            raise ApiError(
                "invalid_partition_key",
                "partition_key must be a JSON object",
                fields={"partition_key": "not an object"},
            )
        domain, stage = query["domain"], query.get("stage")
        entries = selectors.manifest_entries(
            domain=domain, partition_key=partition_key, stage=stage
        )
        if stage is None:
            body = {
                "domain": domain,
                "partition_key": partition_key,
                "stages": s.ManifestEntryOutputSerializer(entries, many=True).data,
            }
            return Response(body)
        entry = entries.first()
        if entry is None:
            raise ApiError(
                "not_found",
                f"{domain} partition {query['partition_key']} has not reached stage {stage}",
                status_code=status.HTTP_404_NOT_FOUND,
                extra={"row_count": 0},
            )
        return Response(s.ManifestEntryOutputSerializer(entry).data)


# --- health ----------------------------------------------------------------------------------


class HealthView(JSONAPIView):
    """Any authenticated user may ask (no permission needed beyond a valid token)."""

    @extend_schema(
        operation_id="health",
        summary="Database, workers and queue at a glance",
        description=(
            "503 when the database is unreachable, or when items are due but no worker has "
            "been seen within HEALTH_MAX_WORKER_AGE_SECONDS (default 300). An idle queue with "
            "no worker is healthy: nothing is waiting for one."
        ),
        responses={
            200: s.HealthOutputSerializer,
            503: PolymorphicProxySerializer(
                component_name="HealthUnavailable",
                serializers=[s.HealthOutputSerializer, ErrorSerializer],
                resource_type_field_name=None,
            ),
            **errors(401),
        },
    )
    def get(self, request: Request) -> Response:
        verdict = selectors.health_status()
        health = verdict.queue
        age = None if health is None else health.worker_age_seconds
        body: dict[str, Any] = {
            "status": "ok" if verdict.healthy else "unhealthy",
            "database": "ok" if verdict.database_reachable else "unreachable",
            "newest_worker_seen_at": None
            if health is None
            else serializers.DateTimeField().to_representation(health.newest_heartbeat_at),
            "worker_age_seconds": None if age is None else round(age, 3),
            "max_worker_age_seconds": verdict.max_worker_age_seconds,
            "due_unclaimed": None if health is None else health.due_unclaimed,
            "counts": {}
            if health is None
            else {state.lower(): n for state, n in health.counts.items()},
            "problems": list(verdict.problems),
        }
        code = status.HTTP_200_OK if verdict.healthy else status.HTTP_503_SERVICE_UNAVAILABLE
        return Response(body, status=code)


class DocsView(SpectacularSwaggerView):
    """Interactive docs (Swagger UI served from drf-spectacular-sidecar, no CDN). The page
    loads the schema with the browser's session, so anonymous visitors are sent to log in."""

    permission_classes = [AllowAny]

    @extend_schema(exclude=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        if not request.user.is_authenticated:
            return HttpResponseRedirect(f"{reverse('admin:login')}?next={request.path}")
        return super().get(request, *args, **kwargs)
