from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User

from tests.factories import api_key

REPO = Path(__file__).resolve().parents[2]
WEEKLY_SH = REPO / "deploy" / "cron" / "weekly_finra.sh"
MULTIWEEK_SH = REPO / "deploy" / "cron" / "weekly_finra_multiweek.sh"
ENQUEUE_PY = REPO / "scripts" / "enqueue_weekly_finra.py"
SCHEDULER_SCRIPT = REPO / "scripts" / "run_finra_weekly_schedule.py"


@dataclass
class Server:
    api_base: str
    token: str


#: For tests using ``server``: a live server needs transactions; serialized_rollback keeps the
#: roles (groups) that a migration created.
LIVE_DB = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def server(live_server) -> Server:
    """A live server and the token of a data_ops user, as ``create_api_token`` gives one."""
    user = User.objects.create_user("cron", password="pw")
    user.groups.add(Group.objects.get(name="data_ops"))
    return Server(api_base=f"{live_server.url}/api/v1", token=api_key(user))


def run(command: list[str], *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a deployment script the way cron would: its own process, a small environment."""
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        command, env={**base, **(env or {})}, capture_output=True, text=True, timeout=60
    )


def python() -> str:
    return sys.executable
