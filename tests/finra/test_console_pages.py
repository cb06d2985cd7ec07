"""The FINRA pages of the console: the partition grid, the backfill page, the lookback and
scheduler panels, the weeks, a week and a symbol, for each role."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from finra.models import DOMAIN, SchedulerRun
from tests.console import ROLES, WEEK_VENUES, finra_history, finra_week_data, role_user
from workqueue.models import AuditEvent, ManifestEntry, WorkItem
from workqueue.states import WorkState

pytestmark = pytest.mark.django_db

NOW = "2026-03-02 12:00:00Z"  # a Monday: the last completed week ends 2026-02-27
JAN = [date(2026, 1, 2) + timedelta(weeks=n) for n in range(5)]  # 2026-01-02 .. 2026-01-30
EMPTY_WEEK = date(2026, 2, 6)  # NMS Tier 1 due 2026-02-23 (overdue), the others 2026-03-09


def login(client, role: str):
    user = role_user(role)
    client.force_login(user)
    return user


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def row_of(html: str, week: date) -> str:
    return html.split(f'<tr data-week="{week.isoformat()}">')[1].split("</tr>")[0]


def cell_states(row: str) -> dict[tuple[str, str], str]:
    return {
        (tier, stage): state
        for stage, tier, state in re.findall(
            r'data-stage="(\w+)" data-tier="(\w+)" data-state="(\w+)"', row
        )
    }


def set_state(item: WorkItem, state: str, **changes) -> None:
    WorkItem.objects.filter(pk=item.pk).update(state=state, **changes)


@pytest.fixture
def history(time_machine):
    """Five complete January weeks, then a known mix of states in the last of them."""
    time_machine.move_to(NOW, tick=False)
    items = finra_history(JAN)
    last = JAN[-1].isoformat()
    set_state(items[(last, "NMS_TIER_1", "HHI")], WorkState.FAILED, last_error="HTTP 503: boom")
    set_state(items[(last, "OTC", "VENUE_SHARE")], WorkState.RUNNING)
    set_state(
        items[(last, "NMS_TIER_2", "NORMALIZED")],
        WorkState.RETRY_WAIT,
        waiting_for="RAW of NMS_TIER_2",
    )
    set_state(items[(last, "OTC", "HHI")], WorkState.RETRY_WAIT, last_error="timeout")
    set_state(items[(last, "ALL", "TIER_SPLIT")], WorkState.PENDING)
    cancelled = items[(last, "NMS_TIER_1", "VENUE_VOLUME")]
    set_state(cancelled, WorkState.CANCELLED)
    ManifestEntry.objects.filter(
        partition_key=cancelled.partition_key, stage="VENUE_VOLUME"
    ).delete()
    return items


# --- the grid -----------------------------------------------------------------------------------


def test_grid_cells_show_each_state_of_a_known_history(client, history):
    login(client, "viewers")
    html = page(client, reverse("admin:finra_grid"))
    states = cell_states(row_of(html, JAN[-1]))
    assert states[("NMS_TIER_1", "HHI")] == "failed"
    assert states[("OTC", "VENUE_SHARE")] == "running"
    assert states[("NMS_TIER_2", "NORMALIZED")] == "waiting_upstream"
    assert states[("OTC", "HHI")] == "retry_wait"
    assert states[("ALL", "TIER_SPLIT")] == "queued"
    assert states[("NMS_TIER_1", "VENUE_VOLUME")] == "cancelled"
    assert states[("NMS_TIER_1", "RAW")] == "complete"
    assert len(states) == 16  # 3 tiers x 5 stages, and the tier split once
    assert set(cell_states(row_of(html, JAN[0])).values()) == {"complete"}
    # Nothing ran for this week: Tier 1 is due (overdue), Tier 2 and OTC are not yet.
    empty = cell_states(row_of(html, EMPTY_WEEK))
    assert {empty[("NMS_TIER_1", s)] for s in ("RAW", "HHI")} == {"overdue"}
    assert {empty[("OTC", s)] for s in ("RAW", "HHI")} == {"not_yet_due"}
    assert empty[("ALL", "TIER_SPLIT")] == "not_yet_due"
    # A missing cell says what would fill it, in the gap report's words.
    assert "RAW NMS_TIER_1 2026-02-06: missing and overdue: enqueue ingest_week" in html
    # The last error on hover, and the link to the item.
    failed = history[(JAN[-1].isoformat(), "NMS_TIER_1", "HHI")]
    assert "HHI NMS_TIER_1 2026-01-30: failed: HTTP 503: boom" in html
    assert f'href="/admin/workqueue/workitem/{failed.pk}/change/"' in html
    # Newest week first, and a legend naming every state.
    weeks = re.findall(r'<tr data-week="([\d-]+)">', html)
    assert weeks == sorted(weeks, reverse=True) and weeks[0] == "2026-02-27"
    for label in ("waiting for upstream", "missing and overdue", "not yet due", "retry wait"):
        assert label in html


def test_grid_filters_by_week_range_and_tier_and_pages_by_26(client, history):
    login(client, "viewers")
    html = page(client, reverse("admin:finra_grid") + "?from=2026-01-09&to=2026-01-23&tier=OTC")
    assert re.findall(r'<tr data-week="([\d-]+)">', html) == [
        "2026-01-23",
        "2026-01-16",
        "2026-01-09",
    ]
    assert set(t for t, _ in cell_states(html)) == {"OTC", "ALL"}
    html = page(client, reverse("admin:finra_grid") + "?from=2025-01-03&to=2026-02-27")
    assert len(re.findall(r'<tr data-week="', html)) == 26
    assert "page 1 of 3" in html
    html = page(client, reverse("admin:finra_grid") + "?from=2025-01-03&to=2026-02-27&page=3")
    assert re.findall(r'<tr data-week="([\d-]+)">', html)[-1] == "2025-01-03"


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_the_grid_and_only_operators_get_the_backfill_form(client, history, role):
    login(client, role)
    html = page(client, reverse("admin:finra_grid"))
    has_form = 'name="selected"' in html and "Preview backfill" in html
    assert has_form == (role == "data_ops")


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_grid_queries_do_not_grow_with_the_weeks_shown(client, time_machine):
    time_machine.move_to(NOW, tick=False)
    login(client, "data_ops")
    finra_history(JAN[:2])
    url = reverse("admin:finra_grid") + "?from=2026-01-02&to=2026-01-09"
    client.get(url)
    few = count_queries(client, url)
    finra_history([date(2025, 6, 6) + timedelta(weeks=n) for n in range(26)])
    many = count_queries(client, reverse("admin:finra_grid") + "?from=2025-06-06&to=2026-01-09")
    assert many == few <= 20


# --- the dashboard panels -----------------------------------------------------------------------


def test_dashboard_counts_the_lookback_weeks_by_tier(client, time_machine):
    time_machine.move_to(NOW, tick=False)
    # The lookback: 2026-01-23 .. 2026-02-27. Two weeks complete, one failed stage.
    items = finra_history([date(2026, 1, 23), date(2026, 1, 30)])
    set_state(items[("2026-01-30", "OTC", "HHI")], WorkState.FAILED)
    login(client, "viewers")
    html = page(client, reverse("admin:index"))
    panel = html.split('id="finra-lookback"')[1].split("</section>")[0]
    week = row_of(panel, date(2026, 1, 30))
    otc = week.split('data-tier="OTC">')[1].split("</td>")[0]
    assert 'data-summary="complete" data-n="4"' in otc
    assert 'data-summary="failed" data-n="1"' in otc
    assert 'data-summary="complete" data-n="5"' in week.split('data-tier="NMS_TIER_1">')[1]
    # 2026-02-06: Tier 1 due and missing, the others not yet due.
    empty = row_of(panel, date(2026, 2, 6))
    assert 'data-summary="overdue" data-n="5"' in empty.split('data-tier="NMS_TIER_1">')[1]
    assert 'data-summary="not_yet_due" data-n="5"' in empty.split('data-tier="OTC">')[1]
    assert 'data-summary="not_yet_due" data-n="1"' in empty.split('data-tier="ALL">')[1]
    assert re.findall(r'<tr data-week="([\d-]+)">', panel) == [
        "2026-02-27",
        "2026-02-20",
        "2026-02-13",
        "2026-02-06",
        "2026-01-30",
        "2026-01-23",
    ]
    assert reverse("admin:finra_grid") + "?from=2026-01-23&amp;to=2026-02-27" in panel


def test_dashboard_lists_the_latest_scheduler_runs(client):
    now = timezone.now()
    for n, status in enumerate(["success", "partial", "critical"]):
        SchedulerRun.objects.create(
            started_at=now - timedelta(days=7 * (3 - n)),
            finished_at=now - timedelta(days=7 * (3 - n)) + timedelta(seconds=42),
            status=status,
            exit_code=n,
            counts={"ingested": 3 - n, "failed": n},
        )
    login(client, "viewers")
    html = page(client, reverse("admin:index"))
    panel = html.split('id="scheduler-runs"')[1].split("</section>")[0]
    assert re.findall(r'data-status="(\w+)"', panel) == ["critical", "partial", "success"]
    assert 'data-action="ingested" data-count="1"' in panel
    assert 'data-action="failed" data-count="2"' in panel
    assert "42 s" in panel


# --- the backfill page --------------------------------------------------------------------------

BACKFILL = "/admin/workqueue/backfill/"


def range_form(**changes) -> dict:
    return {
        "pipeline": f"{DOMAIN}/ingest_week",
        "start": "2026-01-01",
        "end": "2026-01-31",
        "tiers": ["OTC"],
        "reprocess": "none",
        "priority": "",
        "desired_at": "",
        **changes,
    }


def test_backfill_preview_enqueues_nothing_and_confirm_enqueues_and_lands_on_the_grid(client):
    login(client, "data_ops")
    html = page(client, BACKFILL)
    assert f'value="{DOMAIN}/ingest_week"' in html and 'value="NMS_TIER_1"' in html
    response = client.post(BACKFILL, {**range_form(), "_preview": "Preview"})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-outcome="created">5<' in html
    assert '{"tier":"OTC","week_ending":"2026-01-30"}' in unescape(html)
    assert WorkItem.objects.count() == 0
    assert not AuditEvent.objects.filter(action="backfill").exists()
    # Confirm posts what the preview carried.
    carried = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', html))
    assert carried["start"] == "2026-01-01" and carried["tiers"] == "OTC"
    response = client.post(BACKFILL, {**range_form(), "_confirm": "Confirm"}, follow=True)
    assert response.redirect_chain[-1][0] == (
        reverse("admin:finra_grid") + "?from=2026-01-01&to=2026-01-31&tier=OTC"
    )
    html = response.content.decode()
    assert f"Backfill of {DOMAIN}/ingest_week: 5 of 5 partitions enqueued (5 created)." in html
    assert WorkItem.objects.filter(pipeline="ingest_week", state=WorkState.PENDING).count() == 5
    assert cell_states(row_of(html, date(2026, 1, 30)))[("OTC", "RAW")] == "queued"
    event = AuditEvent.objects.get(action="backfill")
    assert event.source == "admin" and event.details["counts"]["created"] == 5


def test_backfill_bad_input_is_a_form_error_and_enqueues_nothing(client):
    login(client, "data_ops")
    html = client.post(
        BACKFILL, {**range_form(start="2026-02-01", end="2026-01-01"), "_confirm": "1"}
    ).content.decode()
    assert "from 2026-02-01 is after to 2026-01-01" in html and "errornote" in html
    html = client.post(
        BACKFILL,
        {**range_form(pipeline=f"{DOMAIN}/compute_tier_split"), "_confirm": "1"},
    ).content.decode()
    assert "takes no range option tiers" in html
    html = client.post(BACKFILL, {**range_form(start="not a date"), "_confirm": "1"}).content
    assert b"Enter a valid date" in html
    assert WorkItem.objects.count() == 0
    assert not AuditEvent.objects.filter(action="backfill").exists()


def test_backfill_params_are_checked_by_the_form_and_given_to_every_item(client):
    login(client, "data_ops")
    typo = client.post(BACKFILL, {**range_form(params='{"file_pth": "x.psv"}'), "_confirm": "1"})
    html = unescape(typo.content.decode())
    assert "file_pth: unknown param (accepted: chain, file_path, file_url, force" in html
    assert 'class="form-row field-params errors"' in html
    duplicate = client.post(
        BACKFILL, {**range_form(params='{"source": "api", "source": "file"}'), "_confirm": "1"}
    )
    assert "duplicate key &quot;source&quot;" in duplicate.content.decode()
    assert WorkItem.objects.count() == 0

    preview = client.post(BACKFILL, {**range_form(params='{"source": "api"}'), "_preview": "1"})
    assert 'Params of every item: <code>{"source":"api"}</code>' in unescape(
        preview.content.decode()
    )
    client.post(BACKFILL, {**range_form(params='{"source": "api"}'), "_confirm": "1"})
    items = WorkItem.objects.filter(pipeline="ingest_week")
    assert [item.params for item in items] == [{"source": "api"}] * 5


@pytest.mark.parametrize("role", ["viewers", "auditors"])
def test_backfill_page_and_a_forged_post_are_refused_without_the_permission(client, role):
    login(client, role)
    assert client.get(BACKFILL).status_code == 403
    assert client.post(BACKFILL, {**range_form(), "_confirm": "1"}).status_code == 403
    selected = 'ingest_week:{"tier":"OTC","week_ending":"2026-01-02"}'
    response = client.post(BACKFILL, {"domain": DOMAIN, "selected": selected, "_confirm": "1"})
    assert response.status_code == 403
    assert WorkItem.objects.count() == 0


def test_backfill_of_grid_cells_and_rows_previews_then_rearms(client, history):
    login(client, "data_ops")
    html = page(client, reverse("admin:finra_grid") + "?from=2026-01-30&to=2026-01-30")
    row = row_of(html, JAN[-1])
    values = re.findall(r'name="selected" value="([^"]*)"', row)
    week_value, cells = values[0], values[1:]
    assert len(cells) == 16 and week_value.count("\n") == 15
    failed = history[(JAN[-1].isoformat(), "NMS_TIER_1", "HHI")]
    hhi = next(v for v in cells if v.startswith("compute_hhi:") and "NMS_TIER_1" in v)
    hhi = unescape(hhi)
    form = {"domain": DOMAIN, "reprocess": "failed", "selected": [hhi], "next": "/admin/"}
    html = client.post(BACKFILL, {**form, "_preview": "1"}).content.decode()
    assert 'data-outcome="rearmed">1<' in html
    assert WorkItem.objects.get(pk=failed.pk).state == WorkState.FAILED
    response = client.post(BACKFILL, {**form, "_confirm": "1"}, follow=True)
    assert response.redirect_chain[-1][0] == "/admin/"
    assert WorkItem.objects.get(pk=failed.pk).state == WorkState.PENDING
    # A whole row: one preview per pipeline, in one transaction.
    rows = {"domain": DOMAIN, "reprocess": "none", "selected": [unescape(week_value)]}
    html = client.post(BACKFILL, {**rows, "_preview": "1"}).content.decode()
    assert len(re.findall(r'class="console-panel backfill-preview"', html)) == 6
    assert "already complete" in html
    bad = client.post(BACKFILL, {**rows, "selected": "nonsense", "_confirm": "1"}, follow=True)
    assert "Nothing was enqueued: a selected partition must read" in bad.content.decode()


# --- weeks, a week, a symbol --------------------------------------------------------------------


@pytest.fixture
def week_data(time_machine):
    time_machine.move_to(NOW, tick=False)
    old = finra_week_data(
        JAN[-1], "OTC", captured_at=timezone.now() - timedelta(days=3), suffix="20260101"
    )
    new = finra_week_data(JAN[-1], "OTC")
    finra_week_data(JAN[-2], "OTC")
    return old, new


@pytest.mark.parametrize("role", ROLES)
def test_week_page_charts_the_numbers_of_the_latest_capture(client, week_data, role):
    old, new = week_data
    login(client, role)
    html = page(client, reverse("admin:finra_week", args=["2026-01-30", "OTC"]))
    for key, _, volume in WEEK_VENUES:
        assert f'data-venue="{key}" data-share="{volume / 1000:.6f}"' in html
    assert re.findall(r'data-bucket="([\d.-]+)" data-symbols="(\d+)"', html) == [
        ("0.0-0.1", "1"),
        ("0.1-0.2", "0"),
        ("0.2-0.3", "0"),
        ("0.3-0.4", "0"),
        ("0.4-0.5", "0"),
        ("0.5-0.6", "2"),
        ("0.6-0.7", "0"),
        ("0.7-0.8", "0"),
        ("0.8-0.9", "0"),
        ("0.9-1.0", "1"),
    ]
    most = html.split('class="console-hhi"')[1]
    assert re.findall(r'<tr data-symbol="(\w+)">', most) == ["AAA", "BBB", "CCC", "DDD"]
    assert 'data-tier-hhi="0.4600"' in html
    assert 'data-tier="NMS_TIER_1" data-volume="700"' in html
    # Both RAW captures, the newer one marked latest.
    assert f'data-capture="{new}" data-stage="RAW" data-latest="1"' in html
    assert f'data-capture="{old}" data-stage="RAW">' in html
    assert "2026010520260105" in html  # the source's sha256 (the fixture's stand-in)


def test_week_page_csv_links_download_through_the_data_api_with_the_session(client, week_data):
    login(client, "viewers")
    html = page(client, reverse("admin:finra_week", args=["2026-01-30", "OTC"]))
    links = dict(
        (label, url.replace("&amp;", "&"))
        for url, label in re.findall(r'<a class="csv-link" href="([^"]+)">([^<]+)</a>', html)
    )
    assert links["Venue shares"] == (
        "/api/v1/finra/venue-share?week_ending=2026-01-30&tier=OTC&format=csv"
    )
    response = client.get(links["Venue shares"])
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content) if response.streaming else response.content
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert [r["venue_key"] for r in rows] == ["V1", "V2", "V3"]
    for label in ("Symbol HHI", "Tier split", "Symbol venue shares"):
        assert client.get(links[label]).status_code == 200


def test_week_page_refuses_a_day_that_is_not_a_friday_and_an_unknown_tier(client, week_data):
    login(client, "viewers")
    assert client.get(reverse("admin:finra_week", args=["2026-01-29", "OTC"])).status_code == 404
    assert client.get(reverse("admin:finra_week", args=["2026-01-30", "T9"])).status_code == 404


def test_weeks_index_lists_the_weeks_with_captures(client, week_data):
    login(client, "auditors")
    html = page(client, reverse("admin:finra_weeks"))
    assert re.findall(r'<tr data-week="([\d-]+)">', html) == ["2026-01-30", "2026-01-23"]
    assert reverse("admin:finra_week", args=["2026-01-30", "OTC"]) in html


def test_symbol_page_draws_hhi_and_venue_shares_across_weeks(client, week_data):
    login(client, "viewers")
    html = page(client, reverse("admin:finra_symbol", args=["AAA"]) + "?tier=OTC")
    assert re.findall(r'data-week="([\d-]+)" data-hhi="([\d.]+)"', html) == [
        ("2026-01-23", "1.0000"),
        ("2026-01-30", "1.0000"),
    ]
    v1 = html.split('<g data-venue="V1">')[1].split("</g>")[0]
    assert re.findall(r'data-share="([\d.]+)"', v1) == ["0.6000", "0.6000"]
    assert "<polyline" in v1


def test_week_and_symbol_pages_run_the_same_queries_for_few_and_many_weeks(client, week_data):
    login(client, "viewers")
    urls = [
        reverse("admin:finra_week", args=["2026-01-30", "OTC"]),
        reverse("admin:finra_symbol", args=["AAA"]) + "?tier=OTC",
        reverse("admin:finra_weeks"),
    ]
    for url in urls:
        client.get(url)
    few = [count_queries(client, url) for url in urls]
    for n in range(3, 9):
        finra_week_data(JAN[0] - timedelta(weeks=n), "OTC")
    many = [count_queries(client, url) for url in urls]
    assert many == few
    assert max(many) <= 20
