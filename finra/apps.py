from __future__ import annotations

from django.apps import AppConfig


class FinraConfig(AppConfig):
    name = "finra"
    verbose_name = "FINRA OTC Transparency"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the stages and the six pipelines with the work queue.
        from finra import pipelines  # noqa: F401
        from finra.schedules import WEEKLY_SCHEDULE
        from finra.sources.files import hide_data_dir
        from workqueue.redaction import register_redactor
        from workqueue.schedules import SCHEDULES

        # Recorded failures name the data directory by its setting, never by its real place.
        register_redactor(hide_data_dir)

        if WEEKLY_SCHEDULE not in SCHEDULES:
            SCHEDULES.append(WEEKLY_SCHEDULE)
