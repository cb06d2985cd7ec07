"""Backfill: enqueue a pipeline for many partitions at once, in one transaction.

The one service behind ``manage.py backfill``, ``POST /api/v1/work/backfill`` and the admin's
backfill form. The partitions come either as a list or as a range (``start``/``end`` dates plus
domain options such as FINRA's tiers) that the pipeline's own ``expand_range`` turns into
partition keys, so the queue never needs to know what a week or a tier is.

What happens to each partition depends on its item and on ``reprocess``:

============== ========== ========== ===========
item            ``none``   ``failed``  ``all``
============== ========== ========== ===========
none            created    created    created
active          active     active     active
COMPLETE        complete   complete   re-armed (forced)
FAILED/CANCEL   refused    re-armed   re-armed
============== ========== ========== ===========

A dry run classifies the same way, under the same row locks, and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from django.db import transaction
from django.utils import timezone

from workqueue.exceptions import EnqueueError
from workqueue.fields import canonical_json
from workqueue.models import WorkItem
from workqueue.pipelines import Pipeline, registry
from workqueue.services import (
    Actor,
    EnqueueRequest,
    EnqueueStatus,
    audit_event,
    params_check,
    work_items_enqueue,
)
from workqueue.states import ACTIVE_STATES, WorkState

#: Partitions classified and enqueued per step; the progress callback is called after each.
CHUNK = 250


class Reprocess(StrEnum):
    NONE = "none"  # only partitions that have no item yet
    FAILED = "failed"  # also re-arm FAILED and CANCELLED items
    ALL = "all"  # also re-arm COMPLETE items, forcing the work to be redone


class BackfillOutcome(StrEnum):
    CREATED = "created"
    REARMED = "rearmed"
    ACTIVE = "active"  # already queued, running or waiting to retry: left alone
    COMPLETE = "complete"  # already complete, left alone
    REFUSED = "refused"  # FAILED or CANCELLED, and the mode does not re-arm those


OUTCOME_LABELS = {
    BackfillOutcome.CREATED: "created",
    BackfillOutcome.REARMED: "re-armed",
    BackfillOutcome.ACTIVE: "already active",
    BackfillOutcome.COMPLETE: "already complete (left alone)",
    BackfillOutcome.REFUSED: "refused",
}


class TooManyPartitions(EnqueueError):
    code = "too_many_items"


def range_option_names() -> list[str]:
    """Every range option some registered pipeline declares (FINRA: ``tiers``), sorted."""
    return sorted({name for pipeline in registry.all() for name in pipeline.range_options})


def option_values(value: Any) -> Any:
    """A range option's values: a list as is, a comma string ("NMS_TIER_1, OTC") split."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def outcome_for(state: str | None, reprocess: Reprocess) -> BackfillOutcome:
    """What a backfill in mode ``reprocess`` does to a partition whose item is in ``state``."""
    if state is None:
        return BackfillOutcome.CREATED
    if state in ACTIVE_STATES:
        return BackfillOutcome.ACTIVE
    if state == WorkState.COMPLETE:
        return BackfillOutcome.REARMED if reprocess is Reprocess.ALL else BackfillOutcome.COMPLETE
    if reprocess in (Reprocess.FAILED, Reprocess.ALL):
        return BackfillOutcome.REARMED
    return BackfillOutcome.REFUSED


def _reason(outcome: BackfillOutcome, state: str | None) -> str:
    if outcome is BackfillOutcome.REFUSED:
        return f"{state}: pass reprocess=failed (or all) to re-arm it"
    if outcome is BackfillOutcome.COMPLETE:
        return "COMPLETE: pass reprocess=all to run it again"
    if outcome is BackfillOutcome.ACTIVE:
        return f"already {state}"
    return ""


@dataclass
class BackfillPartition:
    partition_key: dict[str, Any]
    outcome: BackfillOutcome
    state: str | None = None  # the item's state before the backfill
    item_id: int | None = None
    reason: str = ""


@dataclass
class BackfillResult:
    domain: str
    pipeline: str
    reprocess: Reprocess
    dry_run: bool
    partitions: list[BackfillPartition] = field(default_factory=list)
    audit_event_id: int | None = None

    @property
    def counts(self) -> dict[str, int]:
        counts = {outcome.value: 0 for outcome in BackfillOutcome}
        for partition in self.partitions:
            counts[partition.outcome.value] += 1
        return counts

    @property
    def total(self) -> int:
        return len(self.partitions)

    @property
    def enqueued(self) -> int:
        """Items that will run because of this call (created plus re-armed)."""
        counts = self.counts
        return counts[BackfillOutcome.CREATED] + counts[BackfillOutcome.REARMED]


Progress = Callable[[int, int], None]


def backfill_partitions(
    pipeline: Pipeline,
    *,
    partitions: Sequence[Mapping[str, Any]] | None = None,
    start: date | None = None,
    end: date | None = None,
    options: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The canonical, de-duplicated partition keys a backfill request names, in order.

    Raises EnqueueError (naming the field) for a request that gives both or neither of a list
    and a range, a reversed range, options the pipeline does not take, or a bad key.
    """
    options = dict(options or {})
    has_range = start is not None or end is not None
    if partitions is not None and has_range:
        raise EnqueueError(
            "give either partitions or a range (from, to), not both",
            fields={"partitions": "not with from/to"},
        )
    if partitions is None:
        if start is None or end is None:
            missing = "from" if start is None else "to"
            raise EnqueueError(
                f"a backfill needs partitions or a range: {missing} is missing",
                fields={missing: "required"},
            )
        if start > end:
            raise EnqueueError(
                f"from {start.isoformat()} is after to {end.isoformat()}",
                fields={"from": "after to"},
            )
        if pipeline.expand_range is None:
            raise EnqueueError(
                f"pipeline {pipeline.label} does not take a range; list its partitions instead",
                fields={"from": "not supported by this pipeline"},
            )
        unknown = sorted(set(options) - set(pipeline.range_options))
        if unknown:
            takes = ", ".join(pipeline.range_options) or "none"
            raise EnqueueError(
                f"pipeline {pipeline.label} takes no range option {', '.join(unknown)} "
                f"(it takes: {takes})",
                fields={name: "unknown option" for name in unknown},
            )
        partitions = pipeline.expand_range(start, end, options)
    elif options:
        raise EnqueueError(
            "range options apply to a range (from, to), not to a list of partitions",
            fields={name: "only with from/to" for name in options},
        )
    keys: dict[str, dict[str, Any]] = {}
    for index, raw in enumerate(partitions):
        try:
            key = pipeline.canonical_partition(raw)
        except EnqueueError as exc:
            fields = {f"partitions[{index}].{name}": text for name, text in exc.fields.items()}
            raise type(exc)(f"partitions[{index}]: {exc.message}", fields=fields) from None
        keys.setdefault(canonical_json(key), key)
    return list(keys.values())


def work_items_backfill(
    *,
    domain: str,
    pipeline: str,
    actor: Actor,
    partitions: Sequence[Mapping[str, Any]] | None = None,
    start: date | None = None,
    end: date | None = None,
    options: Mapping[str, Any] | None = None,
    reprocess: Reprocess | str = Reprocess.NONE,
    priority: int | None = None,
    desired_at: datetime | None = None,
    params: Mapping[str, Any] | None = None,
    dry_run: bool = False,
    force: bool = True,
    max_items: int | None = None,
    progress: Progress | None = None,
) -> BackfillResult:
    """Enqueue ``pipeline`` for every partition of a list or a range, in one transaction.

    Bad input (unknown pipeline, bad range or key, too many partitions, a naive
    ``desired_at``) raises EnqueueError and changes nothing. ``force=False`` re-arms COMPLETE
    items (``reprocess="all"``) without the pipeline's force params, so they re-check their
    source and skip it when unchanged (the weekly scheduler's revision detection).

    The items are locked while they are classified, so the answer of a real run is exactly what
    it did; a dry run takes the same locks and rolls back. One audit event records the call with
    its arguments and counts.
    """
    try:
        mode = Reprocess(reprocess)
    except ValueError:
        choices = ", ".join(m.value for m in Reprocess)
        raise EnqueueError(
            f"reprocess must be one of {choices}, not {reprocess!r}",
            fields={"reprocess": f"one of {choices}"},
        ) from None
    if desired_at is not None and timezone.is_naive(desired_at):
        raise EnqueueError(
            "desired_at must include a time zone (e.g. 2025-12-23T10:30:00Z)",
            fields={"desired_at": "needs a time zone"},
        )
    spec = registry.get(domain, pipeline)
    keys = backfill_partitions(spec, partitions=partitions, start=start, end=end, options=options)
    if not keys:
        raise EnqueueError(
            "the range names no partition (for weekly data, it holds no week ending)",
            fields={"from": "no partition in range"},
        )
    if max_items is not None and len(keys) > max_items:
        raise TooManyPartitions(
            f"the backfill names {len(keys)} partitions; at most {max_items} per request: "
            "split the range",
            fields={"partitions": f"at most {max_items}"},
        )
    if params is not None:
        _check_params(spec, params, keys)
    result = BackfillResult(domain=domain, pipeline=pipeline, reprocess=mode, dry_run=dry_run)
    with transaction.atomic():
        for start_index in range(0, len(keys), CHUNK):
            chunk = keys[start_index : start_index + CHUNK]
            result.partitions.extend(
                _backfill_chunk(
                    spec,
                    chunk,
                    mode=mode,
                    actor=actor,
                    priority=priority,
                    desired_at=desired_at,
                    params=params,
                    dry_run=dry_run,
                    force=force,
                )
            )
            if progress is not None:
                progress(len(result.partitions), len(keys))
        if dry_run:
            transaction.set_rollback(True)
        else:
            event = audit_event(
                actor,
                "backfill",
                None,
                {
                    "domain": domain,
                    "pipeline": pipeline,
                    "from": start.isoformat() if start else None,
                    "to": end.isoformat() if end else None,
                    "options": dict(options or {}),
                    "partitions": len(keys) if partitions is not None else None,
                    "reprocess": mode.value,
                    "force": force,
                    "priority": priority,
                    "desired_at": desired_at.isoformat() if desired_at else None,
                    "counts": result.counts,
                },
            )
            event.save()
            result.audit_event_id = event.pk
    return result


def _check_params(spec: Pipeline, params: Any, keys: list[dict[str, Any]]) -> None:
    """The params every item will get, checked for each partition before anything is written.

    A check may depend on the partition (FINRA's ``tier`` must agree with it): a refusal that
    only some partitions meet names the first of them.
    """
    for index, key in enumerate(keys):
        try:
            params_check(spec, params, key)
        except EnqueueError as exc:
            if index == 0:
                raise
            raise type(exc)(
                f"{exc.message} (for partition {canonical_json(key)})", fields=exc.fields
            ) from None


def _backfill_chunk(
    spec: Pipeline,
    keys: list[dict[str, Any]],
    *,
    mode: Reprocess,
    actor: Actor,
    priority: int | None,
    desired_at: datetime | None,
    params: Mapping[str, Any] | None,
    dry_run: bool,
    force: bool,
) -> list[BackfillPartition]:
    texts = [canonical_json(key) for key in keys]
    # Locked until the transaction ends, so nobody moves an item between its classification
    # and its re-arm (and a dry run sees what a real run would do at that moment).
    existing = {
        item.partition_key_text: item
        for item in WorkItem.objects.select_for_update().filter(
            domain=spec.domain, pipeline=spec.name, partition_key__in=texts
        )
    }
    rows: list[BackfillPartition] = []
    requests: list[EnqueueRequest] = []
    for key, text in zip(keys, texts, strict=True):
        item = existing.get(text)
        state = item.state if item is not None else None
        outcome = outcome_for(state, mode)
        rows.append(
            BackfillPartition(
                partition_key=key,
                outcome=outcome,
                state=state,
                item_id=item.pk if item is not None else None,
                reason=_reason(outcome, state),
            )
        )
        if outcome in (BackfillOutcome.CREATED, BackfillOutcome.REARMED):
            item_params = dict(params) if params is not None else None
            if force and state == WorkState.COMPLETE and spec.force_params:
                # Re-running a complete partition means redoing it, not finding it unchanged.
                base = item_params if item_params is not None else dict(item.params or {})
                item_params = {**base, **spec.force_params}
            requests.append(
                EnqueueRequest(
                    domain=spec.domain,
                    pipeline=spec.name,
                    partition_key=key,
                    params=item_params,
                    priority=priority,
                    desired_at=desired_at,
                    reprocess=outcome is BackfillOutcome.REARMED,
                )
            )
    if dry_run or not requests:
        return rows
    results = work_items_enqueue(requests=requests, actor=actor, audit_each=False)
    by_key = {result.item.partition_key_text: result for result in results}
    for row in rows:
        enqueued = by_key.get(canonical_json(row.partition_key))
        if enqueued is None:
            continue
        row.item_id = enqueued.item.pk
        if enqueued.status is EnqueueStatus.EXISTING:
            # Inserted by another caller after our read: it is queued, just not by us.
            row.outcome = BackfillOutcome.ACTIVE
            row.reason = "queued by another caller meanwhile"
    return rows
