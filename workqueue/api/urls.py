from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularJSONAPIView

from workqueue.api import backfill, views

app_name = "api"

urlpatterns = [
    path("work/enqueue", views.WorkEnqueueView.as_view(), name="work-enqueue"),
    path("work/backfill", backfill.WorkBackfillView.as_view(), name="work-backfill"),
    path("work/pending", views.WorkPendingView.as_view(), name="work-pending"),
    path("work/items/<int:item_id>", views.WorkItemDetailView.as_view(), name="work-item"),
    path("work/retry", views.WorkRetryView.as_view(), name="work-retry"),
    path("work/cancel", views.WorkCancelView.as_view(), name="work-cancel"),
    path("manifest", views.ManifestView.as_view(), name="manifest"),
    path("health", views.HealthView.as_view(), name="health"),
    path("schema/", SpectacularJSONAPIView.as_view(), name="schema"),
    path("docs/", views.DocsView.as_view(url_name="api:schema"), name="docs"),
]
