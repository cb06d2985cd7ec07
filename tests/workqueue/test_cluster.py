"""Real django-q2 clusters against PostgreSQL: exactly-once execution and recovery of dead workers.

Each test starts `manage.py qcluster` subprocesses on the test database, the way several hosts
would run them in production.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from django.db.models import Count

from tests.clusters import ROOT, database_url, wait_for
from workqueue.dispatch import request_drain
from workqueue.leases import reap_expired_leases
from workqueue.models import Execution, WorkItem
from workqueue.services import Actor, EnqueueRequest, work_item_enqueue, work_items_enqueue
from workqueue.states import WorkState

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(300)]


def test_four_worker_processes_run_2000_items_exactly_once(start_cluster):
    work_items_enqueue(
        requests=[
            EnqueueRequest(
                domain="workqueue.diagnostics",
                pipeline="sleep",
                partition_key={"n": n},
                params={"seconds": 0.002},
            )
            for n in range(2000)
        ],
        actor=Actor.cli(),
    )
    # Two clusters of two workers: four worker processes, as on two hosts.
    start_cluster(workers=2)
    start_cluster(workers=2)
    request_drain()

    def all_done() -> bool:
        return not WorkItem.objects.exclude(state=WorkState.COMPLETE).exists()

    wait_for(all_done, timeout=180, what="2,000 items to complete")

    assert WorkItem.objects.filter(state=WorkState.COMPLETE).count() == 2000
    per_item = Execution.objects.values("work_item").annotate(runs=Count("id"))
    assert per_item.count() == 2000
    assert sorted({row["runs"] for row in per_item}) == [1]
    assert Execution.objects.exclude(outcome="SUCCESS").count() == 0
    assert WorkItem.objects.exclude(attempt_count=1).count() == 0
    workers = set(Execution.objects.values_list("worker", flat=True))
    assert len(workers) >= 2, f"work was not shared between worker processes: {workers}"


def test_a_worker_killed_mid_item_is_recovered_by_the_reaper_and_completed(start_cluster, settings):
    lease = {
        "WORKQUEUE_LEASE_SECONDS": "4",
        "WORKQUEUE_HEARTBEAT_SECONDS": "1",
        "WORKQUEUE_RETRY_BASE_SECONDS": "1",
    }
    settings.WORKQUEUE_LEASE_SECONDS = 4.0
    settings.WORKQUEUE_RETRY_BASE_SECONDS = 1.0
    item = work_item_enqueue(
        domain="workqueue.diagnostics",
        pipeline="sleep",
        partition_key={"n": 1},
        params={"seconds": 6},
        actor=Actor.cli(),
    ).item
    start_cluster(workers=1, **lease)
    request_drain()

    wait_for(
        lambda: WorkItem.objects.get(pk=item.pk).state == WorkState.RUNNING,
        timeout=60,
        what="the item to start",
    )
    item.refresh_from_db()
    worker_pid = int(item.locked_by.rsplit(":", 1)[1])
    time.sleep(1.5)
    os.kill(worker_pid, signal.SIGKILL)

    # The killed worker's lease runs out; the reaper (here called as its schedule would)
    # returns the item to the retry path, and a fresh worker completes it.
    wait_for(lambda: reap_expired_leases() == [item.pk], timeout=30, what="the lease to expire")
    item.refresh_from_db()
    assert (item.state, item.attempt_count) == (WorkState.RETRY_WAIT, 1)
    assert f"lease expired: worker {item.executions.get().worker}" in item.last_error
    time.sleep(1.2)
    request_drain()

    def completed() -> bool:
        assert reap_expired_leases() == [], "a live, heart-beating run was reaped"
        return WorkItem.objects.get(pk=item.pk).state == WorkState.COMPLETE

    wait_for(completed, timeout=60, what="the retried item to complete")
    item.refresh_from_db()
    outcomes = list(item.executions.order_by("attempt").values_list("attempt", "outcome"))
    assert outcomes == [(1, "LEASE_EXPIRED"), (2, "SUCCESS")]
    assert item.attempt_count == 2
    assert item.executions.get(attempt=2).worker != f"{item.executions.get(attempt=1).worker}"


def _redis_up() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url("redis://127.0.0.1:6379/15").ping())
    except redis.RedisError:
        return False


@pytest.mark.skipif(not _redis_up(), reason="needs Redis on 127.0.0.1:6379")
def test_the_redis_broker_carries_the_work_when_selected(start_cluster):
    import redis

    url = "redis://127.0.0.1:6379/15"
    redis.Redis.from_url(url).flushdb()
    broker = {"WORKQUEUE_BROKER": "redis", "REDIS_URL": url}
    start_cluster(workers=2, **broker)
    # Enqueue from another process configured for Redis, as a cron job would: the enqueue's
    # commit wakes a worker through the Redis broker, not the database.
    env = {
        **os.environ,
        **broker,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "marketspine.settings_test",
        "WORKQUEUE_KICK_ON_ENQUEUE": "true",
    }
    for n in range(5):
        subprocess.run(
            [sys.executable, "manage.py", "enqueue", "workqueue.diagnostics", "noop",
             "--partition", f'{{"n": {n}}}'],
            cwd=ROOT, env=env, check=True, capture_output=True,
        )  # fmt: skip
    wait_for(
        lambda: WorkItem.objects.filter(state=WorkState.COMPLETE).count() == 5,
        timeout=60,
        what="5 items to complete through the Redis broker",
    )
    from django_q.models import OrmQ

    assert OrmQ.objects.count() == 0  # nothing went through the database broker
    assert Execution.objects.filter(outcome="SUCCESS").count() == 5
