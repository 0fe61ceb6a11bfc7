"""Signed install: verifying the ``installed`` / ``uninstalled`` lifecycle JWTs.

What Atlassian specifies (Connect "signed-install" API migration, enforced for Jira Cloud
since 29 Oct 2021, and what atlassian-connect-express does today): install and uninstall
callbacks carry an RS256 JWT whose header ``kid`` names a public key served at
``https://connect-install-keys.atlassian.com/{kid}``; the app verifies the signature with
that key, that ``aud`` is its own baseUrl, that ``iss`` is the clientKey of the payload and
that ``qsh`` matches the request. This holds for first installs *and* re-installs: the
asymmetric token is what proves the request comes from Atlassian for that clientKey, and
ACE refuses any non-RS256 install token ("Install / Uninstall hook should always be
asymmetric").

Before signed install, a re-install was signed HS256 with the previously stored
sharedSecret. That legacy path is available only when the caller opts in
(``allow_legacy_shared_secret=True``) *and* passes the stored tenant; it is off by default
because Atlassian no longer sends such tokens to Cloud apps. A legacy re-install may not move
the tenant: its ``baseUrl`` must be the stored one. The secret proves only that the sender once
learned it, and a leaked secret must not be able to point the tenant (and every call we make
for it, signed with the new secret) at another host.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from connect_app.atlassian.jwt import (
    DEFAULT_LEEWAY_SECONDS,
    Clock,
    check_qsh,
    check_times,
    decode_verified,
    refuse,
    shared_secret_of,
    unverified_claims,
    unverified_header,
)
from connect_app.atlassian.key_cache import KeyCache, get_key_document

log = logging.getLogger(__name__)

ATLASSIAN_INSTALL_KEYS_URL = "https://connect-install-keys.atlassian.com"
INSTALL_ALGORITHM = "RS256"
LEGACY_ALGORITHM = "HS256"
# kids Atlassian issues are UUID-like; anything with "/", "%", ".." prefixes or odd
# characters could walk the key server's path, so it never reaches the URL.
_SAFE_KID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
# A PEM RSA public key is well under this; a bigger body is not a key.
_MAX_KEY_BYTES = 16 * 1024

KeyFetcher = Callable[[str], str]


def is_safe_kid(kid: object) -> bool:
    """Return whether a ``kid`` may be used as one path segment of the key server URL."""
    return isinstance(kid, str) and _SAFE_KID.fullmatch(kid) is not None and ".." not in kid


class InstallKeyFetcher(KeyCache):
    """Atlassian's install public keys (PEM) by ``kid``, with a timeout and a bounded TTL cache (key_cache)."""

    def __init__(
        self,
        keys_url: str = ATLASSIAN_INSTALL_KEYS_URL,
        session: requests.Session | None = None,
        timeout: float = 5,
        cache_ttl: float = 3600,
        max_entries: int = 64,
        clock: Clock = time.monotonic,
    ) -> None:
        self._keys_url = keys_url.rstrip("/")
        self._session = session or requests.Session()
        self._timeout = timeout
        super().__init__(self._fetch, kind="install", whole_set=False, cache_ttl=cache_ttl,
                         max_entries=max_entries, clock=clock)

    def __call__(self, kid: str) -> str:
        """Return the PEM public key for ``kid``; raise AtlassianAuthError when it can't."""
        if not is_safe_kid(kid):
            raise refuse("invalid key id", "install")
        return super().__call__(kid)

    def _fetch(self, kid: str) -> dict[str, str]:
        response = get_key_document(self._session, f"{self._keys_url}/{kid}", timeout=self._timeout,
                                    label="install key", event="atlassian.install_key", not_found_ok=True,
                                    log_fields={"kid": kid})
        if response.status_code == 404:
            raise refuse("unknown install key", "install", kid=kid)
        body = response.content
        if len(body) > _MAX_KEY_BYTES:
            raise refuse("invalid install key", "install", kid=kid)
        try:
            key = load_pem_public_key(body.strip())
        except ValueError:
            raise refuse("invalid install key", "install", kid=kid) from None
        if not isinstance(key, RSAPublicKey):
            raise refuse("invalid install key", "install", kid=kid)
        log.info("atlassian.install_key.fetched", extra={"kid": kid})
        return {kid: body.decode("ascii").strip()}


def _audiences(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud")
    values = aud if isinstance(aud, list) else [aud]
    return [value.rstrip("/") for value in values if isinstance(value, str)]


def verify_install_token(
    token: str,
    *,
    method: str,
    url: str,
    body_client_key: str,
    app_base_url: str,
    key_fetcher: KeyFetcher,
    known_tenant: Any = None,
    allow_legacy_shared_secret: bool = False,
    body_base_url: str | None = None,
    leeway: float = DEFAULT_LEEWAY_SECONDS,
    clock: Clock = time.time,
) -> dict[str, Any]:
    """Verify an installed/uninstalled lifecycle JWT and return its claims; the lifecycle views call this.

    ``body_base_url`` is the body's ``baseUrl``: a legacy (HS256) re-install is refused unless it
    is the stored tenant's ``base_url``.
    """
    kind = "install"
    if not isinstance(body_client_key, str) or not body_client_key:
        raise refuse("missing clientKey", kind)
    header = unverified_header(token, kind)
    alg = header.get("alg")
    if alg == INSTALL_ALGORITHM:
        claims = _verify_signed_install(token, header, body_client_key, app_base_url, key_fetcher)
    elif alg == LEGACY_ALGORITHM and allow_legacy_shared_secret and known_tenant is not None:
        claims = _verify_legacy_reinstall(token, body_client_key, known_tenant, body_base_url)
    else:
        # Includes "none", unknown algorithms, and HS256 where no stored secret may vouch
        # for it: an HS256 install token signed with the sharedSecret in its own body
        # proves nothing.
        raise refuse("unsupported algorithm", kind)
    check_times(claims, now=clock(), leeway=leeway, kind=kind)
    # Lifecycle tokens are request-bound: context-qsh is never acceptable here.
    check_qsh(claims, method=method, url=url, base_path=app_base_url, context_qsh_allowed=False, kind=kind)
    log.info("atlassian.install.verified", extra={"client_key": body_client_key, "alg": alg})
    return claims


def _verify_signed_install(
    token: str, header: dict[str, Any], body_client_key: str, app_base_url: str, key_fetcher: KeyFetcher
) -> dict[str, Any]:
    """Verify the RS256 path: kid → Atlassian public key → signature, then iss and aud."""
    kind = "install"
    kid = header.get("kid")
    if not kid:
        raise refuse("missing key id", kind)
    if not is_safe_kid(kid):
        raise refuse("invalid key id", kind)
    # Cheap refusals on unverified claims first, so junk tokens don't cost a key fetch;
    # both are re-checked on the verified claims below.
    unverified = unverified_claims(token, kind)
    _check_install_identity(unverified, body_client_key, app_base_url)
    public_key = key_fetcher(kid)
    claims = decode_verified(token, public_key, INSTALL_ALGORITHM, kind)
    _check_install_identity(claims, body_client_key, app_base_url)
    return claims


def _check_install_identity(claims: dict[str, Any], body_client_key: str, app_base_url: str) -> None:
    # iss binds the signature to the clientKey being (re)installed: without it, a genuine
    # token for one site could install or overwrite another site's record.
    if claims.get("iss") != body_client_key:
        raise refuse("issuer does not match clientKey", "install")
    # aud binds it to this app: a token Atlassian minted for another vendor's app is refused.
    if app_base_url.rstrip("/") not in _audiences(claims):
        raise refuse("wrong audience", "install")


def _site(url: Any) -> str | None:
    """A site URL compared loosely: scheme and host case-insensitive, no trailing slash."""
    if not isinstance(url, str) or not url.strip():
        return None
    parts = urlsplit(url.strip())
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


def _verify_legacy_reinstall(token: str, body_client_key: str, known_tenant: Any,
                             body_base_url: str | None) -> dict[str, Any]:
    """Verify the pre-signed-install re-install: HS256 with the *stored* sharedSecret, for the stored baseUrl."""
    kind = "install"
    secret = shared_secret_of(known_tenant)
    if not secret:
        raise refuse("unsupported algorithm", kind)
    claims = decode_verified(token, secret, LEGACY_ALGORITHM, kind)
    if claims.get("iss") != body_client_key:
        raise refuse("issuer does not match clientKey", kind)
    stored = _site(known_tenant.get("base_url") if isinstance(known_tenant, Mapping) else
                   getattr(known_tenant, "base_url", None))
    # Fails closed: no stored URL, or no body URL to compare, is a refusal too.
    if stored is None or _site(body_base_url) != stored:
        raise refuse("a re-install signed with the stored secret cannot change baseUrl", kind)
    return claims
