"""Pipelines used by the tests (domain ``tests.queue``), also loadable in qcluster subprocesses
through WORKQUEUE_PIPELINE_MODULES=tests.pipelines."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from django.db import connection

from workqueue.pipelines import (
    NonRetryableError,
    Param,
    PipelineContext,
    PipelineResult,
    register_pipeline,
    registry,
)
from workqueue.shutdown import request_stop

DOMAIN = "tests.queue"
registry.register_stages(DOMAIN, ["FIRST", "SECOND"])


def _positive(value: int, partition_key: Mapping[str, Any]) -> None:
    if value < 1:
        raise ValueError(f"must be at least 1, not {value}")


def _not_negative(value: float, partition_key: Mapping[str, Any]) -> None:
    if value < 0:
        raise ValueError(f"must not be negative, not {value}")


@register_pipeline(
    domain=DOMAIN,
    name="produce_first",
    partition_keys=["week"],
    produces_stage="FIRST",
    params={"rows": Param(int, check=_positive)},
)
def produce_first(context: PipelineContext) -> PipelineResult:
    rows = int(context.params.get("rows", 10))
    context.record_stage(row_count=rows, capture_id=f"cap:{context.partition_key['week']}")
    return PipelineResult(rows_written=rows, capture_id=f"cap:{context.partition_key['week']}")


@register_pipeline(
    domain=DOMAIN,
    name="needs_first",
    partition_keys=["week"],
    produces_stage="SECOND",
    depends_on_stage="FIRST",
    params={},
)
def needs_first(context: PipelineContext) -> PipelineResult:
    context.record_stage(row_count=1)
    return PipelineResult(rows_written=1)


@register_pipeline(
    domain=DOMAIN,
    name="flaky",
    partition_keys=["week"],
    params={"succeed_on": Param(int, check=_positive)},
)
def flaky(context: PipelineContext) -> PipelineResult:
    """Fails until the attempt named by params.succeed_on (never, by default)."""
    succeed_on = context.params.get("succeed_on")
    if succeed_on is None or context.attempt < succeed_on:
        raise RuntimeError(f"HTTP 503: upstream unavailable (attempt {context.attempt})")
    return PipelineResult(rows_written=5)


@register_pipeline(domain=DOMAIN, name="broken", partition_keys=["week"], params={})
def broken(context: PipelineContext) -> PipelineResult:
    raise NonRetryableError("file is not UTF-8")


@register_pipeline(domain=DOMAIN, name="skipper", partition_keys=["week"], params={})
def skipper(context: PipelineContext) -> PipelineResult:
    return PipelineResult(skipped=True, message="same content as the latest capture")


def _weekly_lanes(start: date, end: date, options: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One partition per 7 days from ``start`` to ``end``, per lane (default x and y)."""
    lanes = options.get("lanes") or ["x", "y"]
    days = range(0, (end - start).days + 1, 7)
    return [
        {"week": (start + timedelta(days=d)).isoformat(), "lane": lane}
        for d in days
        for lane in lanes
    ]


@register_pipeline(
    domain=DOMAIN,
    name="ranged",
    partition_keys=["week", "lane"],
    expand_range=_weekly_lanes,
    range_options=["lanes"],
    force_params={"force": True},
    params={"force": Param(bool)},
)
def ranged(context: PipelineContext) -> PipelineResult:
    return PipelineResult(rows_written=1)


@register_pipeline(domain=DOMAIN, name="stops_cluster", partition_keys=["week"], params={})
def stops_cluster(context: PipelineContext) -> PipelineResult:
    """Asks the cluster to stop while it runs, as a SIGTERM arriving mid-item would."""
    request_stop()
    return PipelineResult(rows_written=1)


@register_pipeline(
    domain=DOMAIN,
    name="sql_sleep",
    partition_keys=["week"],
    params={"seconds": Param(float, check=_not_negative)},
)
def sql_sleep(context: PipelineContext) -> PipelineResult:
    """Holds one SQL statement for params.seconds (PostgreSQL's pg_sleep): a long query that
    keeps the worker's main thread, and its database connection, busy throughout."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [float(context.params.get("seconds", 1))])
    return PipelineResult(rows_written=0)
