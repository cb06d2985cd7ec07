from __future__ import annotations

import json
from datetime import date

import pytest

from finra.parsing import parse_weekly_file
from finra.sources import NotPublishedYet, SourceError, SourceRefused, finra_api
from finra.sources.finra_api import fetch_weekly_summary, records_to_weekly_file
from tests.finra.fake_finra import (
    ANSWER_NORMALLY,
    WEEKLY_SUMMARY_PATH,
    FakeFinraApi,
    Reply,
    weekly_summary_records,
)

WEEK_ENDING = date(2025, 12, 12)
HEADER = (
    "tierDescription|issueSymbolIdentifier|issueName|marketParticipantName|MPID|"
    "totalWeeklyShareQuantity|totalWeeklyTradeCount|lastUpdateDate"
)


@pytest.fixture(autouse=True)
def _api_settings(settings):
    settings.FINRA_API_PAGE_SIZE = 100
    settings.FINRA_API_MAX_RETRIES = 3
    settings.FINRA_API_BACKOFF_SECONDS = 0.01
    settings.FINRA_DOWNLOAD_TIMEOUT_SECONDS = 0.5


@pytest.fixture
def api(settings):
    """A fake Query API holding 250 Tier 1 records for the week, plus other weeks and tiers."""
    records = (
        weekly_summary_records(250, week_ending=WEEK_ENDING, tier="NMS_TIER_1")
        + weekly_summary_records(7, week_ending=WEEK_ENDING, tier="NMS_TIER_2")
        + weekly_summary_records(9, week_ending=date(2025, 12, 5), tier="NMS_TIER_1")
    )
    with FakeFinraApi(records) as running:
        settings.FINRA_API_BASE_URL = running.base_url
        yield running


class SleepRecorder:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def fetch(tier: str = "NMS_TIER_1", **kwargs):
    return fetch_weekly_summary(week_ending=WEEK_ENDING, tier=tier, **kwargs)


def test_pages_through_every_record_and_writes_the_weekly_file_layout(api):
    content = fetch()

    assert (
        content.origin == "api:otcMarket/weeklySummary weekStartDate=2025-12-08 tierIdentifier=T1"
    )
    lines = content.data.decode("utf-8").split("\n")
    assert lines[0] == HEADER
    assert lines[1] == (
        "NMS Tier 1|AAPL|Apple Inc. Common Stock|UBS Securities LLC|UBSA|1000|10|2025-12-29"
    )
    assert lines[-1] == ""  # a final newline
    assert len(lines) == 1 + 250 + 1
    parsed = parse_weekly_file(content.data, week_ending=WEEK_ENDING, tier="NMS_TIER_1")
    assert parsed.row_count == 250
    assert parsed.rejects == []
    assert parsed.source_last_update_date == date(2025, 12, 29)
    de_minimis = parsed.frame[parsed.frame.participant_name == "De Minimis Firms"]
    assert len(de_minimis) > 0
    assert set(de_minimis.mpid) == {""}
    assert set(parsed.frame.symbol) == {"AAPL", "BRK.B", "KKR$D", "SPY", "MSFT"}


def test_sends_the_documented_query(api):
    fetch()

    assert [(r.method, r.path) for r in api.requests] == [("POST", WEEKLY_SUMMARY_PATH)] * 3
    assert all(r.headers["Accept"] == "application/json" for r in api.requests)
    assert all(r.headers["Content-Type"] == "application/json" for r in api.requests)
    filters = [
        {"compareType": "EQUAL", "fieldName": "weekStartDate", "fieldValue": "2025-12-08"},
        {"compareType": "EQUAL", "fieldName": "tierIdentifier", "fieldValue": "T1"},
        {"compareType": "EQUAL", "fieldName": "summaryTypeCode", "fieldValue": "ATS_W_SMBL_FIRM"},
    ]
    assert api.page_requests() == [
        {"limit": 100, "offset": 0, "compareFilters": filters},
        {"limit": 100, "offset": 100, "compareFilters": filters},
        {"limit": 100, "offset": 200, "compareFilters": filters},
    ]


def test_tier_spellings_map_to_the_api_identifier(api):
    content = fetch(tier="nms tier 2")

    assert content.origin.endswith("tierIdentifier=T2")
    assert api.page_requests()[0]["compareFilters"][1]["fieldValue"] == "T2"
    parsed = parse_weekly_file(content.data, week_ending=WEEK_ENDING, tier="NMS_TIER_2")
    assert parsed.row_count == 7


def test_page_size_is_capped_at_finra_maximum(api, settings):
    settings.FINRA_API_PAGE_SIZE = 20_000

    content = fetch()

    assert [body["limit"] for body in api.page_requests()] == [5000]
    assert content.data.count(b"\n") == 251


def test_exact_multiple_of_the_page_size_stops_at_the_total(api, settings):
    settings.FINRA_API_PAGE_SIZE = 125

    fetch()

    assert [body["offset"] for body in api.page_requests()] == [0, 125]


def test_nothing_published_is_not_published_yet(api):
    api.records = []

    with pytest.raises(NotPublishedYet) as error:
        fetch()

    assert str(error.value) == (
        "FINRA has not published weekly summary for week starting 2025-12-08, tier T1 yet"
    )
    assert len(api.requests) == 1


def test_an_empty_page_with_a_zero_total_is_not_published_yet(api):
    api.script = [Reply(body=b"[]", headers={"Record-Total": "0"})]

    with pytest.raises(NotPublishedYet):
        fetch()


def test_429_is_retried_after_the_servers_retry_after(api):
    api.script = [Reply(status=429, headers={"Retry-After": "0"})]
    sleep = SleepRecorder()

    content = fetch(sleep=sleep)

    assert content.data.count(b"\n") == 251
    assert sleep.waits == [0.0]
    assert [body["offset"] for body in api.page_requests()] == [0, 0, 100, 200]


def test_503_is_retried_with_exponential_backoff(api):
    api.script = [Reply(status=503), Reply(status=503)]
    sleep = SleepRecorder()

    content = fetch(sleep=sleep)

    assert content.data.count(b"\n") == 251
    assert sleep.waits == [0.01, 0.02]
    assert len(api.requests) == 5


def test_retries_are_counted_per_page(api):
    # Three 503s on the first page and three on the second: each page has its own budget of 3.
    api.script = [Reply(status=503)] * 3 + [ANSWER_NORMALLY] + [Reply(status=503)] * 3

    content = fetch(sleep=SleepRecorder())

    assert content.data.count(b"\n") == 251
    assert [body["offset"] for body in api.page_requests()] == [0] * 4 + [100] * 4 + [200]


def test_backoff_really_waits_by_default(api):
    api.script = [Reply(status=503)]

    content = fetch()  # real time.sleep of FINRA_API_BACKOFF_SECONDS (0.01 s)

    assert content.data.count(b"\n") == 251


def test_503_forever_gives_up_after_the_retries(api):
    api.always = Reply(status=503, body=b"Service Unavailable")
    sleep = SleepRecorder()

    with pytest.raises(SourceError) as error:
        fetch(sleep=sleep)

    assert type(error.value) is SourceError
    assert str(error.value) == (
        "FINRA API answered 503 Service Unavailable for offset 0 (gave up after 3 retries)"
    )
    assert len(api.requests) == 4  # the first attempt and 3 retries
    assert sleep.waits == [0.01, 0.02, 0.04]


def test_no_retries_when_max_retries_is_zero(api, settings):
    settings.FINRA_API_MAX_RETRIES = 0
    api.always = Reply(status=500)

    with pytest.raises(SourceError, match="500"):
        fetch(sleep=SleepRecorder())

    assert len(api.requests) == 1


def test_a_long_retry_after_goes_back_to_the_work_queue(api):
    api.script = [Reply(status=429, headers={"Retry-After": "3600"})]
    sleep = SleepRecorder()

    with pytest.raises(SourceError, match="asked to retry after 3600 s"):
        fetch(sleep=sleep)

    assert sleep.waits == []
    assert len(api.requests) == 1


def test_a_timeout_is_retried_then_an_error(api, settings):
    settings.FINRA_API_MAX_RETRIES = 1
    api.always = Reply(delay_seconds=5)

    with pytest.raises(SourceError) as error:
        fetch(sleep=SleepRecorder())

    assert type(error.value) is SourceError
    assert "Read timed out" in str(error.value)
    assert len(api.requests) == 2


def test_a_short_page_is_an_error_not_a_truncation(api):
    api.short_pages = {100: 1}

    with pytest.raises(SourceError) as error:
        fetch()

    assert str(error.value) == (
        "short read: got 199 of 250 records of weekly summary for week starting 2025-12-08, tier T1"
    )


def test_204_before_the_total_is_a_short_read(api):
    api.script = [ANSWER_NORMALLY, Reply(status=204)]

    with pytest.raises(SourceError, match="short read: got 100 of 250 records"):
        fetch()


def test_a_total_that_changes_between_pages_is_an_error(api):
    api.record_totals = {100: 260}

    with pytest.raises(SourceError, match="Record-Total changed from 250 to 260 at offset 100"):
        fetch()


@pytest.mark.parametrize("headers", [{}, {"Record-Total": "lots"}, {"Record-Total": "-1"}])
def test_a_missing_or_invalid_record_total_is_an_error(api, headers):
    api.script = [Reply(body=b"[]", headers=headers)]

    with pytest.raises(SourceError, match="Record-Total header: cannot tell"):
        fetch()


def test_a_response_that_is_not_an_array_is_an_error(api):
    api.script = [Reply(body=b'{"message": "hello"}', headers={"Record-Total": "1"})]

    with pytest.raises(SourceError, match="not a JSON array"):
        fetch()


def test_400_is_refused_with_the_response_text(api):
    message = "Invalid compareFilters: " + "x" * 2000
    api.script = [Reply(status=400, body=json.dumps({"message": message}).encode())]

    with pytest.raises(SourceRefused) as refused:
        fetch(sleep=SleepRecorder())

    text = str(refused.value)
    assert text.startswith('FINRA API answered 400 Bad Request for offset 0: {"message": "Invalid')
    assert text.endswith("...")
    assert len(text) < 600
    assert len(api.requests) == 1


def test_a_query_finra_cannot_read_is_refused(api, settings, monkeypatch):
    # Lift the client's cap so the fake, like FINRA, refuses a page over 5000 records.
    monkeypatch.setattr(finra_api, "MAX_PAGE_SIZE", 6000)
    settings.FINRA_API_PAGE_SIZE = 6000

    with pytest.raises(SourceRefused, match="limit must be between 1 and 5000"):
        fetch()


def _record(**overrides):
    record = weekly_summary_records(1, week_ending=WEEK_ENDING, tier="NMS_TIER_1")[0]
    record.update(overrides)
    return record


def test_numbers_and_nulls_are_written_as_the_file_would_have_them():
    data = records_to_weekly_file(
        [
            _record(totalWeeklyShareQuantity=1234.0, totalWeeklyTradeCount=7, MPID=None),
            _record(totalWeeklyShareQuantity=12.5, issueSymbolIdentifier=None),
        ]
    )

    lines = data.decode().split("\n")
    assert lines[1].split("|")[4:7] == ["", "1234", "7"]
    assert lines[2].split("|")[1] == ""
    assert lines[2].split("|")[5] == "12.5"
    parsed = parse_weekly_file(
        data, week_ending=WEEK_ENDING, tier="NMS_TIER_1", max_reject_ratio=0.5
    )
    assert parsed.row_count == 1
    assert [reject.line_number for reject in parsed.rejects] == [3]
    assert "not a whole number: '12.5'" in parsed.rejects[0].reason


def test_a_value_with_the_delimiter_cannot_be_written():
    with pytest.raises(SourceError) as error:
        records_to_weekly_file([_record(), _record(issueName="Acme | Widgets")])

    assert str(error.value) == (
        "record 2 (issueSymbolIdentifier 'AAPL', MPID 'UBSA') has issueName 'Acme | Widgets', "
        "which contains '|' or a line break and cannot be written to the weekly file layout"
    )


@pytest.mark.parametrize("value", ["Acme\nWidgets", "Acme\r\nWidgets", "Acme\rWidgets"])
def test_a_value_with_a_line_break_cannot_be_written(value):
    with pytest.raises(SourceError, match="line break"):
        records_to_weekly_file([_record(marketParticipantName=value)])


def test_a_missing_field_is_an_error_not_an_empty_value():
    record = _record()
    del record["MPID"]

    with pytest.raises(SourceError, match="has no MPID field"):
        records_to_weekly_file([record])
