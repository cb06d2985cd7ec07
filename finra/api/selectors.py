"""Reads behind the data API: one dataset's rows across weeks and tiers, at one version.

``finra.selectors.dataset_rows`` answers for one week (and tier); the API also lists many weeks
at once, so this picks, for every (week_ending, tier) of the dataset's stage, the capture the
reader asked for with ``Capture.objects.latest_complete`` (the rule of the ``_latest`` views):
the complete capture with the newest ``captured_at`` (ties to the larger ``capture_id``),
optionally among those captured at or before ``as_of``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.db import connection, models
from django.db.models import F, Func, Q, Subquery

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


class _InArrayOf(Func):
    """``column = ANY(ARRAY(subquery))``: the subquery runs once (an init plan), and its array
    filters the rows."""

    output_field = models.BooleanField()

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, tuple]:
        column, subquery = (compiler.compile(e) for e in self.get_source_expressions())
        return f"{column[0]} = ANY(ARRAY{subquery[0]})", (*column[1], *subquery[1])


def _chosen_captures(
    *, stage: str, week_ending: date | None, tier: str | None, as_of: datetime | None
) -> Q | Func:
    """The filter on ``capture_id`` that keeps the chosen captures: values for one week, the
    captures' query for many.

    One week has at most one chosen capture per tier. As values, PostgreSQL reads only their
    partitions (pruned when the query is planned), and the filter applies below the window of
    the symbol venue share view instead of after it. Across weeks there is one per week and
    tier (1,560 in ten years) and every partition is read anyway. PostgreSQL estimates a list
    of values against each partition (planning grows with partitions times ids: seconds for
    ten years, for one symbol's few rows), and plans a semi-join with the captures per
    partition too (ten times the planning of the bare scan); an array from a subquery that
    runs once is neither, so planning grows with the partitions only. (The symbol venue share
    views keep their semi-join: as an array it would be checked element by element on every
    row, five times slower for one week's 5,000 rows.)
    """
    chosen = capture_ids_for_reading(stage=stage, week_ending=week_ending, tier=tier, as_of=as_of)
    if week_ending is not None:
        return Q(capture_id__in=list(chosen.values_list("capture_id", flat=True)))
    if connection.vendor == "postgresql":
        return _InArrayOf(F("capture_id"), Subquery(chosen))
    return Q(capture_id__in=chosen)


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
            _chosen_captures(stage=stage, week_ending=week_ending, tier=tier, as_of=as_of)
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
