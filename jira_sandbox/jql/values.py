"""How each kind of field reads its value off an issue and turns JQL literals into comparable values.

Single-valued kinds compare one normalised value (None = EMPTY); multi-valued kinds (labels,
components, multi-value custom fields, and the issue key, which answers to its key and its id)
compare a collection. Literal resolution also validates: unknown projects, statuses, priorities,
resolutions, users and status categories raise Jira's "does not exist" message.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from jira_sandbox.jql import ast
from jira_sandbox.jql.dates import DATE_FUNCTIONS, as_datetime, call_date_function, parse_date
from jira_sandbox.jql.errors import JqlError, unknown_value
from jira_sandbox.jql.fields import CATEGORY_ORDER, STATUS_CATEGORIES, FieldSpec, SearchContext

ISSUE_KEY = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)-(\d+)$")
MULTI_KINDS = {"labels", "component", "option", "issuekey"}
USER_IDENTIFIERS = ("accountId", "name", "key", "displayName", "emailAddress")


def split_key(key: str) -> tuple[str, int]:
    """`CS-12` -> ("CS", 12)."""
    project, _, number = key.rpartition("-")
    return project.upper(), int(number)


class Literals:
    """Resolves literals and reads issue values for one SearchContext (lookups precomputed once)."""

    def __init__(self, ctx: SearchContext):
        self.ctx = ctx
        self.projects = {p.lower(): p for p in ctx.projects}
        self.statuses = {s.lower() for s in ctx.statuses}
        self.priority_rank = {p.lower(): len(ctx.priorities) - i for i, p in enumerate(ctx.priorities)}
        self.resolution_index = {r.lower(): i for i, r in enumerate(ctx.resolutions)}
        self.categories = {}
        for key, (cid, name) in STATUS_CATEGORIES.items():
            for alias in (key, cid, name.lower()):
                self.categories[alias] = key
        self.users: dict[str, set[str]] = {}
        for user_id, user in ctx.users.items():
            for ident in (user_id, *(user.get(k) for k in USER_IDENTIFIERS)):
                if ident:
                    self.users.setdefault(str(ident).lower(), set()).add(user_id)

    # -- issue side -------------------------------------------------------------------------

    def reader(self, spec: FieldSpec) -> Callable[[dict], object]:
        """issue -> normalised value (single kinds) or iterable of values (multi kinds)."""
        read, kind = spec.read, spec.kind
        if kind in ("project", "user", "category"):
            return read
        if kind in ("status", "issuetype"):
            return lambda i: None if (v := read(i)) is None else v.lower()
        if kind == "priority":
            ranks = self.priority_rank
            return lambda i: None if (v := read(i)) is None else ranks.get(v.lower(), 0)
        if kind == "resolution":
            index = self.resolution_index
            return lambda i: None if not (v := read(i)) else index.get(v.lower(), -1)
        if kind == "date":
            return lambda i: as_datetime(read(i))
        if kind == "number":
            return lambda i: _number(read(i))
        if kind == "labels":
            return lambda i: _as_list(read(i))
        if kind in ("component", "option"):
            return lambda i: [str(v).lower() for v in _as_list(read(i))]
        if kind == "issuekey":
            return lambda i: (("K", *split_key(i["key"])), ("I", int(i["id"])))
        raise AssertionError(kind)

    def sort_reader(self, spec: FieldSpec) -> Callable[[dict], object]:
        """issue -> sort value (None sorts last)."""
        kind, read = spec.kind, spec.read
        if kind == "issuekey":
            return lambda i: split_key(i["key"])
        if kind == "user":
            users = self.ctx.users
            return lambda i: None if (v := read(i)) is None else str(users.get(v, {}).get("displayName", v)).lower()
        if kind == "category":
            return lambda i: CATEGORY_ORDER.get(read(i))
        if kind == "text":
            return lambda i: None if not (v := read(i)) else str(v).lower()
        if kind in ("labels", "component", "option"):
            return lambda i: ", ".join(sorted(str(v).lower() for v in _as_list(read(i)))) or None
        return self.reader(spec)

    # -- literal side -----------------------------------------------------------------------

    def resolve(self, spec: FieldSpec, name: str, operand: ast.Operand) -> tuple[set, bool]:
        """(comparable values, whether EMPTY was among them) for an operand of `=`, `in`, `<`..."""
        if isinstance(operand, ast.Empty):
            return set(), True
        if isinstance(operand, ast.ValueList):
            values, has_empty = set(), False
            for item in operand.items:
                sub, empty = self.resolve(spec, name, item)
                values |= sub
                has_empty = has_empty or empty
            return values, has_empty
        if isinstance(operand, ast.Function):
            return self.function(spec, name, operand), False
        return self.literal(spec, name, operand)

    def literal(self, spec: FieldSpec, name: str, value: ast.Value) -> tuple[set, bool]:
        """One literal -> its comparable values; unknown values raise Jira's message."""
        kind, text, lower = spec.kind, value.text, value.text.lower()
        if kind == "project":
            if lower not in self.projects:
                raise unknown_value(text, name)
            return {self.projects[lower]}, False
        if kind == "status":
            if lower not in self.statuses:
                raise unknown_value(text, name)
            return {lower}, False
        if kind == "category":
            if lower not in self.categories:
                raise unknown_value(text, name)
            return {self.categories[lower]}, False
        if kind == "priority":
            if lower not in self.priority_rank:
                raise unknown_value(text, name)
            return {self.priority_rank[lower]}, False
        if kind == "resolution":
            if lower == "unresolved" and lower not in self.resolution_index:
                return set(), True  # Jira's spelling of "no resolution"
            if lower not in self.resolution_index:
                raise unknown_value(text, name)
            return {self.resolution_index[lower]}, False
        if kind == "user":
            if lower not in self.users:
                raise unknown_value(text, name)
            return set(self.users[lower]), False
        if kind == "date":
            return {parse_date(text, value.quoted, self.ctx.now, name)}, False
        if kind == "number":
            number = _number(text)
            if number is None:
                raise JqlError(f"The value '{text}' is not a valid number for the field '{name}'.")
            return {number}, False
        if kind == "issuekey":
            match = ISSUE_KEY.match(text)
            if match:
                return {("K", match.group(1).upper(), int(match.group(2)))}, False
            if text.isdigit():
                return {("I", int(text))}, False
            raise JqlError(f"The issue key '{text}' for field '{name}' is invalid.")
        if kind in ("component", "option", "issuetype"):
            return {lower}, False
        return {text}, False  # labels and label-like custom fields match case-sensitively

    def function(self, spec: FieldSpec, name: str, call: ast.Function) -> set:
        """Evaluate currentUser() and the date functions; anything else is an unknown function."""
        fname = call.name.lower()
        if fname == "currentuser":
            if spec.kind != "user":
                raise JqlError(f"A value provided by the function 'currentUser' is invalid for the field '{name}'.")
            if call.args:
                raise JqlError(f"Function 'currentUser' expected '0' arguments but received '{len(call.args)}'.")
            # Anonymous callers have no current user: the clause then matches nothing, as in Jira.
            return {self.ctx.current_user} if self.ctx.current_user else set()
        if fname in {f.lower() for f in DATE_FUNCTIONS}:
            if spec.kind != "date":
                canonical = next(f for f in DATE_FUNCTIONS if f.lower() == fname)
                raise JqlError(f"A value provided by the function '{canonical}' is invalid for the field '{name}'.")
            return {call_date_function(call.name, call.args, self.ctx.now)}
        raise JqlError(f"Unable to find JQL function '{call.name}()'.")


def _as_list(raw) -> list:
    if raw is None or raw == "":
        return []
    if isinstance(raw, list):
        return raw  # read-only use: no copy on the hot path
    return list(raw) if isinstance(raw, tuple | set | frozenset) else [raw]


def _number(raw) -> float | None:
    if raw is None or isinstance(raw, bool):
        return None
    try:
        return float(raw)
    except (TypeError, ValueError):
        return None
