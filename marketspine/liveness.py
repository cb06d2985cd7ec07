"""``GET /healthz``: the process is up and answering. No data, no database, no login.

Kubernetes' kubelet (and any load balancer's health check) calls it over plain HTTP on the pod's
own address, so the request carries ``Host: <pod IP>`` and no ``X-Forwarded-Proto``. Served
through the whole middleware stack it would be refused by host validation (400, the pod IP is
not in ``ALLOWED_HOSTS``) or redirected to https (301). :class:`LivenessMiddleware`, first in
``MIDDLEWARE``, answers it before either runs; every other path still goes through both.

Readiness (the database is reachable, the queue has workers) is ``GET /api/v1/health``, which
needs a token.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_safe

LIVENESS_PATH = "/healthz"


@require_safe
def liveness(request: HttpRequest) -> HttpResponse:
    """Answers without reading the request's host, session, user or the database."""
    response = JsonResponse({"status": "alive"})
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


class LivenessMiddleware:
    """Answers ``GET``/``HEAD /healthz`` before host validation and the https redirect.

    Only those two methods on that exact path: anything else (another method, a trailing
    slash, a query for another page) falls through to the normal stack and its checks.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == LIVENESS_PATH and request.method in {"GET", "HEAD"}:
            return liveness(request)
        return self.get_response(request)
