from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from workqueue.inprocess import run_due_items_here
from workqueue.models import FailedWorkItem, WorkItem


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
            claimed = run_due_items_here(time_budget=deadline - time.monotonic())
            total += claimed
            active = WorkItem.objects.active().count()
            self.stdout.write(f"ran {claimed} item(s); {active} still active")
            if not options["until_empty"] or not active or time.monotonic() >= deadline:
                break
            if claimed == 0:
                time.sleep(1)
        failed = FailedWorkItem.objects.count()
        self.stdout.write(f"done: ran {total} item(s); {failed} FAILED in the queue")
