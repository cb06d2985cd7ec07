"""Set up a laptop demo: a demo administrator, sample work, and the main job run to the end."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from workqueue.services import Actor, EnqueueRequest, work_items_enqueue

DEMO_USERNAME = os.environ.get("DEMO_USERNAME", "admin")
DEMO_PASSWORD = os.environ.get("DEMO_PASSWORD", "admin")


class Command(BaseCommand):
    help = "Create the demo administrator, queue sample work and run it (DEBUG only)."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("bootstrap_demo creates a known password: run it with DEBUG=true")
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(
            username=DEMO_USERNAME, defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        self.stdout.write(f"demo administrator: {DEMO_USERNAME} / {DEMO_PASSWORD}")

        results = work_items_enqueue(
            requests=[
                EnqueueRequest(
                    domain="workqueue.diagnostics", pipeline="noop", partition_key={"n": n}
                )
                for n in range(10)
            ],
            actor=Actor.cli(),
        )
        created_count = sum(r.created for r in results)
        self.stdout.write(f"queued {created_count} diagnostic item(s); running the queue...")
        call_command("run_queue", "--until-empty", stdout=self.stdout)
