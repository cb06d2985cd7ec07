"""The partition grid and the backfill page in a real browser, as data_ops uses them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from finra.console import newest_week
from finra.models import DOMAIN
from tests.browser.conftest import log_in
from tests.console import PASSWORD, finra_history, role_user
from workqueue.models import WorkItem
from workqueue.states import WorkState

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def cell(browser, week: str, tier: str, stage: str):
    return browser.find_element(
        By.CSS_SELECTOR, f'tr[data-week="{week}"] td[data-tier="{tier}"][data-stage="{stage}"]'
    )


def test_data_ops_retries_a_failed_cell_from_the_grid(browser):
    week = newest_week() - timedelta(weeks=8)
    items = finra_history([week])
    failed = items[(week.isoformat(), "OTC", "HHI")]
    WorkItem.objects.filter(pk=failed.pk).update(
        state=WorkState.FAILED, last_error="HTTP 503: upstream unavailable"
    )
    user = role_user("data_ops")
    log_in(browser, user.username, PASSWORD)
    browser.find_element(By.LINK_TEXT, "Partition grid").click()
    target = cell(browser, week.isoformat(), "OTC", "HHI")
    assert target.get_attribute("data-state") == "failed"
    assert "HTTP 503: upstream unavailable" in target.get_attribute("title")
    target.find_element(By.TAG_NAME, "a").click()
    WebDriverWait(browser, 10).until(expected_conditions.url_contains(f"/{failed.pk}/change/"))
    browser.find_element(By.CSS_SELECTOR, "button[name=retry]").click()
    message = browser.find_element(By.CSS_SELECTOR, ".messagelist .success").text
    assert message == f"Retried #{failed.pk}: it is PENDING again."
    assert WorkItem.objects.get(pk=failed.pk).state == WorkState.PENDING
    browser.get(browser.live_server_url + reverse("admin:finra_grid"))
    assert cell(browser, week.isoformat(), "OTC", "HHI").get_attribute("data-state") == "queued"


def test_data_ops_previews_and_confirms_a_backfill_and_lands_on_the_grid(browser):
    newest = newest_week()
    start, end = newest - timedelta(weeks=14), newest - timedelta(weeks=12)
    user = role_user("data_ops")
    log_in(browser, user.username, PASSWORD)
    browser.find_element(By.LINK_TEXT, "Backfill").click()
    form = browser.find_element(By.ID, "backfill-form")
    form.find_element(
        By.CSS_SELECTOR, f'select[name=pipeline] option[value="{DOMAIN}/ingest_week"]'
    ).click()
    for name, day in (("start", start), ("end", end)):
        field = form.find_element(By.NAME, name)
        browser.execute_script("arguments[0].value = arguments[1]", field, day.isoformat())
    form.find_element(By.CSS_SELECTOR, 'input[name=tiers][value="OTC"]').click()
    form.find_element(By.CSS_SELECTOR, "input[name=_preview]").click()
    WebDriverWait(browser, 10).until(expected_conditions.title_contains("Backfill preview"))
    created = browser.find_element(By.CSS_SELECTOR, 'td[data-outcome="created"]').text
    assert created == "3"
    assert WorkItem.objects.count() == 0
    browser.find_element(By.CSS_SELECTOR, "input[name=_confirm]").click()
    WebDriverWait(browser, 10).until(expected_conditions.url_contains("/admin/finra/grid/"))
    assert f"from={start.isoformat()}" in browser.current_url and "tier=OTC" in browser.current_url
    message = browser.find_element(By.CSS_SELECTOR, ".messagelist .success").text
    assert "3 of 3 partitions enqueued (3 created)" in message
    rows = browser.find_elements(By.CSS_SELECTOR, ".console-grid tbody tr")
    assert len(rows) == 3
    for row in rows:
        raw = row.find_element(By.CSS_SELECTOR, 'td[data-tier="OTC"][data-stage="RAW"]')
        assert raw.get_attribute("data-state") == "queued"
    assert WorkItem.objects.filter(pipeline="ingest_week", state=WorkState.PENDING).count() == 3
