"""The admin site: the operations console data-ops staff work in.

The index is the operations dashboard, built from panels that each app provides; the sidebar
groups the registered models by what staff do with them rather than by app. Both lists below
are the extension points: a new page is added to a section, a new dashboard panel to
``DASHBOARD_PANELS``. Pages that are not a model's list (the partition grid, the backfill form,
the FINRA weeks) are declared in ``PAGES`` with their URL and who may see them, and are named in
a section like a model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.contrib import admin
from django.http import Http404, HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from finra import admin_views as finra_views
from finra.models import DOMAIN as FINRA_DOMAIN
from finra.tiers import TIERS
from workqueue import admin_views as workqueue_views
from workqueue.admin_backfill import BackfillPage


@dataclass(frozen=True)
class Section:
    slug: str
    name: str
    #: "app_label.model_name" of the pages it holds, in display order
    models: tuple[str, ...]
    #: the dashboard heads the Operations section
    with_dashboard: bool = False


SECTIONS = (
    Section(
        "operations",
        "Operations",
        (
            "finra.grid",
            "workqueue.backfill",
            "workqueue.workitem",
            "workqueue.failedworkitem",
            "workqueue.runningworkitem",
            "workqueue.execution",
            "finra.schedulerrun",
            "django_q.schedule",
        ),
        with_dashboard=True,
    ),
    Section("data", "Data", ("finra.weeks", "finra.capture", "workqueue.manifestentry")),
    Section("audit", "Audit", ("workqueue.auditevent", "admin.logentry")),
    Section(
        "administration",
        "Administration",
        ("auth.user", "auth.group", "workqueue.apitoken", "axes.accessattempt"),
    ),
    # django-q2's raw task records: for superusers who debug the task engine itself.
    Section(
        "task-engine", "Task engine", ("django_q.success", "django_q.failure", "django_q.ormq")
    ),
)
#: Pages only superusers may open, whatever permissions a group grants.
SUPERUSER_ONLY = frozenset({"django_q.success", "django_q.failure", "django_q.ormq"})

#: Dashboard panels, in page order: each takes the request and returns the template to include
#: and its context, or None when the user may not see it.
DashboardPanel = Callable[[HttpRequest], "tuple[str, dict[str, Any]] | None"]
DASHBOARD_PANELS: tuple[DashboardPanel, ...] = (
    workqueue_views.queue_health_panel,
    finra_views.lookback_panel,
    workqueue_views.latest_failures_panel,
    finra_views.scheduler_runs_panel,
    workqueue_views.throughput_panel,
    workqueue_views.durations_panel,
)


#: The backfill form's domain knowledge: the values of a range option, and the page that shows
#: a confirmed range.
BACKFILL = BackfillPage(
    option_choices={(FINRA_DOMAIN, "tiers"): TIERS},
    range_pages={FINRA_DOMAIN: finra_views.grid_range_url},
)


@dataclass(frozen=True)
class Page:
    """A console page that is not a model's list: its sidebar entry and its URLs."""

    label: str
    name: str
    #: the URL name (under ``admin:``) of the sidebar link
    url_name: str
    allowed: Callable[[HttpRequest], bool]
    #: (route, view taking ``site``, URL name), the first one being the sidebar link's
    urls: tuple[tuple[str, Callable[..., Any], str], ...]


PAGES = (
    Page(
        "finra.grid",
        "Partition grid",
        "finra_grid",
        finra_views.may_read,
        (("finra/grid/", finra_views.grid_view, "finra_grid"),),
    ),
    Page(
        "workqueue.backfill",
        "Backfill",
        "workqueue_backfill",
        workqueue_views.can_operate,
        (("workqueue/backfill/", BACKFILL.view, "workqueue_backfill"),),
    ),
    Page(
        "finra.weeks",
        "FINRA weeks",
        "finra_weeks",
        finra_views.may_read,
        (
            ("finra/weeks/", finra_views.weeks_view, "finra_weeks"),
            (
                "finra/weeks/<str:week_ending>/<str:tier>/",
                finra_views.week_view,
                "finra_week",
            ),
            ("finra/symbols/<path:symbol>/", finra_views.symbol_view, "finra_symbol"),
        ),
    ),
)


class SuperuserOnlyMixin:
    """Hides a registered page from everyone but superusers."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser


def _label(model: Any) -> str:
    return f"{model._meta.app_label}.{model._meta.model_name}"


class MarketSpineAdminSite(admin.AdminSite):
    site_header = "Market Spine"
    site_title = "Market Spine"
    index_title = "Operations dashboard"
    index_template = "admin/marketspine/dashboard.html"

    def register(self, model_or_iterable: Any, admin_class: Any = None, **options: Any) -> None:
        models = (
            model_or_iterable
            if isinstance(model_or_iterable, list | tuple)
            else [model_or_iterable]
        )
        for model in models:
            cls = admin_class or admin.ModelAdmin
            if _label(model) in SUPERUSER_ONLY:
                cls = type(cls.__name__, (SuperuserOnlyMixin, cls), {})
            super().register(model, cls, **options)

    def get_urls(self) -> list[URLPattern]:
        sections = [
            path(
                "section/<slug:slug>/",
                self.admin_view(self.section_index),
                name="section",
            )
        ]
        pages = [
            path(route, self.admin_view(partial(view, site=self)), name=name)
            for page in PAGES
            for route, view, name in page.urls
        ]
        return sections + pages + super().get_urls()

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict]:
        """The sidebar and index: sections of the pages this user may see.

        An app's own index (``app_label`` given) keeps Django's per-app list. A registered page
        that no section names is shown under "Other", so nothing registered is ever hidden.
        """
        if app_label is not None:
            return super().get_app_list(request, app_label)
        by_label: dict[str, dict] = {}
        for app in self._build_app_dict(request).values():
            for model in app["models"]:
                by_label[_label(model["model"])] = model
        for page in PAGES:
            if request.user.is_active and request.user.is_staff and page.allowed(request):
                by_label[page.label] = self._page_entry(page)
        groups = []
        for section in SECTIONS:
            models = [by_label.pop(label) for label in section.models if label in by_label]
            if section.with_dashboard:
                models.insert(0, self._dashboard_entry())
            if models:
                groups.append(self._group(section.slug, section.name, models))
        if by_label:
            leftovers = sorted(by_label.values(), key=lambda m: m["name"])
            groups.append(self._group("other", "Other", leftovers))
        return groups

    def _dashboard_entry(self) -> dict[str, Any]:
        return {
            "name": "Dashboard",
            "object_name": "Dashboard",
            "perms": {"view": True},
            "admin_url": reverse("admin:index", current_app=self.name),
            "add_url": None,
            "view_only": True,
            "is_index": True,
        }

    def _page_entry(self, page: Page) -> dict[str, Any]:
        return {
            "name": page.name,
            "object_name": page.label.replace(".", "_"),
            "perms": {"view": True},
            "admin_url": reverse(f"admin:{page.url_name}", current_app=self.name),
            "add_url": None,
            "view_only": True,
        }

    def _group(self, slug: str, name: str, models: list[dict]) -> dict[str, Any]:
        return {
            "name": name,
            "app_label": slug,
            "app_url": reverse("admin:section", kwargs={"slug": slug}, current_app=self.name),
            "has_module_perms": True,
            "models": models,
        }

    def section_index(self, request: HttpRequest, slug: str) -> TemplateResponse:
        groups = [g for g in self.get_app_list(request) if g["app_label"] == slug]
        if not groups:
            raise Http404("The requested admin page does not exist.")
        context = {
            **self.each_context(request),
            "title": groups[0]["name"],
            "subtitle": None,
            "app_list": groups,
            "app_label": slug,
        }
        request.current_app = self.name
        return TemplateResponse(request, "admin/app_index.html", context)

    def index(self, request: HttpRequest, extra_context: dict | None = None) -> TemplateResponse:
        panels = [panel for panel in (build(request) for build in DASHBOARD_PANELS) if panel]
        return super().index(request, {"panels": panels, **(extra_context or {})})
