"""Every role reads the scheduler's run history (the admin's "Scheduler runs" page)."""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLES = ("data_ops", "auditors", "viewers")


def grant(apps, schema_editor):
    create_permissions(
        global_apps.get_app_config("finra"),
        verbosity=0,
        apps=apps,
        using=schema_editor.connection.alias,
    )
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.get(
        content_type__app_label="finra", codename="view_schedulerrun"
    )
    for name in ROLES:
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(permission)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for permission in Permission.objects.filter(
        content_type__app_label="finra", codename="view_schedulerrun"
    ):
        for group in Group.objects.filter(name__in=ROLES):
            group.permissions.remove(permission)


class Migration(migrations.Migration):
    dependencies = [
        ("finra", "0010_weekly_schedule"),
        ("workqueue", "0004_roles"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
