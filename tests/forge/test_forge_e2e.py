"""The app installed the Forge way on the sandbox, over HTTP: install, issue events, the upgrade from Connect."""

from __future__ import annotations

from sqlalchemy import func, select, text

from connect_app.atlassian.forge import ForgeInvocation
from connect_app.connections.forge_installations import record_forge_install
from connect_app.connections.records import find_tenant
from connect_app.extensions import db
from connect_app.models import AuditEntry, JiraCustomerLink, WebhookDelivery
from tests.tracking.test_tracking_e2e import issue_row

from .conftest import forge_state

KINDS = ["assignee_changed", "moved_to_development", "priority_changed", "reopened", "resolved"]


def deliveries(s) -> list[tuple[str, str]]:
    """(delivery id, event) of every inbox row."""
    with s.live.app.app_context():
        rows = db.session.execute(select(WebhookDelivery.delivery_id, WebhookDelivery.event_type)).all()
        db.session.remove()
    return [tuple(r) for r in rows]


def test_a_forge_install_makes_a_connection_keyed_by_the_installation(forge_installed):
    s = forge_installed
    installed = forge_state(s.site)["installs"][0]
    connection = s.connection()
    assert (connection.kind, connection.status) == ("forge", "active")
    assert connection.installation_id == installed["installation_id"]
    assert connection.cloud_id == s.site.state.cloud_id
    assert connection.base_url == f"{s.site.base_url}/ex/jira/{s.site.state.cloud_id}"
    assert connection.display_url == s.site.base_url
    # The system token of the install call is cached, encrypted at rest, with its expiry.
    assert connection.access_token.startswith("forge-sys-") and connection.token_expires_at is not None
    with s.live.app.app_context():
        stored = db.session.execute(text("SELECT access_token_encrypted FROM jira_connections")).scalar()
        actions = db.session.scalars(select(AuditEntry.action)).all()
        db.session.remove()
    assert connection.access_token not in stored
    assert "connection.installed" in actions


def test_an_issue_transition_notifies_and_pushes_as_a_connect_webhook_does(forge_installed):
    s = forge_installed
    key = s.create_issue("Export times out", ["customer_acme", "customer_globex"], priority="Medium")
    s.transition(key, "In Progress")
    s.edit(key, priority={"name": "Highest"})
    s.edit(key, assignee={"accountId": s.site.state.admin_id})
    s.transition(key, "Done")
    s.transition(key, "To Do")
    s.settle()

    issue, links, history = issue_row(s, key)
    assert issue.status == "To Do" and issue.priority == "Highest"
    assert links == sorted([s.customers["acme"], s.customers["globex"]])
    assert history == [("To Do", "In Progress", "indeterminate"), ("In Progress", "Done", "done"),
                       ("Done", "To Do", "new")]
    assert s.notifications() == sorted([(u, key, k) for u in ("csm-alice", "csm-bob") for k in KINDS])
    pushes = {d["topic"]: d for d in s.receiver.topics("jira.issue.")}
    assert set(pushes) == {f"jira.issue.{k}" for k in [*KINDS, "created"]}
    resolved = pushes["jira.issue.resolved"]["data"]
    assert resolved["issue"]["key"] == key and resolved["change"]["to_category"] == "done"
    assert sorted(resolved["recipients"]) == ["csm-alice", "csm-bob"]
    # Everything came in as Forge events, none as Connect webhooks.
    assert all(delivery_id.startswith("forge:") for delivery_id, _ in deliveries(s))
    assert s.control("GET", "/webhooks/deliveries").json() == []


def test_forge_retries_and_duplicates_are_stored_once(forge_installed):
    s = forge_installed
    s.control("POST", "/forge/events/config", json={"duplicate": 2})
    key = s.create_issue("Crash on login", ["customer_globex"])
    s.transition(key, "In Progress")
    s.settle()
    attempts = s.control("GET", f"/forge/events?issue_key={key}").json()
    assert len(attempts) == 6 and {a["status"] for a in attempts} == {200, 202}
    assert sorted(event for _, event in deliveries(s)) == ["jira:issue_created", "jira:issue_updated"]
    assert s.notifications() == [("csm-bob", key, "moved_to_development")]


def test_a_failed_event_is_retried_by_forge_and_processed_once(forge_installed):
    s = forge_installed
    # The remote refuses the first two attempts (their FIT expired in transit); Forge's third one gets in.
    s.control("POST", "/forge/events/config", json={"fault": "expired", "faulty_attempts": 2})
    key = s.create_issue("Slow dashboards", ["customer_acme"])
    s.settle()
    attempts = s.control("GET", f"/forge/events?issue_key={key}").json()
    assert [a["status"] for a in attempts] == [401, 401, 202]
    assert [event for _, event in deliveries(s)] == ["jira:issue_created"]


def test_a_connect_site_upgraded_to_forge_keeps_its_customers_links_and_history(forge_site_factory):
    s = forge_site_factory(connect_first=True)
    key = s.create_issue("SSO broken", ["customer_initech"])
    s.transition(key, "In Progress")
    s.settle()
    before = s.connection()
    _, links_before, history_before = issue_row(s, key)
    assert before.kind == "connect" and links_before == [s.customers["initech"]]

    installed = s.install_forge()
    assert installed["upgraded_from_connect"] is True
    after = s.connection()
    assert (after.id, after.kind, after.organization_id, after.status) == (before.id, "forge", "ws-track", "active")
    assert after.installation_id == installed["installation_id"] and after.shared_secret is None
    with s.live.app.app_context():
        # Connect's tokens (and so its enabled/disabled callbacks) no longer speak for the site.
        assert find_tenant(before.client_key, live_only=False) is None
        assert "connection.upgraded_to_forge" in db.session.scalars(select(AuditEntry.action)).all()
        db.session.remove()

    connect_deliveries = len(s.control("GET", "/webhooks/deliveries?kind=connect").json())
    s.transition(key, "Done")
    s.settle()
    _, links_after, history_after = issue_row(s, key)
    assert links_after == links_before
    assert history_after[:len(history_before)] == history_before and history_after[-1][1] == "Done"
    assert ("csm-alice", key, "resolved") in s.notifications()
    # The change came as a Forge event; the Connect webhooks stopped with the upgrade.
    assert len(s.control("GET", "/webhooks/deliveries?kind=connect").json()) == connect_deliveries
    assert [event for delivery_id, event in deliveries(s) if delivery_id.startswith("forge:")] == ["jira:issue_updated"]


def test_pre_uninstall_keeps_the_data_for_the_retention_period_and_forgets_the_token(forge_installed):
    s = forge_installed
    response = s.forge("POST", "/uninstall", json={"app_id": forge_state(s.site)["installs"][0]["app_id"]})
    assert response.status_code == 200 and response.json()["pre_uninstall_status"] == 204
    connection = s.connection()
    assert connection.status == "uninstalled" and connection.purge_after is not None
    assert connection.access_token is None
    with s.live.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(JiraCustomerLink)) == 0
        db.session.remove()


def test_a_reinstall_within_the_retention_period_takes_the_old_row_back(forge_installed):
    s = forge_installed
    key = s.create_issue("Reports are empty", ["customer_globex"])
    s.settle()
    before = s.connection()
    app_id = forge_state(s.site)["installs"][0]["app_id"]
    assert s.forge("POST", "/uninstall", json={"app_id": app_id}).json()["pre_uninstall_status"] == 204
    assert s.connection().status == "uninstalled"

    # Forge gives a reinstall a new installationId; the site (its cloudId) is the same.
    installed = s.install_forge()
    after = s.connection()
    assert installed["installation_id"] != before.installation_id
    assert (after.id, after.installation_id) == (before.id, installed["installation_id"])
    assert (after.organization_id, after.status, after.purge_after) == ("ws-track", "active", None)
    assert after.access_token.startswith("forge-sys-")
    with s.live.app.app_context():
        assert "connection.reinstalled" in db.session.scalars(select(AuditEntry.action)).all()
        db.session.remove()
    _, links, _ = issue_row(s, key)
    assert links == [s.customers["globex"]]
    s.transition(key, "In Progress")  # and Forge's events reach the same row again
    s.settle()
    assert ("csm-bob", key, "moved_to_development") in s.notifications()


def test_a_live_forge_install_of_the_site_is_never_taken_over(forge_installed):
    s = forge_installed
    # Another environment of the app (another installation) on the same site gets a row of its own.
    first = s.connection()
    other = ForgeInvocation(app_id="ari:cloud:ecosystem::app/x", installation_id="ari:cloud:ecosystem::installation/y",
                            cloud_id=first.cloud_id, api_base_url=first.base_url, site_url=first.display_url,
                            account_id=None, environment_type="STAGING", environment_id="e", ic_label=None, claims={})
    with s.live.app.app_context():
        second = record_forge_install(other, event="avi:forge:installed:app")
        assert second.id != first.id and second.organization_id is None and second.status == "pending"
        db.session.remove()
    assert s.connection().installation_id == first.installation_id
