"""Every role may open the "failed" and "running" admin pages; data_ops also read the audit
trail of the items they operate."""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

PAGES = [("workqueue", "view_failedworkitem"), ("workqueue", "view_runningworkitem")]
GRANTS = {
    "data_ops": [*PAGES, ("workqueue", "view_auditevent")],
    "auditors": PAGES,
    "viewers": PAGES,
}


def grant(apps, schema_editor):
    create_permissions(
        global_apps.get_app_config("workqueue"),
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
    dependencies = [("workqueue", "0005_admin_proxies"), ("workqueue", "0004_roles")]

    operations = [migrations.RunPython(grant, revoke)]
