"""Customer-context pushes: queue a `customer.context` message when a customer's Jira context changes.

The idempotency key chains each push to the previous one, so two workers that observe the same
change queue it once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select, update

from connect_app.delivery import outbox
from connect_app.extensions import db
from connect_app.impact.health import context_of, digest
from connect_app.models import Customer, OutboxMessage
from connect_app.models.types import utcnow

TOPIC = "customer.context"


def refresh_contexts(customer_ids: Iterable[uuid.UUID | str]) -> list[uuid.UUID]:
    """Queue a context push for each of these customers whose context changed; commits; returns new message ids."""
    queued: list[uuid.UUID] = []
    for customer_id in sorted({str(c) for c in customer_ids}):
        # A no-op UPDATE of the customer row is a per-customer mutex on both backends (a row lock on
        # PostgreSQL, the write lock on SQLite), held until commit: contexts are computed one at a
        # time, each after the previous one's commit, so the newest `computed_at` has the newest data.
        locked = db.session.execute(update(Customer).where(Customer.id == uuid.UUID(customer_id))
                                    .values(updated_at=Customer.updated_at)).rowcount
        customer = db.session.get(Customer, uuid.UUID(customer_id), populate_existing=True) if locked else None
        if customer is None:
            db.session.rollback()
            continue
        context = context_of(customer)
        fingerprint = digest(context)
        if customer.jira_context_digest == fingerprint:
            db.session.commit()
            continue
        key = f"customer-context:{customer.id}:{fingerprint}:{customer.jira_context_message_id or 'first'}"
        message_id = outbox.add_message(customer.organization_id, TOPIC, key, {
            "context": context, "digest": fingerprint, "computed_at": utcnow().isoformat()})
        if message_id:
            queued.append(message_id)
        else:  # already queued under this key (by another worker before a crash): remember that one
            message_id = db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key))
        # Remember what was queued without touching updated_at (CSCX.AI's timestamp of the customer data).
        db.session.execute(update(Customer).where(Customer.id == customer.id).values(
            jira_context_digest=fingerprint, jira_context_message_id=message_id, updated_at=Customer.updated_at))
        db.session.commit()
    return queued
