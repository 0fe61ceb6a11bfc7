"""Each HTTP request's id, latency and one log line: the before/after pair the app factory registers.

The request id is the incoming `X-Request-Id` when it is sane (a proxy's or a caller's, so one id spans
their logs and ours), else a fresh one; it is echoed in the response and put in the log context, from
where every log line of the request, and of the jobs it starts, carries it (`logging_setup`).
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, request

from connect_app.logging_setup import enter_context, leave_context, request_id_from
from connect_app.platform import metrics

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-Id"
# Probes and scrapes arrive every few seconds: their lines are debug, or they would drown the rest.
QUIET_ENDPOINTS = frozenset({"health.healthz", "health.readyz", "metrics.scrape"})
MAX_LOGGED_PATH = 300
_STARTED = "cscx.started"
_CONTEXT_TOKEN = "cscx.log_context"
_REQUEST_ID = "cscx.request_id"


def init_app(app: Flask) -> None:
    """Register the hooks; call it before any other before_request, so that every request is timed."""
    app.before_request(_start)
    app.after_request(_finish)
    app.teardown_request(_leave)


def _start() -> None:
    # Kept in the WSGI environ rather than `g`: a test's app context may be shared by several requests.
    request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
    request.environ[_STARTED] = time.perf_counter()
    request.environ[_REQUEST_ID] = request_id
    request.environ[_CONTEXT_TOKEN] = enter_context({"request_id": request_id})


def _finish(response: Response) -> Response:
    started = request.environ.get(_STARTED)
    if started is None:  # a request that never reached the before_request hooks
        return response
    seconds = time.perf_counter() - started
    response.headers[REQUEST_ID_HEADER] = request.environ[_REQUEST_ID]
    metrics.http_request(request.endpoint, request.method, response.status_code, seconds)
    log.log(logging.DEBUG if request.endpoint in QUIET_ENDPOINTS else logging.INFO, "http.request", extra={
        "method": request.method, "path": request.path[:MAX_LOGGED_PATH], "endpoint": request.endpoint,
        "status": response.status_code, "duration_ms": round(seconds * 1000, 1)})
    return response


def _leave(_error: BaseException | None) -> None:
    token = request.environ.pop(_CONTEXT_TOKEN, None)
    if token is not None:
        leave_context(token)
