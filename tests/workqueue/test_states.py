from __future__ import annotations

import pytest

from workqueue.states import TRANSITIONS, Event, IllegalTransition, WorkState, can

S = WorkState

EXPECTED = {
    Event.CLAIM: ({S.PENDING, S.RETRY_WAIT}, S.RUNNING),
    Event.SUCCEED: ({S.RUNNING}, S.COMPLETE),
    Event.FAIL_RETRYABLE: ({S.RUNNING}, S.RETRY_WAIT),
    Event.FAIL_FINAL: ({S.RUNNING}, S.FAILED),
    Event.WAIT_FOR_DEPENDENCY: ({S.RUNNING}, S.RETRY_WAIT),
    Event.CANCEL: ({S.PENDING, S.RETRY_WAIT}, S.CANCELLED),
    Event.RETRY: ({S.FAILED, S.CANCELLED}, S.PENDING),
    Event.REPROCESS: ({S.COMPLETE, S.FAILED, S.CANCELLED}, S.PENDING),
    # a stopping worker hands back what it claimed and never started
    Event.RELEASE: ({S.RUNNING}, S.PENDING),
}


def test_transition_table_is_the_design_state_machine():
    assert {event: (set(src), dst) for event, (src, dst) in TRANSITIONS.items()} == EXPECTED


@pytest.mark.parametrize("event", list(Event))
@pytest.mark.parametrize("state", list(WorkState))
def test_every_state_event_pair_is_allowed_or_refused(event, state):
    assert can(event, state) == (state in EXPECTED[event][0])


def test_refusal_message_says_what_and_why():
    error = IllegalTransition(event=Event.CANCEL, current="RUNNING", item_label="#5")
    assert str(error) == (
        "cannot cancel work item #5: it is RUNNING, and only PENDING or RETRY_WAIT items can be "
        "cancelled"
    )
