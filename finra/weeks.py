"""Week arithmetic for FINRA weekly data: week endings, lookbacks and publication dates.

A FINRA week is identified by its ``week_ending``, the Friday that ends the trading week. Users
type week endings by hand (cron scripts, API payloads), so anything that is not a Friday is
refused loudly instead of being silently moved to a nearby Friday: a silently shifted week would
ingest the wrong data under the right-looking key.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from finra.tiers import Tier, canonical_tier

FRIDAY = 4  # date.weekday(): Monday is 0
MONDAY = 0

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

# FINRA publishes NMS Tier 1 about two weeks after the week ends and Tier 2 / OTC about four
# weeks after, on a Monday: 10 and 24 days after the Friday.
_PUBLICATION_DELAY_DAYS: dict[str, int] = {
    Tier.NMS_TIER_1: 10,
    Tier.NMS_TIER_2: 24,
    Tier.OTC: 24,
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
    """When FINRA should publish the week's file for the tier (its ``lastUpdateDate``).

    NMS Tier 1 appears the Monday 10 days after the week ends, Tier 2 and OTC the Monday 24
    days after; a Monday that is a market holiday moves to the next business day. Schedulers use
    this to avoid polling FINRA before data can exist.
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
    """Whether ``day`` is a full-day NYSE holiday (regular rules only, computed, no library).

    Covers New Year's Day, Martin Luther King Jr. Day, Washington's Birthday, Good Friday,
    Memorial Day, Juneteenth (from 2022), Independence Day, Labor Day, Thanksgiving and
    Christmas, with NYSE observance: a Sunday holiday moves to Monday, a Saturday holiday to
    Friday, except New Year's Day on a Saturday, which NYSE does not observe. One-off closures
    (national days of mourning, hurricanes) are not predictable and are not covered.
    """
    return day in _market_holidays(day.year)


def _market_holidays(year: int) -> frozenset[date]:
    holidays = {
        _nth_weekday(year, 1, MONDAY, 3),  # Martin Luther King Jr. Day
        _nth_weekday(year, 2, MONDAY, 3),  # Washington's Birthday (Presidents' Day)
        _easter_sunday(year) - timedelta(days=2),  # Good Friday
        _last_weekday(year, 5, MONDAY),  # Memorial Day
        _nth_weekday(year, 9, MONDAY, 1),  # Labor Day
        _nth_weekday(year, 11, 3, 4),  # Thanksgiving: fourth Thursday
        _observed(date(year, 7, 4)),
        _observed(date(year, 12, 25)),
    }
    if year >= 2022:
        holidays.add(_observed(date(year, 6, 19)))
    new_year = date(year, 1, 1)
    if new_year.weekday() != 5:  # NYSE skips New Year's Day when it falls on a Saturday
        holidays.add(_observed(new_year))
    return frozenset(holidays)


def _observed(holiday: date) -> date:
    if holiday.weekday() == 5:
        return holiday - timedelta(days=1)
    if holiday.weekday() == 6:
        return holiday + timedelta(days=1)
    return holiday


def _nth_weekday(year: int, month: int, weekday: int, nth: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (nth - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    next_month_first = date(year + month // 12, month % 12 + 1, 1)
    last = next_month_first - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _easter_sunday(year: int) -> date:
    # Anonymous Gregorian algorithm (Meeus/Jones/Butcher).
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return date(year, month, day + 1)
