"""The customers of one issue: what the Jira panel shows, manual links, and the write-back to Jira."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from connect_app.atlassian.client import JiraError
from connect_app.delivery.outbox import submit_deliveries
from connect_app.extensions import db
from connect_app.impact.jira_property import write_properties
from connect_app.impact.queries import top_factors
from connect_app.impact.store import recompute
from connect_app.linking.rule_store import customer_label
from connect_app.models import (
    LINK_TYPES,
    AuditEntry,
    Customer,
    IssueImpact,
    JiraConnection,
    JiraCustomerLink,
    JiraIssue,
)
from connect_app.sla import store as sla
from connect_app.sync.engine import sync_issue

log = logging.getLogger(__name__)

class LinkError(Exception):
    """A manual link cannot be made or removed; the message is safe to show the user."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class LinkedCustomer:
    """One row of the panel: a customer and why it is linked."""

    customer: Customer
    link: JiraCustomerLink


@dataclass(frozen=True)
class IssueCustomers:
    """Everything the panel shows about one issue."""

    issue: JiraIssue | None
    linked: list[LinkedCustomer]
    impact: IssueImpact | None = None
    sla_state: str | None = None  # the worst state of the issue's SLA clocks

    @property
    def top_factors(self) -> list[dict[str, Any]]:
        """The impact factors earning the most points."""
        return top_factors(self.impact.factors) if self.impact is not None else []

    @property
    def total_arr(self) -> Decimal:
        """ARR of every linked customer, counted once each."""
        return sum((row.customer.arr or Decimal(0) for row in self.linked), Decimal(0))


def issue_customers(connection: JiraConnection, issue_key: str) -> IssueCustomers:
    """The issue row (if synced) and its linked customers, biggest ARR first."""
    issue = db.session.scalar(
        select(JiraIssue).where(JiraIssue.connection_id == connection.id, JiraIssue.jira_key == issue_key)
    )
    if issue is None:
        return IssueCustomers(None, [])
    rows = db.session.execute(
        select(JiraCustomerLink, Customer)
        .join(Customer, Customer.id == JiraCustomerLink.customer_id)
        .where(JiraCustomerLink.issue_id == issue.id, Customer.organization_id == connection.organization_id)
        .order_by(Customer.arr.desc(), Customer.name_key)
    ).all()
    return IssueCustomers(issue, [LinkedCustomer(customer, link) for link, customer in rows],
                          db.session.get(IssueImpact, issue.id), sla.worst_state(issue.id))


def _customer_of_workspace(connection: JiraConnection, customer_id: str) -> Customer:
    try:
        key = uuid.UUID(str(customer_id))
    except ValueError as exc:
        raise LinkError("customer id must be a UUID") from exc
    customer = db.session.get(Customer, key)
    # A customer of another workspace is reported exactly like a missing one.
    if customer is None or customer.organization_id != connection.organization_id:
        raise LinkError("no such customer in this workspace", 404)
    return customer


def ensure_issue(connection: JiraConnection, issue_key: str, client) -> JiraIssue:
    """The issue's row; an issue not synced yet is fetched and stored (with its rule links) first."""
    issue = db.session.scalar(
        select(JiraIssue).where(JiraIssue.connection_id == connection.id, JiraIssue.jira_key == issue_key)
    )
    if issue is not None and issue.deleted_at is None:
        return issue
    issue = sync_issue(connection, issue_key, client=client)
    if issue is None or issue.deleted_at is not None:
        raise LinkError(f"{issue_key} does not exist in Jira or the app cannot see it", 404)
    if issue.jira_key != issue_key:  # the issue was moved: Jira answered with its new key
        raise LinkError(f"{issue_key} is now {issue.jira_key}; open that issue instead", 409)
    return issue


def add_manual_link(connection: JiraConnection, issue_key: str, customer_id: str, link_type: str,
                    actor_account_id: str | None, client, *, actor_type: str = "jira_user") -> JiraCustomerLink:
    """Link a customer to an issue by hand (an engineer in the panel, a CSM in CSCX.AI); audited, then written
    back to Jira."""
    if link_type not in LINK_TYPES:
        raise LinkError(f"link type must be one of {', '.join(LINK_TYPES)}")
    customer = _customer_of_workspace(connection, customer_id)
    issue = ensure_issue(connection, issue_key, client)
    link = db.session.scalar(
        select(JiraCustomerLink).where(JiraCustomerLink.issue_id == issue.id,
                                       JiraCustomerLink.customer_id == customer.id)
    )
    if link is None:
        link = JiraCustomerLink(connection_id=connection.id, issue_id=issue.id, jira_key=issue.jira_key,
                                customer_id=customer.id)
        db.session.add(link)
    # A manual decision outranks a rule: the link now survives syncs even if the rule stops matching.
    link.link_type, link.source, link.rule_id, link.created_by = link_type, "manual", None, actor_account_id
    db.session.add(AuditEntry(
        organization_id=connection.organization_id, connection_id=connection.id, actor_type=actor_type,
        actor_id=actor_account_id, action="link.added", target_type="issue", target_id=issue_key,
        details={"customer_id": str(customer.id), "customer": customer.name, "link_type": link_type},
    ))
    rescored = recompute([issue.id], property_stale=True)
    clocks = sla.evaluate_issues([issue.id])  # the target may follow the new customer's tier
    db.session.commit()
    submit_deliveries(rescored.messages + clocks.messages)
    write_back(connection, issue, client, added=customer)
    return link


def remove_manual_link(connection: JiraConnection, issue_key: str, customer_id: str,
                       actor_account_id: str | None, client) -> None:
    """Remove a manual link (rule links are the rules' business); audited, then written back to Jira."""
    customer = _customer_of_workspace(connection, customer_id)
    link = db.session.scalar(
        select(JiraCustomerLink).where(JiraCustomerLink.connection_id == connection.id,
                                       JiraCustomerLink.jira_key == issue_key,
                                       JiraCustomerLink.customer_id == customer.id)
    )
    if link is None:
        raise LinkError("that customer is not linked to this issue", 404)
    if link.source != "manual":
        raise LinkError("this link comes from a linking rule; change the rule in CSCX.AI to remove it", 409)
    issue = db.session.get(JiraIssue, link.issue_id)
    db.session.delete(link)
    db.session.add(AuditEntry(
        organization_id=connection.organization_id, connection_id=connection.id, actor_type="jira_user",
        actor_id=actor_account_id, action="link.removed", target_type="issue", target_id=issue_key,
        details={"customer_id": str(customer.id), "customer": customer.name},
    ))
    db.session.flush()
    rescored = recompute([issue.id], property_stale=True)
    clocks = sla.evaluate_issues([issue.id])
    db.session.commit()
    submit_deliveries(rescored.messages + clocks.messages)
    write_back(connection, issue, client, removed=customer)


def write_back(connection: JiraConnection, issue: JiraIssue, client, *, added: Customer | None = None,
               removed: Customer | None = None) -> None:
    """Tell Jira: the customer's label, then the indexed property and the glance (only if they changed)."""
    update: list[dict[str, str]] = []
    if added is not None:
        update.append({"add": customer_label(added)})
    if removed is not None:
        still_linked = db.session.scalar(select(JiraCustomerLink.id).where(
            JiraCustomerLink.issue_id == issue.id, JiraCustomerLink.customer_id == removed.id))
        if still_linked is None:
            update.append({"remove": customer_label(removed)})
    if update:
        client.edit_issue(issue.jira_key, update={"labels": update})
    counts = write_properties(str(connection.id), [issue.id], client=client)
    log.info("panel.write_back", extra={"issue": issue.jira_key, **counts})
    if counts["failed"]:
        raise JiraError(0, ["Jira did not take the issue property; it is written again on the next change"])
