"""Jira's webhooks (the sandbox signs and delivers them to the live service) store custom fields and each
changelog item; the next sync names the fields and does not store the webhook's history twice."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from connect_app.extensions import db
from connect_app.models import IssueFieldChange, JiraField
from connect_app.sync.engine import sync_connection
from tests.conftest import auth_headers
from tests.tracking.support import WORKSPACE, tracked_site  # noqa: F401  (fixture)

pytestmark = pytest.mark.sandbox


def issue_detail(tracked, key: str) -> dict:
    response = tracked.live.app.test_client().get(f"/api/jira/issue/{key}", headers=auth_headers(WORKSPACE, "csm"))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_webhooks_keep_values_and_who_changed_what_and_the_sync_names_them(tracked_site):  # noqa: F811
    key = tracked_site.create_issue("Export fails for <Acme>", ["customer_acme"])
    tracked_site.settle()
    admin = tracked_site.site.state.users[tracked_site.site.state.admin_id]
    tracked_site.edit(key, customfield_10002={"value": "Enterprise"},
                      customfield_10007={"accountId": admin["accountId"]})
    tracked_site.settle()
    with tracked_site.live.app.app_context():
        body = issue_detail(tracked_site, key)
        # No sync has stored the site's field list yet: values are kept, under their ids.
        assert {"id": "customfield_10002", "name": "customfield_10002", "type": None,
                "value": "Enterprise"} in body["custom_fields"]
        assert {(c["field"], c["from"], c["to"], c["author"]) for c in body["history"]["changes"]} == {
            ("Customer Tier", None, "Enterprise", "Sandy Admin"),
            ("Customer Contact", None, "Sandy Admin", "Sandy Admin")}

        connection_id = uuid.UUID(tracked_site.connection_id)
        run = sync_connection(connection_id)
        assert run.status == "ok", run.error
        assert db.session.scalar(select(func.count()).select_from(JiraField).where(
            JiraField.connection_id == connection_id)) > 0
        body = issue_detail(tracked_site, key)
        named = {f["name"]: f["value"] for f in body["custom_fields"]}
        assert named["Customer Tier"] == "Enterprise" and named["Customer Contact"] == "Sandy Admin"
        assert body["history"]["total"] == 2 == db.session.scalar(
            select(func.count()).select_from(IssueFieldChange).where(IssueFieldChange.connection_id == connection_id))
        db.session.remove()
