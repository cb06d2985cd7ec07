"""Who may call what, by token or session, and who the audit log says did it."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from tests.api.conftest import token_client
from tests.factories import enqueue
from workqueue.models import AuditEvent, WorkItem

pytestmark = pytest.mark.django_db

ENQUEUE = {"domain": "tests.queue", "pipeline": "flaky", "partition_key": {"week": "w1"}}
READS = [
    "/api/v1/work/pending",
    "/api/v1/work/items/1",
    "/api/v1/manifest?domain=tests.queue&partition_key=%7B%7D",
    "/api/v1/health",
    "/api/v1/schema/",
]
WRITES = [
    ("/api/v1/work/enqueue", ENQUEUE),
    ("/api/v1/work/retry", {"work_item_id": 1}),
    ("/api/v1/work/cancel", {"work_item_id": 1}),
]


@pytest.mark.parametrize("url", READS)
def test_anonymous_reads_get_401_asking_for_a_token(url):
    response = APIClient().get(url)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"
    assert json.loads(response.content)["error"]["code"] == "not_authenticated"


def test_anonymous_docs_visitors_are_sent_to_log_in(operator):
    response = APIClient().get("/api/v1/docs/")

    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/login/?next=/api/v1/docs/"
    client = APIClient()
    client.force_login(operator)
    page = client.get("/api/v1/docs/")
    assert page.status_code == 200
    assert b"/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page.content
    assert b"cdn" not in page.content.lower()


@pytest.mark.parametrize(("url", "body"), WRITES)
def test_anonymous_writes_get_401(url, body):
    response = APIClient().post(url, body, format="json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert not WorkItem.objects.exists()


def test_a_wrong_token_is_401():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = client.get("/api/v1/work/pending")

    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "not_authenticated",
        "message": "Invalid token.",
        "fields": {},
    }


def test_a_deactivated_users_token_stops_working(operator, api):
    assert api.get("/api/v1/work/pending").status_code == 200
    operator.is_active = False
    operator.save()

    response = api.get("/api/v1/work/pending")

    assert response.status_code == 401
    assert response.json()["error"]["message"] == "User inactive or deleted."


def test_a_token_reaches_its_own_user_and_permissions(operator, api, viewer_api):
    assert api.post("/api/v1/work/cancel", {"work_item_id": 1}, format="json").status_code == 404
    assert (
        viewer_api.post("/api/v1/work/cancel", {"work_item_id": 1}, format="json").status_code
        == 403
    )


@pytest.mark.parametrize("client_fixture", ["viewer_api", "auditor_api"])
@pytest.mark.parametrize(("url", "body"), WRITES)
def test_read_only_roles_cannot_write(request, client_fixture, url, body):
    client = request.getfixturevalue(client_fixture)

    response = client.post(url, body, format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert "workqueue.operate_workitem" in response.json()["error"]["message"]
    assert not WorkItem.objects.exists()


@pytest.mark.parametrize("client_fixture", ["viewer_api", "auditor_api", "api"])
def test_every_role_can_read(request, client_fixture):
    client = request.getfixturevalue(client_fixture)
    item = enqueue()

    assert client.get("/api/v1/work/pending").status_code == 200
    assert client.get(f"/api/v1/work/items/{item.pk}").status_code == 200
    manifest = client.get("/api/v1/manifest?domain=tests.queue&partition_key=%7B%7D")
    assert manifest.status_code == 200


def test_a_user_without_a_role_may_not_read(make_user):
    client = token_client(make_user("nobody"))

    response = client.get("/api/v1/work/pending")

    assert response.status_code == 403
    assert "workqueue.view_workitem" in response.json()["error"]["message"]
    assert client.get("/api/v1/health").status_code == 200  # any authenticated user


def test_data_ops_may_enqueue_and_superusers_may_do_everything(api, make_user):
    assert api.post("/api/v1/work/enqueue", ENQUEUE, format="json").status_code == 201
    admin = token_client(make_user("root", superuser=True))
    item_id = WorkItem.objects.get().pk
    assert admin.post("/api/v1/work/cancel", {"work_item_id": item_id}, format="json").json()[
        "state"
    ] == ("CANCELLED")


def test_session_login_works_too(operator):
    client = APIClient()
    client.force_login(operator)

    response = client.post("/api/v1/work/enqueue", ENQUEUE, format="json")

    assert response.status_code == 201


def test_session_writes_need_the_csrf_token(operator):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(operator)

    response = client.post("/api/v1/work/enqueue", ENQUEUE, format="json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]


def test_enqueue_retry_and_cancel_are_audited_with_user_and_address(api):
    created = api.post("/api/v1/work/enqueue", ENQUEUE, format="json", REMOTE_ADDR="10.1.2.3")
    item_id = created.json()["id"]
    api.post(
        "/api/v1/work/cancel", {"work_item_id": item_id}, format="json", REMOTE_ADDR="10.1.2.3"
    )
    api.post("/api/v1/work/retry", {"work_item_id": item_id}, format="json", REMOTE_ADDR="10.1.2.3")

    events = AuditEvent.objects.filter(work_item_id=item_id).order_by("id")
    assert [e.action for e in events] == ["enqueue", "cancel", "retry"]
    for event in events:
        assert (event.actor.username, event.actor_name) == ("ops", "ops")
        assert event.source == "api"
        assert event.client_address == "10.1.2.3"


def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(api):
    spoofed = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    api.post("/api/v1/work/enqueue", ENQUEUE, format="json", **spoofed)
    with override_settings(API_TRUSTED_PROXIES=["10.0.0.1"]):
        body = {**ENQUEUE, "partition_key": {"week": "w2"}}
        api.post("/api/v1/work/enqueue", body, format="json", **spoofed)

    enqueues = AuditEvent.objects.filter(action="enqueue").order_by("id")
    assert list(enqueues.values_list("client_address", flat=True)) == ["10.0.0.1", "203.0.113.9"]
