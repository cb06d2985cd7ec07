"""gunicorn settings for Market Spine's web processes (the API, the admin, /metrics, /healthz).

    gunicorn -c deploy/gunicorn.conf.py marketspine.wsgi

Command-line flags win over this file. The work itself runs in ``manage.py qcluster``, never in a
web worker, so a request is short: the longest are a CSV export (at most 200,000 rows, streamed)
and a bulk enqueue or backfill of 1,000 partitions, both seconds on PostgreSQL.
"""

from __future__ import annotations

import os
import sys


def _seconds(name: str, default: int) -> int:
    """A whole number of seconds from the environment; a bad one stops gunicorn with one line
    (this file is read before the project is importable, so it cannot use marketspine.env)."""
    raw = os.environ.get(name, str(default)).strip()
    if not raw.isdigit() or int(raw) < 1:
        sys.stderr.write(
            f"gunicorn.conf.py: configuration error: {name}={raw!r} must be a whole number "
            "of seconds, at least 1\n"
        )
        raise SystemExit(1)
    return int(raw)


def _default_workers() -> int:
    """gunicorn's rule of thumb, 2 x CPUs + 1, on the CPUs this process may use (a container's
    quota is not visible here: set WEB_CONCURRENCY to match its CPU limit)."""
    return 2 * len(os.sched_getaffinity(0)) + 1


bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# WEB_CONCURRENCY is the variable gunicorn itself reads (and checks) for its worker count.
workers = int(os.environ.get("WEB_CONCURRENCY", _default_workers()))
# A sync worker silent this long is killed and replaced: well above the slowest request above.
timeout = _seconds("GUNICORN_TIMEOUT_SECONDS", 60)
# On SIGTERM, requests in flight get this long to finish; keep it under the pod's
# terminationGracePeriodSeconds.
graceful_timeout = _seconds("GUNICORN_GRACEFUL_TIMEOUT_SECONDS", 30)

# The TLS proxy may reuse a connection for a few seconds; an idle connection held longer would
# keep a sync worker from serving anyone.
keepalive = 5
# Recycle each worker after about a thousand requests (jittered so they do not all restart at
# once), which bounds any slow growth in memory.
max_requests = 1000
max_requests_jitter = 100
# The workers' heartbeat files on tmpfs: a container's disk can stall them into false timeouts.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"
accesslog = "-"
errorlog = "-"
