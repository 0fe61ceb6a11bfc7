"""The claim rules of a Forge Invocation Token, with a local key and a fixed clock (no HTTP)."""

from __future__ import annotations

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from connect_app.atlassian import AtlassianAuthError, verify_invocation_token

from .conftest import APP_ID

NOW = 1_800_000_000
CLOUD_ID = "3f1c6a2e-5b7d-4c8e-9a0b-1d2e3f4a5b6c"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KEYS = {"kid-1": KEY.public_key()}


def lookup(kid):
    """The key set as a plain lookup: kid -> public key."""
    if kid not in KEYS:
        raise AtlassianAuthError("unknown key id")
    return KEYS[kid]


def claims(**overrides) -> dict:
    """Forge's documented FIT claims for a UI call; None drops a claim."""
    body = {
        "app": {"id": APP_ID, "installationId": "ari:cloud:ecosystem::installation/1b2c",
                "apiBaseUrl": f"https://api.atlassian.com/ex/jira/{CLOUD_ID}",
                "environment": {"type": "PRODUCTION", "id": "env-1"},
                "installation": {"contexts": [{"cloudId": CLOUD_ID}]}},
        "context": {"cloudId": CLOUD_ID, "siteUrl": "https://acme.atlassian.net"},
        "principal": "557058:engineer",
        "iss": "forge/invocation-token", "aud": APP_ID, "iat": NOW - 5, "nbf": NOW - 5, "exp": NOW + 55,
    }
    for name, value in overrides.items():
        if value is None:
            body.pop(name, None)
        else:
            body[name] = value
    return body


def verify(body: dict, now: float = NOW, **kwargs):
    token = pyjwt.encode(body, KEY, algorithm="RS256", headers={"kid": "kid-1"})
    return verify_invocation_token(token, app_id=APP_ID, keys=lookup, clock=lambda: now, **kwargs)


def app_with(**changes) -> dict:
    app = claims()["app"]
    for name, value in changes.items():
        if value is None:
            app.pop(name, None)
        else:
            app[name] = value
    return app


def test_the_documented_claims_become_a_typed_invocation():
    invocation = verify(claims())
    assert (invocation.installation_id, invocation.cloud_id, invocation.api_base_url, invocation.site_url,
            invocation.account_id, invocation.environment_type, invocation.environment_id) == (
        "ari:cloud:ecosystem::installation/1b2c", CLOUD_ID, f"https://api.atlassian.com/ex/jira/{CLOUD_ID}",
        "https://acme.atlassian.net", "557058:engineer", "PRODUCTION", "env-1")
    assert "claims" not in repr(invocation)


@pytest.mark.parametrize(("now", "accepted"), [
    (NOW + 55 + 29, True),     # just expired, inside the leeway
    (NOW + 55 + 31, False),    # past exp plus leeway
    (NOW - 5 - 29, True),      # nbf a little ahead of our clock
    (NOW - 5 - 31, False),     # not yet valid
])
def test_exp_and_nbf_allow_a_small_leeway(now, accepted):
    if accepted:
        assert verify(claims(), now=now)
    else:
        with pytest.raises(AtlassianAuthError, match=r"expired|not yet valid"):
            verify(claims(), now=now)


def test_exp_is_required_and_times_must_be_numbers():
    with pytest.raises(AtlassianAuthError, match="missing exp"):
        verify(claims(exp=None))
    with pytest.raises(AtlassianAuthError, match="invalid nbf"):
        verify(claims(nbf="soon"))


@pytest.mark.parametrize("label", ["eu", "ic_1-a", "a" * 50])
def test_a_well_formed_ic_label_is_kept(label):
    assert verify(claims(icLabel=label)).ic_label == label


@pytest.mark.parametrize("label", ["", "EU", "a" * 51, "eu.evil.example", "../x", "eu/", 7, "eu\n"])
def test_an_ic_label_that_could_bend_a_url_is_refused(label):
    with pytest.raises(AtlassianAuthError, match="invalid icLabel"):
        verify(claims(icLabel=label))
    with pytest.raises(AtlassianAuthError, match="invalid icLabel"):
        verify(claims(app=app_with(icLabel=label)))


@pytest.mark.parametrize(("body", "reason"), [
    (claims(app=app_with(installationId=None)), "missing installation id"),
    (claims(app=app_with(apiBaseUrl=None)), "invalid apiBaseUrl"),
    (claims(app=app_with(apiBaseUrl="ftp://api.atlassian.com/ex/jira/x")), "invalid apiBaseUrl"),
    (claims(app=app_with(apiBaseUrl="https://api.atlassian.com/ex/jira/other-site")), "apiBaseUrl of another site"),
    (claims(context={"cloudId": "other-site"}), "cloud id not in installation"),
    (claims(context={}, app=app_with(installation={"contexts": []})), "missing cloud id"),
    (claims(app=app_with(id="ari:cloud:ecosystem::app/another")), "wrong app"),
    (claims(aud=["ari:cloud:ecosystem::app/another"]), "wrong audience"),
    (claims(iss=None), "wrong issuer"),
])
def test_tokens_missing_what_we_key_on_are_refused(body, reason):
    with pytest.raises(AtlassianAuthError) as refused:
        verify(body)
    assert refused.value.reason == reason


def test_the_cloud_id_falls_back_to_the_installation_context():
    assert verify(claims(context={})).cloud_id == CLOUD_ID


def test_the_algorithm_comes_from_us_not_from_the_token():
    body = claims()
    for token in (pyjwt.encode(body, "s" * 32, algorithm="HS256", headers={"kid": "kid-1"}),
                  pyjwt.encode(body, KEY, algorithm="RS512", headers={"kid": "kid-1"}),
                  pyjwt.encode(body, KEY, algorithm="PS256", headers={"kid": "kid-1"})):
        with pytest.raises(AtlassianAuthError, match="unsupported algorithm"):
            verify_invocation_token(token, app_id=APP_ID, keys=lookup, clock=lambda: NOW)


def test_a_token_without_a_kid_is_refused():
    token = pyjwt.encode(claims(), KEY, algorithm="RS256")
    with pytest.raises(AtlassianAuthError, match="missing key id"):
        verify_invocation_token(token, app_id=APP_ID, keys=lookup, clock=lambda: NOW)


def test_a_staging_token_needs_the_staging_key_set():
    staging = claims(app=app_with(apiBaseUrl=f"https://api.stg.atlassian.com/ex/jira/{CLOUD_ID}"))
    with pytest.raises(AtlassianAuthError, match="staging tokens not accepted"):
        verify(staging)
    assert verify(staging, staging_keys=lookup).api_base_url.startswith("https://api.stg.atlassian.com/")
