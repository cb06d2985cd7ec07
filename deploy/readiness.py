#!/usr/bin/env python
"""Readiness probe of a web pod: ``GET /api/v1/health`` on this pod, with a token.

    MARKET_SPINE_TOKEN=... PROBE_HOST=spine.example.com python deploy/readiness.py

Exit 0 when the pod may take traffic: the app answers the token and reaches its database. The
health endpoint also answers 503 when due work has no live worker; that is the workers'
problem, not this pod's, and taking every web pod out of the Service would only hide the API and
the admin that show it (the ``MarketSpineWorkerHeartbeatStale`` alert pages for it instead).
Exit 1 otherwise, with the reason on stderr (the pod's events show it).

Standard library only, so the probe starts fast and imports nothing of Django. The request goes
to the pod's own plain-HTTP port the way the TLS proxy sends it: ``Host`` one of the
``ALLOWED_HOSTS`` (``PROBE_HOST``, default the first of ``ALLOWED_HOSTS``) and
``X-Forwarded-Proto: https``, which the app believes only when it is set to trust the proxy.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8000/api/v1/health"


def is_ready(status: int, body: dict[str, Any]) -> tuple[bool, str]:
    """The verdict for one answer of ``/api/v1/health``, and why."""
    if status == 200:
        return True, "healthy"
    if status == 503 and body.get("database") == "ok":
        problems = "; ".join(body.get("problems") or []) or "unhealthy"
        return True, f"ready (database ok; the queue reports: {problems})"
    error = body.get("error") or {}
    reason = error.get("message") or "; ".join(body.get("problems") or []) or "no reason given"
    return False, f"HTTP {status}: {reason}"


def probe(url: str, *, token: str, host: str | None, timeout: float) -> tuple[bool, str]:
    headers = {"Authorization": f"Token {token}", "X-Forwarded-Proto": "https"}
    if host:
        headers["Host"] = host
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return is_ready(response.status, _json(response.read()))
    except urllib.error.HTTPError as answer:
        return is_ready(answer.code, _json(answer.read()))
    except (urllib.error.URLError, OSError) as exc:
        return False, f"no answer from {url}: {getattr(exc, 'reason', exc)}"


def _json(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def main() -> int:
    token = os.environ.get("MARKET_SPINE_TOKEN", "").strip()
    if not token:
        print("readiness: MARKET_SPINE_TOKEN is not set", file=sys.stderr)
        return 1
    allowed = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
    host = os.environ.get("PROBE_HOST") or (allowed[0].lstrip(".") if allowed else None)
    ready, reason = probe(
        os.environ.get("PROBE_URL", DEFAULT_URL),
        token=token,
        host=host,
        timeout=float(os.environ.get("PROBE_TIMEOUT_SECONDS", "5")),
    )
    print(f"readiness: {reason}", file=sys.stdout if ready else sys.stderr)
    return 0 if ready else 1


if __name__ == "__main__":
    sys.exit(main())
