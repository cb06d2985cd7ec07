from __future__ import annotations

from django.contrib.admin.apps import AdminConfig


class MarketSpineAdminConfig(AdminConfig):
    """Django's admin app, with the operations console as its default site.

    Apps keep registering with ``@admin.register``: ``admin.site`` is this site.
    """

    default_site = "marketspine.admin.MarketSpineAdminSite"
