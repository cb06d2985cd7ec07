from __future__ import annotations

from django.apps import AppConfig


class FinraConfig(AppConfig):
    name = "finra"
    verbose_name = "FINRA OTC Transparency"
    default_auto_field = "django.db.models.BigAutoField"
