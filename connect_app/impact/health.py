"""Each customer's issue health, and the Jira context CSCX.AI gets for a customer.

One GROUP BY (customer, priority) over the open linked issues gives every customer's load at
once; `score.issue_health` turns a load into a score, a label and factors.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select

from connect_app.extensions import db
from connect_app.impact.score import WAITING_AFTER_DAYS, HealthLoad, issue_health
from connect_app.impact.store import link_weight_of, settings_of
from connect_app.models import Customer, IssueImpact, JiraCustomerLink, JiraIssue, SlaResult
from connect_app.models.types import iso, utcnow

TOP_ISSUES = 5
CHUNK = 500


def _open():
    return (JiraIssue.deleted_at.is_(None), func.coalesce(JiraIssue.status_category, "new") != "done")


def health_loads(organization_id: str, customer_ids: Iterable[uuid.UUID] | None = None,
                 now: datetime | None = None) -> dict[uuid.UUID, HealthLoad]:
    """The open load of each customer of the workspace (or of these customers); customers with nothing open get none."""
    now = now or utcnow()
    settings = settings_of(organization_id)
    lw = link_weight_of(settings)
    not_picked_up = (func.coalesce(JiraIssue.status_category, "new") == "new") \
        & (JiraIssue.created_at < now - timedelta(days=WAITING_AFTER_DAYS))
    waiting = case((not_picked_up, 1), else_=0)
    query = (select(JiraCustomerLink.customer_id, JiraIssue.priority, func.sum(lw), func.count(),
                    func.min(JiraIssue.created_at), func.sum(waiting))
             .join(JiraIssue, JiraIssue.id == JiraCustomerLink.issue_id)
             .join(Customer, Customer.id == JiraCustomerLink.customer_id)
             .where(Customer.organization_id == organization_id, *_open())
             .group_by(JiraCustomerLink.customer_id, JiraIssue.priority))
    ids = sorted({uuid.UUID(str(c)) for c in customer_ids}) if customer_ids is not None else None
    chunks = [ids[i:i + CHUNK] for i in range(0, len(ids), CHUNK)] if ids is not None else [None]
    by_priority: dict[uuid.UUID, dict[str, float]] = defaultdict(dict)
    counts: dict[uuid.UUID, int] = defaultdict(int)
    oldest: dict[uuid.UUID, datetime] = {}
    waiting_counts: dict[uuid.UUID, int] = defaultdict(int)
    for chunk in chunks:
        scoped = query if chunk is None else query.where(JiraCustomerLink.customer_id.in_(chunk))
        for customer_id, priority, weighted, count, first, waits in db.session.execute(scoped):
            by_priority[customer_id][priority or "None"] = float(weighted or 0)
            counts[customer_id] += int(count)
            waiting_counts[customer_id] += int(waits or 0)
            if first is not None and (customer_id not in oldest or first < oldest[customer_id]):
                oldest[customer_id] = first
    breaches = _breaches(organization_id, chunks)
    return {customer_id: HealthLoad(
        open_by_priority=by_priority[customer_id], open_count=counts[customer_id],
        oldest_open_days=(now - oldest[customer_id]).days if customer_id in oldest else None,
        waiting_on_engineering=waiting_counts[customer_id], sla_breaches=breaches.get(customer_id, 0))
        for customer_id in counts}


def _breaches(organization_id: str, chunks) -> dict[uuid.UUID, int]:
    """Per customer: open issues with a breached SLA clock."""
    breached = (select(JiraCustomerLink.customer_id, func.count(func.distinct(SlaResult.issue_id)))
                .join(SlaResult, SlaResult.issue_id == JiraCustomerLink.issue_id)
                .join(JiraIssue, JiraIssue.id == JiraCustomerLink.issue_id)
                .where(SlaResult.organization_id == organization_id, SlaResult.state == "breached", *_open())
                .group_by(JiraCustomerLink.customer_id))
    found: dict[uuid.UUID, int] = {}
    for chunk in chunks:
        scoped = breached if chunk is None else breached.where(JiraCustomerLink.customer_id.in_(chunk))
        found.update({customer_id: int(n) for customer_id, n in db.session.execute(scoped)})
    return found


NOTHING_OPEN = HealthLoad(open_by_priority={}, open_count=0, oldest_open_days=None, waiting_on_engineering=0)


def customer_health(customer: Customer, now: datetime | None = None) -> dict[str, Any]:
    """GET /api/customers/<id>/issue-health: score, label, factors and the top open issues by impact."""
    load = health_loads(customer.organization_id, [customer.id], now).get(customer.id, NOTHING_OPEN)
    top = db.session.execute(
        select(JiraIssue, IssueImpact.score, IssueImpact.severity, JiraCustomerLink.link_type)
        .join(JiraCustomerLink, JiraCustomerLink.issue_id == JiraIssue.id)
        .join(IssueImpact, IssueImpact.issue_id == JiraIssue.id, isouter=True)
        .where(JiraCustomerLink.customer_id == customer.id, *_open())
        .order_by(func.coalesce(IssueImpact.score, 0).desc(), JiraIssue.jira_key).limit(TOP_ISSUES)).all()
    return {"customer": {"id": str(customer.id), "name": customer.name}, **issue_health(load),
            "top_issues": [{"key": issue.jira_key, "summary": issue.summary, "status": issue.status,
                            "priority": issue.priority, "link_type": link_type,
                            "impact": {"score": score or 0.0, "severity": severity or "low"},
                            "created_at": iso(issue.created_at)} for issue, score, severity, link_type in top]}


def all_health(organization_id: str, now: datetime | None = None) -> dict[uuid.UUID, dict[str, Any]]:
    """Every customer of the workspace: its issue health (benchmarks and reports)."""
    loads = health_loads(organization_id, None, now)
    return {customer_id: issue_health(loads.get(customer_id, NOTHING_OPEN)) for customer_id in db.session.scalars(
        select(Customer.id).where(Customer.organization_id == organization_id))}


def context_of(customer: Customer, now: datetime | None = None) -> dict[str, Any]:
    """The customer's Jira context pushed to CSCX.AI: open issues by priority and category, issue health."""
    return contexts_of([customer], now)[customer.id]


def contexts_of(customers: Iterable[Customer], now: datetime | None = None) -> dict[uuid.UUID, dict[str, Any]]:
    """`context_of` for many customers: one GROUP BY per chunk of customers and one load query per workspace."""
    customers = list(customers)
    ids = sorted({c.id for c in customers}, key=str)
    counts: dict[uuid.UUID, list[tuple[str | None, str | None, int]]] = defaultdict(list)
    for start in range(0, len(ids), CHUNK):
        for customer_id, category, priority, n in db.session.execute(
                select(JiraCustomerLink.customer_id, JiraIssue.status_category, JiraIssue.priority,
                       func.count(func.distinct(JiraIssue.id)))
                .join(JiraCustomerLink, JiraCustomerLink.issue_id == JiraIssue.id)
                .where(JiraCustomerLink.customer_id.in_(ids[start:start + CHUNK]), JiraIssue.deleted_at.is_(None))
                .group_by(JiraCustomerLink.customer_id, JiraIssue.status_category, JiraIssue.priority)):
            counts[customer_id].append((category, priority, n))
    by_workspace: dict[str, list[uuid.UUID]] = defaultdict(list)
    for customer in customers:
        by_workspace[customer.organization_id].append(customer.id)
    loads: dict[uuid.UUID, HealthLoad] = {}
    for organization_id, members in by_workspace.items():
        loads |= health_loads(organization_id, members, now)
    return {c.id: _context(c, counts[c.id], loads.get(c.id, NOTHING_OPEN)) for c in customers}


def _context(customer: Customer, counts: list[tuple[str | None, str | None, int]], load: HealthLoad) -> dict[str, Any]:
    open_by_priority: dict[str, int] = {}
    by_category = {"new": 0, "indeterminate": 0, "done": 0}
    for category, priority, n in counts:
        by_category[category or "new"] = by_category.get(category or "new", 0) + n
        if category != "done":
            open_by_priority[priority or "None"] = open_by_priority.get(priority or "None", 0) + n
    health = issue_health(load)
    return {
        "customer": {"id": str(customer.id), "external_id": customer.external_id, "name": customer.name},
        "open_issues": sum(open_by_priority.values()),
        "open_by_priority": dict(sorted(open_by_priority.items())),
        "by_status_category": by_category,
        "linked_issues": sum(by_category.values()),
        "issue_health": health,
    }


def digest(context: dict[str, Any]) -> str:
    """A short fingerprint of a context: equal contexts, equal digests."""
    return hashlib.sha256(json.dumps(context, sort_keys=True).encode()).hexdigest()[:16]
