"""API tokens: issue, rotate, revoke, re-date and delete them, each change audited.

The admin and ``manage.py create_api_token`` both call these functions. A key is returned once,
by the function that made it, and never stored: the table keeps its SHA-256 digest and a short
prefix. Audit events name the token by user, name and prefix, never by key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.db import IntegrityError, transaction
from django.utils import timezone

from workqueue.audit import audit_record
from workqueue.models import (
    API_TOKEN_PREFIX_LENGTH,
    ApiToken,
    api_token_digest,
    api_token_new_key,
)
from workqueue.services import Actor

DEFAULT_TOKEN_NAME = "default"


class ApiTokenNameTaken(ValueError):
    """The user already holds a usable token of that name (rotate it, or pick another name)."""


def _describe(token: ApiToken) -> dict[str, Any]:
    return {
        "user": token.user.get_username(),
        "name": token.name,
        "prefix": token.prefix,
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
    }


def _new_token(*, user: Any, name: str, expires_at: datetime | None) -> tuple[ApiToken, str]:
    key = api_token_new_key()
    token = ApiToken(
        user=user,
        name=name,
        prefix=key[:API_TOKEN_PREFIX_LENGTH],
        digest=api_token_digest(key),
        expires_at=expires_at,
    )
    try:
        with transaction.atomic():  # a savepoint: the caller's transaction survives the refusal
            token.save()
    except IntegrityError:
        raise ApiTokenNameTaken(
            f"{user.get_username()} already has a token named {name!r}; rotate it, revoke it, "
            "or choose another name"
        ) from None
    return token, key


@transaction.atomic
def api_token_create(
    *, user: Any, name: str = DEFAULT_TOKEN_NAME, expires_at: datetime | None = None, actor: Actor
) -> tuple[ApiToken, str]:
    """A new named token for ``user``; returns it with its key (the only time it is known)."""
    token, key = _new_token(user=user, name=name, expires_at=expires_at)
    audit_record(actor=actor, action="api_token_create", details=_describe(token))
    return token, key


@transaction.atomic
def api_token_rotate(
    *, token: ApiToken, actor: Actor, expires_at: datetime | Literal["keep"] | None = "keep"
) -> tuple[ApiToken, str]:
    """Revoke ``token`` and issue its successor: same user and name, a new key.

    The successor keeps the old expiry unless ``expires_at`` is given (``None``: never expires).
    Only the old token is revoked: other named tokens of the user keep working.
    """
    now = timezone.now()
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
    new_expiry = token.expires_at if expires_at == "keep" else expires_at
    successor, key = _new_token(user=token.user, name=token.name, expires_at=new_expiry)
    details = {**_describe(successor), "replaced_prefix": token.prefix}
    audit_record(actor=actor, action="api_token_rotate", details=details)
    return successor, key


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor: Actor) -> bool:
    """Stop ``token`` from working; False when it was already revoked (nothing recorded)."""
    now = timezone.now()
    # Conditional update: two staff revoking at once record one revocation, not two.
    if not ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now):
        return False
    token.revoked_at = now
    audit_record(actor=actor, action="api_token_revoke", details=_describe(token))
    return True


@transaction.atomic
def api_token_set_expiry(*, token: ApiToken, expires_at: datetime | None, actor: Actor) -> bool:
    """Change when ``token`` expires (``None``: never); False when it already did then."""
    before = ApiToken.objects.get(pk=token.pk).expires_at
    if before == expires_at:
        return False
    ApiToken.objects.filter(pk=token.pk).update(expires_at=expires_at)
    token.expires_at = expires_at
    details = {
        **_describe(token),
        "expires_at": {
            "from": before.isoformat() if before else None,
            "to": expires_at.isoformat() if expires_at else None,
        },
    }
    audit_record(actor=actor, action="api_token_expiry_change", details=details)
    return True


@transaction.atomic
def api_token_rename(*, token: ApiToken, name: str, actor: Actor) -> bool:
    before = ApiToken.objects.get(pk=token.pk).name
    if before == name:
        return False
    try:
        with transaction.atomic():
            ApiToken.objects.filter(pk=token.pk).update(name=name)
    except IntegrityError:
        raise ApiTokenNameTaken(
            f"{token.user.get_username()} already has a token named {name!r}"
        ) from None
    token.name = name
    details = {**_describe(token), "name": {"from": before, "to": name}}
    audit_record(actor=actor, action="api_token_rename", details=details)
    return True


@transaction.atomic
def api_token_delete(*, token: ApiToken, actor: Actor) -> None:
    """Remove the token's row: its key then reads as unknown, not as revoked."""
    details = _describe(token)
    token.delete()
    audit_record(actor=actor, action="api_token_delete", details=details)
