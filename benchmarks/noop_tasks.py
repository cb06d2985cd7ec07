"""No-op tasks for the baselines in queue_throughput.py (bare django-q2 and Procrastinate)."""

from __future__ import annotations

import os


def django_q_noop() -> None:
    return None


def _procrastinate_app():  # built lazily: procrastinate is a benchmark-only dependency
    from procrastinate import App, PsycopgConnector

    app = App(connector=PsycopgConnector(conninfo=os.environ["BENCH_PROCRASTINATE_DSN"]))

    @app.task(name="noop")
    def noop() -> None:
        return None

    return app


app = _procrastinate_app() if os.environ.get("BENCH_PROCRASTINATE_DSN") else None
