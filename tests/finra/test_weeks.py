from __future__ import annotations

from datetime import date, datetime

import pytest

from finra.tiers import TIERS, UnknownTierError, api_tier_identifier, canonical_tier
from finra.weeks import (
    InvalidWeekEnding,
    expected_publication_date,
    fridays_between,
    is_business_day,
    is_market_holiday,
    last_completed_week_ending,
    lookback_week_endings,
    parse_week_ending,
    week_start,
)


def test_parse_week_ending_accepts_a_friday_string_and_date():
    assert parse_week_ending("2025-12-12") == date(2025, 12, 12)
    assert parse_week_ending(" 2025-12-12 ") == date(2025, 12, 12)
    assert parse_week_ending(date(2025, 12, 12)) == date(2025, 12, 12)


def test_parse_week_ending_names_the_weekday_of_a_non_friday():
    with pytest.raises(InvalidWeekEnding) as excinfo:
        parse_week_ending("2025-12-22")
    assert str(excinfo.value) == (
        "week_ending 2025-12-22 is a Monday; it must be a Friday (the last trading day of the week)"
    )


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("2025-12-13", "is a Saturday"),
        (date(2025, 12, 11), "is a Thursday"),
        ("12/12/2025", "is not an ISO date"),
        ("20251212", "is not an ISO date"),
        ("2025-02-30", "is not a valid date"),
        ("", "is not an ISO date"),
        (datetime(2025, 12, 12, 16, 0), "is a datetime"),
        (20251212, "must be a date or an ISO date string"),
    ],
)
def test_parse_week_ending_rejects_bad_values(value, fragment):
    with pytest.raises(InvalidWeekEnding, match=fragment):
        parse_week_ending(value)


def test_invalid_week_ending_is_a_value_error():
    assert issubclass(InvalidWeekEnding, ValueError)


def test_week_start_is_the_monday():
    assert week_start("2025-12-12") == date(2025, 12, 8)
    with pytest.raises(InvalidWeekEnding):
        week_start("2025-12-11")


def test_fridays_between_is_inclusive_and_ordered():
    assert fridays_between(date(2025, 12, 1), date(2025, 12, 19)) == [
        date(2025, 12, 5),
        date(2025, 12, 12),
        date(2025, 12, 19),
    ]
    assert fridays_between(date(2025, 12, 12), date(2025, 12, 12)) == [date(2025, 12, 12)]
    assert fridays_between(date(2025, 12, 13), date(2025, 12, 18)) == []
    assert fridays_between(date(2025, 12, 19), date(2025, 12, 1)) == []


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2025, 12, 15), date(2025, 12, 12)),  # Monday: three days back
        (date(2025, 12, 19), date(2025, 12, 12)),  # Friday: that week is still trading
        (date(2025, 12, 20), date(2025, 12, 19)),  # Saturday: yesterday
        (date(2025, 12, 18), date(2025, 12, 12)),  # Thursday
    ],
)
def test_last_completed_week_ending(today, expected):
    assert last_completed_week_ending(today) == expected


def test_lookback_week_endings_oldest_first():
    assert lookback_week_endings(date(2025, 12, 15), 3) == [
        date(2025, 11, 28),
        date(2025, 12, 5),
        date(2025, 12, 12),
    ]
    assert lookback_week_endings(date(2025, 12, 15), 0) == []
    with pytest.raises(ValueError):
        lookback_week_endings(date(2025, 12, 15), -1)


@pytest.mark.parametrize(
    ("week_ending", "tier", "published"),
    [
        # FINRA's API: week of Monday 2023-05-08, initialPublishedDate 2023-05-30 (Tier 1). The
        # Monday, 2023-05-12 + 17 days, is Memorial Day.
        ("2023-05-12", "NMS_TIER_1", date(2023, 5, 30)),
        # The real OTC file with lastUpdateDate 2025-12-15 holds the week ending 2025-11-14.
        ("2025-11-14", "OTC", date(2025, 12, 15)),
        # Plain weeks: Friday + 17 days (Tier 1), + 31 days (Tier 2 and OTC), both Mondays.
        ("2025-12-05", "NMS_TIER_1", date(2025, 12, 22)),
        ("2025-12-12", "T1", date(2025, 12, 29)),
        ("2025-11-28", "NMS_TIER_2", date(2025, 12, 29)),
        (date(2025, 12, 12), "OTCE", date(2026, 1, 12)),
        ("2025-12-12", "T2", date(2026, 1, 12)),
        # Christmas Day and New Year's Day on the Monday: the Tuesday.
        ("2023-12-08", "NMS_TIER_1", date(2023, 12, 26)),
        ("2023-12-15", "NMS_TIER_1", date(2024, 1, 2)),
        ("2023-11-24", "NMS_TIER_2", date(2023, 12, 26)),
        ("2023-12-01", "OTC", date(2024, 1, 2)),
        # Martin Luther King Jr. Day and Labor Day.
        ("2025-12-19", "NMS_TIER_2", date(2026, 1, 20)),
        ("2025-08-15", "NMS_TIER_1", date(2025, 9, 2)),
    ],
)
def test_expected_publication_date(week_ending, tier, published):
    assert expected_publication_date(week_ending, tier) == published


def test_publication_date_refuses_a_non_friday():
    with pytest.raises(InvalidWeekEnding):
        expected_publication_date("2025-12-15", "OTC")


@pytest.mark.parametrize(
    ("day", "holiday"),
    [
        (date(2025, 1, 1), True),  # New Year's Day
        (date(2022, 12, 30), False),  # New Year's Day 2023 is a Sunday: not moved to Friday
        (date(2023, 1, 2), True),  # ...it is observed on Monday
        (date(2021, 12, 31), False),  # New Year's Day 2022 is a Saturday: not observed
        (date(2025, 1, 20), True),  # MLK day
        (date(2025, 2, 17), True),  # Washington's Birthday
        (date(2025, 4, 18), True),  # Good Friday
        (date(2025, 5, 26), True),  # Memorial Day
        (date(2025, 6, 19), True),  # Juneteenth
        (date(2021, 6, 18), False),  # before Juneteenth became an NYSE holiday
        (date(2026, 7, 3), True),  # Independence Day 2026 is a Saturday: observed Friday
        (date(2025, 9, 1), True),  # Labor Day
        (date(2025, 11, 27), True),  # Thanksgiving
        (date(2022, 12, 26), True),  # Christmas on a Sunday: observed Monday
        (date(2025, 12, 22), False),
        (date(2025, 1, 9), True),  # National Day of Mourning for former President Jimmy Carter
        (date(2025, 1, 8), False),
        (date(2018, 12, 5), True),  # National Day of Mourning for George H. W. Bush
        (date(2012, 10, 29), True),  # Hurricane Sandy
    ],
)
def test_market_holidays(day, holiday):
    assert is_market_holiday(day) is holiday


def test_business_days_skip_weekends_and_closures():
    assert is_business_day(date(2025, 1, 8)) is True
    assert is_business_day(date(2025, 1, 9)) is False  # a one-off closure on a Thursday
    assert is_business_day(date(2025, 1, 11)) is False  # Saturday
    assert is_business_day(date(2025, 5, 26)) is False  # Memorial Day


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("NMS Tier 1", "NMS_TIER_1"),
        ("T1", "NMS_TIER_1"),
        ("nms_tier_1", "NMS_TIER_1"),
        ("NMS Tier 2", "NMS_TIER_2"),
        ("T2", "NMS_TIER_2"),
        ("OTC", "OTC"),
        ("OTCE", "OTC"),
    ],
)
def test_canonical_tier_accepts_finra_spellings(spelling, canonical):
    assert canonical_tier(spelling) == canonical


def test_unknown_tier_lists_the_accepted_spellings():
    with pytest.raises(UnknownTierError) as excinfo:
        canonical_tier("Tier 3")
    message = str(excinfo.value)
    assert "unknown tier 'Tier 3'" in message
    assert "'NMS Tier 1'" in message and "OTCE" in message
    assert isinstance(excinfo.value, ValueError)


def test_api_identifiers_and_canonical_order():
    assert [api_tier_identifier(tier) for tier in TIERS] == ["T1", "T2", "OTCE"]
    assert api_tier_identifier("NMS Tier 2") == "T2"
    assert TIERS == ("NMS_TIER_1", "NMS_TIER_2", "OTC")
