"""Forge Invocation Tokens (FIT): verifying what Forge sends to our remote.

What Atlassian specifies (Forge remote essentials, and atlassian-connect-express's
``verify-forge-invocation-token``): every call from Forge to a remote carries
``Authorization: Bearer <FIT>``, an RS256 JWT whose header ``kid`` names a key of Atlassian's
JWKS (``https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json``; the staging set
when ``app.apiBaseUrl`` is on ``api.stg.atlassian.com``), with ``iss`` =
``forge/invocation-token`` and ``aud`` = the app id (an ARI). The claims say which
installation (``app.installationId``), which site (``context.cloudId``, ``context.siteUrl``),
where to call back (``app.apiBaseUrl``) and, for UI calls, which user (``principal``).

Pure by design like the rest of this package: keys come from an injected lookup
(``JwksKeys`` fetches and caches them, key_cache.py), and every refusal is one ``AtlassianAuthError``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from jwt.algorithms import RSAAlgorithm

from connect_app.atlassian.jwt import (
    DEFAULT_LEEWAY_SECONDS,
    Clock,
    decode_verified,
    refuse,
    unverified_claims,
    unverified_header,
)
from connect_app.atlassian.key_cache import KeyCache, KeyServerError, get_key_document

log = logging.getLogger(__name__)

FORGE_JWKS_URL = "https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json"
FORGE_STAGING_JWKS_URL = "https://forge.cdn.stg.atlassian-dev.net/.well-known/jwks.json"
FORGE_ISSUER = "forge/invocation-token"
# Tokens whose apiBaseUrl is on this host were minted by Forge's staging platform, with its keys.
STAGING_API_HOST = "api.stg.atlassian.com"
# Forge signs FITs with RS256 only. The algorithm is pinned here and never read from the token,
# so "alg: none" and HS256-signed-with-the-public-key never reach a signature check.
FIT_ALGORITHM = "RS256"
# Isolated Cloud label; it ends up in URLs, so nothing but this shape is accepted.
_IC_LABEL = re.compile(r"[a-z0-9_-]{1,50}")
_APP_ARI = re.compile(r"ari:cloud:ecosystem::app/[0-9A-Za-z-]{1,64}")
_EX_JIRA_PATH = re.compile(r"/ex/jira/([^/]+)/?")
# A JWKS is a few keys and a few KB; anything far bigger is not Atlassian's key set.
_MAX_JWKS_BYTES = 256 * 1024
_MAX_KEYS = 32
_MAX_KID_LENGTH = 256

KeyLookup = Callable[[str], Any]


def is_app_ari(value: object) -> bool:
    """Return whether ``value`` looks like a Forge app id (``ari:cloud:ecosystem::app/<uuid>``)."""
    return isinstance(value, str) and _APP_ARI.fullmatch(value) is not None


def is_staging_api(api_base_url: object) -> bool:
    """Return whether an ``app.apiBaseUrl`` points at Forge's staging platform."""
    if not isinstance(api_base_url, str):
        return False
    return (urlsplit(api_base_url).hostname or "").lower() == STAGING_API_HOST


@dataclass(frozen=True)
class ForgeInvocation:
    """A Forge Invocation Token that passed every check: who called, for which installation and site."""

    app_id: str
    installation_id: str
    cloud_id: str
    api_base_url: str
    site_url: str | None
    account_id: str | None
    environment_type: str | None
    environment_id: str | None
    ic_label: str | None
    claims: dict[str, Any] = field(repr=False)


class JwksKeys(KeyCache):
    """Atlassian's FIT signing keys from a JWKS URL, cached by ``kid``; the verifier calls it per token.

    An unknown ``kid`` triggers one refetch of the whole set (Atlassian rotates keys by publishing
    a new one), but at most one per ``min_refresh_interval``: a stream of tokens with invented kids
    must not turn into a stream of requests to the key server. A failed fetch is retried after a
    short backoff (key_cache), so a key server that was down for a moment does not refuse tokens
    for the whole interval.
    """

    def __init__(
        self,
        jwks_url: str = FORGE_JWKS_URL,
        session: requests.Session | None = None,
        timeout: float = 5,
        cache_ttl: float = 3600,
        min_refresh_interval: float = 60,
        clock: Clock = time.monotonic,
    ) -> None:
        self.jwks_url = jwks_url
        self._session = session or requests.Session()
        self._timeout = timeout
        super().__init__(self._fetch, kind="forge", whole_set=True, cache_ttl=cache_ttl,
                         min_refresh_interval=min_refresh_interval, max_entries=_MAX_KEYS, clock=clock)

    def _fetch(self, kid: str) -> dict[str, Any]:
        response = get_key_document(self._session, self.jwks_url, timeout=self._timeout, label="forge key",
                                    event="atlassian.forge_jwks", log_fields={"url": self.jwks_url})
        if len(response.content) > _MAX_JWKS_BYTES:
            log.warning("atlassian.forge_jwks.error", extra={"url": self.jwks_url, "status": response.status_code})
            raise KeyServerError("forge key server error")
        try:
            document = response.json()
        except ValueError:
            raise KeyServerError("forge key set malformed") from None
        entries = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise KeyServerError("forge key set malformed")
        keys = dict(_rsa_keys(entries[:_MAX_KEYS]))
        log.info("atlassian.forge_jwks.fetched", extra={"url": self.jwks_url, "keys": len(keys)})
        return keys


def _rsa_keys(entries: list[Any]):
    """(kid, public key) for each usable RSA signing key of a JWKS; anything else is skipped."""
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA":
            continue
        if entry.get("use", "sig") != "sig" or entry.get("alg", FIT_ALGORITHM) != FIT_ALGORITHM:
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > _MAX_KID_LENGTH:
            continue
        if "d" in entry:  # a private key has no business in a public key set
            continue
        try:
            yield kid, RSAAlgorithm.from_jwk(entry)
        except (ValueError, TypeError, KeyError):
            log.warning("atlassian.forge_jwks.bad_key", extra={"kid": kid[:64]})


def invocation_token_from_headers(headers: Mapping[str, str]) -> str:
    """Extract the FIT from ``Authorization: Bearer <FIT>``; the Forge routes call this first."""
    header = headers.get("Authorization") or headers.get("authorization") or ""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise refuse("missing token", "forge")
    return value.strip()


def verify_invocation_token(
    token: str,
    *,
    app_id: str | None,
    keys: KeyLookup,
    staging_keys: KeyLookup | None = None,
    leeway: float = DEFAULT_LEEWAY_SECONDS,
    clock: Clock = time.time,
) -> ForgeInvocation:
    """Verify a Forge Invocation Token for our app and return who and what it is for."""
    kind = "forge"
    # An unconfigured app id must not mean "any audience".
    if not is_app_ari(app_id):
        raise refuse("forge app id not configured", kind)
    # 1. Header, unverified: pin the algorithm before any key is chosen.
    header = unverified_header(token, kind)
    if header.get("alg") != FIT_ALGORITHM:
        raise refuse("unsupported algorithm", kind)
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > _MAX_KID_LENGTH:
        raise refuse("missing key id", kind)
    # 2. Claims, unverified: cheap refusals so junk costs no key fetch, and the key set to use.
    unverified = unverified_claims(token, kind)
    _check_identity(unverified, app_id)
    staging = is_staging_api(_app(unverified).get("apiBaseUrl"))
    lookup = staging_keys if staging else keys
    if lookup is None:
        raise refuse("staging tokens not accepted", kind)
    # 3. Signature with the pinned algorithm; from here on the claims are Atlassian's.
    claims = decode_verified(token, lookup(kid), FIT_ALGORITHM, kind)
    # 4. The same checks on the verified claims, then freshness and shape.
    _check_identity(claims, app_id)
    if is_staging_api(_app(claims).get("apiBaseUrl")) != staging:
        raise refuse("key set mismatch", kind)
    _check_times(claims, now=clock(), leeway=leeway)
    invocation = _invocation(claims, app_id)
    log.info("atlassian.forge.verified", extra={"installation_id": invocation.installation_id,
                                                "cloud_id": invocation.cloud_id, "staging": staging})
    return invocation


def _app(claims: Mapping[str, Any]) -> dict[str, Any]:
    app = claims.get("app")
    return app if isinstance(app, dict) else {}


def _check_identity(claims: Mapping[str, Any], app_id: str) -> None:
    if claims.get("iss") != FORGE_ISSUER:
        raise refuse("wrong issuer", "forge")
    # aud binds the token to our app: a FIT minted for another Forge app is refused.
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if app_id not in audiences:
        raise refuse("wrong audience", "forge")
    claimed_app = _app(claims).get("id")
    if claimed_app is not None and claimed_app != app_id:
        raise refuse("wrong app", "forge")


def _numeric(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise refuse(f"invalid {name}", "forge")
    return float(value)


def _check_times(claims: Mapping[str, Any], *, now: float, leeway: float) -> None:
    """Require ``exp``; refuse expired, not-yet-valid (``nbf``) and future-issued (``iat``) tokens."""
    exp, nbf, iat = _numeric(claims, "exp"), _numeric(claims, "nbf"), _numeric(claims, "iat")
    if exp is None:
        raise refuse("missing exp", "forge")
    if now > exp + leeway:
        raise refuse("token expired", "forge")
    if nbf is not None and nbf > now + leeway:
        raise refuse("token not yet valid", "forge")
    if iat is not None and iat > now + leeway:
        raise refuse("token issued in the future", "forge")


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _invocation(claims: dict[str, Any], app_id: str) -> ForgeInvocation:
    """Read the documented claims into a ForgeInvocation, refusing tokens that lack what we key on."""
    kind = "forge"
    app = _app(claims)
    context = claims.get("context") if isinstance(claims.get("context"), dict) else {}
    installation_id = _text(app.get("installationId"))
    if installation_id is None:
        raise refuse("missing installation id", kind)
    api_base_url = _text(app.get("apiBaseUrl"))
    parts = urlsplit(api_base_url or "")
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
        raise refuse("invalid apiBaseUrl", kind)
    installation = app.get("installation") if isinstance(app.get("installation"), dict) else {}
    contexts = installation.get("contexts") if isinstance(installation.get("contexts"), list) else []
    installed_clouds = [c.get("cloudId") for c in contexts if isinstance(c, dict) and _text(c.get("cloudId"))]
    cloud_id = _text(context.get("cloudId")) or (installed_clouds[0] if installed_clouds else None)
    if cloud_id is None:
        raise refuse("missing cloud id", kind)
    # The site of the call must be one the installation covers, and the API base its site.
    if installed_clouds and cloud_id not in installed_clouds:
        raise refuse("cloud id not in installation", kind)
    ex_jira = _EX_JIRA_PATH.fullmatch(parts.path)
    if ex_jira and ex_jira.group(1) != cloud_id:
        raise refuse("apiBaseUrl of another site", kind)
    ic_labels = [claims.get("icLabel"), app.get("icLabel")]
    ic_label = None
    for label in ic_labels:
        if label is None:
            continue
        # icLabel ends up in URLs we build: only the documented shape is accepted.
        if not isinstance(label, str) or _IC_LABEL.fullmatch(label) is None:
            raise refuse("invalid icLabel", kind)
        ic_label = label
    environment = app.get("environment") if isinstance(app.get("environment"), dict) else {}
    return ForgeInvocation(
        app_id=app_id,
        installation_id=installation_id,
        cloud_id=cloud_id,
        api_base_url=api_base_url.rstrip("/"),
        site_url=_text(context.get("siteUrl")),
        account_id=_text(claims.get("principal")),
        environment_type=_text(environment.get("type")),
        environment_id=_text(environment.get("id")),
        ic_label=ic_label,
        claims=claims,
    )
