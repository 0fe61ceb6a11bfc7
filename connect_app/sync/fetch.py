"""Fetching a run's issues by id: chunks in order, a few requests in flight, fewer while Jira rate-limits.

The caller writes on its own thread (the database session is never shared) while the next chunks
are fetched by worker threads that only make HTTP requests, each finished request starting the
next. Jira Cloud's limits are points-based: a 429 says the app spends faster than its budget, so
the window of concurrent fetches is additive-increase / multiplicative-decrease: halved when a
request was answered 429 or 503, widened by one after a window's worth of chunks without one.
Each request still honours Retry-After through the client's retry policy.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from flask import current_app

from connect_app.atlassian.client import JiraClient, JiraObserver

log = logging.getLogger(__name__)

FETCH_AHEAD = 4  # the most chunks in flight while the caller writes
READY_AHEAD = 5  # fetched chunks kept waiting for the caller beyond those in flight (a page's worth)
THROTTLED = frozenset({429, 503})


class ThrottleWatch(JiraObserver):
    """Passes a client's reports on to its observer and counts the waits Jira asked for (429, 503)."""

    def __init__(self, inner: JiraObserver):
        self.inner = inner
        self.throttled = 0

    def answered(self, method: str, status: int) -> None:
        """Reported to the client's own observer."""
        self.inner.answered(method, status)

    def waited(self, status: int, seconds: float) -> None:
        """Counted when Jira asked us to slow down, then reported on."""
        if status in THROTTLED:
            self.throttled += 1
        self.inner.waited(status, seconds)


def fetch_ahead(client: JiraClient, chunks: list[list[int]], fields: list[str],
                most: int = FETCH_AHEAD, ready: int = READY_AHEAD) -> Iterator[tuple[list[int], list[dict]]]:
    """Yield each chunk of issue ids with its issues (changelog expanded), in order, fetching ahead.

    At most `most` requests are in flight (fewer while Jira throttles) and up to `ready` answered chunks
    wait for the caller; a request that ends starts the next one at once, so fetching goes on while the
    caller writes. Close the iterator when stopping early (`contextlib.closing`): chunks not started are
    cancelled and the requests under way are waited for. The workers get an app context for the OAuth
    token provider, which may refresh a token through its own database session.
    """
    app = current_app._get_current_object()
    watch = ThrottleWatch(client.observer)
    client.observer = watch

    def fetch(chunk: list[int]) -> list[dict]:
        with app.app_context():
            return client.fetch_issues(chunk, fields, expand=("changelog",))

    lock = threading.RLock()  # re-entered when a request is already over as its callback is added
    queued = iter(chunks)
    pending: deque = deque()  # (chunk, future), in order: in flight, then answered and waiting
    state = {"window": most, "in_flight": 0, "closed": False}
    calm, throttled = 0, 0
    with ThreadPoolExecutor(max_workers=most, thread_name_prefix="sync-fetch") as pool:

        def top_up(finished: Future | None = None) -> None:
            with lock:
                if finished is not None:
                    state["in_flight"] -= 1
                while (not state["closed"] and state["in_flight"] < state["window"]
                       and len(pending) < state["window"] + ready
                       and (chunk := next(queued, None)) is not None):
                    state["in_flight"] += 1
                    future = pool.submit(fetch, chunk)
                    pending.append((chunk, future))
                    future.add_done_callback(top_up)

        try:
            top_up()
            while True:
                with lock:
                    if not pending:
                        return
                    chunk, future = pending.popleft()
                issues = future.result()
                with lock:
                    if watch.throttled > throttled:
                        throttled, state["window"], calm = watch.throttled, max(1, state["window"] // 2), 0
                        log.info("sync.fetch_window", extra={"window": state["window"], "throttled": throttled})
                    elif state["window"] < most and (calm := calm + 1) >= state["window"]:
                        state["window"], calm = state["window"] + 1, 0
                        log.info("sync.fetch_window", extra={"window": state["window"], "throttled": throttled})
                top_up()  # a place freed in the queue of answered chunks
                yield chunk, issues
        finally:
            with lock:
                state["closed"] = True
                for _, future in pending:
                    future.cancel()
            client.observer = watch.inner
