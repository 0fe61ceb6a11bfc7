"""JQL search over the site, via the JQL engine, with a small result cache for paging.

A paging client asks for the same JQL page after page; matching 100k issues each time would be
quadratic, so the ordered key list is cached per (jql, user, state version) for a while.
Cloud's `nextPageToken` is an opaque token carrying the offset and a hash of the query.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime

from jira_sandbox.catalog import PRIORITIES, RESOLUTIONS, STATUSES
from jira_sandbox.errors import JiraError
from jira_sandbox.jql import FieldDef, JqlError, SearchContext, parse
from jira_sandbox.jql.fields import PropertyField

CACHE_SIZE = 16
CACHE_TTL_S = 300
UNBOUNDED = "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."


def context(state, user_id: str | None) -> SearchContext:
    """The JQL engine's view of the site for one caller."""
    users = {uid: {k: u[k] for k in ("accountId", "name", "key", "displayName", "emailAddress")}
             for uid, u in state.users.items()}
    return SearchContext(
        custom_fields=[FieldDef(f.id, f.name, f.kind) for f in state.custom_fields],
        users=users, current_user=user_id, now=datetime.now(UTC),
        statuses={name: v[1] for name, v in STATUSES.items()},
        priorities=[name for _, name in PRIORITIES], projects=set(state.projects),
        resolutions=list(RESOLUTIONS), property_fields=property_fields(state),
    )


def property_fields(state) -> list[PropertyField]:
    """The indexed issue properties the installed Connect apps declared (their JQL aliases)."""
    host = getattr(state, "connect_host", None)
    found = []
    for install in host.all() if host is not None else ():
        modules = (install.descriptor or {}).get("modules") or {}
        for module in modules.get("jiraEntityProperties") or ():
            if str(module.get("entityType", "issue")).lower() != "issue":
                continue
            for config in module.get("keyConfigurations") or ():
                for extraction in config.get("extractions") or ():
                    if extraction.get("alias") and extraction.get("objectName"):
                        found.append(PropertyField(extraction["alias"], config["propertyKey"],
                                                   extraction["objectName"], extraction.get("type", "text")))
    return found


def is_unbounded(jql: str) -> bool:
    """True for a query with no restriction (empty, or only ORDER BY)."""
    text = jql.strip().lower()
    return not text or text.startswith("order by")


class SearchCache:
    """LRU of ordered result keys keyed by (jql, user, state.version)."""

    def __init__(self):
        self._entries: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def keys(self, state, jql: str, user_id: str | None) -> list[str]:
        """Matching issue keys in result order (JqlError -> Jira 400)."""
        cache_key = (jql, user_id, state.version)
        with self._lock:
            hit = self._entries.get(cache_key)
            if hit and time.monotonic() - hit[0] < CACHE_TTL_S:
                self._entries.move_to_end(cache_key)
                return hit[1]
        try:
            with state.lock:
                if not jql.strip():
                    # Server answers an empty query with every issue, newest first.
                    keys = [i["key"] for i in sorted(state.issues.values(), key=lambda i: -int(i["id"]))]
                else:
                    keys = [i["key"] for i in parse(jql).search(list(state.issues.values()),
                                                                 context(state, user_id))]
        except JqlError as exc:
            raise JiraError(400, list(exc.messages) or [str(exc)]) from None
        with self._lock:
            self._entries[cache_key] = (time.monotonic(), keys)
            while len(self._entries) > CACHE_SIZE:
                self._entries.popitem(last=False)
        return keys


def query_hash(jql: str) -> str:
    """A short fingerprint of the query, bound into page tokens."""
    return hashlib.sha256(jql.encode()).hexdigest()[:12]


def encode_token(jql: str, offset: int) -> str:
    """Opaque nextPageToken for `offset` into the results of `jql`."""
    raw = json.dumps({"o": offset, "q": query_hash(jql)}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(jql: str, token: str | None) -> int:
    """The offset a nextPageToken points at (400 when it is not ours or for another query)."""
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if data["q"] != query_hash(jql):
            raise ValueError
        return int(data["o"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise JiraError(400, ["The provided next page token is invalid or expired."]) from None
