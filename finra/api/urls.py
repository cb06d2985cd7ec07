from __future__ import annotations

from django.urls import path

from finra.api import views

app_name = "finra-api"

urlpatterns = [
    path("captures", views.CapturesView.as_view(), name="captures"),
    path("venue-volume", views.VenueVolumeView.as_view(), name="venue-volume"),
    path("venue-share", views.VenueShareView.as_view(), name="venue-share"),
    path("symbol-venue-share", views.SymbolVenueShareView.as_view(), name="symbol-venue-share"),
    path("hhi", views.SymbolHHIView.as_view(), name="hhi"),
    path("tier-hhi", views.TierHHIView.as_view(), name="tier-hhi"),
    path("tier-split", views.TierSplitView.as_view(), name="tier-split"),
    path("rejects", views.RejectsView.as_view(), name="rejects"),
    path("gaps", views.GapsView.as_view(), name="gaps"),
]
