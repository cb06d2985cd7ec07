"""Admin console benchmark: server time of the console's pages over ten years of FINRA history.

Run from the repository root (needs PostgreSQL):

    python benchmarks/admin_pages.py [--weeks 520] [--repeats 20] [--server postgres://...]

It (re)creates the database ``marketspine_bench_admin``, migrates it and bulk-inserts the
history: ``--weeks`` weeks x 3 tiers, every stage (five per tier, the tier split per week) with
its work item, manifest row, capture and one execution, about 2% of the items FAILED with an
error, plus one OTC week's dataset rows (200 venues, 5,000 symbols) for the week page.

Then it times, in this process with Django's test ``Client`` logged in as a data_ops user, the
server time of each page (``time.perf_counter`` around ``client.get``): the dashboard, the
partition grid (first page), the failed items list and a week page, against the stock work item
changelist (``/admin/workqueue/workitem/``) in the same run. The pages are requested in turn,
``--repeats`` rounds, so that anything else running on the machine weighs on all of them alike;
it prints each page's median, its ratio to the changelist's, and its query count. Target: every
page's median under 300 ms (exit status 1 otherwise). The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from bench_db import add_server_argument, drop_database, recreate_database

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "marketspine_bench_admin"
TARGET_MS = 300.0


def fill_history(weeks: int) -> tuple[str, int]:
    """The history, bulk-inserted; returns the week page's week and the number of items."""
    from django.contrib.auth.models import Group, User
    from django.utils import timezone

    from finra.console import newest_week
    from finra.models import ALL_TIERS, DOMAIN, Capture
    from finra.stages import STAGES, PartitionShape
    from finra.tiers import TIERS
    from workqueue.models import Execution, ExecutionOutcome, ManifestEntry, WorkItem
    from workqueue.states import WorkState

    newest = newest_week()
    week_list = [newest - timedelta(weeks=n) for n in range(weeks)]
    now = timezone.now()
    items, entries, captures = [], [], []
    count = 0
    for week in week_list:
        for spec in STAGES:
            for tier in TIERS if spec.partition is PartitionShape.TIER else (ALL_TIERS,):
                key = {"week_ending": week.isoformat()}
                if tier != ALL_TIERS:
                    key["tier"] = tier
                capture_id = f"{DOMAIN}:{tier}:{week.isoformat()}:20260105"
                failed = count % 50 == 7
                items.append(
                    WorkItem(
                        domain=DOMAIN,
                        pipeline=spec.pipeline,
                        partition_key=key,
                        state=WorkState.FAILED if failed else WorkState.COMPLETE,
                        attempt_count=1,
                        max_attempts=3,
                        last_error="RuntimeError: HTTP 503: upstream unavailable"
                        if failed
                        else None,
                        last_error_at=now if failed else None,
                        completed_at=None if failed else now,
                    )
                )
                if not failed:
                    entries.append(
                        ManifestEntry(
                            domain=DOMAIN,
                            partition_key=key,
                            stage=spec.stage,
                            stage_rank=spec.rank,
                            row_count=1000,
                            capture_id=capture_id,
                        )
                    )
                    captures.append(
                        Capture(
                            capture_id=capture_id,
                            stage=spec.stage,
                            week_ending=week,
                            tier=tier,
                            captured_at=now,
                            computed_at=now,
                            row_count=1000,
                            source_sha256="ab" * 32 if spec.upstream is None else "",
                        )
                    )
                count += 1
    made = WorkItem.objects.bulk_create(items, batch_size=2000)
    ManifestEntry.objects.bulk_create(entries, batch_size=2000)
    Capture.objects.bulk_create(captures, batch_size=2000)
    Execution.objects.bulk_create(
        [
            Execution(
                work_item=item,
                attempt=1,
                worker="bench:1",
                started_at=now - timedelta(seconds=5),
                finished_at=now,
                outcome=ExecutionOutcome.FAILED
                if item.state == WorkState.FAILED
                else ExecutionOutcome.SUCCESS,
                error=item.last_error,
                duration_seconds=5.0,
            )
            for item in made
        ],
        batch_size=2000,
    )
    week = week_list[5]
    fill_week(week)
    user = User.objects.create_user("bench-ops", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="data_ops"))
    return week.isoformat(), len(made)


def fill_week(week) -> None:
    """One OTC week's venue shares, symbol HHI, tier HHI and tier split rows."""
    import pandas as pd
    from django.db import transaction
    from django.utils import timezone

    from finra import storage
    from finra.models import DOMAIN, SymbolHHIRow, TierHHIRow, TierSplitRow, VenueShareRow

    capture_id = f"{DOMAIN}:OTC:{week.isoformat()}:20260105"
    split_id = f"{DOMAIN}:ALL:{week.isoformat()}:20260105"
    constants = {"captured_at": timezone.now(), "week_ending": week, "tier": "OTC"}
    venues = 200
    total = sum(range(1, venues + 1))
    frames = {
        VenueShareRow: pd.DataFrame(
            {
                "venue_key": [f"V{n}" for n in range(venues)],
                "venue_name": [f"Venue {n}" for n in range(venues)],
                "mpid": [f"M{n}" for n in range(venues)],
                "share_quantity": [venues - n for n in range(venues)],
                "share": [(venues - n) / total for n in range(venues)],
                "rank": list(range(1, venues + 1)),
            }
        ),
        SymbolHHIRow: pd.DataFrame(
            {
                "symbol": [f"S{n:05d}" for n in range(5000)],
                "hhi": [(n % 1000) / 999 for n in range(5000)],
                "venue_count": [1 + n % 20 for n in range(5000)],
                "total_volume": [1000 + n for n in range(5000)],
            }
        ),
        TierHHIRow: pd.DataFrame([{"hhi": 0.12, "venue_count": venues, "total_volume": total}]),
    }
    split = pd.DataFrame(
        {
            "symbol": [f"S{n:05d}" for n in range(5000)],
            "nms_tier_1_volume": [700] * 5000,
            "nms_tier_2_volume": [200] * 5000,
            "otc_volume": [100] * 5000,
            "total_volume": [1000] * 5000,
            "nms_tier_1_share": [0.7] * 5000,
            "nms_tier_2_share": [0.2] * 5000,
            "otc_share": [0.1] * 5000,
            "nms_tier_1_capture_id": [capture_id] * 5000,
            "nms_tier_2_capture_id": [capture_id] * 5000,
            "otc_capture_id": [capture_id] * 5000,
        }
    )
    with transaction.atomic():
        for model, frame in frames.items():
            storage.replace_capture_rows(
                model, capture_id=capture_id, constants=constants, frame=frame
            )
        storage.replace_capture_rows(
            TierSplitRow,
            capture_id=split_id,
            constants={"captured_at": constants["captured_at"], "week_ending": week},
            frame=split,
        )


def measure(urls: dict[str, str], repeats: int) -> dict[str, tuple[float, int]]:
    """Median milliseconds and query count of each page, the pages requested in turn."""
    from django.contrib.auth.models import User
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    # HTTPS, as behind the production proxy: DEBUG off redirects plain HTTP.
    client = Client()
    client.force_login(User.objects.get(username="bench-ops"))
    queries = {}
    for name, url in urls.items():  # warm-up: templates, content types, permissions
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url, secure=True)
        if response.status_code != 200:
            raise SystemExit(f"{name}: {url} answered {response.status_code}")
        queries[name] = len(captured)
    times: dict[str, list[float]] = {name: [] for name in urls}
    for _ in range(repeats):
        for name, url in urls.items():
            reset_queries()
            started = time.perf_counter()
            response = client.get(url, secure=True)
            times[name].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
    return {name: (statistics.median(t), queries[name]) for name, t in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weeks", type=int, default=520)
    parser.add_argument("--repeats", type=int, default=20)
    add_server_argument(parser)
    args = parser.parse_args()
    server = args.server.rstrip("/")

    database_url = recreate_database(DATABASE, server)
    env = {
        "DATABASE_URL": database_url,
        "DEBUG": "0",
        "SECRET_KEY": "benchmark-only-secret-key-not-for-production",
        "ALLOWED_HOSTS": "testserver,localhost",
        "WORKQUEUE_KICK_ON_ENQUEUE": "0",
    }
    os.environ.update(env)
    try:
        subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"],
            check=True,
            env={**os.environ, "DEBUG": "1"},
        )
        sys.path.insert(0, str(ROOT))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketspine.settings")
        import django

        django.setup()
        from django.db import connection
        from django.urls import reverse

        started = time.monotonic()
        week, items = fill_history(args.weeks)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        print(
            f"history: {args.weeks} weeks x 3 tiers, {items:,} work items, manifest rows, "
            f"captures and executions in {time.monotonic() - started:.1f}s"
        )
        urls = {
            "work item changelist (baseline)": reverse("admin:workqueue_workitem_changelist"),
            "dashboard": reverse("admin:index"),
            "partition grid, first page": reverse("admin:finra_grid"),
            "failed items": reverse("admin:workqueue_failedworkitem_changelist"),
            "week page": reverse("admin:finra_week", args=[week, "OTC"]),
        }
        results = measure(urls, args.repeats)
        baseline = results["work item changelist (baseline)"][0]
        print(f"\nmedian server time of {args.repeats} requests each (data_ops user)")
        print(f"{'page':34} {'median ms':>10} {'x baseline':>11} {'queries':>8}")
        missed = []
        for name, (median, queries) in results.items():
            print(f"{name:34} {median:10.1f} {median / baseline:11.2f} {queries:8d}")
            if median > TARGET_MS:
                missed.append(name)
        print(
            f"\ntarget: every page under {TARGET_MS:.0f} ms: "
            + ("missed by " + ", ".join(missed) if missed else "met")
        )
        return 1 if missed else 0
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(DATABASE, server)


if __name__ == "__main__":
    sys.exit(main())
