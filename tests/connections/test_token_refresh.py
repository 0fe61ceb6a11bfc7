"""OAuth token upkeep against the sandbox's rotating refresh tokens: refresh, two refreshers at once, revocation."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from connect_app.connections.access import jira_client
from connect_app.connections.oauth_tokens import access_token
from connect_app.connections.records import ConnectSettings, NeedsReauth
from connect_app.connections.webhook_registration import refresh_expiring_webhooks
from connect_app.extensions import db
from connect_app.models import AuditEntry, JiraConnection, OutboxMessage
from connect_app.models.types import utcnow
from tests.connections.conftest import admin, sandbox_control
from tests.connections.test_oauth_connect import connect_cloud


@pytest.fixture
def strict_provider(cloud_site):
    """No reuse leeway: presenting a spent refresh token revokes the whole family, as theft would."""
    sandbox_control(cloud_site, "POST", "/oauth/config", json={"reuse_leeway_s": 0})
    yield cloud_site
    sandbox_control(cloud_site, "POST", "/oauth/config", json={"reuse_leeway_s": 600, "access_token_ttl_s": 3600})


def connected(api) -> JiraConnection:
    body = connect_cloud(api)
    return db.session.get(JiraConnection, uuid.UUID(body["connections"][0]["id"]))


def reread(connection_id) -> JiraConnection:
    db.session.expire_all()
    return db.session.get(JiraConnection, connection_id)


def grant_of(site, refresh_token):
    """The sandbox's grant (token family) a refresh token belongs to."""
    provider = site.state.oauth
    return provider.grants[provider.refresh[refresh_token]["grant"]]


def test_an_expiring_access_token_is_refreshed_and_the_refresh_token_rotated(api, jira_app, strict_provider):
    connection = connected(api)
    first_access, first_refresh = connection.access_token, connection.refresh_token
    # The token was issued an hour ago and has a minute left: inside the margin, so the next call
    # refreshes before using it.
    db.session.execute(update(JiraConnection).where(JiraConnection.id == connection.id).values(
        token_expires_at=utcnow() + timedelta(minutes=1), updated_at=utcnow() - timedelta(minutes=59)))
    db.session.commit()
    me = jira_client(reread(connection.id)).myself()
    assert me["accountId"] == strict_provider.state.admin_id
    after = reread(connection.id)
    assert after.token_version == 2 and after.access_token != first_access and after.refresh_token != first_refresh
    assert after.status == "active" and not grant_of(strict_provider, after.refresh_token).revoked
    # A fresh token is used as is: no refresh per request.
    client = jira_client(after)
    client.myself()
    client.server_info()
    assert reread(connection.id).token_version == 2


def test_short_lived_tokens_are_not_refreshed_on_every_call(api, jira_app, cloud_site):
    sandbox_control(cloud_site, "POST", "/oauth/config", json={"access_token_ttl_s": 120})
    try:
        connection = connected(api)
        client = jira_client(connection)
        for _ in range(3):
            client.myself()
        assert reread(connection.id).token_version == 0
    finally:
        sandbox_control(cloud_site, "POST", "/oauth/config", json={"access_token_ttl_s": 3600})


def test_two_concurrent_refreshers_spend_the_refresh_token_once(api, jira_app, strict_provider):
    connection = connected(api)
    grant = grant_of(strict_provider, connection.refresh_token)
    assert len(grant.refresh_tokens) == 1
    settings = ConnectSettings.from_config(jira_app.config)
    # A slow token endpoint: both refreshers are certainly in flight before either could finish.
    sandbox_control(strict_provider, "PUT", "/faults", json={"path_latency_ms": {"/oauth/token": 400}})
    start = threading.Barrier(2)
    results, errors = [], []

    def refresher():
        with jira_app.app_context():
            try:
                start.wait()
                results.append(access_token(connection.id, settings, force_refresh=True))
            except Exception as exc:  # surfaced by the assertions below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=refresher) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    sandbox_control(strict_provider, "DELETE", "/faults")
    assert not errors, errors
    assert len(grant.refresh_tokens) == 2  # the token endpoint was asked once: one rotation
    assert len(results) == 2 and results[0][0] == results[1][0]  # the loser uses the winner's token
    after = reread(connection.id)
    assert after.token_version == 2 and after.access_token == results[0][0]
    assert not grant.revoked
    # The family is intact: a later refresh works and the new token reaches Jira.
    token, _ = access_token(connection.id, settings, force_refresh=True)
    assert reread(connection.id).token_version == 4
    assert jira_client(reread(connection.id)).myself()["accountId"] == strict_provider.state.admin_id
    assert token == reread(connection.id).access_token


def test_a_revoked_grant_marks_the_connection_for_reauth_and_tells_the_admins(api, jira_app, strict_provider):
    connection = connected(api)
    client_id = jira_app.config["ATLASSIAN_OAUTH_CLIENT_ID"]
    sandbox_control(strict_provider, "POST", "/oauth/revoke", json={"client_id": client_id})
    settings = ConnectSettings.from_config(jira_app.config)
    with pytest.raises(NeedsReauth):
        access_token(connection.id, settings, force_refresh=True)
    after = reread(connection.id)
    assert after.status == "needs_reauth" and after.access_token is None and after.refresh_token is None
    assert "reconnect" in after.last_error
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.connection_id == connection.id,
                                                      AuditEntry.action == "connection.needs_reauth"))
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.topic == "jira.connection.needs_reauth"))
    assert message.organization_id == "ws-conn" and message.payload["connection_id"] == str(connection.id)
    assert message.payload["audience"] == "workspace_admins"
    # Every later use says so at once, without calling Atlassian again.
    with pytest.raises(NeedsReauth):
        jira_client(after).myself()
    listed = api.get("/api/integrations/jira/connections", headers=admin()).get_json()["connections"]
    assert listed[0]["status"] == "needs_reauth" and listed[0]["needs_reauth"] is True

    # Reconnecting (a new consent) brings the same connection back.
    body = connect_cloud(api)
    assert body["connections"][0]["id"] == str(connection.id) and body["connections"][0]["status"] == "active"
    assert jira_client(reread(connection.id)).myself()["accountId"] == strict_provider.state.admin_id


def test_dynamic_webhooks_are_refreshed_well_before_expiry(api, jira_app, cloud_site):
    connection = connected(api)
    [hook_id] = [h["id"] for h in connection.webhooks]
    dispatcher = cloud_site.state.webhooks
    dispatcher.dynamic[hook_id]["expires"] = dispatcher.now() + 5 * 24 * 3600
    db.session.execute(update(JiraConnection).where(JiraConnection.id == connection.id)
                       .values(webhooks_expire_at=utcnow() + timedelta(days=5)))
    db.session.commit()
    assert refresh_expiring_webhooks() == {"due": 1, "refreshed": 1, "registered": 0, "failed": 0}
    assert dispatcher.dynamic[hook_id]["expires"] > dispatcher.now() + 29 * 24 * 3600
    assert reread(connection.id).webhooks_expire_at > utcnow() + timedelta(days=29)
    assert refresh_expiring_webhooks()["due"] == 0  # nothing left to do for another 20 days

    # Jira forgot the webhook (it expired or was deleted): the job registers a new one.
    del dispatcher.dynamic[hook_id]
    db.session.execute(update(JiraConnection).where(JiraConnection.id == connection.id)
                       .values(webhooks_expire_at=utcnow() + timedelta(days=1)))
    db.session.commit()
    assert refresh_expiring_webhooks()["registered"] == 1
    [new_id] = [h["id"] for h in reread(connection.id).webhooks]
    assert new_id != hook_id and new_id in dispatcher.dynamic
