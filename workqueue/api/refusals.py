"""Refused API writes in the audit log: who tried which operation on what, and why it was no.

``marketspine.api.errors`` announces every 403 and 409 answered to a signed-in user's write;
this receiver turns it into an audit event with outcome ``refused`` or ``conflict``. The
attempt changed nothing, so there is no transaction of a change to share.
"""

from __future__ import annotations

import json
from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response

from marketspine.api.errors import write_refused
from workqueue.api.views import api_actor
from workqueue.audit import audit_refusal
from workqueue.models import AuditOutcome

#: What a refused body may say about its target, kept in the event's details.
TARGET_KEYS = ("work_item_id", "domain", "pipeline", "partition_key", "from", "to")
#: Longest text kept of one target value, and of the refusal's message.
VALUE_MAX = 200
MESSAGE_MAX = 500

OUTCOMES = {403: AuditOutcome.REFUSED, 409: AuditOutcome.CONFLICT}

#: URL name -> the action a successful call records, so one filter on ``action`` shows both.
ACTIONS = {
    "work-enqueue": "enqueue",
    "work-backfill": "backfill",
    "work-retry": "retry",
    "work-cancel": "cancel",
}


def _short(value: Any) -> Any:
    text = json.dumps(value, sort_keys=True, default=str)
    return value if len(text) <= VALUE_MAX else text[: VALUE_MAX - 3] + "..."


def _target(request: Request) -> dict[str, Any]:
    """The target named in the body, as far as it can be read: a refused body may be bad."""
    try:
        data = request.data
    except Exception:  # unreadable or unsupported body: the path still says what was tried
        return {}
    if isinstance(data, list):
        return {"items": len(data)}
    if not isinstance(data, dict):
        return {}
    return {key: _short(data[key]) for key in TARGET_KEYS if key in data}


def _work_item_id(target: dict[str, Any], response: Response, view: Any) -> int | None:
    candidates = [
        target.get("work_item_id"),
        (response.data.get("item") or {}).get("id") if isinstance(response.data, dict) else None,
        getattr(view, "kwargs", {}).get("item_id"),
    ]
    for candidate in candidates:
        if isinstance(candidate, int) and not isinstance(candidate, bool) and candidate > 0:
            return candidate
    return None


def on_write_refused(
    sender: Any, *, request: Request, view: Any, response: Response, **kwargs: Any
) -> None:
    error = response.data.get("error", {}) if isinstance(response.data, dict) else {}
    target = _target(request)
    url_name = getattr(getattr(request, "resolver_match", None), "url_name", None) or ""
    audit_refusal(
        actor=api_actor(request),
        action=ACTIONS.get(url_name) or url_name or request.path,
        outcome=OUTCOMES[response.status_code],
        work_item_id=_work_item_id(target, response, view),
        details={
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "code": str(error.get("code", "")),
            "message": str(error.get("message", ""))[:MESSAGE_MAX],
            "target": target,
        },
    )


def connect_refusal_signal() -> None:
    write_refused.connect(on_write_refused, dispatch_uid="workqueue.api.refusals")
