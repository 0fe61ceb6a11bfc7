"""Duplicated, shuffled, concurrent deliveries end exactly where one clean, in-order delivery ends."""

from __future__ import annotations

import time
from collections import Counter

from sqlalchemy import func, select

from connect_app.extensions import db
from connect_app.models import IssueEvent, IssueStatusChange, JiraCustomerLink, JiraIssue, WebhookDelivery


def run_sequence(s, label_extra: str) -> str:
    """One issue through eleven changes: create, transitions, priority, assignee, labels."""
    key = s.create_issue("Data loss on export", ["customer_acme"], priority="Medium")
    steps = [
        lambda: s.transition(key, "In Progress"),
        lambda: s.edit(key, priority={"name": "High"}),
        lambda: s.edit(key, assignee={"accountId": s.site.state.admin_id}),
        lambda: s.transition(key, "Done"),
        lambda: s.transition(key, "To Do"),
        lambda: s.edit(key, labels=["customer_acme", label_extra]),
        lambda: s.transition(key, "In Progress"),
        lambda: s.edit(key, priority={"name": "Low"}),
        lambda: s.transition(key, "In Review"),
        lambda: s.transition(key, "Done"),
    ]
    for step in steps:
        time.sleep(0.005)  # distinct `updated` milliseconds, as separate human edits have
        step()
    return key


def outcome(s, key: str) -> dict:
    """Everything a delivery can change, for one issue, without ids."""
    with s.live.app.app_context():
        issue = db.session.scalar(select(JiraIssue).where(JiraIssue.jira_key == key))
        links = sorted(str(c) for c in db.session.scalars(
            select(JiraCustomerLink.customer_id).where(JiraCustomerLink.issue_id == issue.id)))
        history = [tuple(r) for r in db.session.execute(
            select(IssueStatusChange.from_status, IssueStatusChange.to_status, IssueStatusChange.to_category)
            .where(IssueStatusChange.issue_id == issue.id).order_by(IssueStatusChange.changed_at))]
        events = Counter(db.session.scalars(select(IssueEvent.kind).where(IssueEvent.issue_id == issue.id)))
        state = {c: getattr(issue, c) for c in ("status", "status_category", "priority", "resolution",
                                                 "assignee_id", "labels", "deleted_at")}
        db.session.remove()
    notes = Counter((user, kind) for user, k, kind in s.notifications() if k == key)
    pushes = Counter(d["topic"] for d in s.receiver.topics("jira.issue.") if d["data"]["issue"]["key"] == key)
    return {"state": state, "links": links, "history": history, "events": events, "notifications": notes,
            "pushes": pushes}


def test_fifty_duplicated_shuffled_deliveries_match_a_clean_delivery(tracked_site):
    s = tracked_site
    clean_key = run_sequence(s, "customer_globex")
    s.settle()
    clean = outcome(s, clean_key)

    s.control("POST", "/webhooks/config", json={"paused": True, "duplicate": 4, "reorder_window": 1000,
                                                 "workers": 4, "seed": 7})
    s.control("DELETE", "/webhooks/deliveries")
    chaos_key = run_sequence(s, "customer_globex")
    s.flush()  # 11 events x 5 copies, shuffled, four at a time
    s.control("POST", "/webhooks/config", json={"paused": False, "duplicate": 0, "reorder_window": 0})
    sent = s.control("GET", f"/webhooks/deliveries?issue_key={chaos_key}").json()
    assert len(sent) == 55 and len({d["id"] for d in sent}) == 11
    assert len({d["id"] for d in sent[:5]}) > 1  # copies were shuffled among other events' deliveries
    s.settle()
    chaos = outcome(s, chaos_key)

    assert chaos == clean
    expected = Counter({("csm-alice", "moved_to_development"): 2, ("csm-alice", "priority_changed"): 2,
                        ("csm-alice", "resolved"): 2, ("csm-alice", "assignee_changed"): 1,
                        ("csm-alice", "reopened"): 1, ("csm-bob", "moved_to_development"): 1,
                        ("csm-bob", "priority_changed"): 1, ("csm-bob", "resolved"): 1})
    assert chaos["notifications"] == expected
    assert chaos["state"]["status"] == "Done" and chaos["state"]["priority"] == "Low"
    assert len(chaos["history"]) == 6
    assert not s.receiver.duplicates
    with s.live.app.app_context():
        rows = db.session.scalar(select(func.count()).select_from(WebhookDelivery).where(
            WebhookDelivery.jira_key == chaos_key))
        db.session.remove()
    assert rows == 11  # one inbox row per delivery identifier
