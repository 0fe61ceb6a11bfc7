"""Cloud OAuth 2.0 (3LO) end to end against the sandbox's authorization server and /ex/jira gateway."""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import requests
from sqlalchemy import select, text, update

from connect_app.connections.access import jira_client
from connect_app.extensions import db
from connect_app.models import JiraConnection, OAuthState
from connect_app.models.types import utcnow
from tests.conftest import auth_headers
from tests.connections.conftest import CALLBACK_URL, admin, build_app, sandbox_control


def start(api, **extra) -> str:
    response = api.post("/api/integrations/jira/connect", headers=admin(), json={"type": "cloud_oauth"} | extra)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["authorize_url"]


def consent(authorize_url: str) -> str:
    """What the user's browser does: follow the authorize URL; returns the callback's query string."""
    response = requests.get(authorize_url, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(CALLBACK_URL + "?")
    return urlsplit(location).query


def connect_cloud(api) -> dict:
    """The whole flow; returns the callback's JSON."""
    response = api.get(f"/api/integrations/jira/callback?{consent(start(api))}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_authorize_url_carries_audience_scopes_consent_state_and_pkce(api, oauth_client, cloud_site):
    url = urlsplit(start(api))
    assert f"{url.scheme}://{url.netloc}" == cloud_site.base_url and url.path == "/authorize"
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["audience"] == "api.atlassian.com" and query["prompt"] == "consent"
    assert query["response_type"] == "code" and query["client_id"] == oauth_client["client_id"]
    assert query["redirect_uri"] == CALLBACK_URL
    assert {"offline_access", "read:jira-work", "manage:jira-webhook"} <= set(query["scope"].split())
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    nonce = query["state"].split(".")[0]
    state = db.session.get(OAuthState, nonce)
    assert state.organization_id == "ws-conn" and state.user_id == "u-admin" and state.used_at is None
    assert state.code_verifier and state.expires_at < utcnow() + timedelta(minutes=11)


def test_callback_creates_the_site_connection_with_encrypted_tokens_and_a_dynamic_webhook(api, cloud_site):
    body = connect_cloud(api)
    [connection] = body["connections"]
    assert connection["kind"] == "oauth" and connection["status"] == "active"
    assert connection["cloud_id"] == cloud_site.state.cloud_id and connection["site_url"] == cloud_site.base_url
    assert connection["api_base_url"] == f"{cloud_site.base_url}/ex/jira/{cloud_site.state.cloud_id}"
    stored = db.session.get(JiraConnection, uuid.UUID(connection["id"]))
    assert stored.access_token and stored.refresh_token and stored.token_expires_at > utcnow()
    raw = db.session.execute(text("SELECT access_token_encrypted, refresh_token_encrypted FROM jira_connections")).one()
    assert stored.access_token not in raw[0] and stored.refresh_token not in raw[1]
    assert stored.access_token not in repr(body) and stored.refresh_token not in repr(body)

    webhook = body["webhooks"][connection["id"]]
    assert webhook["registered"] is True
    hook = cloud_site.state.webhooks.dynamic[webhook["ids"][0]]
    assert hook["url"] == f"http://127.0.0.1:5000/api/integrations/jira/webhook?connection={stored.id}"
    keys = sorted(cloud_site.state.projects)
    assert hook["jqlFilter"] == "project IN (" + ", ".join(f'"{k}"' for k in keys) + ")"
    assert stored.webhooks[0]["id"] == webhook["ids"][0]
    assert timedelta(days=29) < stored.webhooks_expire_at - utcnow() <= timedelta(days=30)

    # The stored connection works through the client with the token hook.
    assert jira_client(stored).myself()["accountId"] == cloud_site.state.admin_id


def test_state_is_single_use_signed_and_expires(api):
    query = consent(start(api))
    assert api.get(f"/api/integrations/jira/callback?{query}").status_code == 200
    replay = api.get(f"/api/integrations/jira/callback?{query}")
    assert replay.status_code == 400 and replay.get_json()["error"]["code"] == "invalid_state"

    params = parse_qs(consent(start(api)))
    forged = params["state"][0][:-2] + "xx"
    response = api.get("/api/integrations/jira/callback", query_string={"state": forged, "code": params["code"][0]})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_state"
    assert api.get("/api/integrations/jira/callback").status_code == 400

    query = consent(start(api))
    db.session.execute(update(OAuthState).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    expired = api.get(f"/api/integrations/jira/callback?{query}")
    assert expired.status_code == 400 and "expired" in expired.get_json()["error"]["message"]


def test_declined_consent_is_reported(api, cloud_site):
    sandbox_control(cloud_site, "POST", "/oauth/config", json={"deny_consent": True})
    try:
        response = api.get(f"/api/integrations/jira/callback?{consent(start(api))}")
    finally:
        sandbox_control(cloud_site, "POST", "/oauth/config", json={"deny_consent": False})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "authorization_denied"
    assert db.session.scalar(select(JiraConnection.id)) is None


def test_redirect_after_sends_the_browser_back_to_cscx(api):
    url = start(api, redirect_after="https://app.cscx.example/settings/jira?tab=1")
    response = api.get(f"/api/integrations/jira/callback?{consent(url)}")
    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    assert target.netloc == "app.cscx.example" and "jira=connected" in target.query and "tab=1" in target.query
    bad = api.post("/api/integrations/jira/connect", headers=admin(),
                   json={"type": "cloud_oauth", "redirect_after": "javascript:alert(1)"})
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid_redirect_after"


def test_oauth_unconfigured_is_a_clear_503(database_url, tmp_path):
    app = build_app(database_url, tmp_path / "instance")
    with app.app_context():
        response = app.test_client().post("/api/integrations/jira/connect", headers=admin(),
                                          json={"type": "cloud_oauth"})
        assert response.status_code == 503 and "ATLASSIAN_OAUTH_CLIENT_ID" in response.get_json()["error"]["message"]
        db.session.remove()
        db.engine.dispose()


def test_only_admins_start_oauth(api):
    response = api.post("/api/integrations/jira/connect", headers=auth_headers("ws-conn", "pm", "u-pm"),
                        json={"type": "cloud_oauth"})
    assert response.status_code == 403


def test_disconnect_deletes_the_dynamic_webhook_and_the_tokens(api, cloud_site):
    body = connect_cloud(api)
    connection_id = body["connections"][0]["id"]
    hook_id = body["webhooks"][connection_id]["ids"][0]
    assert hook_id in cloud_site.state.webhooks.dynamic
    response = api.delete(f"/api/integrations/jira/connections/{connection_id}", headers=admin())
    assert response.status_code == 200 and response.get_json()["status"] == "uninstalled"
    assert hook_id not in cloud_site.state.webhooks.dynamic
    stored = db.session.get(JiraConnection, uuid.UUID(connection_id))
    db.session.refresh(stored)
    assert stored.access_token is None and stored.refresh_token is None and stored.webhooks == []
