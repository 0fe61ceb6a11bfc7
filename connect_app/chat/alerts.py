"""Chat answers about the caller's alerts: subscribe, unsubscribe, and list what they watch.

Alerts are the delivery subscriptions ("Alert me when CS-123 is resolved" is an issue subscription of the
token's user, its event kinds the ones named): asking twice keeps one subscription, asking for another
event adds it to the subscription's kinds, and "stop alerting me when ..." takes one kind away.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from connect_app.chat.answers import Answer, ask, clarify_connection, which_customer
from connect_app.chat.issues import find_issues, host_of, not_found
from connect_app.chat.replies import alert_phrase, listing
from connect_app.chat.understand import Reading
from connect_app.creation.drafts import Principal
from connect_app.delivery import notify
from connect_app.extensions import db
from connect_app.models import Customer, Subscription
from connect_app.models.issues import EVENT_KINDS
from connect_app.models.types import iso
from connect_app.sync.queries import workspace_customer


def subscription_view(row: Subscription, customers: dict[uuid.UUID, str]) -> dict[str, Any]:
    """A subscription as the chat's card shows it."""
    return {"id": str(row.id), "scope": row.scope, "jira_key": row.jira_key,
            "connection_id": str(row.connection_id) if row.connection_id else None,
            "customer": {"id": str(row.customer_id), "name": customers.get(row.customer_id, "")}
            if row.customer_id else None,
            "event_kinds": list(row.event_kinds or []), "created_at": iso(row.created_at)}


def _subject(row: Subscription, customers: dict[uuid.UUID, str]) -> tuple[str, str]:
    if row.scope == "customer":
        name = customers.get(row.customer_id, "a customer")
        return f"an issue of {name}", f"{name}'s issues"
    return row.jira_key, row.jira_key


def _names(rows: list[Subscription]) -> dict[uuid.UUID, str]:
    ids = {r.customer_id for r in rows if r.customer_id}
    if not ids:
        return {}
    return dict(db.session.execute(select(Customer.id, Customer.name).where(Customer.id.in_(ids))).all())


def _target(organization_id: str, reading: Reading, connection_id: str | None,
            ) -> tuple[dict[str, Any] | None, Answer | None]:
    """The subscription request an alert message is about (an issue, else a customer), or the answer that
    asks or explains instead."""
    if reading.issue_key:
        issues, connections, trouble = find_issues(organization_id, reading.issue_key, site=reading.site,
                                                   connection_id=connection_id)
        if not issues:
            return None, Answer(reading.intent, reading.entities(), not_found(reading.issue_key, trouble))
        if len(issues) > 1:
            return None, clarify_connection(reading, [(str(i.connection_id), host_of(connections[i.connection_id]))
                                                      for i in issues])
        return {"scope": "issue", "jira_key": issues[0].jira_key,
                "connection_id": str(issues[0].connection_id)}, None
    customer = reading.customer and workspace_customer(organization_id, reading.customer.customer.id)
    if customer is None:
        if reading.unmatched:
            return None, ask(reading, "customer", which_customer(reading, "do you mean"))
        return None, ask(reading, "issue", "Which issue? Give me its key, like CS-123.")
    return {"scope": "customer", "customer_id": str(customer.id)}, None


def _matches(row: Subscription, request: dict[str, Any]) -> bool:
    if request["scope"] == "issue":
        return row.target == notify.issue_target(request["connection_id"], request["jira_key"])
    return row.target == notify.customer_target(request["customer_id"])


def subscribe(organization_id: str, principal: Principal, reading: Reading, connection_id: str | None = None) -> Answer:
    """Alert the caller about an issue (or a customer's issues): one subscription, its kinds widened."""
    request, answer = _target(organization_id, reading, connection_id)
    if answer:
        return answer
    existing = next((r for r in notify.subscriptions_of(organization_id, principal.user_id) if _matches(r, request)),
                    None)
    before = sorted(existing.event_kinds or []) if existing else None
    wanted = sorted(set(reading.event_kinds))
    kinds = wanted if existing is None or not wanted or not before else sorted(set(before) | set(wanted))
    row, created = notify.subscribe(organization_id, principal.user_id, principal.email,
                                    request | {"event_kinds": kinds})
    names = _names([row])
    subject, every = _subject(row, names)
    phrase = alert_phrase(kinds, subject, every)
    if created:
        reply = f"Done: I'll alert you {phrase}."
    elif before == kinds:
        reply = f"You already get alerts {phrase}."
    else:
        reply = f"Done: you now get alerts {phrase}."
    card = {"kind": "subscription", "subscriptions": [subscription_view(row, names)], "created": created}
    remember = {"issue_key": row.jira_key} if row.jira_key else {"customer_id": str(row.customer_id)}
    return Answer("subscribe", reading.entities(), reply, card, remember=remember)


def unsubscribe(organization_id: str, principal: Principal, reading: Reading,
                connection_id: str | None = None) -> Answer:
    """Stop the caller's alerts about an issue or a customer (only the kind named, if one is)."""
    rows = notify.subscriptions_of(organization_id, principal.user_id)
    if reading.issue_key:
        subject = reading.issue_key
        found = [r for r in rows if r.scope == "issue" and r.jira_key == reading.issue_key
                 and (not connection_id or str(r.connection_id) == connection_id)]
    else:
        customer = reading.customer and workspace_customer(organization_id, reading.customer.customer.id)
        if customer is None:
            return ask(reading, "customer" if reading.unmatched else "issue", which_customer(reading, "do you mean")
                       if reading.unmatched else "Which issue should I stop alerting you about? Give me its key.")
        subject = customer.name
        found = [r for r in rows if r.target == notify.customer_target(customer.id)]
        if not found and customer.csm_owner_id == principal.user_id:
            return Answer("unsubscribe", reading.entities(), f"You have no alerts of your own about {subject}; as "
                          "its CSM you hear about its issues by default (your notification settings change that).")
    if not found:
        return Answer("unsubscribe", reading.entities(), f"You don't get alerts about {subject}.")
    names = _names(found)
    kept = []
    for row in found:
        remaining = [k for k in (row.event_kinds or EVENT_KINDS) if k not in reading.event_kinds]
        if reading.event_kinds and remaining:
            request = {"scope": row.scope, "jira_key": row.jira_key, "event_kinds": remaining,
                       "connection_id": str(row.connection_id) if row.connection_id else None,
                       "customer_id": str(row.customer_id) if row.customer_id else None}
            kept.append(notify.subscribe(organization_id, principal.user_id, principal.email, request)[0])
        else:
            notify.unsubscribe(organization_id, principal.user_id, row.id)
    if kept:
        reply = f"Done: no more alerts {alert_phrase(reading.event_kinds, subject)}; you still get the others."
    else:
        reply = f"Done: no more alerts about {subject}."
    card = {"kind": "subscription", "subscriptions": [subscription_view(r, names) for r in kept],
            "removed": len(found) - len(kept)}
    return Answer("unsubscribe", reading.entities(), reply, card)


def list_subscriptions(organization_id: str, principal: Principal, reading: Reading) -> Answer:
    """What the caller watches (their issue and customer alerts)."""
    rows = [r for r in notify.subscriptions_of(organization_id, principal.user_id) if r.scope != "owner"]
    names = _names(rows)
    if not rows:
        reply = "You aren't watching any issue or customer. Say “alert me when CS-123 is resolved” to start."
    else:
        described = []
        for row in rows:
            subject = row.jira_key if row.scope == "issue" else names.get(row.customer_id, "a customer")
            kinds = ", ".join(k.replace("_", " ") for k in row.event_kinds or []) or "every change"
            described.append(f"{subject} ({kinds})")
        reply = f"You get alerts about {listing(described)}."
    card = {"kind": "subscription", "subscriptions": [subscription_view(r, names) for r in rows]}
    return Answer("list_subscriptions", {}, reply, card)
