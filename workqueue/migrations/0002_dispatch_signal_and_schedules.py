from django.db import migrations


def forwards(apps, schema_editor):
    from workqueue.schedules import SCHEDULES, ensure_schedules

    apps.get_model("workqueue", "DispatchSignal").objects.get_or_create(pk=1)
    ensure_schedules(apps.get_model("django_q", "Schedule"), SCHEDULES)


class Migration(migrations.Migration):
    dependencies = [
        ("workqueue", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
