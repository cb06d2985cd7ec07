"""Small factories for tests: real service calls, so the objects are what users would get."""

from __future__ import annotations

import itertools
from typing import Any

from workqueue.models import WorkItem
from workqueue.runner import claim_batch
from workqueue.services import Actor, work_item_enqueue
from workqueue.tokens import api_token_create


def enqueue(pipeline: str = "flaky", week: str = "2025-12-12", **kwargs: Any) -> WorkItem:
    kwargs.setdefault("actor", Actor.cli())
    return work_item_enqueue(
        domain="tests.queue", pipeline=pipeline, partition_key={"week": week}, **kwargs
    ).item


def claim_one(worker_id: str = "test-host:1") -> WorkItem:
    items = claim_batch(worker_id=worker_id, limit=1)
    assert len(items) == 1, "expected one claimable item"
    return items[0]


_token_numbers = itertools.count(1)


def api_key(user: Any, name: str | None = None) -> str:
    """A new API token's key for ``user``, as ``create_api_token`` issues one."""
    name = name or f"tests-{next(_token_numbers)}"
    return api_token_create(user=user, name=name, actor=Actor.system("tests"))[1]
