"""History benchmark: data API reads over ten years of weeks against the same reads over one.

Run from the repository root (needs PostgreSQL):

    python benchmarks/history.py [--weeks 520] [--rows 5328] [--repeats 15] [--workers 2]

It builds two databases in the same run, the same way: ``marketspine_bench_history`` with
``--weeks`` Fridays of history (ten years by default) and ``marketspine_bench_history_week``
with the newest of those weeks only. Each gets three tiers per week at the real OTC file's size
(5,328 rows). One week is generated with ``generate_finra_sample`` and copied to every other
Friday with its share and trade counts scaled row by row (a factor from 0.5 to 1.5 drawn from
the row and the week; the newest week is the file as generated), so every week is a distinct
capture with the same symbols: "one symbol across all weeks" reads real, different rows. The
``ingest_week`` items are enqueued with ``manage.py backfill`` and run, with every stage they
chain (normalize, the three per-tier calcs, the weekly tier split), by ``--workers`` processes
of ``manage.py run_queue --until-empty``: the runner a qcluster worker uses, without the
cluster's one-minute schedule in the way. The build time is printed.

Then each database is served by its own gunicorn (one sync worker, ``DEBUG`` off) and the same
requests, with a viewer's API token, go to both, alternating (the order swapped every round so
that the machine's other load weighs on both alike), after a warm-up; the figures are medians of
``--repeats`` requests, client wall time:

- (a) the latest week of a tier: venue shares, symbol HHI, symbol venue shares (OTC) and the
  week's tier split;
- (b) one symbol across all weeks: its HHI and its venue shares (the OTC symbol on most venues).
  Ten years hold ``--weeks`` times the rows of one week for it: the answer is a page of at most
  500 rows and its count, so the time per row returned is printed beside the ratio;
- (c) a week as of a date: the same week of the OTC tier with ``as_of`` (the time the reads
  start), venue shares, symbol HHI and symbol venue shares.

Target: every ratio (ten years / one week) at most 1.5x; exit status 1 otherwise. The (a) and
(c) answers of both databases must be the same rows (the newest week is the same file), which
is checked. ``--keep`` leaves both databases and the files; ``--reuse`` reads databases kept by
an earlier run instead of building them (say so when reporting its figures).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import requests
from bench_db import add_server_argument, drop_database, recreate_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from finra.samplegen import sample_file_name  # noqa: E402  (plain modules, no Django set-up)
from finra.weeks import expected_publication_date  # noqa: E402

HISTORY_DATABASE = "marketspine_bench_history"
WEEK_DATABASE = "marketspine_bench_history_week"
DOMAIN = "finra.otc_transparency"
NEWEST_WEEK = date(2025, 12, 5)
TIERS = ("NMS_TIER_1", "NMS_TIER_2", "OTC")
#: Items one week chains: ingest, normalize and three calcs per tier, and the tier split.
ITEMS_PER_WEEK = 3 * 5 + 1
TARGET_RATIO = 1.5
ANALYZED_TABLES = (
    "finra_otc_transparency_captures",
    "core_work_items",
    "core_executions",
    "core_manifest",
)
SERVER_ENV = {
    "SECRET_KEY": "benchmark-only-secret-key-not-used-anywhere-else-0123456789",
    "DEBUG": "0",
    "SECURE_SSL_REDIRECT": "false",
    "WORKQUEUE_KICK_ON_ENQUEUE": "false",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "LOG_LEVEL": "WARNING",
}


@dataclass
class Read:
    group: str  # "a", "b" or "c"
    path: str


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weeks", type=int, default=520, help="weeks of history (default 520)")
    parser.add_argument("--rows", type=int, default=5328, help="rows per tier and week")
    parser.add_argument("--repeats", type=int, default=15, help="timed requests per read")
    parser.add_argument("--workers", type=int, default=2, help="run_queue processes")
    parser.add_argument("--keep", action="store_true", help="leave the databases and files")
    parser.add_argument("--reuse", action="store_true", help="read the databases a --keep run left")
    add_server_argument(parser)
    args = parser.parse_args()
    if args.weeks < 2:
        parser.error("--weeks must be at least 2")
    server = args.server.rstrip("/")
    data_dir = Path(tempfile.gettempdir()) / "finra-history-bench"
    urls = {name: f"{server}/{name}" for name in (HISTORY_DATABASE, WEEK_DATABASE)}
    servers: list[subprocess.Popen] = []
    try:
        if args.reuse:
            print(f"reusing {HISTORY_DATABASE} and {WEEK_DATABASE} from an earlier --keep run")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
            weeks = [NEWEST_WEEK - timedelta(weeks=n) for n in range(args.weeks)]
            write_files(data_dir, weeks, args.rows)
            for name, count in ((WEEK_DATABASE, 1), (HISTORY_DATABASE, args.weeks)):
                urls[name] = recreate_database(name, server)
                seconds = build(urls[name], data_dir, weeks[:count], args.workers)
                print(
                    f"built {name}: {count} weeks x 3 tiers x {args.rows:,} rows, "
                    f"{count * ITEMS_PER_WEEK:,} items, {args.workers} workers: "
                    f"{seconds:.1f}s ({seconds / count:.2f}s per week)",
                    flush=True,
                )
        sizes = {name: database_size(url) for name, url in urls.items()}
        for name, size in sizes.items():
            print(f"  {name}: {size}")
        bases = {}
        for name, url in urls.items():
            port = free_port()
            servers.append(start_gunicorn(url, data_dir, port))
            bases[name] = (f"http://127.0.0.1:{port}/api/v1/finra/", viewer_token(url, data_dir))
        symbol = busiest_symbol(urls[WEEK_DATABASE])
        as_of = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        reads = planned_reads(symbol, as_of)
        check_same_answers(reads, bases[HISTORY_DATABASE], bases[WEEK_DATABASE])
        results = time_reads(reads, bases[HISTORY_DATABASE], bases[WEEK_DATABASE], args.repeats)
        return report(results, args)
    finally:
        for process in servers:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
            for name in urls:
                drop_database(name, server)


# --- the history ---------------------------------------------------------------------------------


def write_files(data_dir: Path, weeks: list[date], rows: int) -> None:
    """One generated week (the newest), copied to every other week with its volumes varied."""
    started = time.monotonic()
    subprocess.run(
        [
            *manage(),
            "generate_finra_sample",
            *("--weeks", "1", "--end-week", weeks[0].isoformat(), "--rows", str(rows)),
            *("--seed", "1", "--out", str(data_dir)),
        ],
        check=True,
        env=product_env("postgres://unused/unused", data_dir),
        stdout=subprocess.DEVNULL,
    )
    for tier in TIERS:
        header, *lines = (data_dir / sample_file_name(weeks[0], tier)).read_text().splitlines()
        for offset, week in enumerate(weeks[1:], start=1):
            path = data_dir / sample_file_name(week, tier)
            path.parent.mkdir(parents=True, exist_ok=True)
            published = expected_publication_date(week, tier).isoformat()
            body = "\n".join(
                vary(line, number, offset, published) for number, line in enumerate(lines)
            )
            path.write_text(f"{header}\n{body}\n")
    print(
        f"wrote {len(weeks)} weeks x 3 tiers x {rows:,} rows in {time.monotonic() - started:.1f}s",
        flush=True,
    )


def vary(line: str, number: int, offset: int, published: str) -> str:
    """The line with its share and trade counts scaled by 0.5 to 1.5 (by row and week) and the
    week's own publication date; never below 1, and trades stay at most the shares."""
    fields = line.split("|")
    factor = 0.5 + ((number * 7919 + offset * 104729) % 1000) / 1000
    shares, trades = int(fields[5]), int(fields[6])
    fields[5] = str(max(1, round(shares * factor)))
    fields[6] = str(max(1, round(trades * factor)))
    fields[7] = published
    return "|".join(fields)


def build(url: str, data_dir: Path, weeks: list[date], workers: int) -> float:
    """Migrate, enqueue every week's ingests and run them and all they chain; the seconds from
    the enqueue to the last item done. Stops the benchmark if anything did not complete."""
    env = product_env(url, data_dir)
    subprocess.run([*manage(), "migrate", "-v0"], check=True, env=env)
    started = time.monotonic()
    subprocess.run(
        [
            *manage(),
            "backfill",
            DOMAIN,
            "ingest_week",
            *("--from", min(weeks).isoformat(), "--to", max(weeks).isoformat()),
        ],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    runners = [
        subprocess.Popen(
            [*manage(), "run_queue", "--until-empty", "--max-seconds", "36000"],
            env=env,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(workers)
    ]
    for runner in runners:
        if runner.wait() != 0:
            raise SystemExit("a run_queue process failed")
    seconds = time.monotonic() - started
    with psycopg.connect(url, autocommit=True) as connection:
        # What autovacuum does on a production server (it is off on some test servers): the
        # stages analyze each capture's partitions, nobody else the captures table.
        connection.execute(f"ANALYZE {', '.join(ANALYZED_TABLES)}")
        states = dict(
            connection.execute(
                "SELECT state, count(*) FROM core_work_items GROUP BY state"
            ).fetchall()
        )
        tier_splits = connection.execute(
            "SELECT count(*) FROM finra_otc_transparency_captures"
            " WHERE stage = 'TIER_SPLIT' AND status = 'complete'"
        ).fetchone()[0]
    expected = len(weeks) * ITEMS_PER_WEEK
    if states != {"COMPLETE": expected} or tier_splits != len(weeks):
        raise SystemExit(
            f"the build did not complete: items {states} (expected {expected} COMPLETE), "
            f"{tier_splits} tier splits (expected {len(weeks)})"
        )
    return seconds


def database_size(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as connection:
        size, normalized = connection.execute(
            "SELECT pg_size_pretty(pg_database_size(current_database())),"
            " (SELECT count(*) FROM finra_otc_transparency_normalized)"
        ).fetchone()
    return f"{size}, {normalized:,} normalized rows"


# --- serving -------------------------------------------------------------------------------------


def manage() -> list[str]:
    return [sys.executable, str(ROOT / "manage.py")]


def product_env(url: str, data_dir: Path) -> dict[str, str]:
    return {**os.environ, **SERVER_ENV, "DATABASE_URL": url, "FINRA_DATA_DIR": str(data_dir)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(url: str, data_dir: Path, port: int) -> subprocess.Popen:
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "marketspine.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        "--workers=1",
        "--worker-class=sync",
        "--log-level=warning",
    ]
    # No collectstatic here: whitenoise's warning about the missing folder is noise.
    env = {**product_env(url, data_dir), "PYTHONWARNINGS": "ignore::UserWarning"}
    server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            return server
        except OSError:  # not listening yet
            time.sleep(0.2)
    os.killpg(server.pid, signal.SIGKILL)
    raise SystemExit("gunicorn did not start")


def viewer_token(url: str, data_dir: Path) -> str:
    """An API token of a user in the viewers role (what a desk reading the data has)."""
    env = product_env(url, data_dir)
    subprocess.run(
        [
            *manage(),
            "shell",
            "-c",
            "from django.contrib.auth.models import Group, User; "
            "user, _ = User.objects.get_or_create(username='bench-viewer'); "
            "user.groups.add(Group.objects.get(name='viewers'))",
        ],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    done = subprocess.run(
        [*manage(), "create_api_token", "bench-viewer", "--rotate"],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip().splitlines()[-1]


# --- the reads -----------------------------------------------------------------------------------


def busiest_symbol(url: str) -> str:
    """The OTC symbol traded on the most venues in the newest week (ties to the first)."""
    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute(
            "SELECT symbol FROM finra_otc_transparency_symbol_hhi WHERE tier = 'OTC'"
            " AND symbol <> '' ORDER BY venue_count DESC, symbol LIMIT 1"
        ).fetchone()
    return row[0]


def planned_reads(symbol: str, as_of: str) -> list[Read]:
    week = NEWEST_WEEK.isoformat()
    latest = f"week_ending={week}&tier=OTC"
    return [
        Read("a", f"venue-share?{latest}"),
        Read("a", f"hhi?{latest}"),
        Read("a", f"symbol-venue-share?{latest}"),
        Read("a", f"tier-split?week_ending={week}"),
        Read("b", f"hhi?symbol={symbol}"),
        Read("b", f"symbol-venue-share?symbol={symbol}"),
        Read("c", f"venue-share?{latest}&as_of={as_of}"),
        Read("c", f"hhi?{latest}&as_of={as_of}"),
        Read("c", f"symbol-venue-share?{latest}&as_of={as_of}"),
    ]


def get(base: tuple[str, str], session: requests.Session, path: str) -> tuple[float, dict]:
    url, token = base
    started = time.perf_counter()
    response = session.get(url + path, headers={"Authorization": f"Token {token}"}, timeout=300)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"{path}: {response.status_code} {response.text[:300]}")
    return elapsed, response.json()


def comparable(answer: dict) -> list[dict]:
    # captured_at is each database's own build time; everything else must be the same.
    return [{k: v for k, v in row.items() if k != "captured_at"} for row in answer["results"]]


def check_same_answers(reads: list[Read], history: tuple[str, str], week: tuple[str, str]) -> None:
    """The newest week is the same file in both databases: its reads must match row for row."""
    with requests.Session() as session:
        for read in reads:
            if read.group == "b":
                continue
            _, ten_years = get(history, session, read.path)
            _, one_week = get(week, session, read.path)
            if comparable(ten_years) != comparable(one_week) or not ten_years["results"]:
                raise SystemExit(f"{read.path}: the two databases answer differently")
    print("the newest week's answers are the same rows in both databases")


@dataclass
class Timing:
    read: Read
    history: float
    week: float
    history_rows: int
    week_rows: int
    history_count: int
    week_count: int


def time_reads(
    reads: list[Read], history: tuple[str, str], week: tuple[str, str], repeats: int
) -> list[Timing]:
    results = []
    with requests.Session() as session:
        for read in reads:
            answers = {}
            for base in (history, week):  # warm-up: plans, caches, the connection
                for _ in range(3):
                    _, answers[base] = get(base, session, read.path)
            times: dict[tuple[str, str], list[float]] = {history: [], week: []}
            for round_number in range(repeats):
                order = (history, week) if round_number % 2 == 0 else (week, history)
                for base in order:
                    times[base].append(get(base, session, read.path)[0])
            results.append(
                Timing(
                    read=read,
                    history=statistics.median(times[history]),
                    week=statistics.median(times[week]),
                    history_rows=len(answers[history]["results"]),
                    week_rows=len(answers[week]["results"]),
                    history_count=answers[history]["count"],
                    week_count=answers[week]["count"],
                )
            )
            print(f"  timed {read.path}", flush=True)
    return results


def report(results: list[Timing], args: argparse.Namespace) -> int:
    titles = {
        "a": "(a) the latest week of a tier",
        "b": "(b) one symbol across all weeks",
        "c": "(c) a week as of a date",
    }
    print()
    print(
        f"data API through gunicorn, median of {args.repeats} requests each "
        f"({args.weeks} weeks vs 1 week; rows = rows returned / count)"
    )
    ok = True
    for group, title in titles.items():
        print(title)
        for timing in (t for t in results if t.read.group == group):
            ratio = timing.history / timing.week
            ok = ok and ratio <= TARGET_RATIO
            line = (
                f"  {timing.read.path.split('&as_of=')[0]:<48}"
                f"{timing.history * 1000:8.1f} ms ({timing.history_rows}/{timing.history_count})"
                f"{timing.week * 1000:8.1f} ms ({timing.week_rows}/{timing.week_count})"
                f"{ratio:7.2f}x"
            )
            if group == "b":
                per_row = (timing.history / max(timing.history_rows, 1)) / (
                    timing.week / max(timing.week_rows, 1)
                )
                line += f"   per row returned {per_row:5.2f}x"
            print(line)
    print()
    print(f"target every ratio <= {TARGET_RATIO}x: {'met' if ok else 'MISSED'}")
    print(json.dumps({"weeks": args.weeks, "rows": args.rows, "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
