"""Reading a FINRA dataset needs the view permission of its model (granted to every role by
finra 0003_data_api_roles)."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission

from marketspine.api.permissions import HasPermission, user_has_permission


class CanViewDataset(BasePermission):
    """``finra.view_<model>`` of the view's ``model``, e.g. ``finra.view_venuesharerow``."""

    def has_permission(self, request: Any, view: Any) -> bool:
        perm = f"{view.model._meta.app_label}.view_{view.model._meta.model_name}"
        self.message = f"reading {view.dataset_name} needs the {perm} permission"
        return user_has_permission(request.user, perm)


class CanViewGaps(HasPermission):
    """A gap report shows work items (states, errors), so it needs their view permission,
    which every role holds (workqueue 0004_roles)."""

    perm = "workqueue.view_workitem"
    message = "the gap report needs the workqueue.view_workitem permission"
