"""Ingest benchmark: ingest_week and normalize_week on a 1,000,000-row file vs psql \\copy.

Run from the repository root (needs PostgreSQL and psql):

    python benchmarks/ingest.py [--rows 1000000] [--server postgres://postgres@127.0.0.1:5432]

It (re)creates the database ``marketspine_bench_ingest``, migrates it, generates the file in
the real layout with ``generate_finra_sample`` (in a child process, so generation does not count
towards this worker's peak memory), then in one run:

- times ``psql \\copy`` of the file into a bare table with the file's 8 columns;
- runs ``ingest_week``, ``normalize_week`` and the four calcs through the work queue (the same
  code path as a qcluster worker) and reads each item's duration from ``core_executions``;
- reports the worker's peak memory (``resource.getrusage`` maxrss);
- then times the data API's first page of the week's per-symbol datasets, as a desk reading
  the new week right after its stages would (for information).

Shared machines swing by half from one second to the next, so the whole round (\\copy, then
the six stages) runs ``--rounds`` times (3 by default) and every figure is the median of its
rounds: each round after the first re-runs the stages on the same day, which replaces the
capture (the same-day re-run path). The ratios compare medians of interleaved measurements.

Targets: each stage at most 2.0x the \\copy time; peak memory under 1 GiB; the four calcs
together no slower than the ingest. The tier split needs three tiers, so the two NMS tiers get
small (2,000-row) files, ingested and normalized untimed.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_db import add_server_argument, recreate_database

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "marketspine_bench_ingest"
WEEK = "2025-12-12"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    add_server_argument(parser)
    args = parser.parse_args()
    server = args.server.rstrip("/")

    database_url = recreate_database(DATABASE, server)
    data_dir = Path(tempfile.mkdtemp(prefix="finra-bench-"))
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "FINRA_DATA_DIR": str(data_dir),
        "DEBUG": "1",
        "WORKQUEUE_KICK_ON_ENQUEUE": "0",
    }
    os.environ.update(env)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], check=True, env=env)
    started = time.monotonic()
    for tiers, rows in (("OTC", args.rows), ("NMS_TIER_1,NMS_TIER_2", 2000)):
        subprocess.run(
            [
                *manage,
                "generate_finra_sample",
                "--weeks",
                "1",
                "--end-week",
                WEEK,
                "--tiers",
                tiers,
                "--rows",
                str(rows),
                "--seed",
                "1",
                "--out",
                str(data_dir),
            ],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
    big_file = data_dir / WEEK / "OTC.psv"
    print(
        f"generated {args.rows:,} rows ({big_file.stat().st_size / 1e6:.0f} MB) "
        f"in {time.monotonic() - started:.1f}s"
    )

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketspine.settings")
    import django

    django.setup()
    run_small_tiers()
    copies: list[float] = []
    rounds: list[dict[str, float]] = []
    for number in range(1, args.rounds + 1):
        copies.append(time_psql_copy(database_url, big_file))
        rounds.append(run_pipelines())
        print(
            f"round {number}: \\copy {copies[-1]:.2f}s, "
            + ", ".join(f"{name} {seconds:.2f}s" for name, seconds in rounds[-1].items()),
            flush=True,
        )
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    copy_seconds = statistics.median(copies)
    timings = {name: statistics.median(r[name] for r in rounds) for name in rounds[0]}
    calcs = statistics.median(
        sum(v for k, v in r.items() if k.startswith("compute_")) for r in rounds
    )

    print()
    print(f"medians of {args.rounds} rounds")
    print(f"psql \\copy (8 columns, bare table)   {copy_seconds:7.2f}s")
    for name, seconds in timings.items():
        print(f"{name:<37}{seconds:7.2f}s   {seconds / copy_seconds:5.2f}x \\copy")
    print(f"{'four calcs together':<37}{calcs:7.2f}s   {calcs / copy_seconds:5.2f}x \\copy")
    print(f"peak worker memory (maxrss)          {peak_mib:7.0f} MiB")
    print()
    checks = {
        "ingest_week <= 2.0x \\copy": timings["ingest_week"] <= 2.0 * copy_seconds,
        "normalize_week <= 2.0x \\copy": timings["normalize_week"] <= 2.0 * copy_seconds,
        "peak memory < 1 GiB": peak_mib < 1024,
        "four calcs <= ingest_week": calcs <= timings["ingest_week"],
    }
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'MISS'}  {name}")
    print()
    time_first_reads()
    return 0 if all(checks.values()) else 1


def time_first_reads() -> None:
    """Time the data API's first page of each per-symbol dataset of the week, right after
    its stages ran, as a desk reading the new week would (for information: no target)."""
    from django.contrib.auth.models import User
    from rest_framework.test import APIClient

    from finra.models import SymbolHHIRow

    user, _ = User.objects.get_or_create(username="bench", defaults={"is_superuser": True})
    client = APIClient(SERVER_NAME="localhost")
    client.force_authenticate(user)
    # The symbol traded on the most venues (the file also has rows without a symbol).
    symbol = (
        SymbolHHIRow.objects.filter(tier="OTC")
        .order_by("-venue_count", "symbol")
        .values_list("symbol", flat=True)
        .first()
    )
    print("data API, right after the stages (count and first 500 rows)")
    for query in (
        f"symbol-venue-share?week_ending={WEEK}&tier=OTC",
        f"hhi?week_ending={WEEK}&tier=OTC",
        f"tier-split?week_ending={WEEK}",
        f"hhi?symbol={symbol}",
        f"symbol-venue-share?symbol={symbol}",
    ):
        started = time.monotonic()
        response = client.get(f"/api/v1/finra/{query}")
        elapsed = time.monotonic() - started
        count = response.json()["count"] if response.status_code == 200 else "-"
        print(f"  {query:<50}{elapsed * 1000:7.0f} ms  {response.status_code}  count {count}")


def time_psql_copy(url: str, path: Path) -> float:
    def psql(command: str) -> None:
        subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qc", command], check=True)

    psql(
        "DROP TABLE IF EXISTS bench_raw; CREATE TABLE bench_raw (tier_description text, "
        "symbol text, issue_name text, participant_name text, mpid text, "
        "share_quantity bigint, trade_count bigint, last_update_date date)"
    )
    started = time.monotonic()
    # \x01 never occurs in FINRA files: every value is read unquoted, as FINRA writes it.
    psql(
        f"\\copy bench_raw from '{path}' with (format csv, delimiter '|', header true, "
        "quote E'\\x01')"
    )
    return time.monotonic() - started


def run(pipeline: str, key: dict[str, str], params: dict[str, object] | None = None) -> float:
    """Run one work item through the queue now; its duration from its execution record."""
    from django.utils import timezone

    from workqueue.models import Execution, WorkItem
    from workqueue.runner import drain
    from workqueue.services import Actor, work_item_enqueue
    from workqueue.states import WorkState

    item = work_item_enqueue(
        domain="finra.otc_transparency",
        pipeline=pipeline,
        partition_key=key,
        params=params or {},
        actor=Actor.cli(),
        reprocess=True,
    ).item
    # Run exactly this item: chained downstream items wait for their own turn.
    pending = WorkItem.objects.filter(state=WorkState.PENDING)
    pending.exclude(pk=item.pk).update(desired_at="2999-01-01T00:00:00Z")
    pending.filter(pk=item.pk).update(desired_at=timezone.now())
    drain(max_items=1)
    item.refresh_from_db()
    execution = Execution.objects.filter(work_item=item).latest("id")
    if item.state != WorkState.COMPLETE:
        raise SystemExit(f"{pipeline} {key} ended {item.state}: {item.last_error}")
    return float(execution.duration_seconds)


def run_small_tiers() -> None:
    for tier in ("NMS_TIER_1", "NMS_TIER_2"):
        run("ingest_week", {"week_ending": WEEK, "tier": tier})
        run("normalize_week", {"week_ending": WEEK, "tier": tier})


def run_pipelines() -> dict[str, float]:
    otc = {"week_ending": WEEK, "tier": "OTC"}
    timings = {
        # force: every round writes the capture again (same content would be skipped).
        "ingest_week": run("ingest_week", otc, {"force": True}),
        "normalize_week": run("normalize_week", otc),
        "compute_venue_volume": run("compute_venue_volume", otc),
        "compute_venue_share": run("compute_venue_share", otc),
        "compute_hhi": run("compute_hhi", otc),
        "compute_tier_split": run("compute_tier_split", {"week_ending": WEEK}),
    }
    return timings


if __name__ == "__main__":
    sys.exit(main())
