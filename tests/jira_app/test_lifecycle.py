"""Connect lifecycle: signed install, re-install rules, uninstall retention, enable/disable."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import select

from connect_app.extensions import db
from connect_app.models import AuditEntry, JiraConnection
from tests.jira_app.signing import InstallKeyServer, tenant_token

BASE = "http://127.0.0.1:5000"


@pytest.fixture
def key_server(app):
    """Atlassian's install-keys service, and the app pointed at it."""
    server = InstallKeyServer()
    app.config["ATLASSIAN_INSTALL_KEYS_URL"] = server.url
    app.extensions.pop("cscx_install_keys", None)
    yield server
    server.close()


def payload(client_key="jira:site-1", secret=None, **overrides):
    """An `installed` body as Jira sends it."""
    return {"key": "ai.cscx.jira", "clientKey": client_key, "sharedSecret": secret or secrets.token_urlsafe(32),
            "baseUrl": "https://site-1.atlassian.net", "displayUrl": "https://jira.site-1.example",
            "productType": "jira", "serverVersion": "100000", "eventType": "installed",
            "cloudId": "cloud-1"} | overrides


def install(client, key_server, body, *, path="/connect/installed", token=None, **token_args):
    """POST a lifecycle event signed the way Jira signs it."""
    token_args.setdefault("audience", BASE)
    token = token or key_server.install_token("POST", f"{BASE}{path}", client_key=body["clientKey"], **token_args)
    return client.post(path, json=body, headers={"Authorization": f"JWT {token}"})


def connections():
    """All stored connections."""
    db.session.expire_all()
    return db.session.scalars(select(JiraConnection)).all()


def test_signed_install_creates_the_tenant(client, key_server):
    body = payload()
    response = install(client, key_server, body)
    assert response.status_code == 204, response.json
    (connection,) = connections()
    assert connection.client_key == "jira:site-1"
    assert connection.base_url == "https://site-1.atlassian.net"
    assert connection.display_url == "https://jira.site-1.example"
    assert connection.cloud_id == "cloud-1"
    assert connection.shared_secret == body["sharedSecret"]
    assert connection.status == "pending"  # not linked to a workspace yet
    assert db.session.scalars(select(AuditEntry.action)).all() == ["connection.installed"]


@pytest.mark.parametrize("case", ["wrong audience", "issuer mismatch", "unknown kid", "foreign key", "expired",
                                  "wrong qsh", "unsigned"])
def test_bad_install_tokens_are_refused_and_change_nothing(client, key_server, case):
    body = payload()
    args = {}
    token = None
    if case == "wrong audience":
        args["audience"] = "https://evil.example"
    elif case == "unknown kid":
        args["kid"] = "key-unknown"
    elif case == "foreign key":
        from cryptography.hazmat.primitives.asymmetric import rsa

        args["private_key"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif case == "expired":
        args["ttl"] = -300
    elif case == "issuer mismatch":
        token = key_server.install_token("POST", f"{BASE}/connect/installed", client_key="jira:other",
                                         audience=BASE)
    elif case == "wrong qsh":
        token = key_server.install_token("POST", f"{BASE}/connect/uninstalled", client_key=body["clientKey"],
                                         audience=BASE)
    elif case == "unsigned":
        token = tenant_token("POST", f"{BASE}/connect/installed", client_key=body["clientKey"],
                             secret=body["sharedSecret"])
    response = install(client, key_server, body, token=token, **args)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"
    assert connections() == []


def test_reinstall_rotates_the_secret_only_when_proven(client, key_server):
    first = payload()
    assert install(client, key_server, first).status_code == 204
    # A re-install signed with the *new* secret from its own body proves nothing: refused.
    second = payload(secret=secrets.token_urlsafe(32))
    forged = tenant_token("POST", f"{BASE}/connect/installed", client_key=second["clientKey"],
                          secret=second["sharedSecret"])
    assert install(client, key_server, second, token=forged).status_code == 401
    assert connections()[0].shared_secret == first["sharedSecret"]
    # Signed with the stored secret (legacy re-install), or with Atlassian's key: accepted.
    legacy = tenant_token("POST", f"{BASE}/connect/installed", client_key=second["clientKey"],
                          secret=first["sharedSecret"])
    assert install(client, key_server, second, token=legacy).status_code == 204
    assert connections()[0].shared_secret == second["sharedSecret"]
    third = payload(secret=secrets.token_urlsafe(32))
    assert install(client, key_server, third).status_code == 204
    (connection,) = connections()
    assert connection.shared_secret == third["sharedSecret"]


def test_install_keys_are_cached_by_kid(client, key_server):
    install(client, key_server, payload("jira:a"))
    install(client, key_server, payload("jira:b"))
    assert key_server.fetches == 1


def test_malformed_payloads_get_400(client, key_server):
    body = payload()
    del body["sharedSecret"]
    response = install(client, key_server, body)
    assert response.status_code == 400
    assert "sharedSecret" in response.json["error"]["message"]
    response = install(client, key_server, payload(key="someone.else"))
    assert response.status_code == 400


def test_uninstall_disables_and_schedules_the_purge(client, key_server):
    body = payload()
    install(client, key_server, body)
    response = install(client, key_server, body | {"eventType": "uninstalled"}, path="/connect/uninstalled")
    assert response.status_code == 204
    (connection,) = connections()
    assert connection.status == "uninstalled"
    assert (connection.purge_after - connection.uninstalled_at).days == 30
    # An uninstalled tenant's tokens no longer open anything.
    token = tenant_token("POST", f"{BASE}/connect/enabled", client_key=body["clientKey"], secret=body["sharedSecret"])
    assert client.post("/connect/enabled", headers={"Authorization": f"JWT {token}"}).status_code == 401


def test_enable_and_disable_need_the_tenant_token(client, key_server):
    body = payload()
    install(client, key_server, body)
    for path, status in (("/connect/disabled", "disabled"), ("/connect/enabled", "pending")):
        token = tenant_token("POST", f"{BASE}{path}", client_key=body["clientKey"], secret=body["sharedSecret"])
        assert client.post(path, json={}, headers={"Authorization": f"JWT {token}"}).status_code == 204
        assert connections()[0].status == status
    wrong = tenant_token("POST", f"{BASE}/connect/disabled", client_key=body["clientKey"], secret="x" * 40)
    assert client.post("/connect/disabled", headers={"Authorization": f"JWT {wrong}"}).status_code == 401
