from __future__ import annotations

from django.apps import AppConfig


class WorkqueueConfig(AppConfig):
    name = "workqueue"
    verbose_name = "Work queue"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from importlib import import_module

        from django.conf import settings

        from workqueue.audit import connect_auth_signals

        import_module("workqueue.diagnostics")
        # Sign-ins, sign-outs and refused sign-ins go to the audit log.
        connect_auth_signals()
        # So do API writes refused with 403 or 409.
        import_module("workqueue.api.refusals").connect_refusal_signal()
        # Extra pipeline modules (plugins, test doubles) named by WORKQUEUE_PIPELINE_MODULES.
        for module in settings.WORKQUEUE_PIPELINE_MODULES:
            import_module(module)
