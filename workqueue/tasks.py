"""django-q2 entry points: thin wrappers around the runner and the lease reaper."""

from __future__ import annotations

from typing import Any

from django.db import close_old_connections

from workqueue import leases, runner


def drain_queue() -> dict[str, Any]:
    """Claim and run due work items; queued after enqueues, when a cluster starts and by the
    one-minute schedule."""
    return runner.drain_task()


def reap_expired_leases() -> list[int]:
    """Recover RUNNING items whose worker stopped renewing the lease."""
    close_old_connections()
    try:
        return leases.reap_expired_leases()
    finally:
        close_old_connections()
