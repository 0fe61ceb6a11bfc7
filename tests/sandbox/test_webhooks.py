"""Webhook delivery: Connect webhooks with JWT, retries, duplicates, reordering, pause/flush, admin HMAC."""

from __future__ import annotations

import hashlib
import hmac

import jwt
import pytest
import requests

from jira_sandbox.testing import SandboxServer
from tests.sandbox.app_receiver import AppReceiver
from tests.sandbox.test_connect_host import _qsh


@pytest.fixture
def site():
    with SandboxServer(flavour="cloud", issues=2, seed=2) as server:
        yield server


@pytest.fixture
def app():
    with AppReceiver() as receiver:
        yield receiver


def control(site, method, path, **kwargs):
    response = requests.request(method, f"{site.base_url}/_sandbox{path}", headers=site.admin_headers,
                                timeout=30, **kwargs)
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def installed(site, app) -> str:
    return control(site, "POST", "/apps/install", json={"descriptor_url": app.descriptor_url})["shared_secret"]


def create_issue(site, summary="Export <b>times</b> out", **fields) -> dict:
    body = {"project": {"key": "SUP"}, "issuetype": {"name": "Bug"}, "summary": summary, **fields}
    response = requests.post(f"{site.base_url}/rest/api/3/issue", json={"fields": body}, auth=site.basic_auth,
                             timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def flush(site):
    assert control(site, "POST", "/webhooks/flush")["drained"]


def test_connect_webhook_carries_a_valid_jwt_and_jira_payload(site, app):
    secret = installed(site, app)
    key = create_issue(site)["key"]
    flush(site)
    got = app.wait_for("/hooks/jira")[0]
    claims = jwt.decode(got.headers["Authorization"].removeprefix("JWT "), secret, algorithms=["HS256"])
    assert claims["qsh"] == _qsh("POST", "/hooks/jira?kind=created") and got.query == "kind=created"
    assert claims["iss"] == app.on("/installed")[0].json()["clientKey"]
    body = got.json()
    assert body["webhookEvent"] == "jira:issue_created" and body["issue_event_type_name"] == "issue_created"
    assert body["issue"]["key"] == key and body["issue"]["fields"]["summary"] == "Export <b>times</b> out"
    assert body["user"]["accountId"] == site.state.admin_id and isinstance(body["timestamp"], int)
    assert got.headers["X-Atlassian-Webhook-Identifier"] and "X-Atlassian-Webhook-Retry" not in got.headers


def test_update_payload_has_the_changelog(site, app):
    installed(site, app)
    key = create_issue(site)["key"]
    requests.put(f"{site.base_url}/rest/api/3/issue/{key}", json={"fields": {"priority": {"name": "High"}}},
                 auth=site.basic_auth, timeout=10).raise_for_status()
    flush(site)
    updated = next(r.json() for r in app.on("/hooks/jira") if r.query == "kind=updated")
    assert updated["webhookEvent"] == "jira:issue_updated"
    item = updated["changelog"]["items"][0]
    assert item["field"] == "priority" and item["toString"] == "High" and updated["changelog"]["id"]


def test_retries_on_5xx_with_retry_headers_and_the_same_identifier(site, app):
    installed(site, app)
    control(site, "POST", "/webhooks/config", json={"retry_backoff_s": 0.01})
    app.statuses = [503, 429, 200]
    create_issue(site)
    flush(site)
    got = app.on("/hooks/jira")
    assert len(got) == 3
    assert [r.headers.get("X-Atlassian-Webhook-Retry") for r in got] == [None, "1", "2"]
    assert len({r.headers["X-Atlassian-Webhook-Identifier"] for r in got}) == 1
    attempts = control(site, "GET", "/webhooks/deliveries", params={"kind": "connect"})
    assert [a["status"] for a in attempts] == [503, 429, 200]


def test_gives_up_after_five_retries_and_not_on_4xx(site, app):
    installed(site, app)
    control(site, "POST", "/webhooks/config", json={"retry_backoff_s": 0.001})
    app.statuses = [500] * 10
    create_issue(site)
    flush(site)
    assert len(app.on("/hooks/jira")) == 6
    app.statuses = [400]
    create_issue(site)
    flush(site)
    assert len(app.on("/hooks/jira")) == 7


def test_duplicates_share_the_identifier(site, app):
    installed(site, app)
    control(site, "POST", "/webhooks/config", json={"duplicate": 2})
    create_issue(site)
    flush(site)
    got = app.on("/hooks/jira")
    assert len(got) == 3 and len({r.headers["X-Atlassian-Webhook-Identifier"] for r in got}) == 1


def test_reorder_window_shuffles_and_pause_holds_until_flush(site, app):
    installed(site, app)
    control(site, "POST", "/webhooks/config", json={"reorder_window": 6, "seed": 3, "paused": True})
    keys = [create_issue(site, summary=f"issue {n}")["key"] for n in range(6)]
    assert app.on("/hooks/jira") == []
    flush(site)
    delivered = [r.json()["issue"]["key"] for r in app.on("/hooks/jira")]
    assert sorted(delivered) == sorted(keys) and delivered != keys


def test_delivery_never_runs_inside_the_request(site, app):
    installed(site, app)
    control(site, "POST", "/webhooks/config", json={"delay_ms": 300})
    create_issue(site)
    assert app.on("/hooks/jira") == []
    flush(site)
    assert len(app.on("/hooks/jira")) == 1


# ---- admin webhooks (Server/DC and Cloud) -----------------------------------------------

@pytest.mark.parametrize("path, body", [
    ("/rest/webhooks/1.0/webhook", {"filters": {"issue-related-events-section": ""}}),
    ("/rest/jira-webhook/1.0/webhooks", {"configuration": {"FILTERS": "", "EXCLUDE_BODY": "false"}}),
])
def test_server_admin_webhook_is_signed_with_x_hub_signature(path, body):
    with SandboxServer(flavour="server", issues=1) as dc, AppReceiver() as receiver:
        auth = dc.basic_auth
        hook = {"name": "cscx", "url": receiver.base_url + "/dc-hook", "events": ["jira:issue_created"],
                "secret": "s3cret", **body}
        created = requests.post(dc.base_url + path, json=hook, auth=auth, timeout=10)
        assert created.status_code == 201, created.text
        assert len(requests.get(dc.base_url + path, auth=auth, timeout=10).json()) == 1
        requests.post(f"{dc.base_url}/rest/api/2/issue", auth=auth, timeout=10, json={"fields": {
            "project": {"key": "SUP"}, "issuetype": {"name": "Bug"}, "summary": "DC"}}).raise_for_status()
        requests.post(f"{dc.base_url}/_sandbox/webhooks/flush", headers=dc.admin_headers, timeout=30)
        got = receiver.wait_for("/dc-hook")[0]
        expected = hmac.new(b"s3cret", got.body, hashlib.sha256).hexdigest()
        assert got.headers["X-Hub-Signature"] == f"sha256={expected}"
        payload = got.json()
        assert payload["user"]["name"] == "admin" and "accountId" not in payload["user"]
        assert payload["issue"]["self"].startswith(dc.base_url + "/rest/api/2/")


def test_admin_webhooks_need_an_admin(site):
    user = control(site, "POST", "/users", json={"email": "dev@sandbox.test", "displayName": "Dev"})
    hook = {"name": "x", "url": "http://127.0.0.1:9/x", "events": ["jira:issue_created"]}
    url = f"{site.base_url}/rest/webhooks/1.0/webhook"
    assert requests.post(url, json=hook, timeout=10).status_code == 401
    assert requests.post(url, json=hook, auth=(user["emailAddress"], user["api_token"]), timeout=10).status_code == 403
