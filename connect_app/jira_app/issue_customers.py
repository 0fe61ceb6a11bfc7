"""The customers of one issue: what the Jira panel shows, manual links, and the write-back to Jira."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from connect_app.atlassian.client import APP_KEY
from connect_app.extensions import db
from connect_app.linking.rule_store import customer_label
from connect_app.models import LINK_TYPES, AuditEntry, Customer, JiraConnection, JiraCustomerLink, JiraIssue
from connect_app.sync.engine import sync_issue

log = logging.getLogger(__name__)

ISSUE_PROPERTY = "cscx-customers"
GLANCE_PROPERTY = f"com.atlassian.jira.issue:{APP_KEY}:cscx-customers-glance:status"


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
    return IssueCustomers(issue, [LinkedCustomer(customer, link) for link, customer in rows])


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
                    actor_account_id: str | None, client) -> JiraCustomerLink:
    """Link a customer to an issue by hand (an engineer in the panel); audited, then written back to Jira."""
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
        organization_id=connection.organization_id, connection_id=connection.id, actor_type="jira_user",
        actor_id=actor_account_id, action="link.added", target_type="issue", target_id=issue_key,
        details={"customer_id": str(customer.id), "customer": customer.name, "link_type": link_type},
    ))
    db.session.commit()
    write_back(connection, issue_key, client, added=customer)
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
    db.session.delete(link)
    db.session.add(AuditEntry(
        organization_id=connection.organization_id, connection_id=connection.id, actor_type="jira_user",
        actor_id=actor_account_id, action="link.removed", target_type="issue", target_id=issue_key,
        details={"customer_id": str(customer.id), "customer": customer.name},
    ))
    db.session.commit()
    write_back(connection, issue_key, client, removed=customer)


def property_value(state: IssueCustomers) -> dict[str, Any]:
    """The indexed issue property: slugs for `cscxCustomer = acme` JQL, count and ARR for sorting."""
    return {
        "slugs": [row.customer.slug for row in state.linked],
        "count": len(state.linked),
        "arr": float(state.total_arr),
        "customers": [
            {"id": str(row.customer.id), "name": row.customer.name, "slug": row.customer.slug,
             "link_type": row.link.link_type}
            for row in state.linked
        ],
    }


def write_back(connection: JiraConnection, issue_key: str, client, *, added: Customer | None = None,
               removed: Customer | None = None) -> None:
    """Tell Jira: the customer label, the indexed property, and the glance count."""
    state = issue_customers(connection, issue_key)
    update: list[dict[str, str]] = []
    if added is not None:
        update.append({"add": customer_label(added)})
    if removed is not None and all(row.customer.id != removed.id for row in state.linked):
        update.append({"remove": customer_label(removed)})
    if update:
        client.edit_issue(issue_key, update={"labels": update})
    client.set_issue_property(issue_key, ISSUE_PROPERTY, property_value(state))
    count = len(state.linked)
    client.set_issue_property(issue_key, GLANCE_PROPERTY, {"type": "badge", "value": {"label": str(count)}})
    log.info("panel.write_back", extra={"issue": issue_key, "customers": count})
