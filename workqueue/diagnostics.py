"""Built-in pipelines for checking the workers themselves (domain ``workqueue.diagnostics``).

``noop`` proves a worker claims and completes items; ``sleep`` holds an item long enough to
watch leases and heartbeats; ``fail`` exercises retries and backoff. Each partition is keyed by
an arbitrary ``n`` so many distinct items can be queued.
"""

from __future__ import annotations

import time
from typing import Any

from workqueue.pipelines import (
    InvalidPartitionKey,
    Param,
    PipelineContext,
    PipelineResult,
    register_pipeline,
)

DOMAIN = "workqueue.diagnostics"


def _validate_n(key: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(key["n"], int) or isinstance(key["n"], bool):
        raise InvalidPartitionKey("n must be an integer", fields={"n": "must be an integer"})
    return key


def _not_negative(value: float, partition_key: dict[str, Any]) -> None:
    if value < 0:
        raise ValueError(f"must be 0 or more, not {value}")


@register_pipeline(
    domain=DOMAIN, name="noop", partition_keys=["n"], validate_partition=_validate_n, params={}
)
def noop(context: PipelineContext) -> PipelineResult:
    """Does nothing: measures the queue's own overhead."""
    return PipelineResult(rows_written=0)


@register_pipeline(
    domain=DOMAIN,
    name="sleep",
    partition_keys=["n"],
    validate_partition=_validate_n,
    params={"seconds": Param(float, check=_not_negative)},
)
def sleep(context: PipelineContext) -> PipelineResult:
    """Sleeps for params.seconds (default 1): holds an item while leases are watched."""
    time.sleep(float(context.params.get("seconds", 1)))
    return PipelineResult(rows_written=0)


@register_pipeline(
    domain=DOMAIN,
    name="fail",
    partition_keys=["n"],
    validate_partition=_validate_n,
    params={"message": Param(str)},
)
def fail(context: PipelineContext) -> PipelineResult:
    """Raises an error with params.message: exercises retries, backoff and FAILED."""
    raise RuntimeError(context.params.get("message", "diagnostic failure"))
