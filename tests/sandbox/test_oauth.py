"""OAuth 2.0 (3LO): code flow with PKCE, rotating refresh tokens, accessible-resources, /ex routing."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from jira_sandbox.testing import SandboxServer

REDIRECT = "http://127.0.0.1:9/callback"
SCOPES = "read:jira-work write:jira-work manage:jira-webhook read:jira-user offline_access"


@pytest.fixture
def site():
    with SandboxServer(flavour="cloud", issues=3, seed=2) as server:
        yield server


def control(site, path, body=None):
    response = requests.post(f"{site.base_url}/_sandbox/oauth{path}", json=body or {}, headers=site.admin_headers,
                             timeout=10)
    assert response.status_code < 300, response.text
    return response.json()


@pytest.fixture
def client(site):
    return control(site, "/clients", {"redirect_uris": [REDIRECT], "name": "CSCX"})


def authorize(site, client, scope=SCOPES, pkce=True, **extra):
    """Run /authorize and return (redirect query, code_verifier)."""
    verifier = secrets.token_urlsafe(48)
    params = {"audience": "api.atlassian.com", "client_id": client["client_id"], "scope": scope,
              "redirect_uri": REDIRECT, "state": "xyz", "response_type": "code", "prompt": "consent", **extra}
    if pkce:
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        params.update(code_challenge=challenge, code_challenge_method="S256")
    response = requests.get(f"{site.base_url}/authorize", params=params, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}, verifier


def token(site, client, form=False, **body):
    body = {"client_id": client["client_id"], "client_secret": client["client_secret"], **body}
    kwargs = {"data": body} if form else {"json": body}
    return requests.post(f"{site.base_url}/oauth/token", timeout=10, **kwargs)


def login(site, client, scope=SCOPES) -> dict:
    query, verifier = authorize(site, client, scope=scope)
    response = token(site, client, grant_type="authorization_code", code=query["code"], redirect_uri=REDIRECT,
                     code_verifier=verifier)
    assert response.status_code == 200, response.text
    return response.json()


def ex(site, access, path, method="GET", cloud_id=None, **kwargs):
    url = f"{site.base_url}/ex/jira/{cloud_id or site.state.cloud_id}/rest/api/3{path}"
    return requests.request(method, url, headers={"Authorization": f"Bearer {access}"}, timeout=10, **kwargs)


def test_code_flow_with_pkce_returns_tokens(site, client):
    query, verifier = authorize(site, client)
    assert query["state"] == "xyz"
    response = token(site, client, form=True, grant_type="authorization_code", code=query["code"],
                     redirect_uri=REDIRECT, code_verifier=verifier)
    body = response.json()
    assert response.status_code == 200 and body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["scope"] == SCOPES and body["refresh_token"]
    again = token(site, client, grant_type="authorization_code", code=query["code"], redirect_uri=REDIRECT,
                  code_verifier=verifier)
    assert again.status_code == 403 and again.json()["error"] == "invalid_grant"


def test_pkce_verifier_must_match(site, client):
    query, _ = authorize(site, client)
    response = token(site, client, grant_type="authorization_code", code=query["code"], redirect_uri=REDIRECT,
                     code_verifier="not-the-verifier")
    assert response.status_code == 403 and response.json()["error"] == "invalid_grant"


def test_no_refresh_token_without_offline_access(site, client):
    assert "refresh_token" not in login(site, client, scope="read:jira-work")


def test_wrong_secret_and_unregistered_redirect(site, client):
    query, verifier = authorize(site, client)
    bad = dict(client, client_secret="nope")
    assert token(site, bad, grant_type="authorization_code", code=query["code"], redirect_uri=REDIRECT,
                 code_verifier=verifier).status_code == 401
    response = requests.get(f"{site.base_url}/authorize", allow_redirects=False, timeout=10, params={
        "audience": "api.atlassian.com", "client_id": client["client_id"], "scope": "read:jira-work",
        "redirect_uri": "https://evil.example/cb", "response_type": "code"})
    assert response.status_code == 400 and "Location" not in response.headers


def test_denied_consent_redirects_with_error(site, client):
    control(site, "/config", {"deny_consent": True})
    query, _ = authorize(site, client)
    assert query["error"] == "access_denied" and query["state"] == "xyz" and "code" not in query


def test_refresh_rotates_and_tolerates_reuse_within_leeway(site, client):
    first = login(site, client)
    second = token(site, client, grant_type="refresh_token", refresh_token=first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"] and second["access_token"] != first["access_token"]
    # A replay of the retired token within the leeway (two racing workers) still works.
    replay = token(site, client, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert replay.status_code == 200
    assert ex(site, second["access_token"], "/myself").status_code == 200


def test_reuse_outside_leeway_revokes_the_family(site, client):
    control(site, "/config", {"reuse_leeway_s": 0})
    first = login(site, client)
    second = token(site, client, grant_type="refresh_token", refresh_token=first["refresh_token"]).json()
    reused = token(site, client, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert reused.status_code == 403
    assert reused.json() == {"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."}
    assert token(site, client, grant_type="refresh_token", refresh_token=second["refresh_token"]).status_code == 403
    assert ex(site, second["access_token"], "/myself").status_code == 401


def test_revoke_knob_and_short_access_tokens(site, client):
    control(site, "/config", {"access_token_ttl_s": -1})
    expired = login(site, client)
    assert expired["expires_in"] == -1 and ex(site, expired["access_token"], "/myself").status_code == 401
    control(site, "/config", {"access_token_ttl_s": 3600})
    tokens = login(site, client)
    assert control(site, "/revoke", {"client_id": client["client_id"]})["revoked"] == 2
    assert ex(site, tokens["access_token"], "/myself").status_code == 401
    assert token(site, client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]).status_code == 403


def test_accessible_resources(site, client):
    access = login(site, client)["access_token"]
    resources = requests.get(f"{site.base_url}/oauth/token/accessible-resources", timeout=10,
                             headers={"Authorization": f"Bearer {access}"}).json()
    assert resources[0]["id"] == site.state.cloud_id and resources[0]["url"] == site.base_url
    assert "write:jira-work" in resources[0]["scopes"] and {"name", "avatarUrl"} <= set(resources[0])
    assert requests.get(f"{site.base_url}/oauth/token/accessible-resources", timeout=10).status_code == 401


def test_ex_routing_serves_rest_with_bearer_and_checks_cloud_id_and_scopes(site, client):
    access = login(site, client)["access_token"]
    key = next(iter(site.state.issues))
    assert ex(site, access, f"/issue/{key}").json()["key"] == key
    assert ex(site, access, "/myself").json()["accountId"] == site.state.admin_id
    assert ex(site, access, f"/issue/{key}", cloud_id="00000000-0000-0000-0000-000000000000").status_code == 404
    # The 3LO token is no good against the site URL itself.
    direct = requests.get(f"{site.base_url}/rest/api/3/myself", headers={"Authorization": f"Bearer {access}"},
                          timeout=10)
    assert direct.status_code == 401
    reader = login(site, client, scope="read:jira-work")["access_token"]
    refused = ex(site, reader, f"/issue/{key}", method="PUT", json={"fields": {"summary": "x"}})
    assert refused.status_code == 401 and refused.json()["message"] == "Unauthorized; scope does not match"
