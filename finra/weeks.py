"""Week arithmetic for FINRA weekly data: week endings, lookbacks and publication dates.

A FINRA week is identified by its ``week_ending``, the Friday that ends the trading week. Users
type week endings by hand (cron scripts, API payloads), so anything that is not a Friday is
refused loudly instead of being silently moved to a nearby Friday: a silently shifted week would
ingest the wrong data under the right-looking key.
"""

from __future__ import annotations

import functools
import re
from datetime import date, datetime, timedelta

import holidays

from finra.tiers import Tier, canonical_tier

FRIDAY = 4  # date.weekday(): Monday is 0

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

# From the Friday to the first Monday after FINRA's two-week (Tier 1) or four-week (Tier 2, OTC)
# embargo: Friday + 14 days is a Friday, the Monday after is 3 days on.
_PUBLICATION_DELAY_DAYS: dict[str, int] = {
    Tier.NMS_TIER_1: 17,
    Tier.NMS_TIER_2: 31,
    Tier.OTC: 31,
}


class InvalidWeekEnding(ValueError):
    """A week_ending that is not an ISO date or not a Friday."""


def parse_week_ending(value: str | date) -> date:
    """Return the week ending as a date, refusing anything but a Friday.

    Accepts a ``date`` or a strict ISO ``YYYY-MM-DD`` string. A ``datetime`` is refused because
    its time zone would decide which calendar day is meant, and that must be explicit.
    """
    if isinstance(value, datetime):
        raise InvalidWeekEnding(
            f"week_ending {value.isoformat()} is a datetime; pass a date (YYYY-MM-DD)"
        )
    if isinstance(value, date):
        week_ending = value
    elif isinstance(value, str):
        text = value.strip()
        if not _ISO_DATE.fullmatch(text):
            raise InvalidWeekEnding(
                f"week_ending {value!r} is not an ISO date (expected YYYY-MM-DD, e.g. 2025-12-12)"
            )
        try:
            week_ending = date.fromisoformat(text)
        except ValueError as exc:
            raise InvalidWeekEnding(f"week_ending {value!r} is not a valid date: {exc}") from None
    else:
        raise InvalidWeekEnding(
            f"week_ending must be a date or an ISO date string, not {type(value).__name__}"
        )
    if week_ending.weekday() != FRIDAY:
        raise InvalidWeekEnding(
            f"week_ending {week_ending.isoformat()} is a {week_ending.strftime('%A')}; "
            "it must be a Friday (the last trading day of the week)"
        )
    return week_ending


def week_start(week_ending: str | date) -> date:
    """The Monday of the week; the FINRA Query API filters on it (``weekStartDate``)."""
    return parse_week_ending(week_ending) - timedelta(days=4)


def fridays_between(start: date, end: date) -> list[date]:
    """All Fridays from ``start`` to ``end``, both inclusive, oldest first.

    Backfills take arbitrary calendar bounds ("--start 2025-01-01 --end 2025-03-31"), so the
    bounds need not be Fridays themselves. An empty list when ``start`` is after ``end``.
    """
    first_friday = start + timedelta(days=(FRIDAY - start.weekday()) % 7)
    count = (end - first_friday).days // 7 + 1
    return [first_friday + timedelta(weeks=offset) for offset in range(max(count, 0))]


def last_completed_week_ending(today: date) -> date:
    """The most recent Friday strictly before ``today``.

    On a Friday the week is still trading, so the answer is the Friday a week earlier; on a
    Monday it is the Friday three days earlier; on a Saturday it is yesterday.
    """
    days_back = (today.weekday() - FRIDAY) % 7 or 7
    return today - timedelta(days=days_back)


def lookback_week_endings(today: date, weeks: int) -> list[date]:
    """The last ``weeks`` completed week endings before ``today``, oldest first.

    Oldest first because schedulers enqueue in that order and revisions of earlier weeks
    should land before the newer weeks that build on them.
    """
    if weeks < 0:
        raise ValueError(f"weeks must be zero or more, not {weeks}")
    newest = last_completed_week_ending(today)
    return [newest - timedelta(weeks=offset) for offset in range(weeks - 1, -1, -1)]


def expected_publication_date(week_ending: str | date, tier: str) -> date:
    """When FINRA first publishes the week's file for the tier (its ``lastUpdateDate``).

    FINRA publishes NMS Tier 1 no earlier than two weeks after the week ends and Tier 2 and OTC
    no earlier than four weeks after, on the first Monday after that: the Friday plus 17 or 31
    days. A Monday that is a market holiday moves to the next business day (week ending
    2023-05-12, Tier 1: Tuesday 2023-05-30, after Memorial Day). Schedulers use this to avoid
    polling FINRA before data can exist.
    """
    friday = parse_week_ending(week_ending)
    publication = friday + timedelta(days=_PUBLICATION_DELAY_DAYS[canonical_tier(tier)])
    while not is_business_day(publication):
        publication += timedelta(days=1)
    return publication


def is_business_day(day: date) -> bool:
    """A weekday on which the US equity markets are open."""
    return day.weekday() < 5 and not is_market_holiday(day)


def is_market_holiday(day: date) -> bool:
    """Whether ``day`` is a full-day NYSE closure.

    The regular holidays with NYSE's observance rules, and the one-off closures the ``holidays``
    package records (the National Day of Mourning of 2025-01-09, for instance).
    """
    return day in _nyse_holidays(day.year)


@functools.cache
def _nyse_holidays(year: int) -> frozenset[date]:
    # A frozen copy per year rather than one shared, self-expanding holidays object: that object
    # marks a year as loaded before it has filled it in, so a thread reading at the same moment
    # could see the year without its holidays.
    return frozenset(holidays.financial_holidays("NYSE", years=year))
