"""``Authorization: Token <key>`` for scripts: who the caller is and what they may do, in one
fixed query.

Only a SHA-256 digest of each key is stored (the model is ``settings.API_TOKEN_MODEL``, so this
module names no app). The lookup is one indexed equality on the digest, as one fixed SQL
statement; it also returns whether the token is revoked, expired
or due a ``last_used_at`` write, and every permission the user holds (directly or through a
group), which fills ModelBackend's own per-user cache: the permission checks of the request then
need no query, and answer exactly as ``user.has_perm``.

``last_used_at`` is written at most once per ``API_TOKEN_LAST_USED_INTERVAL_SECONDS`` per token,
so the hot path pays no write per request.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection, models
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication


def token_model() -> type[models.Model]:
    return apps.get_model(settings.API_TOKEN_MODEL)


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
    # Parameters: now, the last-used cut-off, the digest.
    return f"""
        SELECT {columns},
            t.id AS token_id,
            t.revoked_at IS NOT NULL AS token_revoked,
            (t.expires_at IS NOT NULL AND t.expires_at <= %s) AS token_expired,
            (t.last_used_at IS NULL OR t.last_used_at < %s) AS token_use_stale,
            (
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
        FROM {token_model()._meta.db_table} t JOIN {user_model._meta.db_table} u
            ON u.id = t.user_id
        WHERE t.digest = %s"""


def _refused(token_id: int, status: str) -> exceptions.AuthenticationFailed:
    """401 that says why a known token no longer works (the error path may spend a query)."""
    token = token_model().objects.get(pk=token_id)
    when = token.revoked_at if status == "revoked" else token.expires_at
    return exceptions.AuthenticationFailed(
        f"Token {token.prefix}… ({token.name}) {status} at {when:%Y-%m-%d %H:%M:%S} UTC; "
        "ask an administrator for a new one (manage.py create_api_token)."
    )


def _record_use(token_id: int, now: Any) -> None:
    interval = timedelta(seconds=settings.API_TOKEN_LAST_USED_INTERVAL_SECONDS)
    # Conditional: of the requests that all saw a stale time, only the first one writes.
    token_model().objects.filter(pk=token_id).filter(
        models.Q(last_used_at__isnull=True) | models.Q(last_used_at__lt=now - interval)
    ).update(last_used_at=now)


class FastTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        Token = token_model()
        now = timezone.now()
        stale = now - timedelta(seconds=settings.API_TOKEN_LAST_USED_INTERVAL_SECONDS)
        adapt = connection.ops.adapt_datetimefield_value
        params = [adapt(now), adapt(stale), Token.digest_of(key)]
        users = list(get_user_model().objects.raw(_lookup_sql(connection.vendor), params))
        if not users:
            raise exceptions.AuthenticationFailed("Invalid token.")
        user = users[0]
        if user.token_revoked:
            raise _refused(user.token_id, "revoked")
        if user.token_expired:
            raise _refused(user.token_id, "expired")
        if not user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        if user.token_use_stale:
            _record_use(user.token_id, now)
        names = user.permission_names
        # ModelBackend's cache of the user's permissions (inactive users hold none, above).
        user._perm_cache = set(names.split(",")) if names else set()
        return user, Token(pk=user.token_id, user=user)
