"""Cloud OAuth 2.0 (3LO) end to end against the sandbox's authorization server and /ex/jira gateway."""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import requests
from sqlalchemy import select, text, update

from connect_app.connections.access import jira_client
from connect_app.connections.setup import browser_cookie_name
from connect_app.extensions import db
from connect_app.models import JiraConnection, OAuthState
from connect_app.models.types import utcnow
from tests.conftest import auth_headers
from tests.connections.conftest import BASE_URL, CALLBACK_URL, admin, build_app, sandbox_control

AUTHORIZE_LINK = f"{BASE_URL}/api/integrations/jira/authorize?"


def start(api, **extra) -> str:
    """CSCX.AI's backend starts the flow; returns the link its browser opens (ours, not Atlassian's)."""
    response = api.post("/api/integrations/jira/connect", headers=admin(), json={"type": "cloud_oauth"} | extra)
    assert response.status_code == 200, response.get_json()
    link = response.get_json()["authorize_url"]
    assert link.startswith(AUTHORIZE_LINK)
    return link


def open_link(browser, link: str) -> str:
    """The browser opens our link: it gets the flow's cookie and is sent on; returns Atlassian's authorize URL."""
    response = browser.get(link.removeprefix(BASE_URL))
    assert response.status_code == 302, response.get_json()
    return response.headers["Location"]


def consent(authorize_url: str) -> str:
    """What the user does on Atlassian's screen: consent; returns the callback's query string."""
    response = requests.get(authorize_url, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(CALLBACK_URL + "?")
    return urlsplit(location).query


def authorize(api, **extra) -> str:
    """Start, open the link in the `api` client's browser (its cookie jar) and consent; the callback's query."""
    return consent(open_link(api, start(api, **extra)))


def connect_cloud(api) -> dict:
    """The whole flow; returns the callback's JSON."""
    response = api.get(f"/api/integrations/jira/callback?{authorize(api)}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_authorize_url_carries_audience_scopes_consent_state_and_pkce(api, oauth_client, cloud_site):
    url = urlsplit(open_link(api, start(api)))
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
    query = authorize(api)
    assert api.get(f"/api/integrations/jira/callback?{query}").status_code == 200
    replay = api.get(f"/api/integrations/jira/callback?{query}")
    assert replay.status_code == 400 and replay.get_json()["error"]["code"] == "invalid_state"

    params = parse_qs(authorize(api))
    forged = params["state"][0][:-2] + "xx"
    response = api.get("/api/integrations/jira/callback", query_string={"state": forged, "code": params["code"][0]})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_state"
    assert api.get("/api/integrations/jira/callback").status_code == 400

    query = authorize(api)
    db.session.execute(update(OAuthState).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    expired = api.get(f"/api/integrations/jira/callback?{query}")
    assert expired.status_code == 400 and "expired" in expired.get_json()["error"]["message"]


def test_declined_consent_is_reported(api, cloud_site):
    sandbox_control(cloud_site, "POST", "/oauth/config", json={"deny_consent": True})
    try:
        response = api.get(f"/api/integrations/jira/callback?{authorize(api)}")
    finally:
        sandbox_control(cloud_site, "POST", "/oauth/config", json={"deny_consent": False})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "authorization_denied"
    assert db.session.scalar(select(JiraConnection.id)) is None


def test_redirect_after_sends_the_browser_back_to_cscx(api):
    query = authorize(api, redirect_after="https://app.cscx.example/settings/jira?tab=1")
    response = api.get(f"/api/integrations/jira/callback?{query}")
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


# ---- the flow is bound to the browser that opened the link, not only to the state


def cookie_of(response) -> dict[str, str]:
    """The attributes of the flow cookie a response sets (name and value first)."""
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("cscx_jira_oauth_")]
    name_value, *attributes = [part.strip() for part in header.split(";")]
    name, value = name_value.split("=", 1)
    return {"name": name, "value": value} | {k.lower(): v for k, _, v in (a.partition("=") for a in attributes)}


def test_opening_the_link_sets_a_short_lived_httponly_cookie_and_sends_the_browser_on(api, cloud_site):
    response = api.get(start(api).removeprefix(BASE_URL))
    assert response.status_code == 302 and response.headers["Location"].startswith(f"{cloud_site.base_url}/authorize?")
    assert response.headers["Cache-Control"] == "no-store"
    cookie = cookie_of(response)
    assert len(cookie["value"]) >= 40 and "httponly" in cookie and cookie["samesite"] == "Lax"
    assert cookie["path"] == "/api/integrations/jira/" and 0 < int(cookie["max-age"]) <= 600
    assert "secure" not in cookie  # BASE_URL is http here; over https the cookie is Secure
    nonce = parse_qs(urlsplit(response.headers["Location"]).query)["state"][0].split(".")[0]
    assert db.session.get(OAuthState, nonce).browser_hash not in (None, cookie["value"])  # only a hash is stored


def test_another_browser_cannot_complete_a_grant_into_the_workspace(jira_app, api, cloud_site):
    # The victim (an admin of ws-conn) opens the link in their browser; the state leaks (Atlassian's URL
    # is in their history, a screenshot...). The attacker consents with their own account and replays
    # the callback with the victim's state and their own code from their own browser.
    victim_query = parse_qs(authorize(api))
    attacker = jira_app.test_client()
    stolen = {"state": victim_query["state"][0], "code": victim_query["code"][0]}
    response = attacker.get("/api/integrations/jira/callback", query_string=stolen)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "browser_mismatch"
    attacker.set_cookie(browser_cookie_name(stolen["state"]), "a-guessed-value", path="/api/integrations/jira/")
    response = attacker.get("/api/integrations/jira/callback", query_string=stolen)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "browser_mismatch"
    assert db.session.scalar(select(JiraConnection.id)) is None
    # The refusals did not spend the state: the victim's own browser completes the flow.
    response = api.get("/api/integrations/jira/callback", query_string=stolen)
    assert response.status_code == 200, response.get_json()
    cleared = cookie_of(response)  # the callback clears the flow's cookie
    assert cleared["name"] == browser_cookie_name(stolen["state"]) and cleared["value"] == ""
    assert cleared["max-age"] == "0"


def test_the_link_opens_in_one_browser_only(jira_app, api):
    link = start(api).removeprefix(BASE_URL)
    assert api.get(link).status_code == 302
    assert api.get(link).status_code == 302  # the same browser may open it again (back, reload)
    other = jira_app.test_client().get(link)
    assert other.status_code == 400 and other.get_json()["error"]["code"] == "invalid_state"
    assert "already opened in another browser" in other.get_json()["error"]["message"]
    forged = api.get("/api/integrations/jira/authorize?state=nonce.forged")
    assert forged.status_code == 400 and forged.get_json()["error"]["code"] == "invalid_state"


def test_the_cookie_is_secure_when_the_service_is_served_over_https(database_url, tmp_path, oauth_client,
                                                                      cloud_site):
    app = build_app(database_url, tmp_path / "instance", BASE_URL="https://cscx-jira.example",
                    ATLASSIAN_AUTH_URL=cloud_site.base_url, ATLASSIAN_API_URL=cloud_site.base_url,
                    ATLASSIAN_OAUTH_CLIENT_ID=oauth_client["client_id"],
                    ATLASSIAN_OAUTH_CLIENT_SECRET=oauth_client["client_secret"])
    with app.app_context():
        browser = app.test_client()
        link = browser.post("/api/integrations/jira/connect", headers=admin(),
                            json={"type": "cloud_oauth"}).get_json()["authorize_url"]
        assert link.startswith("https://cscx-jira.example/api/integrations/jira/authorize?state=")
        response = browser.get(link.removeprefix("https://cscx-jira.example"), base_url="https://cscx-jira.example")
        assert response.status_code == 302 and "secure" in cookie_of(response)
        db.session.remove()
        db.engine.dispose()
