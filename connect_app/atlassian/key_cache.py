"""Atlassian's public signing keys by ``kid``: one cache for Connect's install keys and Forge's JWKS.

Both key sources follow the same rules: a timeout on every fetch and a bounded body; keys kept for a
TTL; a stale key kept when its refresh fails (a key-server hiccup must not refuse tokens signed with a
key we already trust); and a failing key server asked again after a short backoff that doubles on each
failure, so a first fetch that fails does not refuse every token for a long while, nor does every token
hammer a server that is down. What differs is what one fetch brings: the install-key server answers one
PEM per kid (cached per kid, least recently used first out); a JWKS answers the whole set, which
replaces what we had (a key Atlassian stopped publishing is no longer trusted) and is fetched again for
an unknown kid at most once per ``min_refresh_interval``.

``InstallKeyFetcher`` (install.py) and ``JwksKeys`` (forge.py) are this cache with their loaders.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import requests

from connect_app.atlassian.jwt import AtlassianAuthError, Clock, refuse

log = logging.getLogger(__name__)

# A fetch that failed is tried again after 1 s, then 2, 4, ... up to a minute.
FIRST_RETRY_AFTER_S = 1.0
MAX_RETRY_AFTER_S = 60.0

Loader = Callable[[str], dict[str, Any]]


class KeyServerError(AtlassianAuthError):
    """The key server could not answer (timeout, unreachable, an error status): retried after a backoff."""


def get_key_document(session: requests.Session, url: str, *, timeout: float, label: str, event: str,
                     not_found_ok: bool = False, log_fields: dict[str, object] | None = None) -> requests.Response:
    """GET a key document with a timeout; KeyServerError (named by ``label``) when the server fails.

    With ``not_found_ok`` a 404 comes back to the caller (an unknown key is a refusal, not an outage).
    The caller bounds the body: what is too big to be a key is that caller's kind of refusal.
    """
    fields = log_fields or {}
    try:
        response = session.get(url, timeout=timeout)
    except requests.Timeout:
        log.warning(f"{event}.timeout", extra=fields)
        raise KeyServerError(f"{label} fetch timed out") from None
    except requests.RequestException:
        log.warning(f"{event}.unreachable", extra=fields)
        raise KeyServerError(f"{label} server unreachable") from None
    if response.status_code == 404 and not_found_ok:
        return response
    if response.status_code != 200:
        log.warning(f"{event}.error", extra={**fields, "status": response.status_code})
        raise KeyServerError(f"{label} server error")
    return response


class KeyCache:
    """Keys by kid from ``load(kid)`` (a dict kid -> key), cached as the module docstring says."""

    def __init__(
        self,
        load: Loader,
        *,
        kind: str,
        whole_set: bool,
        cache_ttl: float = 3600,
        min_refresh_interval: float = 0,
        max_entries: int = 64,
        first_retry_after: float = FIRST_RETRY_AFTER_S,
        max_retry_after: float = MAX_RETRY_AFTER_S,
        clock: Clock = time.monotonic,
    ) -> None:
        self._load = load
        self._kind = kind
        self._whole_set = whole_set
        self._cache_ttl = cache_ttl
        self._min_refresh_interval = min_refresh_interval
        self._max_entries = max_entries
        self._first_retry_after = first_retry_after
        self._max_retry_after = max_retry_after
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()  # kid -> (fetched at, key)
        # Per fetch scope (the whole set: one scope; per kid: the kid): the last good fetch, and failures.
        self._fetched_at: dict[str | None, float] = {}
        self._failures: dict[str | None, tuple[int, float]] = {}  # scope -> (failures in a row, retry at)
        # One lock around lookup and fetch: concurrent tokens with a new kid share one fetch.
        self._lock = threading.Lock()

    def __call__(self, kid: str) -> Any:
        """Return the public key for ``kid``; raise AtlassianAuthError when there is none."""
        with self._lock:
            now = self._clock()
            entry = self._entries.get(kid)
            if entry is not None and now - entry[0] < self._cache_ttl:
                self._entries.move_to_end(kid)
                return entry[1]
            scope = None if self._whole_set else kid
            if not self._may_fetch(scope, now):
                if entry is not None:
                    return entry[1]
                raise refuse("unknown key id", self._kind, kid=kid[:64], refetched=False)
            try:
                keys = self._load(kid)
            except KeyServerError:
                self._failed(scope, now)
                if entry is not None:
                    return entry[1]
                raise
            self._failures.pop(scope, None)
            self._fetched_at[scope] = now
            self._store(keys, now)
            if kid not in self._entries:
                raise refuse("unknown key id", self._kind, kid=kid[:64], refetched=True)
            return self._entries[kid][1]

    def _may_fetch(self, scope: str | None, now: float) -> bool:
        failure = self._failures.get(scope)
        if failure is not None and now < failure[1]:
            return False
        last = self._fetched_at.get(scope)
        return last is None or now - last >= self._min_refresh_interval

    def _failed(self, scope: str | None, now: float) -> None:
        count = self._failures.get(scope, (0, 0.0))[0] + 1
        delay = min(self._first_retry_after * 2 ** (count - 1), self._max_retry_after)
        self._failures[scope] = (count, now + delay)
        while len(self._failures) > self._max_entries:  # invented kids must not grow this without bound
            self._failures.pop(next(iter(self._failures)))
        log.info("atlassian.keys.retry_later", extra={"token_kind": self._kind, "failures": count, "delay_s": delay})

    def _store(self, keys: dict[str, Any], now: float) -> None:
        if self._whole_set:
            self._entries = OrderedDict((kid, (now, key)) for kid, key in keys.items())
            return
        for kid, key in keys.items():
            self._entries[kid] = (now, key)
            self._entries.move_to_end(kid)
        while len(self._entries) > self._max_entries:
            evicted, _ = self._entries.popitem(last=False)
            self._fetched_at.pop(evicted, None)
