from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from tests.factories import claim_one, enqueue
from workqueue.models import AuditEvent, WorkItem
from workqueue.runner import drain
from workqueue.states import WorkState

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = User.objects.create_user("dana", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="data_ops"))
    client.force_login(user)
    return client


def failed_item(week: str) -> WorkItem:
    item = enqueue(week=week, max_attempts=1)
    drain(time_budget=5)
    item.refresh_from_db()
    assert item.state == WorkState.FAILED
    return item


@pytest.mark.parametrize(
    "name",
    [
        "workqueue_workitem",
        "workqueue_failedworkitem",
        "workqueue_runningworkitem",
        "workqueue_execution",
        "workqueue_manifestentry",
        "workqueue_auditevent",
    ],
)
def test_every_queue_page_opens_for_data_ops(staff_client, name):
    failed_item("w")
    response = staff_client.get(reverse(f"admin:{name}_changelist"))
    assert response.status_code == 200


def test_failed_page_lists_only_failed_items_with_their_error(staff_client):
    failed = failed_item("broken-week")
    enqueue(pipeline="produce_first", week="fine-week")
    page = staff_client.get(reverse("admin:workqueue_failedworkitem_changelist")).content.decode()
    assert "broken-week" in page and "fine-week" not in page
    assert "HTTP 503: upstream unavailable" in page
    assert f"{failed.attempt_count}/{failed.max_attempts}" in page


def test_retry_action_rearms_and_is_audited_as_admin(staff_client):
    item = failed_item("w1")
    response = staff_client.post(
        reverse("admin:workqueue_failedworkitem_changelist"),
        {"action": "retry_items", "_selected_action": [item.pk]},
        follow=True,
    )
    assert f"Re-armed 1 item(s): #{item.pk}" in response.content.decode()
    item.refresh_from_db()
    assert item.state == WorkState.PENDING and item.attempt_count == 0
    event = AuditEvent.objects.filter(action="retry").get()
    assert (event.source, event.actor_name, event.client_address) == ("admin", "dana", "127.0.0.1")


def test_cancel_of_a_running_item_is_refused_with_a_message_not_an_error_page(staff_client):
    running = enqueue(pipeline="produce_first", week="r")
    claim_one()
    pending = enqueue(pipeline="produce_first", week="p")
    response = staff_client.post(
        reverse("admin:workqueue_workitem_changelist"),
        {"action": "cancel_items", "_selected_action": [running.pk, pending.pk]},
        follow=True,
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert f"Cancelled 1 item(s): #{pending.pk}" in page
    assert "it is RUNNING" in page
    assert WorkItem.objects.get(pk=running.pk).state == WorkState.RUNNING
    assert WorkItem.objects.get(pk=pending.pk).state == WorkState.CANCELLED


def test_reprocess_action_rearms_finished_items_only(staff_client):
    done = enqueue(pipeline="produce_first", week="done")
    drain(time_budget=5)
    waiting = enqueue(pipeline="produce_first", week="later")
    response = staff_client.post(
        reverse("admin:workqueue_workitem_changelist"),
        {"action": "reprocess_items", "_selected_action": [done.pk, waiting.pk]},
        follow=True,
    )
    page = response.content.decode()
    assert f"Re-armed for reprocessing 1 item(s): #{done.pk}" in page
    assert f"#{waiting.pk} is PENDING" in page
    assert WorkItem.objects.get(pk=done.pk).state == WorkState.PENDING


def test_viewers_see_the_queue_but_get_no_actions(client):
    viewer = User.objects.create_user("val", password="pw", is_staff=True)
    viewer.groups.add(Group.objects.get(name="viewers"))
    client.force_login(viewer)
    item = failed_item("w")
    page = client.get(reverse("admin:workqueue_workitem_changelist"))
    assert page.status_code == 200
    assert "retry_items" not in page.content.decode()
    response = client.post(
        reverse("admin:workqueue_workitem_changelist"),
        {"action": "retry_items", "_selected_action": [item.pk]},
    )
    assert WorkItem.objects.get(pk=item.pk).state == WorkState.FAILED
    assert response.status_code in (200, 302, 403)


def test_executions_and_audit_are_read_only(staff_client):
    failed_item("w")
    execution_id = WorkItem.objects.get().executions.get().pk
    url = reverse("admin:workqueue_execution_change", args=[execution_id])
    page = staff_client.get(url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert staff_client.get(reverse("admin:workqueue_execution_add")).status_code == 403
    assert staff_client.get(reverse("admin:workqueue_auditevent_add")).status_code == 403


def test_behind_a_trusted_proxy_an_admin_action_is_audited_with_the_clients_address(
    staff_client, settings
):
    """The admin records the same address as the API and the sign-in lockout: the one the
    listed proxy forwarded, never a header an untrusted client sent itself."""
    settings.API_TRUSTED_PROXIES = ["10.0.0.1"]
    first, second = failed_item("p1"), failed_item("p2")
    changelist = reverse("admin:workqueue_failedworkitem_changelist")
    for item, peer in ((first, "10.0.0.1"), (second, "192.0.2.50")):
        staff_client.post(
            changelist,
            {"action": "retry_items", "_selected_action": [item.pk]},
            REMOTE_ADDR=peer,
            HTTP_X_FORWARDED_FOR="203.0.113.9",
        )
    addresses = dict(
        AuditEvent.objects.filter(action="retry").values_list("work_item_id", "client_address")
    )
    assert addresses == {first.pk: "203.0.113.9", second.pk: "192.0.2.50"}
