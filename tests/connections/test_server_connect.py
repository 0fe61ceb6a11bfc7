"""Connecting Jira Server/Data Center by token against the sandbox's Server flavour, over real HTTP."""

from __future__ import annotations

import uuid

import pytest
import requests
from sqlalchemy import select, text

from connect_app.extensions import db
from connect_app.models import AuditEntry, JiraConnection
from jira_sandbox import api_meta
from tests.conftest import auth_headers
from tests.connections.conftest import admin, build_app, non_admin_user


def connect(api, site, token, **extra):
    return api.post("/api/integrations/jira/connect", headers=admin(),
                    json={"type": "server", "base_url": site.base_url + "/", "token": token} | extra)


def admin_hooks(site, legacy=True):
    path = "/rest/webhooks/1.0/webhook" if legacy else "/rest/jira-webhook/1.0/webhooks"
    response = requests.get(site.base_url + path, headers={"Authorization": f"Bearer {site.pat}"}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_pat_connect_checks_the_site_saves_it_encrypted_and_registers_a_signed_webhook(api, server_site):
    response = connect(api, server_site, server_site.pat)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    connection = body["connection"]
    assert connection["kind"] == "server" and connection["status"] == "active"
    assert connection["site_url"] == server_site.base_url and connection["server_version"] == "9.12.2"
    assert connection["deployment"] == "server" and connection["auth"] == "personal_access_token"
    assert body["webhook"]["registered"] is True and body["webhook"]["api"] == "/rest/webhooks/1.0/webhook"
    assert server_site.pat not in response.get_data(as_text=True)

    stored = db.session.get(JiraConnection, uuid.UUID(connection["id"]))
    expected_url = f"http://127.0.0.1:5000/api/integrations/jira/webhook?connection={stored.id}"
    hooks = [h for h in server_site.state.webhooks.admin_hooks.values() if h["url"] == expected_url]
    assert len(hooks) == 1 and hooks[0]["secret"] == stored.webhook_secret and len(stored.webhook_secret) >= 32
    assert hooks[0]["events"] == ["jira:issue_created", "jira:issue_updated", "jira:issue_deleted"]
    assert any(h["url"] == expected_url for h in admin_hooks(server_site))

    raw = db.session.execute(text(
        "SELECT api_token_encrypted, webhook_secret_encrypted FROM jira_connections WHERE id = :id"
    ), {"id": stored.id.hex if db.engine.dialect.name == "sqlite" else stored.id}).one()
    assert server_site.pat not in raw[0] and stored.webhook_secret not in raw[1]
    assert stored.api_token == server_site.pat

    listed = api.get("/api/integrations/jira/connections", headers=auth_headers("ws-conn", "csm", "u-csm"))
    assert listed.status_code == 200
    assert [c["id"] for c in listed.get_json()["connections"]] == [connection["id"]]
    assert server_site.pat not in listed.get_data(as_text=True)
    assert stored.webhook_secret not in listed.get_data(as_text=True)
    actions = set(db.session.scalars(select(AuditEntry.action).where(AuditEntry.connection_id == stored.id)))
    assert {"connection.created", "connection.webhook_registered"} <= actions


def test_reconnecting_the_same_site_updates_the_connection_and_replaces_its_webhook(api, server_site):
    first = connect(api, server_site, server_site.pat).get_json()["connection"]["id"]
    again = connect(api, server_site, server_site.pat)
    assert again.status_code == 200 and again.get_json()["connection"]["id"] == first
    ours = [h for h in server_site.state.webhooks.admin_hooks.values() if h["url"].endswith(f"connection={first}")]
    assert len(ours) == 1


def test_basic_auth_fallback_with_username_and_password(api, server_site):
    response = connect(api, server_site, server_site.password, username=server_site.username)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["connection"]["auth"] == "basic"


def test_wrong_token_is_refused_and_nothing_is_saved(api, server_site):
    response = connect(api, server_site, "not-a-valid-pat")
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "credentials_refused"
    assert "not-a-valid-pat" not in response.get_data(as_text=True)
    assert db.session.scalar(select(JiraConnection.id)) is None


def test_a_token_without_admin_rights_gets_the_exact_settings_to_paste(api, server_site):
    user = non_admin_user(server_site)
    response = connect(api, server_site, user["pat"])
    assert response.status_code == 201, response.get_json()
    webhook = response.get_json()["webhook"]
    assert webhook["registered"] is False and "administrator" in webhook["reason"]
    manual = webhook["manual"]
    connection = db.session.get(JiraConnection, uuid.UUID(response.get_json()["connection"]["id"]))
    assert manual["url"] == f"http://127.0.0.1:5000/api/integrations/jira/webhook?connection={connection.id}"
    assert manual["secret"] == connection.webhook_secret
    assert manual["events"] == ["jira:issue_created", "jira:issue_updated", "jira:issue_deleted"]
    assert "WebHooks" in manual["where"]


def test_data_center_10_uses_the_new_webhook_api(api, server_site, monkeypatch):
    monkeypatch.setattr(api_meta, "SERVER_VERSION", ("10.3.1", [10, 3, 1]))
    response = connect(api, server_site, server_site.pat)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["webhook"]["api"] == "/rest/jira-webhook/1.0/webhooks"
    assert response.get_json()["connection"]["server_version"] == "10.3.1"
    hook_id = int(response.get_json()["webhook"]["id"])
    assert server_site.state.webhooks.admin_hooks[hook_id]["secret"]
    assert any(h["id"] == hook_id for h in admin_hooks(server_site, legacy=False))


def test_versions_before_8_are_refused_with_a_clear_message(api, server_site, monkeypatch):
    monkeypatch.setattr(api_meta, "SERVER_VERSION", ("7.13.8", [7, 13, 8]))
    response = connect(api, server_site, server_site.pat)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "unsupported_version"
    assert "7.13.8" in error["message"] and "8.0 or later" in error["message"]


def test_a_cloud_site_is_pointed_to_oauth(api, cloud_site):
    response = connect(api, cloud_site, "whatever")
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "cloud_site"


def test_not_jira_and_unreachable(api, server_site):
    response = api.post("/api/integrations/jira/connect", headers=admin(),
                        json={"type": "server", "base_url": server_site.base_url + "/nope", "token": "x"})
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "not_jira"


@pytest.mark.parametrize("body, status, code", [
    ({"type": "server", "token": "t"}, 422, "invalid_body"),
    ({"type": "server", "base_url": "http://127.0.0.1:9"}, 422, "invalid_body"),
    ({"type": "server", "base_url": 12, "token": "t"}, 422, "invalid_body"),
    ({"type": "server", "base_url": "http://127.0.0.1:9", "token": "x" * 3000}, 422, "invalid_body"),
    ({"type": "carrier_pigeon"}, 422, "invalid_body"),
    ({}, 422, "invalid_body"),
    ([1, 2], 400, "invalid_json"),
])
def test_connect_validates_its_input(api, body, status, code):
    response = api.post("/api/integrations/jira/connect", headers=admin(), json=body)
    assert response.status_code == status and response.get_json()["error"]["code"] == code


def test_only_admins_connect_and_disconnect(api, server_site):
    csm = auth_headers("ws-conn", "csm", "u-csm")
    body = {"type": "server", "base_url": server_site.base_url, "token": server_site.pat}
    assert api.post("/api/integrations/jira/connect", headers=csm, json=body).status_code == 403
    assert api.post("/api/integrations/jira/connect", json=body).status_code == 401
    connection_id = connect(api, server_site, server_site.pat).get_json()["connection"]["id"]
    assert api.delete(f"/api/integrations/jira/connections/{connection_id}", headers=csm).status_code == 403
    other_workspace = auth_headers("ws-other", "admin", "u-x")
    assert api.delete(f"/api/integrations/jira/connections/{connection_id}",
                      headers=other_workspace).status_code == 404


def test_disconnect_deletes_the_webhook_in_jira_and_every_stored_secret(api, server_site):
    connection_id = connect(api, server_site, server_site.pat).get_json()["connection"]["id"]
    assert any(h["url"].endswith(connection_id) for h in server_site.state.webhooks.admin_hooks.values())
    response = api.delete(f"/api/integrations/jira/connections/{connection_id}", headers=admin())
    assert response.status_code == 200 and response.get_json()["status"] == "uninstalled"
    assert not any(h["url"].endswith(connection_id) for h in server_site.state.webhooks.admin_hooks.values())
    stored = db.session.get(JiraConnection, uuid.UUID(connection_id))
    db.session.refresh(stored)
    assert stored.api_token is None and stored.webhook_secret is None and stored.webhooks == []
    assert api.delete(f"/api/integrations/jira/connections/{connection_id}", headers=admin()).status_code == 200
    assert api.delete("/api/integrations/jira/connections/nope", headers=admin()).status_code == 400


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{port}", "http://localhost:{port}", "http://[::1]:{port}", "http://10.0.0.7:8080",
    "http://169.254.169.254/latest/meta-data", "http://admin:{pat}@127.0.0.1:{port}", "ftp://127.0.0.1:{port}",
])
def test_ssrf_attempts_are_refused_before_any_connection(database_url, tmp_path, server_site, url):
    app = build_app(database_url, tmp_path / "instance")  # ALLOW_PRIVATE_JIRA_URLS defaults to false
    port = server_site.base_url.rsplit(":", 1)[1]
    with app.app_context():
        response = app.test_client().post("/api/integrations/jira/connect", headers=admin(), json={
            "type": "server", "base_url": url.format(port=port, pat=server_site.pat), "token": server_site.pat})
        assert response.status_code == 422, response.get_json()
        assert response.get_json()["error"]["code"] == "unsafe_base_url"
        assert server_site.pat not in response.get_data(as_text=True)
        assert db.session.scalar(select(JiraConnection.id)) is None
        db.session.remove()
        db.engine.dispose()
