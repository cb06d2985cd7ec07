"""Filling the gaps a report found: enqueue the pipelines that make progress on them."""

from __future__ import annotations

from finra.gap_rules import fix_targets
from finra.gaps import GapReport
from finra.models import DOMAIN
from finra.stages import STAGES
from workqueue.backfill import BackfillResult, Reprocess, work_items_backfill
from workqueue.services import Actor


def gaps_fix(*, report: GapReport, actor: Actor) -> list[BackfillResult]:
    """Enqueue the roots of the report's overdue gaps, one backfill per pipeline in stage order.

    Only the earliest missing stage of each partition is enqueued (the pipelines chain the rest)
    and only where that fills it: no item yet (created) or a FAILED one (re-armed). An active
    item is left to finish, a CANCELLED one to the person who cancelled it. Not-yet-due gaps are
    never enqueued: their data cannot exist yet.
    """
    targets = fix_targets(report.gaps)
    return [
        work_items_backfill(
            domain=DOMAIN,
            pipeline=spec.pipeline,
            actor=actor,
            partitions=targets[spec.pipeline],
            reprocess=Reprocess.FAILED,
        )
        for spec in STAGES
        if targets.get(spec.pipeline)
    ]
