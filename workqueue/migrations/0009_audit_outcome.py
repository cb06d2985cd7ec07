"""Audit events say how the attempt ended (done, refused, conflict); old errors are redacted.

Adding the column fires no row trigger, so the append-only trigger of 0007 stays as it is and
keeps comparing whole rows (the new column included). Existing events were all carried out:
they read "done".

The errors recorded before redaction existed are passed through ``workqueue.redaction`` once
(URL credentials, and what the installed domains register, such as FINRA's data directory),
so viewers stop reading them in old items and executions too.
"""

from django.db import migrations, models
from django.db.models import Q

from workqueue.redaction import redact

BATCH = 2000


def _redact_rows(queryset, fields):
    for row in queryset.only("pk", *fields).iterator(chunk_size=BATCH):
        changed = {}
        for name in fields:
            value = getattr(row, name)
            shown = redact(value)
            if shown != value:
                changed[name] = shown
        if changed:
            type(row).objects.filter(pk=row.pk).update(**changed)


def redact_recorded_errors(apps, schema_editor):
    WorkItem = apps.get_model("workqueue", "WorkItem")
    Execution = apps.get_model("workqueue", "Execution")
    # Only rows that can hold a URL or a path: the rest cannot change.
    _redact_rows(
        WorkItem.objects.filter(Q(last_error__contains="/") | Q(waiting_for__contains="/")),
        ["last_error", "waiting_for"],
    )
    _redact_rows(
        Execution.objects.filter(Q(error__contains="/") | Q(traceback__contains="/")),
        ["error", "traceback"],
    )


class Migration(migrations.Migration):
    dependencies = [("workqueue", "0008_console_roles")]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="outcome",
            field=models.CharField(
                choices=[
                    ("done", "Done"),
                    ("refused", "Refused (no permission)"),
                    ("conflict", "Conflict (not allowed in its state)"),
                ],
                db_index=True,
                default="done",
                max_length=10,
            ),
        ),
        migrations.RunPython(redact_recorded_errors, migrations.RunPython.noop, elidable=True),
    ]
