"""manage.py run_finra_weekly_schedule: the multi-week FINRA scheduler, for cron and by hand.

Exit codes for cron: 0 everything due succeeded or was unchanged, 1 some partitions failed (the
others were processed), 2 critical (database, flags or configuration, nothing finished before
``--wait-timeout``). The logic is ``finra.scheduler``; this command parses flags and prints.
"""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandParser
from django.db import connections

from finra.scheduler import (
    DEFAULT_LOOKBACK_WEEKS,
    Mode,
    OnlyStage,
    SchedulerConfigError,
    SchedulerOptions,
    SchedulerReport,
    parse_duration,
    parse_tiers,
    parse_weeks,
    report_table,
    weekly_schedule_refused,
    weekly_schedule_run,
)
from finra.services.sources import SOURCES
from finra.tiers import TIERS
from marketspine.env import database_config, database_url

CRITICAL = 2


def use_database(value: str) -> None:
    """Point the default connection at ``--db`` (an SQLite path or a database URL) before
    anything queries it, as ``DATABASE_URL`` would have."""
    config = database_config(database_url(value))
    connections["default"].close()
    settings.DATABASES["default"] = config
    connections.settings["default"] = connections.configure_settings({"default": config})["default"]
    if hasattr(connections._connections, "default"):
        del connections["default"]


class Command(BaseCommand):
    help = (
        "Re-check the last N FINRA weeks (or --weeks): ingest what is due and changed, let the "
        "pipelines normalize and compute, wait, print a table; exit 0, 1 (partial) or 2."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--lookback-weeks",
            type=int,
            default=DEFAULT_LOOKBACK_WEEKS,
            help=f"the last N completed weeks (default {DEFAULT_LOOKBACK_WEEKS})",
        )
        parser.add_argument("--weeks", help="week endings (Fridays) instead: 2025-11-28,2025-12-05")
        parser.add_argument("--mode", choices=[m.value for m in Mode], default=Mode.RUN.value)
        parser.add_argument(
            "--force", action="store_true", help="re-ingest even when the content is unchanged"
        )
        parser.add_argument(
            "--only-stage", choices=[s.value for s in OnlyStage], default=OnlyStage.ALL.value
        )
        parser.add_argument("--source", choices=SOURCES, default="file")
        parser.add_argument(
            "--tiers", help=f"comma-separated (default all: {','.join(TIERS)})", default=None
        )
        parser.add_argument(
            "--wait-timeout",
            default="45m",
            help="how long to wait for the work: seconds, or e.g. 45m, 2h (default 45m)",
        )
        parser.add_argument(
            "--db", help="SQLite file or database URL to use instead of DATABASE_URL"
        )
        parser.add_argument(
            "--verbose", action="store_true", help="say what it does as it goes (--verbosity 2)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        code = self.run(options)
        if code:
            sys.exit(code)

    def run(self, flags: dict[str, Any]) -> int:
        verbose = flags["verbose"] or flags["verbosity"] >= 2
        arguments = {
            key: flags.get(key)
            for key in (
                "lookback_weeks",
                "weeks",
                "mode",
                "force",
                "only_stage",
                "source",
                "tiers",
                "wait_timeout",
            )
        }
        try:
            if flags.get("db"):
                use_database(flags["db"])
                if verbose:
                    self.stdout.write(f"database: {flags['db']}")
        except ImproperlyConfigured as exc:
            self.stderr.write(f"CRITICAL: --db: {exc}")
            return CRITICAL
        try:
            options = SchedulerOptions(
                weeks=parse_weeks(flags["weeks"]) if flags.get("weeks") else None,
                lookback_weeks=flags["lookback_weeks"],
                mode=Mode(flags["mode"]),
                force=flags["force"],
                only_stage=OnlyStage(flags["only_stage"]),
                source=flags["source"],
                tiers=parse_tiers(flags["tiers"]) if flags.get("tiers") else tuple(TIERS),
                wait_timeout=parse_duration(flags["wait_timeout"]),
            )
        except SchedulerConfigError as exc:
            self.stderr.write(f"CRITICAL: {exc}")
            if flags["mode"] != Mode.DRY_RUN:
                weekly_schedule_refused(arguments=arguments, message=str(exc))
            return CRITICAL

        def log(line: str) -> None:
            if verbose:
                self.stdout.write(line)

        report = weekly_schedule_run(options=options, log=log)
        self.print_report(report, dry_run=options.mode is Mode.DRY_RUN)
        return report.exit_code

    def print_report(self, report: SchedulerReport, *, dry_run: bool) -> None:
        if dry_run:
            self.stdout.write("dry run: nothing is written")
        if report.rows:
            for line in report_table(report.rows, dry_run=dry_run):
                self.stdout.write(line)
        status = f"{report.status} (exit {report.exit_code})"
        run = f", run {report.run_id}" if report.run_id else ""
        line = f"{status}{run}: {report.summary()}"
        if report.exit_code == CRITICAL:
            self.stderr.write(f"CRITICAL: {line}")
        else:
            self.stdout.write(line)
