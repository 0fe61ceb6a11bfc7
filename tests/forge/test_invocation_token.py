"""Forge Invocation Tokens minted by the sandbox, verified against its JWKS over HTTP: good in, forged out."""

from __future__ import annotations

import pytest
import requests

from connect_app.atlassian import AtlassianAuthError, JwksKeys, invocation_token_from_headers, verify_invocation_token

from .conftest import APP_ID, forge_state, mint, sandbox


def test_a_genuine_token_is_accepted_and_says_who_and_where(forge_site, verify):
    invocation = verify(mint(forge_site, principal="557058:engineer"))
    cloud_id = forge_site.state.cloud_id
    assert invocation.app_id == APP_ID
    assert invocation.installation_id.startswith("ari:cloud:ecosystem::installation/")
    assert invocation.cloud_id == cloud_id
    assert invocation.api_base_url == f"{forge_site.base_url}/ex/jira/{cloud_id}"
    assert invocation.site_url == forge_site.base_url
    assert invocation.account_id == "557058:engineer"
    assert invocation.environment_type == "DEVELOPMENT"
    assert invocation.environment_id
    assert invocation.ic_label is None


def test_a_token_without_a_user_has_no_account_id(forge_site, verify):
    assert verify(mint(forge_site)).account_id is None


@pytest.mark.parametrize(("fault", "reason"), [
    ("bad_signature", "bad signature"),
    ("wrong_key", "bad signature"),
    ("wrong_aud", "wrong audience"),
    ("wrong_iss", "wrong issuer"),
    ("expired", "token expired"),
    ("not_yet_valid", "token not yet valid"),
    ("alg_none", "unsupported algorithm"),
    ("hs256_public_key", "unsupported algorithm"),
    ("unknown_kid", "unknown key id"),
])
def test_every_forged_token_is_refused(forge_site, verify, fault, reason):
    token = mint(forge_site, fault=fault)
    with pytest.raises(AtlassianAuthError) as refused:
        verify(token)
    assert refused.value.reason == reason


def test_a_token_for_another_app_is_refused_even_when_genuine(forge_site, verify):
    other_app = "ari:cloud:ecosystem::app/00000000-1111-2222-3333-444444444444"
    with pytest.raises(AtlassianAuthError, match="wrong audience"):
        verify(mint(forge_site, app_id=other_app))


@pytest.mark.parametrize("garbage", ["", "not-a-jwt", "a.b.c", "....", "eyJhbGciOiJSUzI1NiJ9.e30", "x" * 5000])
def test_garbage_is_refused(verify, garbage):
    with pytest.raises(AtlassianAuthError):
        verify(garbage)


@pytest.mark.parametrize("headers", [{}, {"Authorization": ""}, {"Authorization": "Bearer "},
                                     {"Authorization": "JWT abc.def.ghi"}, {"Authorization": "Basic dXNlcjpwYXNz"}])
def test_a_request_without_a_bearer_token_is_refused(headers):
    with pytest.raises(AtlassianAuthError, match="missing token"):
        invocation_token_from_headers(headers)


def test_no_header_fault_sends_no_token(forge_site):
    assert mint(forge_site, fault="no_header") is None


def test_an_unconfigured_app_id_accepts_nothing(forge_site, verify):
    token = mint(forge_site)
    for app_id in (None, "", "not-an-ari"):
        with pytest.raises(AtlassianAuthError, match="app id not configured"):
            verify(token, app_id=app_id)


def test_staging_tokens_are_checked_with_the_staging_key_set(forge_site, key_sets, verify):
    invocation = verify(mint(forge_site, staging=True))
    assert invocation.api_base_url.startswith("https://api.stg.atlassian.com/ex/jira/")
    # A staging token where no staging key set is configured is refused, never tried on production keys.
    with pytest.raises(AtlassianAuthError, match="staging tokens not accepted"):
        verify_invocation_token(mint(forge_site, staging=True), app_id=APP_ID, keys=key_sets[0])


def test_production_keys_never_vouch_for_a_staging_token_and_back(forge_site, http):
    # Each key set served at the other's URL: a token is only checked against its own platform's keys.
    prod_url, stg_url = f"{forge_site.base_url}/_forge/jwks.json", f"{forge_site.base_url}/_forge/stg/jwks.json"
    crossed = {"keys": JwksKeys(stg_url, session=http), "staging_keys": JwksKeys(prod_url, session=http)}
    for staging in (False, True):
        with pytest.raises(AtlassianAuthError, match="unknown key id"):
            verify_invocation_token(mint(forge_site, staging=staging), app_id=APP_ID, **crossed)


def test_keys_are_cached_by_kid_and_refetched_once_on_an_unknown_kid(forge_site, http):
    keys = JwksKeys(f"{forge_site.base_url}/_forge/jwks.json", session=http, min_refresh_interval=0)
    def fetches() -> int:
        return forge_state(forge_site)["jwks_requests"]["prod"]

    def check(token):
        return verify_invocation_token(token, app_id=APP_ID, keys=keys)

    before = fetches()
    check(mint(forge_site))
    check(mint(forge_site))
    assert fetches() == before + 1  # the second token's kid came from the cache
    # Forge rotates: tokens now carry a new kid, which makes the cache fetch the set once more.
    new_kid = sandbox(forge_site, "POST", "/keys/rotate").json()["kid"]
    assert check(mint(forge_site)).installation_id
    assert fetches() == before + 2
    assert new_kid in forge_state(forge_site)["kids"]
    check(mint(forge_site))
    assert fetches() == before + 2


def test_unknown_kids_refetch_at_most_once_per_interval(forge_site, http):
    keys = JwksKeys(f"{forge_site.base_url}/_forge/jwks.json", session=http, min_refresh_interval=300)
    before = forge_state(forge_site)["jwks_requests"]["prod"]
    verify_invocation_token(mint(forge_site), app_id=APP_ID, keys=keys)
    for _ in range(5):  # a stream of invented kids costs no request to the key server
        with pytest.raises(AtlassianAuthError, match="unknown key id"):
            verify_invocation_token(mint(forge_site, fault="unknown_kid"), app_id=APP_ID, keys=keys)
    assert forge_state(forge_site)["jwks_requests"]["prod"] == before + 1


def test_an_unreachable_key_server_refuses_without_hanging(http):
    keys = JwksKeys("http://127.0.0.1:9/jwks.json", session=http, timeout=0.5)
    with pytest.raises(AtlassianAuthError, match=r"unreachable|timed out"):
        keys("forge-prod/any")


def test_a_failed_first_fetch_is_retried_after_a_short_backoff_not_the_refresh_interval(forge_site, http):
    now = [1000.0]
    keys = JwksKeys(f"{forge_site.base_url}/_forge/jwks.json", session=http, min_refresh_interval=60,
                    clock=lambda: now[0])
    # The key server fails once (a deploy, a blip): the first token is refused with the server's error...
    fail = requests.post(f"{forge_site.base_url}/_sandbox/faults/fail-next", headers=forge_site.admin_headers,
                         json={"path": "/_forge/jwks.json", "count": 2, "status": 503}, timeout=10)
    assert fail.status_code == 201
    fetched = forge_state(forge_site)["jwks_requests"]["prod"]
    with pytest.raises(AtlassianAuthError, match="forge key server error"):
        verify_invocation_token(mint(forge_site), app_id=APP_ID, keys=keys)
    # ... the next ones within the backoff cost no request ...
    with pytest.raises(AtlassianAuthError, match="unknown key id"):
        verify_invocation_token(mint(forge_site), app_id=APP_ID, keys=keys)
    # ... after 1 s the server is asked again (it fails once more: the wait doubles), and after 2 s more it answers,
    # long before the minute a successful fetch waits between refetches.
    now[0] += 1.1
    with pytest.raises(AtlassianAuthError, match="forge key server error"):
        verify_invocation_token(mint(forge_site), app_id=APP_ID, keys=keys)
    now[0] += 1.1
    with pytest.raises(AtlassianAuthError, match="unknown key id"):
        verify_invocation_token(mint(forge_site), app_id=APP_ID, keys=keys)
    now[0] += 1.0
    assert verify_invocation_token(mint(forge_site), app_id=APP_ID, keys=keys).installation_id
    assert forge_state(forge_site)["jwks_requests"]["prod"] == fetched + 1  # the failed ones never reached the view


def test_a_key_we_had_is_kept_while_the_key_server_fails(forge_site, http):
    now = [1000.0]
    keys = JwksKeys(f"{forge_site.base_url}/_forge/jwks.json", session=http, cache_ttl=600, clock=lambda: now[0])
    token = mint(forge_site)
    verify_invocation_token(token, app_id=APP_ID, keys=keys)
    requests.post(f"{forge_site.base_url}/_sandbox/faults/fail-next", headers=forge_site.admin_headers,
                  json={"path": "/_forge/jwks.json", "count": 1, "status": 500}, timeout=10)
    now[0] += 601  # the cache is stale and its refresh fails: the key we trust still verifies
    assert verify_invocation_token(token, app_id=APP_ID, keys=keys).installation_id
