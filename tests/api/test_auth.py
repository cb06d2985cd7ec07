"""Who may call what, by token or session, and who the audit log says did it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from tests.api.conftest import token_client
from tests.factories import api_key, enqueue
from workqueue.models import ApiToken, AuditEvent, WorkItem
from workqueue.services import Actor
from workqueue.tokens import api_token_revoke, api_token_set_expiry

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


# --- tokens: digests, expiry, revocation, last use ----------------------------------------------


def key_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_the_database_holds_no_usable_key(operator):
    key = api_key(operator, "cron")

    token = ApiToken.objects.get(name="cron")
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM core_api_tokens")
        stored = " ".join(str(value) for row in cursor.fetchall() for value in row)
    assert key not in stored
    assert token.prefix == key[:8] and len(key) > 40
    assert key_client(key).get("/api/v1/work/pending").status_code == 200


def test_an_expired_token_is_refused_saying_so(operator):
    key = api_key(operator, "short-lived")
    token = ApiToken.objects.get(name="short-lived")
    with time_machine.travel(datetime(2026, 5, 1, 12, 0, tzinfo=UTC), tick=False):
        api_token_set_expiry(
            token=token, expires_at=datetime(2026, 5, 1, 13, 0, tzinfo=UTC), actor=Actor.cli()
        )
        assert key_client(key).get("/api/v1/work/pending").status_code == 200
    with time_machine.travel(datetime(2026, 5, 1, 13, 0, 1, tzinfo=UTC), tick=False):
        response = key_client(key).get("/api/v1/work/pending")

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "not_authenticated"
    assert error["message"].startswith(
        f"Token {key[:8]}… (short-lived) expired at 2026-05-01 13:00"
    )


def test_a_revoked_token_is_refused_saying_so_and_other_tokens_keep_working(operator):
    revoked, kept = api_key(operator, "old-cron"), api_key(operator, "new-cron")

    api_token_revoke(token=ApiToken.objects.get(name="old-cron"), actor=Actor.cli())

    response = key_client(revoked).get("/api/v1/work/pending")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert f"Token {revoked[:8]}… (old-cron) revoked at " in response.json()["error"]["message"]
    assert key_client(kept).get("/api/v1/work/pending").status_code == 200


def test_a_request_costs_one_query_to_authenticate_and_last_use_is_written_once_a_minute(
    operator,
):
    client = key_client(api_key(operator, "cron"))
    token = ApiToken.objects.get(name="cron")
    start = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

    with time_machine.travel(start, tick=False):
        client.get("/api/v1/work/pending")
    token.refresh_from_db()
    assert token.last_used_at == start

    with (
        time_machine.travel(start + timedelta(seconds=30), tick=False),
        CaptureQueriesContext(connection) as queries,
    ):
        assert client.get("/api/v1/work/pending").status_code == 200
    token_queries = [q["sql"] for q in queries if "core_api_tokens" in q["sql"]]
    assert len(token_queries) == 1 and token_queries[0].lstrip().startswith("SELECT")
    assert not any(
        "auth_permission" in q["sql"] and "core_api_tokens" not in q["sql"] for q in queries
    )
    token.refresh_from_db()
    assert token.last_used_at == start

    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        client.get("/api/v1/work/pending")
    token.refresh_from_db()
    assert token.last_used_at == start + timedelta(seconds=61)


# --- throttling ---------------------------------------------------------------------------------


@pytest.fixture
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


@override_settings(API_THROTTLE_RATE=(3, 60))
def test_a_token_over_its_rate_gets_429_with_retry_after_and_others_are_unaffected(
    operator, fresh_cache
):
    busy, other = key_client(api_key(operator, "busy")), key_client(api_key(operator, "other"))
    with time_machine.travel(datetime(2026, 5, 1, 12, 0, 10, tzinfo=UTC), tick=False):
        answers = [busy.get("/api/v1/work/pending").status_code for _ in range(4)]
        refused = busy.post("/api/v1/work/enqueue", ENQUEUE, format="json")
        assert other.get("/api/v1/work/pending").status_code == 200

    assert answers == [200, 200, 200, 429]
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "50"
    assert refused.json()["error"]["code"] == "throttled"
    assert "throttled" in refused.json()["error"]["message"]
    assert not WorkItem.objects.exists()
    with time_machine.travel(datetime(2026, 5, 1, 12, 1, 0, tzinfo=UTC), tick=False):
        assert busy.get("/api/v1/work/pending").status_code == 200


# --- sign-in lockout ----------------------------------------------------------------------------


@pytest.fixture
def staff(operator):
    """ops may sign in to the admin."""
    operator.is_staff = True
    operator.save()
    return operator


def sign_in(client: Client, password: str, **extra: str):
    return client.post(
        "/admin/login/?next=/admin/", {"username": "ops", "password": password}, **extra
    )


def test_five_wrong_passwords_lock_the_user_out_from_that_address_and_are_audited(staff):
    client = Client()
    wrong = [sign_in(client, "guess", REMOTE_ADDR="198.51.100.7") for _ in range(5)]

    refused = sign_in(client, "pw", REMOTE_ADDR="198.51.100.7")

    assert [r.status_code for r in wrong[:4]] == [200] * 4  # the form again, with an error
    assert wrong[4].status_code == 429
    assert refused.status_code == 429
    assert "Sign-in temporarily locked" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    lockouts = AuditEvent.objects.filter(action="login_locked_out")
    assert lockouts.count() == 2
    assert {(e.actor_name, e.client_address) for e in lockouts} == {("ops", "198.51.100.7")}
    # The same user from another address is not locked out.
    elsewhere = Client()
    assert sign_in(elsewhere, "pw", REMOTE_ADDR="198.51.100.8").status_code == 302


def test_a_fresh_forwarded_for_does_not_dodge_the_count(staff):
    client = Client()
    for n in range(5):
        sign_in(client, "guess", REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR=f"10.9.9.{n}")

    assert sign_in(client, "pw", REMOTE_ADDR="198.51.100.7").status_code == 429


def test_a_correct_password_before_the_limit_resets_the_count(staff):
    client = Client()
    for _ in range(4):
        sign_in(client, "guess", REMOTE_ADDR="198.51.100.7")
    assert sign_in(client, "pw", REMOTE_ADDR="198.51.100.7").status_code == 302
    client.logout()

    for _ in range(4):
        assert sign_in(client, "guess", REMOTE_ADDR="198.51.100.7").status_code == 200
    assert sign_in(client, "pw", REMOTE_ADDR="198.51.100.7").status_code == 302


@pytest.mark.parametrize("minutes", [14, 16])
def test_the_lockout_ends_after_the_cool_off(staff, minutes):
    client = Client()
    start = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        for _ in range(5):
            sign_in(client, "guess", REMOTE_ADDR="198.51.100.7")
    with time_machine.travel(start + timedelta(minutes=minutes), tick=False):
        response = sign_in(client, "pw", REMOTE_ADDR="198.51.100.7")

    assert response.status_code == (429 if minutes < 15 else 302)
