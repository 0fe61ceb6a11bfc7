"""The CSM's pages over HTTP (Flask's client), on SQLite and PostgreSQL: auth, tenant scoping, CSP, content."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from decimal import Decimal
from urllib.parse import unquote

import jwt
import pytest
from sqlalchemy import select

from connect_app.extensions import db
from connect_app.models import IssueImpact, IssueStatusChange, Subscription
from connect_app.models.types import utcnow
from tests.conftest import token_for
from tests.factories import make_connection, make_customer, make_issue, make_link, make_organization


@pytest.fixture
def acme(app):
    """ws-p: Acme with a bug (in progress two days, high impact), a done story, and a foreign workspace's customer."""
    org = make_organization(id="ws-p")
    connection = make_connection(org)
    acme = make_customer(org, name="Acme <Corp>", slug="acme", arr=Decimal("900000"), tier="enterprise")
    now = utcnow()
    bug = make_issue(connection, jira_key="CS-7", summary="Export <script>alert(1)</script> fails",
                     status="In Progress", status_category="indeterminate", priority="High",
                     created_at=now - timedelta(days=5),
                     updated_at=now - timedelta(hours=1))
    story = make_issue(connection, jira_key="CS-8", summary="SSO with Okta", issue_type="Story", status="Done",
                       status_category="done", created_at=now - timedelta(days=20))
    make_link(bug, acme)
    make_link(story, acme, link_type="requested")
    db.session.add(IssueStatusChange(connection_id=connection.id, issue_id=bug.id, change_id="1", from_status="To Do",
                                     to_status="In Progress", from_category="new", to_category="indeterminate",
                                     changed_at=now - timedelta(days=2), changed_by="Ana"))
    db.session.add(IssueImpact(issue_id=bug.id, organization_id=org.id, connection_id=connection.id, score=64.0,
                               severity="high", factors=[], customers=1, arr=900000, tiers=0, computed_at=now))
    db.session.commit()
    other = make_organization(id="ws-other")
    stranger = make_customer(other, name="Stranger", slug="stranger")
    return {"org": org, "customer": acme, "bug": bug, "story": story, "stranger": stranger}


def page(client, path, token=None, **headers):
    return client.get(path if token is None else f"{path}{'&' if '?' in path else '?'}token={token}", headers=headers)


def test_a_page_opens_with_the_token_once_and_follows_up_with_the_header(client, acme):
    token = token_for("ws-p", "csm", "maya")
    first = page(client, f"/app/customers/{acme['customer'].id}", token)
    assert first.status_code == 200
    html = first.get_data(as_text=True)
    assert "CS-7" in html and "CS-8" not in html  # open issues by default
    assert "Acme &lt;Corp&gt;" in html and "<script>alert(1)</script>" not in html
    assert f'"Authorization": "Bearer {token}"' in html.replace("&#34;", '"')
    policy = first.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors https://app.cscx.ai" in policy
    assert "unsafe-inline" not in policy and first.headers["Referrer-Policy"] == "no-referrer"
    assert "<script>" not in html.split("</head>")[1]  # no inline script anywhere in the body
    follow = client.get("/app/issues/CS-7", headers={"Authorization": f"Bearer {token}", "HX-Request": "true",
                                                       "HX-Boosted": "true"})
    assert follow.status_code == 200 and "Status timeline" in follow.get_data(as_text=True)
    # The token is read from the URL only on a first, plain load: never from an htmx call.
    sneaky = client.get(f"/app/issues/CS-7?token={token}", headers={"HX-Request": "true"})
    assert sneaky.status_code == 401


def test_without_a_token_or_with_an_expired_one_the_page_says_reload(client, acme):
    missing = page(client, f"/app/customers/{acme['customer'].id}")
    assert missing.status_code == 401 and "Reload from CSCX.AI" in missing.get_data(as_text=True)
    expired = jwt.encode({"sub": "maya", "role": "csm", "workspace": "ws-p", "iat": int(time.time()) - 7200,
                          "exp": int(time.time()) - 3600}, "test-cscx-signing-secret-0123456789abcdef", "HS256")
    answer = client.get(f"/app/customers/{acme['customer'].id}",
                        headers={"Authorization": f"Bearer {expired}", "HX-Request": "true"})
    assert answer.status_code == 401 and answer.headers["HX-Retarget"] == "body"
    assert "Reload from CSCX.AI" in answer.get_data(as_text=True)


def test_another_workspace_sees_nothing(client, acme):
    foreign = token_for("ws-other", "csm", "omar")
    assert page(client, f"/app/customers/{acme['customer'].id}", foreign).status_code == 404
    assert page(client, "/app/issues/CS-7", foreign).status_code == 404
    own = token_for("ws-p", "csm", "maya")
    assert page(client, f"/app/customers/{acme['stranger'].id}", own).status_code == 404


def test_filters_search_sort_and_bad_parameters(client, acme):
    headers = {"Authorization": f"Bearer {token_for('ws-p', 'csm', 'maya')}", "HX-Request": "true",
               "HX-Target": "issue-list"}
    base = f"/app/customers/{acme['customer'].id}"
    everything = client.get(f"{base}?filtered=1", headers=headers).get_data(as_text=True)
    assert "CS-7" in everything and "CS-8" in everything and "<html" not in everything  # the list alone
    features = client.get(f"{base}?filtered=1&filter=features", headers=headers).get_data(as_text=True)
    assert "CS-8" in features and "CS-7" not in features
    searched = client.get(f"{base}?filtered=1&q=okta", headers=headers).get_data(as_text=True)
    assert "CS-8" in searched and "CS-7" not in searched
    percent = client.get(f"{base}?filtered=1&q=%25", headers=headers).get_data(as_text=True)
    assert "0 issues" in percent  # a LIKE wildcard is searched for, not used
    by_impact = client.get(f"{base}?filtered=1&sort=impact", headers=headers).get_data(as_text=True)
    assert by_impact.index("CS-7") < by_impact.index("CS-8")
    for bad in ("filter=everything", "sort=-nope", "page=0", "page=x", "q=" + "x" * 201):
        assert client.get(f"{base}?{bad}", headers=headers).status_code == 400


def test_live_updates_cost_one_query_when_nothing_changed(client, acme):
    headers = {"Authorization": f"Bearer {token_for('ws-p', 'csm', 'maya')}", "HX-Request": "true"}
    base = f"/app/customers/{acme['customer'].id}"
    html = client.get(base, headers=headers | {"HX-Target": "issue-list"}).get_data(as_text=True)
    version = unquote(html.split("version=")[1].split("&amp;")[0])
    same = client.get(f"{base}/changes", query_string={"version": version}, headers=headers)
    assert same.status_code == 204
    acme["bug"].synced_at = utcnow() + timedelta(seconds=5)
    db.session.commit()
    changed = client.get(f"{base}/changes", query_string={"version": version}, headers=headers)
    assert changed.status_code == 200 and "CS-7" in changed.get_data(as_text=True)


def test_issue_page_draws_the_timeline_and_subscribes(client, acme):
    token = token_for("ws-p", "csm", "maya")
    html = page(client, "/app/issues/cs-7", token).get_data(as_text=True)
    assert "<svg class=\"timeline\"" in html and html.count("<rect ") == 2
    assert "In Progress 2d" in html and "To Do 3d" in html
    assert "Acme &lt;Corp&gt;" in html and re.search(r'impact-chip impact-\w+">\w+ · \d+</span>', html)
    assert "Why this impact" in html and "arr at risk" in html
    headers = {"Authorization": f"Bearer {token}", "HX-Request": "true"}
    on = client.post("/app/issues/CS-7/subscription", headers=headers)
    assert on.status_code == 200 and "Stop" in on.get_data(as_text=True)
    client.post("/app/issues/CS-7/subscription", headers=headers)
    rows = db.session.scalars(select(Subscription).where(Subscription.user_id == "maya")).all()
    assert len(rows) == 1 and rows[0].event_kinds == ["reopened", "resolved"]
    off = client.delete("/app/issues/CS-7/subscription", headers=headers)
    assert "Alert me when resolved" in off.get_data(as_text=True)
    assert db.session.scalars(select(Subscription).where(Subscription.user_id == "maya")).all() == []

