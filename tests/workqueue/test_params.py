"""The params contract: what a pipeline declares is what enqueue takes and what a run sees."""

from __future__ import annotations

import pytest

from tests.factories import enqueue
from workqueue.exceptions import InvalidParams
from workqueue.models import WorkItem
from workqueue.pipelines import Param, Pipeline, registry
from workqueue.runner import drain
from workqueue.services import Actor, work_item_enqueue
from workqueue.states import WorkState

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("kind", "accepted", "refused"),
    [
        (bool, [True, False], [1, 0, "true", None]),
        (int, [0, -3, 2**40], [True, 1.5, "1", None]),
        (float, [0, 1.5, -2], [False, "1.5", None]),
        (str, ["", "x"], [1, ["x"], None]),
        (list, [[], [1]], [{}, "x"]),
        (dict, [{}, {"a": 1}], [[], "x"]),
    ],
)
def test_a_param_takes_exactly_its_json_type(kind, accepted, refused):
    param = Param(kind)
    for value in accepted:
        assert param.problem(value, {}) is None, value
    for value in refused:
        assert param.problem(value, {}).startswith("must be "), value


def test_a_pipeline_that_declares_nothing_takes_any_params():
    pipeline = Pipeline(domain="d", name="p", handler=lambda c: None, partition_keys=("k",))
    pipeline.check_params({"anything": [1, {"x": None}]}, {"k": 1})


def test_a_pipeline_that_declares_no_params_takes_none():
    with pytest.raises(InvalidParams) as caught:
        enqueue(pipeline="broken", params={"rows": 1})
    assert caught.value.fields == {"params.rows": "unknown param (accepted: none)"}
    assert (
        caught.value.message
        == "params for tests.queue/broken: rows: unknown param (accepted: none)"
    )


def test_a_check_sees_the_value_and_refuses_with_its_message():
    with pytest.raises(InvalidParams) as caught:
        enqueue(pipeline="produce_first", params={"rows": 0})
    assert caught.value.fields == {"params.rows": "must be at least 1, not 0"}
    assert not WorkItem.objects.exists()


def test_forced_params_must_be_declared():
    with pytest.raises(ValueError, match="forces params it does not declare: force"):
        registry.register(
            Pipeline(
                domain="tests.queue",
                name="forcing",
                handler=lambda c: None,
                partition_keys=("week",),
                force_params={"force": True},
                params={},
            )
        )


def test_params_that_went_bad_after_enqueue_fail_the_run_without_retrying(monkeypatch):
    item = enqueue(pipeline="produce_first", params={"rows": 5})
    # The pipeline's rules changed between enqueue and run (a new release, a setting).
    pipeline = registry.get("tests.queue", "produce_first")
    monkeypatch.setitem(pipeline.params, "rows", Param(int, choices=(1, 2)))

    drain(time_budget=5)

    item.refresh_from_db()
    assert (item.state, item.attempt_count) == (WorkState.FAILED, 1)
    assert item.last_error == (
        "NonRetryableError: params are no longer valid: params for tests.queue/produce_first: "
        "rows: must be one of 1, 2, not 5"
    )


def test_params_that_still_hold_run_as_given():
    item = work_item_enqueue(
        domain="tests.queue",
        pipeline="produce_first",
        partition_key={"week": "2025-12-12"},
        params={"rows": 7},
        actor=Actor.cli(),
    ).item

    drain(time_budget=5)

    item.refresh_from_db()
    assert item.state == WorkState.COMPLETE
    assert item.executions.get().rows_written == 7
