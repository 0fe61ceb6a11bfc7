"""Atlassian Connect canonical request and query string hash (QSH).

The algorithm follows Atlassian's "Understanding JWT for Connect apps" / "Query string hash"
pages and is pinned by the official interoperability vectors in
``tests/fixtures/atlassian/qsh-vectors.json``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, quote, urlsplit

QueryInput = str | Mapping[str, object] | Iterable[tuple[str, object]] | None

# The token itself travels in ``?jwt=``; it cannot be part of what it signs.
JWT_PARAM = "jwt"


def percent_encode(value: str) -> str:
    """Percent-encode one query name or value the way Connect does (RFC 3986, UTF-8)."""
    # Only the RFC 3986 unreserved set (ALPHA DIGIT - . _ ~) stays literal, so a space is
    # %20 (never "+"), "*" is %2A and "~" stays "~", matching Atlassian's OAuth1-style rule.
    return quote(value, safe="~")


def _split_target(url_or_path: str) -> tuple[str, str]:
    """Split a full URL or a request target into (path, raw query)."""
    if "://" in url_or_path:
        parts = urlsplit(url_or_path)
        return parts.path, parts.query
    target = url_or_path.split("#", 1)[0]
    path, _, query = target.partition("?")
    return path, query


def _base_path(base_path: str) -> str:
    """Return the context path of a base URL or path, without a trailing slash."""
    path = urlsplit(base_path).path if "://" in base_path else base_path
    return path.rstrip("/")


def _query_pairs(query: QueryInput) -> list[tuple[str, str]]:
    """Normalise a query (raw string, mapping or pairs) into decoded (name, value) pairs."""
    if query is None:
        return []
    if isinstance(query, str):
        # Form decoding: "+" is a space, exactly what a receiving web framework does.
        return parse_qsl(query.lstrip("?"), keep_blank_values=True)
    items = query.items() if isinstance(query, Mapping) else query
    pairs: list[tuple[str, str]] = []
    for name, value in items:
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            values: Iterable[object] = [value]
        else:
            values = value
        # None is dropped, as requests drops it from ``params``.
        pairs.extend((_text(name), _text(item)) for item in values if item is not None)
    return pairs


def _text(value: object) -> str:
    """Render one query name or value as text, the way requests would send it."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def canonical_uri(path: str, base_path: str = "") -> str:
    """Return the canonical URI: the path relative to the context path, per Atlassian."""
    base = _base_path(base_path)
    path = path or "/"
    # The context path is dropped so a reverse proxy that adds or removes it
    # ("/jira/rest/..." vs "/rest/...") does not break authentication.
    if base and (path == base or path.startswith(base + "/")):
        path = path[len(base) :]
    if path.endswith("/"):
        path = path[:-1]
    if not path.startswith("/"):
        path = "/" + path
    # An unencoded "&" in the path would let "/a&b=c?x=y" and "/a?b=c&x=y" share a hash.
    return path.replace("&", "%26")


def canonical_query_string(query: QueryInput) -> str:
    """Return the canonical query string: sorted, percent-encoded, ``jwt`` excluded."""
    grouped: dict[str, list[str]] = {}
    for name, value in _query_pairs(query):
        if name == JWT_PARAM:
            continue
        grouped.setdefault(name, []).append(value)
    parts = []
    # Parameters sort by their percent-encoded names (code point order: "A" < "a").
    for name in sorted(grouped, key=percent_encode):
        # Repeated values sort by their *decoded* text: that is what Connect does (its JWT-20
        # quirk, also kept by atlassian-jwt) and what the "Multi-value II" vector pins.
        values = ",".join(percent_encode(value) for value in sorted(grouped[name]))
        parts.append(f"{percent_encode(name)}={values}")
    return "&".join(parts)


def canonical_request(method: str, url_or_path: str, query: QueryInput = None, base_path: str = "") -> str:
    """Return ``METHOD&canonical-uri&canonical-query`` for a request; ``query`` adds to the URL's own."""
    path, raw_query = _split_target(url_or_path)
    pairs = _query_pairs(raw_query) + _query_pairs(query)
    return "&".join((method.upper(), canonical_uri(path, base_path), canonical_query_string(pairs)))


def query_string_hash(method: str, url_or_path: str, query: QueryInput = None, base_path: str = "") -> str:
    """Return the hex SHA-256 of the canonical request: the value of a token's ``qsh`` claim."""
    canonical = canonical_request(method, url_or_path, query, base_path)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
