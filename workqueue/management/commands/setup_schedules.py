from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django_q.models import Schedule

from workqueue.schedules import SCHEDULES, ensure_schedules


class Command(BaseCommand):
    help = "Create or repair the django-q2 schedules (drain, lease reaper, domain schedules)."

    def handle(self, *args: Any, **options: Any) -> None:
        created = ensure_schedules(Schedule)
        for spec in SCHEDULES:
            mark = "created" if spec.name in created else "ok"
            self.stdout.write(f"{mark:8} {spec.name} -> {spec.func}")
