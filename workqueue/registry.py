"""Pipelines that domains register with the work queue.

The queue knows nothing of any domain: a domain app registers, from its ``AppConfig.ready``,
each pipeline by ``(domain, name)`` with the partition keys it needs, a validator that turns a
raw partition key into its canonical form, the stage it produces and the stage it depends on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workqueue.exceptions import InvalidPartitionKey, UnknownPipeline

if TYPE_CHECKING:
    from workqueue.runner import PipelineContext, PipelineResult

Handler = Callable[["PipelineContext"], "PipelineResult | None"]
#: Takes the partition key (required and optional keys present only) and returns its canonical
#: form, or raises InvalidPartitionKey naming the field.
PartitionValidator = Callable[[dict[str, Any]], dict[str, Any]]


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
    _stage_ranks: dict[str, dict[str, int]] = field(default_factory=dict)

    def register(self, pipeline: Pipeline) -> Pipeline:
        key = (pipeline.domain, pipeline.name)
        if key in self._pipelines and self._pipelines[key] != pipeline:
            raise ValueError(f"pipeline {pipeline.label} is already registered")
        for stage in (pipeline.produces_stage, pipeline.depends_on_stage):
            if stage is not None and stage not in self._stage_ranks.get(pipeline.domain, {}):
                raise ValueError(
                    f"pipeline {pipeline.label} names stage {stage!r}, which is not registered "
                    f"for domain {pipeline.domain} (register_stages first)"
                )
        self._pipelines[key] = pipeline
        return pipeline

    def unregister(self, domain: str, name: str) -> None:
        self._pipelines.pop((domain, name), None)

    def register_stages(self, domain: str, stages: Sequence[str]) -> None:
        """Stages of a domain in order; their rank (1, 2, ...) orders manifest reads."""
        self._stage_ranks[domain] = {stage: rank for rank, stage in enumerate(stages, start=1)}

    def stage_rank(self, domain: str, stage: str) -> int:
        try:
            return self._stage_ranks[domain][stage]
        except KeyError:
            known = ", ".join(self._stage_ranks.get(domain, {})) or "none"
            raise ValueError(
                f"unknown stage {stage!r} for domain {domain!r} (known: {known})"
            ) from None

    def stages(self, domain: str) -> list[str]:
        return list(self._stage_ranks.get(domain, {}))

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
            )
        )
        return handler

    return decorator
