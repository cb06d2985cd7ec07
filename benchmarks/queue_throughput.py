"""Work queue throughput on PostgreSQL: Market Spine vs bare django-q2 vs Procrastinate.

    .venv/bin/pip install -r benchmarks/requirements.txt
    .venv/bin/python benchmarks/queue_throughput.py [--items 5000] [--workers 2]

Each system gets the same job: N no-op units of work, queued one by one with no worker running
(that rate is printed as "enqueued/s"), then 2 workers are started and drain them. The
processing rate is N divided by the span from the first start to the last finish, read from
each system's own records (core_executions, django_q_task, procrastinate_events), so worker
start-up time counts for nobody. (django-q2 records when a task was queued, not when it
started, so its span runs from the first finish to the last.) Market Spine must also run
every item exactly once: the script checks one SUCCESS execution per item.

Needs PostgreSQL at BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432); it creates and
drops its own databases (marketspine_bench_queue, marketspine_bench_procrastinate; override
the names with BENCH_QUEUE_DB and BENCH_PROCRASTINATE_DB).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from bench_db import DEFAULT_SERVER, recreate_database

ROOT = Path(__file__).resolve().parents[1]
PG_URL = DEFAULT_SERVER.rstrip("/")
# Database names may be overridden so two checkouts can benchmark on one server at once.
QUEUE_DB = os.environ.get("BENCH_QUEUE_DB", "marketspine_bench_queue")
PROCRASTINATE_DB = os.environ.get("BENCH_PROCRASTINATE_DB", "marketspine_bench_procrastinate")


def django_env(workers: int) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"{PG_URL}/{QUEUE_DB}",
        "DJANGO_SETTINGS_MODULE": "marketspine.settings",
        "SECRET_KEY": "benchmark-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "SECURE_SSL_REDIRECT": "false",
        "QCLUSTER_WORKERS": str(workers),
        "QCLUSTER_POLL_SECONDS": "0.05",
        "QCLUSTER_SAVE_LIMIT": "0",  # keep every django-q2 task record: the baseline's timings
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }


def start(command: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_until(done: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.1)


def bench_market_spine(items: int, workers: int) -> dict[str, float]:
    from django.db import connection
    from django.db.models import Count

    from workqueue.models import Execution, WorkItem
    from workqueue.services import Actor, work_item_enqueue

    actor = Actor.system("benchmark")
    started = time.perf_counter()
    for n in range(items):
        work_item_enqueue(
            domain="workqueue.diagnostics", pipeline="noop", partition_key={"n": n}, actor=actor
        )
    enqueue_seconds = time.perf_counter() - started

    wall = time.perf_counter()
    cluster = start([sys.executable, "manage.py", "qcluster"], django_env(workers))
    try:
        wait_until(
            lambda: WorkItem.objects.filter(state="COMPLETE").count() == items,
            timeout=600,
            what="Market Spine items to complete",
        )
        wall = time.perf_counter() - wall
    finally:
        stop(cluster)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXTRACT(EPOCH FROM max(finished_at) - min(started_at)) FROM core_executions"
        )
        span = float(cursor.fetchone()[0])
    runs = Execution.objects.values("work_item").annotate(n=Count("id"))
    exactly_once = runs.count() == items and not runs.exclude(n=1).exists()
    exactly_once = exactly_once and not Execution.objects.exclude(outcome="SUCCESS").exists()
    return {
        "enqueued_per_s": items / enqueue_seconds,
        "processed_per_s": items / span,
        "span_s": span,
        "wall_s": wall,
        "exactly_once": float(exactly_once),
    }


def bench_django_q(items: int, workers: int) -> dict[str, float]:
    from django.db import connection
    from django_q.models import OrmQ, Task
    from django_q.tasks import async_task

    Task.objects.all().delete()
    OrmQ.objects.all().delete()
    started = time.perf_counter()
    for _ in range(items):
        async_task("benchmarks.noop_tasks.django_q_noop")
    enqueue_seconds = time.perf_counter() - started

    wall = time.perf_counter()
    cluster = start([sys.executable, "manage.py", "qcluster"], django_env(workers))
    try:
        wait_until(
            lambda: (
                Task.objects.filter(func="benchmarks.noop_tasks.django_q_noop").count() == items
            ),
            timeout=900,
            what="django-q2 tasks to finish",
        )
        wall = time.perf_counter() - wall
    finally:
        stop(cluster)
    with connection.cursor() as cursor:
        cursor.execute(
            # django-q2 stamps `started` when a task is queued, not when a worker takes it, so
            # its span runs from the first finish to the last: (N - 1) tasks in that time.
            "SELECT EXTRACT(EPOCH FROM max(stopped) - min(stopped)) FROM django_q_task "
            "WHERE func = 'benchmarks.noop_tasks.django_q_noop'"
        )
        span = float(cursor.fetchone()[0]) * items / (items - 1)
    return {
        "enqueued_per_s": items / enqueue_seconds,
        "processed_per_s": items / span,
        "span_s": span,
        "wall_s": wall,
    }


def bench_procrastinate(items: int, workers: int) -> dict[str, float]:
    dsn = recreate_database(PROCRASTINATE_DB)
    env = {**os.environ, "BENCH_PROCRASTINATE_DSN": dsn, "PYTHONPATH": str(ROOT)}
    procrastinate = [sys.executable, "-m", "procrastinate", "--app", "benchmarks.noop_tasks.app"]
    subprocess.run(
        [*procrastinate, "schema", "--apply"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    os.environ["BENCH_PROCRASTINATE_DSN"] = dsn
    import importlib

    from benchmarks import noop_tasks

    importlib.reload(noop_tasks)
    app = noop_tasks.app
    with app.open():
        noop = app.tasks["noop"]
        started = time.perf_counter()
        for _ in range(items):
            noop.defer()
        enqueue_seconds = time.perf_counter() - started

    wall = time.perf_counter()
    worker = start([*procrastinate, "worker", "--concurrency", str(workers)], env)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:

            def succeeded() -> bool:
                row = conn.execute(
                    "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
                ).fetchone()
                return row[0] == items

            wait_until(succeeded, timeout=600, what="Procrastinate jobs to succeed")
            wall = time.perf_counter() - wall
            span = conn.execute(
                "SELECT EXTRACT(EPOCH FROM max(at) FILTER (WHERE type = 'succeeded') "
                "- min(at) FILTER (WHERE type = 'started')) FROM procrastinate_events"
            ).fetchone()[0]
    finally:
        stop(worker)
    return {
        "enqueued_per_s": items / enqueue_seconds,
        "processed_per_s": items / float(span),
        "span_s": float(span),
        "wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-baselines", action="store_true")
    args = parser.parse_args()

    recreate_database(QUEUE_DB)
    os.environ.update(django_env(args.workers))
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=django_env(args.workers),
        check=True,
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()

    print(f"{args.items} no-op units of work, {args.workers} workers, PostgreSQL\n", flush=True)
    results = {"Market Spine work queue": bench_market_spine(args.items, args.workers)}
    if not args.skip_baselines:
        results["bare django-q2 async_task"] = bench_django_q(args.items, args.workers)
        results["Procrastinate"] = bench_procrastinate(args.items, args.workers)

    print(f"{'system':28} {'processed/s':>12} {'span s':>8} {'wall s':>8} {'enqueued/s':>11}")
    for name, figures in results.items():
        print(
            f"{name:28} {figures['processed_per_s']:12.0f} {figures['span_s']:8.2f} "
            f"{figures['wall_s']:8.2f} {figures['enqueued_per_s']:11.0f}"
        )
    print(
        "(span: first start to last finish in the system's own records; wall: from starting "
        "the workers until the script saw everything done, start-up included)"
    )
    ours = results["Market Spine work queue"]
    print(f"\nexactly once (one SUCCESS execution per item): {bool(ours['exactly_once'])}")
    for name, figures in results.items():
        if name != "Market Spine work queue":
            ratio = ours["processed_per_s"] / figures["processed_per_s"]
            print(f"Market Spine / {name}: {ratio:.2f}x processed/s")
    recreate_database(QUEUE_DB)


if __name__ == "__main__":
    main()
