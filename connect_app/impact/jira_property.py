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
import secrets
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, case, or_, select, update

from connect_app.atlassian.client import APP_KEY, JiraAuthError, JiraClient, JiraError
from connect_app.connections.access import jira_client
from connect_app.extensions import db
from connect_app.models import ConnectionKind, Customer, IssueImpact, JiraConnection, JiraCustomerLink, JiraIssue
from connect_app.platform import jobs, locks

log = logging.getLogger(__name__)

ISSUE_PROPERTY = "cscx-customers"
GLANCE_PROPERTY = f"com.atlassian.jira.issue:{APP_KEY}:cscx-customers-glance:status"
BATCH = 100
CLAIM_PREFIX = "writing:"  # + unix seconds and a nonce: a writer's claim on a batch
CLAIM_TIMEOUT_S = 600  # a claim older than this was abandoned (its writer died)
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


def _needs_check(now: float):
    """SQL: the row's property must be checked (stale), or a writer's claim on it was abandoned."""
    abandoned = f"{CLAIM_PREFIX}{int(now - CLAIM_TIMEOUT_S):010d}"
    return or_(IssueImpact.property_digest.is_(None),
               and_(IssueImpact.property_digest.like(f"{CLAIM_PREFIX}%"), IssueImpact.property_digest < abandoned))


def write_properties(connection_id: str, issue_ids: Iterable[uuid.UUID] | None = None, *,
                     client: JiraClient | None = None) -> dict[str, int]:
    """Job: write the stale properties of a connection's issues (or of these issues) that differ from Jira's.

    Each batch is claimed first (a conditional UPDATE), so two writers never write the same issue;
    a recompute meanwhile clears the claim, and the issue is checked again with its newer value.
    """
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
    try:
        # One writer per connection at a time: two writers' requests could reach Jira out of order.
        with locks.held(f"jira-property:{connection.id}"):
            _write_stale(connection, wanted, client, counts)
    except locks.LockTimeout:
        log.warning("impact.property_writer_busy", extra={"connection": str(connection.id)})
    if counts["written"] or counts["failed"]:
        log.info("impact.properties_written", extra={"connection": str(connection.id), **counts})
    return counts


def _write_stale(connection: JiraConnection, wanted: list[uuid.UUID] | None, client: JiraClient | None,
                 counts: dict[str, int]) -> None:
    """Claim, check and write stale properties batch by batch until none is left."""
    while True:
        query = (select(IssueImpact.issue_id).where(IssueImpact.connection_id == connection.id,
                                                    _needs_check(time.time()))
                 .order_by(IssueImpact.issue_id).limit(BATCH))
        if wanted is not None:
            query = query.where(IssueImpact.issue_id.in_(wanted))
        candidates = list(db.session.scalars(query))
        if not candidates:
            break
        token = f"{CLAIM_PREFIX}{int(time.time()):010d}:{secrets.token_hex(4)}"
        claimed = set(db.session.scalars(
            update(IssueImpact).where(IssueImpact.issue_id.in_(candidates), _needs_check(time.time()))
            .values(property_digest=token).returning(IssueImpact.issue_id)))
        db.session.commit()
        if not claimed:
            continue  # another writer took this batch
        try:
            _write_batch(connection, sorted(claimed), token, client, counts)
        except JiraAuthError as exc:
            db.session.rollback()
            _release(token)
            log.warning("impact.property_write_refused", extra={"connection": str(connection.id), "status": exc.status})
            counts["failed"] += len(claimed)
            break


def _release(token: str) -> None:
    """Give back a claim whose writes failed: the issues stay stale and the next writer retries them."""
    db.session.execute(update(IssueImpact).where(IssueImpact.property_digest == token).values(property_digest=None))
    db.session.commit()


def _write_batch(connection: JiraConnection, issue_ids: list[uuid.UUID], token: str, client: JiraClient | None,
                 counts: dict[str, int]) -> None:
    rows = db.session.execute(
        select(IssueImpact.issue_id, IssueImpact.written_digest, JiraIssue.jira_id, JiraIssue.deleted_at)
        .join(JiraIssue, JiraIssue.id == IssueImpact.issue_id).where(IssueImpact.issue_id.in_(issue_ids))
        .order_by(IssueImpact.issue_id)).all()
    values = property_values([row.issue_id for row in rows])
    to_write, settled = [], []
    for row in rows:
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
        entries = [(row.jira_id, {ISSUE_PROPERTY: value, GLANCE_PROPERTY: glance_value(value)})
                   for row, _, value in to_write]
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
    outcomes = sorted(settled + [(r, f, f) for r, f, _ in to_write], key=lambda entry: entry[0].issue_id)
    for row, fingerprint, written in outcomes:
        # One statement per row, in issue order: a second UPDATE of a row this transaction already
        # changed re-checks its foreign key (a share lock on the issue a webhook may hold).
        # Written: what Jira holds now, whatever happened to the claim. Checked: only while our claim
        # holds; a recompute meanwhile cleared it, and the issue is checked again.
        values: dict[str, Any] = {"property_digest": case((IssueImpact.property_digest == token, fingerprint),
                                                          else_=IssueImpact.property_digest)}
        if written is not None:
            values["written_digest"] = written
        db.session.execute(update(IssueImpact).where(IssueImpact.issue_id == row.issue_id).values(**values))
    db.session.commit()
    _release(token)  # what failed to write stays stale


def submit_writes(connection_ids: Iterable[uuid.UUID]) -> None:
    """Start property writers for these connections (after the commit that made their properties stale)."""
    for connection_id in sorted({str(c) for c in connection_ids}):
        jobs.submit(write_properties, connection_id)


def stale_connections() -> list[uuid.UUID]:
    """Connections with properties waiting to be checked (the periodic refresh restarts their writers)."""
    return list(db.session.scalars(select(IssueImpact.connection_id).where(_needs_check(time.time())).distinct()))
