"""Subscriptions and fan-out: who hears about an issue event, written once per person and once to the outbox.

Who is subscribed:
- the CSM owner (`csm_owner_id`) of every customer linked to the issue, by default, for
  DEFAULT_OWNER_KINDS; an "owner" subscription row of that user overrides the kinds
  (["none"] mutes them);
- anyone with an "issue" subscription to that issue ("Alert me when CS-123 is resolved");
- anyone with a "customer" subscription to one of the linked customers.
A subscription's `event_kinds` filters kinds; empty means every kind.

Fan-out is idempotent: notifications are unique per (workspace, user, event) and the outbox
message's idempotency key is the event's, so replaying an event changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, or_, select, update

from connect_app.delivery import outbox
from connect_app.extensions import db
from connect_app.models import Customer, IssueEvent, JiraConnection, JiraIssue, Notification, Subscription
from connect_app.models.issues import EVENT_KINDS
from connect_app.models.types import iso, utcnow
from connect_app.platform import claims

MUTED = "none"
# The kinds a CSM hears about by default for the customers they own.
DEFAULT_OWNER_KINDS = ("resolved", "reopened", "moved_to_development", "priority_changed",
                       "assignee_changed", "deleted", "sla_at_risk", "sla_breached")
TITLES = {
    "created": "{key} was created",
    "resolved": "{key} was resolved",
    "reopened": "{key} was reopened",
    "moved_to_development": "{key} moved to development",
    "priority_changed": "{key} priority changed",
    "assignee_changed": "{key} was reassigned",
    "status_changed": "{key} changed status",
    "deleted": "{key} was deleted",
    "sla_at_risk": "{key} is at risk of breaching its SLA",
    "sla_breached": "{key} breached its SLA",
}


class SubscriptionError(ValueError):
    """A subscription request that cannot be honoured; `field` names the culprit."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def issue_target(connection_id: uuid.UUID | str, jira_key: str) -> str:
    """The target string of an issue subscription."""
    return f"issue:{connection_id}:{jira_key.upper()}"


def customer_target(customer_id: uuid.UUID | str) -> str:
    """The target string of a customer subscription."""
    return f"customer:{customer_id}"


def wants(event_kinds: Sequence[str] | None, kind: str) -> bool:
    """Whether a subscription's kinds include `kind` (empty: every kind; ["none"]: nothing)."""
    if not event_kinds:
        return True
    return kind in event_kinds and MUTED not in event_kinds


def _clean_kinds(raw: Any, scope: str) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(k, str) for k in raw):
        raise SubscriptionError("event_kinds", "event_kinds must be a list of event kinds")
    allowed = set(EVENT_KINDS) | ({MUTED} if scope == "owner" else set())
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise SubscriptionError("event_kinds", f"unknown event kinds: {', '.join(unknown)} "
                                               f"(known: {', '.join(sorted(allowed))})")
    return sorted(set(raw))


def _resolve_issue_connection(organization_id: str, jira_key: str, connection_id: str | None) -> uuid.UUID:
    connections = db.session.scalars(select(JiraConnection.id).where(
        JiraConnection.organization_id == organization_id)).all()
    if connection_id:
        try:
            wanted = uuid.UUID(str(connection_id))
        except ValueError:
            raise SubscriptionError("connection_id", "connection_id is not a valid id") from None
        if wanted not in connections:
            raise SubscriptionError("connection_id", "no such Jira connection in this workspace")
        return wanted
    holding = db.session.scalars(select(JiraIssue.connection_id).where(
        JiraIssue.connection_id.in_(connections), JiraIssue.jira_key == jira_key)).all() if connections else []
    if len(set(holding)) == 1:
        return holding[0]
    if len(connections) == 1:
        return connections[0]
    raise SubscriptionError("connection_id", "name the Jira connection (connection_id): the key is ambiguous"
                            if connections else "this workspace has no Jira connection")


def subscribe(organization_id: str, user_id: str, user_email: str | None,
              request: dict[str, Any]) -> tuple[Subscription, bool]:
    """Create or update the caller's subscription (issue, customer or owner preferences); returns (row, created)."""
    scope = request.get("scope")
    if scope not in ("issue", "customer", "owner"):
        raise SubscriptionError("scope", "scope must be issue, customer or owner")
    kinds = _clean_kinds(request.get("event_kinds"), scope)
    values: dict[str, Any] = {"scope": scope}
    if scope == "issue":
        key = request.get("jira_key")
        if not isinstance(key, str) or not key.strip() or len(key) > 60:
            raise SubscriptionError("jira_key", "jira_key is required for an issue subscription")
        key = key.strip().upper()
        connection_id = _resolve_issue_connection(organization_id, key, request.get("connection_id"))
        values |= {"target": issue_target(connection_id, key), "connection_id": connection_id, "jira_key": key}
    elif scope == "customer":
        try:
            customer_id = uuid.UUID(str(request.get("customer_id")))
        except ValueError:
            raise SubscriptionError("customer_id", "customer_id is required for a customer subscription") from None
        customer = db.session.get(Customer, customer_id)
        if customer is None or customer.organization_id != organization_id:
            raise SubscriptionError("customer_id", "no such customer in this workspace")
        values |= {"target": customer_target(customer_id), "customer_id": customer_id}
    else:
        values |= {"target": "owner"}
    existing = db.session.scalar(select(Subscription).where(
        Subscription.organization_id == organization_id, Subscription.user_id == user_id,
        Subscription.target == values["target"]))
    if existing is not None:
        existing.event_kinds = kinds
        existing.user_email = user_email or existing.user_email
        db.session.commit()
        return existing, False
    subscription = Subscription(organization_id=organization_id, user_id=user_id, user_email=user_email,
                                event_kinds=kinds, **values)
    db.session.add(subscription)
    db.session.commit()
    return subscription, True


def subscriptions_of(organization_id: str, user_id: str) -> list[Subscription]:
    """The user's explicit subscriptions, newest first."""
    return list(db.session.scalars(select(Subscription).where(
        Subscription.organization_id == organization_id, Subscription.user_id == user_id)
        .order_by(Subscription.created_at.desc())))


def unsubscribe(organization_id: str, user_id: str, subscription_id: uuid.UUID) -> bool:
    """Delete one of the user's subscriptions; False if it is not theirs or does not exist."""
    result = db.session.execute(delete(Subscription).where(
        Subscription.id == subscription_id, Subscription.organization_id == organization_id,
        Subscription.user_id == user_id))
    db.session.commit()
    return result.rowcount == 1


@dataclass
class Recipient:
    """One person to notify and why."""

    user_id: str
    reasons: list[str]


def recipients_for(organization_id: str, connection_id: uuid.UUID, jira_key: str, kind: str,
                   customers: Iterable[Customer]) -> list[Recipient]:
    """Everyone who should hear about an event of `kind` on this issue, each once."""
    customers = list(customers)
    rows = _subscriptions(organization_id, [(connection_id, jira_key, customers)])
    return _recipients(rows, connection_id, jira_key, kind, customers)


SUBSCRIPTION_CHUNK = 500  # targets per subscription query


def _subscriptions(organization_id: str,
                   issues: Iterable[tuple[uuid.UUID, str, Sequence[Customer]]]) -> list[Subscription]:
    """The subscriptions that may concern these (connection, issue key, customers): one query per chunk."""
    targets, owners = set(), set()
    for connection_id, jira_key, customers in issues:
        targets.add(issue_target(connection_id, jira_key))
        targets.update(customer_target(c.id) for c in customers)
        owners.update(c.csm_owner_id for c in customers if c.csm_owner_id)
    found: dict[uuid.UUID, Subscription] = {}
    targets_sorted, owners_sorted = sorted(targets), sorted(owners)
    for start in range(0, max(len(targets_sorted), len(owners_sorted)), SUBSCRIPTION_CHUNK):
        chunk_targets = targets_sorted[start:start + SUBSCRIPTION_CHUNK]
        chunk_owners = owners_sorted[start:start + SUBSCRIPTION_CHUNK]
        for row in db.session.scalars(select(Subscription).where(
                Subscription.organization_id == organization_id,
                or_(Subscription.target.in_(chunk_targets or [""]),
                    (Subscription.target == "owner") & Subscription.user_id.in_(chunk_owners or [""])))):
            found[row.id] = row
    return list(found.values())


def _recipients(rows: Sequence[Subscription], connection_id: uuid.UUID, jira_key: str, kind: str,
                customers: Sequence[Customer]) -> list[Recipient]:
    """Pure: who of these subscriptions (and the customers' owners) hears about an event of `kind`."""
    targets = {issue_target(connection_id, jira_key)} | {customer_target(c.id) for c in customers}
    owner_prefs = {s.user_id: s for s in rows if s.scope == "owner"}
    found: dict[str, Recipient] = {}

    def add(user_id: str, reason: str) -> None:
        found.setdefault(user_id, Recipient(user_id, [])).reasons.append(reason)

    for customer in customers:
        owner = customer.csm_owner_id
        if not owner:
            continue
        preference = owner_prefs.get(owner)
        kinds = preference.event_kinds if preference is not None else list(DEFAULT_OWNER_KINDS)
        if wants(kinds, kind):
            add(owner, f"owner:{customer.id}")
    for row in rows:
        if row.scope != "owner" and row.target in targets and wants(row.event_kinds, kind):
            add(row.user_id, row.target)
    return sorted(found.values(), key=lambda r: r.user_id)


def issue_summary(issue: JiraIssue) -> dict[str, Any]:
    """The issue as notifications and pushes show it."""
    return {"key": issue.jira_key, "id": issue.jira_id, "summary": issue.summary, "status": issue.status,
            "status_category": issue.status_category, "priority": issue.priority, "issue_type": issue.issue_type,
            "assignee": issue.assignee_name, "resolution": issue.resolution,
            "updated_at": iso(issue.updated_at),
            "deleted": issue.deleted_at is not None}


def customer_summary(customer: Customer) -> dict[str, Any]:
    """A customer as notifications and pushes show it."""
    return {"id": str(customer.id), "name": customer.name, "external_id": customer.external_id,
            # A JSON number, as /api/customers shows it (stored to the cent, so a float holds it exactly).
            "arr": float(customer.arr) if customer.arr is not None else None, "tier": customer.tier,
            "csm_owner_id": customer.csm_owner_id}


def fan_out(organization_id: str, event: IssueEvent, issue: JiraIssue, customers: Sequence[Customer],
            topic: str | None = None) -> list[Any]:
    """Write the event's notifications and its outbox message (in the caller's transaction); returns new outbox ids.

    The push's topic is `jira.issue.<kind>` unless given (SLA alerts are `issue.sla`).
    """
    return fan_out_many(organization_id, [(event, issue, customers)], topic=topic)


def fan_out_many(organization_id: str, events: Sequence[tuple[IssueEvent, JiraIssue, Sequence[Customer]]],
                 topic: str | None = None) -> list[Any]:
    """`fan_out` for many events of one workspace: one subscription lookup, one insert per table."""
    rows = _subscriptions(organization_id, [(e.connection_id, e.jira_key, customers) for e, _, customers in events])
    notifications: list[dict[str, Any]] = []
    messages: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for event, issue, customers in events:
        recipients = _recipients(rows, event.connection_id, event.jira_key, event.kind, customers)
        title = TITLES.get(event.kind, "{key} changed").format(key=event.jira_key)
        if issue.summary:
            title = f"{title}: {issue.summary}"[:500]
        details = {"issue": issue_summary(issue), "customers": [customer_summary(c) for c in customers],
                   "change": event.details, "occurred_at": event.occurred_at.isoformat()}
        notifications += [{
            "organization_id": organization_id, "user_id": recipient.user_id, "event_id": event.id,
            "kind": event.kind, "jira_key": event.jira_key, "title": title,
            "details": details | {"reasons": recipient.reasons},
        } for recipient in recipients]
        if customers or recipients:
            messages.setdefault(topic or f"jira.issue.{event.kind}", []).append((
                organization_id, f"issue-event:{event.id}", {
                    "event": {"id": str(event.id), "kind": event.kind, "occurred_at": event.occurred_at.isoformat(),
                              "connection_id": str(event.connection_id)},
                    "title": title, **details, "recipients": [r.user_id for r in recipients]}))
    for start in range(0, len(notifications), NOTIFICATION_CHUNK):
        claims.insert_ignore_many(Notification, notifications[start:start + NOTIFICATION_CHUNK],
                                  conflict=("organization_id", "user_id", "event_id"))
    queued: list[Any] = []
    for message_topic, batch in messages.items():
        for start in range(0, len(batch), NOTIFICATION_CHUNK):
            queued += outbox.add_messages(message_topic, batch[start:start + NOTIFICATION_CHUNK])
    return queued


NOTIFICATION_CHUNK = 500


def notifications_for(organization_id: str, user_id: str, *, unread_only: bool = False, limit: int = 50,
                      before: Any = None) -> list[Notification]:
    """The user's notifications, newest change first (by when it happened in Jira, not when we heard of it)."""
    query = (select(Notification).join(IssueEvent, IssueEvent.id == Notification.event_id)
             .where(Notification.organization_id == organization_id, Notification.user_id == user_id))
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    if before is not None:
        query = query.where(IssueEvent.occurred_at < before)
    order = (IssueEvent.occurred_at.desc(), Notification.created_at.desc(), Notification.id)
    return list(db.session.scalars(query.order_by(*order).limit(limit)))


def mark_read(organization_id: str, user_id: str, ids: Iterable[uuid.UUID] | None) -> int:
    """Mark some (or, with None, all) of the user's notifications read; returns how many changed."""
    statement = update(Notification).where(Notification.organization_id == organization_id,
                                           Notification.user_id == user_id, Notification.read_at.is_(None))
    if ids is not None:
        statement = statement.where(Notification.id.in_(list(ids)))
    result = db.session.execute(statement.values(read_at=utcnow()))
    db.session.commit()
    return result.rowcount
