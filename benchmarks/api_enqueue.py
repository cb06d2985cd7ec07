"""Enqueue throughput of the REST API on PostgreSQL behind gunicorn, against two baselines.

    .venv/bin/python benchmarks/api_enqueue.py [--items 10000] [--concurrency 8] [--bulk 500]

Phases, all with distinct partitions (domain workqueue.diagnostics, pipeline noop, partition
{"n": i}), tables truncated between phases:

1. baseline and api single, alternating in --rounds rounds (order swapped each round, so load
   from anything else on the machine weighs on both alike):
   - baseline: a minimal Django view (benchmarks/views.py) that inserts one row and answers
     JSON, one request per item, on the same gunicorn server;
   - api single: POST /api/v1/work/enqueue, one request per item, token auth;
2. api bulk: the same number of items as JSON lists of --bulk items, one request at a time;
3. bare bulk_create of the same number of WorkItem rows from this process.

Single-request phases use --concurrency threads, each with its own requests.Session. Printed:
requests/s, p50/p99 latency, bulk items/s, and the ratios api/baseline (target >= 0.5) and
api bulk time / bulk_create time (target <= 3).

Needs PostgreSQL at BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432); it drops and
creates the database marketspine_bench_api (BENCH_API_DB names another). No qcluster runs, so
the server has WORKQUEUE_KICK_ON_ENQUEUE=false (enqueue would otherwise queue a drain task for
nobody).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from bench_db import DEFAULT_SERVER, recreate_database

ROOT = Path(__file__).resolve().parents[1]
PG_URL = DEFAULT_SERVER.rstrip("/")
DB_NAME = os.environ.get("BENCH_API_DB", "marketspine_bench_api")
DOMAIN, PIPELINE = "workqueue.diagnostics", "noop"

SERVER_ENV = {
    "DATABASE_URL": f"{PG_URL}/{DB_NAME}",
    "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
    "SECRET_KEY": "benchmark-only-secret-key-not-used-anywhere-else-0123456789",
    "DEBUG": "0",
    "SECURE_SSL_REDIRECT": "false",
    "WORKQUEUE_KICK_ON_ENQUEUE": "false",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "LOG_LEVEL": "WARNING",
}


def setup_django() -> str:
    """Migrate the benchmark database and return an operator's API token."""
    os.environ.update(SERVER_ENV)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command

    from workqueue.services import Actor
    from workqueue.tokens import api_token_create

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench")
    user.groups.add(Group.objects.get(name="data_ops"))
    return api_token_create(user=user, name="benchmark", actor=Actor.system("benchmark"))[1]


def wipe() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE core_work_items, core_executions, core_audit_events, core_manifest "
            "RESTART IDENTITY"
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(port: int, workers: int) -> subprocess.Popen:
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "marketspine.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        f"--workers={workers}",
        "--worker-class=sync",
        "--log-level=warning",
    ]
    server = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **SERVER_ENV})
    deadline = time.monotonic() + 120  # four workers boot slowly on a busy machine
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=5)
            return server
        except requests.RequestException:  # not listening yet, or a worker still booting
            time.sleep(0.2)
    server.kill()
    raise SystemExit("gunicorn did not start")


def item(n: int) -> dict:
    return {"domain": DOMAIN, "pipeline": PIPELINE, "partition_key": {"n": n}}


def run_requests(url: str, bodies: list, headers: dict, concurrency: int, expect: int) -> dict:
    """POST every body (concurrency threads, a Session each); wall time and latencies."""
    local = threading.local()

    def post(body: object) -> float:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            session.headers.update(headers)
        started = time.perf_counter()
        response = session.post(url, json=body, timeout=60)
        elapsed = time.perf_counter() - started
        if response.status_code != expect:
            raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")
        return elapsed

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        latencies = list(pool.map(post, bodies))
    return summarize([(time.perf_counter() - started, latencies)])


def summarize(runs: list[tuple[float, list[float]]]) -> dict:
    """Pool several timed runs: total requests over total wall time, pooled latencies."""
    wall = sum(seconds for seconds, _ in runs)
    latencies = sorted(latency for _, run in runs for latency in run)
    return {
        "requests": len(latencies),
        "seconds": wall,
        "rps": len(latencies) / wall,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "latencies": latencies,
    }


def interleaved(
    base: str, auth: dict, items: int, rounds: int, concurrency: int
) -> tuple[dict, dict]:
    """The baseline view and the API, alternating in rounds (order swapped each round), so
    whatever else the machine is doing weighs on both alike."""
    per_round = items // rounds
    runs: dict[str, list[tuple[float, list[float]]]] = {"baseline": [], "api": []}
    targets = {
        "baseline": (f"{base}/bench/baseline-insert", {}, 0),
        "api": (f"{base}/api/v1/work/enqueue", auth, items),
    }
    for round_number in range(rounds):
        order = ["baseline", "api"] if round_number % 2 == 0 else ["api", "baseline"]
        for which in order:
            url, headers, offset = targets[which]
            first = offset + round_number * per_round
            bodies = [item(n) for n in range(first, first + per_round)]
            result = run_requests(url, bodies, headers, concurrency, 201)
            runs[which].append((result["seconds"], result["latencies"]))
    return summarize(runs["baseline"]), summarize(runs["api"])


def bare_bulk_create(count: int) -> float:
    from django.db import transaction
    from django.utils import timezone

    from workqueue.models import WorkItem

    now = timezone.now()
    started = time.perf_counter()
    with transaction.atomic():
        WorkItem.objects.bulk_create(
            [
                WorkItem(
                    domain=DOMAIN,
                    pipeline=PIPELINE,
                    partition_key={"n": n},
                    params={},
                    desired_at=now,
                    created_at=now,
                    updated_at=now,
                )
                for n in range(count)
            ],
            batch_size=1000,
        )
    return time.perf_counter() - started


def count_items() -> int:
    from workqueue.models import WorkItem

    return WorkItem.objects.count()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--bulk", type=int, default=500)
    parser.add_argument("--gunicorn-workers", type=int, default=4)
    parser.add_argument(
        "--rounds", type=int, default=5, help="alternating rounds of baseline and API requests"
    )
    args = parser.parse_args()

    recreate_database(DB_NAME)
    token = setup_django()
    port = free_port()
    server = start_gunicorn(port, args.gunicorn_workers)
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Token {token}"}
    bodies = [item(n) for n in range(args.items)]
    try:
        # Warm every worker up (imports, connections) before timing anything.
        run_requests(f"{base}/bench/baseline-insert", [item(-n - 1) for n in range(64)], {}, 8, 201)
        wipe()

        baseline, single = interleaved(base, auth, args.items, args.rounds, args.concurrency)
        assert count_items() == 2 * (args.items // args.rounds) * args.rounds
        wipe()

        chunks = [bodies[i : i + args.bulk] for i in range(0, len(bodies), args.bulk)]
        bulk = run_requests(f"{base}/api/v1/work/enqueue", chunks, auth, 1, expect=201)
        assert count_items() == args.items
        wipe()

        bare = bare_bulk_create(args.items)
        assert count_items() == args.items
        wipe()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    print(
        f"API enqueue benchmark: {args.items} items, PostgreSQL, gunicorn "
        f"{args.gunicorn_workers} sync workers, {os.cpu_count()} CPUs, "
        f"client concurrency {args.concurrency}; baseline and API requests alternate in "
        f"{args.rounds} rounds"
    )
    print(f"{'phase':<34}{'requests':>9}{'seconds':>9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
    for name, r in [
        ("baseline view, 1 row/request", baseline),
        ("API enqueue, 1 item/request", single),
        (f"API bulk enqueue, {args.bulk} items/request", bulk),
    ]:
        print(
            f"{name:<34}{r['requests']:>9}{r['seconds']:>9.2f}{r['rps']:>9.1f}"
            f"{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}"
        )
    print(f"{'bare bulk_create':<34}{'-':>9}{bare:>9.2f}")
    print()
    print(f"API bulk enqueue: {args.items / bulk['seconds']:.0f} items/s (one request at a time)")
    print(f"bare bulk_create: {args.items / bare:.0f} items/s")
    ratio_single = single["rps"] / baseline["rps"]
    ratio_bulk = bulk["seconds"] / bare
    print(
        f"single-request throughput vs minimal view: {ratio_single:.2f}x "
        f"(target >= 0.5x: {'met' if ratio_single >= 0.5 else 'NOT met'})"
    )
    print(
        f"bulk enqueue time vs bare bulk_create: {ratio_bulk:.2f}x "
        f"(target <= 3x: {'met' if ratio_bulk <= 3 else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
