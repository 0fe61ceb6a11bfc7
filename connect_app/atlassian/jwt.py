"""Inbound Connect JWTs from Jira (tenant tokens) and the one error this package raises."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt as pyjwt

from connect_app.atlassian.qsh import query_string_hash

log = logging.getLogger(__name__)

# Jira signs tenant tokens with the shared secret, always HS256. Anything else is refused
# before a key is even chosen, so "alg: none" and RS256/HS256 key confusion never reach PyJWT.
TENANT_ALGORITHM = "HS256"
# The fixed qsh Jira puts in context JWTs (the "context-qsh" API migration).
CONTEXT_QSH = "context-qsh"
# Clock skew tolerated on exp / iat / nbf. Jira's own tokens live ~3 minutes; 30 s absorbs
# drift between Atlassian's clocks and ours without meaningfully extending a stolen token.
DEFAULT_LEEWAY_SECONDS = 30
# Header "typ" of the app-signed context token (see context_token.py); listed here so tenant
# verification can refuse it by name.
APP_CONTEXT_TOKEN_TYPE = "cscx-context+jwt"

Clock = Callable[[], float]
TenantLookup = Callable[[str], Any]


class AtlassianAuthError(Exception):
    """The single error of the protocol layer; ``reason`` is short, stable and never secret."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class VerifiedToken:
    """A tenant token that passed every check, with the tenant it belongs to."""

    client_key: str
    account_id: str | None
    context: dict[str, Any]
    claims: dict[str, Any] = field(repr=False)
    tenant: Any = field(repr=False)


def refuse(reason: str, kind: str, **fields: object) -> AtlassianAuthError:
    """Log a refusal under a stable event name and return the error to raise."""
    log.info("atlassian.auth.refused", extra={"reason": reason, "token_kind": kind, **fields})
    return AtlassianAuthError(reason)


def unverified_header(token: str, kind: str) -> dict[str, Any]:
    """Return a token's header without verifying anything; malformed tokens are refused."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise refuse("malformed token", kind)
    try:
        return pyjwt.get_unverified_header(token)
    except pyjwt.PyJWTError:
        raise refuse("malformed token", kind) from None


def unverified_claims(token: str, kind: str) -> dict[str, Any]:
    """Return a token's claims without verifying them (only to choose a key)."""
    try:
        claims = pyjwt.decode(token, options={"verify_signature": False})
    except pyjwt.PyJWTError:
        raise refuse("malformed token", kind) from None
    if not isinstance(claims, dict):
        raise refuse("malformed token", kind)
    return claims


def decode_verified(token: str, key: Any, algorithm: str, kind: str) -> dict[str, Any]:
    """Verify the signature with a pinned algorithm and return the claims; times are checked apart."""
    try:
        return pyjwt.decode(
            token,
            key,
            algorithms=[algorithm],
            # exp/iat/nbf use our injectable clock and leeway (check_times); aud is checked by
            # each caller against its own expectation.
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False},
        )
    except pyjwt.InvalidSignatureError:
        raise refuse("bad signature", kind) from None
    except (pyjwt.InvalidKeyError, pyjwt.InvalidAlgorithmError):
        raise refuse("bad signature", kind) from None
    except pyjwt.PyJWTError:
        raise refuse("malformed token", kind) from None


def _numeric(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AtlassianAuthError(f"invalid {name}")
    return float(value)


def check_times(claims: Mapping[str, Any], *, now: float, leeway: float, kind: str) -> None:
    """Require ``exp`` and ``iat``; refuse expired, future-issued or not-yet-valid tokens."""
    try:
        exp, iat, nbf = _numeric(claims, "exp"), _numeric(claims, "iat"), _numeric(claims, "nbf")
    except AtlassianAuthError as err:
        raise refuse(err.reason, kind) from None
    if exp is None:
        raise refuse("missing exp", kind)
    if iat is None:
        raise refuse("missing iat", kind)
    if now > exp + leeway:
        raise refuse("token expired", kind)
    if iat > now + leeway:
        raise refuse("token issued in the future", kind)
    if nbf is not None and nbf > now + leeway:
        raise refuse("token not yet valid", kind)


def check_qsh(
    claims: Mapping[str, Any], *, method: str, url: str, base_path: str, context_qsh_allowed: bool, kind: str
) -> None:
    """Require the token's ``qsh`` to bind this exact request (or be context-qsh where allowed)."""
    qsh = claims.get("qsh")
    if not isinstance(qsh, str) or not qsh:
        raise refuse("missing qsh", kind)
    if qsh == CONTEXT_QSH:
        # A context JWT is not bound to any request; only routes that merely need "who and
        # which tenant" (and take no action from the URL) may accept it.
        if not context_qsh_allowed:
            raise refuse("context qsh not allowed", kind)
        return
    expected = query_string_hash(method, url, base_path=base_path)
    if not hmac.compare_digest(qsh.encode("utf-8"), expected.encode("utf-8")):
        raise refuse("qsh mismatch", kind)


def shared_secret_of(tenant: Any) -> str | bytes | None:
    """Return a tenant's shared secret from a ``.shared_secret`` attribute or mapping key."""
    if isinstance(tenant, Mapping):
        return tenant.get("shared_secret")
    return getattr(tenant, "shared_secret", None)


def account_id_of(claims: Mapping[str, Any]) -> str | None:
    """Return the acting user's Atlassian account id (``sub``, else the legacy context.user)."""
    sub = claims.get("sub")
    if isinstance(sub, str) and sub:
        return sub
    context = claims.get("context")
    user = context.get("user") if isinstance(context, dict) else None
    account_id = user.get("accountId") if isinstance(user, dict) else None
    return account_id if isinstance(account_id, str) and account_id else None


def token_from_request(headers: Mapping[str, str], query_args: Mapping[str, str]) -> str:
    """Extract the Connect JWT from ``Authorization: JWT <t>`` or ``?jwt=``; views call this first."""
    header = headers.get("Authorization") or headers.get("authorization") or ""
    from_header = None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "jwt" and value.strip():
        from_header = value.strip()
    from_query = query_args.get("jwt") or None
    # Two different tokens on one request would let the checked one differ from the used one.
    if from_header and from_query and from_header != from_query:
        raise refuse("ambiguous token", "request")
    token = from_header or from_query
    if not token:
        raise refuse("missing token", "request")
    return token


def verify_request_token(
    token: str,
    *,
    method: str,
    url: str,
    tenant_lookup: TenantLookup,
    base_path: str = "",
    context_qsh_allowed: bool = False,
    leeway: float = DEFAULT_LEEWAY_SECONDS,
    clock: Clock = time.time,
) -> VerifiedToken:
    """Verify a Jira → app tenant token for this request; raise AtlassianAuthError otherwise."""
    kind = "request"
    # 1. Header first, unverified: refuse every algorithm but HS256 before touching keys, so a
    #    token cannot pick "none" or make us treat an RSA public key as an HMAC secret.
    header = unverified_header(token, kind)
    if header.get("alg") != TENANT_ALGORITHM:
        raise refuse("unsupported algorithm", kind)
    # Our own app-signed context token must never pass as a Jira token (and vice versa).
    if header.get("typ") == APP_CONTEXT_TOKEN_TYPE:
        raise refuse("wrong token type", kind)
    # 2. iss, unverified, only to choose which tenant's secret to verify with.
    issuer = unverified_claims(token, kind).get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise refuse("missing issuer", kind)
    # 3. Tenant lookup: an unknown clientKey has no secret, so nothing can be verified.
    tenant = tenant_lookup(issuer)
    secret = shared_secret_of(tenant) if tenant is not None else None
    if not secret:
        raise refuse("unknown issuer", kind, client_key=issuer)
    # 4. Signature with that tenant's secret and the pinned algorithm; from here on the
    #    claims (including iss, so the tenant choice) are authentic.
    claims = decode_verified(token, secret, TENANT_ALGORITHM, kind)
    # 5. Freshness, with a small leeway for clock skew.
    check_times(claims, now=clock(), leeway=leeway, kind=kind)
    # 6. qsh last: it binds the token to this method, path and query.
    check_qsh(
        claims,
        method=method,
        url=url,
        base_path=base_path,
        context_qsh_allowed=context_qsh_allowed,
        kind=kind,
    )
    context = claims.get("context")
    return VerifiedToken(
        client_key=issuer,
        account_id=account_id_of(claims),
        context=context if isinstance(context, dict) else {},
        claims=claims,
        tenant=tenant,
    )
