"""``GET /metrics``: the queue's and FINRA's collectors in the Prometheus text format.

A fresh registry per scrape, so nothing is counted in the process: the numbers come from the
database and are the same whichever web process answers. With ``METRICS_TOKEN`` set, a scrape
must send ``Authorization: Bearer <token>``; without it the endpoint is open.
"""

from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from finra.metrics import FinraCollector
from workqueue.metrics import WorkQueueCollector

logger = logging.getLogger(__name__)


def _authorized(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if not token:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not _authorized(request):
        return HttpResponse(
            "metrics need Authorization: Bearer <METRICS_TOKEN>\n",
            status=401,
            content_type="text/plain; charset=utf-8",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkQueueCollector())
    registry.register(FinraCollector())
    # The format the scraper asks for (Prometheus offers OpenMetrics); text 0.0.4 by default.
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    try:
        body = encoder(registry)
    except DatabaseError:
        logger.exception("database unavailable during a metrics scrape")
        return HttpResponse(
            "database unavailable\n", status=503, content_type="text/plain; charset=utf-8"
        )
    return HttpResponse(body, content_type=content_type)
