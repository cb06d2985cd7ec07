"""The client's address, as the audit log, the sign-in lockout and the API all record it."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings


def client_address(request: Any) -> str | None:
    """REMOTE_ADDR, or the X-Forwarded-For entry added by the nearest untrusted hop when the
    request came through a proxy listed in ``API_TRUSTED_PROXIES``.

    Only proxies the deployer lists are believed, so a client cannot choose the address its
    attempts are counted and audited under by sending the header itself.
    """
    if request is None:
        return None
    address = request.META.get("REMOTE_ADDR")
    trusted = set(settings.API_TRUSTED_PROXIES)
    if address in trusted:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        for hop in reversed([h for h in hops if h]):
            address = hop
            if hop not in trusted:
                break
    try:
        return str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        return None
