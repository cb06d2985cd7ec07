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

#: Every Kubernetes and OpenShift manifest (deploy/prometheus holds Prometheus' own files,
#: tested with /metrics); the CronJobs among them run the weekly jobs.
MANIFESTS = sorted(
    [*(REPO / "deploy" / "k8s").glob("*.yaml"), *(REPO / "deploy" / "openshift").glob("*.yaml")]
)


def documents(manifest: Path) -> list[dict]:
    return list(yaml.safe_load_all(manifest.read_text()))


CRONJOBS = [m for m in MANIFESTS if {d["kind"] for d in documents(m)} == {"CronJob"}]
PROMETHEUS_FILES = sorted((REPO / "deploy" / "prometheus").glob("*.y*ml"))
SHELL_SCRIPTS = sorted((REPO / "deploy").glob("**/*.sh"))
PYTHON_FILES = [REPO / "deploy" / "gunicorn.conf.py", REPO / "deploy" / "readiness.py"]
CRONTAB = REPO / "deploy" / "cron" / "crontab"
# Where the crontab expects the checkout to be installed.
INSTALL_DIR = "/opt/market-spine/"


def pod_spec(document: dict) -> dict | None:
    """The pod template of a CronJob, Job or Deployment; None for a Service."""
    spec = document["spec"]
    if document["kind"] == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]["spec"]
    if document["kind"] in {"Job", "Deployment"}:
        return spec["template"]["spec"]
    assert document["kind"] == "Service", document["kind"]
    return None


def pods(manifest: Path) -> list[dict]:
    return [pod for d in documents(manifest) if (pod := pod_spec(d)) is not None]


def containers(manifest: Path) -> list[dict]:
    return [container for pod in pods(manifest) for container in pod["containers"]]


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
    files = MANIFESTS + SHELL_SCRIPTS + [CRONTAB] + PROMETHEUS_FILES + PYTHON_FILES
    names = {str(path.relative_to(REPO)) for path in files}
    assert names == {
        "deploy/gunicorn.conf.py",
        "deploy/readiness.py",
        "deploy/k8s/market-spine-web.yaml",
        "deploy/k8s/market-spine-worker.yaml",
        "deploy/k8s/market-spine-migrate.yaml",
        "deploy/openshift/market-spine.yaml",
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


@pytest.mark.parametrize("manifest", CRONJOBS, ids=lambda p: str(p.relative_to(REPO)))
def test_manifest_is_a_new_york_monday_cronjob_that_never_overlaps(manifest):
    [document] = yaml.safe_load_all(manifest.read_text())

    assert document["apiVersion"] == "batch/v1"
    spec = document["spec"]
    assert spec["schedule"] == "30 10 * * 1"
    assert spec["timeZone"] == "America/New_York"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["successfulJobsHistoryLimit"] == 5
    assert spec["failedJobsHistoryLimit"] == 3


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_container_has_limits_and_no_privilege_escalation(manifest):
    for container in containers(manifest):
        assert {"requests", "limits"} <= set(container["resources"])
        assert container["securityContext"]["allowPrivilegeEscalation"] is False


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda p: str(p.relative_to(REPO)))
def test_manifest_commands_exist(manifest):
    for container in containers(manifest):
        argv = [*container.get("command", []), *container.get("args", [])]
        if argv[0] == "gunicorn":
            config = next(a.split("=", 1)[1] for a in argv if a.startswith("--config="))
            assert (REPO / config).is_file(), config
            assert argv[-1] == "marketspine.wsgi"
            continue
        assert argv[0] == "python"
        scripts, commands = named_commands(argv)
        assert scripts or commands, argv
        check_exist(scripts, commands)


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda p: str(p.relative_to(REPO)))
def test_manifest_secrets_feed_the_settings_the_app_reads(manifest):
    readers = [
        REPO / "marketspine" / "settings.py",
        REPO / "scripts" / "enqueue_weekly_finra.py",
        *PYTHON_FILES,
    ]
    text = "".join(path.read_text() for path in readers)
    for container in containers(manifest):
        for variable in container["env"]:
            name = variable["name"]
            if name == "PYTHONUNBUFFERED":
                continue
            assert f'"{name}"' in text, f"nothing reads {name}"
            if name in {"DATABASE_URL", "SECRET_KEY", "MARKET_SPINE_TOKEN"}:
                assert "secretKeyRef" in variable["valueFrom"], f"{name} must come from a Secret"


def test_scheduler_manifests_run_it_with_a_six_week_lookback_from_files():
    for manifest in CRONJOBS:
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
