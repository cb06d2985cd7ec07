"""django-q2 entry points for FINRA: thin wrappers around ``finra.scheduler``."""

from __future__ import annotations

from typing import Any

from django.db import close_old_connections

from finra.scheduler import RunHere, SchedulerOptions, weekly_schedule_run


def run_weekly_schedule() -> dict[str, Any]:
    """The Monday run (the "finra: weekly scheduler" schedule): the command's defaults.

    The task runs the items in its own process: it is a worker itself, and on a one-worker
    cluster waiting for another worker would wait for the worker it occupies.
    """
    close_old_connections()
    try:
        report = weekly_schedule_run(options=SchedulerOptions(run_here=RunHere.ALWAYS))
        return {
            "run_id": report.run_id,
            "status": report.status.value,
            "exit_code": report.exit_code,
            "counts": report.counts,
            "summary": report.summary(),
        }
    finally:
        close_old_connections()
