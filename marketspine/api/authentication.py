"""``Authorization: Token <key>`` for scripts: who the caller is and what they may do, in one
fixed query.

DRF's TokenAuthentication builds its token-and-user join through the ORM on every request, and
each permission check then costs another query; on the enqueue hot path that is more than the
database work itself. This is the same check (the key names a token, its user is active) as
fixed SQL that PostgreSQL prepares once per connection, and it also returns every permission the
user holds (directly or through a group), which fills ModelBackend's own per-user cache: the
permission checks of the request then need no query, and answer exactly as ``user.has_perm``.
"""

from __future__ import annotations

import functools
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token


@functools.cache
def _user_columns() -> list[str]:
    return [field.column for field in get_user_model()._meta.concrete_fields]


@functools.cache
def _lookup_sql(vendor: str) -> str:
    user_model = get_user_model()
    user_permissions = user_model.user_permissions.through._meta.db_table
    user_groups = user_model.groups.through._meta.db_table
    group_permissions = Group.permissions.through._meta.db_table
    user_column = user_model._meta.model_name + "_id"
    joined = "string_agg(ct.app_label || '.' || p.codename, ',')"
    if vendor == "sqlite":
        joined = "group_concat(ct.app_label || '.' || p.codename, ',')"
    columns = ", ".join(f"u.{column}" for column in _user_columns())
    return f"""
        SELECT {columns}, (
            SELECT {joined} FROM {Permission._meta.db_table} p
            JOIN {ContentType._meta.db_table} ct ON ct.id = p.content_type_id
            WHERE p.id IN (
                SELECT up.permission_id FROM {user_permissions} up
                WHERE up.{user_column} = u.id
                UNION
                SELECT gp.permission_id FROM {group_permissions} gp
                JOIN {user_groups} ug ON ug.group_id = gp.group_id
                WHERE ug.{user_column} = u.id)
        ) AS permission_names
        FROM {Token._meta.db_table} t JOIN {user_model._meta.db_table} u ON u.id = t.user_id
        WHERE t.key = %s"""


class FastTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        users = list(get_user_model().objects.raw(_lookup_sql(connection.vendor), [key]))
        if not users:
            raise exceptions.AuthenticationFailed("Invalid token.")
        user = users[0]
        if not user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        names = user.permission_names
        # ModelBackend's cache of the user's permissions (inactive users hold none, above).
        user._perm_cache = set(names.split(",")) if names else set()
        return user, Token(key=key, user=user)
