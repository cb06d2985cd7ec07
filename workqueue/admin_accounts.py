"""Accounts in the admin: users and API tokens, with the changes that grant access audited.

A change to a user's groups, staff status or activation, and every API token created or
rotated here, is written to the audit log in the same transaction as the change.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

from workqueue.admin_views import admin_actor
from workqueue.audit import api_token_issue, audit_record

User = get_user_model()


def _access(user: Any) -> dict[str, Any]:
    return {
        "is_staff": user.is_staff,
        "is_active": user.is_active,
        "is_superuser": user.is_superuser,
        "groups": sorted(user.groups.values_list("name", flat=True)),
    }


class AuditedUserAdmin(UserAdmin):
    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # The state before the form is applied: read from the database, not the edited object.
        before = User.objects.filter(pk=obj.pk).first() if change else None
        request._access_before = _access(before) if before is not None else None
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        user = form.instance
        before = getattr(request, "_access_before", None)
        after = _access(user)
        if before == after:
            return
        details: dict[str, Any] = {"user": user.get_username()}
        if before is None:
            details.update(after)
        else:
            for flag in ("is_staff", "is_active", "is_superuser"):
                if before[flag] != after[flag]:
                    details[flag] = {"from": before[flag], "to": after[flag]}
            added = sorted(set(after["groups"]) - set(before["groups"]))
            removed = sorted(set(before["groups"]) - set(after["groups"]))
            if added or removed:
                details["groups"] = {"added": added, "removed": removed}
        action = "user_create" if before is None else "user_access_change"
        audit_record(actor=admin_actor(request), action=action, details=details)


admin.site.unregister(User)
admin.site.register(User, AuditedUserAdmin)


@admin.action(description="Rotate selected tokens (the old keys stop working)")
def rotate_tokens(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    users = [token.user for token in queryset.select_related("user")]
    with transaction.atomic():
        for user in users:
            api_token_issue(user=user, rotate=True, actor=admin_actor(request))
    names = ", ".join(u.get_username() for u in users)
    modeladmin.message_user(request, f"Rotated {len(users)} token(s): {names}", messages.SUCCESS)


class AuditedTokenAdmin(TokenAdmin):
    actions = [rotate_tokens]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:  # a token is never edited in place: rotate it instead
            return
        super().save_model(request, obj, form, change)
        audit_record(
            actor=admin_actor(request),
            action="api_token_create",
            details={"user": obj.user.get_username()},
        )


admin.site.unregister(TokenProxy)
admin.site.register(TokenProxy, AuditedTokenAdmin)
