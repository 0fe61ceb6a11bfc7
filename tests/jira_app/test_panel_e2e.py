"""The Customers panel end to end: an engineer adds and removes customers; Jira learns it; audited."""

from __future__ import annotations

import requests
from sqlalchemy import select

from connect_app.extensions import db
from connect_app.models import AuditEntry, JiraCustomerLink, JiraIssue
from tests.e2e_site import ENGINEER

GLANCE = "com.atlassian.jira.issue:ai.cscx.jira:cscx-customers-glance:status"


def add(s, token, customer_id, link_type="affected"):
    """What the panel's Add button posts."""
    return requests.post(f"{s.live.base_url}/connect/panel/links", data={"customer_id": customer_id,
                         "link_type": link_type}, headers={"X-CSCX-Context": token}, timeout=30)


def remove(s, token, customer_id):
    """What the panel's Remove button sends."""
    return requests.delete(f"{s.live.base_url}/connect/panel/links/{customer_id}",
                           headers={"X-CSCX-Context": token}, timeout=30)


def issue_labels(s, key):
    """The issue's labels, as Jira has them."""
    return s.jira("GET", f"/rest/api/3/issue/{key}?fields=labels").json()["fields"]["labels"]


def issue_property(s, key, prop):
    """An issue property's value, as Jira has it (None when absent)."""
    response = s.jira("GET", f"/rest/api/3/issue/{key}/properties/{prop}")
    return response.json()["value"] if response.status_code == 200 else None


def test_engineer_adds_and_removes_customers(installed_site):
    s = installed_site
    html, token = s.open_panel("CS-1")
    assert "0 customers" in html

    response = add(s, token, s.customers["acme"])
    assert response.status_code == 200, response.text
    assert "Acme Corp" in response.text and "1 customer" in response.text
    response = add(s, token, s.customers["globex"], "requested")
    assert "2 customers" in response.text and "$1.1M ARR affected" in response.text
    assert "Globex &lt;Intl&gt;" in response.text
    assert 'class="impact impact-' in response.text and "impact ·" in response.text  # the band and score

    labels = issue_labels(s, "CS-1")
    assert "customer_acme-corp" in labels and "customer_globex" in labels
    prop = issue_property(s, "CS-1", "cscx-customers")
    assert sorted(prop["slugs"]) == ["acme-corp", "globex"] and prop["count"] == 2
    glance = issue_property(s, "CS-1", GLANCE)
    assert glance["type"] == "lozenge" and glance["value"]["label"] == f"2 · {prop['impactSeverity']}"
    assert prop["impactSeverity"] in ("critical", "high", "medium", "low") and prop["impactScore"] > 0

    response = remove(s, token, s.customers["acme"])
    assert response.status_code == 200
    assert "1 customer" in response.text and "Acme Corp" not in response.text
    assert "customer_acme-corp" not in issue_labels(s, "CS-1")
    assert issue_property(s, "CS-1", "cscx-customers")["slugs"] == ["globex"]
    assert issue_property(s, "CS-1", GLANCE)["value"]["label"].startswith("1 · ")

    with s.live.app.app_context():
        issue = db.session.scalar(select(JiraIssue).where(JiraIssue.jira_key == "CS-1"))
        links = db.session.scalars(select(JiraCustomerLink).where(JiraCustomerLink.issue_id == issue.id)).all()
        assert [(link.link_type, link.source, link.created_by) for link in links] == [
            ("requested", "manual", ENGINEER)]
        audit = db.session.scalars(select(AuditEntry).where(AuditEntry.action.like("link.%"))
                                   .order_by(AuditEntry.created_at)).all()
        assert [(a.action, a.actor_type, a.actor_id) for a in audit] == [
            ("link.added", "jira_user", ENGINEER), ("link.added", "jira_user", ENGINEER),
            ("link.removed", "jira_user", ENGINEER)]
        db.session.remove()


def test_invalid_link_types_and_unknown_customers_change_nothing(installed_site):
    s = installed_site
    _, token = s.open_panel("CS-2")
    response = add(s, token, s.customers["acme"], link_type="owner")
    assert response.status_code == 400 and "link type must be one of" in response.text
    response = add(s, token, "00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert "customer_acme-corp" not in issue_labels(s, "CS-2")


def test_context_token_is_bound_to_its_issue(installed_site):
    s = installed_site
    _, token = s.open_panel("CS-3")
    add(s, token, s.customers["initech"])
    html, _ = s.open_panel("CS-4")
    assert "0 customers" in html  # the link went to CS-3, the issue the token names
    assert "customer_initech" in issue_labels(s, "CS-3")
