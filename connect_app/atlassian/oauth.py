"""Atlassian OAuth 2.0 (3LO): authorize URL with PKCE, code exchange, rotating refresh, sites.

Protocol only: plain values in, plain values out, HTTP through a `requests.Session` with explicit
timeouts. Storing tokens, who may refresh when, and what a revoked grant means for a connection
live in `connect_app.connections.oauth_tokens`.

Endpoints (https://developer.atlassian.com/cloud/oauth/getting-started/implementing-oauth-3lo):
- authorize: `{auth_url}/authorize?audience=api.atlassian.com&client_id&scope&redirect_uri&state
  &response_type=code&prompt=consent` (+ `code_challenge`, `code_challenge_method=S256`: PKCE,
  which an authorization server that does not know it simply ignores);
- token: `POST {auth_url}/oauth/token` (JSON body), grant types authorization_code and
  refresh_token; refresh tokens rotate: every refresh returns a new one and the old one dies;
- sites: `GET {api_url}/oauth/token/accessible-resources` with the access token.
A revoked, expired or reused refresh token is answered `invalid_grant` (403 in practice,
400 per RFC 6749); only that error means "the grant is gone, ask the user again".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import requests

AUDIENCE = "api.atlassian.com"
# Classic scopes: read and write issues, read users, register dynamic webhooks, and a refresh token.
DEFAULT_SCOPES = ("read:jira-work", "write:jira-work", "read:jira-user", "manage:jira-webhook", "offline_access")
JIRA_SCOPE_MARKERS = ("jira",)  # an accessible resource is a Jira site when one of its scopes names Jira
TIMEOUT_S = 15
DEFAULT_EXPIRES_IN_S = 3600


class OAuthError(Exception):
    """The authorization server refused a request: HTTP `status`, OAuth `error`, safe `description`."""

    def __init__(self, status: int, error: str, description: str = ""):
        self.status = status
        self.error = error
        self.description = description
        super().__init__(f"Atlassian OAuth answered {status} {error}: {description or 'no description'}")

    @property
    def grant_revoked(self) -> bool:
        """True when the refresh token (and so the grant) is unusable: the user must authorize again."""
        return self.error == "invalid_grant"


@dataclass(frozen=True)
class TokenSet:
    """What the token endpoint returned: the tokens and when the access token expires."""

    access_token: str
    refresh_token: str | None
    expires_at: datetime
    scopes: list[str] = field(default_factory=list)

    def __repr__(self) -> str:  # never print tokens, even in a traceback
        return f"TokenSet(expires_at={self.expires_at.isoformat()}, scopes={self.scopes})"


@dataclass(frozen=True)
class Site:
    """An accessible resource of a grant: a Cloud site with its cloudId."""

    cloud_id: str
    name: str
    url: str
    scopes: list[str]

    @property
    def is_jira(self) -> bool:
        """Whether the grant covers Jira on this site."""
        return any(marker in scope for scope in self.scopes for marker in JIRA_SCOPE_MARKERS)


def site_api_url(api_url: str, cloud_id: str) -> str:
    """The REST base of one Cloud site for OAuth 2.0 calls: `{api_url}/ex/jira/{cloudId}`."""
    return f"{api_url.rstrip('/')}/ex/jira/{cloud_id}"


def pkce_challenge(verifier: str) -> str:
    """The S256 code_challenge of a code_verifier (RFC 7636)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge) per RFC 7636."""
    verifier = secrets.token_urlsafe(64)[:96]
    return verifier, pkce_challenge(verifier)


def sign_state(nonce: str, key: str) -> str:
    """The `state` parameter: the nonce and its HMAC, so a forged state is refused before any lookup."""
    mac = hmac.new(key.encode(), f"jira-oauth-state:{nonce}".encode(), hashlib.sha256).digest()
    return f"{nonce}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def verify_state(state: str, key: str) -> str | None:
    """The nonce of a state this service signed, None for anything else."""
    # ASCII only: compare_digest refuses non-ASCII text (a TypeError, so a 500 for `?state=%C3%A9.x`).
    if not isinstance(state, str) or not state.isascii() or state.count(".") != 1 or len(state) > 200:
        return None
    nonce, _ = state.split(".")
    return nonce if nonce and hmac.compare_digest(sign_state(nonce, key), state) else None


def authorize_url(auth_url: str, *, client_id: str, redirect_uri: str, state: str, code_challenge: str | None,
                  scopes: tuple[str, ...] | list[str] = DEFAULT_SCOPES) -> str:
    """Where to send the Jira user to grant access (consent screen, site picker)."""
    params = {
        "audience": AUDIENCE, "client_id": client_id, "scope": " ".join(scopes), "redirect_uri": redirect_uri,
        "state": state, "response_type": "code", "prompt": "consent",
    }
    if code_challenge:
        params |= {"code_challenge": code_challenge, "code_challenge_method": "S256"}
    return f"{auth_url.rstrip('/')}/authorize?{urlencode(params)}"


def _token_set(body: Any, now: datetime) -> TokenSet:
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise OAuthError(502, "invalid_response", "the token endpoint returned no access_token")
    try:
        expires_in = int(body.get("expires_in") or DEFAULT_EXPIRES_IN_S)
    except (TypeError, ValueError):
        expires_in = DEFAULT_EXPIRES_IN_S
    scope = body.get("scope") or ""
    return TokenSet(access_token=body["access_token"], refresh_token=body.get("refresh_token"),
                    expires_at=now + timedelta(seconds=expires_in), scopes=scope.split() if scope else [])


class OAuthClient:
    """The app's side of 3LO against one authorization server (auth_url) and API gateway (api_url)."""

    def __init__(self, *, auth_url: str, api_url: str, client_id: str, client_secret: str,
                 session: requests.Session | None = None, timeout: float = TIMEOUT_S):
        self.auth_url = auth_url.rstrip("/")
        self.api_url = api_url.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self.session = session or requests.Session()
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"OAuthClient(auth_url={self.auth_url!r}, client_id={self.client_id!r})"

    def _token_request(self, body: dict[str, str]) -> TokenSet:
        body = body | {"client_id": self.client_id, "client_secret": self._client_secret}
        try:
            response = self.session.post(f"{self.auth_url}/oauth/token", json=body, timeout=self.timeout,
                                         allow_redirects=False)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise OAuthError(0, "network_error", type(exc).__name__) from exc
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code != 200:
            error = payload.get("error") if isinstance(payload, dict) else None
            # error_description is Atlassian's text about the grant, never the token itself.
            description = payload.get("error_description", "") if isinstance(payload, dict) else ""
            raise OAuthError(response.status_code, str(error or f"http_{response.status_code}"),
                             str(description)[:300])
        return _token_set(payload, datetime.now(UTC))

    def exchange_code(self, code: str, *, redirect_uri: str, code_verifier: str | None) -> TokenSet:
        """Trade an authorization code (and its PKCE verifier) for tokens."""
        body = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if code_verifier:
            body["code_verifier"] = code_verifier
        return self._token_request(body)

    def refresh(self, refresh_token: str) -> TokenSet:
        """A new access token and a NEW refresh token; the one passed in is spent after this call."""
        return self._token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def accessible_resources(self, access_token: str) -> list[Site]:
        """The sites the grant covers (the user picked them on the consent screen)."""
        try:
            response = self.session.get(f"{self.api_url}/oauth/token/accessible-resources", timeout=self.timeout,
                                        headers={"Authorization": f"Bearer {access_token}",
                                                 "Accept": "application/json"}, allow_redirects=False)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise OAuthError(0, "network_error", type(exc).__name__) from exc
        if response.status_code != 200:
            raise OAuthError(response.status_code, f"http_{response.status_code}", "accessible-resources failed")
        try:
            body = response.json()
        except ValueError as exc:
            raise OAuthError(502, "invalid_response", "accessible-resources did not return JSON") from exc
        if not isinstance(body, list):
            raise OAuthError(502, "invalid_response", "accessible-resources did not return a list")
        return [Site(cloud_id=str(item["id"]), name=str(item.get("name") or ""), url=str(item.get("url") or ""),
                     scopes=[str(s) for s in item.get("scopes") or []])
                for item in body if isinstance(item, dict) and item.get("id")]
