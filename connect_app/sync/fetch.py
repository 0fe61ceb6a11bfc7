"""Fetching a run's issues by id: chunks in order, a few requests in flight, fewer while Jira rate-limits.

The caller writes each chunk on its own thread (the database session is never shared) while the
next chunks are fetched by worker threads that only make HTTP requests. Jira Cloud's limits are
points-based: a 429 says the app spends faster than its budget, so the window of concurrent
fetches is additive-increase / multiplicative-decrease: halved when a request was answered 429
or 503, widened by one after a window's worth of chunks without one. Each request still honours
Retry-After through the client's retry policy.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from flask import current_app

from connect_app.atlassian.client import JiraClient, JiraObserver

log = logging.getLogger(__name__)

FETCH_AHEAD = 4  # the most chunks in flight while the caller writes one
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
                most: int = FETCH_AHEAD) -> Iterator[tuple[list[int], list[dict]]]:
    """Yield each chunk of issue ids with its issues (changelog expanded), in order, fetching ahead.

    Close the iterator when stopping early (`contextlib.closing`): chunks not started are cancelled and the
    requests under way are waited for. The workers get an app context for the OAuth token provider, which
    may refresh a token through its own database session.
    """
    app = current_app._get_current_object()
    watch = ThrottleWatch(client.observer)
    client.observer = watch

    def fetch(chunk: list[int]) -> list[dict]:
        with app.app_context():
            return client.fetch_issues(chunk, fields, expand=("changelog",))

    window, calm, throttled = most, 0, 0
    queued = iter(chunks)
    pending: deque = deque()
    with ThreadPoolExecutor(max_workers=most, thread_name_prefix="sync-fetch") as pool:
        try:
            while True:
                while len(pending) < window and (chunk := next(queued, None)) is not None:
                    pending.append((chunk, pool.submit(fetch, chunk)))
                if not pending:
                    return
                chunk, future = pending.popleft()
                issues = future.result()
                if watch.throttled > throttled:
                    throttled, window, calm = watch.throttled, max(1, window // 2), 0
                    log.info("sync.fetch_window", extra={"window": window, "throttled": throttled})
                elif window < most and (calm := calm + 1) >= window:
                    window, calm = window + 1, 0
                    log.info("sync.fetch_window", extra={"window": window, "throttled": throttled})
                yield chunk, issues
        finally:
            client.observer = watch.inner
            for _, future in pending:
                future.cancel()
