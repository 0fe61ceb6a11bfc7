"""Signed, short-lived, single-use download links: how a page inside CSCX.AI's iframe hands over a file.

A download is a plain navigation of the frame: it cannot carry the `Authorization` header htmx adds to every
other call, and the service token must never travel in a URL again. Fetching the file with htmx and offering it
as a `data:` or `blob:` link would need the CSP to allow them (and script to build them). So the page asks for
the file with an htmx POST, authenticated by the header like every action, and the answer sends the frame
(`HX-Redirect`) to a link we signed ourselves, which the download route accepts instead of the service token:

- it names exactly what to produce: the export, the workspace, the user and role, the filters; nothing else;
- it expires DOWNLOAD_TTL_SECONDS after it was minted (the redirect follows at once);
- it works once: its nonce is spent on first use, in Redis with REDIS_URL (every web process sees it), else in
  this process, which is then the only one (`platform.server` runs one worker without Redis).

So a link that ends up in a log, the history or a screenshot is worth nothing: used, expired, or both. (If
CSCX.AI sandboxes its iframe, the sandbox must include `allow-downloads`.) It is
signed with the app's SECRET_KEY under its own salt, not with CSCX_SIGNING_SECRET (CSCX.AI holds that one and it
signs service tokens): neither kind of token can pass for the other.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from connect_app.api.auth import Principal
from connect_app.platform import jobs

DOWNLOAD_TTL_SECONDS = 60
SALT = "cscx-jira.pages.download.v1"
SPENT_PREFIX = "cscx-jira:download-spent:"
# A spent nonce is remembered a little longer than its link lives, so no clock edge lets it through twice.
SPENT_MARGIN_SECONDS = 5


class DownloadRefused(Exception):
    """A download link that is forged, of another kind, expired or already used; `status` says which answer."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Download:
    """What a valid link grants: one export, for this workspace and user, with these parameters."""

    kind: str
    workspace: str
    user_id: str
    role: str
    params: dict[str, list[str]]


class SpentLinks:
    """The nonces of links already used, each kept until its link has expired anyway."""

    def __init__(self, redis: Any = None, clock: Callable[[], float] = time.monotonic):
        self._redis = redis
        self._clock = clock
        self._local: dict[str, float] = {}
        self._lock = threading.Lock()

    def spend(self, nonce: str, ttl: int) -> bool:
        """True the first time a nonce is spent, False ever after (within ttl seconds)."""
        if self._redis is not None:
            return bool(self._redis.set(SPENT_PREFIX + nonce, "1", nx=True, ex=ttl))
        with self._lock:
            now = self._clock()
            # Few links live at once (one a minute per export click): a sweep per spend is cheap.
            self._local = {n: until for n, until in self._local.items() if until > now}
            if nonce in self._local:
                return False
            self._local[nonce] = now + ttl
            return True


def spent_links(app: Flask) -> SpentLinks:
    """The app's record of used download links (built on first use; shared through Redis when configured)."""
    store = app.extensions.get("cscx_spent_downloads")
    if store is None:
        redis = jobs.queue(app).connection if app.config.get("REDIS_URL") else None
        store = app.extensions.setdefault("cscx_spent_downloads", SpentLinks(redis))
    return store


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=SALT)


def mint(secret_key: str, kind: str, principal: Principal, params: dict[str, list[str]]) -> str:
    """A link token for one `kind` of download by this principal, with these parameters (called by the page's POST)."""
    return _serializer(secret_key).dumps({"k": kind, "w": principal.workspace, "u": principal.user_id,
                                          "r": principal.role, "p": params, "n": secrets.token_urlsafe(16)})


def redeem(secret_key: str, token: str, kind: str, spent: SpentLinks) -> Download:
    """Check a link token and spend it (called by the download route); DownloadRefused when it must not be served."""
    try:
        claims = _serializer(secret_key).loads(token, max_age=DOWNLOAD_TTL_SECONDS)
    except SignatureExpired:
        raise DownloadRefused(410, "this download link has expired: export again from the page") from None
    except BadSignature:
        raise DownloadRefused(403, "this download link is not valid") from None
    if not isinstance(claims, dict) or claims.get("k") != kind:
        raise DownloadRefused(403, "this download link is for something else")
    if not spent.spend(str(claims["n"]), DOWNLOAD_TTL_SECONDS + SPENT_MARGIN_SECONDS):
        raise DownloadRefused(410, "this download link was already used: export again from the page")
    return Download(kind, str(claims["w"]), str(claims["u"]), str(claims["r"]),
                    {str(name): [str(v) for v in values] for name, values in dict(claims.get("p") or {}).items()})
