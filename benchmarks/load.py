"""Load benchmark: 16 API clients against gunicorn while two qclusters run a 52-week backfill.

    .venv/bin/python benchmarks/load.py [--clients 16] [--seconds 60] [--baseline-seconds 20]
        [--backfill-weeks 52] [--rows 20000] [--gunicorn-workers 4] [--qcluster-workers 2]

Everything runs on this machine against PostgreSQL (``BENCH_PG_URL``): it drops and recreates
the database ``marketspine_bench_load``, migrates it, generates one FINRA week (2025-12-05, the
three tiers, ``--rows`` rows each, real layout) with ``generate_finra_sample`` and copies its
files to the ``--backfill-weeks`` Fridays before it (FINRA-shaped content at full size,
generated once). It serves the app with gunicorn (``--gunicorn-workers`` sync workers) and
starts two ``manage.py qcluster`` processes on the same database: the designed way to scale out.

1. Seed: the week itself is enqueued through ``POST /api/v1/work/backfill`` and run to its tier
   split, so the data API has a finished week to read from the start.
2. Baseline: the client mix for ``--baseline-seconds`` with no backfill running.
3. Load: the 52-week backfill is posted to ``POST /api/v1/work/backfill`` (156 ingests; each
   chains normalize, the three per-tier calcs and the weekly tier split: 832 items), then the
   same client mix runs for ``--seconds`` while the clusters work through it.

The clients (a thread and a ``requests.Session`` each, seeded choices) mix, by weight:
single and bulk (20 items) enqueues of ``workqueue.diagnostics/noop``, cron-style re-sends of
an ingest the backfill owns (answered 200 ``existing`` or 409 ``already_finished``),
``GET /api/v1/work/pending`` and the FINRA data API (venue-share, hhi, symbol-venue-share,
captures, tier-split) for the finished week and for weeks the backfill is writing. Tokens come
from ``manage.py create_api_token`` (last line of its output), one ``data_ops`` user per
``--clients-per-token`` clients, as cron jobs would each have theirs.

Printed per phase: requests, requests/s and p50/p99 latency per endpoint and overall, 5xx and
other non-2xx by status and error code; the load phase's latency and throughput as ratios of the
baseline's. After the clients stop, the queue is left to settle and "nothing lost" is checked in
the database: every noop partition a client was told was created exists once and is COMPLETE,
every backfill partition of every stage is COMPLETE, nothing is RUNNING, PENDING, RETRY_WAIT or
FAILED, and each item's executions (attempts; dependency waits give theirs back) equal its
``attempt_count``, with exactly one successful execution. Exit status 1 on any 5xx, transport
error (a dropped connection is a server failure too) or anything lost. The database is dropped
at the end; every process started is stopped.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import requests
from bench_db import add_server_argument, drop_database, recreate_database

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "marketspine_bench_load"
FINRA = "finra.otc_transparency"
DIAGNOSTICS = "workqueue.diagnostics"
WEEK = date(2025, 12, 5)
TIERS = ("NMS_TIER_1", "NMS_TIER_2", "OTC")
#: Items per finished week: per tier ingest, normalize and three calcs; then the tier split.
ITEMS_PER_WEEK = len(TIERS) * 5 + 1
BULK_SIZE = 20
#: Each client's noop partitions start at client * this, so no two clients ever share one.
PARTITION_STRIDE = 10_000_000


# --- the stack: PostgreSQL database, gunicorn, two qclusters ----------------------------------


def server_env(database_url: str, data_dir: Path, var_dir: Path, workers: int) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "marketspine.settings",
        "SECRET_KEY": "benchmark-only-secret-key-not-used-anywhere-else-0123456789",
        "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "FINRA_DATA_DIR": str(data_dir),
        "MARKETSPINE_VAR_DIR": str(var_dir),
        "QCLUSTER_WORKERS": str(workers),
    }


def manage(env: dict[str, str], *arguments: str) -> str:
    """Run a management command to completion; its stdout."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(arguments)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def api_tokens(env: dict[str, str], count: int) -> list[str]:
    """``count`` data_ops users and a token each, the way an operator makes them."""
    names = [f"load{n}" for n in range(count)]
    manage(
        env,
        "shell",
        "-c",
        "from django.contrib.auth.models import Group, User\n"
        f"for name in {names!r}:\n"
        "    User.objects.create_user(name).groups.add(Group.objects.get(name='data_ops'))",
    )
    return [manage(env, "create_api_token", name).strip().splitlines()[-1] for name in names]


def generate_weeks(env: dict[str, str], data_dir: Path, rows: int, weeks: list[date]) -> None:
    """One generated week, copied to every other Friday (the files the backfill reads)."""
    manage(
        env,
        "generate_finra_sample",
        *("--weeks", "1", "--end-week", WEEK.isoformat(), "--rows", str(rows)),
        *("--seed", "1", "--out", str(data_dir)),
    )
    for week in weeks:
        (data_dir / week.isoformat()).mkdir()
        for tier in TIERS:
            shutil.copyfile(
                data_dir / WEEK.isoformat() / f"{tier}.psv",
                data_dir / week.isoformat() / f"{tier}.psv",
            )


def sample_symbols(data_dir: Path, tier: str, count: int = 200) -> list[str]:
    """Symbols a desk would look up: the first ``count`` distinct ones of the week's file."""
    symbols: list[str] = []
    with open(data_dir / WEEK.isoformat() / f"{tier}.psv", encoding="utf-8") as lines:
        next(lines)
        for line in lines:
            symbol = line.split("|")[1]
            if symbol and symbol not in symbols:
                symbols.append(symbol)
                if len(symbols) == count:
                    break
    return symbols


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A child in its own session, so stopping it reaches every process it forked."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(process: subprocess.Popen, timeout: float = 60) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_for_http(url: str, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("gunicorn exited during start-up")
        try:
            requests.get(url, timeout=5)
            return
        except requests.RequestException:  # not listening yet, or a worker still booting
            time.sleep(0.2)
    raise SystemExit("gunicorn did not answer within a minute")


def session_pids(leader: int) -> set[int]:
    """Every live process in ``leader``'s session: a qcluster and its django-q2 workers."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        if int(fields[3]) == leader:  # fields after the name: state, ppid, pgrp, session
            pids.add(int(entry.name))
    return pids


# --- the client mix ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    endpoint: str
    status: int  # 0: no HTTP answer (connection refused or dropped, timeout)
    seconds: float
    reason: str  # the error code of a non-2xx answer, or the transport error


@dataclass
class Target:
    """What the clients aim at: a finished week and the weeks the backfill may be writing."""

    base: str
    finished_week: date
    busy_weeks: list[date]
    symbols: dict[str, list[str]]


@dataclass
class Client:
    """One API client: its own session, token, random stream and noop partition numbers.

    Both depend on the phase too: a phase is a fresh draw from the mix, not a replay of the
    previous phase's first requests, and no two phases share a noop partition.
    """

    number: int
    phase: int
    token: str
    target: Target
    rng: random.Random = field(init=False)
    session: requests.Session = field(init=False)
    next_partition: int = field(init=False)
    created: list[int] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.phase * 1000 + self.number)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {self.token}"
        self.next_partition = self.number * PARTITION_STRIDE + self.phase * (PARTITION_STRIDE // 8)

    # Each operation returns (endpoint name, method, path, JSON body, noop partitions sent).

    def _noop_items(self, count: int) -> list[dict[str, Any]]:
        first, self.next_partition = self.next_partition, self.next_partition + count
        return [
            {"domain": DIAGNOSTICS, "pipeline": "noop", "partition_key": {"n": n}}
            for n in range(first, first + count)
        ]

    def enqueue_one(self) -> tuple:
        body = self._noop_items(1)[0]
        return "POST enqueue (1 noop)", "POST", "/api/v1/work/enqueue", body

    def enqueue_bulk(self) -> tuple:
        body = self._noop_items(BULK_SIZE)
        return f"POST enqueue ({BULK_SIZE} noop)", "POST", "/api/v1/work/enqueue", body

    def enqueue_finra_again(self) -> tuple:
        """A cron job re-sending an ingest that already exists: idempotent, never a second
        item."""
        body = {
            "domain": FINRA,
            "pipeline": "ingest_week",
            "partition_key": {"week_ending": self._week().isoformat(), "tier": self._tier()},
        }
        return "POST enqueue (FINRA again)", "POST", "/api/v1/work/enqueue", body

    def pending(self) -> tuple:
        return "GET work/pending", "GET", "/api/v1/work/pending?limit=50", None

    def venue_share(self) -> tuple:
        query = f"week_ending={self._week()}&tier={self._tier()}&limit=100"
        return "GET finra/venue-share", "GET", f"/api/v1/finra/venue-share?{query}", None

    def hhi(self) -> tuple:
        query = f"week_ending={self._week()}&tier={self._tier()}&limit=100"
        return "GET finra/hhi", "GET", f"/api/v1/finra/hhi?{query}", None

    def symbol_venue_share(self) -> tuple:
        tier = self._tier()
        symbol = requests.utils.quote(self.rng.choice(self.target.symbols[tier]), safe="")
        query = f"week_ending={self._week()}&tier={tier}&symbol={symbol}"
        path = f"/api/v1/finra/symbol-venue-share?{query}"
        return "GET finra/symbol-venue-share", "GET", path, None

    def captures(self) -> tuple:
        path = f"/api/v1/finra/captures?week_ending={self._week()}&limit=100"
        return "GET finra/captures", "GET", path, None

    def tier_split(self) -> tuple:
        path = f"/api/v1/finra/tier-split?week_ending={self._week()}&limit=100"
        return "GET finra/tier-split", "GET", path, None

    def _week(self) -> date:
        """Half the reads ask for the finished week, half for one the backfill is writing."""
        if self.rng.random() < 0.5 or not self.target.busy_weeks:
            return self.target.finished_week
        return self.rng.choice(self.target.busy_weeks)

    def _tier(self) -> str:
        return self.rng.choice(TIERS)

    def run(self, until: float) -> None:
        operations, weights = zip(*self.mix(), strict=True)
        while time.monotonic() < until:
            operation = self.rng.choices(operations, weights)[0]
            self.samples.append(self.send(*operation()))

    def mix(self) -> list[tuple[Callable[[], tuple], int]]:
        return [
            (self.enqueue_one, 20),
            (self.enqueue_bulk, 5),
            (self.enqueue_finra_again, 5),
            (self.pending, 15),
            (self.venue_share, 12),
            (self.hhi, 12),
            (self.symbol_venue_share, 15),
            (self.captures, 8),
            (self.tier_split, 8),
        ]

    def send(self, endpoint: str, method: str, path: str, body: Any) -> Sample:
        started = time.perf_counter()
        try:
            response = self.session.request(method, self.target.base + path, json=body, timeout=120)
        except requests.RequestException as exc:
            return Sample(endpoint, 0, time.perf_counter() - started, type(exc).__name__)
        seconds = time.perf_counter() - started
        if response.status_code == 201 and method == "POST" and "noop" in endpoint:
            items = body if isinstance(body, list) else [body]
            self.created.extend(item["partition_key"]["n"] for item in items)
        reason = "" if response.ok else error_code(response)
        return Sample(endpoint, response.status_code, seconds, reason)


def error_code(response: requests.Response) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return response.text[:80].replace("\n", " ")


def run_clients(clients: list[Client], seconds: float) -> float:
    """Every client for ``seconds`` at once; the phase's wall time."""
    started = time.monotonic()
    until = started + seconds
    threads = [threading.Thread(target=client.run, args=(until,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - started


# --- figures -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float


def figures(samples: list[Sample], wall: float) -> Figures:
    latencies = sorted(sample.seconds for sample in samples)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return Figures(
        len(latencies), len(latencies) / wall, statistics.median(latencies) * 1000, p99 * 1000
    )


def by_endpoint(samples: list[Sample]) -> dict[str, list[Sample]]:
    grouped: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        grouped[sample.endpoint].append(sample)
    return dict(sorted(grouped.items()))


def print_phase(title: str, samples: list[Sample], wall: float) -> dict[str, Figures]:
    """Per endpoint and overall figures, and the answers that were not 2xx."""
    print(f"\n{title}: {len(samples)} requests in {wall:.1f}s")
    print(f"  {'endpoint':<30}{'requests':>9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
    table = {name: figures(group, wall) for name, group in by_endpoint(samples).items()}
    table["overall"] = figures(samples, wall)
    for name, row in table.items():
        print(f"  {name:<30}{row.requests:>9}{row.rps:>9.1f}{row.p50_ms:>9.1f}{row.p99_ms:>9.1f}")
    not_ok = Counter(
        (sample.endpoint, sample.status, sample.reason)
        for sample in samples
        if not 200 <= sample.status < 300
    )
    print(f"  5xx: {sum(n for (_, status, _), n in not_ok.items() if status >= 500)}")
    print(f"  transport errors: {sum(n for (_, status, _), n in not_ok.items() if status == 0)}")
    for (endpoint, status, reason), count in sorted(not_ok.items()):
        print(f"  non-2xx: {count:>6} x {status} {reason} ({endpoint})")
    return table


def print_ratios(baseline: dict[str, Figures], load: dict[str, Figures]) -> None:
    """Latency per endpoint and throughput overall: an endpoint's request rate is its share of
    a random mix, so only the total rate says what the backfill cost."""
    print("\nunder the backfill vs baseline (load / baseline):")
    print(f"  {'endpoint':<30}{'p50':>9}{'p99':>9}{'req/s':>9}")
    for name, row in load.items():
        base = baseline.get(name)
        if base is None:
            continue
        rate = f"{row.rps / base.rps:>8.2f}x" if name == "overall" else f"{'':>9}"
        print(
            f"  {name:<30}{row.p50_ms / base.p50_ms:>8.2f}x{row.p99_ms / base.p99_ms:>8.2f}x{rate}"
        )


# --- the queue, read from the database ---------------------------------------------------------

ACTIVE_STATES = ("PENDING", "RUNNING", "RETRY_WAIT")


def state_counts(url: str, domain: str | None = None) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT state, count(*) FROM core_work_items"
            " WHERE %(domain)s::text IS NULL OR domain = %(domain)s GROUP BY state",
            {"domain": domain},
        ).fetchall()
    return dict(rows)


def wait_until_settled(url: str, timeout: float) -> float:
    """Until no item is PENDING, RUNNING or RETRY_WAIT; seconds waited."""
    started = time.monotonic()
    while any(state_counts(url).get(state) for state in ACTIVE_STATES):
        if time.monotonic() - started > timeout:
            print(f"the queue did not settle within {timeout:.0f}s: {state_counts(url)}")
            break
        time.sleep(0.5)
    return time.monotonic() - started


def post_backfill(target: Target, token: str, first: date, last: date) -> dict[str, Any]:
    body = {"domain": FINRA, "pipeline": "ingest_week", "from": str(first), "to": str(last)}
    response = requests.post(
        f"{target.base}/api/v1/work/backfill",
        json=body,
        headers={"Authorization": f"Token {token}"},
        timeout=120,
    )
    if response.status_code != 201:
        raise SystemExit(f"backfill refused: {response.status_code} {response.text[:500]}")
    return response.json()


def backfill_progress(url: str, since: float) -> tuple[int, float | None]:
    """FINRA items COMPLETE now, and seconds from ``since`` (epoch) to the last FINRA finish."""
    with psycopg.connect(url, autocommit=True) as connection:
        complete, last = connection.execute(
            "SELECT count(*) FILTER (WHERE w.state = 'COMPLETE'),"
            " extract(epoch FROM max(e.finished_at)) FROM core_work_items w"
            " LEFT JOIN core_executions e ON e.work_item_id = w.id WHERE w.domain = %s",
            [FINRA],
        ).fetchone()
    return int(complete), (float(last) - since if last is not None else None)


def lost_or_broken(url: str, created: list[int], finra_items: int) -> list[str]:
    """Everything that breaks "nothing lost, nothing twice"; empty when all is well."""
    problems = []
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE TEMP TABLE sent (n bigint PRIMARY KEY)")
        with connection.cursor().copy("COPY sent (n) FROM STDIN") as copy:
            for n in created:
                copy.write_row((n,))
        missing, not_complete = connection.execute(
            "SELECT count(*) FILTER (WHERE w.id IS NULL),"
            " count(*) FILTER (WHERE w.state <> 'COMPLETE') FROM sent s"
            " LEFT JOIN core_work_items w ON w.domain = %s AND w.pipeline = 'noop'"
            " AND w.partition_key = '{\"n\":' || s.n || '}'",
            [DIAGNOSTICS],
        ).fetchone()
        if missing or not_complete:
            problems.append(
                f"{missing} created noop items missing, {not_complete} not COMPLETE "
                f"(of {len(created)})"
            )
        finra = dict(
            connection.execute(
                "SELECT state, count(*) FROM core_work_items WHERE domain = %s GROUP BY state",
                [FINRA],
            ).fetchall()
        )
        if finra != {"COMPLETE": finra_items}:
            problems.append(f"FINRA items by state {finra}, expected {finra_items} COMPLETE")
        others = dict(
            connection.execute(
                "SELECT state, count(*) FROM core_work_items WHERE state <> 'COMPLETE'"
                " GROUP BY state"
            ).fetchall()
        )
        if others:
            problems.append(f"items not COMPLETE: {others}")
        mismatched = connection.execute(
            "SELECT w.id, w.domain, w.pipeline, w.attempt_count, count(e.id),"
            " count(e.id) FILTER (WHERE e.outcome IN ('SUCCESS', 'SKIPPED'))"
            " FROM core_work_items w LEFT JOIN core_executions e ON e.work_item_id = w.id"
            " AND e.outcome <> 'DEPENDENCY_WAIT'"
            " GROUP BY w.id HAVING count(e.id) <> w.attempt_count"
            " OR count(e.id) FILTER (WHERE e.outcome IN ('SUCCESS', 'SKIPPED')) <> 1"
            " ORDER BY w.id LIMIT 20"
        ).fetchall()
        if mismatched:
            problems.append(
                "items whose executions differ from their attempts or did not succeed exactly "
                f"once (id, domain, pipeline, attempts, executions, successes): {mismatched}"
            )
    return problems


def executions_by_cluster(url: str, clusters: dict[str, set[int]]) -> dict[str, int]:
    """Executions per qcluster, from the pid in each execution's worker name (host:pid)."""
    with psycopg.connect(url, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT worker, count(*) FROM core_executions GROUP BY worker"
        ).fetchall()
    counts: Counter[str] = Counter()
    for worker, count in rows:
        pid = int(str(worker).rsplit(":", 1)[-1]) if str(worker).rsplit(":", 1)[-1].isdigit() else 0
        owner = next((name for name, pids in clusters.items() if pid in pids), "other")
        counts[owner] += count
    return dict(counts)


# --- the run -----------------------------------------------------------------------------------


@contextmanager
def stack(env: dict[str, str], logs: Path, gunicorn_workers: int) -> Iterator[tuple[str, dict]]:
    """gunicorn and two qclusters; yields the base URL and the clusters' processes."""
    port = free_port()
    server = start(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "marketspine.wsgi:application",
            f"--bind=127.0.0.1:{port}",
            f"--workers={gunicorn_workers}",
            "--worker-class=sync",
            "--log-level=warning",
        ],
        env,
        logs / "gunicorn.log",
    )
    clusters = {
        name: start(
            [sys.executable, str(ROOT / "manage.py"), "qcluster"], env, logs / f"{name}.log"
        )
        for name in ("qcluster-a", "qcluster-b")
    }
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base}/admin/login/", server)
        yield base, clusters
    finally:
        for process in [server, *clusters.values()]:
            stop(process)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--clients-per-token", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--baseline-seconds",
        type=float,
        default=20.0,
        help="the mix without a backfill: half before the load, half after",
    )
    parser.add_argument("--warmup-seconds", type=float, default=5.0)
    parser.add_argument("--backfill-weeks", type=int, default=52)
    parser.add_argument("--rows", type=int, default=20_000, help="rows per tier file")
    parser.add_argument("--gunicorn-workers", type=int, default=4)
    parser.add_argument("--qcluster-workers", type=int, default=2, help="per qcluster")
    parser.add_argument("--settle-timeout", type=float, default=900.0)
    parser.add_argument(
        "--keep-logs", type=Path, help="copy gunicorn's and the qclusters' logs to this directory"
    )
    add_server_argument(parser)
    args = parser.parse_args()
    server = args.server.rstrip("/")

    database_url = recreate_database(DATABASE, server)
    scratch = Path(tempfile.mkdtemp(prefix="marketspine-load-"))
    data_dir, logs = scratch / "finra", scratch / "logs"
    data_dir.mkdir()
    logs.mkdir()
    env = server_env(database_url, data_dir, scratch / "var", args.qcluster_workers)
    try:
        return run(args, env, database_url, data_dir, logs)
    finally:
        if args.keep_logs:
            shutil.copytree(logs, args.keep_logs, dirs_exist_ok=True)
        shutil.rmtree(scratch, ignore_errors=True)
        drop_database(DATABASE, server)


@dataclass
class Phase:
    title: str
    clients: list[Client]
    wall: float

    @property
    def samples(self) -> list[Sample]:
        return [sample for client in self.clients for sample in client.samples]


def run_phase(
    title: str, number: int, seconds: float, tokens: list[str], target: Target, per_token: int
) -> Phase:
    """The client mix for ``seconds``; phase ``number`` keeps its noop partitions apart."""
    count = len(tokens) * per_token
    clients = [Client(n, number, tokens[n // per_token], target) for n in range(count)]
    return Phase(title, clients, run_clients(clients, seconds))


def run(args: argparse.Namespace, env: dict[str, str], url: str, data_dir: Path, logs: Path) -> int:
    manage(env, "migrate", "--no-input", "-v0")
    busy_weeks = [WEEK - timedelta(weeks=n) for n in range(args.backfill_weeks, 0, -1)]
    generate_weeks(env, data_dir, args.rows, busy_weeks)
    tokens = api_tokens(env, args.clients // args.clients_per_token)
    symbols = {tier: sample_symbols(data_dir, tier) for tier in TIERS}
    print(
        f"load benchmark: {len(tokens) * args.clients_per_token} clients "
        f"({args.clients_per_token} per token), gunicorn {args.gunicorn_workers} sync workers, "
        f"2 qclusters x {args.qcluster_workers} workers, PostgreSQL, {os.cpu_count()} CPUs; "
        f"FINRA files of {args.rows:,} rows per tier",
        flush=True,
    )
    with stack(env, logs, args.gunicorn_workers) as (base, clusters):
        target = Target(base, WEEK, [], symbols)
        started = time.monotonic()
        post_backfill(target, tokens[0], WEEK, WEEK)
        wait_until_settled(url, args.settle_timeout)
        seeded = time.monotonic() - started
        print(f"seed week {WEEK} ({ITEMS_PER_WEEK} items) done in {seeded:.1f}s", flush=True)

        def phase(title: str, number: int, seconds: float) -> Phase:
            done = run_phase(title, number, seconds, tokens, target, args.clients_per_token)
            print(f"{title}: {len(done.samples)} requests in {done.wall:.1f}s", flush=True)
            return done

        # Untimed: gunicorn's workers import and connect on their first requests.
        phases = [phase("warm-up (not counted)", 0, args.warmup_seconds)]
        wait_until_settled(url, args.settle_timeout)
        phases.append(phase("baseline before", 1, args.baseline_seconds / 2))
        wait_until_settled(url, args.settle_timeout)

        target.busy_weeks = busy_weeks
        load_started = time.time()
        backfill = post_backfill(target, tokens[0], busy_weeks[0], busy_weeks[-1])
        load = phase(f"load, while the {args.backfill_weeks}-week backfill runs", 2, args.seconds)
        phases.append(load)
        complete_at_end, _ = backfill_progress(url, load_started)
        settled = wait_until_settled(url, args.settle_timeout)
        complete, backfill_span = backfill_progress(url, load_started)

        target.busy_weeks = []  # the same reads as the first baseline
        phases.append(phase("baseline after", 3, args.baseline_seconds / 2))
        wait_until_settled(url, args.settle_timeout)
        pids = {name: session_pids(process.pid) for name, process in clusters.items()}
        per_cluster = executions_by_cluster(url, pids)

    before, after = phases[1], phases[3]
    baseline_samples = before.samples + after.samples
    baseline = print_phase(
        "baseline, no backfill running (before and after the load, pooled)",
        baseline_samples,
        before.wall + after.wall,
    )
    print(
        f"  overall req/s before {figures(before.samples, before.wall).rps:.1f}, "
        f"after {figures(after.samples, after.wall).rps:.1f}"
    )
    print_ratios(baseline, print_phase(load.title, load.samples, load.wall))

    finra_items = ITEMS_PER_WEEK * (args.backfill_weeks + 1)
    print(
        f"\nbackfill: {backfill['enqueued']} ingests enqueued, {finra_items - ITEMS_PER_WEEK} "
        f"items with their chained stages; {complete_at_end - ITEMS_PER_WEEK} complete when the "
        f"clients stopped, all {complete - ITEMS_PER_WEEK} {backfill_span:.1f}s after the "
        f"backfill request (the queue settled {settled:.1f}s after the clients stopped)"
    )
    print(f"executions per qcluster: {per_cluster}")
    return verdict(url, phases, finra_items, logs)


def verdict(url: str, phases: list[Phase], finra_items: int, logs: Path) -> int:
    """Nothing lost and no server failure: 0; otherwise 1, with the servers' last log lines."""
    created = [n for phase in phases for client in phase.clients for n in client.created]
    samples = [sample for phase in phases for sample in phase.samples]
    failures = [sample for sample in samples if sample.status >= 500 or sample.status == 0]
    problems = lost_or_broken(url, created, finra_items)
    print(f"noop items the clients were told were created (all phases): {len(created)}")
    print(f"5xx or transport errors (all phases, warm-up included): {len(failures)}")
    for problem in problems:
        print(f"LOST OR BROKEN: {problem}")
    if not problems:
        print(
            "nothing lost: every created item exists once and is COMPLETE, the backfill's items "
            "all COMPLETE, none RUNNING, executions == attempts with one success each"
        )
    if failures or problems:
        for log in sorted(logs.iterdir()):
            print(f"--- last lines of {log.name}:\n{log.read_text(errors='replace')[-2000:]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
