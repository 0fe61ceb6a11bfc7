"""Outbound signing: app → Jira requests carry a fresh HS256 JWT bound to the exact request."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import jwt as pyjwt
import requests

from connect_app.atlassian.jwt import TENANT_ALGORITHM, Clock
from connect_app.atlassian.qsh import query_string_hash

# Atlassian's own clients (ACE, atlassian-jwt-js users) sign for 3 minutes.
DEFAULT_TTL_SECONDS = 180


def _check_target(url: str, base_url: str) -> None:
    """Refuse to sign a URL outside the tenant's site: the token would leak the tenant's trust."""
    if "://" not in url:
        return
    target, base = urlsplit(url), urlsplit(base_url)
    if (target.scheme, target.netloc.lower()) != (base.scheme, base.netloc.lower()):
        raise ValueError("refusing to sign a request for another host than the tenant's base URL")
    base_path = base.path.rstrip("/")
    if base_path and not (target.path == base_path or target.path.startswith(base_path + "/")):
        raise ValueError("refusing to sign a request outside the tenant's context path")


def sign_request(
    method: str,
    url: str,
    *,
    issuer: str,
    secret: str | bytes,
    base_url: str,
    ttl: int = DEFAULT_TTL_SECONDS,
    sub: str | None = None,
    clock: Clock = time.time,
) -> str:
    """Return a Connect JWT for one app → Jira request (``url`` as sent, query included)."""
    _check_target(url, base_url)
    now = int(clock())
    claims: dict[str, object] = {
        "iss": issuer,
        "iat": now,
        "exp": now + ttl,
        # The tenant's base URL path is the context path Jira strips before hashing.
        "qsh": query_string_hash(method, url, base_path=base_url),
    }
    if sub is not None:
        claims["sub"] = sub
    return pyjwt.encode(claims, secret, algorithm=TENANT_ALGORITHM)


class ConnectJwtAuth(requests.auth.AuthBase):
    """requests auth that signs every prepared request with a fresh token for exactly that request."""

    def __init__(
        self,
        *,
        issuer: str,
        secret: str | bytes,
        base_url: str,
        ttl: int = DEFAULT_TTL_SECONDS,
        sub: str | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.issuer = issuer
        self.base_url = base_url
        self.ttl = ttl
        self.sub = sub
        self._secret = secret
        self._clock = clock

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Sign the request as prepared: its final method, encoded path and query."""
        # The prepared URL is what goes on the wire (params merged, percent-encoded), so the
        # qsh computed here is the one the receiver recomputes.
        token = sign_request(
            request.method or "GET",
            request.url or "",
            issuer=self.issuer,
            secret=self._secret,
            base_url=self.base_url,
            ttl=self.ttl,
            sub=self.sub,
            clock=self._clock,
        )
        request.headers["Authorization"] = f"JWT {token}"
        return request

    def __repr__(self) -> str:
        return f"ConnectJwtAuth(issuer={self.issuer!r}, base_url={self.base_url!r})"
