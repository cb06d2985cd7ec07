"""Errors the work queue raises to its callers, and the ones pipelines raise to the queue.

An error a caller may see through the API names its stable ``code`` and its ``http_status``;
the API's error handler renders it from those.
"""

from __future__ import annotations

from workqueue.states import IllegalTransition

__all__ = [
    "DependencyNotReady",
    "EnqueueError",
    "IllegalTransition",
    "InvalidParams",
    "InvalidPartitionKey",
    "NonRetryableError",
    "ParamsTooLarge",
    "UnknownPipeline",
    "WorkItemNotFound",
]


class EnqueueError(ValueError):
    """Bad enqueue input. ``code`` is stable for API clients; ``fields`` names the culprits."""

    code = "invalid_request"
    http_status = 400

    def __init__(self, message: str, *, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class UnknownPipeline(EnqueueError):
    code = "unknown_pipeline"


class InvalidPartitionKey(EnqueueError):
    code = "invalid_partition_key"


class InvalidParams(EnqueueError):
    """A param the pipeline does not declare, or a value its declaration refuses."""

    code = "invalid_params"


class ParamsTooLarge(EnqueueError):
    """Params above WORKQUEUE_MAX_PARAMS_BYTES: large inputs travel by reference (a path)."""

    code = "params_too_large"
    http_status = 413


class WorkItemNotFound(LookupError):
    code = "not_found"
    http_status = 404


class DependencyNotReady(Exception):
    """Raised by a pipeline whose upstream stage is missing.

    The item waits in RETRY_WAIT without spending an attempt; the message is shown to staff as
    the reason, so say what is awaited (stage and partition).
    """


class NonRetryableError(Exception):
    """Raised by a pipeline for a failure that another attempt cannot fix: the item fails now."""
