from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from workqueue.leases import reap_expired_leases
from workqueue.models import FailedWorkItem, WorkItem
from workqueue.runner import drain


class Command(BaseCommand):
    help = (
        "Run due work items in this process, without a django-q2 cluster (for a laptop, a "
        "one-off backfill or a debugger). Production uses `manage.py qcluster`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--until-empty",
            action="store_true",
            help="keep going (waiting for retries that are due soon) until nothing is active",
        )
        parser.add_argument("--max-seconds", type=float, default=600.0)

    def handle(self, *args: Any, **options: Any) -> None:
        deadline = time.monotonic() + options["max_seconds"]
        total = 0
        while True:
            reap_expired_leases()
            summary = drain(time_budget=max(0.1, deadline - time.monotonic()))
            total += summary.claimed
            active = WorkItem.objects.active().count()
            self.stdout.write(f"ran {summary.claimed} item(s); {active} still active")
            if not options["until_empty"] or not active or time.monotonic() >= deadline:
                break
            if summary.claimed == 0:
                time.sleep(1)
        failed = FailedWorkItem.objects.count()
        self.stdout.write(f"done: ran {total} item(s); {failed} FAILED in the queue")
