"""``make screenshots``: every console page as each role, light and dark, for review."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from finra.console import newest_week
from finra.models import SchedulerRun
from tests.browser.conftest import SCREENSHOTS, log_in
from tests.console import PASSWORD, busy_queue, finra_history, finra_week_data, role_user
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
        "grid": reverse("admin:finra_grid"),
        "backfill": reverse("admin:workqueue_backfill"),
        "weeks": reverse("admin:finra_weeks"),
        "week": reverse("admin:finra_week", args=[WEEK.isoformat(), "OTC"]),
        "symbol": reverse("admin:finra_symbol", args=["AAA"]) + "?tier=OTC",
    }


WEEK = newest_week() - timedelta(weeks=6)


def finra_console_data() -> None:
    """Ten complete weeks with a failure, a retry wait and a running stage; week data; runs."""
    weeks = [WEEK - timedelta(weeks=n) for n in range(10)]
    items = finra_history(weeks)
    WorkItem.objects.filter(pk=items[(WEEK.isoformat(), "OTC", "HHI")].pk).update(
        state=WorkState.FAILED, last_error="HTTP 503: upstream unavailable"
    )
    WorkItem.objects.filter(pk=items[(WEEK.isoformat(), "NMS_TIER_2", "RAW")].pk).update(
        state=WorkState.RETRY_WAIT, last_error="timeout"
    )
    WorkItem.objects.filter(pk=items[(weeks[1].isoformat(), "OTC", "VENUE_SHARE")].pk).update(
        state=WorkState.RUNNING
    )
    for week in weeks[:4]:
        finra_week_data(week, "OTC")
    SchedulerRun.objects.create(
        started_at=timezone.now() - timedelta(hours=2),
        finished_at=timezone.now() - timedelta(hours=2) + timedelta(seconds=95),
        status="partial",
        exit_code=1,
        counts={"ingested": 2, "unchanged": 13, "failed": 1, "not_due": 2},
        message="1 of 18 partitions failed",
    )


@pytest.mark.parametrize("role", ["data_ops", "viewers", "auditors"])
def test_screenshot_every_page(request, browser, role):
    if not request.config.getoption("--screenshots"):
        pytest.skip("run with --screenshots (make screenshots)")
    busy_queue(4)
    finra_console_data()
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
