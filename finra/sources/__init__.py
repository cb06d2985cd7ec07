"""Where weekly FINRA content comes from: a file, an allowed URL, or FINRA's Query API.

Every source returns :class:`SourceContent` in the weekly file layout (pipe-delimited, one
header line), so one parser validates everything whatever its origin.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceContent:
    data: bytes
    #: Where it came from, for the capture record: "file:2025-12-12/OTC.psv",
    #: "url:https://...", "api:otcMarket/weeklySummary weekStartDate=2025-12-08 tier=OTCE".
    origin: str


class SourceError(Exception):
    """The content could not be fetched or read (retryable unless said otherwise)."""


class SourceRefused(SourceError):
    """The request itself is not allowed (path outside FINRA_DATA_DIR, host not allowed):
    another attempt cannot fix it."""


class NotPublishedYet(SourceError):
    """FINRA has not published this week and tier yet (e.g. the Query API answered 204)."""
