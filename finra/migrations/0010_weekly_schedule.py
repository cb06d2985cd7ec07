from django.db import migrations


def forwards(apps, schema_editor):
    from finra.schedules import WEEKLY_SCHEDULE
    from workqueue.schedules import ensure_schedules

    ensure_schedules(apps.get_model("django_q", "Schedule"), [WEEKLY_SCHEDULE])


class Migration(migrations.Migration):
    dependencies = [
        ("finra", "0009_scheduler_runs"),
        ("workqueue", "0002_dispatch_signal_and_schedules"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
