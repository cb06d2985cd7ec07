"""Audit events that are not about one work item: sign-ins and lockouts, account changes.

The work queue's own operations are audited by the service that performs them; this module
records the account-side events in the same table, so one audit trail answers "who could do
what, and who did". Token keys are never written here.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone

from marketspine.api.addresses import client_address
from workqueue.models import AuditEvent, AuditSource, WorkItem
from workqueue.services import Actor

logger = logging.getLogger(__name__)


def audit_record(*, actor: Actor, action: str, details: dict[str, Any] | None = None) -> AuditEvent:
    """Append one audit event (call it inside the transaction of the change it describes)."""
    return AuditEvent.objects.create(
        actor=actor.user,
        actor_name=actor.name[:150],
        source=actor.source,
        action=action,
        client_address=actor.client_address,
        details=details or {},
    )


def _source(request: HttpRequest | None) -> str:
    if request is None:
        return AuditSource.SYSTEM
    return AuditSource.API if request.path.startswith("/api/") else AuditSource.ADMIN


def request_actor(request: HttpRequest | None, user: Any) -> Actor:
    return Actor.for_user(user, source=_source(request), client_address=client_address(request))


def on_logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    audit_record(actor=request_actor(request, user), action="login")


def on_logged_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is None:  # the session had no signed-in user: nobody to record
        return
    audit_record(actor=request_actor(request, user), action="logout")


def on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    tried = str(credentials.get("username", ""))[:150]
    actor = Actor(
        source=_source(request), name=tried or "(none)", client_address=client_address(request)
    )
    audit_record(actor=actor, action="login_failed", details={"username": tried})


def on_locked_out(
    sender: Any,
    request: HttpRequest | None,
    username: str | None,
    ip_address: str | None,
    **kwargs: Any,
) -> None:
    """django-axes refused a sign-in: the limit of failures was reached, or an attempt came in
    while the (username, address) pair is locked."""
    tried = str(username or "")[:150]
    actor = Actor(source=_source(request), name=tried or "(none)", client_address=ip_address)
    audit_record(actor=actor, action="login_locked_out", details={"username": tried})


def connect_auth_signals() -> None:
    user_logged_in.connect(on_logged_in, dispatch_uid="workqueue.audit.login")
    user_logged_out.connect(on_logged_out, dispatch_uid="workqueue.audit.logout")
    user_login_failed.connect(on_login_failed, dispatch_uid="workqueue.audit.login_failed")
    user_locked_out.connect(on_locked_out, dispatch_uid="workqueue.audit.locked_out")


# --- refused writes ---------------------------------------------------------------------------

#: Refused attempts recorded per actor (name and address) per minute; a flood beyond it is
#: logged, not stored, so a script hammering a forbidden endpoint cannot grow the table
#: without bound (the API's throttle slows it before that).
REFUSALS_PER_MINUTE = 60


def _within_refusal_budget(actor: Actor, now: datetime) -> bool:
    key = f"workqueue.audit.refusals:{actor.name}:{actor.client_address}:{now:%Y%m%d%H%M}"
    cache.add(key, 0, timeout=120)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr: count this one as the first
        cache.set(key, 1, timeout=120)
        count = 1
    if count == REFUSALS_PER_MINUTE + 1:
        logger.warning(
            "more than %s refused attempts by %s from %s this minute: the rest are not audited",
            REFUSALS_PER_MINUTE,
            actor.name,
            actor.client_address,
        )
    return count <= REFUSALS_PER_MINUTE


def audit_refusal(
    *,
    actor: Actor,
    action: str,
    outcome: str,
    details: dict[str, Any],
    work_item_id: int | None = None,
) -> AuditEvent | None:
    """Record an attempt that was refused and changed nothing: ``outcome`` is
    ``AuditOutcome.REFUSED`` (no permission) or ``CONFLICT`` (not allowed in the target's
    state). ``work_item_id`` links the event to the item when that item exists. Returns None
    when the actor's budget for this minute is spent."""
    now = timezone.now()
    if not _within_refusal_budget(actor, now):
        return None
    item_exists = work_item_id is not None and WorkItem.objects.filter(pk=work_item_id).exists()
    return AuditEvent.objects.create(
        occurred_at=now,
        actor=actor.user,
        actor_name=actor.name[:150],
        source=actor.source,
        action=action[:50],
        outcome=outcome,
        work_item_id=work_item_id if item_exists else None,
        client_address=actor.client_address,
        details=details,
    )
