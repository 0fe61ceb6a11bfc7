"""The webhook inbox: verified deliveries stored once, claimed by one worker, retried until processed."""

from __future__ import annotations

import hashlib
import logging
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, func, or_, select, update

from connect_app.atlassian.issue_json import ISSUE_EVENTS
from connect_app.extensions import db
from connect_app.models import JiraConnection, WebhookDelivery
from connect_app.models.types import iso, utcnow
from connect_app.platform import claims, jobs, metrics
from connect_app.platform.claims import RetryOutcome
from connect_app.platform.storable import UnstorableJSON, clean_json, clean_text, loads_lenient

log = logging.getLogger(__name__)

# Named rather than imported: the processing modules import this one.
DRAIN_JOB = "connect_app.tracking.batch.drain_inbox"
RETRYABLE = ("failed", "dead")
MAX_IDENTIFIER_LENGTH = 200
# A failed delivery is retried with backoff (capped) for this many attempts, then kept as "dead"
# (still in the inbox, visible in the admin view, re-runnable) rather than dropped.
MAX_ATTEMPTS = 12
RETRY_BASE_S = 2.0
RETRY_CAP_S = 600.0
# A claim older than this is presumed abandoned (its worker died) and may be taken over.
LOCK_TIMEOUT_S = 120.0
SWEEP_GRACE_S = 10.0
# Jira's `timestamp` is milliseconds since the epoch: anything beyond the year 9999 is not a time.
MAX_TIMESTAMP_MS = 253_402_300_799_999


class MalformedDelivery(ValueError):
    """The body is not a Jira webhook we can store; the message says why."""


@dataclass(frozen=True)
class Stored:
    """The outcome of storing a delivery: its inbox row id and whether it was new."""

    id: uuid.UUID
    created: bool
    status: str


def delivery_identifier(header_value: str | None, body: bytes) -> str:
    """X-Atlassian-Webhook-Identifier (same on every retry), else a hash of the raw body (Jira Server)."""
    value = clean_text((header_value or "").strip())
    if value:
        return value[:MAX_IDENTIFIER_LENGTH]
    return "sha256:" + hashlib.sha256(body).hexdigest()


def parse_body(body: bytes) -> Any:
    """A delivery's JSON as Jira sent it (any text, NaN, 1e400: cleaned when stored); MalformedDelivery if
    it is not JSON we can hold (not JSON, not UTF-8, or nested deeper than any Jira payload)."""
    try:
        return loads_lenient(body)
    except UnstorableJSON as error:
        raise MalformedDelivery(str(error)) from None
    except ValueError:  # json's own errors, and bytes that are not UTF-8
        raise MalformedDelivery("the body is not valid JSON") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_payload(payload: Any) -> dict[str, Any]:
    """Check the shape we rely on; raise MalformedDelivery with a clear reason.

    Refused here (a 400, which Jira does not retry) rather than stored and failing twelve times: what no
    processing could ever use, such as an issue id that is an object or a timestamp beyond year 9999.
    """
    if not isinstance(payload, dict):
        raise MalformedDelivery("the body must be a JSON object")
    event = payload.get("webhookEvent")
    if not isinstance(event, str) or not event or len(event) > 80:
        raise MalformedDelivery("webhookEvent is missing")
    timestamp = payload.get("timestamp")
    if timestamp is not None and not (_is_int(timestamp) and 0 <= timestamp <= MAX_TIMESTAMP_MS):
        raise MalformedDelivery("timestamp must be milliseconds since the epoch")
    if event in ISSUE_EVENTS:
        issue = payload.get("issue")
        if not isinstance(issue, dict) or not (issue.get("key") or issue.get("id")):
            raise MalformedDelivery("an issue event needs issue.key or issue.id")
        issue_id = issue.get("id")
        if issue_id is not None and not (
                (_is_int(issue_id) and 0 < issue_id <= 2**63 - 1)
                or (isinstance(issue_id, str) and issue_id.isascii() and issue_id.isdigit() and len(issue_id) <= 19)):
            raise MalformedDelivery("issue.id must be Jira's numeric issue id")
        if issue.get("key") is not None and (not isinstance(issue["key"], str) or len(issue["key"]) > 60):
            raise MalformedDelivery("issue.key is not a Jira issue key")
        if issue.get("fields") is not None and not isinstance(issue["fields"], dict):
            raise MalformedDelivery("issue.fields must be an object")
        changelog = payload.get("changelog")
        if changelog is not None and not (isinstance(changelog, dict) and isinstance(changelog.get("items", []), list)
                                          and all(isinstance(i, dict) for i in changelog.get("items", []))):
            raise MalformedDelivery("changelog.items must be a list of objects")
    return payload


def store_delivery(connection: JiraConnection, delivery_id: str, payload: Mapping[str, Any],
                   raw_body: bytes | None = None) -> Stored:
    """Write a verified delivery to the inbox once; a repeat of the same identifier, or of the same body
    under another identifier, changes nothing.

    What is stored and processed is a storable copy of the payload (`clean_json`); when that copy differs
    from what Jira sent, `raw_body` (the bytes as received) is kept beside it.
    """
    cleaned, changed = clean_json(dict(payload))
    delivery_id = clean_text(delivery_id)
    # The identifier header is not signed: a Server/DC body (HMAC, no timestamp in the signature) captured
    # once could be replayed forever with fresh identifiers. The hash of the signed body is a second key.
    body_sha256 = hashlib.sha256(raw_body).hexdigest() if raw_body is not None else None
    issue = cleaned.get("issue") if isinstance(cleaned.get("issue"), dict) else {}
    row_id = uuid.uuid4()
    created = claims.insert_ignore(WebhookDelivery, {
        "id": row_id, "connection_id": connection.id, "delivery_id": delivery_id, "event_type": cleaned["webhookEvent"],
        "jira_key": issue.get("key"), "event_ts": cleaned.get("timestamp"), "payload": cleaned,
        "raw_body": raw_body if changed else None, "body_sha256": body_sha256, "status": "pending",
        "next_attempt_at": None,
    }, conflict=None)  # either key: (connection, identifier) or (connection, body hash)
    db.session.commit()
    if created:
        return Stored(row_id, True, "pending")
    same = WebhookDelivery.delivery_id == delivery_id
    if body_sha256 is not None:
        same = or_(same, WebhookDelivery.body_sha256 == body_sha256)
    row = db.session.execute(
        select(WebhookDelivery.id, WebhookDelivery.status)
        .where(WebhookDelivery.connection_id == connection.id, same)
        .order_by(WebhookDelivery.received_at).limit(1)
    ).one()
    log.info("webhook.duplicate", extra={"connection_id": str(connection.id), "delivery_id": delivery_id})
    return Stored(row.id, False, row.status)


def lock_timeout() -> float:
    """Seconds after which a claim is presumed abandoned (app.config INBOX_LOCK_TIMEOUT_S overrides)."""
    return float(current_app.config.get("INBOX_LOCK_TIMEOUT_S", LOCK_TIMEOUT_S))


def claim_delivery(delivery_id: uuid.UUID, owner: str) -> bool:
    """Take a pending/failed (due) or abandoned delivery for processing; True if this worker won it."""
    return claims.claim(WebhookDelivery, delivery_id, owner=owner, lock_timeout_s=lock_timeout(),
                        claimable=("pending", "failed"), claimed="processing")


def mark_done(delivery: WebhookDelivery, note: str | None = None) -> None:
    """Processed (in the caller's transaction)."""
    delivery.status = "done"
    delivery.processed_at = utcnow()
    delivery.last_error = note
    delivery.locked_by = None
    delivery.locked_at = None


def retry_delay(attempts: int) -> float:
    """Exponential backoff with jitter for the next try after `attempts` failures."""
    ceiling = min(RETRY_CAP_S, RETRY_BASE_S * (2 ** max(0, attempts - 1)))
    return ceiling * random.uniform(0.5, 1.0)


def mark_failed(delivery_id: uuid.UUID, error: str) -> str:
    """Keep a delivery whose processing failed, with its error; it is retried later or kept as dead."""
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        return "gone"
    status = "dead" if delivery.attempts >= MAX_ATTEMPTS else "failed"
    delivery.status = status
    delivery.last_error = error[:4000]
    delivery.next_attempt_at = utcnow() + timedelta(seconds=retry_delay(delivery.attempts))
    delivery.locked_by = None
    delivery.locked_at = None
    db.session.commit()
    metrics.webhook_processed(status)
    log.warning("webhook.failed", extra={"delivery": str(delivery_id), "status": status,
                                         "attempts": delivery.attempts})
    return status


def due_deliveries(limit: int = 500) -> list[uuid.UUID]:
    """Inbox rows waiting for a (re)run: pending, failed and due, or abandoned mid-processing."""
    now = utcnow()
    lock_timeout_s = lock_timeout()
    rows = db.session.scalars(
        select(WebhookDelivery.id).where(or_(
            # A new row's own job gets a grace period before the sweep takes it too.
            and_(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at.is_(None),
                 WebhookDelivery.received_at <= now - timedelta(seconds=SWEEP_GRACE_S)),
            and_(WebhookDelivery.status.in_(("pending", "failed")), WebhookDelivery.next_attempt_at <= now),
            and_(WebhookDelivery.status == "processing",
                 WebhookDelivery.locked_at < now - timedelta(seconds=lock_timeout_s)),
        )).order_by(WebhookDelivery.received_at).limit(limit)
    ).all()
    return list(rows)


def _of_workspace(organization_id: str):
    """The ids of the workspace's connections (every inbox query of an admin is scoped by them)."""
    return select(JiraConnection.id).where(JiraConnection.organization_id == organization_id)


def list_deliveries(organization_id: str, statuses: tuple[str, ...] = (), limit: int = 50) -> list:
    """The workspace's deliveries (optionally of some statuses), newest first, each with its Jira's base URL."""
    query = (select(WebhookDelivery, JiraConnection.base_url)
             .join(JiraConnection, JiraConnection.id == WebhookDelivery.connection_id)
             .where(JiraConnection.organization_id == organization_id))
    if statuses:
        query = query.where(WebhookDelivery.status.in_(statuses))
    return list(db.session.execute(query.order_by(WebhookDelivery.received_at.desc()).limit(limit)).all())


def counts(organization_id: str) -> dict[str, int]:
    """The workspace's deliveries per status (admin views)."""
    return dict(db.session.execute(
        select(WebhookDelivery.status, func.count())
        .where(WebhookDelivery.connection_id.in_(_of_workspace(organization_id)))
        .group_by(WebhookDelivery.status)).all())


def delivery_view(delivery: WebhookDelivery) -> dict[str, Any]:
    """A delivery as the admin API shows it."""
    return {"id": str(delivery.id), "connection_id": str(delivery.connection_id), "delivery_id": delivery.delivery_id,
            "event_type": delivery.event_type, "jira_key": delivery.jira_key, "status": delivery.status,
            "attempts": delivery.attempts, "last_error": delivery.last_error, "received_at": iso(delivery.received_at),
            "processed_at": iso(delivery.processed_at), "next_attempt_at": iso(delivery.next_attempt_at)}


def retry_delivery(organization_id: str, delivery_id: uuid.UUID) -> RetryOutcome:
    """Admin action: make one of the workspace's failed or dead deliveries due now, and start processing it."""
    result = db.session.execute(
        update(WebhookDelivery).where(WebhookDelivery.id == delivery_id,
                                      WebhookDelivery.connection_id.in_(_of_workspace(organization_id)),
                                      WebhookDelivery.status.in_(RETRYABLE))
        .values(status="pending", next_attempt_at=None, attempts=0)
    )
    db.session.commit()
    if result.rowcount == 1:
        log.info("webhook.retry", extra={"delivery": str(delivery_id)})
        jobs.submit_once(DRAIN_JOB)
        return RetryOutcome.REQUEUED
    exists = db.session.scalar(select(WebhookDelivery.id).where(
        WebhookDelivery.id == delivery_id, WebhookDelivery.connection_id.in_(_of_workspace(organization_id))))
    return RetryOutcome.NOT_RETRYABLE if exists else RetryOutcome.NOT_FOUND
