"""Customer-context pushes: queue a `customer.context` message when a customer's Jira context changes.

The idempotency key chains each push to the previous one, so two workers that observe the same
change queue it once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import bindparam, select, update

from connect_app.delivery import outbox
from connect_app.extensions import db
from connect_app.impact.health import contexts_of, digest
from connect_app.models import Customer, OutboxMessage
from connect_app.models.types import utcnow

TOPIC = "customer.context"
CHUNK = 500


def refresh_contexts(customer_ids: Iterable[uuid.UUID | str]) -> list[uuid.UUID]:
    """Queue a context push for each of these customers whose context changed; commits; returns new message ids.

    Set-based (a batch of webhooks touches many customers): per chunk, the customers are locked in
    id order, their contexts computed together, the changed ones queued in one insert.
    """
    ids = sorted({uuid.UUID(str(c)) for c in customer_ids}, key=str)
    queued: list[uuid.UUID] = []
    for start in range(0, len(ids), CHUNK):
        queued += _refresh(ids[start:start + CHUNK])
    return queued


def _lock(ids: list[uuid.UUID]) -> list[Customer]:
    """The customers, locked until commit: contexts of one customer are computed one at a time, each
    after the previous one's commit, so the newest `computed_at` has the newest data.

    PostgreSQL: row locks taken in id order (two workers never wait on each other in a circle);
    SQLite: a no-op UPDATE takes the database's write lock.
    """
    query = select(Customer).where(Customer.id.in_(ids)).order_by(Customer.id)
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    else:
        db.session.execute(update(Customer).where(Customer.id.in_(ids)).values(updated_at=Customer.updated_at))
    return list(db.session.scalars(query.execution_options(populate_existing=True)))


def _refresh(ids: list[uuid.UUID]) -> list[uuid.UUID]:
    customers = _lock(ids)
    contexts = contexts_of(customers)
    changed = []
    for customer in customers:
        context = contexts[customer.id]
        fingerprint = digest(context)
        if customer.jira_context_digest != fingerprint:
            key = f"customer-context:{customer.id}:{fingerprint}:{customer.jira_context_message_id or 'first'}"
            changed.append((customer, key, fingerprint, context))
    if not changed:
        db.session.commit()
        return []
    now = utcnow().isoformat()
    queued = outbox.add_messages(TOPIC, [
        (customer.organization_id, key, {"context": context, "digest": fingerprint, "computed_at": now})
        for customer, key, fingerprint, context in changed])
    # A key queued already (by another worker before a crash): remember that message.
    message_ids = dict(db.session.execute(select(OutboxMessage.idempotency_key, OutboxMessage.id).where(
        OutboxMessage.idempotency_key.in_([key for _, key, _, _ in changed]))).all())
    # Remember what was queued without touching updated_at (CSCX.AI's timestamp of the customer data).
    table = Customer.__table__
    db.session.execute(
        update(table).where(table.c.id == bindparam("customer_id")).values(
            jira_context_digest=bindparam("fingerprint"), jira_context_message_id=bindparam("message_id"),
            updated_at=table.c.updated_at),
        [{"customer_id": customer.id, "fingerprint": fingerprint, "message_id": message_ids[key]}
         for customer, key, fingerprint, _ in changed])
    db.session.commit()
    return queued
