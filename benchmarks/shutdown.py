"""Stopping and starting a qcluster: Market Spine's against django-q2's own cluster.

    .venv/bin/python benchmarks/shutdown.py [--items 40] [--seconds 1] [--workers 2]

The same job for both: N items that each sleep for ``--seconds`` are queued with no worker
running; a cluster is started, and once a few items have completed its main process gets
SIGTERM (what Kubernetes and ``docker stop`` send). The baseline is django-q2's ``Cluster``
started the way its own ``qcluster`` command does, on the same code and settings (drain budget
30 s). Printed per cluster: seconds from start to the first item started, seconds from SIGTERM
to exit, seconds from the last item finished to exit, and items left RUNNING (each of those
waits for its lease to run out before anyone runs it again).

Needs PostgreSQL at BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432); it creates and
drops its own database (marketspine_bench_shutdown, or BENCH_SHUTDOWN_DB).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from bench_db import DEFAULT_SERVER, drop_database, recreate_database

ROOT = Path(__file__).resolve().parents[1]
DB = os.environ.get("BENCH_SHUTDOWN_DB", "marketspine_bench_shutdown")
DB_URL = f"{DEFAULT_SERVER.rstrip('/')}/{DB}"

CLUSTERS = {
    "django-q2 Cluster (baseline)": [
        sys.executable,
        "-c",
        "import django; django.setup(); from django_q.cluster import Cluster; Cluster().start()",
    ],
    "Market Spine qcluster": [sys.executable, "manage.py", "qcluster"],
}


def env(workers: int) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": DB_URL,
        "DJANGO_SETTINGS_MODULE": "marketspine.settings",
        "SECRET_KEY": "benchmark-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "SECURE_SSL_REDIRECT": "false",
        "QCLUSTER_WORKERS": str(workers),
        "QCLUSTER_POLL_SECONDS": "0.05",
        "WORKQUEUE_KICK_ON_ENQUEUE": "false",  # nothing is woken before the cluster starts
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }


def query(sql: str) -> object:
    with psycopg.connect(DB_URL, autocommit=True) as conn:
        return conn.execute(sql).fetchone()[0]


def reset_and_enqueue(items: int, seconds: float, workers: int) -> None:
    with psycopg.connect(DB_URL, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE core_work_items, core_executions, core_worker_heartbeats, django_q_ormq, "
            "django_q_task RESTART IDENTITY CASCADE"
        )
        conn.execute("UPDATE core_dispatch_signal SET drain_queued = false")
        # The one-minute drain schedule is due, as on a cluster that has been down a while.
        conn.execute("UPDATE django_q_schedule SET next_run = now()")
    code = (
        "from workqueue.services import Actor, EnqueueRequest, work_items_enqueue\n"
        "work_items_enqueue(requests=[EnqueueRequest(domain='workqueue.diagnostics', "
        f"pipeline='sleep', partition_key={{'n': n}}, params={{'seconds': {seconds}}}) "
        f"for n in range({items})], actor=Actor.cli())\n"
    )
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env(workers), check=True
    )


def wait_until(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.1)


def run(command: list[str], items: int, seconds: float, workers: int) -> dict[str, float]:
    reset_and_enqueue(items, seconds, workers)
    started = time.time()
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env(workers),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until(lambda: query("SELECT count(*) FROM core_executions") > 0, 120, "a first item")
        first = query("SELECT EXTRACT(EPOCH FROM min(started_at)) FROM core_executions")
        wait_until(
            lambda: query("SELECT count(*) FROM core_work_items WHERE state = 'COMPLETE'") >= 4,
            120,
            "four items to complete",
        )
        signalled = time.time()
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=300)
        exited = time.time()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        else:  # whatever the cluster left behind (orphaned workers)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    last_finish = query("SELECT EXTRACT(EPOCH FROM max(finished_at)) FROM core_executions")
    return {
        "first_item_s": float(first) - started,
        "stop_s": exited - signalled,
        "after_last_item_s": exited - float(last_finish),
        "left_running": query("SELECT count(*) FROM core_work_items WHERE state = 'RUNNING'"),
        "completed": query("SELECT count(*) FROM core_work_items WHERE state = 'COMPLETE'"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    recreate_database(DB)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=env(args.workers),
        check=True,
    )
    try:
        results = {
            name: run(command, args.items, args.seconds, args.workers)
            for name, command in CLUSTERS.items()
        }
    finally:
        drop_database(DB)

    print(f"{args.items} items of {args.seconds:g} s, {args.workers} workers, SIGTERM to main\n")
    print(f"{'cluster':30} {'1st item s':>10} {'stop s':>8} {'exit-last s':>11} {'RUNNING':>8}")
    for name, figures in results.items():
        print(
            f"{name:30} {figures['first_item_s']:10.1f} {figures['stop_s']:8.1f} "
            f"{figures['after_last_item_s']:11.1f} {figures['left_running']:8d}"
        )
    base, ours = results["django-q2 Cluster (baseline)"], results["Market Spine qcluster"]
    print(
        f"\nstop time: {ours['stop_s'] / base['stop_s']:.2f}x the baseline's; first item after "
        f"start: {ours['first_item_s'] / base['first_item_s']:.2f}x the baseline's"
    )


if __name__ == "__main__":
    main()
