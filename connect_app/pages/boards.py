"""What the PM's and admin's pages read beyond the capabilities' own queries: the impact filters' choices, an
issue's linked customers, the SLA board's tallies per policy and per customer, unread notifications, a sync's
progress. Thin SQL over stored rows; every query is scoped to the workspace."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select

from connect_app.extensions import db
from connect_app.models import (
    Customer,
    IssueImpact,
    JiraConnection,
    JiraCustomerLink,
    JiraIssue,
    Notification,
    SlaPolicy,
    SlaResult,
)

# A re-sync asked for but not started after this long is stalled (no worker?): the page stops polling.
QUEUE_PATIENCE = timedelta(minutes=2)


def impact_choices(organization_id: str) -> dict[str, list[str]]:
    """The projects, types and priorities among the workspace's ranked (open, linked) issues, for the filters."""
    rows = db.session.execute(
        select(JiraIssue.project_key, JiraIssue.issue_type, JiraIssue.priority).distinct()
        .join(IssueImpact, IssueImpact.issue_id == JiraIssue.id)
        .where(IssueImpact.organization_id == organization_id, IssueImpact.customers > 0,
               JiraIssue.deleted_at.is_(None),
               or_(JiraIssue.status_category.is_(None), JiraIssue.status_category != "done"))).all()
    return {name: sorted({row[n] for row in rows if row[n]}) for n, name in enumerate(("project", "type", "priority"))}


def issue_customers(organization_id: str, issue_id: uuid.UUID) -> list[dict[str, Any]]:
    """The workspace's customers linked to an issue, biggest ARR first."""
    rows = db.session.execute(
        select(Customer.id, Customer.name, Customer.tier, Customer.arr, JiraCustomerLink.link_type)
        .join(JiraCustomerLink, JiraCustomerLink.customer_id == Customer.id)
        .where(JiraCustomerLink.issue_id == issue_id, Customer.organization_id == organization_id)
        .order_by(Customer.arr.desc(), Customer.name)).all()
    return [{"id": str(c_id), "name": name, "tier": tier, "arr": float(arr or 0), "link_type": link_type}
            for c_id, name, tier, arr, link_type in rows]


def customers_of_issues(organization_id: str, items: Iterable[dict[str, Any]]) -> dict[tuple[str, str], list[dict]]:
    """The workspace's customers of each (connection id, key) of the board's items, by name."""
    wanted = {(str(item["connection_id"]), item["key"]) for item in items}
    if not wanted:
        return {}
    found: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for connection_id, key, customer_id, name in db.session.execute(
            select(JiraIssue.connection_id, JiraIssue.jira_key, Customer.id, Customer.name)
            .join(JiraCustomerLink, JiraCustomerLink.issue_id == JiraIssue.id)
            .join(Customer, Customer.id == JiraCustomerLink.customer_id)
            .where(Customer.organization_id == organization_id,
                   JiraIssue.jira_key.in_(sorted({key for _, key in wanted})),
                   JiraIssue.connection_id.in_(sorted({uuid.UUID(c) for c, _ in wanted})))
            .order_by(Customer.name)):
        if (str(connection_id), key) in wanted:
            found[(str(connection_id), key)].append({"id": str(customer_id), "name": name})
    return found


def _tally(rows) -> list[dict[str, Any]]:
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: {"breached": 0, "at_risk": 0})
    for row_id, name, state, count in rows:
        counts[(str(row_id), name)][state] = int(count)
    return sorted(({"id": row_id, "name": name, **states} for (row_id, name), states in counts.items()),
                  key=lambda t: (-t["breached"], -t["at_risk"], t["name"].casefold()))


def sla_tallies(organization_id: str, states: tuple[str, ...]) -> dict[str, list[dict[str, Any]]]:
    """How many clocks in these states each policy and each customer has, worst first (the board's overview)."""
    live = (SlaResult.organization_id == organization_id, SlaResult.state.in_(states), JiraIssue.deleted_at.is_(None))
    policies = db.session.execute(
        select(SlaPolicy.id, SlaPolicy.name, SlaResult.state, func.count())
        .join(SlaPolicy, SlaPolicy.id == SlaResult.policy_id).join(JiraIssue, JiraIssue.id == SlaResult.issue_id)
        .where(*live).group_by(SlaPolicy.id, SlaPolicy.name, SlaResult.state))
    customers = db.session.execute(
        select(Customer.id, Customer.name, SlaResult.state, func.count(SlaResult.id.distinct()))
        .join(JiraIssue, JiraIssue.id == SlaResult.issue_id)
        .join(JiraCustomerLink, JiraCustomerLink.issue_id == SlaResult.issue_id)
        .join(Customer, Customer.id == JiraCustomerLink.customer_id)
        .where(*live, Customer.organization_id == organization_id)
        .group_by(Customer.id, Customer.name, SlaResult.state))
    return {"policies": _tally(policies), "customers": _tally(customers)}


def unread_count(organization_id: str, user_id: str) -> int:
    """How many of the user's notifications are unread."""
    return int(db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.organization_id == organization_id, Notification.user_id == user_id,
        Notification.read_at.is_(None))) or 0)


def user_notification(organization_id: str, user_id: str, notification_id: uuid.UUID) -> Notification | None:
    """One of the user's notifications (another user's or workspace's is not found)."""
    return db.session.scalar(select(Notification).where(
        Notification.id == notification_id, Notification.organization_id == organization_id,
        Notification.user_id == user_id))


def workspace_connection(organization_id: str, connection_id: str) -> JiraConnection | None:
    """The workspace's connection (None for another workspace's or a malformed id)."""
    try:
        key = uuid.UUID(str(connection_id))
    except ValueError:
        return None
    return db.session.scalar(select(JiraConnection).where(JiraConnection.id == key,
                                                          JiraConnection.organization_id == organization_id))


def sync_progress(status: dict[str, Any], requested_at: datetime | None, now: datetime) -> str | None:
    """Where a connection's sync stands for the page: `running`, `queued` (asked for, not started yet), `stalled`
    (asked for QUEUE_PATIENCE ago and still not started) or None (nothing in progress)."""
    run = status.get("last_run")
    if run is not None and run["status"] == "running":
        return "running"
    if requested_at is None:
        return None
    finished = run is not None and run["finished_at"] and datetime.fromisoformat(run["finished_at"]) >= requested_at
    if finished:
        return None
    return "queued" if now - requested_at < QUEUE_PATIENCE else "stalled"
