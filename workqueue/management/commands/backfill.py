"""manage.py backfill DOMAIN PIPELINE --from DATE --to DATE: enqueue a range of partitions."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime
from tqdm import tqdm

from workqueue.backfill import (
    OUTCOME_LABELS,
    BackfillOutcome,
    BackfillResult,
    Reprocess,
    option_values,
    range_option_names,
    work_items_backfill,
)
from workqueue.exceptions import EnqueueError
from workqueue.fields import canonical_json
from workqueue.services import Actor


def _date(flag: str, raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise CommandError(f"{flag} {raw!r} is not a date (YYYY-MM-DD)") from None


def _aware_datetime(raw: str) -> datetime:
    value = parse_datetime(raw.replace("Z", "+00:00"))
    if value is None:
        raise CommandError(f"--desired-at {raw!r} is not an ISO 8601 date-time")
    if value.tzinfo is None:
        raise CommandError("--desired-at needs a time zone, e.g. 2025-12-23T10:30:00Z")
    return value


class _Progress:
    """A bar on a terminal; under cron (no terminal) a plain line per step."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.bar: tqdm | None = None

    def __call__(self, done: int, total: int) -> None:
        if self.stream.isatty():
            if self.bar is None:
                self.bar = tqdm(total=total, unit="partition", file=self.stream, leave=False)
            self.bar.update(done - self.bar.n)
        else:
            self.stream.write(f"classified {done}/{total} partitions\n")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class Command(BaseCommand):
    help = (
        "Enqueue a pipeline for every partition of a range (or a list) in one transaction. "
        "Exit 0 when done, 1 with a message on bad input (nothing enqueued)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("domain")
        parser.add_argument("pipeline")
        parser.add_argument("--from", dest="start", help="first date of the range (YYYY-MM-DD)")
        parser.add_argument("--to", dest="end", help="last date of the range (YYYY-MM-DD)")
        parser.add_argument(
            "--partition",
            action="append",
            help="a partition key as a JSON object, instead of a range (repeatable)",
        )
        for name in range_option_names():
            parser.add_argument(
                f"--{name.replace('_', '-')}",
                dest=f"option_{name}",
                help=f"comma-separated {name} for the range (default: all)",
            )
        parser.add_argument(
            "--reprocess",
            choices=[m.value for m in Reprocess],
            default=Reprocess.NONE.value,
            help="none: only new partitions; failed: also re-arm FAILED/CANCELLED; "
            "all: also re-run COMPLETE ones",
        )
        parser.add_argument("--priority", type=int, help="higher runs first (default 100)")
        parser.add_argument("--desired-at", help="ISO 8601 time before which nothing runs")
        parser.add_argument("--params", help="parameters for every item, as a JSON object")
        parser.add_argument("--dry-run", action="store_true", help="say what it would do")
        parser.add_argument(
            "--show-partitions", action="store_true", help="list every partition's outcome"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        partitions = None
        if options["partition"]:
            partitions = [self._json(raw, "--partition") for raw in options["partition"]]
        range_options = {
            name: option_values(options[f"option_{name}"])
            for name in range_option_names()
            if options.get(f"option_{name}")
        }
        progress = _Progress(self.stderr._out)
        try:
            result = work_items_backfill(
                domain=options["domain"],
                pipeline=options["pipeline"],
                actor=Actor.cli(),
                partitions=partitions,
                start=_date("--from", options["start"]) if options["start"] else None,
                end=_date("--to", options["end"]) if options["end"] else None,
                options=range_options,
                reprocess=options["reprocess"],
                priority=options["priority"],
                desired_at=_aware_datetime(options["desired_at"])
                if options["desired_at"]
                else None,
                params=self._json(options["params"], "--params") if options["params"] else None,
                dry_run=options["dry_run"],
                progress=progress,
            )
        except EnqueueError as exc:
            raise CommandError(f"{exc.message}; nothing was enqueued") from None
        finally:
            progress.close()
        self._summary(result, show_partitions=options["show_partitions"])

    @staticmethod
    def _json(raw: str, flag: str) -> dict[str, Any]:
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise CommandError(f"{flag} is not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise CommandError(f"{flag} must be a JSON object")
        return value

    def _summary(self, result: BackfillResult, *, show_partitions: bool) -> None:
        write = self.stdout.write
        if show_partitions:
            width = max(len(canonical_json(p.partition_key)) for p in result.partitions)
            for partition in result.partitions:
                item = f"#{partition.item_id}" if partition.item_id else "-"
                write(
                    f"{canonical_json(partition.partition_key):<{width}}  "
                    f"{OUTCOME_LABELS[partition.outcome]:<30} {item:>8}  {partition.reason}"
                )
            write("")
        verb = "would be" if result.dry_run else "were"
        write(
            f"{result.domain}/{result.pipeline}: {result.total} partitions, reprocess "
            f"{result.reprocess.value}{' (dry run: nothing written)' if result.dry_run else ''}"
        )
        counts = result.counts
        for outcome in BackfillOutcome:
            write(f"  {OUTCOME_LABELS[outcome]:<30} {counts[outcome.value]:>6}")
        write(f"{result.enqueued} item(s) {verb} enqueued")
