"""Draining the webhook inbox in batches: one transaction and a fixed number of statements per batch.

A delivery is stored and acknowledged by the web process (`api.webhooks`), which then wakes one
drain job (`jobs.submit_once`): a burst of a thousand deliveries starts a few drains, not a
thousand jobs. A drain claims up to `INBOX_BATCH_SIZE` due deliveries, oldest first, and applies
them together:

- per connection, the rules, the status map and the custom-field selection are read once;
- the issues are upserted in one statement (several deliveries of one issue coalesce into one
  write, the newest `updated` winning as it does for single deliveries), their status and field
  history and their rule links are each written in bulk, and a JQL rule asks Jira once per batch;
- every delivery's changelog is still classified on its own, in Jira's order, and every change
  is recorded and notified once (the events' dedupe keys, as before);
- impact and SLA clocks are recomputed once for all the batch's issues, each customer's context
  once per batch, and the pushes go out in parallel after the commit.

Ordering: deliveries of one issue are claimed by one drain at a time (a delivery is not claimable
while another of its issue is being processed), so two drains never apply one issue's changes out
of order. Failure: if the batch fails as a whole it is rolled back and each of its deliveries is
processed on its own (`process.process_claimed`), so a poison delivery is retried with its error
while the others go through. A worker killed mid-batch leaves its claims to expire (`locked_at`);
nothing was committed, and the next drain takes them over.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter, defaultdict
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import exists, select, text, update
from sqlalchemy.orm import aliased

from connect_app.extensions import db
from connect_app.logging_setup import context_scope, current_context
from connect_app.models import JiraConnection, WebhookDelivery
from connect_app.models.types import utcnow
from connect_app.platform import claims, jobs, metrics
from connect_app.tracking import inbox, process

log = logging.getLogger(__name__)

BATCH_SIZE = 200  # deliveries per batch (app.config INBOX_BATCH_SIZE overrides)
# A drain hands its worker back after this long (another drain job continues), so a steady stream
# of webhooks never starves the other jobs of the queue.
DRAIN_SLICE_S = 30.0
# PostgreSQL advisory lock serialising batch claims (the same-issue check must see the others' claims).
CLAIM_LOCK_KEY = 0x43534358  # "CSCX"


def wake() -> bool:
    """Start a drain unless one is already waiting to start (called after a delivery is stored)."""
    return jobs.submit_once(inbox.DRAIN_JOB)


def batch_size() -> int:
    return max(1, int(current_app.config.get("INBOX_BATCH_SIZE", BATCH_SIZE)))


def drain_inbox() -> dict[str, int]:
    """Job: claim and process batches of due deliveries until none is left (or the slice is used up)."""
    owner = claims.worker_id()
    deadline = time.monotonic() + float(current_app.config.get("INBOX_DRAIN_SLICE_S", DRAIN_SLICE_S))
    totals: Counter[str] = Counter()
    limit = batch_size()
    while True:
        ids = claim_batch(owner, limit)
        if not ids:
            break
        if len(ids) == limit:
            wake()  # a backlog: another worker may drain beside this one (its claims are other issues)
        totals.update(process_batch(ids))
        if time.monotonic() > deadline:
            wake()  # the rest in a fresh job, behind whatever else waits in the queue
            break
    return dict(totals)


def claim_batch(owner: str, limit: int, now: datetime | None = None) -> list[uuid.UUID]:
    """Claim up to `limit` due deliveries, oldest first, none of an issue another worker is processing.

    Due: pending, failed whose retry time has come, or processing under a claim older than the lock
    timeout (its worker died). One UPDATE ... RETURNING; committed before returning.
    """
    now = now or utcnow()
    lock_timeout_s = inbox.lock_timeout()
    row = WebhookDelivery
    other = aliased(WebhookDelivery)
    in_flight = exists().where(other.connection_id == row.connection_id, other.jira_key == row.jira_key,
                               other.status == "processing",
                               other.locked_at >= now - timedelta(seconds=lock_timeout_s))
    due = claims.claimable_now(row, now=now, lock_timeout_s=lock_timeout_s, claimable=("pending", "failed"),
                               claimed="processing")
    pick = select(row.id).where(due, ~in_flight).order_by(row.received_at).limit(limit)
    postgres = db.session.get_bind().dialect.name == "postgresql"
    if postgres:
        # Claims are short: taking them one at a time lets each see the issues the others took.
        db.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CLAIM_LOCK_KEY})
        pick = pick.with_for_update(skip_locked=True)
    ids = list(db.session.scalars(
        update(row).where(row.id.in_(pick.scalar_subquery()))
        .values(**claims.claimed_by(row, owner=owner, now=now, claimed="processing"))
        .returning(row.id).execution_options(synchronize_session=False)))
    db.session.commit()
    return ids


def process_batch(ids: list[uuid.UUID]) -> Counter[str]:
    """Apply these claimed deliveries in one transaction; on failure, one by one. Counts per outcome."""
    outcome: Counter[str] = Counter()
    rows = list(db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.id.in_(ids))))
    rows.sort(key=lambda r: (r.event_ts or 0, r.received_at, str(r.id)))
    applied = process.Applied()
    notes: dict[uuid.UUID, str | None] = {}
    try:
        by_connection: dict[uuid.UUID, list[WebhookDelivery]] = defaultdict(list)
        for row in rows:
            by_connection[row.connection_id].append(row)
        for connection_id in sorted(by_connection, key=str):
            changes = []
            for row in by_connection[connection_id]:
                incoming = process.incoming_of(row.payload)
                if incoming is None:
                    notes[row.id] = f"ignored: {row.payload.get('webhookEvent')}"
                else:
                    changes.append((row, incoming))
            process.apply_issues(db.session.get(JiraConnection, connection_id), [i for _, i in changes], applied)
            notes |= {row.id: incoming.note for row, incoming in changes if incoming.note}
        now = utcnow()
        db.session.execute(update(WebhookDelivery), [
            {"id": row.id, "status": "done", "processed_at": now, "last_error": notes.get(row.id),
             "locked_by": None, "locked_at": None} for row in rows])
        done = [(row.received_at, row.delivery_id) for row in rows]  # read now: the commit expires the rows
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        if len(rows) == 1:  # nothing else to save: keep it with its error
            row_id, delivery_id = rows[0].id, rows[0].delivery_id
            with context_scope(current_context() | {"delivery_id": delivery_id}):
                log.exception("webhook.process_failed", extra={"delivery": str(row_id)})
                outcome[inbox.mark_failed(row_id, f"{type(exc).__name__}: {exc}")] += 1
            return outcome
        log.warning("webhook.batch_failed", exc_info=True,
                    extra={"deliveries": len(rows), "error": f"{type(exc).__name__}: {exc}"[:300]})
        metrics.webhook_batch("split", len(rows))
        for row_id in [r.id for r in rows]:
            with context_scope(current_context()):  # each delivery's lines carry its own delivery_id
                outcome[process.process_claimed(row_id)] += 1
        return outcome
    for received_at, _ in done:
        metrics.webhook_processed("done", received_at)
    metrics.webhook_batch("applied", len(done))
    outcome["done"] += len(done)
    # The deliveries' identifiers: a delivery's lines at intake and this batch's line share its delivery_id.
    log.info("webhook.batch", extra={"deliveries": len(done), "events": len(applied.events),
                                     "messages": len(applied.messages), "customers": len(applied.customers),
                                     "delivery_ids": [delivery_id for _, delivery_id in done]})
    process.after_commit(applied)
    return outcome
