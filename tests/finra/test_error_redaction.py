"""What a viewer reads about a failed FINRA item: no URL passwords, no server data directory.

Real items fail through the real pipelines; the text is read back as a viewer reads it, from
the API's item detail and the admin's item page (last error, execution error and traceback).
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from finra.sources.files import hide_data_dir
from tests.api.conftest import token_client
from tests.console import role_user
from tests.finra.conftest import DOMAIN, enqueue, run_queue
from tests.finra.fake_finra import FakeFileServer, Reply
from workqueue.models import Execution, WorkItem
from workqueue.redaction import redact, redact_url_credentials
from workqueue.states import WorkState

pytestmark = pytest.mark.django_db

OTC_KEY = {"week_ending": "2025-12-12", "tier": "OTC"}
SECRET_URL = "https://reporter:s3cret@evil.example/otc.psv"


def queued_before_checks(params: dict[str, str]) -> WorkItem:
    """An ingest item as a row, the way one enqueued before its params were checked sits in
    the queue: what it holds is only found wrong when it runs."""
    return WorkItem.objects.create(
        domain=DOMAIN, pipeline="ingest_week", partition_key=OTC_KEY, params=params
    )


def what_viewers_read(client, item: WorkItem) -> tuple[str, str]:
    """The API's item detail (JSON text) and the admin's item page (HTML), read by viewers."""
    user = User.objects.create_user("viewer-api")
    user.groups.add(Group.objects.get(name="viewers"))
    api = token_client(user).get(f"/api/v1/work/items/{item.pk}")
    assert api.status_code == 200
    client.force_login(role_user("viewers"))
    page = client.get(reverse("admin:workqueue_workitem_change", args=[item.pk]))
    assert page.status_code == 200
    return api.content.decode(), page.content.decode()


def test_a_redirect_to_a_url_with_a_password_is_shown_without_it(client, settings):
    settings.FINRA_ALLOWED_HOSTS = ["127.0.0.1"]
    with FakeFileServer() as server:
        server.routes["/otc.psv"] = Reply(status=302, headers={"Location": SECRET_URL})
        item = enqueue("ingest_week", OTC_KEY, params={"file_url": server.url("/otc.psv")})
        run_queue()
    item.refresh_from_db()
    execution = Execution.objects.get(work_item=item)

    assert item.state == WorkState.FAILED
    assert "redirects to https://***@evil.example/otc.psv" in item.last_error
    assert "s3cret" not in execution.error and "s3cret" not in execution.traceback
    api, page = what_viewers_read(client, item)
    for text in (api, page):
        assert "https://***@evil.example/otc.psv" in text
        assert "s3cret" not in text and "reporter" not in text


def test_a_file_url_with_a_password_to_a_refused_host_is_shown_without_it(client):
    item = queued_before_checks({"file_url": SECRET_URL})
    run_queue()
    item.refresh_from_db()

    assert item.state == WorkState.FAILED
    assert "evil.example" in item.last_error
    assert "s3cret" not in item.last_error
    api, page = what_viewers_read(client, item)
    for text in (api.replace(SECRET_URL, ""), page.replace(SECRET_URL, "")):
        # The item's own params still hold the URL it was given; no error repeats the password.
        assert "s3cret" not in text


def test_a_missing_file_path_names_the_file_relative_to_the_data_dir(client, data_dir):
    item = queued_before_checks({"file_path": "drops/missing.psv"})
    run_queue()
    item.refresh_from_db()

    assert item.state == WorkState.FAILED
    assert item.last_error.endswith(
        "params.file_path 'drops/missing.psv' not found in FINRA_DATA_DIR"
    )
    api, page = what_viewers_read(client, item)
    for text in (api, page):
        assert str(data_dir) not in text
        assert "drops/missing.psv" in text


def test_a_missing_default_file_is_named_under_the_data_dir(client, data_dir):
    item = enqueue("ingest_week", OTC_KEY)
    run_queue()
    item.refresh_from_db()

    assert item.state == WorkState.RETRY_WAIT
    assert "file FINRA_DATA_DIR/2025-12-12/OTC.psv not found" in item.last_error
    api, page = what_viewers_read(client, item)
    assert str(data_dir) not in api and str(data_dir) not in page


def test_the_safety_net_hides_the_data_dir_in_any_error_text(data_dir):
    text = f"OSError: [Errno 13] Permission denied: '{data_dir}/2025-12-12/OTC.psv'"

    assert (
        redact(text) == "OSError: [Errno 13] Permission denied: 'FINRA_DATA_DIR/2025-12-12/OTC.psv'"
    )
    # A longer name that merely starts like the data directory is not the data directory.
    assert hide_data_dir(f"{data_dir}2/x") == f"{data_dir}2/x"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (SECRET_URL, "https://***@evil.example/otc.psv"),
        ("get ftp://anonymous@host/x failed", "get ftp://***@host/x failed"),
        ("'https://u:p@ss@evil.example'", "'https://***@evil.example'"),  # '@' in the password
        ("see https://finra.org/x?user=a@b.c", "see https://finra.org/x?user=a@b.c"),
        ("mail ops@example.com", "mail ops@example.com"),
    ],
)
def test_url_user_information_is_hidden_and_nothing_else(text, shown):
    assert redact_url_credentials(text) == shown


def test_the_migration_redacts_errors_recorded_before(data_dir):
    from importlib import import_module

    from django.apps import apps

    migration = import_module("workqueue.migrations.0009_audit_outcome")
    item = queued_before_checks({"file_path": "drops/missing.psv"})
    run_queue()
    old_error = f"SourceError: download of {SECRET_URL} failed"
    old_trace = f"Traceback ...\nOSError: cannot read {data_dir}/2025-12-12/OTC.psv"
    WorkItem.objects.filter(pk=item.pk).update(last_error=old_error)
    Execution.objects.filter(work_item=item).update(error=old_error, traceback=old_trace)

    migration.redact_recorded_errors(apps, None)

    item.refresh_from_db()
    execution = Execution.objects.get(work_item=item)
    assert item.last_error == "SourceError: download of https://***@evil.example/otc.psv failed"
    assert execution.error == item.last_error
    assert execution.traceback.endswith("cannot read FINRA_DATA_DIR/2025-12-12/OTC.psv")
