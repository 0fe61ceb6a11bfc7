"""Model factories for tests: make_<model>(**overrides) with realistic defaults."""

from __future__ import annotations

import itertools
from decimal import Decimal

from connect_app.extensions import db
from connect_app.models import Customer, JiraConnection, JiraCustomerLink, JiraIssue, Organization

_counter = itertools.count(1)


def make_organization(**overrides) -> Organization:
    """An organization (workspace)."""
    n = next(_counter)
    values = {"id": f"ws-{n}", "name": f"Workspace {n}", "settings": {}} | overrides
    org = db.session.get(Organization, values["id"]) or Organization(**values)
    db.session.add(org)
    db.session.commit()
    return org


def make_customer(organization: Organization, **overrides) -> Customer:
    """A customer of organization."""
    n = next(_counter)
    name = overrides.pop("name", f"Customer {n}")
    values = {
        "organization_id": organization.id, "name": name, "name_key": name.lower(),
        "slug": overrides.pop("slug", f"customer-{n}"), "external_id": f"ext-{n}", "arr": Decimal("120000.00"),
        "tier": "enterprise", "health_score": 72, "csm_owner_id": "u-csm", "stakeholders": [],
    } | overrides
    customer = Customer(**values)
    db.session.add(customer)
    db.session.commit()
    return customer


def make_connection(organization: Organization | None, **overrides) -> JiraConnection:
    """A Jira connection (Connect install by default)."""
    n = next(_counter)
    values = {
        "organization_id": organization.id if organization else None, "kind": "connect", "status": "active",
        "base_url": f"https://site{n}.atlassian.net", "client_key": f"client-key-{n}",
        "shared_secret": f"shared-secret-{n}",
    } | overrides
    connection = JiraConnection(**values)
    db.session.add(connection)
    db.session.commit()
    return connection


def make_issue(connection: JiraConnection, **overrides) -> JiraIssue:
    """An issue of connection."""
    n = next(_counter)
    values = {
        "connection_id": connection.id, "jira_id": str(10000 + n), "jira_key": f"CS-{n}", "project_key": "CS",
        "summary": f"Issue {n}", "issue_type": "Bug", "status": "To Do", "status_category": "new",
        "priority": "Medium", "labels": [], "components": [], "custom_fields": {},
    } | overrides
    issue = JiraIssue(**values)
    db.session.add(issue)
    db.session.commit()
    return issue


def make_link(issue: JiraIssue, customer: Customer, **overrides) -> JiraCustomerLink:
    """A link from an issue to a customer (a rule link by default)."""
    values = {"connection_id": issue.connection_id, "issue_id": issue.id, "jira_key": issue.jira_key,
              "customer_id": customer.id, "link_type": "affected", "source": "rule"} | overrides
    link = JiraCustomerLink(**values)
    db.session.add(link)
    db.session.commit()
    return link
