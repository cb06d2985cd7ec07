"""``make screenshots``: every console page as each role, light and dark, for review."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.browser.conftest import SCREENSHOTS, log_in
from tests.console import PASSWORD, busy_queue, role_user
from workqueue.models import WorkItem
from workqueue.states import WorkState

# Serialized like every live-server test: a plain transactional teardown re-creates content
# types, and the next serialized test's restore would then insert them twice.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def pages() -> dict[str, str]:
    failed = WorkItem.objects.filter(state=WorkState.FAILED).order_by("id").first()
    complete = WorkItem.objects.filter(state=WorkState.COMPLETE).order_by("id").first()
    return {
        "dashboard": reverse("admin:index"),
        "work-items": reverse("admin:workqueue_workitem_changelist"),
        "failed-items": reverse("admin:workqueue_failedworkitem_changelist"),
        "failed-item": reverse("admin:workqueue_workitem_change", args=[failed.pk]),
        "complete-item": reverse("admin:workqueue_workitem_change", args=[complete.pk]),
        "running-items": reverse("admin:workqueue_runningworkitem_changelist"),
        "executions": reverse("admin:workqueue_execution_changelist"),
        "manifest": reverse("admin:workqueue_manifestentry_changelist"),
        "captures": reverse("admin:finra_capture_changelist"),
        "audit-events": reverse("admin:workqueue_auditevent_changelist"),
        "change-log": reverse("admin:admin_logentry_changelist"),
        "schedules": reverse("admin:django_q_schedule_changelist"),
        "section-operations": reverse("admin:section", args=["operations"]),
    }


@pytest.mark.parametrize("role", ["data_ops", "viewers", "auditors"])
def test_screenshot_every_page(request, browser, role):
    if not request.config.getoption("--screenshots"):
        pytest.skip("run with --screenshots (make screenshots)")
    busy_queue(4)
    user = role_user(role)
    log_in(browser, user.username, PASSWORD)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        browser.execute_cdp_cmd(
            "Emulation.setEmulatedMedia",
            {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
        )
        for name, url in pages().items():
            browser.get(browser.live_server_url + url)
            height = browser.execute_script("return document.body.scrollHeight")
            browser.set_window_size(1400, min(max(height, 800), 4000))
            browser.save_screenshot(str(SCREENSHOTS / f"{role}-{name}-{scheme}.png"))
