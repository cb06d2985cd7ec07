"""Whether the cluster this process belongs to is stopping.

A drain reads :func:`stop_requested` before each claim and before each item it starts, so a
stopping cluster claims nothing new and hands back what it claimed but did not start. The
flag is set by :func:`request_stop`, which the cluster's SIGTERM handler calls in whichever of
its processes the signal reaches (see ``workqueue.cluster``). It is a plain module attribute:
a signal handler may set it while the same thread is anywhere, even inside a lock.
"""

from __future__ import annotations

_stopping = False


def request_stop() -> None:
    """The cluster is stopping: claim nothing more in this process."""
    global _stopping
    _stopping = True


def stop_requested() -> bool:
    return _stopping


def clear_stop() -> None:
    """Forget a stop request (tests run drains in one process, one after another)."""
    global _stopping
    _stopping = False
