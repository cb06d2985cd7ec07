"""Accounts in the admin: users and API tokens, with the changes that grant access audited.

A change to a user's groups, staff status or activation, and every API token created, rotated,
revoked, re-dated or deleted here, is written to the audit log in the same transaction as the
change. A token's key is shown once, on the page that answers its creation or rotation.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from rest_framework.authtoken.models import TokenProxy

from workqueue.admin_views import admin_actor
from workqueue.audit import audit_record
from workqueue.models import ApiToken, ApiTokenStatus
from workqueue.tokens import (
    ApiTokenNameTaken,
    api_token_create,
    api_token_delete,
    api_token_rename,
    api_token_revoke,
    api_token_rotate,
    api_token_set_expiry,
)

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


# Plaintext DRF tokens are no longer used (their rows were hashed into ApiToken by a migration).
admin.site.unregister(TokenProxy)


def _keys_page(
    request: HttpRequest, modeladmin: admin.ModelAdmin, issued: list[tuple[ApiToken, str]]
) -> TemplateResponse:
    """The one page that shows new keys: they are not stored, so it cannot be shown again."""
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": modeladmin.model._meta,
        "title": "Copy the new API token" + ("s" if len(issued) > 1 else ""),
        "issued": issued,
    }
    response = TemplateResponse(request, "admin/workqueue/apitoken/keys.html", context)
    response["Cache-Control"] = "no-store"
    return response


@admin.action(description="Revoke selected tokens (they stop working at once)")
def revoke_tokens(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    actor = admin_actor(request)
    with transaction.atomic():
        revoked = [
            t for t in queryset.select_related("user") if api_token_revoke(token=t, actor=actor)
        ]
    names = ", ".join(str(t) for t in revoked) or "none (already revoked)"
    modeladmin.message_user(request, f"Revoked {len(revoked)} token(s): {names}", messages.SUCCESS)


@admin.action(description="Rotate selected tokens (new keys; the old ones stop working)")
def rotate_tokens(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet
) -> HttpResponse | None:
    tokens = list(queryset.select_related("user").filter(revoked_at__isnull=True))
    if not tokens:
        modeladmin.message_user(request, "Revoked tokens cannot be rotated.", messages.ERROR)
        return None
    actor = admin_actor(request)
    with transaction.atomic():
        issued = [api_token_rotate(token=token, actor=actor) for token in tokens]
    return _keys_page(request, modeladmin, issued)


def _name_taken(user: Any, name: str, token: ApiToken | None) -> bool:
    others = ApiToken.objects.filter(user=user, name=name, revoked_at__isnull=True)
    return others.exclude(pk=token.pk).exists() if token is not None else others.exists()


class ApiTokenAddForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["user", "name", "expires_at"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        user, name = data.get("user"), data.get("name")
        if user is not None and name and _name_taken(user, name, None):
            self.add_error("name", f"{user} already has a token named {name!r}; rotate it.")
        return data


class ApiTokenChangeForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["name", "expires_at"]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        token = self.instance
        if token.revoked_at is None and _name_taken(token.user, name, token):
            raise forms.ValidationError(f"{token.user} already has a token named {name!r}.")
        return name


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "user",
        "prefix",
        "status_label",
        "created_at",
        "expires_at",
        "last_used_at",
    ]
    list_select_related = ["user"]
    search_fields = ["name", "prefix", "user__username"]
    list_filter = ["created_at", "expires_at", "revoked_at"]
    actions = [revoke_tokens, rotate_tokens]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    autocomplete_fields = ["user"]

    @admin.display(description="status")
    def status_label(self, token: ApiToken) -> str:
        return str(ApiTokenStatus(token.status()).label)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        if obj is not None:
            kwargs["form"] = ApiTokenChangeForm
            kwargs["fields"] = ["name", "expires_at"]
        else:
            kwargs["form"] = ApiTokenAddForm
            kwargs["fields"] = ["user", "name", "expires_at"]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["user", *self.readonly_fields] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        actor = admin_actor(request)
        if not change:
            token, key = api_token_create(
                user=obj.user, name=obj.name, expires_at=obj.expires_at, actor=actor
            )
            obj.pk, obj.prefix, obj.digest = token.pk, token.prefix, token.digest
            obj._state.adding = False
            request._api_token_issued = [(token, key)]
            return
        saved = ApiToken.objects.select_related("user").get(pk=obj.pk)
        try:
            api_token_rename(token=saved, name=obj.name, actor=actor)
        except ApiTokenNameTaken as refused:  # a race past the form's check
            self.message_user(request, str(refused), messages.ERROR)
        api_token_set_expiry(token=saved, expires_at=obj.expires_at, actor=actor)

    def response_add(self, request: HttpRequest, obj: ApiToken, post_url_continue: Any = None):
        return _keys_page(request, self, request._api_token_issued)

    def delete_model(self, request: HttpRequest, obj: ApiToken) -> None:
        api_token_delete(token=obj, actor=admin_actor(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        actor = admin_actor(request)
        with transaction.atomic():
            for token in queryset.select_related("user"):
                api_token_delete(token=token, actor=actor)
