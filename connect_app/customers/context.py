"""A customer's Jira context for CSCX.AI: open issue counts and issue health, pushed when it changes.

`issue_health` is plain arithmetic over the open issues' priorities; `refresh_contexts` computes
the context of some customers and queues a `customer.context` push for each one whose context
differs from the last one queued. The idempotency key chains each push to the previous one, so
two workers that observe the same change queue it once.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select, update

from connect_app.delivery import outbox
from connect_app.extensions import db
from connect_app.models import Customer, JiraCustomerLink, JiraIssue, OutboxMessage
from connect_app.models.types import utcnow

TOPIC = "customer.context"
# Points an open issue takes off a perfect 100, by priority.
PRIORITY_WEIGHT = {"blocker": 30, "highest": 25, "critical": 25, "high": 12, "major": 12, "medium": 5,
                   "low": 2, "minor": 2, "lowest": 1, "trivial": 1}
UNKNOWN_WEIGHT = 5


def issue_health(open_by_priority: dict[str, int]) -> dict[str, Any]:
    """A 0-100 score (100: no open issues) and a label, from open issue counts per priority."""
    penalty = sum(PRIORITY_WEIGHT.get((name or "").casefold(), UNKNOWN_WEIGHT) * n
                  for name, n in open_by_priority.items())
    score = max(0, 100 - penalty)
    label = "healthy" if score >= 80 else "at_risk" if score >= 50 else "critical"
    return {"score": score, "label": label}


def context_of(customer: Customer) -> dict[str, Any]:
    """The customer's current Jira context (counts over live linked issues)."""
    rows = db.session.execute(
        select(JiraIssue.status_category, JiraIssue.priority, func.count(func.distinct(JiraIssue.id)))
        .join(JiraCustomerLink, JiraCustomerLink.issue_id == JiraIssue.id)
        .where(JiraCustomerLink.customer_id == customer.id, JiraIssue.deleted_at.is_(None))
        .group_by(JiraIssue.status_category, JiraIssue.priority)
    ).all()
    open_by_priority: dict[str, int] = {}
    by_category = {"new": 0, "indeterminate": 0, "done": 0}
    for category, priority, n in rows:
        by_category[category or "new"] = by_category.get(category or "new", 0) + n
        if category != "done":
            open_by_priority[priority or "None"] = open_by_priority.get(priority or "None", 0) + n
    return {
        "customer": {"id": str(customer.id), "external_id": customer.external_id, "name": customer.name},
        "open_issues": sum(open_by_priority.values()),
        "open_by_priority": dict(sorted(open_by_priority.items())),
        "by_status_category": by_category,
        "linked_issues": sum(by_category.values()),
        "issue_health": issue_health(open_by_priority),
    }


def _digest(context: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(context, sort_keys=True).encode()).hexdigest()[:16]


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
        digest = _digest(context)
        if customer.jira_context_digest == digest:
            db.session.commit()
            continue
        key = f"customer-context:{customer.id}:{digest}:{customer.jira_context_message_id or 'first'}"
        message_id = outbox.add_message(customer.organization_id, TOPIC, key, {
            "context": context, "digest": digest, "computed_at": utcnow().isoformat()})
        if message_id:
            queued.append(message_id)
        else:  # already queued under this key (by another worker before a crash): remember that one
            message_id = db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key))
        # Remember what was queued without touching updated_at (CSCX.AI's timestamp of the customer data).
        db.session.execute(update(Customer).where(Customer.id == customer.id).values(
            jira_context_digest=digest, jira_context_message_id=message_id, updated_at=Customer.updated_at))
        db.session.commit()
    return queued
