"""manage.py finra_gaps: the FINRA partitions missing from the manifest, and --fix to fill them.

Exit codes for cron: 0 no overdue gap, 1 at least one overdue gap (whether or not --fix
enqueued something for it: the data is still missing until the workers have run), 2 bad
input (nothing read, nothing enqueued).
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from finra.api.serializers import GapReportSerializer
from finra.gap_rules import Gap, gap_stages, gap_tiers
from finra.gaps import DEFAULT_WEEKS, GapReport, InvalidGapWindow, finra_gaps
from finra.services.gaps import gaps_fix
from finra.tiers import UnknownTierError
from workqueue.backfill import OUTCOME_LABELS, BackfillOutcome, BackfillResult
from workqueue.exceptions import EnqueueError
from workqueue.fields import canonical_json
from workqueue.services import Actor

EXIT_OVERDUE = 1
EXIT_BAD_INPUT = 2


def _bad_input(message: str) -> CommandError:
    return CommandError(message, returncode=EXIT_BAD_INPUT)


def _date(flag: str, raw: str | None) -> date | None:
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise _bad_input(f"{flag} {raw!r} is not a date (YYYY-MM-DD)") from None


class Command(BaseCommand):
    help = (
        "List the FINRA (week, tier, stage) partitions missing from the manifest, overdue or "
        f"not yet due, over the weeks from --since to --until (default: the last {DEFAULT_WEEKS} "
        "completed weeks). --fix enqueues what fills the overdue ones. Exit 0: no overdue gap; "
        "1: some overdue; 2: bad input."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", help="first day of the window (YYYY-MM-DD)")
        parser.add_argument(
            "--until", help="last day of the window (default: the last completed week ending)"
        )
        parser.add_argument(
            "--tiers",
            help="comma-separated tiers, any FINRA spelling; ALL is the tier split "
            "(default: every tier and ALL)",
        )
        parser.add_argument(
            "--stage",
            action="append",
            help="a stage to report, e.g. RAW (repeatable or comma-separated; default: all)",
        )
        parser.add_argument(
            "--fix",
            action="store_true",
            help="enqueue the earliest missing stage of each overdue partition (new items, "
            "FAILED ones re-armed) and say what was enqueued",
        )
        parser.add_argument("--format", choices=["table", "json"], default="table")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tiers = gap_tiers(options["tiers"].split(",")) if options["tiers"] else None
            stages = (
                gap_stages(part for raw in options["stage"] for part in raw.split(","))
                if options["stage"]
                else None
            )
        except UnknownTierError as exc:
            raise _bad_input(f"--tiers: {exc}") from None
        except KeyError as exc:
            raise _bad_input(f"--stage: {exc.args[0]}") from None
        try:
            report = finra_gaps(
                since=_date("--since", options["since"]),
                until=_date("--until", options["until"]),
                tiers=tiers,
                stages=stages,
            )
        except InvalidGapWindow as exc:
            raise _bad_input(str(exc)) from None
        fixed: list[BackfillResult] = []
        if options["fix"]:
            try:
                fixed = gaps_fix(report=report, actor=Actor.cli())
            except EnqueueError as exc:  # e.g. a pipeline is not registered in this process
                raise CommandError(f"--fix: {exc.message}; nothing was enqueued") from None
        if options["format"] == "json":
            self._json(report, fixed if options["fix"] else None)
        else:
            self._table(report, fixed if options["fix"] else None)
        if report.overdue:
            raise SystemExit(EXIT_OVERDUE)

    def _json(self, report: GapReport, fixed: list[BackfillResult] | None) -> None:
        body: dict[str, Any] = dict(GapReportSerializer(report).data)
        if fixed is not None:
            body["fixed"] = [
                {
                    "pipeline": result.pipeline,
                    "partitions": [
                        {
                            "partition_key": p.partition_key,
                            "outcome": p.outcome.value,
                            "work_item_id": p.item_id,
                        }
                        for p in result.partitions
                    ],
                    "enqueued": result.enqueued,
                }
                for result in fixed
            ]
        self.stdout.write(json.dumps(body, indent=2))

    def _table(self, report: GapReport, fixed: list[BackfillResult] | None) -> None:
        write = self.stdout.write
        if report.gaps:
            header = ("week_ending", "tier", "stage", "status", "work item", "remediation")
            rows = [header, *(self._row(gap) for gap in report.gaps)]
            widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
            for row in rows:
                cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
                write("  ".join([*cells, row[-1]]).rstrip())
            write("")
        counts = report.counts
        write(
            f"{len(report.weeks)} week(s) from {report.since.isoformat()} to "
            f"{report.until.isoformat()}: {counts['overdue']} overdue, "
            f"{counts['not_yet_due']} not yet due"
        )
        if fixed is None:
            return
        if not fixed:
            write("--fix: nothing to enqueue")
        for result in fixed:
            for partition in result.partitions:
                item = f"#{partition.item_id}" if partition.item_id else "-"
                write(
                    f"--fix: {result.pipeline} {canonical_json(partition.partition_key)} "
                    f"{OUTCOME_LABELS[partition.outcome]} {item}"
                )
        total = sum(result.enqueued for result in fixed)
        left = sum(
            result.counts[BackfillOutcome.ACTIVE] + result.counts[BackfillOutcome.COMPLETE]
            for result in fixed
        )
        write(f"--fix: {total} item(s) enqueued" + (f", {left} left alone" if left else ""))

    @staticmethod
    def _row(gap: Gap) -> tuple[str, ...]:
        item = f"#{gap.item.item_id} {gap.item.state}" if gap.item else "-"
        return (
            gap.week_ending.isoformat(),
            gap.tier,
            gap.stage,
            gap.status.value,
            item,
            gap.remediation,
        )
