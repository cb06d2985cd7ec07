"""The django-q2 schedules Market Spine needs, created idempotently.

Both the data migration (with the historical model) and ``manage.py setup_schedules`` (with the
real one) call :func:`ensure_schedules`, so a deleted schedule comes back with one command.
Domains add theirs to :data:`SCHEDULES` from their AppConfig.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    func: str
    minutes: int | None = None  # run every N minutes
    cron: str | None = None  # or on a cron expression (in the cluster's TIME_ZONE)


SCHEDULES: list[ScheduleSpec] = [
    ScheduleSpec(name="workqueue: drain due items", func="workqueue.tasks.drain_queue", minutes=1),
    ScheduleSpec(
        name="workqueue: reap expired leases",
        func="workqueue.tasks.reap_expired_leases",
        minutes=1,
    ),
]


def ensure_schedules(schedule_model: Any, specs: list[ScheduleSpec] | None = None) -> list[str]:
    """Create or update each schedule by name; returns the names that were created."""
    created = []
    for spec in specs if specs is not None else SCHEDULES:
        fields: dict[str, Any] = {"func": spec.func, "repeats": -1}
        if spec.cron:
            fields.update(schedule_type="C", cron=spec.cron, minutes=None)
        else:
            fields.update(schedule_type="I", minutes=spec.minutes or 1, cron=None)
        _, was_created = schedule_model.objects.update_or_create(name=spec.name, defaults=fields)
        if was_created:
            created.append(spec.name)
    return created
