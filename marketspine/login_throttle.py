"""Sign-in lockout wiring for django-axes (settings: ``AXES_*``, see README "Security").

Axes counts failed sign-ins per (username, client address) and refuses that pair once the limit
is reached. The address is the one the audit log records, so a client cannot dodge the count by
sending a fresh X-Forwarded-For with every guess.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR, or the X-Forwarded-For entry added by the nearest untrusted hop when the
    request came through a proxy listed in ``API_TRUSTED_PROXIES``."""
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


class LoginThrottleBackend(AxesStandaloneBackend):
    """Axes' lockout check for sign-ins that come over HTTP.

    A call without a request (the test client's ``login``, a shell) has no client address to
    count against; axes would raise, so it is passed on to the next backend unchecked.
    """

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> Any:
        if request is None:
            return None
        return super().authenticate(request, *args, **kwargs)
