"""FINRA Query API client for ``otcMarket/weeklySummary``: one week and tier as a weekly file.

The API answers JSON pages of at most 5000 records with the query's total in a ``Record-Total``
header. The records are written out in the weekly file layout (pipe-delimited, the file's
header) so :func:`finra.parsing.parse_weekly_file` validates API content exactly as it validates
a downloaded file.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from datetime import date
from typing import Any

import requests
from django.conf import settings

from finra.parsing import DELIMITER, HEADER_COLUMNS
from finra.sources import NotPublishedYet, SourceContent, SourceError, SourceRefused
from finra.tiers import api_tier_identifier
from finra.weeks import week_start

DATASET = "otcMarket/weeklySummary"
PATH = "/data/group/otcMarket/name/weeklySummary"
# ATS trading by symbol and firm: the content of the weekly ATS file.
SUMMARY_TYPE_CODE = "ATS_W_SMBL_FIRM"
# FINRA refuses synchronous requests for more records than this per page.
MAX_PAGE_SIZE = 5000
# A Retry-After longer than this is not waited out inside a worker: the error goes back to the
# work queue, whose own retry schedule takes over.
MAX_RETRY_AFTER_SECONDS = 60.0
_ERROR_TEXT_CHARS = 500
_RETRYABLE_STATUSES = frozenset({429}) | frozenset(range(500, 600))


def fetch_weekly_summary(
    *,
    week_ending: date,
    tier: str,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SourceContent:
    """Fetch every weeklySummary record for the week and tier, in the weekly file layout.

    Pages of ``FINRA_API_PAGE_SIZE`` records (at most 5000) are read until ``Record-Total``
    records have arrived. Anything that would silently lose records is an error instead: a
    missing or invalid Record-Total, a total that changes between pages, a page shorter (or
    longer) than the total implies.

    Errors:

    - :class:`NotPublishedYet`: the first page is empty (204, or a total of 0);
    - :class:`SourceError`: 429, 5xx, connection errors and timeouts once
      ``FINRA_API_MAX_RETRIES`` retries of the page are spent (waiting
      ``FINRA_API_BACKOFF_SECONDS * 2**attempt``, or the server's ``Retry-After`` seconds);
      a short read; a response that is not a JSON array of records; a value the file layout
      cannot hold (``|`` or a line break);
    - :class:`SourceRefused`: any other 4xx, with the start of the response text.

    ``session`` lets a caller reuse connections or add credentials; ``sleep`` is the wait
    between retries (tests pass a recorder).
    """
    week_start_date = week_start(week_ending).isoformat()
    tier_identifier = api_tier_identifier(tier)
    description = f"weekly summary for week starting {week_start_date}, tier {tier_identifier}"
    page_size = min(settings.FINRA_API_PAGE_SIZE, MAX_PAGE_SIZE)
    url = settings.FINRA_API_BASE_URL.rstrip("/") + PATH
    filters = [
        {"compareType": "EQUAL", "fieldName": "weekStartDate", "fieldValue": week_start_date},
        {"compareType": "EQUAL", "fieldName": "tierIdentifier", "fieldValue": tier_identifier},
        {"compareType": "EQUAL", "fieldName": "summaryTypeCode", "fieldValue": SUMMARY_TYPE_CODE},
    ]

    own_session = session is None
    http = requests.Session() if session is None else session
    records: list[Any] = []
    total: int | None = None
    try:
        while total is None or len(records) < total:
            body = {"limit": page_size, "offset": len(records), "compareFilters": filters}
            response = _post_with_retries(http, url, body, sleep=sleep)
            if response.status_code == 204:
                if total is None:
                    raise NotPublishedYet(f"FINRA has not published {description} yet")
                raise SourceError(_short_read(len(records), total, description))
            page_total = _record_total(response, description)
            if total is not None and page_total != total:
                raise SourceError(
                    f"Record-Total changed from {total:,} to {page_total:,} at offset "
                    f"{len(records):,} of {description}: FINRA republished while we read"
                )
            total = page_total
            if total == 0:
                raise NotPublishedYet(f"FINRA has not published {description} yet")
            page = _page_records(response, description)
            expected = min(page_size, total - len(records))
            if len(page) < expected:
                raise SourceError(_short_read(len(records) + len(page), total, description))
            if len(page) > expected:
                raise SourceError(
                    f"FINRA returned {len(page):,} records at offset {len(records):,} of "
                    f"{description}, expected {expected:,} (Record-Total {total:,})"
                )
            records.extend(page)
    finally:
        if own_session:
            http.close()

    origin = f"api:{DATASET} weekStartDate={week_start_date} tierIdentifier={tier_identifier}"
    return SourceContent(data=records_to_weekly_file(records), origin=origin)


def records_to_weekly_file(records: list[Any]) -> bytes:
    """Write API records as a weekly file: the file's header, one ``|``-separated line each.

    Values are written verbatim: null as an empty field, integral numbers (``1234`` or
    ``1234.0``) as integers, anything else as Python prints it, so the parser rejects that row
    with its usual message. A missing field, a nested value, or a text containing ``|`` or a
    line break cannot be written faithfully and raises :class:`SourceError` naming the record.
    """
    lines = [DELIMITER.join(HEADER_COLUMNS)]
    for index, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise SourceError(f"record {index:,} is not a JSON object: {record!r:.200}")
        lines.append(DELIMITER.join(_field_text(record, name, index) for name in HEADER_COLUMNS))
    return ("\n".join(lines) + "\n").encode("utf-8")


def _field_text(record: dict[str, Any], name: str, index: int) -> str:
    if name not in record:
        raise SourceError(f"{_describe(record, index)} has no {name} field")
    value = record[name]
    if value is None:
        return ""
    if isinstance(value, bool):
        raise SourceError(f"{_describe(record, index)} has a true/false {name}: {value}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if math.isfinite(value) and value.is_integer() else repr(value)
    if isinstance(value, str):
        if DELIMITER in value or "\n" in value or "\r" in value:
            raise SourceError(
                f"{_describe(record, index)} has {name} {value!r:.200}, which contains "
                f"{DELIMITER!r} or a line break and cannot be written to the weekly file layout"
            )
        return value
    raise SourceError(f"{_describe(record, index)} has a nested {name}: {value!r:.200}")


def _describe(record: dict[str, Any], index: int) -> str:
    return (
        f"record {index:,} (issueSymbolIdentifier {record.get('issueSymbolIdentifier')!r}, "
        f"MPID {record.get('MPID')!r})"
    )


def _post_with_retries(
    http: requests.Session,
    url: str,
    body: dict[str, Any],
    *,
    sleep: Callable[[float], None],
) -> requests.Response:
    """POST one page, retrying what another attempt may fix (429, 5xx, connection errors)."""
    max_retries = settings.FINRA_API_MAX_RETRIES
    backoff = settings.FINRA_API_BACKOFF_SECONDS
    timeout = settings.FINRA_DOWNLOAD_TIMEOUT_SECONDS
    page = f"offset {body['offset']:,}"
    for attempt in range(max_retries + 1):
        retry_after: float | None = None
        try:
            response = http.post(
                url,
                data=json.dumps(body),
                headers={"Accept": "application/json", "Content-Type": "application/json"},
                timeout=(timeout, timeout),
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            failure = f"FINRA API request failed: {exc}"
        else:
            status = response.status_code
            if status not in _RETRYABLE_STATUSES:
                if 400 <= status < 500:
                    raise SourceRefused(
                        f"FINRA API answered {status} {response.reason} for {page}: "
                        f"{_truncated(response.text)}"
                    )
                if status not in (200, 204):
                    raise SourceError(
                        f"FINRA API answered unexpected {status} {response.reason} for {page}"
                    )
                return response
            failure = f"FINRA API answered {status} {response.reason}"
            retry_after = _retry_after_seconds(response)
            if retry_after is not None and retry_after > MAX_RETRY_AFTER_SECONDS:
                raise SourceError(
                    f"{failure} for {page} and asked to retry after {retry_after:g} s"
                )
        if attempt == max_retries:
            break
        sleep(backoff * 2**attempt if retry_after is None else retry_after)
    raise SourceError(f"{failure} for {page} (gave up after {max_retries} retries)")


def _retry_after_seconds(response: requests.Response) -> float | None:
    """Retry-After in seconds; None when absent or an HTTP date (then the backoff applies)."""
    value = response.headers.get("Retry-After", "").strip()
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _record_total(response: requests.Response, description: str) -> int:
    value = response.headers.get("Record-Total")
    if value is None or not re.fullmatch(r"[0-9]+", value.strip()):
        raise SourceError(
            f"FINRA API response for {description} has "
            f"{'no' if value is None else f'an invalid ({value!r})'} Record-Total header: "
            "cannot tell whether every record was read"
        )
    return int(value)


def _page_records(response: requests.Response, description: str) -> list[Any]:
    try:
        page = response.json()
    except ValueError as exc:
        raise SourceError(f"FINRA API response for {description} is not JSON: {exc}") from None
    if not isinstance(page, list):
        raise SourceError(
            f"FINRA API response for {description} is not a JSON array: {page!s:.200}"
        )
    return page


def _short_read(read: int, total: int, description: str) -> str:
    return f"short read: got {read:,} of {total:,} records of {description}"


def _truncated(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _ERROR_TEXT_CHARS else text[:_ERROR_TEXT_CHARS] + "..."
