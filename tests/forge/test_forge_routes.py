"""The remote's Forge routes over HTTP: the panel through the invokeRemote stand-in, and forged tokens refused."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import func, select

from connect_app.extensions import db
from connect_app.models import AuditEntry, JiraConnection, JiraCustomerLink, WebhookDelivery
from jira_sandbox.forge_host import FIT_FAULTS

from .conftest import mint

OTHER_APP = "ari:cloud:ecosystem::app/00000000-1111-2222-3333-444444444444"


def audit(s, action: str) -> list[tuple[str, str]]:
    """(actor type, actor id) of every audit entry with this action."""
    with s.live.app.app_context():
        rows = db.session.execute(select(AuditEntry.actor_type, AuditEntry.actor_id)
                                  .where(AuditEntry.action == action)).all()
        db.session.remove()
    return [tuple(r) for r in rows]


def test_the_panel_adds_and_removes_a_customer_for_the_user_in_it(forge_installed):
    s = forge_installed
    engineer = s.site.state.add_user("Eve Engineer", "eve@sandbox.test")["accountId"]
    key = s.create_issue("Billing export fails", [])
    s.settle()

    status, body = s.invoke(f"/forge/ui/panel?issueKey={key}", engineer, issue_key=key)
    assert status == 200 and "No customers linked yet." in body["html"]
    assert 'data-forge-path="/forge/ui/search"' in body["html"]

    status, body = s.invoke("/forge/ui/search", engineer, "POST", {"q": "acm", "issueKey": key}, issue_key=key)
    assert status == 200 and 'data-forge-path="/forge/ui/links"' in body["html"] and "Acme" in body["html"]

    status, body = s.invoke("/forge/ui/links", engineer, "POST",
                            {"customer_id": s.customers["acme"], "link_type": "affected", "issueKey": key},
                            issue_key=key)
    assert status == 200, body
    assert "1 customer" in body["html"] and f'/forge/ui/links/{s.customers["acme"]}/remove' in body["html"]
    assert audit(s, "link.added") == [("jira_user", engineer)]
    # The write-back went with the user's token: Jira records the user as the author of the label change.
    changelog = s.jira("GET", f"/rest/api/3/issue/{key}/changelog").json()["values"]
    assert changelog[-1]["author"]["accountId"] == engineer

    # The label written back is the one acme's rule looks for: let that change come back through Forge first.
    s.settle()
    status, body = s.invoke(f"/forge/ui/links/{s.customers['acme']}/remove", engineer, "POST", {"issueKey": key},
                            issue_key=key)
    assert status == 200, body
    assert audit(s, "link.removed") == [("jira_user", engineer)]
    s.settle()
    status, body = s.invoke(f"/forge/ui/panel?issueKey={key}", engineer, issue_key=key)
    assert status == 200 and "No customers linked yet." in body["html"]


def test_the_panel_acts_for_a_user_only(forge_installed):
    s = forge_installed
    key = s.create_issue("Anonymous", [])
    status, _ = s.invoke(f"/forge/ui/panel?issueKey={key}", None, issue_key=key)
    assert status == 403


def snapshot(s) -> tuple:
    """Everything a forged call could change."""
    with s.live.app.app_context():
        counts = tuple(db.session.scalar(select(func.count()).select_from(model))
                       for model in (JiraConnection, WebhookDelivery, JiraCustomerLink, AuditEntry))
        connection = db.session.scalar(select(JiraConnection))
        state = (counts, connection.status, connection.access_token, connection.token_expires_at)
        db.session.remove()
    return state


def routes(s, key: str) -> list[tuple[str, str, dict]]:
    """Every Forge route with a body that would change something if it were let in."""
    installation = s.connection().installation_id
    return [
        ("POST", "/forge/lifecycle", {"eventType": "avi:forge:installed:app", "installationId": installation}),
        ("POST", "/forge/lifecycle", {"eventType": "avi:forge:uninstalled:app", "installationId": installation}),
        ("POST", "/forge/events/issue", {"id": "forged-1", "eventType": "avi:jira:deleted:issue",
                                         "issue": {"id": "10000", "key": key}}),
        ("GET", f"/forge/ui/panel?issueKey={key}", {}),
        ("POST", "/forge/ui/search", {"q": "acme", "issueKey": key}),
        ("POST", "/forge/ui/links", {"customer_id": s.customers["acme"], "issueKey": key}),
        ("POST", f"/forge/ui/links/{s.customers['acme']}/remove", {"issueKey": key}),
        ("POST", "/forge/scheduled", {"context": {"moduleKey": "cscx-hourly"}}),
        ("GET", "/forge/ui/configure", {}),
        ("POST", "/forge/ui/configure/link", {"code": "ABCD-EFGH-JKLM"}),
    ]


@pytest.mark.parametrize("fault", [*FIT_FAULTS, "another_app"])
def test_every_forged_token_on_every_route_is_a_401_that_changes_nothing(forge_installed, fault):
    s = forge_installed
    key = s.create_issue("Keep me", ["customer_acme"])
    s.settle()
    before = snapshot(s)
    if fault == "another_app":
        token = mint(s.site, app_id=OTHER_APP, principal=s.site.state.admin_id)
    else:
        token = mint(s.site, fault=fault, principal=s.site.state.admin_id)
    headers = {"x-forge-oauth-system": "forge-sys-forged", "x-forge-oauth-user": "forge-usr-forged"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    for method, path, body in routes(s, key):
        response = requests.request(method, s.live.base_url + path, json=body or None, headers=headers, timeout=30)
        assert response.status_code == 401, (fault, path, response.text)
        assert response.json()["error"]["code"] == "unauthorized"
    assert snapshot(s) == before


def test_a_genuine_token_of_an_unknown_installation_is_refused(forge_installed):
    s = forge_installed
    key = s.create_issue("Keep me too", [])
    s.settle()
    before = snapshot(s)
    token = mint(s.site, installation_id="ari:cloud:ecosystem::installation/00000000-0000-0000-0000-000000000000")
    for method, path, body in routes(s, key)[2:]:
        response = requests.request(method, s.live.base_url + path, json=body or None, timeout=30,
                                    headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, (path, response.text)
    assert snapshot(s) == before


def test_a_users_call_from_the_ui_cannot_reach_the_routes_forge_itself_calls(forge_installed):
    s = forge_installed
    engineer = s.site.state.add_user("Mallory Engineer", "mallory@sandbox.test")["accountId"]
    key = s.create_issue("Keep me linked", ["customer_acme"])
    s.settle()
    before = snapshot(s)
    # invokeRemote lets the panel's script name any path on the remote, with a genuine token naming its user.
    installation = s.connection().installation_id
    for path, body in [("/forge/lifecycle", {"eventType": "avi:forge:uninstalled:app", "installationId": installation}),
                       ("/forge/events/issue", {"id": "from-the-ui", "eventType": "avi:jira:deleted:issue",
                                                "issue": {"id": "10000", "key": key}}),
                       ("/forge/scheduled", {})]:
        status, answer = s.invoke(path, engineer, "POST", body, issue_key=key)
        assert status == 403 and answer["error"]["code"] == "forbidden", (path, answer)
    assert snapshot(s) == before
    assert s.connection().status == "active"
