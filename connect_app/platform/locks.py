"""Named mutual exclusion across every worker: a Redis lock with REDIS_URL, a process-local lock without.

Embedded mode runs every job in one process (threads), so a lock in this process is enough there;
with Redis, workers on any machine share redis-py's lock (SET NX with an expiry, so a dead holder
frees it). Used where order matters and a row claim is not enough, e.g. two writers sending
different values of one Jira property must not interleave.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app

from connect_app.platform.jobs import queue

LOCK_PREFIX = "cscx-jira:lock:"
_local: dict[str, threading.Lock] = {}
_registry = threading.Lock()


class LockTimeout(Exception):
    """The lock was not free within the wait allowed."""


@contextmanager
def held(name: str, *, wait_s: float = 60.0, expire_s: float = 600.0) -> Iterator[None]:
    """Hold the lock `name` for the block; waits up to `wait_s`, else raises LockTimeout."""
    if current_app.config.get("REDIS_URL"):
        lock = queue(current_app).connection.lock(LOCK_PREFIX + name, timeout=expire_s, blocking_timeout=wait_s)
        if not lock.acquire():
            raise LockTimeout(name)
        try:
            yield
        finally:
            lock.release()
        return
    with _registry:
        lock = _local.setdefault(name, threading.Lock())
    if not lock.acquire(timeout=wait_s):
        raise LockTimeout(name)
    try:
        yield
    finally:
        lock.release()
