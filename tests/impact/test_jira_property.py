"""Impact inside Jira: the indexed property and glance follow the impact, in bulk, and only when it changes."""

from __future__ import annotations

import uuid

import requests
from sqlalchemy import func, or_, select

from connect_app.extensions import db
from connect_app.impact.jira_property import GLANCE_PROPERTY, ISSUE_PROPERTY, write_properties
from connect_app.impact.store import recompute
from connect_app.models import Customer, IssueImpact, JiraConnection, JiraIssue, WebhookDelivery
from connect_app.sync.engine import sync_issue
from tests.conftest import auth_headers
from tests.factories import make_link
from tests.jira_app.test_panel_e2e import add, issue_property
from tests.tracking.support import wait_for


def property_calls(s) -> int:
    """Requests that wrote issue properties (bulk or one by one) since the last reset."""
    stats = requests.get(f"{s.site.base_url}/_sandbox/stats", headers=s.site.admin_headers, timeout=10).json()
    return sum(n for endpoint, n in stats["by_endpoint"].items()
               if ("properties" in endpoint and endpoint.startswith(("PUT", "POST"))))


def reset_stats(s) -> None:
    """Zero the sandbox's request counters once the service is quiet: every webhook Jira sent about
    the issue (its label changed) processed, every property written."""
    def quiet() -> bool:
        with s.live.app.app_context():
            busy = db.session.scalar(select(func.count()).select_from(WebhookDelivery).where(
                WebhookDelivery.status.in_(("pending", "processing"))))
            stale = db.session.scalar(select(func.count()).select_from(IssueImpact).where(
                or_(IssueImpact.property_digest.is_(None), IssueImpact.property_digest.like("writing:%"))))
            db.session.remove()
        return busy == 0 and stale == 0

    wait_for(quiet, 15, "the service to settle")
    requests.post(f"{s.site.base_url}/_sandbox/stats/reset", headers=s.site.admin_headers, timeout=10)


def search(s, jql: str) -> list[str]:
    body = s.jira("POST", "/rest/api/3/search/jql", json={"jql": jql, "fields": ["summary"]}).json()
    assert "issues" in body, body
    return [issue["key"] for issue in body["issues"]]


def open_issues(s, n: int) -> list[str]:
    """Keys of n open issues of the seeded site (a resolved issue has no impact to show)."""
    keys = search(s, "statusCategory != Done ORDER BY key ASC")
    assert len(keys) >= n
    return keys[:n]


def settled(s, issue_id) -> bool:
    """The issue's property was checked and found equal to what Jira holds."""
    with s.live.app.app_context():
        row = db.session.get(IssueImpact, issue_id)
        done = row.property_digest is not None and row.property_digest == row.written_digest
        db.session.remove()
    return done


def stored_impact(s, key: str) -> IssueImpact:
    issue = db.session.scalar(select(JiraIssue).where(JiraIssue.jira_key == key))
    return db.session.get(IssueImpact, issue.id)


def test_the_property_carries_the_impact_and_jql_ranks_by_it(installed_site):
    s = installed_site
    first, second = open_issues(s, 2)
    _, token = s.open_panel(first)
    add(s, token, s.customers["acme"])
    add(s, token, s.customers["globex"], "requested")
    _, token = s.open_panel(second)
    add(s, token, s.customers["initech"], "watching")

    high, low = issue_property(s, first, ISSUE_PROPERTY), issue_property(s, second, ISSUE_PROPERTY)
    with s.live.app.app_context():
        one = stored_impact(s, first)
        assert (high["impactScore"], high["impactSeverity"]) == (one.score, one.severity)
        db.session.remove()
    assert high["impactScore"] > low["impactScore"] > 0
    assert issue_property(s, first, GLANCE_PROPERTY)["value"]["label"] == f"2 · {high['impactSeverity']}"

    # The descriptor's extractions make the property searchable and sortable in JQL.
    assert search(s, "cscxImpactScore > 0 ORDER BY cscxImpactScore DESC") == [first, second]
    assert search(s, f"cscxImpactScore >= {high['impactScore']}") == [first]
    assert search(s, f"cscxImpactSeverity = {high['impactSeverity']}") == [first]
    assert search(s, "cscxCustomer = initech") == [second]


def test_an_unchanged_impact_is_not_written_again(installed_site):
    s = installed_site
    [key] = open_issues(s, 1)
    _, token = s.open_panel(key)
    add(s, token, s.customers["acme"])
    reset_stats(s)
    with s.live.app.app_context():
        impact = stored_impact(s, key)
        issue_id = impact.issue_id
        recompute([issue_id], property_stale=True)  # e.g. a sync saw the issue again
        db.session.commit()
        write_properties(str(impact.connection_id))
        db.session.remove()
    wait_for(lambda: settled(s, issue_id), 15, "the property check")
    assert property_calls(s) == 0


def test_a_customers_arr_change_reaches_jira(installed_site):
    s = installed_site
    [key] = open_issues(s, 1)
    _, token = s.open_panel(key)
    add(s, token, s.customers["initech"])
    before = issue_property(s, key, ISSUE_PROPERTY)
    assert before["impactScore"] > 0
    reset_stats(s)
    response = requests.post(f"{s.live.base_url}/api/customers", headers=auth_headers(s.workspace), timeout=30,
                             json={"name": "Initech", "slug": "initech", "arr": 9_000_000, "health_score": 10})
    assert response.status_code == 200, response.text
    wait_for(lambda: issue_property(s, key, ISSUE_PROPERTY)["impactScore"] > before["impactScore"], 15,
             "the rescored property")
    after = issue_property(s, key, ISSUE_PROPERTY)
    assert after["arr"] == 9_000_000 and after["slugs"] == ["initech"]
    assert property_calls(s) == 1  # one bulk request for the one issue that changed


def test_many_issues_are_written_in_one_bulk_request(installed_site):
    s = installed_site
    with s.live.app.app_context():
        connection = db.session.scalar(select(JiraConnection).where(JiraConnection.organization_id == s.workspace))
        acme = db.session.get(Customer, uuid.UUID(s.customers["acme"]))
        keys = open_issues(s, 3)
        issues = [sync_issue(connection, key) for key in keys]
        for issue in issues:
            make_link(issue, acme)
        reset_stats(s)
        recompute([issue.id for issue in issues], property_stale=True)
        db.session.commit()
        counts = write_properties(str(connection.id))
        db.session.remove()
    assert counts["written"] == 3 and property_calls(s) == 1
    assert all(issue_property(s, key, ISSUE_PROPERTY)["slugs"] == ["acme-corp"] for key in keys)
