"""The outbox: pushes to CSCX.AI written with the change that caused them, delivered by jobs.

At least once, deduplicated by the receiver: every message has an idempotency key (the same on
every attempt). A delivery claims its row (conditional UPDATE), sends outside any transaction,
then records the outcome: delivered, retried later (exponential backoff with jitter), or dead
once it has failed for longer than OUTBOX_DEAD_AFTER_S (kept, listed in the admin view,
re-queueable). A worker killed mid-send leaves a claim that expires and is retried.

A batch (`deliver_many`) is claimed in one statement, sent concurrently on a small pool of
long-lived threads (each keeps its HTTP connection open from batch to batch), and its successes
are recorded in one statement.

Providers follow one small interface (`PushProvider.send`), registered by name; `http` posts
signed JSON to CSCX_PUSH_URL. Without CSCX_PUSH_URL nothing is sent and messages wait.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import random
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import certifi
import urllib3
from flask import Flask, current_app
from sqlalchemy import and_, func, or_, select, update

from connect_app.extensions import db
from connect_app.models import OutboxMessage
from connect_app.models.types import iso, utcnow
from connect_app.platform import claims, jobs, metrics
from connect_app.platform.claims import RetryOutcome

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-CSCX-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# Tunables, overridable through app.config (tests shorten them).
DEFAULTS = {
    "OUTBOX_DEAD_AFTER_S": 24 * 3600.0,  # a message failing for longer than this is dead-lettered
    "OUTBOX_RETRY_BASE_S": 2.0,  # first retry after ~this; doubles per attempt
    "OUTBOX_RETRY_CAP_S": 900.0,  # ... up to this
    "OUTBOX_LOCK_TIMEOUT_S": 120.0,  # a claim older than this is presumed abandoned
    "OUTBOX_TIMEOUT_S": 10.0,  # per HTTP request
    "OUTBOX_PUSH_CONCURRENCY": 8,  # requests in flight at once in `deliver_many`
}
OUTCOMES = ("delivered", "retry", "dead", "skipped")
# Answers that say "this message will never be accepted": dead at once rather than retried.
PERMANENT_STATUSES = frozenset({400, 410, 413, 422})
SWEEP_GRACE_S = 10.0  # a new message's own job gets this long before the sweep takes it
_push_pools: dict[tuple[int, int], ThreadPoolExecutor] = {}
_push_pools_lock = threading.Lock()


def setting(name: str, app: Flask | None = None) -> float:
    """A tunable from app.config, else its default."""
    app = app or current_app
    return float(app.config.get(name, DEFAULTS[name]))


@dataclass(frozen=True)
class PushResult:
    """What one delivery attempt achieved."""

    ok: bool
    status: int | None = None
    error: str | None = None

    @property
    def permanent(self) -> bool:
        """True when retrying cannot help."""
        return self.status in PERMANENT_STATUSES


class PushProvider:
    """Sends one outbox message somewhere; subclasses implement `send`."""

    name = "base"

    def send(self, message: OutboxMessage) -> PushResult:  # pragma: no cover - interface
        raise NotImplementedError


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value: `t=<unix>,v1=<hex HMAC-SHA256 of "<t>." + body>`."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(secret: str, header: str, body: bytes, *, tolerance_s: float = 300,
                     now: float | None = None) -> bool:
    """Check a push signature as CSCX.AI should (used by our tests' receiver)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


def envelope(message: OutboxMessage) -> dict[str, Any]:
    """The JSON body of a push."""
    return {"id": message.idempotency_key, "topic": message.topic, "workspace": message.organization_id,
            "created_at": iso(message.created_at),
            "attempt": message.attempts, "data": message.payload}


class HttpPushProvider(PushProvider):
    """POSTs signed JSON to CSCX.AI with the idempotency key in a header and in the body.

    Over one urllib3 pool per provider (thread-safe, connections kept alive between pushes, up to
    the push concurrency per host): a push is a few hundred microseconds of our CPU, not the
    millisecond a `requests` call costs once it has re-read the environment, which matters when a
    batch of webhooks sends hundreds. No retries or redirects here: a failed push is retried by the
    outbox, with backoff, under the same idempotency key.
    """

    name = "http"

    def __init__(self, url: str, secret: str, timeout: float = 10.0, connections: int = 8):
        self.url = url
        self.secret = secret
        self.timeout = urllib3.Timeout(total=timeout)
        ca_certs = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()
        proxy = urllib.request.getproxies().get(urllib.parse.urlsplit(url).scheme)
        if proxy and not urllib.request.proxy_bypass(urllib.parse.urlsplit(url).hostname or ""):
            self._pool = urllib3.ProxyManager(proxy, maxsize=connections, ca_certs=ca_certs)
        else:
            self._pool = urllib3.PoolManager(maxsize=connections, ca_certs=ca_certs)

    def send(self, message: OutboxMessage) -> PushResult:
        """One POST; any non-2xx or transport error is a failure."""
        body = json.dumps(envelope(message), separators=(",", ":"), sort_keys=True).encode()
        headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: message.idempotency_key,
                   SIGNATURE_HEADER: sign(self.secret, int(time.time()), body), "User-Agent": "cscx-jira-outbox"}
        try:
            response = self._pool.request("POST", self.url, body=body, headers=headers, timeout=self.timeout,
                                          retries=False, redirect=False)
        except urllib3.exceptions.NewConnectionError as exc:  # (a subclass of the timeout below, not a timeout)
            return PushResult(False, None, f"ConnectionError: {str(exc)[:300]}")
        except urllib3.exceptions.TimeoutError as exc:
            return PushResult(False, None, f"Timeout: {str(exc)[:300]}")
        except urllib3.exceptions.HTTPError as exc:
            return PushResult(False, None, f"ConnectionError: {type(exc).__name__}: {str(exc)[:300]}")
        if 200 <= response.status < 300:
            return PushResult(True, response.status)
        text = response.data[:300].decode("utf-8", errors="replace")
        return PushResult(False, response.status, f"HTTP {response.status}: {text}")


PROVIDERS: dict[str, type[PushProvider]] = {"http": HttpPushProvider}


def provider_for(app: Flask | None = None) -> PushProvider | None:
    """The app's push provider (one per app), or None when CSCX_PUSH_URL is not configured."""
    app = app or current_app
    provider = app.extensions.get("cscx_push_provider")
    if provider is None:
        url = app.config.get("CSCX_PUSH_URL")
        if not url:
            return None
        provider = PROVIDERS["http"](url, app.config["CSCX_SIGNING_SECRET"], setting("OUTBOX_TIMEOUT_S", app),
                                     int(setting("OUTBOX_PUSH_CONCURRENCY", app)))
        app.extensions["cscx_push_provider"] = provider
    return provider


def add_message(organization_id: str, topic: str, idempotency_key: str, payload: dict[str, Any]) -> uuid.UUID | None:
    """Queue a push in the caller's transaction; returns its id, or None when that key already exists."""
    message_id = uuid.uuid4()
    inserted = claims.insert_ignore(OutboxMessage, {
        "id": message_id, "organization_id": organization_id, "topic": topic, "idempotency_key": idempotency_key,
        "payload": payload, "status": "pending", "attempts": 0, "next_attempt_at": utcnow(),
    }, conflict=("idempotency_key",))
    return message_id if inserted else None


def add_messages(topic: str, messages: list[tuple[str, str, dict[str, Any]]]) -> list[uuid.UUID]:
    """Queue many pushes of one topic, `(workspace, idempotency key, payload)` each, in the caller's
    transaction; returns the ids of those queued now (a key that exists already is skipped)."""
    now = utcnow()
    return claims.insert_ignore_many(OutboxMessage, [
        {"id": uuid.uuid4(), "organization_id": organization_id, "topic": topic, "idempotency_key": key,
         "payload": payload, "status": "pending", "attempts": 0, "next_attempt_at": now}
        for organization_id, key, payload in messages], conflict=("idempotency_key",))


def submit_deliveries(message_ids) -> None:
    """Start delivery jobs for committed messages (the sweep catches any this misses)."""
    if not message_ids or provider_for() is None:
        return
    for message_id in message_ids:
        jobs.submit(deliver_message, str(message_id))


def retry_delay(attempts: int, app: Flask | None = None) -> float:
    """Exponential backoff with jitter: between half and all of min(cap, base * 2^(attempts-1))."""
    base = setting("OUTBOX_RETRY_BASE_S", app) * 2 ** max(0, attempts - 1)
    ceiling = min(setting("OUTBOX_RETRY_CAP_S", app), base)
    return ceiling * random.uniform(0.5, 1.0)


def deliver_message(message_id: str) -> str:
    """Job: claim one message and push it; returns delivered | retry | dead | skipped."""
    provider = provider_for()
    if provider is None:
        return "skipped"
    row_id = uuid.UUID(str(message_id))
    owner = claims.worker_id()
    if not claims.claim(OutboxMessage, row_id, owner=owner, lock_timeout_s=setting("OUTBOX_LOCK_TIMEOUT_S"),
                        claimable=("pending",), claimed="delivering"):
        return "skipped"
    (message,) = _snapshots([row_id])
    db.session.rollback()  # ends the read: no transaction is open while we wait on the network
    result = provider.send(message)
    return record_result(row_id, result, owner=owner)


def record_result(row_id: uuid.UUID, result: PushResult, now: datetime | None = None, *,
                  owner: str | None = None) -> str:
    """Write one attempt's outcome.

    With `owner`, only while that claim still holds: a claim that expired mid-send belongs to whoever
    took it over, who sends and records the message again (the receiver dedupes by idempotency key).
    """
    now = now or utcnow()
    message = db.session.get(OutboxMessage, row_id)
    db.session.refresh(message)
    if owner is not None and (message.status != "delivering" or message.locked_by != owner):
        db.session.rollback()
        log.warning("outbox.claims_lost", extra={"message_id": str(row_id), "delivered": result.ok})
        outcome = "delivered" if result.ok else "retry"
        metrics.push_attempted(outcome, result.status)
        return outcome
    outcome = _apply_result(message, result, now)
    topic, attempts = message.topic, message.attempts
    db.session.commit()
    _report(row_id, topic, attempts, outcome, result)
    return outcome


def _apply_result(message: OutboxMessage, result: PushResult, now: datetime) -> str:
    """Set a claimed message's fields for one attempt's outcome (the caller commits); returns the outcome."""
    message.locked_by, message.locked_at = None, None
    if result.ok:
        message.status, message.delivered_at, message.last_error = "delivered", now, None
        return "delivered"
    delay = retry_delay(message.attempts)
    deadline = message.created_at + timedelta(seconds=setting("OUTBOX_DEAD_AFTER_S"))
    expired = now + timedelta(seconds=delay) > deadline
    message.last_error = (result.error or "failed")[:4000]
    if result.permanent or expired:
        message.status = "dead"
        return "dead"
    message.status, message.next_attempt_at = "pending", now + timedelta(seconds=delay)
    return "retry"


def _report(row_id: uuid.UUID, topic: str, attempts: int, outcome: str, result: PushResult) -> None:
    """Count and log one recorded attempt (after its commit)."""
    metrics.push_attempted(outcome, result.status)
    log.log(logging.INFO if result.ok else logging.WARNING, "outbox." + outcome,
            extra={"message_id": str(row_id), "topic": topic, "attempts": attempts, "status_code": result.status})


def deliver_many(message_ids: Iterable[uuid.UUID | str]) -> dict[str, int]:
    """Claim, push and record many messages at once; counts per outcome (delivered, retry, dead, skipped).

    For a batch of freshly committed messages (the webhook pipeline's): a handful of statements and
    two commits for the whole batch instead of three statements and a commit per message, and the
    POSTs in flight together. Claiming commits, so call it with nothing of yours pending. A message
    someone else holds (or not yet due, or already done) is skipped; duplicate ids count once.
    """
    row_ids = list(dict.fromkeys(uuid.UUID(str(message_id)) for message_id in message_ids))
    tally = dict.fromkeys(OUTCOMES, 0)
    provider = provider_for()
    if provider is None or not row_ids:
        tally["skipped"] = len(row_ids)
        return tally
    owner = claims.worker_id()
    won = claims.claim_many(OutboxMessage, row_ids, owner=owner, lock_timeout_s=setting("OUTBOX_LOCK_TIMEOUT_S"),
                            claimable=("pending",), claimed="delivering")
    tally["skipped"] = len(row_ids) - len(won)
    if not won:
        return tally
    messages = _snapshots(won)
    db.session.rollback()  # ends the read: no transaction is open while we wait on the network
    results = _send_all(provider, messages)
    for outcome in _record_results(messages, results, owner):
        tally[outcome] += 1
    return tally


def _snapshots(row_ids: list[uuid.UUID]) -> list[OutboxMessage]:
    """The messages as transient copies, read in one query per chunk of ids.

    Never in a session, so the sending threads only read plain attributes (nothing loads, nothing
    expires under them), and the caller's session and identity map are left as they were.
    """
    table = OutboxMessage.__table__
    rows = []
    for chunk in _chunks(row_ids):
        rows += db.session.execute(select(table).where(table.c.id.in_(chunk))).mappings().all()
    return [OutboxMessage(**row) for row in rows]


def _send_all(provider: PushProvider, messages: list[OutboxMessage]) -> list[PushResult]:
    """Send every message on the push pool (no database work there); their results, in order."""
    pool = _push_pool(max(1, int(setting("OUTBOX_PUSH_CONCURRENCY"))))
    futures = [pool.submit(provider.send, message) for message in messages]
    results = []
    for message, future in zip(messages, futures, strict=True):
        try:
            results.append(future.result())
        except Exception as exc:
            # A provider bug: recorded as a failed attempt, so the batch's other outcomes are kept and
            # this message is retried with backoff rather than waiting for its claim to expire.
            log.exception("outbox.send_error", extra={"message_id": str(message.id)})
            results.append(PushResult(False, None, f"{type(exc).__name__}: {str(exc)[:300]}"))
    return results


def _record_results(messages: list[OutboxMessage], results: list[PushResult], owner: str) -> list[str]:
    """Write a batch's outcomes in one commit: successes in one UPDATE per chunk, failures as `record_result` would.

    Only rows still claimed by `owner` are written: one whose claim expired mid-send belongs to whoever
    took it over, who sends and records it again (the receiver dedupes by idempotency key).
    """
    now = utcnow()
    sent = [message.id for message, result in zip(messages, results, strict=True) if result.ok]
    failed = {message.id: result for message, result in zip(messages, results, strict=True) if not result.ok}
    still_ours = and_(OutboxMessage.status == "delivering", OutboxMessage.locked_by == owner)
    recorded = 0
    for chunk in _chunks(sent):
        recorded += db.session.execute(
            update(OutboxMessage).where(OutboxMessage.id.in_(chunk), still_ours)
            .values(status="delivered", delivered_at=now, last_error=None, locked_by=None, locked_at=None)
            .execution_options(synchronize_session=False)).rowcount
    held: dict[uuid.UUID, OutboxMessage] = {}
    for chunk in _chunks(list(failed)):
        held.update((m.id, m) for m in db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.id.in_(chunk), still_ours)))
    # A lost claim's failure is retried by its new holder.
    outcomes = {row_id: _apply_result(held[row_id], result, now) if row_id in held else "retry"
                for row_id, result in failed.items()}
    db.session.commit()
    if sent:
        log.info("outbox.delivered_batch", extra={"delivered": len(sent), "claims_lost": len(sent) - recorded})
    if len(held) < len(failed):
        log.warning("outbox.claims_lost", extra={"failed": len(failed) - len(held)})
    reported = []
    for message, result in zip(messages, results, strict=True):
        outcome = "delivered" if result.ok else outcomes[message.id]
        if result.ok:
            metrics.push_attempted(outcome, result.status)
        else:
            _report(message.id, message.topic, message.attempts, outcome, result)
        reported.append(outcome)
    return reported


def _push_pool(size: int) -> ThreadPoolExecutor:
    """This process's sending threads ("cscx-push"), created on first use and then kept.

    Kept so that each thread's HTTP session, and the connection it holds open, serves batch after
    batch. One pool per process id (a forked child must not inherit threads that do not exist in it)
    and per size (an app configured otherwise in the same process gets its own, never a resized one).
    Its threads exit when the interpreter does, and idle ones hold nothing but a socket.
    """
    key = (os.getpid(), size)
    with _push_pools_lock:
        pool = _push_pools.get(key)
        if pool is None:
            pool = _push_pools[key] = ThreadPoolExecutor(max_workers=size, thread_name_prefix="cscx-push")
        return pool


def _chunks(row_ids: list[uuid.UUID]) -> Iterable[list[uuid.UUID]]:
    """Ids in slices small enough for one IN (...) list."""
    for start in range(0, len(row_ids), claims.CLAIM_CHUNK):
        yield row_ids[start:start + claims.CLAIM_CHUNK]


def due_messages(limit: int = 500) -> list[uuid.UUID]:
    """Messages to (re)send now: pending and due (new ones after a grace), or abandoned mid-send."""
    now = utcnow()
    rows = db.session.scalars(select(OutboxMessage.id).where(or_(
        and_(OutboxMessage.status == "pending", OutboxMessage.attempts > 0, OutboxMessage.next_attempt_at <= now),
        and_(OutboxMessage.status == "pending", OutboxMessage.attempts == 0,
             OutboxMessage.next_attempt_at <= now - timedelta(seconds=SWEEP_GRACE_S)),
        and_(OutboxMessage.status == "delivering",
             OutboxMessage.locked_at < now - timedelta(seconds=setting("OUTBOX_LOCK_TIMEOUT_S")))),
    ).order_by(OutboxMessage.next_attempt_at).limit(limit)).all()
    return list(rows)


def counts(organization_id: str) -> dict[str, int]:
    """Messages per status for the admin view."""
    rows = db.session.execute(select(OutboxMessage.status, func.count()).where(
        OutboxMessage.organization_id == organization_id).group_by(OutboxMessage.status)).all()
    return dict(rows)


def list_messages(organization_id: str, status: str | None = None, limit: int = 50) -> list[OutboxMessage]:
    """The workspace's messages (optionally of one status), newest first."""
    query = select(OutboxMessage).where(OutboxMessage.organization_id == organization_id)
    if status:
        query = query.where(OutboxMessage.status == status)
    return list(db.session.scalars(query.order_by(OutboxMessage.created_at.desc()).limit(limit)))


def retry_message(organization_id: str, message_id: uuid.UUID) -> RetryOutcome:
    """Admin action: give one of the workspace's dead messages a fresh start (same idempotency key), and send it."""
    result = db.session.execute(update(OutboxMessage).where(
        OutboxMessage.id == message_id, OutboxMessage.organization_id == organization_id,
        OutboxMessage.status == "dead").values(status="pending", attempts=0, next_attempt_at=utcnow(),
                                               created_at=utcnow(), last_error=None))
    db.session.commit()
    if result.rowcount == 1:
        log.info("outbox.retry", extra={"message_id": str(message_id)})
        submit_deliveries([message_id])
        return RetryOutcome.REQUEUED
    exists = db.session.scalar(select(OutboxMessage.id).where(
        OutboxMessage.id == message_id, OutboxMessage.organization_id == organization_id))
    return RetryOutcome.NOT_RETRYABLE if exists else RetryOutcome.NOT_FOUND


def message_view(message: OutboxMessage) -> dict[str, Any]:
    """A message as the admin API shows it."""
    return {"id": str(message.id), "topic": message.topic, "idempotency_key": message.idempotency_key,
            "status": message.status, "attempts": message.attempts, "last_error": message.last_error,
            "next_attempt_at": iso(message.next_attempt_at), "created_at": iso(message.created_at),
            "delivered_at": iso(message.delivered_at), "payload": message.payload}
