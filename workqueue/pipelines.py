"""The pipeline contract: everything a domain imports from the work queue.

The queue knows nothing of any domain: a domain app registers, from its ``AppConfig.ready``,
each pipeline by ``(domain, name)`` with the partition keys it needs, a validator that turns a
raw partition key into its canonical form, the params it reads (:class:`Param`: a JSON type and
a check), the stage it produces and the stage it depends on. Its handler receives a
:class:`PipelineContext`, returns a :class:`PipelineResult`, and raises
:class:`DependencyNotReady`, :class:`NonRetryableError` or :class:`InvalidPartitionKey` to steer
the item's outcome.

Params are checked twice: when an item is enqueued (so a typo or a bad value is refused at the
door, naming the field) and again when it runs (a file removed or a setting changed since then
fails the item with :class:`NonRetryableError` instead of doing something else).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from workqueue import manifest
from workqueue.exceptions import (
    DependencyNotReady,
    InvalidParams,
    InvalidPartitionKey,
    NonRetryableError,
    UnknownPipeline,
)

if TYPE_CHECKING:
    from workqueue.models import ManifestEntry, WorkItem

__all__ = [
    "DependencyNotReady",
    "InvalidParams",
    "InvalidPartitionKey",
    "NonRetryableError",
    "Param",
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
#: Checks one param's value (already of its declared type) for the canonical partition key;
#: raises ValueError with a message saying what is wrong and what is accepted.
ParamCheck = Callable[[Any, Mapping[str, Any]], None]
#: Checks the params together (after each one passed its own check), e.g. two that exclude
#: each other; raises InvalidParams naming the fields.
ParamsCheck = Callable[[Mapping[str, Any], Mapping[str, Any]], None]

#: The JSON types a param may declare, with how a refusal reads. ``int`` excludes booleans and
#: ``float`` takes any number, as JSON does not tell 1 from 1.0.
_TYPE_NAMES: dict[type, str] = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "a JSON object",
}


@dataclass(frozen=True)
class Param:
    """One param a pipeline reads: its JSON type, the values it takes, and a check.

    ``check`` runs at enqueue and again when the item runs, so it may look at the world (a
    file, a setting) as well as the value.
    """

    type: type
    choices: tuple[Any, ...] = ()
    check: ParamCheck | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.type not in _TYPE_NAMES:
            names = ", ".join(kind.__name__ for kind in _TYPE_NAMES)
            raise ValueError(f"a param's type is one of {names}, not {self.type!r}")

    def problem(self, value: Any, partition_key: Mapping[str, Any]) -> str | None:
        """What is wrong with ``value``, or None when it is accepted."""
        if not _is_of_type(value, self.type):
            return f"must be {_TYPE_NAMES[self.type]}, not {_json_type_name(value)}"
        if self.choices and value not in self.choices:
            return f"must be one of {', '.join(map(str, self.choices))}, not {value!r}"
        if self.check is not None:
            try:
                self.check(value, partition_key)
            except ValueError as exc:
                return str(exc)
        return None


def _is_of_type(value: Any, kind: type) -> bool:
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, kind)


def _json_type_name(value: Any) -> str:
    if value is None:
        return "null"
    for kind, name in ((bool, "a boolean"), (int, "a number"), (float, "a number")):
        if isinstance(value, kind):
            return name
    return {str: "a string", list: "a list", dict: "an object"}.get(type(value), "a value")


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
    #: The params the handler reads, by name. None: not declared, any JSON object is taken
    #: (only the queue's size cap applies); ``{}``: the pipeline takes no params.
    params: Mapping[str, Param] | None = None
    #: Checks the declared params together, once each passed its own check.
    check_params_together: ParamsCheck | None = None

    @property
    def label(self) -> str:
        return f"{self.domain}/{self.name}"

    def check_params(self, params: Mapping[str, Any], partition_key: Mapping[str, Any]) -> None:
        """Refuse unknown params and bad values with InvalidParams naming each (``params.x``).

        ``partition_key`` is the canonical key (a check may compare a param with it).
        """
        if self.params is None:
            return
        problems: dict[str, str] = {}
        for name, value in params.items():
            spec = self.params.get(name)
            if spec is None:
                accepted = ", ".join(sorted(self.params)) or "none"
                problems[name] = f"unknown param (accepted: {accepted})"
                continue
            problem = spec.problem(value, partition_key)
            if problem is not None:
                problems[name] = problem
        if problems:
            raise InvalidParams(
                f"params for {self.label}: "
                + "; ".join(f"{name}: {text}" for name, text in problems.items()),
                fields={f"params.{name}": text for name, text in problems.items()},
            )
        if self.check_params_together is not None:
            self.check_params_together(params, partition_key)

    def run(self, context: PipelineContext) -> PipelineResult | None:
        """Check the item's params again, then run the handler.

        A param accepted at enqueue may no longer be (its file removed, a host taken off the
        allowed list): another attempt cannot fix that, so the item fails now, saying why.
        """
        try:
            self.check_params(context.params, context.partition_key)
        except InvalidParams as exc:
            raise NonRetryableError(f"params are no longer valid: {exc.message}") from None
        return self.handler(context)

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
        if pipeline.params is not None:
            undeclared = sorted(set(pipeline.force_params) - set(pipeline.params))
            if undeclared:
                raise ValueError(
                    f"pipeline {pipeline.label} forces params it does not declare: "
                    f"{', '.join(undeclared)}"
                )
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
    params: Mapping[str, Param] | None = None,
    check_params_together: ParamsCheck | None = None,
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
                params=None if params is None else dict(params),
                check_params_together=check_params_together,
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
