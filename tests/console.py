"""Shared set-up for the admin console tests: one staff user per role, and a busy queue."""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module
from types import SimpleNamespace

from django.apps import apps
from django.contrib.auth.models import Group, User
from django.db import connection
from django.utils import timezone

from tests.factories import claim_one, enqueue
from workqueue.models import Execution, ExecutionOutcome, WorkerHeartbeat, WorkItem
from workqueue.runner import drain
from workqueue.states import WorkState

ROLES = ("data_ops", "auditors", "viewers")
PASSWORD = "console-pw"


#: the data migrations that make the roles, in order, with the function each runs
ROLE_MIGRATIONS = [
    ("workqueue.migrations.0004_roles", "create_roles"),
    ("workqueue.migrations.0006_roles_admin_pages", "grant"),
    ("finra.migrations.0003_data_api_roles", "grant"),
    ("workqueue.migrations.0008_console_roles", "grant"),
]


def ensure_roles() -> None:
    """The role groups as the migrations make them.

    A transactional test (live server, browser) starts after another one may have emptied the
    tables, groups included; this puts the roles back by running the same migration code.
    """
    if Group.objects.filter(name__in=ROLES).count() == len(ROLES):
        return
    editor = SimpleNamespace(connection=connection)
    for module, function in ROLE_MIGRATIONS:
        getattr(import_module(module), function)(apps, editor)


def role_user(role: str) -> User:
    """A staff user in ``role`` (a group name), or a superuser for "superuser"."""
    ensure_roles()
    if role == "superuser":
        return User.objects.create_superuser(role, password=PASSWORD)
    user = User.objects.create_user(f"{role}-user", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def failed_items(count: int, prefix: str = "f") -> list[WorkItem]:
    """``count`` FAILED items (attempts used up), each with one failed execution."""
    items = [enqueue(week=f"{prefix}{n}", max_attempts=1) for n in range(count)]
    drain(time_budget=10)
    for item in items:
        item.refresh_from_db()
        assert item.state == WorkState.FAILED
    return items


def busy_queue(size: int) -> dict[str, int]:
    """A queue with items in several states, executions and worker heartbeats.

    Returns how many items it left in each state it made.
    """
    failed_items(size, prefix="fail-")
    for n in range(size):
        enqueue(pipeline="produce_first", week=f"done-{n}")
    drain(time_budget=10)
    for n in range(size):
        enqueue(pipeline="produce_first", week=f"wait-{n}")
    enqueue(pipeline="produce_first", week="run")
    claim_one()
    now = timezone.now()
    for n in range(size):
        WorkerHeartbeat.objects.create(worker=f"host-{n}:1", seen_at=now - timedelta(seconds=n))
    Execution.objects.filter(outcome=ExecutionOutcome.SUCCESS).update(duration_seconds=2.5)
    return {"FAILED": size, "COMPLETE": size, "PENDING": size, "RUNNING": 1}
