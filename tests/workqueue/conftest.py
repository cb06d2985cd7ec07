from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from tests.clusters import ROOT, cluster_env


@pytest.fixture
def start_cluster(transactional_db, tmp_path) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start ``manage.py qcluster`` on the test database, in a process group of its own (as a
    container or a systemd unit runs it); whatever is still running at the end is stopped."""
    processes: list[subprocess.Popen] = []

    def start(workers: int = 2, **env_overrides: str) -> subprocess.Popen:
        log = open(tmp_path / f"qcluster-{len(processes)}.log", "w")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=cluster_env(workers, **env_overrides),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        processes.append(process)
        return process

    yield start

    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
