"""Read side of the sync for the API: a customer's issues (filtered, sorted, paged) and one issue's detail.

Every query is scoped to the workspace: the customer and the issue's connection must both belong to it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from connect_app.connections import priorities
from connect_app.extensions import db
from connect_app.models import (
    LINK_TYPES,
    Customer,
    IssueStatusChange,
    JiraConnection,
    JiraCustomerLink,
    JiraIssue,
)
from connect_app.models.types import iso, utcnow
from connect_app.sync.custom_fields import custom_field_list
from connect_app.sync.field_catalog import field_names

STATUS_CATEGORIES = ("new", "indeterminate", "done")
SORTS = ("updated", "created", "priority", "status", "key", "resolved")


class QueryError(ValueError):
    """A filter or sort the API cannot honour; the message names it."""


@dataclass(frozen=True)
class IssueFilters:
    """Filters of GET /api/jira/issues/<customer_id>."""

    status_category: tuple[str, ...] = ()
    priority: tuple[str, ...] = ()
    issue_type: tuple[str, ...] = ()
    link_type: tuple[str, ...] = ()
    open_only: bool = False
    sort: str = "-updated"
    limit: int = 50
    offset: int = 0

    def check(self) -> IssueFilters:
        """Raise QueryError for unknown values."""
        for value in self.status_category:
            if value not in STATUS_CATEGORIES:
                raise QueryError(f"status_category must be one of {', '.join(STATUS_CATEGORIES)}")
        for value in self.link_type:
            if value not in LINK_TYPES:
                raise QueryError(f"link_type must be one of {', '.join(LINK_TYPES)}")
        if self.sort.lstrip("-") not in SORTS:
            raise QueryError(f"sort must be one of {', '.join(SORTS)} (prefix - for descending)")
        return self


def workspace_customer(organization_id: str, customer_id: str) -> Customer | None:
    """The customer if it belongs to the workspace (None for a foreign or malformed id)."""
    try:
        key = uuid.UUID(str(customer_id))
    except ValueError:
        return None
    return db.session.scalar(select(Customer).where(Customer.id == key, Customer.organization_id == organization_id))


def _sort_column(organization_id: str, name: str):
    if name == "priority":
        # Higher priority is the greater value (so -priority is the most urgent first), by each site's own order.
        return -priorities.rank_column(priorities.workspace_orders(organization_id))
    return {"updated": JiraIssue.updated_at, "created": JiraIssue.created_at, "resolved": JiraIssue.resolved_at,
            "status": JiraIssue.status, "key": JiraIssue.jira_key}[name]


def customer_issues(organization_id: str, customer: Customer, filters: IssueFilters) -> dict:
    """The customer's linked issues from the database: {total, issues: [issue + link]}."""
    query = (
        select(JiraIssue, JiraCustomerLink)
        .join(JiraCustomerLink, JiraCustomerLink.issue_id == JiraIssue.id)
        .join(JiraConnection, JiraConnection.id == JiraIssue.connection_id)
        .where(JiraCustomerLink.customer_id == customer.id, JiraConnection.organization_id == organization_id,
               JiraIssue.deleted_at.is_(None))
    )
    if filters.status_category:
        query = query.where(JiraIssue.status_category.in_(filters.status_category))
    if filters.open_only:
        query = query.where((JiraIssue.status_category.is_(None)) | (JiraIssue.status_category != "done"))
    if filters.priority:
        query = query.where(func.lower(JiraIssue.priority).in_([p.lower() for p in filters.priority]))
    if filters.issue_type:
        query = query.where(func.lower(JiraIssue.issue_type).in_([t.lower() for t in filters.issue_type]))
    if filters.link_type:
        query = query.where(JiraCustomerLink.link_type.in_(filters.link_type))
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    column = _sort_column(organization_id, filters.sort.lstrip("-"))
    direction = column.desc() if filters.sort.startswith("-") else column.asc()
    rows = db.session.execute(
        query.order_by(direction.nulls_last(), JiraIssue.jira_key).limit(filters.limit).offset(filters.offset)
    ).all()
    return {"total": total, "issues": [issue_summary(issue) | {"link": link_json(link)} for issue, link in rows]}


def issue_summary(issue: JiraIssue) -> dict:
    """The list form of an issue."""
    return {
        "key": issue.jira_key, "id": issue.jira_id, "connection_id": str(issue.connection_id),
        "project_key": issue.project_key, "summary": issue.summary, "issue_type": issue.issue_type,
        "status": issue.status, "status_category": issue.status_category, "priority": issue.priority,
        "resolution": issue.resolution, "assignee": {"id": issue.assignee_id, "name": issue.assignee_name},
        "reporter": {"id": issue.reporter_id, "name": issue.reporter_name},
        "created_at": iso(issue.created_at), "updated_at": iso(issue.updated_at),
        "resolved_at": iso(issue.resolved_at),
    }


def link_json(link: JiraCustomerLink) -> dict:
    """Why an issue is linked to a customer."""
    return {"link_type": link.link_type, "source": link.source, "rule_id": str(link.rule_id) if link.rule_id else None,
            "created_at": iso(link.created_at)}


def find_issue(organization_id: str, key: str, connection_id: str | None = None) -> list[JiraIssue]:
    """The workspace's issues with this key (one per connection; narrowed by connection_id if given)."""
    query = (select(JiraIssue).join(JiraConnection, JiraConnection.id == JiraIssue.connection_id)
             .where(JiraConnection.organization_id == organization_id, JiraIssue.jira_key == key.upper(),
                    JiraIssue.deleted_at.is_(None)))
    if connection_id:
        try:
            query = query.where(JiraIssue.connection_id == uuid.UUID(connection_id))
        except ValueError as exc:
            raise QueryError("connection must be a UUID") from exc
    return list(db.session.scalars(query))


def status_timeline(issue: JiraIssue, now: datetime | None = None) -> list[dict]:
    """Each status the issue was in, from when to when, and for how long (seconds), from the changelog."""
    changes = db.session.scalars(select(IssueStatusChange).where(IssueStatusChange.issue_id == issue.id)
                                 .order_by(IssueStatusChange.changed_at, IssueStatusChange.change_id)).all()
    now = now or utcnow()
    timeline = []
    start, status = issue.created_at, (changes[0].from_status if changes else issue.status)
    category = changes[0].from_category if changes else issue.status_category
    for change in changes:
        timeline.append({"status": status, "status_category": category, "from": iso(start),
                         "to": iso(change.changed_at), "changed_by": change.changed_by,
                         "seconds": _seconds(start, change.changed_at)})
        start, status, category = change.changed_at, change.to_status, change.to_category
    timeline.append({"status": status, "status_category": category, "from": iso(start), "to": None,
                     "changed_by": None, "seconds": _seconds(start, now)})
    return timeline


def _seconds(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, int((end - start).total_seconds()))


def time_in_status(timeline: list[dict]) -> dict[str, int]:
    """Total seconds per status over the timeline."""
    totals: dict[str, int] = {}
    for entry in timeline:
        if entry["status"] and entry["seconds"] is not None:
            totals[entry["status"]] = totals.get(entry["status"], 0) + entry["seconds"]
    return totals


def issue_detail(organization_id: str, issue: JiraIssue) -> dict:
    """Full detail: fields, custom fields by name, status timeline with time in status, linked customers."""
    linked = db.session.execute(
        select(JiraCustomerLink, Customer).join(Customer, Customer.id == JiraCustomerLink.customer_id)
        .where(JiraCustomerLink.issue_id == issue.id, Customer.organization_id == organization_id)
        .order_by(Customer.arr.desc(), Customer.name_key)
    ).all()
    timeline = status_timeline(issue)
    return issue_summary(issue) | {
        "labels": issue.labels or [], "components": issue.components or [],
        "custom_fields": custom_field_list(issue.custom_fields or {},
                                           field_names(issue.connection_id, issue.custom_fields or {})),
        "synced_at": iso(issue.synced_at),
        "status_timeline": timeline, "time_in_status": time_in_status(timeline),
        "customers": [{"id": str(c.id), "name": c.name, "slug": c.slug, "arr": float(c.arr or 0),
                       "health_score": c.health_score, "tier": c.tier} | link_json(link) for link, c in linked],
    }
