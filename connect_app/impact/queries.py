"""What the impact API reads: the customers one issue affects, and open issues ranked by impact."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import cast, column, exists, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB

from connect_app.extensions import db
from connect_app.impact.score import SEVERITIES, severity_rank
from connect_app.impact.store import compute
from connect_app.models import Customer, IssueImpact, JiraConnection, JiraCustomerLink, JiraIssue
from connect_app.models.issues import TIER_BITS
from connect_app.models.types import utcnow

RENEWING_WITHIN_DAYS = 90
TOP_FACTORS = 3


def browse_url(connection: JiraConnection, key: str) -> str:
    """The issue's page in Jira (the site URL people use, not the API base)."""
    return f"{(connection.display_url or connection.base_url).rstrip('/')}/browse/{key}"


def issue_head(issue: JiraIssue, connection: JiraConnection) -> dict[str, Any]:
    """The issue as the impact answers show it."""
    return {"key": issue.jira_key, "summary": issue.summary, "priority": issue.priority, "status": issue.status,
            "status_category": issue.status_category, "type": issue.issue_type, "project": issue.project_key,
            "connection_id": str(issue.connection_id), "url": browse_url(connection, issue.jira_key)}


def affected_customers(issue: JiraIssue, today: date | None = None) -> dict[str, Any]:
    """GET /api/jira/affected-customers/<key>: the issue, its customers (biggest ARR first), totals and impact."""
    today = today or utcnow().date()
    connection = db.session.get(JiraConnection, issue.connection_id)
    rows = db.session.execute(
        select(Customer, JiraCustomerLink.link_type, JiraCustomerLink.source)
        .join(JiraCustomerLink, JiraCustomerLink.customer_id == Customer.id)
        .where(JiraCustomerLink.issue_id == issue.id, Customer.organization_id == connection.organization_id)
        .order_by(Customer.arr.desc(), Customer.name)).all()
    customers = []
    for customer, link_type, source in rows:
        days = (customer.renewal_date - today).days if customer.renewal_date else None
        customers.append({
            "id": str(customer.id), "name": customer.name, "slug": customer.slug, "tier": customer.tier,
            "arr": float(customer.arr or 0), "health_score": customer.health_score,
            "renewal_date": customer.renewal_date.isoformat() if customer.renewal_date else None,
            "days_to_renewal": days, "csm_owner": {"id": customer.csm_owner_id, "email": customer.csm_owner_email},
            "link_type": link_type, "source": source})
    renewing = [c for c in customers if c["days_to_renewal"] is not None
                and 0 <= c["days_to_renewal"] <= RENEWING_WITHIN_DAYS]
    computed = compute([issue.id], today=today).get(issue.id)
    return {
        "issue": issue_head(issue, connection),
        "customers": customers,
        "totals": {"customers": len(customers), "arr": round(sum(c["arr"] for c in customers), 2),
                   "arr_renewing_90d": round(sum(c["arr"] for c in renewing), 2),
                   "by_tier": dict(sorted(Counter(c["tier"] or "unknown" for c in customers).items())),
                   "by_link_type": dict(sorted(Counter(c["link_type"] for c in customers).items()))},
        "impact": computed.impact.as_dict() if computed else None,
    }


@dataclass(frozen=True)
class RankFilters:
    """The filters of the impact ranking (each tuple: any of these values)."""

    project: tuple[str, ...] = ()
    type: tuple[str, ...] = ()
    priority: tuple[str, ...] = ()
    status_category: tuple[str, ...] = ()
    component: tuple[str, ...] = ()
    customer_tier: tuple[str, ...] = ()
    min_severity: str | None = None
    limit: int = 50
    offset: int = 0


def _has_component(names: tuple[str, ...]):
    """SQL: the issue has one of these components (its JSON list), on PostgreSQL and SQLite."""
    if db.session.get_bind().dialect.name == "postgresql":
        # jsonb ?| text[]: any of the strings is an element of the array
        return cast(JiraIssue.components, JSONB).op("?|")(postgresql.array(list(names)))
    values = func.json_each(JiraIssue.components).table_valued("value")
    return exists(select(1).select_from(values).where(column("value").in_(names)))


def _ranked(organization_id: str, filters: RankFilters):
    query = (select(JiraIssue, IssueImpact, JiraConnection)
             .join(IssueImpact, IssueImpact.issue_id == JiraIssue.id)
             .join(JiraConnection, JiraConnection.id == JiraIssue.connection_id)
             .where(IssueImpact.organization_id == organization_id, JiraConnection.organization_id == organization_id,
                    IssueImpact.customers > 0, JiraIssue.deleted_at.is_(None)))
    category = func.coalesce(JiraIssue.status_category, "new")
    if filters.status_category:
        query = query.where(category.in_(filters.status_category))
    else:
        query = query.where(category != "done")
    if filters.project:
        query = query.where(JiraIssue.project_key.in_(filters.project))
    if filters.type:
        query = query.where(JiraIssue.issue_type.in_(filters.type))
    if filters.priority:
        query = query.where(JiraIssue.priority.in_(filters.priority))
    if filters.component:
        query = query.where(_has_component(filters.component))
    if filters.customer_tier:
        # The stored tier bits of the linked customers: no join over the links.
        bits = sum(TIER_BITS[tier] for tier in filters.customer_tier)
        query = query.where(IssueImpact.tiers.op("&")(bits) != 0)
    if filters.min_severity:
        floor = severity_rank(filters.min_severity)
        query = query.where(IssueImpact.severity.in_([s for s in SEVERITIES if severity_rank(s) >= floor]))
    return query


def rank(organization_id: str, filters: RankFilters) -> dict[str, Any]:
    """GET /api/jira/impact: open issues by impact (ties: more ARR first, then key), with the total."""
    query = _ranked(organization_id, filters)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = db.session.execute(query.order_by(IssueImpact.score.desc(), IssueImpact.arr.desc(), JiraIssue.jira_key)
                              .limit(filters.limit).offset(filters.offset)).all()
    return {"total": total, "limit": filters.limit, "offset": filters.offset, "issues": [
        issue_head(issue, connection) | {
            "rank": filters.offset + position, "score": impact.score, "severity": impact.severity,
            "customers": impact.customers, "arr_at_risk": float(impact.arr or 0),
            "top_factors": top_factors(impact.factors)}
        for position, (issue, impact, connection) in enumerate(rows, start=1)]}


def top_factors(factors: list[dict[str, Any]], n: int = TOP_FACTORS) -> list[dict[str, Any]]:
    """The stored factors earning the most points, largest first."""
    ranked = sorted((f for f in factors or [] if f.get("points", 0) > 0), key=lambda f: (-f["points"], f["name"]))
    return [{"name": f["name"], "points": f["points"]} for f in ranked[:n]]


CSV_COLUMNS = ("rank", "key", "summary", "status", "status_category", "priority", "type", "project", "score",
               "severity", "customers", "arr_at_risk", "top_factors", "url")
# Cells holding Jira's text, and the first characters a spreadsheet reads as a formula.
TEXT_COLUMNS = frozenset({"summary", "status", "priority", "type", "project"})
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def csv_row(row: dict[str, Any]) -> list[str]:
    """One ranking row as CSV cells (top factors as `name points; ...`). Jira text a spreadsheet would run as a
    formula (a summary starting with `=`, `+`, `-`, `@`; CSV injection) gets a leading quote."""
    cells = dict(row, top_factors="; ".join(f"{f['name']} {f['points']}" for f in row["top_factors"]))
    values = ["" if cells.get(name) is None else str(cells[name]) for name in CSV_COLUMNS]
    return [f"'{value}" if value.startswith(FORMULA_LEADS) and name in TEXT_COLUMNS else value
            for name, value in zip(CSV_COLUMNS, values, strict=True)]



def arr_at_risk(organization_id: str, filters: RankFilters, *, top_projects: int = 8) -> dict[str, Any]:
    """The ARR of the customers the ranked issues affect (same filters, every page), by the issues' severity and by
    project, with the total: a customer counts once per bar (and once in the total) however many of its issues fall
    in it. Linked customers count as in the ranking's `arr_at_risk`; a tier filter keeps that tier's customers only."""
    pairs = (_ranked(organization_id, filters)
             .with_only_columns(IssueImpact.severity, JiraIssue.project_key, Customer.id, Customer.arr)
             .join(JiraCustomerLink, JiraCustomerLink.issue_id == JiraIssue.id)
             .join(Customer, Customer.id == JiraCustomerLink.customer_id)
             .where(Customer.organization_id == organization_id))
    if filters.customer_tier:
        pairs = pairs.where(Customer.tier.in_(filters.customer_tier))
    pairs = pairs.subquery()

    def by(*bucket) -> list[tuple[Any, float, int]]:
        once = select(*bucket, pairs.c.id, pairs.c.arr).distinct().subquery()
        keys = [once.c[column.name] for column in bucket]
        return [(row[0] if keys else None, float(row[-2] or 0), int(row[-1])) for row in db.session.execute(
            select(*keys, func.sum(once.c.arr), func.count()).group_by(*keys))]

    severities = {name: (arr, customers) for name, arr, customers in by(pairs.c.severity)}
    projects = sorted(by(pairs.c.project_key), key=lambda row: (-row[1], row[0] or ""))
    total = by()
    rest = projects[top_projects:]
    return {
        "total": {"arr": total[0][1] if total else 0.0, "customers": total[0][2] if total else 0},
        "by_severity": [{"label": name, "arr": severities.get(name, (0.0, 0))[0],
                         "customers": severities.get(name, (0.0, 0))[1]} for name in SEVERITIES],
        "by_project": [{"label": name or "—", "arr": arr, "customers": customers}
                       for name, arr, customers in projects[:top_projects]],
        # Beyond the top projects: how many more, and their ARR summed (a customer in two of them counts twice).
        "other_projects": {"projects": len(rest), "arr": sum(arr for _, arr, _ in rest)},
    }
