"""What the operations console's pages need per role.

Every role reads the django-q2 schedules; auditors also read the admin's change log and the
accounts (users and groups) whose changes they review. Viewers get no audit page.
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "data_ops": [("django_q", "view_schedule")],
    "auditors": [
        ("django_q", "view_schedule"),
        ("admin", "view_logentry"),
        ("auth", "view_user"),
        ("auth", "view_group"),
    ],
    "viewers": [("django_q", "view_schedule")],
}


def grant(apps, schema_editor):
    for app_label in ("admin", "auth", "django_q"):
        create_permissions(
            global_apps.get_app_config(app_label),
            verbosity=0,
            apps=apps,
            using=schema_editor.connection.alias,
        )
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codename in codenames:
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        for group in Group.objects.filter(name=name):
            for app_label, codename in codenames:
                group.permissions.remove(
                    *Permission.objects.filter(content_type__app_label=app_label, codename=codename)
                )


class Migration(migrations.Migration):
    dependencies = [
        ("workqueue", "0007_audit_append_only"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
