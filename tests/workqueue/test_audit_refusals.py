"""Writes a signed-in user was refused leave a trace: an audit event with the outcome, the
action tried, its target, the actor and the address, from the API and from the admin."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.urls import reverse
from rest_framework.test import APIClient

from tests.api.conftest import token_client
from tests.console import failed_items, role_user
from tests.factories import claim_one, enqueue
from workqueue import audit
from workqueue.models import AuditEvent, WorkItem
from workqueue.states import WorkState

pytestmark = pytest.mark.django_db

ENQUEUE = {"domain": "tests.queue", "pipeline": "produce_first", "partition_key": {"week": "w1"}}


@pytest.fixture(autouse=True)
def _fresh_refusal_budget():
    cache.clear()  # the per-minute budget lives in the cache, shared by the tests of a process


def user_in(group: str | None, username: str) -> User:
    user = User.objects.create_user(username, password="pw")
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


def refusals() -> list[AuditEvent]:
    return list(AuditEvent.objects.exclude(outcome="done").order_by("id"))


# --- API --------------------------------------------------------------------------------------


def test_an_enqueue_without_permission_is_audited_as_refused():
    viewer = user_in("viewers", "vera")
    response = token_client(viewer).post("/api/v1/work/enqueue", ENQUEUE, format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not WorkItem.objects.exists()
    (event,) = refusals()
    assert (event.action, event.outcome, event.source) == ("enqueue", "refused", "api")
    assert (event.actor, event.actor_name, event.client_address) == (viewer, "vera", "127.0.0.1")
    assert event.work_item is None
    assert event.details["status"] == 403
    assert event.details["path"] == "/api/v1/work/enqueue"
    assert event.details["target"] == {
        "domain": "tests.queue",
        "pipeline": "produce_first",
        "partition_key": {"week": "w1"},
    }


def test_a_cancel_of_a_running_item_is_audited_as_a_conflict_on_that_item():
    enqueue(pipeline="produce_first", week="w1")
    running = claim_one()
    operator = user_in("data_ops", "otto")
    response = token_client(operator).post(
        "/api/v1/work/cancel", {"work_item_id": running.pk}, format="json"
    )

    assert response.status_code == 409
    assert WorkItem.objects.get(pk=running.pk).state == WorkState.RUNNING
    (event,) = refusals()
    assert (event.action, event.outcome, event.work_item_id) == ("cancel", "conflict", running.pk)
    assert event.details["code"] == "illegal_transition"
    assert event.details["message"] == response.json()["error"]["message"]
    assert event.details["target"] == {"work_item_id": running.pk}


def test_an_enqueue_of_a_finished_item_is_a_conflict_linked_to_it():
    item = failed_items(1)[0]
    operator = user_in("data_ops", "otto")
    body = {"domain": item.domain, "pipeline": item.pipeline, "partition_key": item.partition_key}
    response = token_client(operator).post("/api/v1/work/enqueue", body, format="json")

    assert response.status_code == 409
    (event,) = refusals()
    assert (event.action, event.outcome, event.work_item_id) == ("enqueue", "conflict", item.pk)
    assert event.details["code"] == "already_finished"


def test_a_refused_backfill_names_its_range_and_a_bulk_enqueue_its_size():
    viewer = token_client(user_in("viewers", "vera"))
    backfill = {"domain": "tests.queue", "pipeline": "ranged", "from": "2025-01-03", "to": "x"}
    assert viewer.post("/api/v1/work/backfill", backfill, format="json").status_code == 403
    assert viewer.post("/api/v1/work/enqueue", [ENQUEUE] * 3, format="json").status_code == 403

    first, second = refusals()
    assert first.action == "backfill"
    assert first.details["target"] == {
        "domain": "tests.queue",
        "pipeline": "ranged",
        "from": "2025-01-03",
        "to": "x",
    }
    assert (second.action, second.details["target"]) == ("enqueue", {"items": 3})


def test_reads_and_anonymous_writes_are_not_refusals_to_audit():
    nobody = token_client(user_in(None, "nobody"))
    assert nobody.get("/api/v1/work/pending").status_code == 403
    assert APIClient().post("/api/v1/work/enqueue", ENQUEUE, format="json").status_code == 401
    operator = token_client(user_in("data_ops", "otto"))
    assert (
        operator.post("/api/v1/work/cancel", {"work_item_id": "x"}, format="json").status_code
        == 400
    )

    assert refusals() == []


def test_a_flood_of_refusals_is_audited_up_to_the_budget(monkeypatch):
    monkeypatch.setattr(audit, "REFUSALS_PER_MINUTE", 3)
    viewer = token_client(user_in("viewers", "vera"))
    for _ in range(5):
        assert viewer.post("/api/v1/work/enqueue", ENQUEUE, format="json").status_code == 403
    other = token_client(user_in("viewers", "walt"))
    assert other.post("/api/v1/work/enqueue", ENQUEUE, format="json").status_code == 403

    assert [e.actor_name for e in refusals()] == ["vera", "vera", "vera", "walt"]


# --- admin ------------------------------------------------------------------------------------


def test_admin_buttons_and_actions_without_permission_are_audited(client):
    item = failed_items(1)[0]
    client.force_login(role_user("viewers"))

    button = client.post(reverse("admin:workqueue_workitem_retry", args=[item.pk]))
    page = client.post(
        reverse("admin:workqueue_workitem_changelist"),
        {"action": "cancel_items", "_selected_action": [str(item.pk)], "index": "0"},
        follow=True,
    ).content.decode()

    assert button.status_code == 403
    assert "You may not run &#x27;cancel_items&#x27;" in page
    assert WorkItem.objects.get(pk=item.pk).state == WorkState.FAILED
    retry, cancel = refusals()
    assert (retry.action, retry.outcome, retry.source) == ("retry", "refused", "admin")
    assert (retry.actor_name, retry.client_address, retry.work_item_id) == (
        "viewers-user",
        "127.0.0.1",
        item.pk,
    )
    assert (cancel.action, cancel.details["target"]) == (
        "cancel_items",
        {"selected": [str(item.pk)]},
    )


def test_a_backfill_form_posted_without_permission_is_audited(client):
    client.force_login(role_user("auditors"))
    response = client.post(
        reverse("admin:workqueue_backfill"),
        {"pipeline": "tests.queue:ranged", "start": "2025-01-03", "end": "2025-01-31"},
    )

    assert response.status_code == 403
    assert not WorkItem.objects.exists()
    (event,) = refusals()
    assert (event.action, event.outcome, event.actor_name) == (
        "backfill",
        "refused",
        "auditors-user",
    )
    assert event.details["target"]["start"] == "2025-01-03"
    assert client.get(reverse("admin:workqueue_backfill")).status_code == 403
    assert len(refusals()) == 1  # looking at the page is not an attempt


def test_the_audit_review_filters_by_outcome(client):
    enqueue(pipeline="produce_first", week="done")  # one event carried out
    token_client(user_in("viewers", "vera")).post("/api/v1/work/enqueue", ENQUEUE, format="json")
    client.force_login(role_user("auditors"))

    def listed(query: str) -> int:
        url = reverse("admin:workqueue_auditevent_changelist") + query
        page = client.get(url).content.decode()
        return int(re.search(r"(\d+) audit events?", page).group(1))

    assert listed("?outcome__exact=refused") == 1
    assert listed("?outcome__exact=done") == AuditEvent.objects.filter(outcome="done").count()
    export = client.get(reverse("admin:workqueue_auditevent_export") + "?outcome__exact=refused")
    lines = b"".join(export.streaming_content).decode().splitlines()
    assert len(lines) == 2 and ",enqueue,refused," in lines[1]
