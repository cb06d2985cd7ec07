from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from workqueue.leases import reap_expired_leases


class Command(BaseCommand):
    help = (
        "Return RUNNING work items whose lease expired (their worker died) to the retry path. "
        "Runs every minute from a django-q2 schedule; safe to run by hand at any time."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        reaped = reap_expired_leases()
        if reaped:
            self.stdout.write(f"recovered {len(reaped)} item(s): {', '.join(map(str, reaped))}")
        else:
            self.stdout.write("no expired leases")
