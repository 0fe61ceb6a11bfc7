"""Subscriptions and the notification list, through the API, with Jira changes arriving as webhooks."""

from __future__ import annotations

import requests

from tests.conftest import auth_headers
from tests.tracking.support import WORKSPACE


def api(s, method, path, user, role="csm", **kwargs):
    return requests.request(method, f"{s.live.base_url}/api{path}", headers=auth_headers(WORKSPACE, role, user),
                            timeout=10, **kwargs)


def test_alert_me_when_resolved_customer_and_owner_preferences(tracked_site):
    s = tracked_site
    key = s.create_issue("Webhook storm", ["customer_globex"])
    s.settle()
    # "Alert me when <key> is resolved", from a PM who owns no customer.
    created = api(s, "POST", "/jira/subscriptions", "pm-1", "pm",
                  json={"scope": "issue", "jira_key": key.lower(), "event_kinds": ["resolved"]})
    assert created.status_code == 201, created.text
    assert created.json()["target"].endswith(f":{key}")
    repeat = api(s, "POST", "/jira/subscriptions", "pm-1", "pm",
                 json={"scope": "issue", "jira_key": key, "event_kinds": ["resolved"]})
    assert repeat.status_code == 200 and repeat.json()["id"] == created.json()["id"]
    # Support follows every change of one customer; bob (globex's owner) only wants resolutions.
    api(s, "POST", "/jira/subscriptions", "support-1", "support",
        json={"scope": "customer", "customer_id": s.customers["globex"]})
    api(s, "POST", "/jira/subscriptions", "csm-bob", json={"scope": "owner", "event_kinds": ["resolved"]})
    bad = api(s, "POST", "/jira/subscriptions", "csm-bob", json={"scope": "owner", "event_kinds": ["exploded"]})
    assert bad.status_code == 422 and "unknown event kinds" in bad.json()["error"]["message"]

    s.transition(key, "In Progress")
    s.edit(key, priority={"name": "High"})
    s.transition(key, "Done")
    s.settle()
    by_user = {}
    for user, _k, kind in s.notifications():
        by_user.setdefault(user, []).append(kind)
    assert by_user == {"pm-1": ["resolved"], "csm-bob": ["resolved"],
                       "support-1": ["moved_to_development", "priority_changed", "resolved"]}

    listed = api(s, "GET", "/jira/notifications", "support-1", "support").json()["notifications"]
    assert listed[0]["kind"] == "resolved" and len(listed) == 3
    resolved = listed[0]
    assert resolved["jira_key"] == key and resolved["title"].startswith(f"{key} was resolved")
    assert [c["name"] for c in resolved["details"]["customers"]] == ["Globex"]
    # ARR is a JSON number here as in /api/customers (one type everywhere).
    globex = api(s, "GET", f"/customers/{s.customers['globex']}", "support-1", "support").json()
    assert isinstance(globex["arr"], float) and resolved["details"]["customers"][0]["arr"] == globex["arr"]
    assert resolved["details"]["change"]["to"] == "Done"
    marked = api(s, "POST", "/jira/notifications/read", "support-1", "support", json={"ids": [resolved["id"]]})
    assert marked.json() == {"marked": 1}
    unread = api(s, "GET", "/jira/notifications?unread=1", "support-1", "support").json()["notifications"]
    assert len(unread) == 2
    assert api(s, "GET", "/jira/notifications", "pm-2", "pm").json()["notifications"] == []  # nobody else's

    mine = api(s, "GET", "/jira/subscriptions", "csm-bob").json()
    assert mine["owner_default"] == {"event_kinds": ["resolved"], "customised": True}
    owner_row = mine["subscriptions"][0]["id"]
    assert api(s, "DELETE", f"/jira/subscriptions/{owner_row}", "csm-alice").status_code == 404  # not hers
    assert api(s, "DELETE", f"/jira/subscriptions/{owner_row}", "csm-bob").status_code == 204
    assert api(s, "GET", "/jira/subscriptions", "csm-bob").json()["owner_default"]["customised"] is False
