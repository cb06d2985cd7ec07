#!/usr/bin/env python
"""Run the multi-week FINRA scheduler from cron or a shell, without ``manage.py``.

    python scripts/run_finra_weekly_schedule.py --lookback-weeks 6 --source file \
        --db /opt/market-spine/data/market_spine.db --verbose

Same flags and exit codes as ``manage.py run_finra_weekly_schedule`` (0 success, 1 partial,
2 critical). ``--db`` is applied before Django starts, as if it were ``DATABASE_URL``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
COMMAND = "run_finra_weekly_schedule"


def _db_flag(argv: list[str]) -> str | None:
    for index, arg in enumerate(argv):
        if arg == "--db" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--db="):
            return arg.split("=", 1)[1]
    return None


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(PROJECT_ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketspine.settings")
    db = _db_flag(argv)
    if db:
        from marketspine.env import database_url

        os.environ["DATABASE_URL"] = database_url(db)
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018 - loads the settings, where bad configuration shows
    except ImproperlyConfigured as exc:
        print(f"critical: bad configuration: {exc}", file=sys.stderr)
        return 2
    # Exits with the command's code (argparse's 2 for a bad flag); falling through means 0.
    execute_from_command_line([sys.argv[0], COMMAND, *argv])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
