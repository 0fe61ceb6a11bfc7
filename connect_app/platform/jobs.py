"""The job seam: run work in-process (embedded mode) or on an RQ queue (REDIS_URL set).

Two ways to start a job:
- `enqueue(func, *args)`: on RQ with REDIS_URL; without it, runs *now*, in the caller's thread,
  before `enqueue` returns (so the caller sees its effects).
- `submit(func, *args)`: on RQ with REDIS_URL; without it, runs *soon* on a small thread pool
  of this process, in its own app context, after `submit` returns. For work whose durable state
  is already committed (an inbox row, an outbox message), so a crash before it runs loses
  nothing: a periodic sweep finds the row and submits it again.
- `submit_once(func)`: `submit` for a job that drains a table (no arguments): at most one such
  job waits to start at any time, however many callers ask. A burst of a thousand webhooks
  starts a few drains, not a thousand jobs.

Either way a job runs with the log context of the code that started it (the request id, a delivery
id): handed over explicitly, in the RQ job's meta or to the pool thread, since neither inherits it.
"""

from __future__ import annotations

import gc
import importlib
import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask, current_app, has_app_context
from redis import Redis
from rq import Queue, SimpleWorker, get_current_job

from connect_app.extensions import db
from connect_app.logging_setup import carried_context, context_scope, new_request_id

log = logging.getLogger(__name__)

JOB_TIMEOUT_SECONDS = 15 * 60
# Jobs queued in Redis before the one-package-per-capability layout name their functions by the
# old paths (and RQ names `connect_app.jobs.run_job`, kept importable for them). Drain-safe for
# one release: remove these in the release after 2026.12.
MOVED_JOBS = {
    "connect_app.webhooks.process.process_delivery": "connect_app.tracking.process.process_delivery",
    "connect_app.outbox.deliver_message": "connect_app.delivery.outbox.deliver_message",
    "connect_app.reconcile.reconcile_connection": "connect_app.tracking.reconcile.reconcile_connection",
    "connect_app.reconcile.reconcile_due": "connect_app.tracking.reconcile.reconcile_due",
    "connect_app.sweeps.sweep": "connect_app.tracking.sweeps.sweep",
    "connect_app.sync.sync_due_connections": "connect_app.sync.engine.sync_due_connections",
    "connect_app.sync.sync_connection_job": "connect_app.sync.engine.sync_connection_job",
    "connect_app.sync.sync_customer_job": "connect_app.sync.engine.sync_customer_job",
    "connect_app.retention.purge_uninstalled_connections":
        "connect_app.connections.retention.purge_uninstalled_connections",
    "connect_app.jira_webhooks.refresh_expiring_webhooks":
        "connect_app.connections.webhook_registration.refresh_expiring_webhooks",
}
BACKGROUND_THREADS = 4
# A waiting `submit_once` job is presumed lost (its queue flushed, its worker gone) after this long,
# and the next caller queues another; the drain it would have done is idempotent.
ONCE_TTL_MS = 30_000
LOG_CONTEXT_META = "log_context"  # the RQ job meta key holding the enqueuer's log context
_worker_app: Flask | None = None
_pool_lock = threading.Lock()


def job_path(func: Callable[..., Any] | str) -> str:
    """The importable dotted path of a job function."""
    if isinstance(func, str):
        return func
    return f"{func.__module__}.{func.__qualname__}"


def enqueue(func: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> str | None:
    """Run a job now (no REDIS_URL) or put it on the RQ queue; returns the RQ job id if queued.

    Call it after the transaction that justifies the job has committed: a queued job must never
    see data that was rolled back.
    """
    path = job_path(func)
    redis_url = current_app.config.get("REDIS_URL")
    if not redis_url:
        log.debug("job.inline", extra={"job": path})
        with context_scope(carried_context()):  # what the job binds stays in the job
            _resolve(path)(*args, **kwargs)
        return None
    job = queue(current_app).enqueue(
        run_job, path, args, kwargs, job_timeout=JOB_TIMEOUT_SECONDS, description=path,
        meta={LOG_CONTEXT_META: carried_context()},
    )
    log.info("job.enqueued", extra={"job": path, "job_id": job.id})
    return job.id


def submit(func: Callable[..., Any] | str, *args: Any) -> str | None:
    """Run a job soon, off the caller's thread: on RQ (REDIS_URL) or this process's background pool.

    Only for jobs whose inputs are committed rows that a sweep can find again (see the module
    docstring); returns the RQ job id when queued.
    """
    path = job_path(func)
    if current_app.config.get("REDIS_URL"):
        return enqueue(path, *args)
    _resolve(path)  # refuse foreign paths now, in the caller
    app = current_app._get_current_object()
    pool = background_pool(app)
    if pool is None:
        # Shutting down: the job's rows are committed, and the sweep finds them on the next start.
        log.info("job.left_for_the_sweep", extra={"job": path})
        return None
    pool.submit(_run_in_background, app, path, args, carried_context())
    return None


def submit_once(func: Callable[..., Any] | str) -> bool:
    """Start a no-argument drain job unless one is already waiting to start; True if this call queued it.

    The job clears its "waiting" mark when it starts, before it looks at the table, so work
    committed after that mark was cleared gets a job of its own and nothing is left behind. On
    RQ the mark is a Redis key (several workers may drain at once, each on its own claims); in
    embedded mode one drain runs at a time per process (SQLite has one writer) and one more may wait.
    """
    path = job_path(func)
    _resolve(path)  # refuse foreign paths now, in the caller
    app = current_app._get_current_object()
    if app.config.get("REDIS_URL"):
        mark = uuid.uuid4().hex  # the job clears this mark only, never a newer caller's
        if not queue(app).connection.set(_once_key(app, path), mark, nx=True, px=ONCE_TTL_MS):
            return False
        try:
            with context_scope({}):  # a drain serves many callers: it gets a request id of its own
                enqueue(run_once, path, mark)
        except Exception:
            queue(app).connection.delete(_once_key(app, path))
            raise
        return True
    state = _once_state(app)
    with state.lock:
        if path in state.waiting:
            return False
        state.waiting.add(path)
    pool = background_pool(app)
    try:
        if pool is None:
            raise RuntimeError("the background pool is shut down")
        pool.submit(_run_once_in_background, app, path, {"request_id": new_request_id()})
    except RuntimeError:  # shutting down (even between getting the pool and submitting): the sweep's work
        with state.lock:
            state.waiting.discard(path)
        log.info("job.left_for_the_sweep", extra={"job": path})
        return False
    return True


class _OnceState:
    """Embedded mode's `submit_once` bookkeeping: which drains wait to start, one run lock per drain."""

    def __init__(self):
        self.lock = threading.Lock()
        self.waiting: set[str] = set()
        self.running: dict[str, threading.Lock] = {}


def _once_state(app: Flask) -> _OnceState:
    with _pool_lock:
        return app.extensions.setdefault("cscx_once", _OnceState())


def _once_key(app: Flask, path: str) -> str:
    return f"cscx:once:{app.config['RQ_QUEUE']}:{path}"


# Delete the key only while it still holds this job's mark: a job that starts after its mark expired
# must not clear the mark of a newer caller (whose job waits in the queue).
_CLEAR_MARK = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def run_once(path: str, mark: str | None = None) -> Any:
    """The queued form of a `submit_once` job: clear its waiting mark, then run the drain."""
    app = current_app._get_current_object() if has_app_context() else _worker_app
    if app is not None:
        connection = queue(app).connection
        if mark is None:  # queued by the release before marks were tokens
            connection.delete(_once_key(app, path))
        else:
            connection.eval(_CLEAR_MARK, 1, _once_key(app, path), mark)
    return _resolve(path)()


def _run_once_in_background(app: Flask, path: str, log_context: dict[str, str]) -> None:
    state = _once_state(app)
    with state.lock:
        running = state.running.setdefault(path, threading.Lock())
    # One drain at a time; the next waits here with its mark still set, so no third one is queued.
    with running:
        with state.lock:
            state.waiting.discard(path)
        _run_in_background(app, path, (), log_context)


def background_pool(app: Flask) -> ThreadPoolExecutor | None:
    """The app's in-process job pool (embedded mode), created on first use; None once shut down."""
    with _pool_lock:
        if app.extensions.get("cscx_background_closed"):
            return None
        pool = app.extensions.get("cscx_background")
        if pool is None:
            pool = ThreadPoolExecutor(max_workers=BACKGROUND_THREADS, thread_name_prefix="cscx-job")
            app.extensions["cscx_background"] = pool
        return pool


def shutdown_background(app: Flask, wait: bool = True, *, close: bool = True) -> None:
    """Stop the app's in-process job pool, letting running jobs finish (tests and shutdown call this).

    A running job may submit follow-ups; with `close` they are left for the sweep (no pool starts
    again after shutdown), without it (a drain before forking) they run too, until nothing is left.
    """
    while True:
        with _pool_lock:
            pool = app.extensions.pop("cscx_background", None)
            if close:
                app.extensions["cscx_background_closed"] = True
        if pool is None:
            return
        pool.shutdown(wait=wait)
        if not wait:
            return


def _run_in_background(app: Flask, path: str, args: tuple, log_context: dict[str, str]) -> None:
    with app.app_context(), context_scope(log_context):
        try:
            _resolve(path)(*args)
        except Exception:
            # The job's rows stay as they were; the sweep retries them. Never kill the pool thread.
            log.exception("job.background_failed", extra={"job": path})
        finally:
            db.session.remove()


def queue(app: Flask):
    """The RQ queue of this app (REDIS_URL and RQ_QUEUE)."""
    connection = app.extensions.get("cscx_redis")
    if connection is None:
        connection = Redis.from_url(app.config["REDIS_URL"])
        app.extensions["cscx_redis"] = connection
    return Queue(app.config["RQ_QUEUE"], connection=connection)


def bind_worker_app(app: Flask) -> None:
    """Give RQ jobs in this worker process the app they run in (called by `cscx-jira worker`)."""
    global _worker_app
    _worker_app = app


def run_job(path: str, args: tuple, kwargs: dict) -> Any:
    """Entry point of every queued job: resolve the function and run it inside an app context."""
    func = _resolve(path)
    with context_scope(_queued_log_context()):
        if has_app_context():
            return func(*args, **kwargs)
        app = _worker_app
        if app is None:
            raise RuntimeError("no app is bound to this worker: run queued jobs with `cscx-jira worker`")
        with app.app_context():
            return func(*args, **kwargs)


def _queued_log_context() -> dict[str, str]:
    """The log context the enqueuer handed over in the job's meta, plus the RQ job id."""
    job = get_current_job()
    if job is None:
        return carried_context()
    fields = {str(k): str(v) for k, v in dict(job.meta.get(LOG_CONTEXT_META) or {}).items()}
    fields.setdefault("request_id", new_request_id())  # a job queued by the release before this one
    return fields | {"job_id": job.id}


def _resolve(path: str) -> Callable[..., Any]:
    path = MOVED_JOBS.get(path, path)
    module_name, _, name = path.rpartition(".")
    if not module_name.startswith("connect_app."):
        # Only our own functions may be named by a queued job.
        raise ValueError(f"refusing to run job outside connect_app: {path}")
    return getattr(importlib.import_module(module_name), name)


def run_worker(app: Flask, *, burst: bool = False, name: str | None = None) -> None:
    """Run an RQ worker for the app's queue until stopped (or until empty with burst)."""
    if not app.config.get("REDIS_URL"):
        raise RuntimeError("REDIS_URL is not set: without Redis, jobs run in-process and no worker is needed")
    bind_worker_app(app)
    with app.app_context():
        # Each job runs in a forked work horse; no pooled connection may cross the fork.
        db.engine.dispose()
    # SimpleWorker runs jobs in this process instead of forking a work horse per job: jobs are
    # short (one webhook, one push), and a fork per job costs more than the job while throwing
    # away warm connections and caches. Every job's rows are claimed, so a crash loses nothing.
    worker = SimpleWorker([queue(app)], connection=queue(app).connection, name=name)
    gc.collect()
    gc.freeze()  # start-up objects live as long as the worker: keep them out of every full collection
    worker.work(burst=burst, with_scheduler=False)
