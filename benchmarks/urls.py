"""The product's URLs plus the baseline view (benchmarks only; the product never serves it)."""

from __future__ import annotations

from django.urls import path

from benchmarks.views import baseline_insert
from marketspine.urls import urlpatterns as product_urlpatterns

urlpatterns = [
    path("bench/baseline-insert", baseline_insert),
    *product_urlpatterns,
]
