"""Who may do what: one Django permission per kind of endpoint (groups come from 0004_roles)."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission


class _HasPermission(BasePermission):
    perm = ""
    message = "you do not have permission to do this"

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(self.perm))


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
