"""Dynamic webhooks (/rest/api/3/webhook): register, list, refresh, delete, 30-day expiry, delivery."""

from __future__ import annotations

import time
from datetime import datetime

import jwt
import pytest
import requests

from jira_sandbox.testing import SandboxServer
from tests.sandbox.app_receiver import AppReceiver
from tests.sandbox.test_connect_host import app_token
from tests.sandbox.test_oauth import REDIRECT, control, ex, login
from tests.sandbox.test_webhooks import create_issue, flush

DAY = 24 * 3600


@pytest.fixture
def site():
    with SandboxServer(flavour="cloud", issues=2, seed=2) as server:
        yield server


@pytest.fixture
def receiver():
    with AppReceiver() as app:
        yield app


@pytest.fixture
def oauth(site):
    client = control(site, "/clients", {"redirect_uris": [REDIRECT]})
    return client, login(site, client)["access_token"]


def register(site, access, url, webhooks):
    response = ex(site, access, "/webhook", method="POST", json={"url": url, "webhooks": webhooks})
    assert response.status_code == 200, response.text
    return response.json()["webhookRegistrationResult"]


def expiry(value: str) -> float:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def set_clock(site, offset_s):
    requests.post(f"{site.base_url}/_sandbox/webhooks/config", json={"clock_offset_s": offset_s},
                  headers=site.admin_headers, timeout=10).raise_for_status()


def test_register_list_and_deliver_with_matched_ids_and_bearer_jwt(site, oauth, receiver):
    client, access = oauth
    result = register(site, access, receiver.base_url + "/dyn", [
        {"events": ["jira:issue_created"], "jqlFilter": "project = SUP"},
        {"events": ["jira:issue_created", "jira:issue_updated"], "jqlFilter": "project = SUP"},
        {"events": ["jira:nope"], "jqlFilter": "project = SUP"},
    ])
    ids = [r["createdWebhookId"] for r in result[:2]]
    assert "errors" in result[2]
    listed = ex(site, access, "/webhook").json()
    assert listed["total"] == 2 and listed["isLast"] and [v["id"] for v in listed["values"]] == ids
    assert abs(expiry(listed["values"][0]["expirationDate"]) - (time.time() + 30 * DAY)) < 60
    create_issue(site)
    flush(site)
    got = receiver.wait_for("/dyn")
    assert len(got) == 1 and got[0].json()["matchedWebhookIds"] == ids
    bearer = got[0].headers["Authorization"].removeprefix("Bearer ")
    jwt.decode(bearer, client["client_secret"], algorithms=["HS256"], audience=client["client_id"])


def test_expiry_refresh_and_delete(site, oauth, receiver):
    _, access = oauth
    [created] = register(site, access, receiver.base_url + "/dyn",
                         [{"events": ["jira:issue_created"], "jqlFilter": "project = SUP"}])
    webhook_id = created["createdWebhookId"]
    set_clock(site, 31 * DAY)
    create_issue(site)
    flush(site)
    assert receiver.on("/dyn") == []
    refreshed = ex(site, access, "/webhook/refresh", method="PUT", json={"webhookIds": [webhook_id]})
    assert abs(expiry(refreshed.json()["expirationDate"]) - (time.time() + 61 * DAY)) < 60
    create_issue(site)
    flush(site)
    assert len(receiver.on("/dyn")) == 1
    assert ex(site, access, "/webhook", method="DELETE", json={"webhookIds": [webhook_id]}).status_code == 202
    assert ex(site, access, "/webhook").json()["total"] == 0


def test_only_apps_may_register_and_oauth_apps_get_five_per_user(site, oauth):
    _, access = oauth
    basic = requests.post(f"{site.base_url}/rest/api/3/webhook", auth=site.basic_auth, timeout=10,
                          json={"url": "http://127.0.0.1:9/x", "webhooks": []})
    assert basic.status_code == 403
    hooks = [{"events": ["jira:issue_created"], "jqlFilter": "project = SUP"}] * 6
    result = register(site, access, "http://127.0.0.1:9/x", hooks)
    assert sum("createdWebhookId" in r for r in result) == 5 and "errors" in result[5]


def test_connect_app_registers_dynamic_webhooks_with_jwt(site, receiver):
    secret = requests.post(f"{site.base_url}/_sandbox/apps/install", headers=site.admin_headers, timeout=20,
                           json={"descriptor_url": receiver.descriptor_url}).json()["shared_secret"]
    target = "/rest/api/3/webhook"
    response = requests.post(site.base_url + target, timeout=10,
                             headers={"Authorization": f"JWT {app_token(secret, 'POST', target)}"},
                             json={"url": receiver.base_url + "/dyn",
                                   "webhooks": [{"events": ["jira:issue_created"], "jqlFilter": "project = SUP"}]})
    assert response.json()["webhookRegistrationResult"][0]["createdWebhookId"]
    create_issue(site)
    flush(site)
    got = receiver.wait_for("/dyn")[0]
    assert jwt.decode(got.headers["Authorization"].removeprefix("JWT "), secret, algorithms=["HS256"])
