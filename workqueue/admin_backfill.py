"""The admin's backfill page: a range (or a list of partitions) previewed as a dry run, then
confirmed, through ``work_items_backfill`` like ``manage.py backfill`` and the API.

Two ways in, one flow (form, preview, confirm):

- the form: a pipeline from the registry, from and to dates, the pipeline's range options,
  reprocess mode, priority, desired_at;
- a selection POSTed by another page (a domain's partition grid): ``domain``, ``reprocess`` and
  ``selected`` values, each one or more lines ``<pipeline>:<partition key as JSON>``.

The preview runs the service with ``dry_run=True`` (same classification, same row locks, nothing
written); Confirm runs it for real and reports the counts. Bad input is shown on the page and
enqueues nothing. Only users with ``workqueue.operate_workitem`` may open it.

The page knows no domain: what a range option's values are (``option_choices``) and which page
shows a confirmed range (``range_pages``) are given by the site that wires it in.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from workqueue.admin_views import admin_actor, can_operate, record_refusal
from workqueue.backfill import (
    OUTCOME_LABELS,
    BackfillOutcome,
    BackfillResult,
    Reprocess,
    option_values,
    work_items_backfill,
)
from workqueue.exceptions import EnqueueError
from workqueue.fields import canonical_json
from workqueue.pipelines import Pipeline, registry

#: Partitions one backfill from the admin may name (a preview lists each of them).
MAX_PARTITIONS = 5000
#: Partitions a preview lists row by row; the counts always cover all of them.
PREVIEW_ROWS = 500

REPROCESS_CHOICES = [
    (Reprocess.NONE.value, "none: only partitions without an item"),
    (Reprocess.FAILED.value, "failed: also re-arm failed and cancelled items"),
    (Reprocess.ALL.value, "all: also run complete items again"),
]

#: The service's field names -> this form's
_FORM_FIELDS = {"from": "start", "to": "end", "domain": "pipeline"}

#: Makes the URL of the page that shows a confirmed range: (start, end, options) -> URL.
RangePage = Callable[[date, date, Mapping[str, Any]], str]


def range_pipelines() -> list[Pipeline]:
    """The registered pipelines that take a range, by domain and name."""
    return [p for p in registry.all() if p.expand_range is not None]


class BackfillForm(forms.Form):
    pipeline = forms.ChoiceField()
    start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To", widget=forms.DateInput(attrs={"type": "date"}))
    reprocess = forms.ChoiceField(choices=REPROCESS_CHOICES, initial=Reprocess.NONE.value)
    priority = forms.IntegerField(required=False, help_text="Higher runs first (default 100).")
    desired_at = forms.DateTimeField(
        required=False,
        label="Desired at (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Not before this moment; empty: now.",
    )

    def __init__(
        self, *args: Any, option_choices: Mapping[tuple[str, str], Sequence[str]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        pipelines = range_pipelines()
        by_domain: dict[str, list[tuple[str, str]]] = {}
        for p in pipelines:
            by_domain.setdefault(p.domain, []).append((f"{p.domain}/{p.name}", p.name))
        self.fields["pipeline"].choices = list(by_domain.items())
        self.option_names: list[str] = []
        for p in pipelines:
            for option in p.range_options:
                if option in self.option_names:
                    continue
                self.option_names.append(option)
                takers = [q.name for q in pipelines if option in q.range_options]
                help_text = f"Taken by {', '.join(takers)}."
                choices = next(
                    (c for (d, o), c in option_choices.items() if o == option),
                    None,
                )
                if choices is not None:
                    self.fields[option] = forms.MultipleChoiceField(
                        choices=[(c, c) for c in choices],
                        required=False,
                        widget=forms.CheckboxSelectMultiple,
                        help_text=f"{help_text} None ticked: every one.",
                    )
                else:
                    self.fields[option] = forms.CharField(
                        required=False, help_text=f"{help_text} Comma-separated; empty: every one."
                    )
        # The range options right after the range.
        order = ["pipeline", "start", "end", *self.option_names]
        self.order_fields(order)

    def options(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for option in self.option_names:
            value = self.cleaned_data.get(option)
            value = option_values(value)
            if value:
                found[option] = list(value)
        return found

    def domain_and_pipeline(self) -> tuple[str, str]:
        domain, _, name = self.cleaned_data["pipeline"].partition("/")
        return domain, name


@dataclass
class BackfillRequest:
    """One call of the service the page will make (a selection may need one per pipeline)."""

    domain: str
    pipeline: str
    partitions: list[dict[str, Any]] | None = None
    start: date | None = None
    end: date | None = None
    options: dict[str, Any] = field(default_factory=dict)


def parse_selection(domain: str, values: Sequence[str]) -> list[BackfillRequest]:
    """``selected`` values (lines ``pipeline:{json}``) grouped into one request per pipeline.

    Raises EnqueueError on a line that is not of that form; the service checks the rest.
    """
    requests: dict[str, BackfillRequest] = {}
    for value in values:
        for line in value.splitlines():
            if not line.strip():
                continue
            name, sep, text = line.strip().partition(":")
            try:
                key = json.loads(text) if sep else None
            except ValueError:
                key = None
            if not name or not isinstance(key, dict):
                raise EnqueueError(
                    f"a selected partition must read pipeline:{{json}}, not {line.strip()!r}",
                    fields={"selected": "bad partition"},
                )
            request = requests.setdefault(name, BackfillRequest(domain, name, partitions=[]))
            assert request.partitions is not None
            if key not in request.partitions:
                request.partitions.append(key)
    if not requests:
        raise EnqueueError("no partition selected", fields={"selected": "required"})
    return list(requests.values())


def _refused_target(request: HttpRequest) -> dict[str, Any]:
    """What a refused backfill asked for, from its form fields (text, kept short)."""
    return {
        name: request.POST[name][:200]
        for name in ("pipeline", "start", "end", "reprocess", "domain")
        if request.POST.get(name)
    } | {"selected": len(request.POST.getlist("selected"))}


@dataclass
class BackfillPage:
    option_choices: Mapping[tuple[str, str], Sequence[str]] = field(default_factory=dict)
    range_pages: Mapping[str, RangePage] = field(default_factory=dict)

    def view(self, request: HttpRequest, *, site: AdminSite) -> HttpResponse:
        if not can_operate(request):
            if request.method == "POST":
                record_refusal(request, action="backfill", target=_refused_target(request))
            raise PermissionDenied
        if request.method == "POST" and request.POST.getlist("selected"):
            return self._selection(request, site)
        form = self._form(request)
        if request.method != "POST" or "_edit" in request.POST or not form.is_valid():
            return self._render(request, site, form=form)
        domain, name = form.domain_and_pipeline()
        calls = [
            BackfillRequest(
                domain,
                name,
                start=form.cleaned_data["start"],
                end=form.cleaned_data["end"],
                options=form.options(),
            )
        ]
        confirm = "_confirm" in request.POST
        try:
            results = self._run(request, calls, form.cleaned_data, confirm=confirm)
        except EnqueueError as exc:
            for name_, text in exc.fields.items():
                target = _FORM_FIELDS.get(name_, name_)
                form.add_error(target if target in form.fields else None, f"{text}")
            form.add_error(None, exc.message)
            return self._render(request, site, form=form)
        if confirm:
            self._report(request, results)
            page = self.range_pages.get(domain)
            if page is not None:
                return HttpResponseRedirect(page(calls[0].start, calls[0].end, calls[0].options))
            return HttpResponseRedirect(reverse("admin:workqueue_backfill"))
        return self._render(request, site, form=form, results=results)

    # --- steps ----------------------------------------------------------------------------

    def _form(self, request: HttpRequest) -> BackfillForm:
        if request.method == "POST":
            return BackfillForm(request.POST, option_choices=self.option_choices)
        initial: dict[str, Any] = {
            name: values if len(values) > 1 else values[0] for name, values in request.GET.lists()
        }
        return BackfillForm(initial=initial, option_choices=self.option_choices)

    def _selection(self, request: HttpRequest, site: AdminSite) -> HttpResponse:
        domain = request.POST.get("domain", "")
        reprocess = request.POST.get("reprocess", Reprocess.NONE.value)
        confirm = "_confirm" in request.POST
        try:
            calls = parse_selection(domain, request.POST.getlist("selected"))
            results = self._run(request, calls, {"reprocess": reprocess}, confirm=confirm)
        except EnqueueError as exc:
            messages.error(request, f"Nothing was enqueued: {exc.message}")
            return HttpResponseRedirect(self._next(request))
        if confirm:
            self._report(request, results)
            return HttpResponseRedirect(self._next(request))
        return self._render(request, site, results=results, selection=True)

    def _run(
        self,
        request: HttpRequest,
        calls: list[BackfillRequest],
        data: Mapping[str, Any],
        *,
        confirm: bool,
    ) -> list[BackfillResult]:
        total = 0
        results = []
        # One transaction for every pipeline of a selection: all of it is enqueued, or none.
        with transaction.atomic():
            for call in calls:
                result = work_items_backfill(
                    domain=call.domain,
                    pipeline=call.pipeline,
                    actor=admin_actor(request),
                    partitions=call.partitions,
                    start=call.start,
                    end=call.end,
                    options=call.options or None,
                    reprocess=data.get("reprocess") or Reprocess.NONE.value,
                    priority=data.get("priority"),
                    desired_at=data.get("desired_at"),
                    dry_run=not confirm,
                    max_items=MAX_PARTITIONS - total,
                )
                total += result.total
                results.append(result)
        return results

    def _report(self, request: HttpRequest, results: list[BackfillResult]) -> None:
        for result in results:
            counts = ", ".join(
                f"{n} {OUTCOME_LABELS[BackfillOutcome(outcome)]}"
                for outcome, n in result.counts.items()
                if n
            )
            messages.success(
                request,
                f"Backfill of {result.domain}/{result.pipeline}: {result.enqueued} of "
                f"{result.total} partitions enqueued ({counts}).",
            )

    def _next(self, request: HttpRequest) -> str:
        target = request.POST.get("next", "")
        if url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return target
        return reverse("admin:workqueue_backfill")

    def _render(
        self,
        request: HttpRequest,
        site: AdminSite,
        *,
        form: BackfillForm | None = None,
        results: list[BackfillResult] | None = None,
        selection: bool = False,
    ) -> TemplateResponse:
        carried = [
            (name, value)
            for name, values in request.POST.lists()
            if name not in ("csrfmiddlewaretoken", "_preview", "_confirm")
            for value in values
        ]
        previews = [
            {
                "result": result,
                "counts": [
                    (outcome, OUTCOME_LABELS[BackfillOutcome(outcome)], n)
                    for outcome, n in result.counts.items()
                ],
                "rows": [
                    {
                        "key": canonical_json(row.partition_key),
                        "outcome": row.outcome.value,
                        "item_id": row.item_id,
                        "state": row.state,
                        "reason": row.reason,
                    }
                    for row in result.partitions[:PREVIEW_ROWS]
                ],
                "more": max(result.total - PREVIEW_ROWS, 0),
            }
            for result in results or []
        ]
        context = {
            **site.each_context(request),
            "title": "Backfill preview" if results else "Backfill",
            "subtitle": None,
            "form": form,
            "previews": previews,
            "enqueued": sum(r.enqueued for r in results or []),
            "carried": [] if form is not None and not results else carried,
            "selection": selection,
            "next": self._next(request) if selection else "",
        }
        request.current_app = site.name
        return TemplateResponse(request, "admin/workqueue/backfill.html", context)
