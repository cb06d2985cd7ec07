"""The operations guide's "Local Manual Run" commands, run as written against a temp SQLite
database and the shipped files (data/finra: 2025-11-28 and 2025-12-05 for every tier, 2025-11-14
OTC). The clock is moved with time-machine inside the child process."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "run_finra_weekly_schedule.py"
# Monday 2026-01-12 10:00 New York.
MONDAY = "2026-01-12T15:00:00Z"
# Tuesday 2025-12-23: only Tier 1 of 2025-11-28 and 2025-12-05 is due.
TUESDAY = "2025-12-23T15:00:00Z"
# Run the script at a given time: time-machine patches the clock of the child process.
LAUNCH = (
    "import runpy, sys, time_machine;"
    "time_machine.travel(sys.argv[1], tick=True).start();"
    "sys.argv = sys.argv[2:];"
    "runpy.run_path(sys.argv[0], run_name='__main__')"
)


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("migrated") / "market_spine.db"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v0"],
        cwd=ROOT,
        env=child_env(f"sqlite:///{path}"),
        check=True,
    )
    return path


@pytest.fixture
def db(migrated: Path, tmp_path: Path) -> Path:
    path = tmp_path / "market_spine.db"
    shutil.copyfile(migrated, path)
    return path


def child_env(database_url: str | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "TEST_DATABASE_NAME", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(DEBUG="1", PYTHONUNBUFFERED="1", FINRA_DATA_DIR=str(ROOT / "data" / "finra"))
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def script(*args: str, at: str, database_url: str | None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", LAUNCH, at, str(SCRIPT), *args],
        cwd=ROOT,
        env=child_env(database_url),
        capture_output=True,
        text=True,
        timeout=300,
    )


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute(sql).fetchall()


def line(out: str, week: str, tier: str) -> str:
    return next(x for x in out.splitlines() if x.startswith(week) and f" {tier} " in x)


def test_standard_run_last_6_weeks(db):
    done = script("--lookback-weeks", "6", at=MONDAY, database_url=f"sqlite:///{db}")

    # 2025-12-05 is shipped and ingested; Tier 1 of 2025-12-12 and 2025-12-19 is due but has
    # no file: reported failed (exit 1); the rest is not due yet.
    assert done.returncode == 1, done.stderr
    for tier in ("NMS_TIER_1", "NMS_TIER_2", "OTC"):
        assert "ingested" in line(done.stdout, "2025-12-05", tier)
    assert "source not available" in line(done.stdout, "2025-12-12", "NMS_TIER_1")
    assert "not due" in line(done.stdout, "2026-01-09", "OTC")
    assert "partial (exit 1)" in done.stdout and "ran the items in this process" in done.stdout
    assert rows(db, "select status, exit_code from finra_scheduler_runs") == [("partial", 1)]
    stages = rows(
        db,
        "select stage from finra_otc_transparency_captures where week_ending = '2025-12-05' "
        "and status = 'complete' group by stage order by stage",
    )
    assert [s for (s,) in stages] == [
        "HHI",
        "NORMALIZED",
        "RAW",
        "TIER_SPLIT",
        "VENUE_SHARE",
        "VENUE_VOLUME",
    ]


def test_dry_run_writes_nothing(db):
    done = script(
        "--mode", "dry-run", "--lookback-weeks", "6", at=MONDAY, database_url=f"sqlite:///{db}"
    )
    assert done.returncode == 0, done.stderr
    assert "dry run: nothing is written" in done.stdout
    assert "would ingest (first capture)" in line(done.stdout, "2025-12-05", "OTC")
    assert rows(db, "select count(*) from finra_scheduler_runs") == [(0,)]
    assert rows(db, "select count(*) from core_work_items") == [(0,)]


def test_backfill_specific_weeks_refuses_the_guides_mondays(db):
    done = script(
        "--weeks",
        "2025-12-15,2025-12-22,2025-12-29",
        "--force",
        at=MONDAY,
        database_url=f"sqlite:///{db}",
    )
    assert done.returncode == 2
    assert "2025-12-15 is a Monday; the week containing it ends Friday 2025-12-19" in done.stderr
    assert rows(db, "select status, exit_code from finra_scheduler_runs") == [("critical", 2)]

    fridays = script(
        "--weeks", "2025-11-28,2025-12-05", "--force", at=MONDAY, database_url=f"sqlite:///{db}"
    )
    assert fridays.returncode == 0, fridays.stderr
    assert "success (exit 0)" in fridays.stdout and "6 ingested" in fridays.stdout


def test_only_ingestion_last_4_weeks(db):
    done = script(
        "--only-stage",
        "ingest",
        "--lookback-weeks",
        "4",
        at=TUESDAY,
        database_url=f"sqlite:///{db}",
    )
    assert done.returncode == 0, done.stderr
    assert "ingested" in line(done.stdout, "2025-11-28", "NMS_TIER_1")
    assert "not due" in line(done.stdout, "2025-11-28", "OTC")
    assert rows(db, "select distinct pipeline from core_work_items") == [("ingest_week",)]


def test_verbose_with_a_custom_database(db, tmp_path):
    custom = tmp_path / "custom" / "path" / "market_spine.db"
    custom.parent.mkdir(parents=True)
    shutil.copyfile(db, custom)
    # DATABASE_URL names an empty database: only --db makes the run work.
    done = script(
        "--lookback-weeks",
        "6",
        "--db",
        str(custom),
        "--verbose",
        at=MONDAY,
        database_url=f"sqlite:///{tmp_path / 'empty.db'}",
    )
    assert done.returncode == 1, done.stderr
    assert f"database: {custom}" in done.stdout
    assert "no live worker: running the items in this process" in done.stdout
    assert rows(custom, "select status from finra_scheduler_runs") == [("partial",)]


def test_manage_py_db_flag_repoints_the_connection(db, tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            LAUNCH,
            MONDAY,
            "manage.py",
            "run_finra_weekly_schedule",
            "--weeks",
            "2025-11-28",
            "--db",
            str(db),
        ],
        cwd=ROOT,
        env=child_env(f"sqlite:///{tmp_path / 'empty.db'}"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert rows(db, "select status, exit_code from finra_scheduler_runs") == [("success", 0)]


def test_an_unreachable_database_exits_2(tmp_path):
    done = script(
        "--lookback-weeks",
        "6",
        "--db",
        "postgres://nobody@127.0.0.1:1/market_spine",
        at=MONDAY,
        database_url=None,
    )
    assert done.returncode == 2
    assert "database unreachable" in done.stderr
