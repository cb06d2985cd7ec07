"""Whether FINRA's file for a (week, tier) is due yet, and whether it is overdue.

FINRA publishes on its publication date (:func:`finra.weeks.expected_publication_date`) at about
10:00 in New York. A week is due once that moment plus a grace period has passed, and overdue
when it is due and no complete RAW capture exists. Schedulers use the due moment to stop polling
too early; gap reports use the state to tell late data from data that cannot exist yet.

Everything here is pure: callers pass ``now`` and whether a RAW capture exists, so the rule is
tested without a database or a clock. :func:`configured_publication_state` is the one place that
reads the grace period from the settings.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from django.conf import settings

from finra.weeks import expected_publication_date

PUBLICATION_TIME_ZONE = ZoneInfo("America/New_York")
PUBLICATION_TIME = time(10, 0)


class PublicationState(StrEnum):
    NOT_YET_DUE = "not_yet_due"
    DUE = "due"
    OVERDUE = "overdue"


def publication_due_at(week_ending: str | date, tier: str, *, grace_hours: int) -> datetime:
    """The UTC moment from which the week's file for the tier is due.

    10:00 America/New_York on the publication date (14:00 UTC under daylight saving time, 15:00
    UTC otherwise), plus ``grace_hours`` of elapsed time.
    """
    if grace_hours < 0:
        raise ValueError(f"grace_hours must be zero or more, not {grace_hours}")
    published = datetime.combine(
        expected_publication_date(week_ending, tier), PUBLICATION_TIME, PUBLICATION_TIME_ZONE
    )
    # Converted before adding, so the grace is elapsed hours even across a clock change.
    return published.astimezone(UTC) + timedelta(hours=grace_hours)


def publication_state(
    week_ending: str | date, tier: str, *, now: datetime, has_raw: bool, grace_hours: int
) -> PublicationState:
    """NOT_YET_DUE before :func:`publication_due_at`; from then on DUE, or OVERDUE without RAW.

    ``has_raw`` says whether a complete RAW capture of the week and tier exists. Before the due
    moment it does not matter: a capture taken early (FINRA publishing ahead of time) leaves the
    week NOT_YET_DUE. ``now`` must be time-zone aware.
    """
    if now.utcoffset() is None:
        raise ValueError(f"now must be time-zone aware, not naive {now.isoformat()}")
    if now < publication_due_at(week_ending, tier, grace_hours=grace_hours):
        return PublicationState.NOT_YET_DUE
    return PublicationState.DUE if has_raw else PublicationState.OVERDUE


def configured_publication_state(
    week_ending: str | date, tier: str, *, now: datetime, has_raw: bool
) -> PublicationState:
    """:func:`publication_state` with the grace period of ``FINRA_PUBLICATION_GRACE_HOURS``."""
    return publication_state(
        week_ending,
        tier,
        now=now,
        has_raw=has_raw,
        grace_hours=settings.FINRA_PUBLICATION_GRACE_HOURS,
    )
