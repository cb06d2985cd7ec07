from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from marketspine.liveness import liveness
from marketspine.metrics import metrics

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("healthz", liveness, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("api/v1/finra/", include("finra.api.urls")),
    path("api/v1/", include("workqueue.api.urls")),
]

# JSON instead of HTML error pages under /api/; Django's own pages elsewhere.
handler404 = "marketspine.api.errors.page_not_found"
handler500 = "marketspine.api.errors.server_error"
