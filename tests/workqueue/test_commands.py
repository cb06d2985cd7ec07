from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_q.models import Schedule

from tests.factories import claim_one, enqueue
from workqueue.models import AuditEvent, WorkItem
from workqueue.states import WorkState

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_enqueue_command_queues_once_and_says_so():
    args = (
        "enqueue",
        "tests.queue",
        "produce_first",
        "--partition",
        '{"week": "2025-12-12"}',
        "--params",
        '{"rows": 3}',
        "--priority",
        "50",
        "--desired-at",
        "2025-12-23T10:30:00Z",
    )
    first = run(*args)
    second = run(*args)
    item = WorkItem.objects.get()
    assert (
        first == f'work item {item.pk} tests.queue/produce_first {{"week":"2025-12-12"}}: queued\n'
    )
    assert second.endswith("already PENDING, left unchanged\n")
    assert (item.priority, item.params) == (50, {"rows": 3})
    assert item.desired_at.isoformat() == "2025-12-23T10:30:00+00:00"
    assert AuditEvent.objects.filter(source="cli").count() == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tests.queue", "nope", "--partition", "{}"], "unknown pipeline 'nope'"),
        (["tests.queue", "flaky", "--partition", "{bad"], "--partition is not valid JSON"),
        (["tests.queue", "flaky", "--partition", "[1]"], "--partition must be a JSON object"),
        (["tests.queue", "flaky", "--partition", '{"wk": 1}'], "missing week; unknown wk"),
        (
            ["tests.queue", "flaky", "--partition", '{"week": "a"}', "--desired-at", "soon"],
            "is not an ISO 8601 date-time",
        ),
        (
            [
                "tests.queue",
                "flaky",
                "--partition",
                '{"week": "a"}',
                "--desired-at",
                "2025-12-23T10:30:00",
            ],
            "needs a time zone",
        ),
    ],
)
def test_enqueue_command_refuses_bad_input_and_changes_nothing(args, message):
    with pytest.raises(CommandError, match=message.replace("[", r"\[")):
        call_command("enqueue", *args)
    assert WorkItem.objects.count() == 0


def test_finished_item_needs_reprocess_flag():
    args = ("enqueue", "tests.queue", "produce_first", "--partition", '{"week": "w"}')
    run(*args)
    run("run_queue")
    assert "pass --reprocess" in run(*args)
    assert run(*args, "--reprocess").endswith("re-armed for reprocessing\n")
    assert WorkItem.objects.get().state == WorkState.PENDING


def test_reap_command_reports_what_it_recovered(settings):
    item = enqueue(pipeline="produce_first")
    claim_one()
    assert run("reap_expired_leases") == "no expired leases\n"
    settings.WORKQUEUE_LEASE_SECONDS = 0.0
    assert run("reap_expired_leases") == f"recovered 1 item(s): {item.pk}\n"


def test_setup_schedules_is_idempotent_and_repairs_deleted_schedules():
    # The migration created them already.
    names = set(Schedule.objects.values_list("name", flat=True))
    assert {"workqueue: drain due items", "workqueue: reap expired leases"} <= names
    Schedule.objects.filter(name="workqueue: drain due items").delete()
    out = run("setup_schedules")
    assert "created  workqueue: drain due items -> workqueue.tasks.drain_queue" in out
    assert "ok       workqueue: reap expired leases" in out
    assert Schedule.objects.filter(func="workqueue.tasks.drain_queue").count() == 1
    run("setup_schedules")
    assert Schedule.objects.filter(func="workqueue.tasks.drain_queue").count() == 1


def test_run_queue_runs_due_items_and_summarises():
    enqueue(pipeline="produce_first", week="a")
    enqueue(pipeline="broken", week="b")
    out = run("run_queue")
    assert out.splitlines()[-1] == "done: ran 2 item(s); 1 FAILED in the queue"
