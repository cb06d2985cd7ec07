"""Where a week's content comes from: the source the params choose, and the params' checks.

The checks (``check_*``) are the ones each pipeline declares for its params
(``finra.pipelines``): the work queue runs them when an item is enqueued and again when it
runs. Each raises ValueError with what is wrong and what is accepted; none names the server's
absolute paths, since the message goes back to whoever sent the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from finra.sources import NotPublishedYet, SourceContent, SourceRefused
from finra.tiers import UnknownTierError, canonical_tier
from workqueue.pipelines import DependencyNotReady, InvalidParams, NonRetryableError

SOURCES = ("file", "api")

#: Params that name where the content comes from and cannot be given together: each pair
#: would leave one of the two silently ignored.
_CONFLICTS = (
    ("file_url", "file_path", "a URL or a file, not both"),
    ("file_url", "source", "file_url is its own source; leave out source api"),
    ("file_path", "source", "a file_path is read by source file; leave out source api"),
)


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


# --- the params' checks ------------------------------------------------------------------------


def check_file_path(value: str, partition_key: Mapping[str, Any]) -> None:
    """A file inside FINRA_DATA_DIR (after following ``..`` and symlinks) that exists."""
    from finra.sources import files

    if not value.strip():
        raise ValueError("must name a file inside FINRA_DATA_DIR, not be empty")
    try:
        path = files.resolve_inside_data_dir(value)
    except SourceRefused:
        raise ValueError(
            f"{value!r} resolves outside FINRA_DATA_DIR; only files inside the data directory "
            "may be read"
        ) from None
    if not path.is_file():
        raise ValueError(f"{value!r} is not a file in FINRA_DATA_DIR")


def check_file_url(value: str, partition_key: Mapping[str, Any]) -> None:
    """An http(s) URL on a host of FINRA_ALLOWED_HOSTS: the URL source's own rules."""
    from finra.sources import url

    if not value.strip():
        raise ValueError("must be an http or https URL, not empty")
    try:
        url.check_url_allowed(value)
    except SourceRefused as exc:
        raise ValueError(str(exc)) from None


def check_tier(value: str, partition_key: Mapping[str, Any]) -> None:
    """Any tier spelling, naming the partition's tier when the partition has one."""
    try:
        tier = canonical_tier(value)
    except UnknownTierError as exc:
        raise ValueError(str(exc)) from None
    key_tier = partition_key.get("tier")
    if key_tier is not None and canonical_tier(key_tier) != tier:
        raise ValueError(
            f"{value!r} ({tier}) disagrees with the partition's tier {key_tier}; fix one of "
            "them and enqueue again"
        )


def check_source_params(params: Mapping[str, Any], partition_key: Mapping[str, Any]) -> None:
    """Refuse params that name two sources, one of which would be ignored."""
    given = {
        name
        for name in ("file_url", "file_path", "source")
        if name in params and not (name == "source" and params[name] == "file")
    }
    for first, second, why in _CONFLICTS:
        if first in given and second in given:
            shown = f"source {params['source']!r}" if second == "source" else second
            raise InvalidParams(
                f"params {first} and {shown} cannot be given together: {why}",
                fields={f"params.{first}": why, f"params.{second}": why},
            )
