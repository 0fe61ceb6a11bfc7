"""Batch delivery: one claim for many messages, sends in flight together on kept-alive connections."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import Row, select, update

from connect_app.delivery import outbox
from connect_app.extensions import db
from connect_app.models import OutboxMessage
from connect_app.models.types import utcnow
from connect_app.platform import claims
from tests.conftest import SIGNING_SECRET
from tests.factories import make_organization

BARRIER_TIMEOUT_S = 10.0  # only reached when the sends do not overlap, and then the test fails


class BatchReceiver:
    """A CSCX.AI push endpoint that answers per idempotency key, can hold every request on a barrier
    until enough are in flight together, and counts the TCP connections it was sent on.

    Served by http.server speaking HTTP/1.1, since the test server of `tests.serving` (werkzeug's)
    closes every connection after one response and so could never show a connection kept alive.
    """

    def __init__(self, secret: str):
        self.secret = secret
        self.statuses: dict[str, int] = {}  # idempotency key -> the error status to answer it with
        self.barrier: threading.Barrier | None = None
        self.lock = threading.Lock()
        self.received: list[str] = []  # the key of every request, in arrival order
        self.bodies: dict[str, dict] = {}
        self.broken_barriers = 0
        self.bad_signatures = 0
        self.sockets: list[socket.socket] = []  # one per connection accepted
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _PushHandler)
        self._http.receiver = self
        self.url = f"http://127.0.0.1:{self._http.server_port}/push"
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def connections(self) -> int:
        with self.lock:
            return len(self.sockets)

    def connected(self, connection: socket.socket) -> None:
        with self.lock:
            self.sockets.append(connection)

    def answer(self, headers, body: bytes) -> int:
        """The status to answer one push with."""
        if not outbox.verify_signature(self.secret, headers.get(outbox.SIGNATURE_HEADER, ""), body):
            with self.lock:
                self.bad_signatures += 1
            return 401
        key = headers[outbox.IDEMPOTENCY_HEADER]
        with self.lock:
            self.received.append(key)
            self.bodies[key] = json.loads(body)
        if self.barrier is not None:
            try:
                self.barrier.wait(BARRIER_TIMEOUT_S)
            except threading.BrokenBarrierError:
                with self.lock:
                    self.broken_barriers += 1
                return 503
        return self.statuses.get(key, 200)

    def __enter__(self) -> BatchReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._http.shutdown()
        self._http.server_close()
        # Kept-alive connections would leave their handler threads waiting for a next request.
        for connection in self.sockets:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)


class _PushHandler(BaseHTTPRequestHandler):
    """One connection, for as many requests as the client sends on it."""

    protocol_version = "HTTP/1.1"
    server: ThreadingHTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.receiver.connected(self.connection)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status = self.server.receiver.answer(self.headers, body)
        text = b"{}" if status == 200 else f"refused with {status}".encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def receiver():
    with BatchReceiver(SIGNING_SECRET) as push_receiver:
        yield push_receiver


@pytest.fixture
def workspace(app, receiver) -> str:
    """A workspace of an app that pushes to the receiver."""
    app.config["CSCX_PUSH_URL"] = receiver.url
    return make_organization().id


def queue(workspace: str, count: int, prefix: str = "push") -> tuple[list, list[str]]:
    """Commit `count` new messages; their ids and idempotency keys."""
    keys = [f"{prefix}-{n}" for n in range(count)]
    ids = outbox.add_messages("jira.issue.created", [(workspace, key, {"n": n}) for n, key in enumerate(keys)])
    db.session.commit()
    return ids, keys


def stored() -> dict[str, Row]:
    """Every outbox row by idempotency key, as stored now."""
    rows = db.session.execute(select(*OutboxMessage.__table__.c)).all()
    db.session.rollback()
    return {row.idempotency_key: row for row in rows}


def tally(**counts: int) -> dict[str, int]:
    return dict.fromkeys(outbox.OUTCOMES, 0) | counts


def test_many_messages_are_each_delivered_once_with_their_keys(workspace, receiver):
    ids, keys = queue(workspace, 60)
    assert outbox.deliver_many(ids) == tally(delivered=60)
    assert sorted(receiver.received) == sorted(keys)
    assert all(receiver.bodies[key]["id"] == key and receiver.bodies[key]["attempt"] == 1 for key in keys)
    assert receiver.bad_signatures == 0
    rows = stored()
    assert {(m.status, m.attempts, m.locked_by, m.locked_at, m.last_error) for m in rows.values()} == {
        ("delivered", 1, None, None, None)}
    assert all(m.delivered_at is not None for m in rows.values())

    assert outbox.deliver_many([str(i) for i in ids]) == tally(skipped=60)  # done already: nothing is sent again
    assert len(receiver.received) == 60


def test_a_message_someone_else_holds_is_skipped_and_a_stale_claim_is_taken_over(workspace, receiver):
    ids, keys = queue(workspace, 5)
    held, abandoned = ids[0], ids[1]
    claim = {"lock_timeout_s": outbox.DEFAULTS["OUTBOX_LOCK_TIMEOUT_S"], "claimable": ("pending",),
             "claimed": "delivering"}
    assert claims.claim(OutboxMessage, held, owner="worker-elsewhere", **claim)
    assert claims.claim(OutboxMessage, abandoned, owner="worker-killed", **claim)
    db.session.execute(update(OutboxMessage).where(OutboxMessage.id == abandoned)
                       .values(locked_at=utcnow() - timedelta(hours=1)))  # its worker died long ago
    db.session.commit()

    assert outbox.deliver_many([*ids, held]) == tally(delivered=4, skipped=1)
    assert sorted(receiver.received) == sorted(keys[1:])
    assert receiver.bodies[keys[1]]["attempt"] == 2
    rows = stored()
    assert (rows[keys[0]].status, rows[keys[0]].locked_by, rows[keys[0]].attempts) == (
        "delivering", "worker-elsewhere", 1)
    assert (rows[keys[1]].status, rows[keys[1]].locked_by, rows[keys[1]].attempts) == ("delivered", None, 2)


def test_server_errors_retry_with_backoff_while_the_rest_are_delivered(workspace, receiver):
    ids, keys = queue(workspace, 10)
    failing = set(keys[::3])
    receiver.statuses = dict.fromkeys(failing, 500)
    before = utcnow()
    assert outbox.deliver_many(ids) == tally(delivered=10 - len(failing), retry=len(failing))
    after = utcnow()
    base = outbox.setting("OUTBOX_RETRY_BASE_S")
    rows = stored()
    for key in failing:
        row = rows[key]
        assert (row.status, row.attempts, row.locked_by, row.delivered_at) == ("pending", 1, None, None)
        assert row.last_error.startswith("HTTP 500")
        # First retry: between half and all of the base delay after the attempt.
        assert before + timedelta(seconds=base / 2) <= row.next_attempt_at <= after + timedelta(seconds=base)
    assert {rows[key].status for key in keys if key not in failing} == {"delivered"}
    assert sorted(receiver.received) == sorted(keys)


def test_a_rejected_message_is_dead_at_once(workspace, receiver):
    ids, keys = queue(workspace, 3)
    receiver.statuses = {keys[1]: 400}
    assert outbox.deliver_many(ids) == tally(delivered=2, dead=1)
    row = stored()[keys[1]]
    assert (row.status, row.attempts, row.locked_by) == ("dead", 1, None)
    assert row.last_error.startswith("HTTP 400")


def test_a_receiver_that_refuses_connections_means_retry(app):
    workspace = make_organization().id
    with socket.socket() as unreachable:
        unreachable.bind(("127.0.0.1", 0))  # bound, never listening: every connection is refused
        app.config["CSCX_PUSH_URL"] = f"http://127.0.0.1:{unreachable.getsockname()[1]}/push"
        ids, _ = queue(workspace, 4)
        assert outbox.deliver_many(ids) == tally(retry=4)
    rows = stored()
    assert {(m.status, m.attempts, m.locked_by) for m in rows.values()} == {("pending", 1, None)}
    assert all(m.last_error.startswith("ConnectionError") for m in rows.values())


def test_without_a_push_url_everything_is_skipped(app):
    ids, _ = queue(make_organization().id, 3)
    assert outbox.deliver_many(ids) == tally(skipped=3)
    assert {(m.status, m.attempts) for m in stored().values()} == {("pending", 0)}


def test_sends_are_in_flight_together(app, workspace, receiver):
    concurrency = 6
    app.config["OUTBOX_PUSH_CONCURRENCY"] = concurrency
    # Each request waits until `concurrency` requests have arrived: one at a time, the first would
    # time out and be answered 503, and its message would not be delivered.
    receiver.barrier = threading.Barrier(concurrency)
    ids, _ = queue(workspace, concurrency)
    assert outbox.deliver_many(ids) == tally(delivered=concurrency)
    assert receiver.broken_barriers == 0
    assert any(thread.name.startswith("cscx-push") for thread in threading.enumerate())


def test_connections_are_kept_alive_from_batch_to_batch(app, workspace, receiver):
    concurrency = 3
    app.config["OUTBOX_PUSH_CONCURRENCY"] = concurrency
    first, _ = queue(workspace, concurrency, "first")
    second, _ = queue(workspace, concurrency, "second")
    assert outbox.deliver_many(first) == tally(delivered=concurrency)
    assert outbox.deliver_many(second) == tally(delivered=concurrency)
    # Each sending thread opens one connection and keeps it for the next batch: six requests, three connections at most.
    assert len(receiver.received) == 2 * concurrency
    assert 1 <= receiver.connections <= concurrency


def test_two_callers_with_the_same_batch_send_each_message_once(app, workspace, receiver):
    ids, keys = queue(workspace, 40)
    results = []

    def deliver() -> None:
        with app.app_context():
            results.append(outbox.deliver_many(ids))
            db.session.remove()

    callers = [threading.Thread(target=deliver) for _ in range(2)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=60)
    assert len(results) == 2
    assert sum(r["delivered"] for r in results) == 40 and sum(r["skipped"] for r in results) == 40
    assert sorted(receiver.received) == sorted(keys)


class TakenOverMidSend(outbox.PushProvider):
    """A provider whose POST outlasts the claim: another worker takes the message over before it answers."""

    def __init__(self, answer: outbox.PushResult):
        self.answer = answer
        self.sent: list[str] = []

    def send(self, message: OutboxMessage) -> outbox.PushResult:
        self.sent.append(message.idempotency_key)
        with db.engine.begin() as connection:  # the other worker, on a connection of its own
            connection.execute(update(OutboxMessage).where(OutboxMessage.id == message.id)
                               .values(locked_by="worker-that-took-over", attempts=OutboxMessage.attempts + 1))
        return self.answer


@pytest.mark.parametrize("answer", [outbox.PushResult(True, 200), outbox.PushResult(False, 503, "HTTP 503")])
def test_a_single_push_whose_claim_was_taken_over_leaves_the_row_to_its_new_holder(app, workspace, answer):
    ids, keys = queue(workspace, 1)
    provider = app.extensions["cscx_push_provider"] = TakenOverMidSend(answer)
    try:
        assert outbox.deliver_message(str(ids[0])) == ("delivered" if answer.ok else "retry")
    finally:
        app.extensions.pop("cscx_push_provider")
    assert provider.sent == keys
    row = stored()[keys[0]]
    assert (row.status, row.locked_by, row.attempts, row.last_error) == (
        "delivering", "worker-that-took-over", 2, None)
