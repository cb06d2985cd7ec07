"""Reads of FINRA captures and datasets: latest, by capture id, or as of a moment.

"Latest" is ``Capture.objects.latest_complete()``: per business key (week_ending + tier, or
week_ending for the tier split) the complete capture with the newest ``captured_at``, the
rule the ``_latest`` SQL views apply too; as-of reads pick the newest capture taken at or
before a timestamp, or one capture by id. The data API's reads over many weeks are in
``finra.api.selectors``.
"""

from __future__ import annotations

from datetime import date, datetime

from django.db import models

from finra.models import ALL_TIERS, Capture, CaptureStatus
from finra.stages import DATASET_STAGES
from finra.tiers import TIERS, canonical_tier
from finra.weeks import parse_week_ending


class CaptureNotFound(LookupError):
    pass


def capture_latest(
    *, stage: str, week_ending: date | str, tier: str, as_of: datetime | None = None
) -> Capture | None:
    """The newest complete capture of a stage for a week and tier (optionally as of a time)."""
    return Capture.objects.latest_for(
        stage=stage,
        week_ending=parse_week_ending(week_ending),
        tier=tier if tier == ALL_TIERS else canonical_tier(tier),
        as_of=as_of,
    )


def tiers_with_stage(*, stage: str, week_ending: date) -> list[str]:
    """The tiers (canonical order) that have a complete capture of ``stage`` for the week."""
    present = set(
        Capture.objects.complete()
        .filter(stage=stage, week_ending=week_ending)
        .values_list("tier", flat=True)
    )
    return [tier for tier in TIERS if tier in present]


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


__all__ = [
    "CaptureNotFound",
    "CaptureStatus",
    "capture_latest",
    "dataset_rows",
    "tiers_with_stage",
]
