"""Inbound tenant tokens (Jira → app): the fixed verification order and every refusal."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import jwt as pyjwt
import pytest

from connect_app.atlassian import (
    CONTEXT_QSH,
    AtlassianAuthError,
    issue_context_token,
    token_from_request,
    verify_request_token,
)

from .conftest import NOW, make_rsa_key

URL = "/panel?issueKey=CS-1"


@pytest.fixture
def verify(tenants, clock):
    """verify_request_token bound to the test tenants, the frozen clock and the panel URL."""

    def run(token, *, method="GET", url=URL, **kwargs):
        return verify_request_token(
            token, method=method, url=url, tenant_lookup=tenants.get, clock=clock, **kwargs
        )

    return run


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hand_made(header: dict, claims: dict, key: bytes | None) -> str:
    """Sign a token by hand, for shapes PyJWT refuses to produce."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _reason(excinfo) -> str:
    return excinfo.value.reason


def test_good_token_yields_tenant_account_and_context(verify, make_tenant_token, tenants):
    verified = verify(make_tenant_token())
    assert verified.client_key == "tenant-a"
    assert verified.account_id == "557058:account-1"
    assert verified.context == {"license": "active"}
    assert verified.tenant is tenants["tenant-a"]


def test_full_url_with_jwt_query_param_verifies(verify, make_tenant_token):
    token = make_tenant_token()
    assert verify(token, url=f"https://app.example.com{URL}&jwt={token}").client_key == "tenant-a"


def test_context_path_of_the_app_is_stripped(verify, make_tenant_token):
    token = make_tenant_token(url=URL)
    assert verify(token, url=f"https://app.example.com/cscx{URL}", base_path="/cscx").client_key == "tenant-a"


def test_tampered_signature_refused(verify, make_tenant_token):
    head, body, sig = make_tenant_token().split(".")
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    with pytest.raises(AtlassianAuthError) as excinfo:
        verify(f"{head}.{body}.{flipped}")
    assert _reason(excinfo) == "bad signature"


def test_tampered_claims_refused(verify, make_tenant_token):
    head, _, sig = make_tenant_token().split(".")
    forged = _b64(json.dumps({"iss": "tenant-a", "sub": "admin", "iat": NOW, "exp": NOW + 60}).encode())
    with pytest.raises(AtlassianAuthError) as excinfo:
        verify(f"{head}.{forged}.{sig}")
    assert _reason(excinfo) == "bad signature"


def test_alg_none_refused(verify, make_tenant_token):
    claims = pyjwt.decode(make_tenant_token(), options={"verify_signature": False})
    with pytest.raises(AtlassianAuthError) as excinfo:
        verify(_hand_made({"alg": "none", "typ": "JWT"}, claims, None))
    assert _reason(excinfo) == "unsupported algorithm"


def test_rs256_token_refused(verify, make_tenant_token):
    token = make_tenant_token(secret=make_rsa_key().private_pem, algorithm="RS256")
    with pytest.raises(AtlassianAuthError) as excinfo:
        verify(token)
    assert _reason(excinfo) == "unsupported algorithm"


def test_hmac_signed_with_a_public_key_refused(verify, make_tenant_token):
    # Key confusion: HS256 "signed" with an RSA public key an attacker can read.
    claims = pyjwt.decode(make_tenant_token(), options={"verify_signature": False})
    token = _hand_made({"alg": "HS256", "typ": "JWT"}, claims, make_rsa_key().public_pem.encode())
    with pytest.raises(AtlassianAuthError) as excinfo:
        verify(token)
    assert _reason(excinfo) == "bad signature"


def test_expired_refused_and_leeway_respected(verify, make_tenant_token):
    assert verify(make_tenant_token(exp=NOW - 20)).client_key == "tenant-a"
    with pytest.raises(AtlassianAuthError) as excinfo:
        verify(make_tenant_token(exp=NOW - 31))
    assert _reason(excinfo) == "token expired"
    with pytest.raises(AtlassianAuthError):
        verify(make_tenant_token(exp=NOW - 5), leeway=0)


def test_iat_in_the_future_beyond_leeway_refused(verify, make_tenant_token):
    assert verify(make_tenant_token(iat=NOW + 25)).client_key == "tenant-a"
    with pytest.raises(AtlassianAuthError) as excinfo:
        verify(make_tenant_token(iat=NOW + 120))
    assert _reason(excinfo) == "token issued in the future"


@pytest.mark.parametrize("claim", ["exp", "iat", "qsh"])
def test_required_claims(verify, make_tenant_token, claim):
    with pytest.raises(AtlassianAuthError) as excinfo:
        verify(make_tenant_token(**{claim: None}))
    assert _reason(excinfo) == f"missing {claim}"


@pytest.mark.parametrize(
    ("method", "url"),
    [("POST", URL), ("GET", "/panel?issueKey=CS-2"), ("GET", "/admin?issueKey=CS-1"), ("GET", "/panel")],
)
def test_qsh_bound_to_method_path_and_query(verify, make_tenant_token, method, url):
    with pytest.raises(AtlassianAuthError) as excinfo:
        verify(make_tenant_token(), method=method, url=url)
    assert _reason(excinfo) == "qsh mismatch"


def test_context_qsh_only_where_allowed(verify, make_tenant_token):
    token = make_tenant_token(qsh=CONTEXT_QSH)
    with pytest.raises(AtlassianAuthError) as excinfo:
        verify(token)
    assert _reason(excinfo) == "context qsh not allowed"
    assert verify(token, context_qsh_allowed=True).client_key == "tenant-a"


def test_unknown_issuer_refused(verify, make_tenant_token):
    with pytest.raises(AtlassianAuthError) as excinfo:
        verify(make_tenant_token(iss="tenant-zzz"))
    assert _reason(excinfo) == "unknown issuer"


def test_missing_issuer_refused(verify, make_tenant_token):
    with pytest.raises(AtlassianAuthError) as excinfo:
        verify(make_tenant_token(iss=None))
    assert _reason(excinfo) == "missing issuer"


def test_cross_tenant_token_refused(verify, make_tenant_token, tenants):
    # Claims to be tenant A, signed with tenant B's (genuine) secret.
    token = make_tenant_token(client_key="tenant-a", secret=tenants["tenant-b"].shared_secret)
    with pytest.raises(AtlassianAuthError) as excinfo:
        verify(token)
    assert _reason(excinfo) == "bad signature"


def test_app_context_token_is_not_a_tenant_token(verify, tenants):
    token = issue_context_token(
        secret=tenants["tenant-a"].shared_secret,
        client_key="tenant-a",
        account_id="557058:account-1",
        issue_key="CS-1",
        clock=lambda: NOW,
    )
    with pytest.raises(AtlassianAuthError) as excinfo:
        verify(token, context_qsh_allowed=True)
    assert _reason(excinfo) == "wrong token type"


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "a.b"])
def test_malformed_tokens_refused(verify, token):
    with pytest.raises(AtlassianAuthError) as excinfo:
        verify(token)
    assert _reason(excinfo) == "malformed token"


def test_token_from_header_or_query():
    assert token_from_request({"Authorization": "JWT abc.def.ghi"}, {}) == "abc.def.ghi"
    assert token_from_request({"authorization": "jwt abc.def.ghi"}, {}) == "abc.def.ghi"
    assert token_from_request({}, {"jwt": "abc.def.ghi"}) == "abc.def.ghi"
    assert token_from_request({"Authorization": "JWT t"}, {"jwt": "t"}) == "t"


@pytest.mark.parametrize(
    ("headers", "args", "reason"),
    [
        ({}, {}, "missing token"),
        ({"Authorization": "Bearer abc"}, {}, "missing token"),
        ({"Authorization": "JWT "}, {}, "missing token"),
        ({"Authorization": "JWT one"}, {"jwt": "two"}, "ambiguous token"),
    ],
)
def test_token_extraction_refusals(headers, args, reason):
    with pytest.raises(AtlassianAuthError) as excinfo:
        token_from_request(headers, args)
    assert _reason(excinfo) == reason


def test_refusal_logs_reason_but_never_the_token(verify, make_tenant_token, caplog):
    token = make_tenant_token(exp=NOW - 600)
    with caplog.at_level("INFO", logger="connect_app.atlassian"), pytest.raises(AtlassianAuthError):
        verify(token)
    [record] = [r for r in caplog.records if r.getMessage() == "atlassian.auth.refused"]
    assert record.reason == "token expired"
    assert all(token not in str(value) for value in vars(record).values())
