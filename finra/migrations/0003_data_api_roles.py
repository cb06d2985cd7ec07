"""Every role reads the FINRA data: view permissions on the capture register and each dataset.

The data API (``/api/v1/finra/``) checks ``finra.view_<model>``. Permissions are normally
created after ``migrate`` finishes (post_migrate), so they are created here first.
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW = [
    ("finra", "view_capture"),
    ("finra", "view_rawrow"),
    ("finra", "view_rejectrow"),
    ("finra", "view_normalizedrow"),
    ("finra", "view_venuevolumerow"),
    ("finra", "view_venuesharerow"),
    ("finra", "view_symbolvenuesharerow"),
    ("finra", "view_symbolhhirow"),
    ("finra", "view_tierhhirow"),
    ("finra", "view_tiersplitrow"),
]
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
    permissions = [
        Permission.objects.get(content_type__app_label=app_label, codename=codename)
        for app_label, codename in VIEW
    ]
    for name in ROLES:
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*permissions)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = [
        permission
        for app_label, codename in VIEW
        for permission in Permission.objects.filter(
            content_type__app_label=app_label, codename=codename
        )
    ]
    for group in Group.objects.filter(name__in=ROLES):
        group.permissions.remove(*permissions)


class Migration(migrations.Migration):
    dependencies = [("finra", "0002_latest_views"), ("workqueue", "0006_roles_admin_pages")]

    operations = [migrations.RunPython(grant, revoke)]
