"""The django-q2 schedules Market Spine needs, created idempotently.

Both the data migration (with the historical model) and ``manage.py setup_schedules`` (with the
real one) call :func:`ensure_schedules`, so a deleted schedule comes back with one command.
Domains add theirs to :data:`SCHEDULES` from their AppConfig.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    func: str
    minutes: int | None = None  # run every N minutes
    cron: str | None = None  # or on a cron expression, in Q_CLUSTER["time_zone"]


SCHEDULES: list[ScheduleSpec] = [
    ScheduleSpec(name="workqueue: drain due items", func="workqueue.tasks.drain_queue", minutes=1),
    ScheduleSpec(
        name="workqueue: reap expired leases",
        func="workqueue.tasks.reap_expired_leases",
        minutes=1,
    ),
]


def cluster_time_zone() -> str:
    """The zone django-q2 evaluates cron expressions in (``Q_CLUSTER["time_zone"]``, else
    ``TIME_ZONE``)."""
    from django_q.conf import Conf

    return str(Conf.TIME_ZONE)


def next_cron_run(cron: str, *, after: datetime, time_zone: str) -> datetime:
    """The first moment after ``after`` matching ``cron`` on ``time_zone``'s wall clock, in UTC.

    The same computation as django-q2's ``Schedule.calculate_next_run``, for a schedule's first
    run: a new schedule otherwise runs at once (its ``next_run`` defaults to now).
    """
    from croniter import croniter

    local = after.astimezone(ZoneInfo(time_zone))
    return croniter(cron, local).get_next(datetime).astimezone(UTC)


def ensure_schedules(
    schedule_model: Any,
    specs: list[ScheduleSpec] | None = None,
    *,
    now: datetime | None = None,
    time_zone: str | None = None,
) -> list[str]:
    """Create or update each schedule by name; returns the names that were created.

    A cron schedule gets its first ``next_run`` from its expression when it is created or its
    expression changes; otherwise the run the cluster has planned is kept.
    """
    now = now or datetime.now(UTC)
    created = []
    for spec in specs if specs is not None else SCHEDULES:
        fields: dict[str, Any] = {"func": spec.func, "repeats": -1}
        if spec.cron:
            fields.update(schedule_type="C", cron=spec.cron, minutes=None)
        else:
            fields.update(schedule_type="I", minutes=spec.minutes or 1, cron=None)
        existing = schedule_model.objects.filter(name=spec.name).first()
        if spec.cron and (existing is None or existing.cron != spec.cron):
            fields["next_run"] = next_cron_run(
                spec.cron, after=now, time_zone=time_zone or cluster_time_zone()
            )
        _, was_created = schedule_model.objects.update_or_create(name=spec.name, defaults=fields)
        if was_created:
            created.append(spec.name)
    return created
