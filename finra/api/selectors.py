"""Reads behind the data API: one dataset's rows across weeks and tiers, at one version.

``finra.selectors.dataset_rows`` answers for one week (and tier); the API also lists many weeks
at once, so this picks, for every (week_ending, tier) of the dataset's stage, the capture the
reader asked for with ``Capture.objects.latest_complete`` (the rule of the ``_latest`` views):
the complete capture with the newest ``captured_at`` (ties to the larger ``capture_id``),
optionally among those captured at or before ``as_of``.
"""

from __future__ import annotations

from datetime import date, datetime

from django.db import models

from finra.models import Capture
from finra.selectors import CaptureNotFound
from finra.stages import DATASET_STAGES


def capture_ids_for_reading(
    *,
    stage: str,
    week_ending: date | None = None,
    tier: str | None = None,
    as_of: datetime | None = None,
) -> models.QuerySet:
    """The capture_id chosen per (week_ending, tier) of ``stage`` (a ``values`` queryset).

    A NOT EXISTS over the small captures table (as the ``_latest`` views do), so the dataset is
    then read through its capture partitions (or ``capture_id`` index) however much history
    accumulates.
    """
    chosen = Capture.objects.filter(stage=stage).latest_complete(as_of=as_of)
    if week_ending is not None:
        chosen = chosen.filter(week_ending=week_ending)
    if tier is not None:
        chosen = chosen.filter(tier=tier)
    return chosen.values("capture_id")


def _chosen_capture_ids(
    *, stage: str, week_ending: date | None, tier: str | None, as_of: datetime | None
) -> list[str] | models.QuerySet:
    """The capture ids to read: values for one week, a subquery for many.

    One week has at most one chosen capture per tier. As values, PostgreSQL reads only their
    partitions (pruned when the query is planned), and the filter applies below the window of
    the symbol venue share view instead of after it. Across weeks there is one per week and
    tier (1,560 in ten years), and PostgreSQL estimates a list of values against every
    partition it keeps: planning grows with partitions times ids, seconds for ten years even
    when the answer is one symbol's few rows. As a subquery (a semi-join with the small
    captures table) it grows with the partitions only.
    """
    chosen = capture_ids_for_reading(stage=stage, week_ending=week_ending, tier=tier, as_of=as_of)
    if week_ending is None:
        return chosen
    return list(chosen.values_list("capture_id", flat=True))


def dataset_rows_for_reading(
    model: type[models.Model],
    *,
    week_ending: date | None = None,
    tier: str | None = None,
    capture_id: str | None = None,
    as_of: datetime | None = None,
    stage: str | None = None,
) -> models.QuerySet:
    """Rows of ``model`` at the asked-for version, unordered and unfiltered beyond the key.

    Default: the latest capture of every (week_ending, tier); ``as_of``: the newest captured at
    or before it; ``capture_id``: that capture only. ``week_ending`` and ``tier`` (canonical,
    or ``None`` for all) narrow the choice. Raises CaptureNotFound when ``capture_id`` names no
    complete capture of the dataset's stage, so a mistyped id is an error, not an empty answer.

    ``stage`` chooses the captures by another stage than the model's: the normalized rows of the
    captures whose VENUE_SHARE stage is complete are the rows the symbol venue share view reads.
    """
    stage = stage or DATASET_STAGES[model]
    if capture_id is not None:
        if not Capture.objects.complete().filter(capture_id=capture_id, stage=stage).exists():
            raise CaptureNotFound(f"no complete {stage} capture {capture_id!r}")
        rows = model.objects.filter(capture_id=capture_id)
    else:
        rows = model.objects.filter(
            capture_id__in=_chosen_capture_ids(
                stage=stage, week_ending=week_ending, tier=tier, as_of=as_of
            )
        )
    if week_ending is not None:
        rows = rows.filter(week_ending=week_ending)
    if tier is not None:
        rows = rows.filter(tier=tier)
    return rows


def captures_for_reading(
    *,
    week_ending: date | None = None,
    tier: str | None = None,
    stage: str | None = None,
    capture_id: str | None = None,
) -> models.QuerySet:
    """The capture register (history: complete and skipped captures), filtered.

    Raises CaptureNotFound when ``capture_id`` names no capture at all.
    """
    captures = Capture.objects.all()
    if capture_id is not None:
        captures = captures.filter(capture_id=capture_id)
        if not captures.exists():
            raise CaptureNotFound(f"no capture {capture_id!r}")
    if week_ending is not None:
        captures = captures.filter(week_ending=week_ending)
    if tier is not None:
        captures = captures.filter(tier=tier)
    if stage is not None:
        captures = captures.filter(stage=stage)
    return captures
