"""Reconciliation finds what lost webhooks missed and notifies for it exactly as a webhook would."""

from __future__ import annotations

from connect_app.extensions import db
from connect_app.tracking.reconcile import reconcile_connection


def reconcile(s) -> dict:
    with s.live.app.app_context():
        counts = reconcile_connection(s.connection_id)
        db.session.remove()
    return counts


def test_lost_webhooks_are_caught_and_notified_once(tracked_site):
    s = tracked_site
    key = s.create_issue("Slow dashboard", ["customer_acme"])
    s.settle()
    # Jira stops sending to the app for a while: these changes' webhooks are lost.
    s.control("POST", "/apps/ai.cscx.jira/disable")
    s.transition(key, "In Progress")
    s.edit(key, priority={"name": "Highest"})
    s.transition(key, "Done")
    s.control("POST", "/apps/ai.cscx.jira/enable")
    s.settle()
    assert s.notifications() == []

    counts = reconcile(s)
    assert counts["events"] == 3
    s.settle()
    expected = [("csm-alice", key, k) for k in ("moved_to_development", "priority_changed", "resolved")]
    assert s.notifications() == expected
    assert reconcile(s)["events"] == 0  # the overlap window sees the same changes: nothing new

    # Webhooks flow again; a change seen both by its webhook and by reconciliation notifies once.
    s.transition(key, "To Do")
    s.settle()
    assert reconcile(s)["events"] == 0
    assert s.notifications() == sorted([*expected, ("csm-alice", key, "reopened")])
    resolved = list(s.receiver.topics("jira.issue.resolved"))
    assert len(resolved) == 1 and resolved[0]["data"]["issue"]["key"] == key
