"""The deployment examples parse, and every script and command they name exists."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands

from tests.deploy.conftest import REPO, SCHEDULER_SCRIPT

#: The CronJob manifests (deploy/prometheus holds Prometheus' own files, tested with /metrics).
MANIFESTS = sorted(
    [*(REPO / "deploy" / "k8s").glob("*.yaml"), *(REPO / "deploy" / "openshift").glob("*.yaml")]
)
PROMETHEUS_FILES = sorted((REPO / "deploy" / "prometheus").glob("*.y*ml"))
SHELL_SCRIPTS = sorted((REPO / "deploy").glob("**/*.sh"))
CRONTAB = REPO / "deploy" / "cron" / "crontab"
# Where the crontab expects the checkout to be installed.
INSTALL_DIR = "/opt/market-spine/"


def containers(manifest: Path) -> list[dict]:
    found = []
    for document in yaml.safe_load_all(manifest.read_text()):
        assert document["kind"] == "CronJob", manifest
        pod = document["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        found += pod["containers"]
    return found


def named_commands(argv: list[str]) -> tuple[list[Path], list[str]]:
    """The repository scripts (python X.py) and the manage.py commands in one command line."""
    scripts, commands = [], []
    for index, word in enumerate(argv):
        if word == "manage.py" or word.endswith("/manage.py"):
            commands.append(argv[index + 1])
        elif word.endswith((".py", ".sh")):
            scripts.append(Path(word))
    return scripts, commands


def check_exist(scripts: list[Path], commands: list[str]) -> None:
    known = get_commands()
    for command in commands:
        assert command in known, f"manage.py {command} is not a Django command"
    for script in scripts:
        assert (REPO / script).is_file(), f"{script} is not in the repository"


def test_the_deploy_directory_has_the_examples_the_readme_lists():
    files = MANIFESTS + SHELL_SCRIPTS + [CRONTAB] + PROMETHEUS_FILES
    names = {str(path.relative_to(REPO)) for path in files}
    assert names == {
        "deploy/prometheus/alerts.yaml",
        "deploy/prometheus/prometheus.yml",
        "deploy/cron/crontab",
        "deploy/cron/weekly_finra.sh",
        "deploy/cron/weekly_finra_multiweek.sh",
        "deploy/k8s/finra-multiweek-scheduler.yaml",
        "deploy/k8s/finra-weekly-enqueue.yaml",
        "deploy/openshift/finra-multiweek-scheduler.yaml",
    }
    readme = (REPO / "deploy" / "README.md").read_text()
    for name in names:
        assert f"`{name.removeprefix('deploy/')}`" in readme, name


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda p: str(p.relative_to(REPO)))
def test_manifest_is_a_new_york_monday_cronjob_that_never_overlaps(manifest):
    [document] = yaml.safe_load_all(manifest.read_text())

    assert document["apiVersion"] == "batch/v1"
    spec = document["spec"]
    assert spec["schedule"] == "30 10 * * 1"
    assert spec["timeZone"] == "America/New_York"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["successfulJobsHistoryLimit"] == 5
    assert spec["failedJobsHistoryLimit"] == 3
    for container in containers(manifest):
        assert {"requests", "limits"} <= set(container["resources"])
        assert container["securityContext"]["allowPrivilegeEscalation"] is False


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda p: str(p.relative_to(REPO)))
def test_manifest_commands_exist(manifest):
    for container in containers(manifest):
        argv = [*container.get("command", []), *container.get("args", [])]
        assert argv[0] == "python"
        scripts, commands = named_commands(argv)
        assert scripts or commands, argv
        check_exist(scripts, commands)


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda p: str(p.relative_to(REPO)))
def test_manifest_secrets_feed_the_settings_the_app_reads(manifest):
    settings_text = (REPO / "marketspine" / "settings.py").read_text()
    script_text = (REPO / "scripts" / "enqueue_weekly_finra.py").read_text()
    for container in containers(manifest):
        for variable in container["env"]:
            name = variable["name"]
            if name == "PYTHONUNBUFFERED":
                continue
            assert f'"{name}"' in settings_text + script_text, f"nothing reads {name}"
            if name in {"DATABASE_URL", "SECRET_KEY", "MARKET_SPINE_TOKEN"}:
                assert "secretKeyRef" in variable["valueFrom"], f"{name} must come from a Secret"


def test_scheduler_manifests_run_it_with_a_six_week_lookback_from_files():
    for manifest in MANIFESTS:
        for container in containers(manifest):
            if container["command"][-1] == "scripts/run_finra_weekly_schedule.py":
                assert container["args"] == ["--lookback-weeks=6", "--source=file", "--verbose"]
                env = {variable["name"] for variable in container["env"]}
                assert {"DATABASE_URL", "SECRET_KEY", "FINRA_DATA_DIR"} <= env


def test_openshift_manifest_fits_the_restricted_scc():
    manifest = REPO / "deploy" / "openshift" / "finra-multiweek-scheduler.yaml"
    [document] = yaml.safe_load_all(manifest.read_text())
    pod = document["spec"]["jobTemplate"]["spec"]["template"]["spec"]

    assert pod["serviceAccountName"] == "market-spine-scheduler"
    [container] = pod["containers"]
    assert "runAsUser" not in container["securityContext"]  # OpenShift assigns the uid
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def crontab_entries() -> list[str]:
    return [
        line
        for line in CRONTAB.read_text().splitlines()
        if line.strip() and not line.startswith("#") and not re.match(r"^[A-Z_]+=", line)
    ]


def test_crontab_runs_both_scripts_on_monday_1030_new_york_time():
    lines = CRONTAB.read_text().splitlines()
    assert "CRON_TZ=America/New_York" in lines

    entries = crontab_entries()
    assert len(entries) == 2
    scripts = []
    for entry in entries:
        fields = entry.split(maxsplit=5)
        assert fields[:5] == ["30", "10", "*", "*", "1"], entry
        words = shlex.split(fields[5])
        scripts += [w for w in words if w.startswith(INSTALL_DIR) and w.endswith(".sh")]
    assert scripts == [
        "/opt/market-spine/deploy/cron/weekly_finra_multiweek.sh",
        "/opt/market-spine/deploy/cron/weekly_finra.sh",
    ]
    for script in scripts:
        assert (REPO / script.removeprefix(INSTALL_DIR)).is_file()


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_shell_script_parses_and_is_executable(script):
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
    assert script.stat().st_mode & 0o111, f"{script} is not executable"
    assert script.read_text().splitlines()[0] == "#!/usr/bin/env bash"
    assert "set -euo pipefail" in script.read_text()


def test_enqueue_script_is_executable():
    assert (REPO / "scripts" / "enqueue_weekly_finra.py").stat().st_mode & 0o111


def test_scheduler_script_named_by_the_deploy_files_exists():
    assert SCHEDULER_SCRIPT.is_file()
    result = subprocess.run(
        [sys.executable, str(SCHEDULER_SCRIPT), "--help"], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    for flag in ["--lookback-weeks", "--source", "--verbose", "--db", "--mode"]:
        assert flag in result.stdout
