"""Where a week's content comes from: the source the params choose, and the params' checks."""

from __future__ import annotations

from datetime import date
from typing import Any

from finra.sources import NotPublishedYet, SourceContent, SourceRefused
from finra.tiers import UnknownTierError, canonical_tier
from workqueue.pipelines import DependencyNotReady, NonRetryableError

SOURCES = ("file", "api")


def source_fetch(*, week_ending: date, tier: str, params: dict[str, Any]) -> SourceContent:
    """Fetch a week's content from the source the params choose.

    ``params.file_url`` selects the URL source; otherwise ``params.source`` is ``file`` (the
    default: ``params.file_path`` or the default layout under FINRA_DATA_DIR) or ``api``.
    Not published yet -> DependencyNotReady (the item waits); a refused request ->
    NonRetryableError; other source errors are retried with backoff.
    """
    source = params.get("source", "file")
    if source not in SOURCES:
        raise NonRetryableError(f"unknown params.source {source!r}; accepted: {', '.join(SOURCES)}")
    try:
        if params.get("file_url"):
            from finra.sources import url

            return url.fetch_url(str(params["file_url"]))
        if source == "api":
            from finra.sources import finra_api

            return finra_api.fetch_weekly_summary(week_ending=week_ending, tier=tier)
        from finra.sources import files

        file_path = params.get("file_path")
        return files.read_week_file(
            week_ending=week_ending, tier=tier, file_path=str(file_path) if file_path else None
        )
    except NotPublishedYet as exc:
        raise DependencyNotReady(str(exc)) from None
    except SourceRefused as exc:
        raise NonRetryableError(str(exc)) from None
    except ImportError as exc:
        raise NonRetryableError(f"source not available in this deployment: {exc}") from None


def tier_param(value: Any) -> str:
    """Canonical tier from a params.tier value, or NonRetryableError naming what is accepted."""
    try:
        return canonical_tier(str(value))
    except UnknownTierError as exc:
        raise NonRetryableError(f"params.tier: {exc}") from None
