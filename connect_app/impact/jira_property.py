"""Jira's view of an issue's customers and impact: the indexed issue property and the glance status.

The property (`cscx-customers`) carries the customers' slugs (`cscxCustomer = acme-corp` in JQL),
their count and ARR, and the impact score and severity (`cscxImpactScore > 70 ORDER BY
cscxImpactScore DESC`); the Connect glance shows the count and the severity. Whenever an issue's
customers or impact may have changed, its `IssueImpact.property_digest` is cleared; the writer
builds the value of every such issue, compares its digest with what was last written, and writes
only the ones that differ, in bulk (100 issues a request on Cloud).

Only sites where our Jira app is installed get the property: its descriptor is what makes Jira
index it under the `cscx*` JQL aliases. A site connected by OAuth or a token has no such index.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, update

from connect_app.atlassian.client import APP_KEY, JiraAuthError, JiraClient, JiraError
from connect_app.connections.access import jira_client
from connect_app.extensions import db
from connect_app.models import ConnectionKind, Customer, IssueImpact, JiraConnection, JiraCustomerLink, JiraIssue
from connect_app.platform import jobs

log = logging.getLogger(__name__)

ISSUE_PROPERTY = "cscx-customers"
GLANCE_PROPERTY = f"com.atlassian.jira.issue:{APP_KEY}:cscx-customers-glance:status"
BATCH = 100
NOT_INDEXED = "not-indexed"  # the digest of a site without our app: nothing to write there
GLANCE_LOZENGE = {"critical": "removed", "high": "moved", "medium": "inprogress", "low": "default"}


def property_values(issue_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """The property value each issue should have in Jira (customers biggest ARR first, then by name)."""
    customers: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    arr: dict[uuid.UUID, float] = defaultdict(float)
    rows = db.session.execute(
        select(JiraCustomerLink.issue_id, JiraCustomerLink.link_type, Customer.id, Customer.name, Customer.slug,
               Customer.arr)
        .join(Customer, Customer.id == JiraCustomerLink.customer_id)
        .where(JiraCustomerLink.issue_id.in_(issue_ids))
        .order_by(JiraCustomerLink.issue_id, Customer.arr.desc(), Customer.name))
    for issue_id, link_type, customer_id, name, slug, customer_arr in rows:
        customers[issue_id].append({"id": str(customer_id), "name": name, "slug": slug, "link_type": link_type})
        arr[issue_id] += float(customer_arr or 0)
    impacts = dict(db.session.execute(select(IssueImpact.issue_id, IssueImpact).where(
        IssueImpact.issue_id.in_(issue_ids))).all())
    values = {}
    for issue_id in issue_ids:
        linked = customers.get(issue_id, [])
        impact = impacts.get(issue_id)
        values[issue_id] = {
            "slugs": [c["slug"] for c in linked], "count": len(linked), "arr": round(arr.get(issue_id, 0.0), 2),
            "customers": linked,
            "impactScore": impact.score if impact is not None else 0.0,
            "impactSeverity": impact.severity if impact is not None and linked else "none",
        }
    return values


def glance_value(value: dict[str, Any]) -> dict[str, Any]:
    """The Connect issue glance's status: a lozenge with the count and severity, or a 0 badge."""
    if not value["count"]:
        return {"type": "badge", "value": {"label": "0"}}
    severity = value["impactSeverity"]
    return {"type": "lozenge", "value": {"label": f"{value['count']} · {severity}",
                                         "type": GLANCE_LOZENGE.get(severity, "default")}}


def digest(value: dict[str, Any]) -> str:
    """A fingerprint of a property value (equal values, equal digests)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def write_properties(connection_id: str, issue_ids: Iterable[uuid.UUID] | None = None, *,
                     client: JiraClient | None = None) -> dict[str, int]:
    """Job: write the stale properties of a connection's issues (or of these issues) that differ from Jira's."""
    connection = db.session.get(JiraConnection, uuid.UUID(str(connection_id)))
    counts = {"checked": 0, "written": 0, "unchanged": 0, "failed": 0}
    if connection is None or connection.organization_id is None:
        return counts
    if connection.kind != ConnectionKind.CONNECT:
        db.session.execute(update(IssueImpact).where(IssueImpact.connection_id == connection.id,
                                                     IssueImpact.property_digest.is_(None))
                           .values(property_digest=NOT_INDEXED))
        db.session.commit()
        return counts
    wanted = sorted(set(issue_ids)) if issue_ids is not None else None
    done: set[uuid.UUID] = set()
    while True:
        query = (select(IssueImpact.issue_id, IssueImpact.written_digest, IssueImpact.computed_at, JiraIssue.jira_id,
                        JiraIssue.deleted_at)
                 .join(JiraIssue, JiraIssue.id == IssueImpact.issue_id)
                 .where(IssueImpact.connection_id == connection.id, IssueImpact.property_digest.is_(None))
                 .order_by(IssueImpact.issue_id).limit(BATCH))
        if wanted is not None:
            query = query.where(IssueImpact.issue_id.in_(wanted))
        if done:
            query = query.where(IssueImpact.issue_id.not_in(done))
        batch = db.session.execute(query).all()
        if not batch:
            break
        done.update(row.issue_id for row in batch)
        try:
            _write_batch(connection, batch, client, counts)
        except JiraAuthError as exc:
            db.session.rollback()
            log.warning("impact.property_write_refused", extra={"connection": str(connection.id), "status": exc.status})
            counts["failed"] += len(batch)
            break
    if counts["written"] or counts["failed"]:
        log.info("impact.properties_written", extra={"connection": str(connection.id), **counts})
    return counts


def _write_batch(connection: JiraConnection, batch, client: JiraClient | None, counts: dict[str, int]) -> None:
    values = property_values([row.issue_id for row in batch])
    to_write, settled = [], []
    for row in batch:
        value = values[row.issue_id]
        fingerprint = digest(value)
        counts["checked"] += 1
        if fingerprint == row.written_digest or (row.written_digest is None and not value["count"]) \
                or row.deleted_at is not None:
            settled.append((row, fingerprint, row.written_digest))  # Jira already says this (or there is no issue)
            counts["unchanged"] += 1
        else:
            to_write.append((row, fingerprint, value))
    if to_write:
        entries = []
        for row, _, value in to_write:
            properties = {ISSUE_PROPERTY: value}
            if connection.kind == ConnectionKind.CONNECT:
                properties[GLANCE_PROPERTY] = glance_value(value)
            entries.append((row.jira_id, properties))
        try:
            missing = set((client or jira_client(connection)).set_issue_properties(entries))
        except JiraAuthError:
            raise
        except JiraError as exc:
            counts["failed"] += len(to_write)
            log.warning("impact.property_write_failed", extra={"connection": str(connection.id), "status": exc.status,
                                                               "issues": len(to_write)})
            to_write = []
        else:  # an issue Jira no longer has needs no property: settled as it is
            settled += [(row, fingerprint, row.written_digest) for row, fingerprint, _ in to_write
                        if row.jira_id in missing]
            to_write = [entry for entry in to_write if entry[0].jira_id not in missing]
        counts["written"] += len(to_write)
    for row, fingerprint, written in settled + [(r, f, f) for r, f, _ in to_write]:
        # Only if nothing recomputed the issue meanwhile (computed_at moves with every change).
        db.session.execute(update(IssueImpact).where(
            IssueImpact.issue_id == row.issue_id, IssueImpact.computed_at == row.computed_at,
            IssueImpact.property_digest.is_(None)).values(property_digest=fingerprint, written_digest=written))
    db.session.commit()


def submit_writes(connection_ids: Iterable[uuid.UUID]) -> None:
    """Start property writers for these connections (after the commit that made their properties stale)."""
    for connection_id in sorted({str(c) for c in connection_ids}):
        jobs.submit(write_properties, connection_id)


def stale_connections() -> list[uuid.UUID]:
    """Connections with properties waiting to be checked (the periodic refresh restarts their writers)."""
    return list(db.session.scalars(select(IssueImpact.connection_id).where(
        IssueImpact.property_digest.is_(None)).distinct()))
