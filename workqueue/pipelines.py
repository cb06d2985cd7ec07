"""The pipeline contract: everything a domain imports from the work queue.

The queue knows nothing of any domain: a domain app registers, from its ``AppConfig.ready``,
each pipeline by ``(domain, name)`` with the partition keys it needs, a validator that turns a
raw partition key into its canonical form, the stage it produces and the stage it depends on.
Its handler receives a :class:`PipelineContext`, returns a :class:`PipelineResult`, and raises
:class:`DependencyNotReady`, :class:`NonRetryableError` or :class:`InvalidPartitionKey` to steer
the item's outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from workqueue import manifest
from workqueue.exceptions import (
    DependencyNotReady,
    InvalidPartitionKey,
    NonRetryableError,
    UnknownPipeline,
)

if TYPE_CHECKING:
    from workqueue.models import ManifestEntry, WorkItem

__all__ = [
    "DependencyNotReady",
    "InvalidPartitionKey",
    "NonRetryableError",
    "Pipeline",
    "PipelineContext",
    "PipelineRegistry",
    "PipelineResult",
    "register_pipeline",
    "registry",
]

Handler = Callable[["PipelineContext"], "PipelineResult | None"]
#: Takes the partition key (required and optional keys present only) and returns its canonical
#: form, or raises InvalidPartitionKey naming the field.
PartitionValidator = Callable[[dict[str, Any]], dict[str, Any]]
#: Turns a range request (``start``, ``end`` dates plus domain options such as tiers) into the
#: partition keys it covers.
RangeExpander = Callable[[date, date, Mapping[str, Any]], list[dict[str, Any]]]


@dataclass(frozen=True)
class Pipeline:
    domain: str
    name: str
    handler: Handler
    partition_keys: tuple[str, ...]
    optional_keys: tuple[str, ...] = ()
    validate_partition: PartitionValidator | None = None
    produces_stage: str | None = None
    depends_on_stage: str | None = None
    description: str = ""
    #: Turns a range request (e.g. ``from``, ``to`` dates plus domain filters) into partition
    #: keys; declared by the domain so the queue stays domain-free.
    expand_range: RangeExpander | None = None
    #: The options ``expand_range`` accepts besides the dates, e.g. ``("tiers",)``.
    range_options: tuple[str, ...] = ()
    #: Params that make a re-run redo work it would otherwise skip as unchanged (e.g.
    #: ``{"force": True}``); a backfill that re-arms COMPLETE items adds them.
    force_params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.domain}/{self.name}"

    def canonical_partition(self, partition_key: Any) -> dict[str, Any]:
        """Check the keys, then let the domain validate and canonicalise the values."""
        if not isinstance(partition_key, Mapping):
            raise InvalidPartitionKey(
                "partition_key must be a JSON object",
                fields={"partition_key": "must be a JSON object"},
            )
        missing = [key for key in self.partition_keys if key not in partition_key]
        allowed = set(self.partition_keys) | set(self.optional_keys)
        unknown = sorted(key for key in partition_key if key not in allowed)
        problems: dict[str, str] = {}
        for key in missing:
            problems[key] = "required"
        for key in unknown:
            problems[key] = "unknown key"
        if problems:
            expected = ", ".join(self.partition_keys)
            if self.optional_keys:
                expected += f" (optional: {', '.join(self.optional_keys)})"
            parts = []
            if missing:
                parts.append(f"missing {', '.join(missing)}")
            if unknown:
                parts.append(f"unknown {', '.join(unknown)}")
            raise InvalidPartitionKey(
                f"partition_key for {self.label}: {'; '.join(parts)}; expected keys: {expected}",
                fields=problems,
            )
        key = dict(partition_key)
        if self.validate_partition is not None:
            key = self.validate_partition(key)
        return key


@dataclass
class PipelineRegistry:
    _pipelines: dict[tuple[str, str], Pipeline] = field(default_factory=dict)

    def register(self, pipeline: Pipeline) -> Pipeline:
        key = (pipeline.domain, pipeline.name)
        if key in self._pipelines and self._pipelines[key] != pipeline:
            raise ValueError(f"pipeline {pipeline.label} is already registered")
        known_stages = manifest.stages(pipeline.domain)
        for stage in (pipeline.produces_stage, pipeline.depends_on_stage):
            if stage is not None and stage not in known_stages:
                raise ValueError(
                    f"pipeline {pipeline.label} names stage {stage!r}, which is not registered "
                    f"for domain {pipeline.domain} (register_stages first)"
                )
        self._pipelines[key] = pipeline
        return pipeline

    def unregister(self, domain: str, name: str) -> None:
        self._pipelines.pop((domain, name), None)

    # A domain declares its stages here, beside its pipelines; the manifest keeps their order.
    def register_stages(self, domain: str, stages: Sequence[str]) -> None:
        """Stages of a domain in order; their rank (1, 2, ...) orders manifest reads."""
        manifest.register_stages(domain, stages)

    def stage_rank(self, domain: str, stage: str) -> int:
        return manifest.stage_rank(domain, stage)

    def stages(self, domain: str) -> list[str]:
        return manifest.stages(domain)

    def get(self, domain: str, name: str) -> Pipeline:
        try:
            return self._pipelines[(domain, name)]
        except KeyError:
            pass
        domains = sorted({d for d, _ in self._pipelines})
        if domain not in domains:
            raise UnknownPipeline(
                f"unknown domain {domain!r}; known domains: {', '.join(domains) or 'none'}",
                fields={"domain": "unknown domain"},
            )
        names = sorted(n for d, n in self._pipelines if d == domain)
        raise UnknownPipeline(
            f"unknown pipeline {name!r} for domain {domain}; known pipelines: {', '.join(names)}",
            fields={"pipeline": "unknown pipeline"},
        )

    def all(self) -> list[Pipeline]:
        return sorted(self._pipelines.values(), key=lambda p: (p.domain, p.name))


registry = PipelineRegistry()


def register_pipeline(
    *,
    domain: str,
    name: str,
    partition_keys: Sequence[str],
    optional_keys: Sequence[str] = (),
    validate_partition: PartitionValidator | None = None,
    produces_stage: str | None = None,
    depends_on_stage: str | None = None,
    description: str = "",
    expand_range: RangeExpander | None = None,
    range_options: Sequence[str] = (),
    force_params: Mapping[str, Any] | None = None,
) -> Callable[[Handler], Handler]:
    """Decorator: register the decorated function as the handler of a pipeline."""

    def decorator(handler: Handler) -> Handler:
        registry.register(
            Pipeline(
                domain=domain,
                name=name,
                handler=handler,
                partition_keys=tuple(partition_keys),
                optional_keys=tuple(optional_keys),
                validate_partition=validate_partition,
                produces_stage=produces_stage,
                depends_on_stage=depends_on_stage,
                description=description or (handler.__doc__ or "").strip().split("\n")[0],
                expand_range=expand_range,
                range_options=tuple(range_options),
                force_params=dict(force_params or {}),
            )
        )
        return handler

    return decorator


# --- what a handler sees and returns ----------------------------------------------------------


@dataclass
class PipelineResult:
    """What a pipeline reports back. ``skipped`` records a run that found nothing new."""

    rows_written: int | None = None
    capture_id: str | None = None
    skipped: bool = False
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class PipelineContext:
    item: WorkItem
    pipeline: Pipeline
    execution_id: int
    worker_id: str

    @property
    def partition_key(self) -> dict[str, Any]:
        return dict(self.item.partition_key)

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.item.params or {})

    @property
    def attempt(self) -> int:
        return self.item.attempt_count

    def record_stage(
        self,
        *,
        row_count: int,
        capture_id: str | None = None,
        stage: str | None = None,
        partition_key: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
    ) -> ManifestEntry:
        """Record in the manifest that a partition reached a stage, attributed to this run.

        ``stage`` defaults to the pipeline's ``produces_stage`` and ``partition_key`` to the
        item's own (a pipeline may record a finer partition, e.g. one tier of a week).
        """
        stage = stage or self.pipeline.produces_stage
        if stage is None:
            raise ValueError(f"pipeline {self.pipeline.label} declares no stage to record")
        return manifest.manifest_record(
            domain=self.item.domain,
            partition_key=partition_key or self.partition_key,
            stage=stage,
            row_count=row_count,
            capture_id=capture_id,
            execution_id=self.execution_id,
            metrics=metrics,
        )
