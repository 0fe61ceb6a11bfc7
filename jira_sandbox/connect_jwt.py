"""Connect JWT helpers shared by the sandbox's host side: QSH over app URLs and HS256 signing.

QSH comes from `atlassian_jwt` (not from `connect_app`), so the product's own implementation
is cross-checked by an independent one.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import jwt
from atlassian_jwt.url_utils import hash_url

if TYPE_CHECKING:
    from jira_sandbox.connect_host import Install

CONTEXT_QSH = "context-qsh"
TOKEN_TTL_S = 180  # Jira's own tokens live for three minutes


def relative_target(url: str, base_url: str) -> str:
    """`path?query` of `url` relative to the context path of `base_url` (what a qsh signs)."""
    parts = urlsplit(url)
    base_path = urlsplit(base_url).path.rstrip("/")
    path = parts.path
    if base_path and (path == base_path or path.startswith(base_path + "/")):
        path = path[len(base_path):]
    return (path or "/") + (f"?{parts.query}" if parts.query else "")


def qsh_for(method: str, url: str, base_url: str) -> str:
    """The Connect query string hash of a request to `url`, relative to `base_url`."""
    return hash_url(method.upper(), relative_target(url, base_url))


def sign_for_app(install: Install, method: str, url: str, context_qsh: bool = False, sub: str | None = None,
                 context: dict | None = None, aud: str | None = None, ttl: int = TOKEN_TTL_S) -> str:
    """HS256 JWT Jira puts on a call to the app (webhook, iframe, enabled/disabled).

    `iss` is the site's clientKey; Jira sends no `aud` on shared-secret tokens (pass one to test
    a verifier's tolerance). `context_qsh` gives the fixed "context-qsh" of context JWTs.
    """
    now = int(time.time())
    claims = {"iss": install.client_key, "iat": now, "exp": now + ttl,
              "qsh": CONTEXT_QSH if context_qsh else qsh_for(method, url, install.base_url)}
    if sub:
        claims["sub"] = sub
    if context is not None:
        claims["context"] = context
    if aud:
        claims["aud"] = aud
    return jwt.encode(claims, install.shared_secret, algorithm="HS256")
