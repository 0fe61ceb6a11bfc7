"""The sandbox's JQL engine: a lark grammar after Jira's, compiled to closures over issue dicts.

    query = parse('project = CS AND labels in (a, b) ORDER BY created DESC')
    hits = query.search(issues, ctx)      # or query.compile(ctx) / query.sort(...)

Errors are `JqlError` with Jira's messages, ready for a 400 `{"errorMessages": ..., "errors": {}}`.
"""

from __future__ import annotations

from jira_sandbox.jql.errors import JqlError
from jira_sandbox.jql.fields import FieldDef, SearchContext
from jira_sandbox.jql.query import Query, parse

__all__ = ["FieldDef", "JqlError", "Query", "SearchContext", "parse", "quote"]


def quote(value: str) -> str:
    """The canonical JQL string literal for `value`: double quotes, with `\\`, `"` and control characters escaped."""
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif code < 0x20 or 0x7F <= code <= 0x9F or 0xFDD0 <= code <= 0xFDEF or code in (0xFFFE, 0xFFFF):
            out.append(f"\\u{code:04x}")  # Jira refuses these raw even inside quotes
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)
