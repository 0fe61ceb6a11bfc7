"""JQL literals: every value that reaches a query goes through here, so no value can change its meaning."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo

CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
# Lucene's special characters, escaped for `~` text searches (the backslash is doubled again by jql_string).
LUCENE_SPECIAL = re.compile(r'([+\-&|!(){}\[\]^"~*?:\\/])')


def jql_string(value: str) -> str:
    """A JQL string literal: double-quoted, with backslash and double quote escaped."""
    if CONTROL_CHARS.search(value):
        raise ValueError("control characters are not allowed in JQL values")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def lucene_escape(value: str) -> str:
    """Escape Lucene's special characters for a `~` text search."""
    return LUCENE_SPECIAL.sub(r"\\\1", value)


def jql_date(moment: datetime, zone: tzinfo) -> str:
    """A JQL date literal ("yyyy-MM-dd HH:mm") in the Jira user's time zone (JQL reads dates that way)."""
    return jql_string(moment.astimezone(zone).strftime("%Y-%m-%d %H:%M"))


def since_clause(watermark: datetime, zone: tzinfo, overlap: timedelta) -> str:
    """`updated >= "..."` from a watermark minus an overlap (clock skew, minute-precision dates)."""
    return f"updated >= {jql_date(watermark - overlap, zone)}"
