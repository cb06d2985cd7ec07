"""deploy/cron/weekly_finra_multiweek.sh, run for real: it needs the multi-week scheduler, so
these tests are skipped while scripts/run_finra_weekly_schedule.py is not in the tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.deploy.conftest import MULTIWEEK_SH, REPO, run


def app_env(tmp_path: Path) -> dict[str, str]:
    """What cron.env gives the wrapper; `python` is this interpreter's, mail is absent."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "python").symlink_to(sys.executable)
    for tool in ["bash", "dirname", "hostname"]:
        (bin_dir / tool).symlink_to(shutil.which(tool))
    return {
        "PATH": str(bin_dir),
        "MARKET_SPINE_HOME": str(REPO),
        "DEBUG": "1",
        "FINRA_DATA_DIR": str(tmp_path / "finra"),
        "MARKETSPINE_VAR_DIR": str(tmp_path / "var"),
    }


def migrated_sqlite(tmp_path: Path) -> Path:
    database = tmp_path / "market_spine.db"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input"],
        cwd=REPO,
        env={**os.environ, "DEBUG": "1", "DATABASE_URL": f"sqlite:///{database}"},
        check=True,
        capture_output=True,
    )
    return database


def test_dry_run_with_a_migrated_database_passes_the_scheduler_exit_code(tmp_path):
    (tmp_path / "finra").mkdir()
    env = {**app_env(tmp_path), "MARKET_SPINE_DB": str(migrated_sqlite(tmp_path))}

    result = run(["bash", str(MULTIWEEK_SH), "--mode", "dry-run"], env=env)

    assert result.returncode in (0, 1), result.stderr
    if result.returncode == 1:
        assert "WARN: FINRA scheduler partial failure" in result.stderr
        assert "(no recipient set, nothing mailed)" in result.stderr
    else:
        assert "FINRA scheduler" not in result.stderr


def test_an_unusable_database_is_critical_and_printed_when_mail_is_missing(tmp_path):
    env = {
        **app_env(tmp_path),
        "MARKET_SPINE_DB": str(tmp_path / "missing" / "dir" / "market_spine.db"),
        "ONCALL_EMAIL": "oncall@example.com",
    }
    (tmp_path / "missing").write_text("a file where a directory should be")

    result = run(["bash", str(MULTIWEEK_SH), "--mode", "dry-run"], env=env)

    assert result.returncode == 2
    assert "Market Spine CRITICAL: CRITICAL: FINRA scheduler failed" in result.stderr
    assert "(mail is not installed, nothing mailed to oncall@example.com)" in result.stderr
