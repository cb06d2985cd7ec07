"""Reads of FINRA captures and datasets: latest, by capture id, or as of a moment.

These back the data API and the admin. "Latest" is the complete capture with the newest
``captured_at`` for the business key (week_ending + tier, or week_ending for the tier split),
the same rule as the ``_latest`` SQL views; as-of reads pick the newest capture taken at or
before a timestamp, or one capture by id.
"""

from __future__ import annotations

from datetime import date, datetime

from django.db import models

from finra.models import (
    ALL_TIERS,
    DATASET_STAGES,
    Capture,
    CaptureStatus,
)
from finra.tiers import canonical_tier
from finra.weeks import parse_week_ending


class CaptureNotFound(LookupError):
    pass


def capture_latest(
    *, stage: str, week_ending: date | str, tier: str, as_of: datetime | None = None
) -> Capture | None:
    """The newest complete capture of a stage for a week and tier (optionally as of a time)."""
    captures = Capture.objects.complete().for_partition(
        stage=stage,
        week_ending=parse_week_ending(week_ending),
        tier=tier if tier == ALL_TIERS else canonical_tier(tier),
    )
    if as_of is not None:
        captures = captures.filter(captured_at__lte=as_of)
    return captures.first()


def capture_history(*, week_ending: date | str, tier: str | None = None) -> models.QuerySet:
    """Every capture of a week (optionally one tier), newest first, skipped ones included."""
    captures = Capture.objects.filter(week_ending=parse_week_ending(week_ending))
    if tier is not None:
        captures = captures.filter(tier=tier if tier == ALL_TIERS else canonical_tier(tier))
    return captures.order_by("-captured_at", "stage")


def dataset_rows(
    model: type[models.Model],
    *,
    week_ending: date | str,
    tier: str | None = None,
    capture_id: str | None = None,
    as_of: datetime | None = None,
) -> models.QuerySet:
    """Rows of one dataset for a week (and tier): the latest capture unless ``capture_id`` or
    ``as_of`` asks for an older one. An empty queryset when no capture matches.

    Raises CaptureNotFound when ``capture_id`` names no complete capture of this dataset's
    week and tier, so a mistyped id is an error rather than an empty answer.
    """
    stage = DATASET_STAGES[model]
    week = parse_week_ending(week_ending)
    key_tier = ALL_TIERS if tier is None else canonical_tier(tier)
    if capture_id is not None:
        found = Capture.objects.complete().filter(
            capture_id=capture_id, stage=stage, week_ending=week, tier=key_tier
        )
        if not found.exists():
            raise CaptureNotFound(
                f"no complete {stage} capture {capture_id!r} for week {week} tier {key_tier}"
            )
    else:
        capture = capture_latest(stage=stage, week_ending=week, tier=key_tier, as_of=as_of)
        if capture is None:
            return model.objects.none()
        capture_id = capture.capture_id
    return model.objects.filter(capture_id=capture_id)


def symbol_history(model: type[models.Model], *, symbol: str) -> models.QuerySet:
    """One symbol's rows across weeks, latest capture of each week (and tier) only."""
    stage = DATASET_STAGES[model]
    latest = Capture.objects.raw(
        "SELECT id, capture_id FROM finra_otc_transparency_captures_latest WHERE stage = %s",
        [stage],
    )
    ids = [c.capture_id for c in latest]
    return model.objects.filter(symbol=symbol, capture_id__in=ids).order_by("week_ending")


__all__ = [
    "CaptureNotFound",
    "CaptureStatus",
    "capture_history",
    "capture_latest",
    "dataset_rows",
    "symbol_history",
]
