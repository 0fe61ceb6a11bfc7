"""Signed install: RS256 lifecycle tokens, the install key fetcher and re-install rules."""

from __future__ import annotations

import jwt as pyjwt
import pytest
import requests

from connect_app.atlassian import (
    CONTEXT_QSH,
    AtlassianAuthError,
    InstallKeyFetcher,
    query_string_hash,
    verify_install_token,
)

from .conftest import NOW, Tenant, make_rsa_key

APP_BASE_URL = "https://cscx.example.com/app"
INSTALLED_URL = f"{APP_BASE_URL}/connect/installed"
CLIENT_KEY = "tenant-new"


@pytest.fixture
def session():
    """A requests session closed after the test."""
    with requests.Session() as session:
        yield session


@pytest.fixture
def fetcher(key_server, session):
    """An InstallKeyFetcher pointed at the local key server with a short timeout."""
    return InstallKeyFetcher(key_server.url, session=session, timeout=0.5)


@pytest.fixture
def make_install_token(rsa_key):
    """Build an Atlassian-style signed install token; overrides replace or drop (None) claims."""

    def make(*, kid="kid-1", private_pem=None, algorithm="RS256", url=INSTALLED_URL, **overrides):
        claims = {
            "iss": CLIENT_KEY,
            "aud": [APP_BASE_URL],
            "sub": "557058:installer",
            "iat": NOW - 5,
            "exp": NOW + 175,
            "qsh": query_string_hash("POST", url, base_path=APP_BASE_URL),
            "context": {},
        }
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        headers = {"kid": kid} if kid is not None else None
        key = private_pem if private_pem is not None else rsa_key.private_pem
        return pyjwt.encode(claims, key, algorithm=algorithm, headers=headers)

    return make


@pytest.fixture
def verify(fetcher):
    """verify_install_token for a POST to /connect/installed of CLIENT_KEY at NOW."""

    def run(token, *, body_client_key=CLIENT_KEY, url=INSTALLED_URL, key_fetcher=None, **kwargs):
        return verify_install_token(
            token,
            method="POST",
            url=url,
            body_client_key=body_client_key,
            app_base_url=APP_BASE_URL,
            key_fetcher=key_fetcher or fetcher,
            clock=lambda: NOW,
            **kwargs,
        )

    return run


def _refused(call, *args, **kwargs) -> str:
    with pytest.raises(AtlassianAuthError) as excinfo:
        call(*args, **kwargs)
    return excinfo.value.reason


def test_signed_install_good_path(verify, make_install_token, key_server):
    claims = verify(make_install_token())
    assert claims["iss"] == CLIENT_KEY
    assert key_server.hits == ["kid-1"]


def test_uninstalled_uses_the_same_verification(verify, make_install_token):
    url = f"{APP_BASE_URL}/connect/uninstalled"
    assert verify(make_install_token(url=url), url=url)["iss"] == CLIENT_KEY


def test_reinstall_of_known_tenant_accepts_the_signed_token(verify, make_install_token):
    known = Tenant(CLIENT_KEY, "old-shared-secret-" + "x" * 32)
    assert verify(make_install_token(), known_tenant=known)["iss"] == CLIENT_KEY


def test_second_verify_hits_the_cache(verify, make_install_token, key_server):
    verify(make_install_token())
    verify(make_install_token())
    assert key_server.hits == ["kid-1"]


def test_cache_expires_after_ttl(key_server, session):
    now = [0.0]
    fetcher = InstallKeyFetcher(key_server.url, session=session, cache_ttl=60, clock=lambda: now[0])
    fetcher("kid-1")
    now[0] = 61
    fetcher("kid-1")
    assert key_server.hits == ["kid-1", "kid-1"]


def test_cache_is_bounded(key_server, session):
    for kid in ("k1", "k2", "k3"):
        key_server.keys[kid] = key_server.keys["kid-1"]
    fetcher = InstallKeyFetcher(key_server.url, session=session, max_entries=2)
    for kid in ("k1", "k2", "k3", "k1"):
        fetcher(kid)
    assert key_server.hits == ["k1", "k2", "k3", "k1"]


@pytest.mark.parametrize("aud", [["https://evil.example.com"], ["https://cscx.example.com"], None])
def test_wrong_audience_refused(verify, make_install_token, aud):
    assert _refused(verify, make_install_token(aud=aud)) == "wrong audience"


def test_audience_as_string_with_trailing_slash_accepted(verify, make_install_token):
    assert verify(make_install_token(aud=APP_BASE_URL + "/"))["iss"] == CLIENT_KEY


def test_issuer_must_equal_body_client_key(verify, make_install_token, key_server):
    reason = _refused(verify, make_install_token(), body_client_key="tenant-other")
    assert reason == "issuer does not match clientKey"
    assert key_server.hits == []  # refused before any key fetch


def test_missing_body_client_key_refused(verify, make_install_token):
    assert _refused(verify, make_install_token(), body_client_key="") == "missing clientKey"


def test_unknown_kid_refused(verify, make_install_token):
    assert _refused(verify, make_install_token(kid="kid-unknown")) == "unknown install key"


def test_token_signed_by_another_key_refused(verify, make_install_token):
    token = make_install_token(private_pem=make_rsa_key().private_pem)
    assert _refused(verify, token) == "bad signature"


def test_missing_kid_refused(verify, make_install_token):
    assert _refused(verify, make_install_token(kid=None)) == "missing key id"


@pytest.mark.parametrize("kid", ["../kid-1", "a/b", "..", "%2e%2e", "kid 1", "/etc/passwd", "x" * 200])
def test_kid_traversal_refused_without_a_request(verify, make_install_token, key_server, kid):
    assert _refused(verify, make_install_token(kid=kid)) == "invalid key id"
    assert key_server.hits == []


def test_fetcher_refuses_unsafe_kid_directly(fetcher, key_server):
    assert _refused(fetcher, "../../admin") == "invalid key id"
    assert key_server.hits == []


def test_key_server_timeout_is_a_clear_error(fetcher):
    assert _refused(fetcher, "slow") == "install key fetch timed out"


def test_key_server_down_is_a_clear_error(closed_port_url, session):
    fetcher = InstallKeyFetcher(closed_port_url, session=session, timeout=0.5)
    assert _refused(fetcher, "kid-1") == "install key server unreachable"


def test_key_server_error_is_a_clear_error(fetcher):
    assert _refused(fetcher, "broken") == "install key server error"


def test_key_server_body_that_is_not_a_key_refused(fetcher):
    assert _refused(fetcher, "not-a-key") == "invalid install key"


def test_failed_fetch_is_not_cached(fetcher, key_server, rsa_key):
    assert _refused(fetcher, "kid-late") == "unknown install key"
    key_server.keys["kid-late"] = rsa_key.public_pem
    assert "PUBLIC KEY" in fetcher("kid-late")


def test_expired_install_token_refused(verify, make_install_token):
    assert _refused(verify, make_install_token(exp=NOW - 120)) == "token expired"


def test_install_qsh_must_match(verify, make_install_token):
    token = make_install_token(url=f"{APP_BASE_URL}/connect/uninstalled")
    assert _refused(verify, token) == "qsh mismatch"


def test_install_context_qsh_refused(verify, make_install_token):
    assert _refused(verify, make_install_token(qsh=CONTEXT_QSH)) == "context qsh not allowed"


def test_hs256_install_signed_with_body_secret_refused(verify, make_install_token):
    # Anyone can sign with the sharedSecret they put in the very body being installed.
    token = make_install_token(kid=None, algorithm="HS256", private_pem="body-secret-" + "s" * 40)
    assert _refused(verify, token) == "unsupported algorithm"


def test_legacy_reinstall_needs_opt_in_and_the_stored_secret(verify, make_install_token):
    stored = "stored-shared-secret-" + "z" * 32
    known = Tenant(CLIENT_KEY, stored, base_url="https://site.atlassian.net")
    token = make_install_token(kid=None, algorithm="HS256", private_pem=stored, aud=None)
    legacy = {"known_tenant": known, "body_base_url": "https://site.atlassian.net"}
    assert _refused(verify, token, **legacy) == "unsupported algorithm"
    claims = verify(token, allow_legacy_shared_secret=True, **legacy)
    assert claims["iss"] == CLIENT_KEY
    wrong = make_install_token(kid=None, algorithm="HS256", private_pem="w" * 48, aud=None)
    assert _refused(verify, wrong, allow_legacy_shared_secret=True, **legacy) == "bad signature"
    assert _refused(verify, token, allow_legacy_shared_secret=True) == "unsupported algorithm"


@pytest.mark.parametrize("body_base_url", ["http://169.254.169.254", "https://other-site.atlassian.net", None])
def test_legacy_reinstall_cannot_move_the_tenant(verify, make_install_token, body_base_url):
    stored = "stored-shared-secret-" + "z" * 32
    known = Tenant(CLIENT_KEY, stored, base_url="https://site.atlassian.net")
    token = make_install_token(kid=None, algorithm="HS256", private_pem=stored, aud=None)
    reason = _refused(verify, token, known_tenant=known, allow_legacy_shared_secret=True, body_base_url=body_base_url)
    assert reason == "a re-install signed with the stored secret cannot change baseUrl"
    # The same URL spelled with another case or a trailing slash is the same site.
    assert verify(token, known_tenant=known, allow_legacy_shared_secret=True,
                  body_base_url="https://SITE.atlassian.net/")["iss"] == CLIENT_KEY


def test_signed_reinstall_may_move_the_tenant(verify, make_install_token):
    # Atlassian's own signature vouches for a renamed site.
    known = Tenant(CLIENT_KEY, "old-shared-secret-" + "x" * 32, base_url="https://site.atlassian.net")
    claims = verify(make_install_token(), known_tenant=known, allow_legacy_shared_secret=True,
                    body_base_url="https://renamed.atlassian.net")
    assert claims["iss"] == CLIENT_KEY


def test_alg_none_install_refused(verify, make_install_token):
    head, body, _ = make_install_token().split(".")
    none_head = pyjwt.utils.base64url_encode(b'{"alg":"none","kid":"kid-1"}').decode()
    assert _refused(verify, f"{none_head}.{body}.") == "unsupported algorithm"
    assert head  # the genuine header was RS256
