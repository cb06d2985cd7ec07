from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from finra.calendar import (
    PublicationState,
    configured_publication_state,
    publication_due_at,
    publication_state,
)
from finra.weeks import InvalidWeekEnding

NEW_YORK = ZoneInfo("America/New_York")


def test_states_have_stable_values():
    assert [state.value for state in PublicationState] == ["not_yet_due", "due", "overdue"]
    assert PublicationState.OVERDUE == "overdue"


@pytest.mark.parametrize(
    ("week_ending", "tier", "due_at"),
    [
        # Published Monday 2025-12-15, New York on EST (UTC-5): 10:00 is 15:00 UTC.
        ("2025-11-14", "OTC", datetime(2025, 12, 15, 15, 0, tzinfo=UTC)),
        # Published Tuesday 2023-05-30 (after Memorial Day), on EDT (UTC-4): 14:00 UTC.
        ("2023-05-12", "NMS_TIER_1", datetime(2023, 5, 30, 14, 0, tzinfo=UTC)),
        (date(2025, 2, 21), "T1", datetime(2025, 3, 10, 14, 0, tzinfo=UTC)),  # first EDT Monday
    ],
)
def test_due_at_is_ten_in_new_york_on_the_publication_date(week_ending, tier, due_at):
    assert publication_due_at(week_ending, tier, grace_hours=0) == due_at
    assert publication_due_at(week_ending, tier, grace_hours=6) == due_at + timedelta(hours=6)
    assert publication_due_at(week_ending, tier, grace_hours=0).tzinfo is UTC


def test_grace_is_elapsed_hours_across_a_clock_change():
    # Published Monday 2025-10-27 10:00 EDT (14:00 UTC); New York falls back on 2025-11-02.
    published = datetime(2025, 10, 27, 14, 0, tzinfo=UTC)
    assert publication_due_at("2025-09-26", "OTC", grace_hours=24 * 7) == published + timedelta(
        days=7
    )


def test_due_at_refuses_a_negative_grace_and_a_non_friday():
    with pytest.raises(ValueError, match="grace_hours must be zero or more, not -1"):
        publication_due_at("2025-11-14", "OTC", grace_hours=-1)
    with pytest.raises(InvalidWeekEnding):
        publication_due_at("2025-11-17", "OTC", grace_hours=0)


# Week ending 2025-11-14, OTC: due 2025-12-15 15:00 UTC + 6 h = 21:00 UTC.
DUE = datetime(2025, 12, 15, 21, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "has_raw", "state"),
    [
        (DUE - timedelta(days=14), False, PublicationState.NOT_YET_DUE),
        (DUE - timedelta(seconds=1), False, PublicationState.NOT_YET_DUE),
        (DUE - timedelta(seconds=1), True, PublicationState.NOT_YET_DUE),  # captured early
        (DUE, False, PublicationState.OVERDUE),
        (DUE, True, PublicationState.DUE),
        (DUE + timedelta(days=30), True, PublicationState.DUE),
        (DUE + timedelta(days=30), False, PublicationState.OVERDUE),
    ],
)
def test_publication_state(now, has_raw, state):
    assert publication_state("2025-11-14", "OTC", now=now, has_raw=has_raw, grace_hours=6) == state


def test_state_compares_moments_not_wall_clocks():
    # 16:00 in New York on 2025-12-15 (EST) is exactly the due moment.
    new_york_now = datetime(2025, 12, 15, 21, 0, tzinfo=UTC).astimezone(NEW_YORK)
    assert new_york_now.hour == 16
    state = publication_state("2025-11-14", "OTC", now=new_york_now, has_raw=False, grace_hours=6)
    assert state == PublicationState.OVERDUE


def test_tiers_fall_due_on_their_own_dates():
    # Week ending 2025-12-05: Tier 1 on Monday 2025-12-22, Tier 2 and OTC on Monday 2026-01-05.
    now = datetime(2025, 12, 23, 12, 0, tzinfo=UTC)
    states = {
        tier: publication_state("2025-12-05", tier, now=now, has_raw=False, grace_hours=6)
        for tier in ("NMS_TIER_1", "NMS_TIER_2", "OTC")
    }
    assert states == {
        "NMS_TIER_1": PublicationState.OVERDUE,
        "NMS_TIER_2": PublicationState.NOT_YET_DUE,
        "OTC": PublicationState.NOT_YET_DUE,
    }


def test_a_naive_now_is_refused():
    with pytest.raises(ValueError, match="now must be time-zone aware"):
        publication_state(
            "2025-11-14", "OTC", now=datetime(2025, 12, 16), has_raw=False, grace_hours=6
        )


def test_configured_state_reads_the_grace_from_settings(settings):
    now = datetime(2025, 12, 15, 16, 0, tzinfo=UTC)  # one hour after 10:00 in New York
    assert settings.FINRA_PUBLICATION_GRACE_HOURS == 6
    assert (
        configured_publication_state("2025-11-14", "OTC", now=now, has_raw=False)
        == PublicationState.NOT_YET_DUE
    )
    settings.FINRA_PUBLICATION_GRACE_HOURS = 0
    assert (
        configured_publication_state("2025-11-14", "OTC", now=now, has_raw=False)
        == PublicationState.OVERDUE
    )
