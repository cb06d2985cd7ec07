"""Who may do what in the work API: one Django permission per kind of endpoint (the groups
holding them come from migration 0004_roles)."""

from __future__ import annotations

from marketspine.api.permissions import HasPermission


class CanOperateWorkItems(HasPermission):
    """Enqueue, retry, cancel: the data_ops group (and superusers)."""

    perm = "workqueue.operate_workitem"
    message = "enqueue, retry and cancel need the workqueue.operate_workitem permission (data_ops)"


class CanViewWorkItems(HasPermission):
    perm = "workqueue.view_workitem"
    message = "reading work items needs the workqueue.view_workitem permission"


class CanViewManifest(HasPermission):
    perm = "workqueue.view_manifestentry"
    message = "reading the manifest needs the workqueue.view_manifestentry permission"
