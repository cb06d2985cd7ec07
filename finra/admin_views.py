"""FINRA pages of the operations console: the partition grid, the weeks, a week, a symbol; and
the dashboard's lookback and scheduler panels. Read-only: the grid's backfill goes to the
work queue's backfill page (``workqueue.admin_backfill``), which does the writing.

The site wires these in (``marketspine.admin``): each view takes the admin site, so the pages
get the admin's context (sidebar, dark mode, permissions) from ``site.each_context``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse

from finra import console
from finra.models import DOMAIN
from finra.tiers import TIERS, UnknownTierError, canonical_tier
from finra.weeks import InvalidWeekEnding, parse_week_ending
from workqueue import dashboard
from workqueue.admin_backfill import REPROCESS_CHOICES
from workqueue.admin_views import can_operate

GRID_WEEKS_PER_PAGE = 26
INDEX_WEEKS_PER_PAGE = 52


def may_read(request: HttpRequest) -> bool:
    """The FINRA pages read the capture register and the queue: every console role may."""
    user = request.user
    return user.has_perm("finra.view_capture") and user.has_perm("workqueue.view_workitem")


def _require_read(request: HttpRequest) -> None:
    if not may_read(request):
        raise PermissionDenied


def _render(
    request: HttpRequest, site: AdminSite, template: str, title: str, **context: Any
) -> TemplateResponse:
    request.current_app = site.name
    return TemplateResponse(
        request,
        template,
        {**site.each_context(request), "title": title, "subtitle": None, **context},
    )


def _date(request: HttpRequest, name: str) -> date | None:
    text = request.GET.get(name, "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        messages.error(request, f"{name} {text!r} is not a date (YYYY-MM-DD): ignored.")
        return None


def grid_url(*, start: date | None = None, end: date | None = None, tier: str = "") -> str:
    query = {
        k: v
        for k, v in (
            ("from", start.isoformat() if start else ""),
            ("to", end.isoformat() if end else ""),
            ("tier", tier),
        )
        if v
    }
    url = reverse("admin:finra_grid")
    return f"{url}?{urlencode(query)}" if query else url


def grid_range_url(start: date, end: date, options: Mapping[str, Any]) -> str:
    """The grid for a backfilled range (one tier's column when the range named one tier)."""
    tiers = list(options.get("tiers") or [])
    tier = ""
    if len(tiers) == 1:
        try:
            tier = canonical_tier(tiers[0])
        except UnknownTierError:
            tier = ""
    return grid_url(start=start, end=end, tier=tier)


# --- the partition grid -----------------------------------------------------------------------


def grid_view(request: HttpRequest, *, site: AdminSite) -> TemplateResponse:
    _require_read(request)
    start, end = _date(request, "from"), _date(request, "to")
    tier = request.GET.get("tier", "")
    if tier and tier not in TIERS:
        messages.error(request, f"unknown tier {tier!r}: showing every tier.")
        tier = ""
    tiers = (tier,) if tier else TIERS
    weeks = console.grid_weeks(start=start, end=end)
    page = Paginator(weeks, GRID_WEEKS_PER_PAGE).get_page(request.GET.get("page"))
    rows = console.grid_rows(list(page.object_list), tiers=tiers)
    filters = {k: v for k, v in request.GET.items() if k in ("from", "to", "tier") and v}
    return _render(
        request,
        site,
        "admin/finra/grid.html",
        "Partition grid",
        rows=rows,
        tiers=tiers,
        tier=tier,
        all_tiers=TIERS,
        tier_stages=console.TIER_STAGES,
        week_stages=console.WEEK_STAGES,
        stage_headers=[(console.STAGE_SHORT[s.stage], s.description) for s in console.TIER_STAGES],
        week_headers=[(console.STAGE_SHORT[s.stage], s.description) for s in console.WEEK_STAGES],
        legend=list(console.CELL_LABELS.items()),
        page=page,
        start=weeks[-1] if weeks else None,
        end=weeks[0] if weeks else None,
        filters=urlencode(filters),
        can_operate=can_operate(request),
        reprocess_choices=REPROCESS_CHOICES,
        domain=DOMAIN,
        here=request.get_full_path(),
        item_base=reverse("admin:workqueue_workitem_changelist"),
        capture_base=reverse("admin:finra_capture_changelist"),
    )


# --- weeks ------------------------------------------------------------------------------------


def weeks_view(request: HttpRequest, *, site: AdminSite) -> TemplateResponse:
    _require_read(request)
    page = Paginator(console.week_index(), INDEX_WEEKS_PER_PAGE).get_page(request.GET.get("page"))
    return _render(
        request, site, "admin/finra/weeks.html", "FINRA weeks", page=page, all_tiers=TIERS
    )


CHART_WIDTH = 600
BAR_HEIGHT, BAR_GAP = 18, 4
HISTOGRAM_HEIGHT = 120


def _csv(name: str, **query: str) -> str:
    return f"{reverse(f'finra-api:{name}')}?{urlencode({**query, 'format': 'csv'})}"


def week_view(
    request: HttpRequest, week_ending: str, tier: str, *, site: AdminSite
) -> TemplateResponse:
    _require_read(request)
    try:
        week = parse_week_ending(week_ending)
        tier = canonical_tier(tier)
    except (InvalidWeekEnding, UnknownTierError) as exc:
        raise Http404(str(exc)) from None
    data = console.week_page(week_ending=week, tier=tier)
    top = data.venue_shares[:10]
    peak = max((row.share for row in top), default=0.0) or 1.0
    venue_bars = [
        {
            "row": row,
            "y": n * (BAR_HEIGHT + BAR_GAP),
            "width": round(CHART_WIDTH * row.share / peak, 2),
            "percent": round(row.share * 100, 2),
        }
        for n, row in enumerate(top)
    ]
    labels = [
        f"{n / console.HHI_BUCKETS:.1f}-{(n + 1) / console.HHI_BUCKETS:.1f}"
        for n in range(console.HHI_BUCKETS)
    ]
    histogram = dashboard.bars(
        list(zip(labels, data.hhi_buckets, strict=True)),
        width=CHART_WIDTH,
        height=HISTOGRAM_HEIGHT,
        gap=4,
    )
    key = {"week_ending": week.isoformat(), "tier": tier}
    return _render(
        request,
        site,
        "admin/finra/week.html",
        f"Week ending {week.isoformat()}, {tier}",
        data=data,
        week=week,
        tier=tier,
        all_tiers=TIERS,
        venue_bars=venue_bars,
        venue_chart_height=len(venue_bars) * (BAR_HEIGHT + BAR_GAP),
        bar_height=BAR_HEIGHT,
        chart_width=CHART_WIDTH,
        histogram=histogram,
        histogram_height=HISTOGRAM_HEIGHT,
        symbols_in_histogram=sum(data.hhi_buckets),
        grid=grid_url(start=week, end=week),
        downloads=[
            ("Venue shares", _csv("venue-share", **key)),
            ("Symbol HHI", _csv("hhi", **key)),
            ("Tier HHI", _csv("tier-hhi", **key)),
            ("Venue volume", _csv("venue-volume", **key)),
            ("Symbol venue shares", _csv("symbol-venue-share", **key)),
            ("Tier split", _csv("tier-split", week_ending=week.isoformat())),
            ("Rejects", _csv("rejects", **key)),
        ],
    )


LINE_WIDTH, LINE_HEIGHT = 600, 140


def symbol_view(request: HttpRequest, symbol: str, *, site: AdminSite) -> TemplateResponse:
    _require_read(request)
    try:
        tier = canonical_tier(request.GET.get("tier") or TIERS[0])
    except UnknownTierError as exc:
        raise Http404(str(exc)) from None
    history = console.symbol_history(symbol=symbol, tier=tier)
    labels = [week.isoformat() for week in history.weeks]
    hhi_points = dashboard.line_points(
        [
            (label, history.hhi[w][0] if w in history.hhi else None)
            for label, w in zip(labels, history.weeks, strict=True)
        ],
        width=LINE_WIDTH,
        height=LINE_HEIGHT,
        peak=1.0,
    )
    peak_share = max(
        (share for by_week in history.venue_shares.values() for share in by_week.values()),
        default=0.0,
    )
    venue_lines = []
    for n, (venue, by_week) in enumerate(history.venue_shares.items()):
        points = dashboard.line_points(
            [(label, by_week.get(w)) for label, w in zip(labels, history.weeks, strict=True)],
            width=LINE_WIDTH,
            height=LINE_HEIGHT,
            peak=peak_share or 1.0,
        )
        venue_lines.append(
            {
                "venue": venue,
                "series": n % 5,
                "points": points,
                "polyline": dashboard.polyline(points),
            }
        )
    return _render(
        request,
        site,
        "admin/finra/symbol.html",
        f"{symbol} in {tier}",
        symbol=symbol,
        tier=tier,
        all_tiers=TIERS,
        history=history,
        hhi_points=hhi_points,
        hhi_polyline=dashboard.polyline(hhi_points),
        hhi_rows=[(w, history.hhi.get(w)) for w in reversed(history.weeks)],
        venue_lines=venue_lines,
        peak_share_percent=round(peak_share * 100, 1),
        width=LINE_WIDTH,
        height=LINE_HEIGHT,
        first_week=history.weeks[0] if history.weeks else None,
        last_week=history.weeks[-1] if history.weeks else None,
    )


# --- dashboard panels -------------------------------------------------------------------------


def lookback_panel(request: HttpRequest) -> tuple[str, dict[str, Any]] | None:
    if not may_read(request):
        return None
    weeks = console.lookback_summary(weeks=6)
    return "admin/finra/panels/lookback.html", {
        "weeks": weeks,
        "columns": [*TIERS, "Tier split"],
        "summaries": list(console.SUMMARY_LABELS.items()),
        "grid": grid_url(
            start=weeks[-1].week_ending if weeks else None,
            end=weeks[0].week_ending if weeks else None,
        ),
        "grid_base": reverse("admin:finra_grid"),
    }


def scheduler_runs_panel(request: HttpRequest) -> tuple[str, dict[str, Any]] | None:
    if not may_read(request):
        return None
    try:
        changelist = reverse("admin:finra_schedulerrun_changelist")
    except NoReverseMatch:  # the scheduler runs' admin page is not registered
        changelist = ""
    return "admin/finra/panels/scheduler_runs.html", {
        "runs": console.latest_scheduler_runs(limit=5),
        "changelist": changelist,
    }
