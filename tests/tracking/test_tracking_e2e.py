"""Jira changes an issue; the right CSMs hear about it once, CSCX.AI gets the push and the customer's context."""

from __future__ import annotations

from sqlalchemy import select

from connect_app.extensions import db
from connect_app.models import IssueStatusChange, JiraCustomerLink, JiraIssue
from tests.tracking.support import wait_for


def issue_row(s, key):
    """The stored issue (detached) and its linked customer ids."""
    with s.live.app.app_context():
        issue = db.session.scalar(select(JiraIssue).where(JiraIssue.jira_key == key))
        links = sorted(str(c) for c in db.session.scalars(
            select(JiraCustomerLink.customer_id).where(JiraCustomerLink.issue_id == issue.id)))
        history = db.session.execute(select(IssueStatusChange.from_status, IssueStatusChange.to_status,
                                            IssueStatusChange.to_category)
                                     .where(IssueStatusChange.issue_id == issue.id)
                                     .order_by(IssueStatusChange.changed_at)).all()
        db.session.expunge(issue)
        db.session.remove()
    return issue, links, [tuple(h) for h in history]


def test_every_transition_kind_notifies_the_right_csms_once(tracked_site):
    s = tracked_site
    key = s.create_issue("Export times out", ["customer_acme", "customer_globex"], priority="Medium")
    s.transition(key, "In Progress")  # new -> indeterminate: moved to development
    s.edit(key, priority={"name": "Highest"})  # priority up
    s.edit(key, assignee={"accountId": s.site.state.admin_id})  # assignee
    s.transition(key, "Done")  # resolved
    s.transition(key, "To Do")  # out of done: reopened
    s.settle()

    issue, links, history = issue_row(s, key)
    assert issue.status == "To Do" and issue.status_category == "new" and issue.priority == "Highest"
    assert links == sorted([s.customers["acme"], s.customers["globex"]])
    assert history == [("To Do", "In Progress", "indeterminate"), ("In Progress", "Done", "done"),
                       ("Done", "To Do", "new")]
    kinds = ["assignee_changed", "moved_to_development", "priority_changed", "reopened", "resolved"]
    # acme is alice's, globex is bob's: each hears each change once ("created" is not a default kind).
    assert s.notifications() == sorted([(u, key, k) for u in ("csm-alice", "csm-bob") for k in kinds])

    pushes = {d["topic"]: d for d in s.receiver.topics("jira.issue.")}
    assert set(pushes) == {f"jira.issue.{k}" for k in [*kinds, "created"]}
    resolved = pushes["jira.issue.resolved"]["data"]
    assert resolved["issue"]["key"] == key
    assert sorted(c["name"] for c in resolved["customers"]) == ["Acme", "Globex"]
    assert resolved["change"]["to"] == "Done" and resolved["change"]["to_category"] == "done"
    assert sorted(resolved["recipients"]) == ["csm-alice", "csm-bob"]
    assert pushes["jira.issue.priority_changed"]["data"]["change"]["direction"] == "up"
    assert not s.receiver.duplicates

    contexts = sorted((d["data"] for d in s.receiver.topics("customer.context")), key=lambda d: d["computed_at"])
    acme = [d["context"] for d in contexts if d["context"]["customer"]["id"] == s.customers["acme"]]
    assert acme[-1]["open_issues"] == 1 and acme[-1]["open_by_priority"] == {"Highest": 1}
    # One Highest issue, just opened: a load of 25 against the half-point of 40 -> 100 * 40 / 65.
    health = acme[-1]["issue_health"]
    assert (health["score"], health["label"], health["load"]) == (61.5, "watch", 25.0)


def test_custom_workflow_with_status_map(tracked_site):
    s = tracked_site
    with s.live.app.app_context():
        from connect_app.models import JiraConnection

        connection = db.session.get(JiraConnection, __import__("uuid").UUID(s.connection_id))
        # "Fix Scheduled" is what development means in the support workflow.
        connection.status_map = {"Fix Scheduled": {"meaning": "development"}}
        db.session.commit()
        db.session.remove()
    key = s.create_issue("SSO broken", ["customer_initech"], project="SUP")
    s.transition(key, "Investigating")  # new -> indeterminate, but the map says development is later
    s.transition(key, "Fix Scheduled")  # mapped: moved to development
    s.transition(key, "Shipped")  # into done: resolved
    s.transition(key, "Triage")  # reopened
    s.settle()
    assert [k for _, _, k in s.notifications()] == sorted(["moved_to_development", "resolved", "reopened"])
    assert {u for u, _, _ in s.notifications()} == {"csm-alice"}


def test_deleted_issue_notifies_and_unlinks(tracked_site):
    s = tracked_site
    key = s.create_issue("Crash on login", ["customer_globex"])
    s.settle()
    s.jira("DELETE", f"/rest/api/3/issue/{key}")
    s.settle()
    issue, links, _ = issue_row(s, key)
    assert issue.deleted_at is not None and links == []
    assert s.notifications() == [("csm-bob", key, "deleted")]
    wait_for(lambda: any(c["data"]["context"]["open_issues"] == 0 for c in s.receiver.topics("customer.context")
                         if c["data"]["context"]["customer"]["id"] == s.customers["globex"]), 10, "context")
