"""App-signed context token for the Customers panel's follow-up htmx requests.

Like atlassian-connect-express's session token: once the panel's page JWT from Jira has
been verified, the app hands the iframe a short-lived token of its own so follow-up
requests need not carry (or replay) Jira's. It is HS256 with its own ``typ`` header,
issuer and audience, so a Jira page JWT cannot pass as one and this token cannot pass
``verify_request_token`` (which refuses its ``typ``, and whose tenant lookup never knows its
issuer). Callers choose the secret: an app-level key (derived from ``SECRET_KEY``) keeps a
tenant's shared secret out of it; the tenant's shared secret (as ACE does) also works.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import jwt as pyjwt

from connect_app.atlassian.jwt import (
    APP_CONTEXT_TOKEN_TYPE,
    DEFAULT_LEEWAY_SECONDS,
    TENANT_ALGORITHM,
    Clock,
    check_times,
    decode_verified,
    refuse,
    unverified_header,
)

CONTEXT_TOKEN_ISSUER = "cscx-jira"
CONTEXT_TOKEN_AUDIENCE = "cscx-jira:issue-context"
DEFAULT_CONTEXT_TTL_SECONDS = 900


@dataclass(frozen=True)
class IssueContext:
    """Who is looking at which issue of which tenant, as vouched for by our context token."""

    client_key: str
    account_id: str | None
    issue_key: str
    claims: dict[str, Any] = field(repr=False)


def issue_context_token(
    *,
    secret: str | bytes,
    client_key: str,
    account_id: str | None,
    issue_key: str,
    ttl: int = DEFAULT_CONTEXT_TTL_SECONDS,
    clock: Clock = time.time,
) -> str:
    """Return a short-lived app-signed token for the panel; the panel view calls this after Jira's JWT."""
    now = int(clock())
    claims: dict[str, Any] = {
        "iss": CONTEXT_TOKEN_ISSUER,
        "aud": CONTEXT_TOKEN_AUDIENCE,
        "iat": now,
        "exp": now + ttl,
        "client_key": client_key,
        "issue_key": issue_key,
    }
    if account_id is not None:
        claims["sub"] = account_id
    return pyjwt.encode(claims, secret, algorithm=TENANT_ALGORITHM, headers={"typ": APP_CONTEXT_TOKEN_TYPE})


def verify_context_token(
    token: str,
    *,
    secret: str | bytes,
    client_key: str | None = None,
    issue_key: str | None = None,
    leeway: float = DEFAULT_LEEWAY_SECONDS,
    clock: Clock = time.time,
) -> IssueContext:
    """Verify a panel context token (optionally bound to a tenant and issue); htmx views call this."""
    kind = "context"
    header = unverified_header(token, kind)
    if header.get("alg") != TENANT_ALGORITHM:
        raise refuse("unsupported algorithm", kind)
    # typ, iss and aud each tell our token apart from Jira's, which carry none of these values.
    if header.get("typ") != APP_CONTEXT_TOKEN_TYPE:
        raise refuse("wrong token type", kind)
    claims = decode_verified(token, secret, TENANT_ALGORITHM, kind)
    if claims.get("iss") != CONTEXT_TOKEN_ISSUER or claims.get("aud") != CONTEXT_TOKEN_AUDIENCE:
        raise refuse("wrong token type", kind)
    check_times(claims, now=clock(), leeway=leeway, kind=kind)
    token_client_key, token_issue_key = claims.get("client_key"), claims.get("issue_key")
    if not isinstance(token_client_key, str) or not isinstance(token_issue_key, str):
        raise refuse("malformed token", kind)
    if client_key is not None and token_client_key != client_key:
        raise refuse("context mismatch", kind)
    if issue_key is not None and token_issue_key != issue_key:
        raise refuse("context mismatch", kind)
    sub = claims.get("sub")
    return IssueContext(
        client_key=token_client_key,
        account_id=sub if isinstance(sub, str) else None,
        issue_key=token_issue_key,
        claims=claims,
    )
