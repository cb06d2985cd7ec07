"""Write synthetic FINRA weekly files in the FINRA_DATA_DIR layout (<week>/<TIER>.psv)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from finra.samplegen import generate_week_file, sample_file_name
from finra.tiers import TIERS, UnknownTierError, canonical_tier
from finra.weeks import InvalidWeekEnding, last_completed_week_ending, parse_week_ending


class Command(BaseCommand):
    help = (
        "Generate deterministic sample weekly files (same seed, same bytes) for demos, tests "
        "and benchmarks, in the <out>/<week_ending>/<TIER>.psv layout the file source reads."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--weeks", type=int, default=2, help="how many weeks (default 2)")
        parser.add_argument(
            "--tiers",
            default=",".join(TIERS),
            help="comma-separated tiers, any FINRA spelling (default: all three)",
        )
        parser.add_argument("--rows", type=int, default=2000, help="data rows per file")
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--out", help="output directory (default: FINRA_DATA_DIR)")
        parser.add_argument(
            "--end-week",
            help="newest week ending, a Friday (default: the last completed week)",
        )
        parser.add_argument(
            "--restatement",
            action="store_true",
            help="also write each file's first FINRA revision as <TIER>.r1.psv",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        weeks, rows = options["weeks"], options["rows"]
        if weeks < 1:
            raise CommandError(f"--weeks must be at least 1, not {weeks}")
        if rows < 1:
            raise CommandError(f"--rows must be at least 1, not {rows}")
        try:
            tiers = list(dict.fromkeys(canonical_tier(t) for t in options["tiers"].split(",")))
        except UnknownTierError as exc:
            raise CommandError(f"--tiers: {exc}") from None
        try:
            end_week = (
                parse_week_ending(options["end_week"])
                if options["end_week"]
                else last_completed_week_ending(timezone.now().date())
            )
        except InvalidWeekEnding as exc:
            raise CommandError(f"--end-week: {exc}") from None
        out = Path(options["out"] or settings.FINRA_DATA_DIR)
        week_endings: list[date] = [end_week - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]

        written = 0
        for week_ending in week_endings:
            for tier in tiers:
                revisions = (0, 1) if options["restatement"] else (0,)
                for revision in revisions:
                    path = out / sample_file_name(week_ending, tier)
                    if revision:
                        path = path.with_suffix(f".r{revision}.psv")
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(
                        generate_week_file(
                            week_ending=week_ending,
                            tier=tier,
                            rows=rows,
                            seed=options["seed"],
                            revision=revision,
                        )
                    )
                    written += 1
                    self.stdout.write(f"wrote {path} ({rows:,} rows)")
        self.stdout.write(
            self.style.SUCCESS(
                f"{written} file(s) for {len(week_endings)} week(s) ending "
                f"{week_endings[0]}..{week_endings[-1]}, tiers {', '.join(tiers)}, "
                f"seed {options['seed']}, in {out}"
            )
        )
