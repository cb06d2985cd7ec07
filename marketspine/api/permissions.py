"""Permission checks for API views: one Django permission per kind of endpoint, in one query."""

from __future__ import annotations

import functools
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from rest_framework.permissions import BasePermission


@functools.cache
def _permission_sql() -> str:
    user_model = get_user_model()
    user_permissions = user_model.user_permissions.through._meta.db_table
    user_groups = user_model.groups.through._meta.db_table
    group_permissions = Group.permissions.through._meta.db_table
    user_column = user_model._meta.model_name + "_id"
    return f"""
        SELECT 1 FROM {Permission._meta.db_table} p
        JOIN {ContentType._meta.db_table} ct ON ct.id = p.content_type_id
        WHERE p.codename = %s AND ct.app_label = %s AND (
            EXISTS (SELECT 1 FROM {user_permissions} up
                    WHERE up.permission_id = p.id AND up.{user_column} = %s)
            OR EXISTS (SELECT 1 FROM {group_permissions} gp
                       JOIN {user_groups} ug ON ug.group_id = gp.group_id
                       WHERE gp.permission_id = p.id AND ug.{user_column} = %s))
        LIMIT 1"""


def user_has_permission(user: Any, perm: str) -> bool:
    """What ModelBackend's ``user.has_perm`` answers (active superuser, or the permission held
    directly or through a group), in one query instead of loading every permission of the user
    and of their groups on each request. The SQL is fixed text, so PostgreSQL prepares it once
    per connection and Django does not compile a four-table join on every request."""
    if not (user and user.is_authenticated and user.is_active):
        return False
    if user.is_superuser:
        return True
    if hasattr(user, "_perm_cache"):  # filled by the token lookup: no query needed
        return perm in user._perm_cache
    app_label, codename = perm.split(".", 1)
    with connection.cursor() as cursor:
        cursor.execute(_permission_sql(), [codename, app_label, user.pk, user.pk])
        return cursor.fetchone() is not None


class HasPermission(BasePermission):
    """Allows a request whose user holds ``perm`` (``app_label.codename``); set it on a subclass."""

    perm = ""
    message = "you do not have permission to do this"

    def has_permission(self, request: Any, view: Any) -> bool:
        return user_has_permission(request.user, self.perm)
