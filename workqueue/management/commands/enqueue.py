"""manage.py enqueue DOMAIN PIPELINE --partition JSON: queue one work item from cron or a shell."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from workqueue.exceptions import EnqueueError
from workqueue.services import Actor, EnqueueStatus, work_item_enqueue


def _json_object(flag: str, raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise CommandError(f"{flag} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise CommandError(
            f'{flag} must be a JSON object, e.g. \'{{"week_ending": "2025-12-12"}}\''
        )
    return value


def _aware_datetime(raw: str) -> datetime:
    value = parse_datetime(raw.replace("Z", "+00:00"))
    if value is None:
        raise CommandError(f"--desired-at {raw!r} is not an ISO 8601 date-time")
    if value.tzinfo is None:
        raise CommandError("--desired-at needs a time zone, e.g. 2025-12-23T10:30:00Z")
    return value


class Command(BaseCommand):
    help = "Enqueue one work item. Exit 0 when queued (or already queued), 1 on bad input."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("domain")
        parser.add_argument("pipeline")
        parser.add_argument("--partition", required=True, help="partition key as a JSON object")
        parser.add_argument("--params", default="{}", help="parameters as a JSON object")
        parser.add_argument("--priority", type=int, help="higher runs first (default 100)")
        parser.add_argument("--desired-at", help="ISO 8601 time before which it must not run")
        parser.add_argument("--max-attempts", type=int)
        parser.add_argument(
            "--reprocess", action="store_true", help="re-arm the item if it already finished"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = work_item_enqueue(
                domain=options["domain"],
                pipeline=options["pipeline"],
                partition_key=_json_object("--partition", options["partition"]),
                params=_json_object("--params", options["params"]),
                priority=options["priority"],
                desired_at=_aware_datetime(options["desired_at"])
                if options["desired_at"]
                else None,
                max_attempts=options["max_attempts"],
                reprocess=options["reprocess"],
                actor=Actor.cli(),
            )
        except EnqueueError as exc:
            raise CommandError(exc.message) from None
        item = result.item
        messages = {
            EnqueueStatus.CREATED: "queued",
            EnqueueStatus.EXISTING: f"already {item.state}, left unchanged",
            EnqueueStatus.REARMED: "re-armed for reprocessing",
            EnqueueStatus.FINISHED: f"already {item.state}; pass --reprocess to run it again",
        }
        self.stdout.write(
            f"work item {item.pk} {item.domain}/{item.pipeline} "
            f"{item.partition_key_text}: {messages[result.status]}"
        )
