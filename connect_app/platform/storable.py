"""Values every database we run on can store: strict JSON for what clients send, cleaning for what Jira sends.

SQLite stores almost anything; PostgreSQL does not: no NUL character in text or JSONB, no unpaired
UTF-16 surrogate (`"\\ud800"`) in JSONB, no integer outside 64 bits in a BIGINT, no NaN or Infinity in
JSON. So a value that works in the embedded default can fail only in production, as a 500.

Two policies, chosen per place:
- **refuse** what our API's clients send (`loads_strict`): a precise 400 names the problem, nothing is
  half-stored;
- **clean** what Jira sends (`clean_json`, `clean_text`): Jira issue text can contain anything and a
  verified delivery must not be lost, so NUL and lone surrogates become U+FFFD and non-finite numbers
  null in what we store and process.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from typing import Any

REPLACEMENT = "\ufffd"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Deeper than any request or Jira payload we know (ADF documents stay well under 40 levels), far below
# Python's recursion limit and PostgreSQL's JSON stack depth.
MAX_JSON_DEPTH = 64
# NUL, and UTF-16 surrogates that are not part of a pair (Python keeps them from "\ud800" escapes).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Characters a name must not hold: control characters other than white space (NUL, BEL, ESC, DEL...;
# tab and line breaks are kept, as a quoted CSV field may carry them) and the bidirectional overrides
# and isolates that make text display in an order other than the one it is stored in ("Trojan Source").
_NOT_IN_A_NAME = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


class UnstorableJSON(ValueError):
    """A JSON document we refuse; the message says what is wrong and is safe to show to the client."""


def _refuse_constant(name: str) -> float:
    raise UnstorableJSON(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise UnstorableJSON(f"the number {text[:40]} is out of range")
    return value


def _int64(text: str) -> int:
    # Checked by length first: int() of a million digits is slow, and no such number fits anyway.
    if len(text.lstrip("-")) > 19 or not INT64_MIN <= (value := int(text)) <= INT64_MAX:
        raise UnstorableJSON(f"the integer {text[:40]}{'...' if len(text) > 40 else ''} is outside 64 bits")
    return value


def _string_problem(text: str) -> str | None:
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    return "NUL characters" if found.group() == "\x00" else "unpaired surrogates (\\ud800-\\udfff)"


def loads_strict(data: str | bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse a client's JSON; UnstorableJSON for NaN/Infinity, out-of-range numbers, NUL or lone surrogates
    in any string or key, or nesting deeper than max_depth (what is not JSON at all: json's own ValueError)."""
    try:
        value = json.loads(data, parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_int64)
    except RecursionError:
        raise UnstorableJSON(f"the document nests deeper than {max_depth} levels") from None
    for depth, node in _walk(value):
        if depth > max_depth:
            raise UnstorableJSON(f"the document nests deeper than {max_depth} levels")
        if isinstance(node, str) and (problem := _string_problem(node)):
            raise UnstorableJSON(f"strings must not contain {problem}")
    return value


def loads_lenient(data: str | bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON as Jira may send it (NaN, 1e400, any string), refusing only nesting we cannot handle."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise UnstorableJSON(f"the document nests deeper than {max_depth} levels") from None
    if any(depth > max_depth for depth, _ in _walk(value)):
        raise UnstorableJSON(f"the document nests deeper than {max_depth} levels")
    return value


def _walk(value: Any):
    """(depth, node) of every value and object key under value, without recursion."""
    stack = [(1, value)]
    while stack:
        depth, node = stack.pop()
        yield depth, node
        if isinstance(node, dict):
            for key, item in node.items():
                yield depth + 1, key
                stack.append((depth + 1, item))
        elif isinstance(node, list):
            stack.extend((depth + 1, item) for item in node)


def clean_text(value: str | None) -> str | None:
    """Text any database can store: NUL and unpaired surrogates become U+FFFD (None stays None)."""
    if value is None or not _UNSTORABLE.search(value):
        return value
    return _UNSTORABLE.sub(REPLACEMENT, value)


def clean_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row of column values with its text cleaned as by `clean_text` (strings, and strings in lists), in place.

    For rows built from Jira's REST answers (the sync): issue text can hold anything, a typed column cannot.
    Cheap when nothing needs cleaning: one C-level regex search per string.
    """
    for name, value in row.items():
        if isinstance(value, str):
            row[name] = clean_text(value)
        elif isinstance(value, list) and any(isinstance(item, str) for item in value):
            row[name] = [clean_text(item) if isinstance(item, str) else item for item in value]
    return row


def clean_json(value: Any) -> tuple[Any, bool]:
    """(a storable copy of a parsed JSON value, whether anything had to change).

    Strings and keys are cleaned as by `clean_text`; NaN, Infinity and integers outside 64 bits become
    None (JSONB would refuse the first two, and a typed column the last).
    """
    changed = False

    def clean(node: Any) -> Any:
        nonlocal changed
        if isinstance(node, str):
            cleaned = clean_text(node)
            changed |= cleaned is not node
            return cleaned
        if isinstance(node, bool) or node is None:
            return node
        if isinstance(node, float) and not math.isfinite(node):
            changed = True
            return None
        if isinstance(node, int) and not INT64_MIN <= node <= INT64_MAX:
            changed = True
            return None
        return node

    root: list[Any] = [None]
    # Iterative copy: (container to fill, key or index, source node).
    stack: list[tuple[Any, Any, Any]] = [(root, 0, value)]
    while stack:
        target, slot, node = stack.pop()
        if isinstance(node, dict):
            copy: Any = {}
            for key, item in node.items():
                cleaned_key = clean(key)
                copy[cleaned_key] = None  # keeps the keys in their order
                stack.append((copy, cleaned_key, item))
        elif isinstance(node, list):
            copy = [None] * len(node)
            stack.extend((copy, index, item) for index, item in enumerate(node))
        else:
            copy = clean(node)
        target[slot] = copy
    return root[0], changed


def name_problem(text: str) -> str | None:
    """Why text cannot be a name (a control or bidirectional-override character), or None."""
    found = _NOT_IN_A_NAME.search(text)
    if found is None:
        return None
    char = found.group()
    label = unicodedata.name(char, None) if not 0xD800 <= ord(char) <= 0xDFFF else "SURROGATE"
    return f"must not contain control or bidirectional characters (U+{ord(char):04X}{' ' + label if label else ''})"
