"""Real qcluster processes on PostgreSQL, stopped and restarted: SIGTERM during a drain, a
database restart mid-run, a Redis restart mid-run, and a long run that must never be reaped."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest
from django.db import connection
from django.db.models import Count, Max
from django.utils import timezone
from django_q.models import Schedule

from tests.clusters import cluster_env, manage, wait_for
from workqueue.dispatch import request_drain
from workqueue.leases import reap_expired_leases
from workqueue.models import DispatchSignal, Execution, WorkItem
from workqueue.services import Actor, EnqueueRequest, work_item_enqueue, work_items_enqueue
from workqueue.states import WorkState

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(300)]


def enqueue_sleepers(count: int, seconds: float) -> list[int]:
    items = work_items_enqueue(
        requests=[
            EnqueueRequest(
                domain="workqueue.diagnostics",
                pipeline="sleep",
                partition_key={"n": n},
                params={"seconds": seconds},
            )
            for n in range(count)
        ],
        actor=Actor.cli(),
    )
    return [result.item.pk for result in items]


def assert_each_completed_exactly_once(count: int) -> None:
    assert WorkItem.objects.filter(state=WorkState.COMPLETE).count() == count
    successes = Execution.objects.filter(outcome="SUCCESS").values("work_item")
    assert successes.annotate(runs=Count("id")).filter(runs=1).count() == count


def wait_for_exit(process: subprocess.Popen, timeout: float) -> float:
    """Wait for ``process`` to exit; returns when it did (wall clock, like the database's)."""
    process.wait(timeout=timeout)
    return time.time()


@pytest.mark.parametrize("to_whom", ["main process", "process group"])
def test_sigterm_during_a_drain_stops_promptly_and_hands_back_unstarted_items(
    start_cluster, to_whom
):
    """SIGTERM reaches only the main process under Kubernetes or ``docker stop``, the whole
    process group under ``kill -TERM -PGID`` or systemd: either way the cluster claims nothing
    new, hands back what it claimed and had not started, and exits soon after its last item."""
    count = 30
    enqueue_sleepers(count, seconds=1)
    # Batches that grow to several 1-second items, so a stop finds claimed, unstarted ones.
    settings = {"WORKQUEUE_BATCH_TARGET_SECONDS": "10"}
    cluster = start_cluster(workers=2, **settings)
    wait_for(
        lambda: WorkItem.objects.filter(state=WorkState.RUNNING).count() >= 4,
        timeout=60,
        what="two workers to hold batches",
    )
    claimed_at_signal = set(
        WorkItem.objects.filter(state=WorkState.RUNNING).values_list("pk", flat=True)
    )
    signalled_at = timezone.now()
    if to_whom == "main process":
        os.kill(cluster.pid, signal.SIGTERM)
    else:
        os.killpg(cluster.pid, signal.SIGTERM)
    exited_at = wait_for_exit(cluster, timeout=60)

    last_finish = Execution.objects.aggregate(last=Max("finished_at"))["last"]
    assert exited_at - last_finish.timestamp() <= 10, "exit came too long after the last item"
    assert not WorkItem.objects.filter(state=WorkState.RUNNING).exists()
    assert not Execution.objects.filter(outcome="RUNNING").exists()
    assert set(Execution.objects.values_list("outcome", flat=True)) == {"SUCCESS"}
    unfinished = WorkItem.objects.exclude(state=WorkState.COMPLETE)
    assert unfinished.exists(), "the stop came too late to test anything"
    assert set(unfinished.values_list("state", "attempt_count")) == {(WorkState.PENDING, 0)}
    handed_back = claimed_at_signal & set(unfinished.values_list("pk", flat=True))
    assert handed_back, "no claimed item was left unstarted at the signal"
    # No drain was queued after the signal (a drain queued sets requested_at).
    signal_row = DispatchSignal.objects.get(pk=1)
    assert signal_row.requested_at is None or signal_row.requested_at < signalled_at

    start_cluster(workers=2, **settings)  # it drains at once on start: no request needed
    wait_for(
        lambda: WorkItem.objects.filter(state=WorkState.COMPLETE).count() == count,
        timeout=120,
        what="every item to complete after the restart",
    )
    assert_each_completed_exactly_once(count)
    assert not WorkItem.objects.exclude(attempt_count=1).exists()


def test_a_starting_cluster_drains_due_work_at_once(start_cluster):
    item = work_item_enqueue(
        domain="workqueue.diagnostics", pipeline="noop", partition_key={"n": 1}, actor=Actor.cli()
    ).item
    # No schedule, and nothing here asks for a drain: only the cluster's own start-up drain
    # can run the item.
    Schedule.objects.all().delete()
    assert not DispatchSignal.objects.filter(drain_queued=True).exists()

    start_cluster(workers=1)

    wait_for(
        lambda: WorkItem.objects.get(pk=item.pk).state == WorkState.COMPLETE,
        timeout=60,
        what="the item to complete",
    )


def terminate_cluster_connections() -> int:
    """What a PostgreSQL restart does to its clients: every other connection is cut."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_cut_database_connections_mid_run_lose_nothing(start_cluster, settings):
    """A database restart mid-run, made by cutting every connection of the cluster with
    ``pg_terminate_backend``: that is what a restart does to clients, without restarting the
    server every test on this machine shares. Items in flight fail or lose their lease and are
    retried; each completes exactly once, none ends FAILED."""
    recovery = {
        "WORKQUEUE_LEASE_SECONDS": "4",
        "WORKQUEUE_HEARTBEAT_SECONDS": "1",
        "WORKQUEUE_RETRY_BASE_SECONDS": "1",
        "WORKQUEUE_RETRY_FACTOR": "1",
        "WORKQUEUE_DRAIN_SECONDS": "3",
    }
    settings.WORKQUEUE_LEASE_SECONDS = 4.0  # this process reaps, as the schedule would
    settings.WORKQUEUE_RETRY_BASE_SECONDS = 1.0
    settings.WORKQUEUE_RETRY_FACTOR = 1.0
    count = 60
    enqueue_sleepers(count, seconds=0.3)
    cluster = start_cluster(workers=2, **recovery)
    wait_for(
        lambda: WorkItem.objects.filter(state=WorkState.COMPLETE).count() >= 10,
        timeout=60,
        what="the run to get going",
    )
    cut = terminate_cluster_connections()
    time.sleep(1)
    cut += terminate_cluster_connections()
    assert cut >= 2

    def all_done() -> bool:
        # The reaper and the drain schedules, run more often than their one minute.
        reap_expired_leases()
        request_drain()
        return WorkItem.objects.filter(state=WorkState.COMPLETE).count() == count

    wait_for(all_done, timeout=180, what="every item to complete after the cut")
    assert cluster.poll() is None, "the cluster died with its connections"
    assert_each_completed_exactly_once(count)
    assert not WorkItem.objects.filter(state=WorkState.FAILED).exists()
    assert set(Execution.objects.values_list("outcome", flat=True)) <= {
        "SUCCESS",
        "FAILED",
        "LEASE_EXPIRED",
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def private_redis(tmp_path) -> Iterator[tuple[int, Callable[[], None]]]:
    """A redis-server of the test's own on a free port (never the shared one), and a function
    that restarts it."""
    port = free_port()
    state: dict[str, subprocess.Popen] = {}

    def start() -> None:
        state["process"] = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        import redis

        client = redis.Redis(port=port)
        wait_for(lambda: _pings(client), timeout=10, what="redis-server to start")

    def restart() -> None:
        state["process"].terminate()
        state["process"].wait(timeout=10)
        time.sleep(2)  # down for a moment, as in a real restart
        start()

    start()
    yield port, restart
    state["process"].terminate()
    state["process"].wait(timeout=10)


def _pings(client) -> bool:
    import redis

    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_a_redis_restart_mid_run_loses_nothing(private_redis, start_cluster):  # redis outlives it
    port, restart_redis = private_redis
    broker = {"WORKQUEUE_BROKER": "redis", "REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    count = 40
    enqueue_sleepers(count, seconds=0.3)
    # Short drains, so work keeps being handed over through the broker while it restarts.
    start_cluster(workers=2, WORKQUEUE_DRAIN_SECONDS="1", **broker)
    wait_for(
        lambda: WorkItem.objects.filter(state=WorkState.COMPLETE).count() >= 5,
        timeout=60,
        what="the run to get going",
    )
    restart_redis()
    wait_for(
        lambda: WorkItem.objects.filter(state=WorkState.COMPLETE).count() == count,
        timeout=120,
        what="every item to complete across the restart",
    )
    # Work still flows through the restarted Redis: an enqueue from another process (as cron's
    # would) wakes the cluster through it.
    env = cluster_env(WORKQUEUE_KICK_ON_ENQUEUE="true", **broker)
    manage("enqueue", "workqueue.diagnostics", "noop", "--partition", '{"n": 1000}', env=env)
    wait_for(
        lambda: WorkItem.objects.filter(state=WorkState.COMPLETE).count() == count + 1,
        timeout=60,
        what="an item enqueued after the restart to complete",
    )
    assert_each_completed_exactly_once(count + 1)
    assert not WorkItem.objects.exclude(attempt_count=1).exists()


@pytest.mark.timeout(480)
def test_a_five_minute_sql_statement_on_a_30_second_lease_is_never_reaped(start_cluster):
    """The faithful version: one pipeline holds a single five-minute SQL statement (its worker's
    main thread and connection busy throughout) while the lease is 30 s. The heartbeat renews
    it from its own thread and connection; the reaper, called every second here, never takes
    it, and the item completes once."""
    seconds = 300
    item = work_item_enqueue(
        domain="tests.queue",
        pipeline="sql_sleep",
        partition_key={"week": "long"},
        params={"seconds": seconds},
        actor=Actor.cli(),
    ).item
    start_cluster(workers=1, WORKQUEUE_LEASE_SECONDS="30")
    wait_for(
        lambda: WorkItem.objects.get(pk=item.pk).state == WorkState.RUNNING,
        timeout=60,
        what="the item to start",
    )
    started: datetime = WorkItem.objects.get(pk=item.pk).locked_at

    def finished() -> bool:
        assert reap_expired_leases() == [], "a live, heart-beating run was reaped"
        return WorkItem.objects.get(pk=item.pk).state != WorkState.RUNNING

    wait_for(finished, timeout=seconds + 120, what="the five-minute statement to finish")
    item.refresh_from_db()
    assert (item.state, item.attempt_count) == (WorkState.COMPLETE, 1)
    execution = item.executions.get()
    assert execution.outcome == "SUCCESS" and execution.duration_seconds >= seconds
    assert (execution.finished_at - started).total_seconds() >= seconds
