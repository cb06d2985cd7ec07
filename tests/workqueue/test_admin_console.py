"""The admin console: each page for each role, the dashboard's numbers, buttons and audit review."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.console import PASSWORD, ROLES, busy_queue, failed_items, role_user
from tests.factories import claim_one, enqueue
from workqueue.models import AuditEvent, Execution, WorkerHeartbeat, WorkItem
from workqueue.runner import drain
from workqueue.states import WorkState

pytestmark = pytest.mark.django_db


def login(client, role: str) -> User:
    user = role_user(role)
    client.force_login(user)
    return user


def page_urls() -> dict[str, str]:
    item = WorkItem.objects.order_by("id").first()
    event = AuditEvent.objects.order_by("id").first()
    return {
        "dashboard": reverse("admin:index"),
        "section": reverse("admin:section", args=["operations"]),
        "work items": reverse("admin:workqueue_workitem_changelist"),
        "work item": reverse("admin:workqueue_workitem_change", args=[item.pk]),
        "failed items": reverse("admin:workqueue_failedworkitem_changelist"),
        "running items": reverse("admin:workqueue_runningworkitem_changelist"),
        "executions": reverse("admin:workqueue_execution_changelist"),
        "manifest": reverse("admin:workqueue_manifestentry_changelist"),
        "captures": reverse("admin:finra_capture_changelist"),
        "scheduler runs": reverse("admin:finra_schedulerrun_changelist"),
        "schedules": reverse("admin:django_q_schedule_changelist"),
        "audit events": reverse("admin:workqueue_auditevent_changelist"),
        "audit event": reverse("admin:workqueue_auditevent_change", args=[event.pk]),
        "audit export": reverse("admin:workqueue_auditevent_export"),
        "change log": reverse("admin:admin_logentry_changelist"),
        "users": reverse("admin:auth_user_changelist"),
        "tasks succeeded": reverse("admin:django_q_success_changelist"),
        "tasks failed": reverse("admin:django_q_failure_changelist"),
    }


READ_EVERYWHERE = {
    "dashboard",
    "section",
    "work items",
    "work item",
    "failed items",
    "running items",
    "executions",
    "manifest",
    "captures",
    "scheduler runs",
    "schedules",
}
ALLOWED = {
    "data_ops": READ_EVERYWHERE | {"audit events", "audit event", "audit export"},
    "auditors": READ_EVERYWHERE
    | {"audit events", "audit event", "audit export", "change log", "users"},
    "viewers": READ_EVERYWHERE,
}


@pytest.mark.parametrize("role", [*ROLES, "superuser"])
def test_each_role_opens_exactly_its_pages(client, role):
    busy_queue(2)
    login(client, role)
    urls = page_urls()
    allowed = set(urls) if role == "superuser" else ALLOWED[role]
    answers = {name: client.get(url).status_code for name, url in urls.items()}
    assert {n for n, status in answers.items() if status == 200} == allowed
    assert {status for n, status in answers.items() if n not in allowed} <= {403}


def sidebar_sections(page: str) -> dict[str, list[str]]:
    sections = {}
    for label, body in re.findall(
        r'<div class="app-([\w-]+) module.*?<table>(.*?)</table>', page, re.S
    ):
        sections[label] = re.findall(
            r'<th scope="row" id="[^"]+">\s*<a href="[^"]+"[^>]*>([^<]+)</a>', body
        )
    return sections


def test_sections_group_the_pages_a_user_may_see(client):
    login(client, "auditors")
    page = client.get(reverse("admin:index")).content.decode()
    assert sidebar_sections(page) == {
        "operations": [
            "Dashboard",
            "Partition grid",
            "Work items",
            "Failed work items",
            "Running work items",
            "Executions",
            "Scheduler runs",
            "Scheduled tasks",
        ],
        "data": ["FINRA weeks", "Captures", "Manifest entries"],
        "audit": ["Audit events", "Log entries"],
        "administration": ["Users", "Groups"],
    }


def test_only_operators_see_the_backfill_page_in_the_sidebar(client):
    login(client, "data_ops")
    sections = sidebar_sections(client.get(reverse("admin:index")).content.decode())
    assert sections["operations"][:3] == ["Dashboard", "Partition grid", "Backfill"]
    for role in ("auditors", "viewers"):
        client.force_login(role_user(role))
        sections = sidebar_sections(client.get(reverse("admin:index")).content.decode())
        assert "Backfill" not in sections["operations"]


def test_viewers_get_no_audit_section_and_superusers_see_the_task_engine(client):
    login(client, "viewers")
    assert "audit" not in sidebar_sections(client.get(reverse("admin:index")).content.decode())
    client.force_login(role_user("superuser"))
    sections = sidebar_sections(client.get(reverse("admin:index")).content.decode())
    assert sections["task-engine"] == ["Successful tasks", "Failed tasks", "Queued tasks"]
    assert sections["administration"] == ["Users", "Groups", "API tokens", "Access attempts"]


# --- dashboard ----------------------------------------------------------------------------------


def tiles(page: str) -> dict[str, int]:
    return {s: int(n) for s, n in re.findall(r'data-state="(\w+)" data-count="(\d+)"', page)}


def test_dashboard_counts_match_the_database(client):
    made = busy_queue(3)
    login(client, "viewers")
    page = client.get(reverse("admin:index")).content.decode()
    expected = dict.fromkeys(WorkState.values, 0) | made
    assert tiles(page) == expected
    assert 'data-fact="due-now">3<' in page  # the three PENDING items are due
    assert 'data-fact="exhausted">' in page and ">3</a>" in page
    for beat in WorkerHeartbeat.objects.all():
        assert f'data-worker="{beat.worker}"' in page


def test_dashboard_oldest_due_age_and_worker_age(client, time_machine):
    time_machine.move_to("2026-03-02 12:00:00Z", tick=False)
    enqueue(pipeline="produce_first", week="old")
    WorkerHeartbeat.objects.create(worker="w:1", seen_at=timezone.now())
    time_machine.move_to("2026-03-02 12:10:00Z", tick=False)
    enqueue(pipeline="produce_first", week="new")
    login(client, "viewers")
    page = client.get(reverse("admin:index")).content.decode()
    assert 'data-fact="oldest-due-seconds" data-value="600"' in page
    assert "10 min (since 2026-03-02 12:00:00)" in page
    assert 'data-age-seconds="600"' in page


def test_latest_failures_show_the_error_and_retry_only_for_operators(client):
    failed = failed_items(2)
    login(client, "data_ops")
    page = client.get(reverse("admin:index")).content.decode()
    assert "HTTP 503: upstream unavailable" in page
    for item in failed:
        assert reverse("admin:workqueue_workitem_retry", args=[item.pk]) in page
    client.force_login(role_user("viewers"))
    page = client.get(reverse("admin:index")).content.decode()
    assert "HTTP 503: upstream unavailable" in page
    assert "/retry/" not in page and ">Retry<" not in page


def test_throughput_chart_counts_finished_executions_per_hour(client, time_machine):
    time_machine.move_to("2026-03-02 09:30:00Z", tick=False)
    failed_items(2, prefix="a")
    enqueue(pipeline="produce_first", week="ok")
    drain(time_budget=5)
    time_machine.move_to("2026-03-02 11:05:00Z", tick=False)
    enqueue(pipeline="produce_first", week="later")
    drain(time_budget=5)
    time_machine.move_to("2026-03-02 12:00:00Z", tick=False)
    login(client, "viewers")
    page = client.get(reverse("admin:index")).content.decode()
    assert 'data-hour="2026-03-02 09:00" data-finished="3" data-failed="2"' in page
    assert 'data-hour="2026-03-02 11:00" data-finished="1" data-failed="0"' in page
    assert 'data-total="4" data-failed="2"' in page
    assert len(re.findall(r"data-hour=", page)) == 2  # empty hours draw no bar


def test_duration_chart_sums_execution_time_per_pipeline_and_iso_week(client, time_machine):
    time_machine.move_to("2026-03-04 10:00:00Z", tick=False)  # ISO week 2026-W10
    for week in ("a", "b"):
        enqueue(pipeline="produce_first", week=week)
    drain(time_budget=5)
    time_machine.move_to("2026-03-11 10:00:00Z", tick=False)  # 2026-W11
    enqueue(pipeline="produce_first", week="c")
    drain(time_budget=5)
    Execution.objects.update(duration_seconds=1.5)
    login(client, "viewers")
    page = client.get(reverse("admin:index")).content.decode()
    row = page.split('data-pipeline="tests.queue/produce_first"')[1].split("</tr>")[0]
    assert 'data-week="2026-W10" data-executions="2" data-total-seconds="3.0"' in row
    assert 'data-week="2026-W11" data-executions="1" data-total-seconds="1.5"' in row
    assert len(re.findall(r"data-week=", row)) == 12


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize(
    "page",
    ["dashboard", "work items", "failed items", "work item", "audit events", "executions"],
)
def test_pages_run_the_same_queries_for_few_and_many_items(client, page):
    login(client, "auditors")
    busy_queue(2)
    client.get(page_urls()[page])  # fills the per-process caches (content types)
    few = count_queries(client, page_urls()[page])
    failed_items(12, prefix="more-")
    # More history on the item the "work item" page shows, too.
    item = WorkItem.objects.order_by("id").first()
    now = timezone.now()
    Execution.objects.bulk_create(
        Execution(work_item=item, attempt=n, worker="w", started_at=now, error="boom")
        for n in range(2, 12)
    )
    AuditEvent.objects.bulk_create(
        AuditEvent(actor_name="x", source="cli", action="retry", work_item=item) for _ in range(10)
    )
    many = count_queries(client, page_urls()[page])
    assert many == few
    assert many <= 30


# --- the work item page -------------------------------------------------------------------------


def buttons(page: str) -> list[str]:
    return re.findall(r'<button type="submit" name="(retry|cancel|reprocess)"', page)


def item_page(client, item: WorkItem) -> str:
    return client.get(reverse("admin:workqueue_workitem_change", args=[item.pk])).content.decode()


def test_buttons_follow_the_state_and_the_permission(client):
    failed = failed_items(1)[0]
    pending = enqueue(pipeline="produce_first", week="p")
    running = enqueue(pipeline="produce_first", week="r")
    done = enqueue(pipeline="produce_first", week="d")
    WorkItem.objects.filter(pk=done.pk).update(state=WorkState.COMPLETE)
    WorkItem.objects.filter(pk=running.pk).update(state=WorkState.RUNNING)
    login(client, "data_ops")
    assert buttons(item_page(client, failed)) == ["retry", "reprocess"]
    assert buttons(item_page(client, pending)) == ["cancel"]
    assert buttons(item_page(client, running)) == []
    assert buttons(item_page(client, done)) == ["reprocess"]
    for role in ("viewers", "auditors"):
        client.force_login(role_user(role))
        assert buttons(item_page(client, failed)) == []


def test_retry_button_rearms_the_item_and_says_so(client):
    item = failed_items(1)[0]
    login(client, "data_ops")
    response = client.post(
        reverse("admin:workqueue_failedworkitem_retry", args=[item.pk]), follow=True
    )
    assert response.status_code == 200
    assert f"Retried #{item.pk}: it is PENDING again." in response.content.decode()
    assert response.redirect_chain[-1][0] == reverse(
        "admin:workqueue_workitem_change", args=[item.pk]
    )
    item.refresh_from_db()
    assert (item.state, item.attempt_count) == (WorkState.PENDING, 0)
    event = AuditEvent.objects.get(action="retry")
    assert (event.source, event.actor_name) == ("admin", "data_ops-user")


def test_cancel_and_reprocess_buttons_and_their_refusals(client):
    pending = enqueue(pipeline="produce_first", week="p")
    login(client, "data_ops")
    page = client.post(
        reverse("admin:workqueue_workitem_cancel", args=[pending.pk]), follow=True
    ).content.decode()
    assert f"Cancelled #{pending.pk}." in page
    assert WorkItem.objects.get(pk=pending.pk).state == WorkState.CANCELLED
    running = enqueue(pipeline="produce_first", week="r")
    claim_one()
    response = client.post(
        reverse("admin:workqueue_workitem_cancel", args=[running.pk]), follow=True
    )
    assert response.status_code == 200
    assert "it is RUNNING" in response.content.decode()
    assert WorkItem.objects.get(pk=running.pk).state == WorkState.RUNNING
    page = client.post(
        reverse("admin:workqueue_workitem_reprocess", args=[running.pk]), follow=True
    ).content.decode()
    assert f"#{running.pk} is RUNNING: only finished items are reprocessed" in page
    page = client.post(
        reverse("admin:workqueue_workitem_reprocess", args=[pending.pk]), follow=True
    ).content.decode()
    assert f"Re-armed #{pending.pk} for reprocessing." in page
    assert WorkItem.objects.get(pk=pending.pk).state == WorkState.PENDING
    page = client.post(
        reverse("admin:workqueue_workitem_retry", args=[999999]), follow=True
    ).content.decode()
    assert "work item 999999 does not exist" in page.lower()


@pytest.mark.parametrize("role", ["viewers", "auditors"])
@pytest.mark.parametrize("action", ["retry", "cancel", "reprocess"])
def test_a_forged_post_without_the_permission_is_refused_and_changes_nothing(client, role, action):
    failed = failed_items(1)[0]
    pending = enqueue(pipeline="produce_first", week="p")
    login(client, role)
    before = AuditEvent.objects.count()
    for item in (failed, pending):
        url = reverse(f"admin:workqueue_workitem_{action}", args=[item.pk])
        assert client.post(url).status_code == 403
    assert WorkItem.objects.get(pk=failed.pk).state == WorkState.FAILED
    assert WorkItem.objects.get(pk=pending.pk).state == WorkState.PENDING
    # The only trace is the refused attempts themselves.
    recorded = AuditEvent.objects.order_by("id")[before:]
    assert [(e.action, e.outcome, e.work_item_id) for e in recorded] == [
        (action, "refused", failed.pk),
        (action, "refused", pending.pk),
    ]


def test_buttons_need_a_post_and_a_csrf_token(client):
    item = failed_items(1)[0]
    user = login(client, "data_ops")
    url = reverse("admin:workqueue_workitem_retry", args=[item.pk])
    assert client.get(url).status_code == 405
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.post(url).status_code == 403
    assert WorkItem.objects.get(pk=item.pk).state == WorkState.FAILED


def test_item_page_folds_errors_and_links_to_manifest_and_audit(client):
    item = failed_items(1)[0]
    done = enqueue(pipeline="produce_first", week="2026-W01")
    drain(time_budget=5)
    login(client, "data_ops")
    page = item_page(client, item)
    assert '<details class="console-trace"><summary>RuntimeError: HTTP 503' in page
    assert "Traceback (most recent call last)" in page
    page = item_page(client, done)
    manifest = re.search(r'href="([^"]*manifestentry/\?[^"]+)"', page).group(1)
    audit = re.search(r'href="([^"]*auditevent/\?[^"]+)"', page).group(1)
    manifest_page = client.get(manifest.replace("&amp;", "&")).content.decode()
    assert "1 manifest entry" in manifest_page and "cap:2026-W01" in manifest_page
    audit_page = client.get(audit.replace("&amp;", "&")).content.decode()
    assert "1 audit event" in audit_page
    client.force_login(role_user("viewers"))
    assert "auditevent/?" not in item_page(client, done)


# --- audit review -------------------------------------------------------------------------------


def audit_fixture() -> None:
    enqueue(pipeline="produce_first", week="one")  # actor cli:<user>, source cli
    now = timezone.now()
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                occurred_at=now - timedelta(days=10),
                actor_name="erin",
                source="api",
                action="retry",
                details={"note": "old-night"},
            ),
            AuditEvent(
                occurred_at=now - timedelta(days=1),
                actor_name="erin",
                source="admin",
                action="cancel",
                details={"note": "recent-fix"},
            ),
            AuditEvent(
                occurred_at=now, actor_name="frank", source="admin", action="retry", details={}
            ),
        ]
    )


def listed(client, query: str) -> int:
    page = client.get(reverse("admin:workqueue_auditevent_changelist") + query).content.decode()
    return int(re.search(r"(\d+) audit events?", page).group(1))


def test_audit_filters_by_actor_action_source_dates_and_search(client):
    audit_fixture()
    login(client, "auditors")
    today = timezone.now().date()
    assert listed(client, "?actor=erin") == 2
    assert listed(client, "?action__exact=retry") == 2
    assert listed(client, "?source__exact=admin&actor=erin") == 1
    since = (today - timedelta(days=2)).isoformat()
    assert listed(client, f"?actor=erin&occurred_from={since}") == 1
    until = (today - timedelta(days=5)).isoformat()
    assert listed(client, f"?occurred_to={until}") == 1
    assert listed(client, "?q=recent-fix") == 1
    assert listed(client, "?q=frank") == 1


def test_audit_csv_export_carries_the_filters(client):
    audit_fixture()
    login(client, "auditors")
    since = (timezone.now().date() - timedelta(days=2)).isoformat()
    page = client.get(
        reverse("admin:workqueue_auditevent_changelist") + f"?actor=erin&occurred_from={since}"
    ).content.decode()
    link = re.search(r'href="([^"]+export\.csv[^"]*)"', page).group(1).replace("&amp;", "&")
    assert "actor=erin" in link and f"occurred_from={since}" in link
    response = client.get(link)
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["actor_name"], r["action"], r["source"]) for r in rows] == [
        ("erin", "cancel", "admin")
    ]
    assert rows[0]["details"] == '{"note": "recent-fix"}'


def test_viewers_cannot_read_or_export_the_audit_log(client):
    audit_fixture()
    login(client, "viewers")
    assert client.get(reverse("admin:workqueue_auditevent_changelist")).status_code == 403
    assert client.get(reverse("admin:workqueue_auditevent_export")).status_code == 403


def test_sign_ins_sign_outs_and_refused_sign_ins_are_audited(client):
    user = role_user("viewers")
    login_url = reverse("admin:login")
    client.post(login_url, {"username": user.username, "password": "wrong"})
    client.post(login_url, {"username": user.username, "password": PASSWORD})
    client.post(reverse("admin:logout"))
    events = list(AuditEvent.objects.order_by("id").values_list("action", "actor_name", "source"))
    assert events == [
        ("login_failed", user.username, "admin"),
        ("login", user.username, "admin"),
        ("logout", user.username, "admin"),
    ]
    failed = AuditEvent.objects.get(action="login_failed")
    assert failed.client_address == "127.0.0.1" and failed.details == {"username": user.username}
    assert failed.actor is None


def test_changes_to_a_users_access_are_audited(client):
    admin = login(client, "superuser")
    staff = User.objects.create_user("gina", password="pw", is_staff=True)
    url = reverse("admin:auth_user_change", args=[staff.pk])
    form = {
        "username": "gina",
        "is_active": "on",
        "groups": [Group.objects.get(name="data_ops").pk],
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "initial-date_joined_0": "2026-01-01",
        "initial-date_joined_1": "00:00:00",
    }
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.get(action="user_access_change")
    assert event.actor == admin and event.source == "admin"
    assert event.details == {
        "user": "gina",
        "is_staff": {"from": True, "to": False},
        "groups": {"added": ["data_ops"], "removed": []},
    }
    client.post(url, form)  # nothing changed this time: nothing recorded
    assert AuditEvent.objects.filter(action="user_access_change").count() == 1


def test_auditors_read_the_change_log_but_cannot_change_it(client):
    login(client, "superuser")
    client.post(reverse("admin:auth_group_add"), {"name": "night_shift"})
    client.force_login(role_user("auditors"))
    page = client.get(reverse("admin:admin_logentry_changelist")).content.decode()
    assert "night_shift" in page
    entry_id = re.search(r"logentry/(\d+)/change/", page).group(1)
    change = client.get(reverse("admin:admin_logentry_change", args=[entry_id])).content.decode()
    assert 'name="_save"' not in change
    assert client.get(reverse("admin:admin_logentry_add")).status_code == 403
