"""The work item state machine, in one place.

Every change of state, whether made on one model instance or by a bulk conditional UPDATE, asks
this module which source states the event may start from. Nothing else decides it.
"""

from __future__ import annotations

import enum

from django.db import models


class WorkState(models.TextChoices):
    PENDING = "PENDING", "Pending"
    RUNNING = "RUNNING", "Running"
    RETRY_WAIT = "RETRY_WAIT", "Waiting to retry"
    COMPLETE = "COMPLETE", "Complete"
    FAILED = "FAILED", "Failed"
    CANCELLED = "CANCELLED", "Cancelled"


#: Items that still have work ahead of them: enqueueing the same partition returns them as is.
ACTIVE_STATES = frozenset({WorkState.PENDING, WorkState.RUNNING, WorkState.RETRY_WAIT})
#: Items that have stopped: only an explicit retry or reprocess re-arms them.
FINISHED_STATES = frozenset({WorkState.COMPLETE, WorkState.FAILED, WorkState.CANCELLED})


class Event(enum.Enum):
    CLAIM = "claim"
    SUCCEED = "succeed"
    FAIL_RETRYABLE = "fail_retryable"
    FAIL_FINAL = "fail_final"
    WAIT_FOR_DEPENDENCY = "wait_for_dependency"
    CANCEL = "cancel"
    RETRY = "retry"
    REPROCESS = "reprocess"
    RELEASE = "release"

    @property
    def verb(self) -> str:
        return _WORDING[self][0]

    @property
    def past(self) -> str:
        return _WORDING[self][1]


# (verb, past participle) for refusal messages
_WORDING = {
    Event.CLAIM: ("claim", "claimed"),
    Event.SUCCEED: ("complete", "completed"),
    Event.FAIL_RETRYABLE: ("fail", "failed"),
    Event.FAIL_FINAL: ("fail", "failed"),
    Event.WAIT_FOR_DEPENDENCY: ("reschedule", "rescheduled"),
    Event.CANCEL: ("cancel", "cancelled"),
    Event.RETRY: ("retry", "retried"),
    Event.REPROCESS: ("reprocess", "reprocessed"),
    Event.RELEASE: ("release", "released"),
}

# event -> (states it may start from, state it leads to)
TRANSITIONS: dict[Event, tuple[frozenset[WorkState], WorkState]] = {
    # RETRY_WAIT items are claimed directly once next_attempt_at has passed: the RETRY_WAIT ->
    # PENDING step and the claim happen in the same statement.
    Event.CLAIM: (frozenset({WorkState.PENDING, WorkState.RETRY_WAIT}), WorkState.RUNNING),
    Event.SUCCEED: (frozenset({WorkState.RUNNING}), WorkState.COMPLETE),
    Event.FAIL_RETRYABLE: (frozenset({WorkState.RUNNING}), WorkState.RETRY_WAIT),
    Event.FAIL_FINAL: (frozenset({WorkState.RUNNING}), WorkState.FAILED),
    Event.WAIT_FOR_DEPENDENCY: (frozenset({WorkState.RUNNING}), WorkState.RETRY_WAIT),
    Event.CANCEL: (frozenset({WorkState.PENDING, WorkState.RETRY_WAIT}), WorkState.CANCELLED),
    Event.RETRY: (frozenset({WorkState.FAILED, WorkState.CANCELLED}), WorkState.PENDING),
    Event.REPROCESS: (FINISHED_STATES, WorkState.PENDING),
    # A stopping worker hands back the items it claimed but did not start (no attempt spent).
    Event.RELEASE: (frozenset({WorkState.RUNNING}), WorkState.PENDING),
}


class IllegalTransition(Exception):
    """Raised when an event is not allowed from an item's current state; nothing is changed."""

    code = "illegal_transition"
    http_status = 409

    def __init__(self, *, event: Event, current: str, item_label: str) -> None:
        sources = " or ".join(sorted(s.value for s in TRANSITIONS[event][0]))
        self.event = event
        self.current = current
        super().__init__(
            f"cannot {event.verb} work item {item_label}: it is {current}, and only "
            f"{sources} items can be {event.past}"
        )


def sources_of(event: Event) -> frozenset[WorkState]:
    return TRANSITIONS[event][0]


def target_of(event: Event) -> WorkState:
    return TRANSITIONS[event][1]


def can(event: Event, current: str) -> bool:
    return current in TRANSITIONS[event][0]
