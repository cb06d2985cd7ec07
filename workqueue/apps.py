from __future__ import annotations

from django.apps import AppConfig


class WorkqueueConfig(AppConfig):
    name = "workqueue"
    verbose_name = "Work queue"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from importlib import import_module

        from django.conf import settings

        import_module("workqueue.diagnostics")
        # Extra pipeline modules (plugins, test doubles) named by WORKQUEUE_PIPELINE_MODULES.
        for module in settings.WORKQUEUE_PIPELINE_MODULES:
            import_module(module)
