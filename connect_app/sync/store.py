"""Set-based writes of the sync: bulk upserts of issues, status and field history, and rule links.

Every write is one statement per batch (INSERT ... ON CONFLICT on SQLite and PostgreSQL alike),
idempotent, so a page written twice (a retry, a resumed sync) leaves the same rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, distinct, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from connect_app.extensions import db
from connect_app.linking.rules import Rule
from connect_app.models import IssueFieldChange, IssueStatusChange, JiraCustomerLink, JiraIssue
from connect_app.models.types import utcnow

CHUNK = 500
ISSUE_COLUMNS = ("jira_key", "project_key", "summary", "issue_type", "status", "status_id", "status_category",
                 "priority", "resolution", "assignee_id", "assignee_name", "reporter_id", "reporter_name",
                 "labels", "components", "custom_fields", "created_at", "updated_at", "resolved_at")


def _insert(model):
    """INSERT for the session's dialect, with on_conflict_* support.

    Into the model's table, not the model: the rows are plain dicts executed many at a time, and the
    ORM's bulk path would only add per-row bookkeeping (a third of a sync's write time).
    """
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model.__table__)


def _chunks(items: list, size: int = CHUNK) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def version_ts(row: dict) -> int:
    """Jira's clock for a row (its `updated`, ms): an older write never overwrites a newer one."""
    updated = row.get("updated_at")
    return int(updated.timestamp() * 1000) if updated else 0


def existing_issues(connection_id: uuid.UUID, jira_ids: Iterable[str]) -> dict[str, tuple[uuid.UUID, str | None, int]]:
    """jira_id -> (row id, status_id, version_ts) for the stored issues among jira_ids."""
    found: dict[str, tuple[uuid.UUID, str | None, int]] = {}
    for chunk in _chunks(list(jira_ids)):
        rows = db.session.execute(
            select(JiraIssue.jira_id, JiraIssue.id, JiraIssue.status_id, JiraIssue.version_ts)
            .where(JiraIssue.connection_id == connection_id, JiraIssue.jira_id.in_(chunk))
        )
        found.update({jira_id: (row_id, status_id, version) for jira_id, row_id, status_id, version in rows})
    return found


def upsert_issues(connection_id: uuid.UUID, rows: list[dict], synced_at: datetime) -> dict[str, uuid.UUID]:
    """Insert or update issues (keyed by connection + Jira id); returns jira_id -> row id."""
    if not rows:
        return {}
    unique = {row["jira_id"]: row for row in rows}  # a page may repeat an issue across queries
    for chunk in _chunks(list(unique.values())):
        values = [{"id": uuid.uuid4(), "connection_id": connection_id, "jira_id": row["jira_id"],
                   **{c: row[c] for c in ISSUE_COLUMNS}, "version_ts": version_ts(row), "deleted_at": None,
                   "synced_at": synced_at} for row in chunk]
        # One statement executed for many rows: compiled once, cached, sent as batched VALUES.
        statement = _insert(JiraIssue)
        excluded = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=["connection_id", "jira_id"],
            set_={c: excluded[c] for c in (*ISSUE_COLUMNS, "version_ts", "deleted_at", "synced_at")},
            where=JiraIssue.version_ts <= excluded.version_ts,
        )
        db.session.execute(statement, values)
    return {jira_id: row_id for jira_id, (row_id, *_) in existing_issues(connection_id, unique).items()}


def insert_status_changes(connection_id: uuid.UUID, changes: list[dict], categories: dict[str, str]) -> int:
    """Store status transitions (issue_id, change_id unique); existing ones are left as they are."""
    if not changes:
        return 0
    for chunk in _chunks(changes):
        values = [{
            "id": uuid.uuid4(), "connection_id": connection_id, "issue_id": c["issue_id"],
            "change_id": c["change_id"], "from_status": c["from_status"], "to_status": c["to_status"],
            "from_category": categories.get(str(c.get("from_status_id"))),
            "to_category": categories.get(str(c.get("to_status_id"))),
            "changed_at": c["changed_at"], "changed_by": (c.get("changed_by") or None),
        } for c in chunk]
        db.session.execute(_insert(IssueStatusChange).on_conflict_do_nothing(index_elements=["issue_id", "change_id"]),
                           values)
    return len(changes)


def insert_field_changes(connection_id: uuid.UUID, changes: list[dict]) -> int:
    """Store changelog items (issue, history id, field, nth item unique); existing ones are left as they are."""
    if not changes:
        return 0
    for chunk in _chunks(changes):
        values = [{"id": uuid.uuid4(), "connection_id": connection_id} | c for c in chunk]
        db.session.execute(_insert(IssueFieldChange).on_conflict_do_nothing(
            index_elements=["issue_id", "change_id", "field_key", "seq"]), values)
    return len(changes)


def history_counts(issue_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    """How many changelog histories each of these issues has in its stored field history."""
    found: dict[uuid.UUID, int] = {}
    for chunk in _chunks(list(issue_ids)):
        found.update(dict(db.session.execute(
            select(IssueFieldChange.issue_id, func.count(distinct(IssueFieldChange.change_id)))
            .where(IssueFieldChange.issue_id.in_(chunk)).group_by(IssueFieldChange.issue_id)).all()))
    return found


def apply_rule_links(connection_id: uuid.UUID, desired: dict[uuid.UUID, dict[str, Rule]], keys: dict[uuid.UUID, str],
                     *, customers: set[str] | None = None) -> dict[str, int]:
    """Make the rule links of these issues exactly `desired` (issue id -> customer id -> winning rule).

    Manual and created links are never touched, and a rule never overwrites them. `customers`
    restricts the change to those customers (an on-demand refresh of one customer).
    """
    counts = {"linked": 0, "unlinked": 0}
    desired = {issue_id: dict(by_customer) for issue_id, by_customer in desired.items()}
    issue_ids = list(desired)
    stale: list[uuid.UUID] = []
    for chunk in _chunks(issue_ids):
        rows = db.session.execute(
            select(JiraCustomerLink.id, JiraCustomerLink.issue_id, JiraCustomerLink.customer_id,
                   JiraCustomerLink.rule_id, JiraCustomerLink.link_type)
            .where(JiraCustomerLink.issue_id.in_(chunk), JiraCustomerLink.source == "rule")
        )
        for link_id, issue_id, customer_id, rule_id, link_type in rows:
            if customers is not None and str(customer_id) not in customers:
                continue
            rule = desired[issue_id].get(str(customer_id))
            if rule is None:
                stale.append(link_id)
            elif str(rule_id) == rule.id and link_type == rule.link_type:
                del desired[issue_id][str(customer_id)]  # already as wanted: no write
    for chunk in _chunks(stale):
        db.session.execute(delete(JiraCustomerLink).where(JiraCustomerLink.id.in_(chunk)))
    counts["unlinked"] = len(stale)
    now = utcnow()
    values = [{"id": uuid.uuid4(), "connection_id": connection_id, "issue_id": issue_id, "jira_key": keys[issue_id],
               "customer_id": uuid.UUID(customer_id), "link_type": rule.link_type, "source": "rule",
               "rule_id": uuid.UUID(rule.id), "created_at": now, "updated_at": now}
              for issue_id, by_customer in desired.items() for customer_id, rule in by_customer.items()
              if customers is None or customer_id in customers]
    for chunk in _chunks(values):
        statement = _insert(JiraCustomerLink)
        excluded = statement.excluded
        db.session.execute(statement.on_conflict_do_update(
            index_elements=["issue_id", "customer_id"],
            set_={"link_type": excluded.link_type, "rule_id": excluded.rule_id, "jira_key": excluded.jira_key,
                  "updated_at": excluded.updated_at},
            where=JiraCustomerLink.source == "rule",  # a manual link is never replaced by a rule link
        ), chunk)
    counts["linked"] = len(values)
    return counts


def mark_deleted(connection_id: uuid.UUID, issue_ids: list[uuid.UUID]) -> int:
    """An issue is gone from Jira (deleted or no longer visible): flag it and drop all its links."""
    for chunk in _chunks(issue_ids):
        db.session.execute(delete(JiraCustomerLink).where(JiraCustomerLink.issue_id.in_(chunk)))
        db.session.execute(update(JiraIssue).where(JiraIssue.connection_id == connection_id,
                                                   JiraIssue.id.in_(chunk)).values(deleted_at=utcnow()))
    return len(issue_ids)


def stored_issue_fields(issue_ids: Iterable[uuid.UUID]) -> list[dict]:
    """The matching inputs of stored issues: id, jira_id, jira_key, labels, components, custom_fields."""
    found = []
    for chunk in _chunks(list(issue_ids)):
        rows = db.session.execute(
            select(JiraIssue.id, JiraIssue.jira_id, JiraIssue.jira_key, JiraIssue.labels, JiraIssue.components,
                   JiraIssue.custom_fields).where(JiraIssue.id.in_(chunk), JiraIssue.deleted_at.is_(None))
        )
        found += [{"id": r[0], "jira_id": r[1], "jira_key": r[2], "labels": r[3], "components": r[4],
                   "custom_fields": r[5]} for r in rows]
    return found
