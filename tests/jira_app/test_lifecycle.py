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


@pytest.mark.parametrize("base_url", ["http://169.254.169.254/latest", "https://10.0.0.5", "http://127.0.0.1:6379",
                                      "https://jira.attacker.example", "http://site-1.atlassian.net"])
def test_install_base_url_must_be_an_atlassian_site_unless_private_urls_are_allowed(app, client, key_server,
                                                                                     base_url):
    response = install(client, key_server, payload(baseUrl=base_url))
    assert response.status_code == 400, response.json
    error = response.json["error"]
    assert error["code"] == "unsafe_base_url"
    assert error["message"].startswith("baseUrl: ") and "ALLOW_PRIVATE_JIRA_URLS" in error["message"]
    assert connections() == []
    app.config["ALLOW_PRIVATE_JIRA_URLS"] = True  # a self-hosted stand-in (the sandbox) is an explicit opt-in
    assert install(client, key_server, payload(baseUrl=base_url)).status_code == 204
    assert connections()[0].base_url == base_url.rstrip("/")


def test_a_display_url_is_a_plain_web_address(client, key_server):
    response = install(client, key_server, payload(displayUrl="javascript:alert(document.cookie)"))
    assert response.status_code == 400 and "displayUrl" in response.json["error"]["message"]
    assert connections() == []


def test_a_legacy_reinstall_cannot_move_the_tenant(app, client, key_server):
    first = payload()
    assert install(client, key_server, first).status_code == 204
    app.config["ALLOW_PRIVATE_JIRA_URLS"] = True  # even where internal hosts are allowed
    for base_url in ("http://10.0.0.5:8080", "https://site-2.atlassian.net"):
        moved = payload(secret=secrets.token_urlsafe(32), baseUrl=base_url)
        legacy = tenant_token("POST", f"{BASE}/connect/installed", client_key=moved["clientKey"],
                              secret=first["sharedSecret"])
        response = install(client, key_server, moved, token=legacy)
        assert response.status_code == 401
        assert response.json["error"]["message"] == "a re-install signed with the stored secret cannot change baseUrl"
    (connection,) = connections()
    assert connection.base_url == "https://site-1.atlassian.net"
    assert connection.shared_secret == first["sharedSecret"]
    # Atlassian's signature may move it (a renamed site).
    renamed = payload(baseUrl="https://renamed.atlassian.net")
    assert install(client, key_server, renamed).status_code == 204
    assert connections()[0].base_url == "https://renamed.atlassian.net"
