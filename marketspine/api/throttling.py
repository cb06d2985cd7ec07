"""Per-token request budget for the API: 429 ``throttled`` with Retry-After once it is spent.

A fixed window counted with one cache increment per request (DRF's SimpleRateThrottle keeps a
list of every request time in the window, which at thousands per minute costs more than the
request). The count lives in the default cache: local memory counts per process, a Redis
``CACHE_URL`` counts once for every gunicorn worker.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle


def _caller(request: Any) -> str | None:
    """Whose budget a request spends: its token's, else its signed-in user's (sessions)."""
    token_id = getattr(request.auth, "pk", None)
    if token_id is not None:
        return f"token:{token_id}"
    user = request.user
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return None  # anonymous: refused by authentication, nothing to count


class TokenRateThrottle(BaseThrottle):
    def allow_request(self, request: Any, view: Any) -> bool:
        rate = settings.API_THROTTLE_RATE
        caller = _caller(request)
        if rate is None or caller is None:
            return True
        limit, period = rate
        now = time.time()
        window = int(now // period)
        key = f"api-throttle:{caller}:{period}:{window}"
        try:
            count = cache.incr(key)
        except ValueError:  # first request of the window (or an evicted counter)
            # add() loses only to a concurrent first request, whose counter then exists.
            count = 1 if cache.add(key, 1, timeout=period + 1) else cache.incr(key)
        self._wait = (window + 1) * period - now
        return count <= limit

    def wait(self) -> float | None:
        return max(1.0, self._wait)
