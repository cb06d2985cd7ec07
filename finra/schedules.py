"""The FINRA schedule django-q2 runs: the weekly scheduler, Mondays 10:30 in New York.

Cron expressions are evaluated in ``Q_CLUSTER["time_zone"]`` (America/New_York by default, see
the settings), so the run stays at 10:30 New York time across daylight-saving changes whatever
the server's ``TIME_ZONE``. FINRA publishes around 10:00 New York on Mondays.
"""

from __future__ import annotations

from workqueue.schedules import ScheduleSpec

WEEKLY_SCHEDULE = ScheduleSpec(
    name="finra: weekly scheduler (Mondays 10:30 New York)",
    func="finra.tasks.run_weekly_schedule",
    cron="30 10 * * 1",
)
