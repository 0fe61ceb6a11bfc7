"""Authenticating webhook deliveries that do not carry a Connect JWT.

- Jira Server/Data Center admin webhooks registered with a secret carry
  `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>` (the WebSub signature format).
- Webhooks registered by an OAuth 2.0 (3LO) app carry `Authorization: Bearer <JWT>`, HS256-signed
  with the app's client secret. Atlassian does not document its claims; we require a valid
  signature and a live `exp`, and check `aud` / `iss` only when present. Because every tenant
  shares the client secret, the caller must also bind the delivery to one connection (the
  URL's `connection` id, the token's `iss` cloud id, the body's `matchedWebhookIds`).

Pure: no Flask, no database; every refusal is an AtlassianAuthError.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import jwt as pyjwt

from connect_app.atlassian.jwt import DEFAULT_LEEWAY_SECONDS, AtlassianAuthError, check_times, refuse

SIGNATURE_PREFIX = "sha256="


def hub_signature(secret: str, body: bytes) -> str:
    """The X-Hub-Signature value Jira sends for `body` (used by tests and the benchmark)."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_hub_signature(header: str | None, body: bytes, secret: str | None) -> None:
    """Refuse unless `header` is the HMAC-SHA256 of the raw body under `secret`."""
    kind = "hub-signature"
    if not secret:
        raise refuse("no webhook secret", kind)
    if not header:
        raise refuse("missing signature", kind)
    # Only sha256: a sha1 signature would let a weaker MAC through.
    if not header.startswith(SIGNATURE_PREFIX):
        raise refuse("unsupported signature algorithm", kind)
    expected = hub_signature(secret, body)
    if not hmac.compare_digest(header.strip().lower().encode(), expected.encode()):
        raise refuse("bad signature", kind)


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    scheme, _, value = (header or "").strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def verify_oauth_webhook_token(token: str, *, client_secret: str | None, client_id: str | None,
                               cloud_id: str | None, leeway: float = DEFAULT_LEEWAY_SECONDS,
                               clock=time.time) -> dict[str, Any]:
    """Verify an OAuth 2.0 app's webhook JWT and return its claims; raise AtlassianAuthError otherwise."""
    kind = "oauth-webhook"
    if not client_secret:
        raise refuse("oauth not configured", kind)
    try:
        header = pyjwt.get_unverified_header(token)
    except pyjwt.PyJWTError:
        raise refuse("malformed token", kind) from None
    if header.get("alg") != "HS256":  # pinned: no "none", no RSA/HMAC confusion
        raise refuse("unsupported algorithm", kind)
    try:
        claims = pyjwt.decode(token, client_secret, algorithms=["HS256"],
                              options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                                       "verify_aud": False})
    except pyjwt.InvalidSignatureError:
        raise refuse("bad signature", kind) from None
    except pyjwt.PyJWTError:
        raise refuse("malformed token", kind) from None
    # iat is optional here (undocumented); exp is not.
    check_times({"iat": clock(), **claims}, now=clock(), leeway=leeway, kind=kind)
    audience = claims.get("aud")
    if audience is not None and client_id:
        audiences = audience if isinstance(audience, list) else [audience]
        if client_id not in audiences:
            raise refuse("wrong audience", kind)
    issuer = claims.get("iss")
    # The client secret is shared by every site that authorised the app, so a token minted for
    # one site must not be accepted on another site's URL: where the token names a site, it
    # must be this connection's.
    if isinstance(issuer, str) and cloud_id and issuer.startswith("jira:") and issuer != f"jira:{cloud_id}":
        raise refuse("token is for another site", kind)
    return claims


__all__ = ["AtlassianAuthError", "bearer_token", "hub_signature", "verify_hub_signature",
           "verify_oauth_webhook_token"]
