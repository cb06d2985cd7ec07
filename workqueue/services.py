"""Operations on the work queue: the one place the API, admin, commands and tasks all call.

Every function is keyword-only. Human and API actions write an AuditEvent in the same
transaction as the change they describe; starting work after a commit goes through
``transaction.on_commit`` so a rolled-back enqueue never wakes a worker.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from workqueue.dispatch import request_drain
from workqueue.exceptions import EnqueueError, ParamsTooLarge, WorkItemNotFound
from workqueue.fields import CanonicalJSONField, canonical_json
from workqueue.models import AuditEvent, AuditSource, WorkItem
from workqueue.pipelines import Pipeline, registry
from workqueue.states import ACTIVE_STATES, Event, WorkState

# --- who is acting ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who asked for a change, and through which door (api, admin, cli, system)."""

    source: str
    name: str
    user: Any = None
    client_address: str | None = None

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(source=AuditSource.SYSTEM, name=name)

    @classmethod
    def cli(cls) -> Actor:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):
            name = "unknown"
        return cls(source=AuditSource.CLI, name=f"cli:{name}")

    @classmethod
    def for_user(cls, user: Any, *, source: str, client_address: str | None = None) -> Actor:
        return cls(
            source=source,
            name=getattr(user, "get_username", lambda: "anonymous")(),
            user=user if getattr(user, "pk", None) else None,
            client_address=client_address,
        )


def audit_event(
    actor: Actor, action: str, item: WorkItem | None, details: dict[str, Any]
) -> AuditEvent:
    return AuditEvent(
        actor=actor.user,
        actor_name=actor.name[:150],
        source=actor.source,
        action=action,
        work_item=item,
        client_address=actor.client_address,
        details=details,
    )


def _wake_workers() -> None:
    if settings.WORKQUEUE_KICK_ON_ENQUEUE:
        transaction.on_commit(request_drain)


# --- enqueue ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnqueueRequest:
    domain: str
    pipeline: str
    partition_key: Mapping[str, Any]
    params: Mapping[str, Any] | None = None
    desired_at: datetime | None = None
    priority: int | None = None
    max_attempts: int | None = None
    reprocess: bool = False


class EnqueueStatus(StrEnum):
    CREATED = "created"
    EXISTING = "existing"  # already queued or running: returned unchanged
    REARMED = "rearmed"  # finished, and re-armed because reprocess was asked
    FINISHED = "finished"  # finished, left alone because reprocess was not asked


@dataclass
class EnqueueResult:
    item: WorkItem
    status: EnqueueStatus

    @property
    def created(self) -> bool:
        return self.status is EnqueueStatus.CREATED


@dataclass
class _Validated:
    request: EnqueueRequest
    partition_key: dict[str, Any]
    key_text: str
    results: list[int] = field(default_factory=list)  # indexes of the results it answers


def _validate(request: EnqueueRequest, prefix: str) -> dict[str, Any]:
    def fail(message: str, name: str, exc: EnqueueError | None = None) -> EnqueueError:
        error_class = type(exc) if exc is not None else EnqueueError
        fields = {f"{prefix}{k}": v for k, v in (exc.fields if exc else {name: message}).items()}
        return error_class(f"{prefix}{message}" if prefix else message, fields=fields)

    try:
        pipeline = registry.get(request.domain, request.pipeline)
    except EnqueueError as exc:
        raise fail(exc.message, "pipeline", exc) from None
    try:
        key = pipeline.canonical_partition(request.partition_key)
    except EnqueueError as exc:
        nested = {f"partition_key.{k}": v for k, v in exc.fields.items()}
        raise fail(exc.message, "partition_key", type(exc)(exc.message, fields=nested)) from None
    if request.params is not None:
        try:
            params_check(pipeline, request.params, key)
        except EnqueueError as exc:
            raise fail(exc.message, "params", exc) from None
    if request.desired_at is not None and timezone.is_naive(request.desired_at):
        raise fail("desired_at must include a time zone (e.g. 2025-12-23T10:30:00Z)", "desired_at")
    if request.max_attempts is not None and request.max_attempts < 1:
        raise fail("max_attempts must be at least 1", "max_attempts")
    return key


def params_check(pipeline: Pipeline, params: Any, partition_key: Mapping[str, Any]) -> None:
    """Refuse params that are not an object, too large, or not what the pipeline declares.

    ``partition_key`` is the canonical key. Raises EnqueueError naming ``params`` (or
    ``params.<name>``): one check for enqueue, bulk enqueue, backfill and the commands.
    """
    if not isinstance(params, Mapping):
        raise EnqueueError("params must be a JSON object", fields={"params": "not an object"})
    limit = settings.WORKQUEUE_MAX_PARAMS_BYTES
    size = len(canonical_json(params).encode("utf-8"))
    if size > limit:
        raise ParamsTooLarge(
            f"params is {size:,} bytes of JSON; at most {limit:,} (WORKQUEUE_MAX_PARAMS_BYTES): "
            "pass large inputs by reference, e.g. a file path",
            fields={"params": f"larger than {limit:,} bytes"},
        )
    pipeline.check_params(params, partition_key)


def _validate_all(requests: Sequence[EnqueueRequest]) -> list[dict[str, Any]]:
    """Every request's canonical key; one error naming every bad request, by index, if any.

    A single request keeps its error as it is; several errors of one kind keep that kind (and
    its HTTP status), mixed kinds become a plain EnqueueError.
    """
    bulk = len(requests) > 1
    keys: list[dict[str, Any]] = []
    errors: list[EnqueueError] = []
    for index, request in enumerate(requests):
        try:
            keys.append(_validate(request, f"[{index}]." if bulk else ""))
        except EnqueueError as exc:
            errors.append(exc)
    if not errors:
        return keys
    if len(errors) == 1:
        raise errors[0]
    kinds = {type(exc) for exc in errors}
    error_class = kinds.pop() if len(kinds) == 1 else EnqueueError
    fields = {name: text for exc in errors for name, text in exc.fields.items()}
    shown = "; ".join(exc.message for exc in errors[:5])
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    raise error_class(
        f"{len(errors)} of {len(requests)} items are invalid: {shown}{more}", fields=fields
    )


def work_items_enqueue(
    *, requests: Sequence[EnqueueRequest], actor: Actor, audit_each: bool = True
) -> list[EnqueueResult]:
    """Enqueue many items in one transaction; results come back in request order.

    Idempotent per (domain, pipeline, partition_key): an active item is returned unchanged, a
    finished one is re-armed only when ``reprocess`` is asked. Any invalid request rejects the
    whole call and changes nothing. Concurrent callers enqueueing the same new partition both
    succeed: the loser of the insert race gets the winner's item back. ``audit_each=False``
    is for callers that write one audit event for the whole call themselves (a backfill).
    """
    validated: dict[tuple[str, str, str], _Validated] = {}
    for index, (request, key) in enumerate(zip(requests, _validate_all(requests), strict=True)):
        key_text = canonical_json(key)
        slot = validated.setdefault(
            (request.domain, request.pipeline, key_text), _Validated(request, key, key_text)
        )
        slot.results.append(index)

    results: list[EnqueueResult | None] = [None] * len(requests)
    now = timezone.now()
    with transaction.atomic():
        created = _insert_new_items([_new_item(slot, now) for slot in validated.values()])
        existing = _existing_items(k for k in validated if k not in created)
        audit: list[AuditEvent] = []
        changed = False
        for identity, slot in validated.items():
            item = created.get(identity) or existing[identity]
            if identity in created:
                status = EnqueueStatus.CREATED
            elif item.state in ACTIVE_STATES:
                status = EnqueueStatus.EXISTING
            elif slot.request.reprocess:
                item.rearm(Event.REPROCESS, **_overrides(slot.request))
                status = EnqueueStatus.REARMED
            else:
                status = EnqueueStatus.FINISHED
            changed = changed or status in (EnqueueStatus.CREATED, EnqueueStatus.REARMED)
            if audit_each:
                audit.append(audit_event(actor, "enqueue", item, {"result": status.value}))
            for index in slot.results:
                results[index] = EnqueueResult(item=item, status=status)
        AuditEvent.objects.bulk_create(audit)
        if changed:
            _wake_workers()
    return [r for r in results if r is not None]


def work_item_enqueue(
    *,
    domain: str,
    pipeline: str,
    partition_key: Mapping[str, Any],
    actor: Actor,
    params: Mapping[str, Any] | None = None,
    desired_at: datetime | None = None,
    priority: int | None = None,
    max_attempts: int | None = None,
    reprocess: bool = False,
) -> EnqueueResult:
    request = EnqueueRequest(
        domain=domain,
        pipeline=pipeline,
        partition_key=partition_key,
        params=params,
        desired_at=desired_at,
        priority=priority,
        max_attempts=max_attempts,
        reprocess=reprocess,
    )
    return work_items_enqueue(requests=[request], actor=actor)[0]


def _overrides(request: EnqueueRequest) -> dict[str, Any]:
    """Fields a reprocess request may change on the re-armed item."""
    changes: dict[str, Any] = {"desired_at": request.desired_at or timezone.now()}
    if request.params is not None:
        changes["params"] = dict(request.params)
    if request.priority is not None:
        changes["priority"] = request.priority
    if request.max_attempts is not None:
        changes["max_attempts"] = request.max_attempts
    return changes


def _existing_items(identities: Iterable[tuple[str, str, str]]) -> dict[tuple, WorkItem]:
    by_pipeline: dict[tuple[str, str], list[str]] = {}
    for domain, pipeline, key_text in identities:
        by_pipeline.setdefault((domain, pipeline), []).append(key_text)
    found: dict[tuple, WorkItem] = {}
    for (domain, pipeline), keys in by_pipeline.items():
        for start in range(0, len(keys), 500):
            rows = WorkItem.objects.filter(
                domain=domain, pipeline=pipeline, partition_key__in=keys[start : start + 500]
            )
            for item in rows:
                found[(domain, pipeline, item.partition_key_text)] = item
    return found


def _new_item(slot: _Validated, now: datetime) -> WorkItem:
    request = slot.request
    item = WorkItem(
        domain=request.domain,
        pipeline=request.pipeline,
        partition_key=slot.partition_key,
        params=dict(request.params or {}),
        desired_at=request.desired_at or now,
        created_at=now,
        updated_at=now,
    )
    if request.priority is not None:
        item.priority = request.priority
    if request.max_attempts is not None:
        item.max_attempts = request.max_attempts
    return item


def _insert_new_items(items: list[WorkItem]) -> dict[tuple, WorkItem]:
    """Insert the items whose partition is new; return them (with ids) by identity.

    One ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` per chunk, on PostgreSQL and SQLite
    alike: a partition that already exists is skipped by the database instead of raising, so
    there is no read-before-write race and no savepoint. When another transaction is inserting
    the same partition at the same moment, PostgreSQL waits for it and then skips the row; the
    caller reads it back as existing.
    """
    meta = WorkItem._meta
    quote = connection.ops.quote_name
    conflict = ", ".join(quote(name) for name in ("domain", "pipeline", "partition_key"))
    inserted: dict[tuple, WorkItem] = {}
    for start in range(0, len(items), 500):
        chunk = items[start : start + 500]
        # Nullable columns that are NULL in every row of the chunk are left to the database,
        # so a new item sends only the columns that carry values.
        fields = [
            f
            for f in meta.concrete_fields
            if not f.primary_key
            and not (f.null and all(getattr(item, f.attname) is None for item in chunk))
        ]
        columns = ", ".join(quote(f.column) for f in fields)
        if connection.vendor == "postgresql":
            # One array per column: 12 parameters for 500 rows instead of 6,000, and psycopg
            # adapts plain Python values in C (JSON columns travel as text, cast per element).
            source = "SELECT * FROM unnest({})".format(
                ", ".join(f"%s::{_array_type(f)}" for f in fields)
            )
            params = [[_array_value(f, getattr(item, f.attname)) for item in chunk] for f in fields]
        else:
            row = "(" + ", ".join(["%s"] * len(fields)) + ")"
            source = "VALUES " + ", ".join([row] * len(chunk))
            params = [
                f.get_db_prep_save(f.pre_save(item, add=True), connection)
                for item in chunk
                for f in fields
            ]
        sql = (
            f"INSERT INTO {quote(meta.db_table)} ({columns}) {source}"
            f" ON CONFLICT ({conflict}) DO NOTHING RETURNING {quote('id')}, {conflict}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            returned = cursor.fetchall()
        by_identity = {(i.domain, i.pipeline, i.partition_key_text): i for i in chunk}
        for pk, domain, pipeline, key_text in returned:
            item = by_identity[(domain, pipeline, key_text)]
            item.pk = pk
            item._state.adding = False
            item._state.db = connection.alias
            inserted[(domain, pipeline, key_text)] = item
    return inserted


def _array_type(field: Any) -> str:
    db_type = field.db_type(connection)
    # jsonb arrays travel as text[] of JSON documents and are cast element by element.
    return "text[]::jsonb[]" if db_type == "jsonb" else f"{db_type}[]"


def _array_value(field: Any, value: Any) -> Any:
    if isinstance(field, CanonicalJSONField):
        return field.get_prep_value(value)
    if isinstance(field, models.JSONField):
        return None if value is None else json.dumps(value, cls=field.encoder)
    return value


# --- retry and cancel -------------------------------------------------------------------------


def _get_for_update(item_id: int) -> WorkItem:
    try:
        return WorkItem.objects.select_for_update().get(pk=item_id)
    except WorkItem.DoesNotExist:
        raise WorkItemNotFound(f"work item {item_id} does not exist") from None


def work_item_retry(*, item_id: int, actor: Actor) -> WorkItem:
    """Re-arm a FAILED or CANCELLED item: PENDING, attempts reset, error cleared, history kept."""
    with transaction.atomic():
        item = _get_for_update(item_id)
        previous = {"state": item.state, "attempt_count": item.attempt_count}
        item.rearm(Event.RETRY, desired_at=timezone.now())
        audit_event(actor, "retry", item, {"previous": previous}).save()
        _wake_workers()
    return item


def work_items_retry_failed(
    *, domain: str, actor: Actor, pipeline: str | None = None
) -> list[WorkItem]:
    """Re-arm every FAILED item of a domain (optionally one pipeline). Returns the items."""
    with transaction.atomic():
        rows = WorkItem.objects.select_for_update().filter(domain=domain, state=WorkState.FAILED)
        if pipeline:
            rows = rows.filter(pipeline=pipeline)
        items = list(rows.order_by("id"))
        now = timezone.now()
        audit = []
        for item in items:
            previous = {"state": item.state, "attempt_count": item.attempt_count}
            item.rearm(Event.RETRY, desired_at=now)
            audit.append(audit_event(actor, "retry", item, {"previous": previous, "bulk": True}))
        AuditEvent.objects.bulk_create(audit)
        if items:
            _wake_workers()
    return items


def work_item_cancel(*, item_id: int, actor: Actor) -> WorkItem:
    """Cancel a PENDING or RETRY_WAIT item. A RUNNING or finished item is refused."""
    with transaction.atomic():
        item = _get_for_update(item_id)
        previous_state = item.state
        item.mark_cancelled()
        audit_event(actor, "cancel", item, {"previous": {"state": previous_state}}).save()
    return item
