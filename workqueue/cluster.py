"""A django-q2 cluster that stops promptly and starts draining at once (``manage.py qcluster``).

How django-q2 1.11 stops, and what is changed here
--------------------------------------------------
The main process catches SIGTERM and sets the cluster's stop event; its sentinel then stops
the pusher, puts one STOP pill per worker behind whatever tasks the pusher had fetched ahead,
and waits for the workers. A worker learns nothing until it reads its pill: it finishes the
drain it runs (up to its whole time budget), then the drains fetched ahead, before it exits.
And when the whole process group gets SIGTERM (``kill -TERM -PGID``, systemd), the sentinel,
pusher, monitor and workers die at once (django-q2 leaves SIGTERM at its default there), the
items they ran left RUNNING until their lease ends.

:class:`GracefulSentinel` installs one SIGTERM handler before it forks, so the pusher, the
monitor and the workers inherit it. In whichever process the signal lands it sets this
process's stop flag (``workqueue.shutdown``); in the sentinel it also sets the cluster's stop
event. When the sentinel begins stopping it sends SIGTERM to each worker, so a worker learns of
the stop however the signal came: to the main process only (Kubernetes, ``docker stop``) or to
the group. A drain checks the flag before each claim and each item (``workqueue.runner.drain``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from types import FrameType
from typing import Any

import django_q.cluster as q_cluster
from django.db import connections

from workqueue.dispatch import cluster_started
from workqueue.shutdown import request_stop

logger = logging.getLogger(__name__)


class GracefulSentinel(q_cluster.Sentinel):
    """django-q2's sentinel, with a SIGTERM handler its children inherit (see module doc)."""

    def __init__(self, *args: Any, start: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, start=False, **kwargs)  # sets SIGTERM to its default
        signal.signal(signal.SIGTERM, self._on_sigterm)
        if start:
            self.start()

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        request_stop()
        if os.getpid() != self.pid:
            # A child (worker, pusher, monitor) only notes the stop. Were it to set the stop
            # event, it could exit holding the event's cross-process lock, and the main
            # process would wait on that lock forever.
            return
        # Event.set takes a lock this thread may hold right now (inside stop_event.wait):
        # set it from another thread, which waits for the lock instead of deadlocking.
        threading.Thread(target=self.stop_event.set, name="stop-cluster", daemon=True).start()

    def stop(self) -> None:
        """Tell every worker first, then stop the way django-q2 does."""
        for process in list(self.pool):
            with contextlib.suppress(ProcessLookupError):  # already gone
                os.kill(process.pid, signal.SIGTERM)
        super().stop()


class GracefulCluster(q_cluster.Cluster):
    """django-q2's cluster with :class:`GracefulSentinel`, and a drain queued once it runs."""

    def start(self) -> int:
        # Cluster.start forks the class it finds under the name Sentinel in django_q.cluster:
        # point that name at ours for the fork, and put it back.
        original = q_cluster.Sentinel
        q_cluster.Sentinel = GracefulSentinel  # type: ignore[misc]
        try:
            pid = super().start()
        finally:
            q_cluster.Sentinel = original  # type: ignore[misc]
        if self.is_running:
            self._kick()
        return pid

    def _kick(self) -> None:
        """Due work starts now, not at the next run of the one-minute schedules."""
        try:
            cluster_started()
        except Exception:  # the schedules will do it; a cluster must not fail to start for it
            logger.exception("could not queue the start-up drain")
        finally:
            connections.close_all()  # the main process holds no connection while it waits
