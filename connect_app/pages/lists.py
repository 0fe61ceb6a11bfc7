"""What the pages read: a customer's issues with impact and SLA state (filtered, searched, sorted, paged),
and the customer's header figures. Thin SQL over the stored rows; every query is scoped to the workspace."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select

from connect_app.connections import priorities
from connect_app.delivery.notify import issue_target
from connect_app.extensions import db
from connect_app.models import (
    Customer,
    IssueImpact,
    JiraConnection,
    JiraCustomerLink,
    JiraIssue,
    SlaResult,
    Subscription,
)

PAGE_SIZE = 25
QUICK_FILTERS = {"open": "Open", "bugs": "Bugs", "features": "Feature requests", "breaching": "Breaching SLA",
                 "subscribed": "I'm subscribed"}
FEATURE_TYPES = ("story", "new feature", "feature", "feature request", "improvement", "suggestion")
SORTS = {"updated": "Last updated", "impact": "Impact", "priority": "Priority", "created": "Age", "key": "Key"}
SLA_RANK = {"breached": 4, "at_risk": 3, "running": 2, "paused": 1}
AT_RISK_SEVERITIES = ("critical", "high")


@dataclass(frozen=True)
class ListQuery:
    """A customer's issue list as the page asks for it."""

    filters: frozenset[str] = frozenset({"open"})
    q: str = ""
    sort: str = "updated"
    page: int = 1


def _open():
    return or_(JiraIssue.status_category.is_(None), JiraIssue.status_category != "done")


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _worst_sla():
    rank = case(SLA_RANK, value=SlaResult.state, else_=0)
    return (select(func.max(rank)).where(SlaResult.issue_id == JiraIssue.id, SlaResult.stopped_at.is_(None))
            .correlate(JiraIssue).scalar_subquery())


def customer_issues(customer: Customer, user_id: str, query: ListQuery) -> dict[str, Any]:
    """One page of the customer's linked issues, with the total."""
    worst = _worst_sla()
    base = (select(JiraIssue, JiraCustomerLink.link_type, IssueImpact.score, IssueImpact.severity, worst.label("sla"))
            .join(JiraCustomerLink, JiraCustomerLink.issue_id == JiraIssue.id)
            .join(JiraConnection, JiraConnection.id == JiraIssue.connection_id)
            .outerjoin(IssueImpact, IssueImpact.issue_id == JiraIssue.id)
            .where(JiraCustomerLink.customer_id == customer.id, JiraIssue.deleted_at.is_(None),
                   JiraConnection.organization_id == customer.organization_id))
    if "open" in query.filters:
        base = base.where(_open())
    if "bugs" in query.filters:
        base = base.where(func.lower(JiraIssue.issue_type) == "bug")
    if "features" in query.filters:
        base = base.where(func.lower(JiraIssue.issue_type).in_(FEATURE_TYPES))
    if "breaching" in query.filters:
        base = base.where(exists().where(SlaResult.issue_id == JiraIssue.id, SlaResult.state == "breached",
                                         SlaResult.stopped_at.is_(None)))
    if "subscribed" in query.filters:
        base = base.where(exists().where(
            Subscription.organization_id == customer.organization_id, Subscription.user_id == user_id,
            Subscription.jira_key == JiraIssue.jira_key, Subscription.connection_id == JiraIssue.connection_id))
    if query.q:
        pattern = f"%{_escape_like(query.q.casefold())}%"
        base = base.where(or_(func.lower(JiraIssue.summary).like(pattern, escape="\\"),
                              func.lower(JiraIssue.jira_key).like(pattern, escape="\\")))
    total = db.session.scalar(select(func.count()).select_from(base.order_by(None).subquery()))
    priority = priorities.rank_column(priorities.workspace_orders(customer.organization_id))
    order = {"updated": [JiraIssue.updated_at.desc()], "impact": [func.coalesce(IssueImpact.score, 0).desc()],
             "priority": [priority.asc().nulls_last()], "created": [JiraIssue.created_at.asc()],
             "key": [JiraIssue.project_key, func.length(JiraIssue.jira_key), JiraIssue.jira_key]}[query.sort]
    rows = db.session.execute(base.order_by(*order, JiraIssue.jira_key, JiraIssue.id)
                              .limit(PAGE_SIZE).offset((query.page - 1) * PAGE_SIZE)).all()
    sla_names = {n: s for s, n in SLA_RANK.items()}
    return {"total": int(total or 0), "pages": max(1, -(-int(total or 0) // PAGE_SIZE)),
            "issues": [{"issue": issue, "link_type": link_type, "score": score, "severity": severity,
                        "sla": sla_names.get(sla)} for issue, link_type, score, severity, sla in rows]}


def header(customer: Customer) -> dict[str, Any]:
    """The customer's header figures: open issues, the worst of them, and the ARR at risk (its ARR when an open
    issue of high or critical impact affects it)."""
    counts = db.session.execute(
        select(func.count(), func.sum(case((IssueImpact.severity.in_(AT_RISK_SEVERITIES), 1), else_=0)))
        .select_from(JiraIssue)
        .join(JiraCustomerLink, and_(JiraCustomerLink.issue_id == JiraIssue.id,
                                     JiraCustomerLink.customer_id == customer.id))
        .outerjoin(IssueImpact, IssueImpact.issue_id == JiraIssue.id)
        .where(JiraIssue.deleted_at.is_(None), _open())).one()
    open_issues, serious = int(counts[0] or 0), int(counts[1] or 0)
    return {"open": open_issues, "serious": serious, "arr_at_risk": float(customer.arr or 0) if serious else 0.0}


def version(customer: Customer) -> str:
    """A stamp that changes whenever one of the customer's issues changes (one indexed aggregate)."""
    stamp: tuple[datetime | None, int] = db.session.execute(
        select(func.max(JiraIssue.synced_at), func.count())
        .join(JiraCustomerLink, JiraCustomerLink.issue_id == JiraIssue.id)
        .where(JiraCustomerLink.customer_id == customer.id)).one()
    return f"{stamp[0].isoformat() if stamp[0] else '-'}/{stamp[1]}"


def is_subscribed(organization_id: str, user_id: str, issue: JiraIssue) -> uuid.UUID | None:
    """The user's subscription to this issue, if any."""
    return db.session.scalar(select(Subscription.id).where(
        Subscription.organization_id == organization_id, Subscription.user_id == user_id,
        Subscription.target == issue_target(issue.connection_id, issue.jira_key)))
