"""`submit_once`: however many callers wake the inbox drain, at most one drain waits to start, and work
committed while one runs is never left behind (embedded mode, and on RQ with its Redis mark)."""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from rq import SimpleWorker
from rq.registry import FinishedJobRegistry
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool
from werkzeug.wrappers import Request, Response

from connect_app import create_app
from connect_app.config import TestConfig, normalise_database_url
from connect_app.extensions import db
from connect_app.models import JiraConnection, WebhookDelivery
from connect_app.platform import jobs
from connect_app.tracking import batch, inbox
from tests.conftest import REDIS_URL
from tests.factories import make_connection, make_organization
from tests.serving import ThreadedServer
from tests.tracking.support import wait_for

DRAIN = inbox.DRAIN_JOB


def store(connection_id: uuid.UUID, payload: dict) -> uuid.UUID:
    """An inbox row, committed, as the webhook endpoint stores it (without waking anything)."""
    connection = db.session.get(JiraConnection, connection_id)
    return inbox.store_delivery(connection, f"wh-{uuid.uuid4()}", payload).id


def version_released(n: int) -> dict:
    """A delivery a drain finishes without asking Jira (not an issue event: recorded as ignored)."""
    return {"timestamp": 1_767_000_000_000 + n, "webhookEvent": "jira:version_released", "version": {"id": str(n)}}


def partial_issue(key: str) -> dict:
    """A delivery naming its issue only: the drain must fetch the issue from Jira."""
    return {"timestamp": 1_767_000_000_000, "webhookEvent": "jira:issue_updated", "issue": {"key": key}}


def inbox_state(row_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple]:
    """(status, attempts, last_error) of these inbox rows, as committed now."""
    db.session.remove()
    return {r.id: (r.status, r.attempts, r.last_error) for r in db.session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.id.in_(list(row_ids))))}


def concurrently(app, call: Callable[[int], bool], times: int) -> list[bool]:
    """`call(n)` for n in range(times), from as many threads at once, each in its own app context."""
    start = threading.Barrier(times)

    def one(n: int) -> bool:
        with app.app_context():
            start.wait(timeout=30)
            try:
                return call(n)
            finally:
                db.session.remove()
    with ThreadPoolExecutor(max_workers=times) as pool:
        return list(pool.map(one, range(times)))


class HeldJira:
    """A Jira, over real HTTP, that holds every request until released, then answers 404; a context manager."""

    def __init__(self):
        self.asked = threading.Event()
        self.release = threading.Event()
        self._http = ThreadedServer(self._app)
        self.base_url = self._http.base_url

    def __enter__(self) -> HeldJira:
        self._http.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self._http.stop()

    @Request.application
    def _app(self, request: Request) -> Response:
        self.asked.set()
        self.release.wait(60)
        return Response(json.dumps({"errorMessages": ["Issue does not exist or you do not have permission."]}),
                        status=404, mimetype="application/json")


@pytest.fixture
def held_jira(app):
    """A `HeldJira` the app may call (it is on 127.0.0.1), released and stopped at the end."""
    app.config["ALLOW_PRIVATE_JIRA_URLS"] = True
    with HeldJira() as jira:
        try:
            yield jira
        finally:
            jira.release.set()
            jobs.shutdown_background(app)


def test_while_a_drain_runs_concurrent_wake_ups_queue_one_more_and_late_work_is_drained(app, held_jira):
    # A drain hands its worker back after one batch here, so the batch held below is its last claim.
    app.config["INBOX_DRAIN_SLICE_S"] = 0
    connection = make_connection(make_organization(), base_url=held_jira.base_url,
                                 shared_secret="held-jira-shared-secret-0123456789abcdef").id
    stuck = store(connection, partial_issue("CS-1"))

    assert jobs.submit_once(DRAIN) is True
    # The drain has claimed its batch and waits on Jira: it is running, none is waiting.
    assert held_jira.asked.wait(30)
    assert inbox_state([stuck])[stuck][:2] == ("processing", 1)

    # Work committed after the running drain's last claim, and every webhook's wake-up at once.
    late = [store(connection, version_released(n)) for n in range(5)]
    assert sorted(concurrently(app, lambda _: jobs.submit_once(DRAIN), 24)) == [False] * 23 + [True]
    assert jobs.submit_once(DRAIN) is False  # one drain already waits to start, and will see the late work

    held_jira.release.set()
    jobs.shutdown_background(app, close=False)  # returns once every drain, and what they started, is done
    state = inbox_state([stuck, *late])
    assert state[stuck][0] == "failed" and "JiraNotFound" in state[stuck][2]
    assert {state[row_id] for row_id in late} == {("done", 1, "ignored: jira:version_released")}
    assert jobs.submit_once(DRAIN) is True  # no waiting mark was left behind


def test_wake_ups_racing_with_drains_leave_nothing_behind(app):
    connection = make_connection(make_organization()).id
    stored: list[uuid.UUID] = []
    lock = threading.Lock()

    def webhook(n: int) -> bool:
        # What the endpoint does: commit the delivery, then wake a drain.
        row_id = store(connection, version_released(n))
        with lock:
            stored.append(row_id)
        return jobs.submit_once(DRAIN)

    for burst in range(8):
        concurrently(app, lambda n, burst=burst: webhook(burst * 16 + n), 16)
    jobs.shutdown_background(app, close=False)
    assert len(stored) == 128
    assert set(inbox_state(stored).values()) == {("done", 1, "ignored: jira:version_released")}


def test_a_job_outside_the_package_is_refused_before_it_is_marked(app):
    for _ in range(2):  # refused again, not "already waiting"
        with pytest.raises(ValueError, match="outside connect_app"):
            jobs.submit_once("os.system")
    assert jobs.submit_once(DRAIN) is True


# ---- on RQ -------------------------------------------------------------------------------------


@pytest.fixture
def rq_app(database_url, tmp_path):
    """An app whose jobs go to an RQ queue of their own; inside its app context."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    app = create_app(TestConfig({"DATABASE_URL": database_url, "REDIS_URL": REDIS_URL, "RQ_QUEUE": name},
                                instance_path=tmp_path / "instance"))
    with app.app_context():
        queue = jobs.queue(app)
        try:
            yield app, queue
        finally:
            queue.connection.delete(*queue.connection.keys(f"cscx:once:{name}:*"), f"rq:queue:{name}")
            db.session.remove()
            db.engine.dispose()


@contextmanager
def claims_held(database_url: str) -> Iterator[Callable[[], None]]:
    """Make every batch claim wait until the returned `release()` is called (or the block ends).

    PostgreSQL: the advisory lock that serialises claims, held by another session. SQLite: the
    database's write lock, held by another connection.
    """
    if database_url.startswith("sqlite:///"):
        holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None,
                                 check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
        unlock = "ROLLBACK"
        run = holder.execute
    else:
        holder = create_engine(normalise_database_url(database_url), poolclass=NullPool).connect()
        holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": batch.CLAIM_LOCK_KEY})
        unlock = f"SELECT pg_advisory_unlock({batch.CLAIM_LOCK_KEY})"

        def run(statement: str) -> None:
            holder.execute(text(statement))
    released = threading.Event()

    def release() -> None:
        if not released.is_set():
            released.set()
            run(unlock)

    try:
        yield release
    finally:
        release()
        holder.close()


def run_burst(queue) -> None:
    """An RQ worker in this process, until the queue is empty; the signal handlers it installs are put back."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)}
    try:
        SimpleWorker([queue], connection=queue.connection).work(burst=True)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


@pytest.mark.redis
@pytest.mark.skipif(not REDIS_URL, reason="TEST_REDIS_URL not set")
def test_on_rq_one_drain_waits_and_its_mark_is_cleared_as_it_starts(rq_app, database_url):
    app, queue = rq_app
    redis = queue.connection
    mark = f"cscx:once:{app.config['RQ_QUEUE']}:{DRAIN}"
    row = store(make_connection(make_organization()).id, version_released(1))

    assert sorted(concurrently(app, lambda _: jobs.submit_once(DRAIN), 16)) == [False] * 15 + [True]
    token = redis.get(mark)
    assert len(token) == 32 and 0 < redis.pttl(mark) <= jobs.ONCE_TTL_MS
    assert jobs.submit_once(DRAIN) is False
    assert queue.count == 1
    (job,) = queue.jobs
    assert job.func_name == jobs.job_path(jobs.run_job)
    assert job.args[:2] == (jobs.job_path(jobs.run_once), (DRAIN, token.decode()))

    # An RQ worker runs the job while every claim waits: the mark must be gone before the drain claims.
    seen: dict[str, object] = {}

    def watch(release: Callable[[], None]) -> None:
        try:
            with app.app_context():
                wait_for(lambda: not redis.exists(mark), 30, "the job to clear its mark")
                seen["row while the mark is gone"] = inbox_state([row])[row][0]
                seen["a wake-up now"] = jobs.submit_once(DRAIN)
                seen["queued"] = queue.count
                db.session.remove()
        except BaseException as error:  # reported by the test thread
            seen["error"] = error
        finally:
            release()

    with claims_held(database_url) as release:
        watcher = threading.Thread(target=watch, args=(release,))
        watcher.start()
        run_burst(queue)
        watcher.join()  # bounded: its wait gives up after 30 s
    assert "error" not in seen, seen.get("error")
    assert seen == {"row while the mark is gone": "pending", "a wake-up now": True, "queued": 1}
    assert queue.count == 0 and len(FinishedJobRegistry(queue=queue)) == 2
    assert inbox_state([row])[row] == ("done", 1, "ignored: jira:version_released")
    assert not redis.exists(mark)


@pytest.mark.redis
@pytest.mark.skipif(not REDIS_URL, reason="TEST_REDIS_URL not set")
def test_on_rq_a_job_outside_the_package_is_refused_before_it_is_marked(rq_app):
    app, queue = rq_app
    for _ in range(2):
        with pytest.raises(ValueError, match="outside connect_app"):
            jobs.submit_once("os.system")
    assert not queue.connection.exists(f"cscx:once:{app.config['RQ_QUEUE']}:os.system")
    assert queue.count == 0


@pytest.mark.redis
@pytest.mark.skipif(not REDIS_URL, reason="TEST_REDIS_URL not set")
def test_a_job_whose_mark_expired_leaves_a_newer_callers_mark_alone(rq_app):
    app, queue = rq_app
    redis = queue.connection
    key = f"cscx:once:{app.config['RQ_QUEUE']}:{DRAIN}"
    with app.app_context():
        assert jobs.submit_once(DRAIN) is True
        (stale_job,) = queue.jobs
        stale_mark = stale_job.args[1][1]
        redis.delete(key)  # its 30 s passed before a worker took it
        assert jobs.submit_once(DRAIN) is True  # a newer caller: a mark and a job of its own
        newer = redis.get(key)
        jobs.run_once(DRAIN, stale_mark)  # the late job starts (and drains an empty inbox)
        assert redis.get(key) == newer  # the newer caller's job still waits behind its mark
        jobs.run_once(DRAIN, newer.decode())
        assert not redis.exists(key)
