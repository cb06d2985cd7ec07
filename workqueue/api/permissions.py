"""Who may do what: one Django permission per kind of endpoint (groups come from 0004_roles)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission
from django.db.models import Q
from rest_framework.permissions import BasePermission


def user_has_permission(user: Any, perm: str) -> bool:
    """What ModelBackend's ``user.has_perm`` answers (active superuser, or the permission held
    directly or through a group), in one EXISTS query instead of loading every permission of
    the user and of their groups on each request."""
    if not (user and user.is_authenticated and user.is_active):
        return False
    if user.is_superuser:
        return True
    app_label, codename = perm.split(".", 1)
    return (
        Permission.objects.filter(codename=codename, content_type__app_label=app_label)
        .filter(Q(user=user) | Q(group__user=user))
        .exists()
    )


class _HasPermission(BasePermission):
    perm = ""
    message = "you do not have permission to do this"

    def has_permission(self, request: Any, view: Any) -> bool:
        return user_has_permission(request.user, self.perm)


class CanOperateWorkItems(_HasPermission):
    """Enqueue, retry, cancel: the data_ops group (and superusers)."""

    perm = "workqueue.operate_workitem"
    message = "enqueue, retry and cancel need the workqueue.operate_workitem permission (data_ops)"


class CanViewWorkItems(_HasPermission):
    perm = "workqueue.view_workitem"
    message = "reading work items needs the workqueue.view_workitem permission"


class CanViewManifest(_HasPermission):
    perm = "workqueue.view_manifestentry"
    message = "reading the manifest needs the workqueue.view_manifestentry permission"
