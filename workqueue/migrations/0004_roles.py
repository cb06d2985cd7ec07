"""Roles as Django groups: data_ops operate the queue; auditors and viewers only read.

Permissions are normally created after ``migrate`` finishes (post_migrate), so they are created
here first for the apps this migration names.
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW = [
    ("workqueue", "view_workitem"),
    ("workqueue", "view_execution"),
    ("workqueue", "view_manifestentry"),
    ("workqueue", "view_workerheartbeat"),
]
ROLES = {
    "data_ops": [*VIEW, ("workqueue", "operate_workitem")],
    "auditors": [*VIEW, ("workqueue", "view_auditevent")],
    "viewers": VIEW,
}


def create_roles(apps, schema_editor):
    for app_label in ("auth", "authtoken", "workqueue"):
        # The real app config (a migration's stub has no models_module); models come from `apps`.
        app_config = global_apps.get_app_config(app_label)
        create_permissions(app_config, verbosity=0, apps=apps, using=schema_editor.connection.alias)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codename in codenames:
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("workqueue", "0003_operate_permission"),
        ("authtoken", "0004_alter_tokenproxy_options"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
