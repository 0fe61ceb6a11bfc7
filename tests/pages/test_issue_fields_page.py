"""The issue page's custom fields (by name) and "who changed what" (newest first, limited, escaped), read
from the database only: the connection is a Connect site that does not exist, so a call to Jira would fail."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from connect_app.extensions import db
from connect_app.models import IssueFieldChange, IssueStatusChange, JiraField
from connect_app.models.types import utcnow
from tests.conftest import auth_headers, token_for
from tests.factories import make_connection, make_customer, make_issue, make_link, make_organization

WORKSPACE = "ws-fields"


@pytest.fixture
def issue(app):
    """CS-9 with custom fields (one the catalog does not know), 60 field changes and an older status change."""
    org = make_organization(id=WORKSPACE)
    connection = make_connection(org, base_url="https://no-such-site.invalid")
    now = utcnow()
    issue = make_issue(connection, jira_key="CS-9", summary="Export fails", created_at=now - timedelta(days=30),
                       custom_fields={"customfield_10002": "Enterprise", "customfield_10007": "Ana <b>Lima</b>",
                                      "customfield_10004": 5.0, "customfield_10099": ["a", "b"],
                                      "customfield_10006": "2026-02-01"})
    make_link(issue, make_customer(org, name="Acme"))
    for field_id, name, kind in (("customfield_10002", "Customer Tier", "option"),
                                 ("customfield_10007", "Customer <Contact>", "user"),
                                 ("customfield_10004", "Story Points", "number"),
                                 ("customfield_10006", "Target Date", "date"), ("status", "Status", "status")):
        db.session.add(JiraField(connection_id=connection.id, field_id=field_id, name=name, name_key=name.casefold(),
                                 custom=field_id.startswith("customfield_"), schema_type=kind))
    for n in range(60):
        db.session.add(IssueFieldChange(
            connection_id=connection.id, issue_id=issue.id, change_id=str(20000 + n), field_key="customfield_10004",
            seq=0, field="Story Points", from_value=str(n), to_value=str(n + 1), author_name="Ana",
            changed_at=now - timedelta(days=20) + timedelta(hours=n)))
    db.session.add(IssueFieldChange(
        connection_id=connection.id, issue_id=issue.id, change_id="30000", field_key="customfield_10002", seq=0,
        field="Customer Tier", from_value="<script>alert(1)</script>", to_value="Enterprise",
        author_name="Eve <img src=x>", changed_at=now - timedelta(minutes=5)))
    db.session.add(IssueStatusChange(  # stored before field history was kept: shown too
        connection_id=connection.id, issue_id=issue.id, change_id="10001", from_status="To Do",
        to_status="In Progress", from_category="new", to_category="indeterminate",
        changed_at=now - timedelta(days=25), changed_by="Omar"))
    db.session.commit()
    return issue


def page(client, path: str) -> str:
    response = client.get(f"{path}?token={token_for(WORKSPACE, 'csm', 'maya')}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_custom_fields_show_by_name_with_readable_values(client, issue):
    html = page(client, "/app/issues/CS-9")
    fields = html.split('id="fields-title"')[1].split("</section>")[0]
    rows = re.findall(r'<th scope="row">(.*?)</th><td>(.*?)</td>', fields)
    assert rows == [("Customer &lt;Contact&gt;", "Ana &lt;b&gt;Lima&lt;/b&gt;"), ("Customer Tier", "Enterprise"),
                    ("customfield_10099", "a, b"), ("Story Points", "5"), ("Target Date", "2026-02-01")]


def test_history_is_newest_first_limited_and_escaped(client, issue):
    html = page(client, "/app/issues/CS-9")
    history = html.split('id="history-title"')[1].split("</section>")[0]
    assert history.count('<li><span class="when">') == 50
    assert "The latest 50 of 62 changes" in history and "https://no-such-site.invalid/browse/CS-9" in history
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in history
    assert "Eve &lt;img src=x&gt;" in history and "<img src=x>" not in html
    newest, second = history.index("Eve &lt;img"), history.index("Story Points: <span class=\"was\">59</span>")
    assert newest < second < history.index("Story Points: <span class=\"was\">58</span>")
    assert "Omar" not in history  # the oldest change (the legacy status row) is beyond the latest 50


def test_the_api_gives_the_same_history_and_the_legacy_status_change(client, issue):
    body = client.get("/api/jira/issue/CS-9", headers=auth_headers(WORKSPACE, "pm")).get_json()
    assert body["history"]["total"] == 62 and len(body["history"]["changes"]) == 50
    assert body["history"]["changes"][0] == {"at": body["history"]["changes"][0]["at"], "author": "Eve <img src=x>",
                                             "field": "Customer Tier", "field_id": "customfield_10002",
                                             "from": "<script>alert(1)</script>", "to": "Enterprise"}
    db.session.query(IssueFieldChange).filter(IssueFieldChange.field_key == "customfield_10004").delete()
    db.session.commit()
    changes = client.get("/api/jira/issue/CS-9", headers=auth_headers(WORKSPACE, "pm")).get_json()["history"]
    assert [(c["field"], c["from"], c["to"], c["author"]) for c in changes["changes"]] == [
        ("Customer Tier", "<script>alert(1)</script>", "Enterprise", "Eve <img src=x>"),
        ("Status", "To Do", "In Progress", "Omar")]


def test_an_issue_without_history_says_where_history_comes_from(client, app):
    org = make_organization(id=WORKSPACE)
    connection = make_connection(org)
    make_issue(connection, jira_key="CS-10")
    html = page(client, "/app/issues/CS-10")
    assert "No change recorded yet" in html and "No field beyond the ones above has a value" in html
