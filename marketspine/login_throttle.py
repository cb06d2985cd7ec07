"""Sign-in lockout wiring for django-axes (settings: ``AXES_*``, see README "Security").

Axes counts failed sign-ins per (username, client address) and refuses that pair once the limit
is reached. The address is the one the audit log records, so a client cannot dodge the count by
sending a fresh X-Forwarded-For with every guess.
"""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.http import HttpRequest


class LoginThrottleBackend(AxesStandaloneBackend):
    """Axes' lockout check for sign-ins that come over HTTP.

    A call without a request (the test client's ``login``, a shell) has no client address to
    count against; axes would raise, so it is passed on to the next backend unchecked.
    """

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> Any:
        if request is None:
            return None
        return super().authenticate(request, *args, **kwargs)
