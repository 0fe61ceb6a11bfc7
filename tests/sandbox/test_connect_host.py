"""Connect host: signed install to a real receiver, lifecycle faults, inbound app JWT auth."""

from __future__ import annotations

import hashlib
import time

import jwt
import pytest
import requests

from jira_sandbox.testing import SandboxServer
from tests.sandbox.app_receiver import AppReceiver


def _qsh(method: str, target: str) -> str:
    # Written out here rather than imported, so the test cross-checks the sandbox's QSH.
    path, _, query = target.partition("?")
    pairs = sorted(p.split("=", 1) for p in query.split("&") if p) if query else []
    canonical = "&".join(f"{k}={v}" for k, v in pairs)
    return hashlib.sha256(f"{method}&{path}&{canonical}".encode()).hexdigest()


@pytest.fixture
def site():
    with SandboxServer(flavour="cloud", issues=3, seed=2) as server:
        yield server


@pytest.fixture
def app():
    with AppReceiver() as receiver:
        yield receiver


def install(site, app, **body) -> requests.Response:
    return requests.post(f"{site.base_url}/_sandbox/apps/install", headers=site.admin_headers, timeout=20,
                         json={"descriptor_url": app.descriptor_url, **body})


def verify_install_token(site, received, app) -> dict:
    """Verify a lifecycle request the way an app must: kid -> public key -> RS256, aud, iss, qsh."""
    token = received.headers["Authorization"].removeprefix("JWT ")
    header = jwt.get_unverified_header(token)
    pem = requests.get(f"{site.base_url}/_connect/install-keys/{header['kid']}", timeout=10)
    pem.raise_for_status()
    claims = jwt.decode(token, pem.text, algorithms=["RS256"], audience=app.base_url)
    assert claims["iss"] == received.json()["clientKey"]
    assert claims["qsh"] == _qsh("POST", received.target)
    return claims


def test_signed_install_reaches_the_app_with_a_verifiable_rs256_token(site, app):
    response = install(site, app)
    assert response.status_code == 201, response.text
    installed = app.on("/installed")[0]
    payload = installed.json()
    assert payload["eventType"] == "installed" and payload["key"] == "test-app"
    assert payload["baseUrl"] == site.base_url and payload["productType"] == "jira"
    assert payload["sharedSecret"] == response.json()["shared_secret"] and len(payload["sharedSecret"]) >= 32
    assert {"clientKey", "serverVersion", "pluginsVersion", "displayUrl", "description"} <= set(payload)
    claims = verify_install_token(site, installed, app)
    assert claims["exp"] > time.time() > claims["iat"] - 5
    # After installed, Jira tells the app it is enabled, signed with the new shared secret.
    enabled = app.on("/enabled")[0]
    token = enabled.headers["Authorization"].removeprefix("JWT ")
    assert jwt.decode(token, payload["sharedSecret"], algorithms=["HS256"])["qsh"] == _qsh("POST", "/enabled")


def test_unknown_kid_is_404(site):
    assert requests.get(f"{site.base_url}/_connect/install-keys/nope", timeout=10).status_code == 404


def test_reinstall_is_signed_rs256_and_keeps_the_secret_unless_rotated(site, app):
    first = install(site, app).json()["shared_secret"]
    install(site, app)
    again = app.on("/installed")[1]
    assert jwt.get_unverified_header(again.headers["Authorization"][4:])["alg"] == "RS256"
    verify_install_token(site, again, app)
    assert again.json()["sharedSecret"] == first
    rotated = install(site, app, new_secret=True).json()["shared_secret"]
    assert rotated != first and app.on("/installed")[2].json()["sharedSecret"] == rotated


@pytest.mark.parametrize("fault, error", [
    ("bad_signature", jwt.InvalidSignatureError), ("wrong_key", jwt.InvalidSignatureError),
    ("wrong_aud", jwt.InvalidAudienceError), ("expired", jwt.ExpiredSignatureError),
])
def test_lifecycle_faults_break_verification(site, app, fault, error):
    assert install(site, app, fault=fault).status_code == 201
    with pytest.raises(error):
        verify_install_token(site, app.on("/installed")[0], app)


def test_lifecycle_faults_on_claims_and_kid(site, app):
    install(site, app, fault="wrong_qsh")
    with pytest.raises(AssertionError):
        verify_install_token(site, app.on("/installed")[0], app)
    install(site, app, fault="wrong_iss")
    with pytest.raises(AssertionError):
        verify_install_token(site, app.on("/installed")[1], app)
    install(site, app, fault="unknown_kid")
    with pytest.raises(requests.HTTPError):
        verify_install_token(site, app.on("/installed")[2], app)
    install(site, app, fault="hs256")
    assert jwt.get_unverified_header(app.on("/installed")[3].headers["Authorization"][4:])["alg"] == "HS256"


def test_install_fails_when_the_app_refuses(site, app):
    app.statuses = [500]
    response = install(site, app)
    assert response.status_code == 400 and "500" in response.text
    listed = requests.get(f"{site.base_url}/_sandbox/apps", headers=site.admin_headers, timeout=10).json()
    assert listed["installs"] == [] and listed["lifecycle_calls"][0]["status"] == 500


def test_control_endpoints_need_the_admin_token(site, app):
    response = requests.post(f"{site.base_url}/_sandbox/apps/install", json={"descriptor_url": app.descriptor_url},
                             timeout=10)
    assert response.status_code == 403 and app.requests == []


def test_uninstall_sends_disabled_then_signed_uninstalled(site, app):
    install(site, app)
    response = requests.post(f"{site.base_url}/_sandbox/apps/test-app/uninstall", headers=site.admin_headers,
                             timeout=20)
    assert response.status_code == 204
    assert [r.path for r in app.requests][-2:] == ["/disabled", "/uninstalled"]
    verify_install_token(site, app.on("/uninstalled")[0], app)
    assert app.on("/uninstalled")[0].json()["eventType"] == "uninstalled"


# ---- inbound app JWT --------------------------------------------------------------------

def app_token(secret: str, method: str, target: str, iss: str = "test-app", **claims) -> str:
    now = int(time.time())
    body = {"iss": iss, "iat": now, "exp": now + 60, "qsh": _qsh(method, target), **claims}
    return jwt.encode(body, secret, algorithm="HS256")


def test_app_jwt_is_accepted_as_the_app_user(site, app):
    secret = install(site, app).json()["shared_secret"]
    target = f"/rest/api/3/issue/{next(iter(site.state.issues))}?fields=summary"
    response = requests.get(site.base_url + target, timeout=10,
                            headers={"Authorization": f"JWT {app_token(secret, 'GET', target)}"})
    assert response.status_code == 200, response.text
    me = requests.get(site.base_url + "/rest/api/3/myself", timeout=10,
                      headers={"Authorization": f"JWT {app_token(secret, 'GET', '/rest/api/3/myself')}"})
    assert me.json()["displayName"] == "Test <App>"


@pytest.mark.parametrize("case", ["bad_qsh", "expired", "unknown_iss", "wrong_secret", "context_qsh", "none_alg"])
def test_app_jwt_refusals(site, app, case):
    secret = install(site, app).json()["shared_secret"]
    target = "/rest/api/3/myself"
    now = int(time.time())
    token = {
        "bad_qsh": lambda: app_token(secret, "GET", "/rest/api/3/issue/CS-1"),
        "expired": lambda: app_token(secret, "GET", target, iat=now - 600, exp=now - 300),
        "unknown_iss": lambda: app_token(secret, "GET", target, iss="someone-else"),
        "wrong_secret": lambda: app_token("x" * 32, "GET", target),
        "context_qsh": lambda: jwt.encode({"iss": "test-app", "iat": now, "exp": now + 60, "qsh": "context-qsh"},
                                          secret, algorithm="HS256"),
        "none_alg": lambda: jwt.encode({"iss": "test-app", "iat": now, "exp": now + 60,
                                        "qsh": _qsh("GET", target)}, None, algorithm="none"),
    }[case]()
    response = requests.get(site.base_url + target, headers={"Authorization": f"JWT {token}"}, timeout=10)
    assert response.status_code == 401


def test_app_without_write_scope_cannot_write(site):
    with AppReceiver(key="reader", scopes=["READ"]) as reader:
        secret = install(site, reader).json()["shared_secret"]
        target = f"/rest/api/3/issue/{next(iter(site.state.issues))}"
        response = requests.put(site.base_url + target, json={"fields": {"summary": "x"}}, timeout=10,
                                headers={"Authorization": f"JWT {app_token(secret, 'PUT', target, iss='reader')}"})
        assert response.status_code == 403
