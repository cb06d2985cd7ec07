"""The admin console in a real browser: what data_ops, viewers and auditors do with it."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
import requests
from django.urls import reverse
from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from tests.browser.conftest import log_in
from tests.console import PASSWORD, busy_queue, failed_items, role_user
from workqueue.models import AuditEvent, AuditOutcome, WorkItem
from workqueue.states import WorkState

# Serialized like every live-server test: a plain transactional teardown re-creates content
# types, and the next serialized test's restore would then insert them twice.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def tile_counts(browser) -> dict[str, int]:
    return {
        tile.get_attribute("data-state"): int(tile.get_attribute("data-count"))
        for tile in browser.find_elements(By.CSS_SELECTOR, "#queue-health [data-state]")
    }


def test_data_ops_retries_a_failed_item_from_its_page(browser):
    busy_queue(3)
    user = role_user("data_ops")
    log_in(browser, user.username, PASSWORD)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Operations dashboard"
    in_db = {state: WorkItem.objects.filter(state=state).count() for state in WorkState.values}
    assert tile_counts(browser) == in_db

    browser.find_element(By.LINK_TEXT, "Failed work items").click()
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == in_db[WorkState.FAILED]
    rows[0].find_element(By.CSS_SELECTOR, "th a, td a").click()
    item_id = int(browser.current_url.rstrip("/").split("/")[-2])
    assert WorkItem.objects.get(pk=item_id).state == WorkState.FAILED
    assert "HTTP 503: upstream unavailable" in browser.page_source

    browser.find_element(By.CSS_SELECTOR, "button[name=retry]").click()
    message = browser.find_element(By.CSS_SELECTOR, ".messagelist .success").text
    assert message == f"Retried #{item_id}: it is PENDING again."
    state = browser.find_element(By.CSS_SELECTOR, ".field-state .readonly").text
    assert state == WorkState.PENDING.label
    assert WorkItem.objects.get(pk=item_id).state == WorkState.PENDING
    # The retry button is gone now that the item is PENDING; Cancel takes its place.
    assert not browser.find_elements(By.CSS_SELECTOR, "button[name=retry]")
    assert browser.find_elements(By.CSS_SELECTOR, "button[name=cancel]")


def test_a_viewer_sees_no_buttons_and_a_forged_post_is_refused(browser):
    item = failed_items(1)[0]
    user = role_user("viewers")
    log_in(browser, user.username, PASSWORD)
    assert not browser.find_elements(By.CSS_SELECTOR, "#latest-failures button")
    browser.get(
        browser.live_server_url + reverse("admin:workqueue_workitem_change", args=[item.pk])
    )
    assert "HTTP 503: upstream unavailable" in browser.page_source
    assert not browser.find_elements(By.CSS_SELECTOR, ".object-tools button")
    # A POST the page never offered, with the viewer's own session and CSRF token.
    status = browser.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const cookie = document.cookie.split('; ').find(c => c.startsWith('csrftoken='));
        const token = cookie.split('=')[1];
        fetch(arguments[0], {method: 'POST', headers: {'X-CSRFToken': token},
                             credentials: 'same-origin'}).then(r => done(r.status));
        """,
        reverse("admin:workqueue_workitem_retry", args=[item.pk]),
    )
    assert status == 403
    assert WorkItem.objects.get(pk=item.pk).state == WorkState.FAILED
    # The attempt is on the record as refused; nothing was retried.
    retries = AuditEvent.objects.filter(action="retry", work_item=item)
    assert list(retries.values_list("outcome", flat=True)) == [AuditOutcome.REFUSED]


def test_an_auditor_filters_the_audit_log_and_downloads_the_csv(browser):
    now = timezone.now()
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                occurred_at=now - timedelta(days=9),
                actor_name="erin",
                source="api",
                action="retry",
            ),
            AuditEvent(
                occurred_at=now - timedelta(hours=1),
                actor_name="erin",
                source="admin",
                action="cancel",
                details={"why": "duplicate"},
            ),
            AuditEvent(occurred_at=now, actor_name="frank", source="admin", action="retry"),
        ]
    )
    user = role_user("auditors")
    log_in(browser, user.username, PASSWORD)
    browser.find_element(By.LINK_TEXT, "Audit events").click()
    filters = browser.find_element(By.ID, "changelist-filter")
    filters.find_element(By.LINK_TEXT, "erin").click()
    # The date form is on both pages: wait for the new one before filling it in.
    WebDriverWait(browser, 10).until(expected_conditions.url_contains("actor=erin"))
    since = (now - timedelta(days=2)).date().isoformat()
    date_from = browser.find_element(By.ID, "occurred-from")
    browser.execute_script("arguments[0].value = arguments[1]", date_from, since)
    browser.find_element(By.CSS_SELECTOR, ".date-range-filter input[type=submit]").click()
    WebDriverWait(browser, 10).until(expected_conditions.url_contains("occurred_from="))
    assert "actor=erin" in browser.current_url and f"occurred_from={since}" in browser.current_url
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert [r.find_element(By.CSS_SELECTOR, ".field-action").text for r in rows] == ["cancel"]

    link = browser.find_element(By.CSS_SELECTOR, "a.export-csv").get_attribute("href")
    session = requests.Session()
    for cookie in browser.get_cookies():
        session.cookies.set(cookie["name"], cookie["value"])
    response = session.get(link, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["actor_name"], r["action"], r["source"], r["details"]) for r in rows] == [
        ("erin", "cancel", "admin", '{"why": "duplicate"}')
    ]
