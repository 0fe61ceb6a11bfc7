"""What the engine knows about a site (`SearchContext`) and about each JQL field.

Operator support per field follows Jira's JQL field reference: text fields take only `~`/`!~`
(`summary` cannot even be EMPTY-tested, it is required), ordered fields (dates, priority,
resolution, key, numbers) take `<`..`>=`, everything else takes equality, lists and EMPTY.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from jira_sandbox.jql.errors import unknown_field

EQUALITY = frozenset({"=", "!=", "in", "not in", "is", "is not"})
ORDERED = EQUALITY | {"<", "<=", ">", ">="}
TEXT = frozenset({"~", "!~", "is", "is not"})
STATUS_CATEGORIES = {  # key -> (id, name), Jira's built-in categories
    "undefined": ("1", "No Category"), "new": ("2", "To Do"), "indeterminate": ("4", "In Progress"),
    "done": ("3", "Done"),
}
CATEGORY_ORDER = {"undefined": 0, "new": 1, "indeterminate": 2, "done": 3}
CF_BRACKET = re.compile(r"^cf\[(\d+)\]$", re.IGNORECASE)
CF_ID = re.compile(r"^customfield_(\d+)$", re.IGNORECASE)


@dataclass
class FieldDef:
    """A custom field: `kind` is string | number | array | date | option | user."""

    id: str
    name: str
    kind: str


@dataclass(frozen=True)
class PropertyField:
    """An indexed issue-property extraction an installed app declared (`jiraEntityProperties`)."""

    alias: str
    property_key: str
    path: str  # objectName: a dotted path into the property's value
    type: str  # number | string | text | date


@dataclass
class SearchContext:
    """The site as the engine sees it for one search (who asks, when, what exists)."""

    custom_fields: list[FieldDef]
    users: dict[str, dict]
    current_user: str | None
    now: datetime
    statuses: dict[str, str]
    priorities: list[str]
    projects: set[str]
    resolutions: list[str] = field(default_factory=lambda: ["Done", "Won't Fix", "Duplicate", "Cannot Reproduce"])
    property_fields: list[PropertyField] = field(default_factory=list)


@dataclass(frozen=True)
class FieldSpec:
    """One searchable field: canonical id, value kind, allowed operators and how to read it off an issue."""

    id: str
    kind: str
    operators: frozenset[str]
    read: Callable[[dict], object]
    sortable: bool = True


def _get(key: str) -> Callable[[dict], object]:
    return lambda issue: issue.get(key)


def _comments(issue: dict) -> str:
    parts = []
    for comment in issue.get("comments") or ():
        parts.append(comment.get("body") or "" if isinstance(comment, dict) else str(comment))
    return "\n".join(p for p in parts if isinstance(p, str))


def _system_fields() -> dict[str, FieldSpec]:
    key_ops = frozenset({"=", "!=", "in", "not in", "<", "<=", ">", ">="})
    specs = [
        (("project",), FieldSpec("project", "project", EQUALITY, _get("project"))),
        (("key", "issuekey", "id", "issue"), FieldSpec("issuekey", "issuekey", key_ops, lambda i: i)),
        (("labels",), FieldSpec("labels", "labels", EQUALITY, _get("labels"))),
        (("component",), FieldSpec("components", "component", EQUALITY, _get("components"))),
        (("status",), FieldSpec("status", "status", EQUALITY, _get("status"))),
        (("statuscategory",), FieldSpec("statusCategory", "category", frozenset({"=", "!=", "in", "not in"}),
                                        _get("statusCategory"))),
        (("priority",), FieldSpec("priority", "priority", ORDERED, _get("priority"))),
        (("issuetype", "type"), FieldSpec("issuetype", "issuetype", EQUALITY, _get("issuetype"))),
        (("assignee",), FieldSpec("assignee", "user", EQUALITY, _get("assignee"))),
        (("reporter",), FieldSpec("reporter", "user", EQUALITY, _get("reporter"))),
        (("created", "createddate"), FieldSpec("created", "date", ORDERED, _get("created"))),
        (("updated", "updateddate"), FieldSpec("updated", "date", ORDERED, _get("updated"))),
        (("resolved", "resolutiondate"), FieldSpec("resolutiondate", "date", ORDERED, _get("resolved"))),
        (("resolution",), FieldSpec("resolution", "resolution", ORDERED, _get("resolution"))),
        (("summary",), FieldSpec("summary", "text", frozenset({"~", "!~"}), _get("summary"))),
        (("description",), FieldSpec("description", "text", TEXT, _get("description"))),
        (("comment",), FieldSpec("comment", "text", frozenset({"~", "!~"}), _comments, sortable=False)),
        (("text",), FieldSpec("text", "alltext", frozenset({"~"}), lambda i: i, sortable=False)),
    ]
    return {alias: spec for aliases, spec in specs for alias in aliases}


SYSTEM_FIELDS = _system_fields()
CUSTOM_KINDS = {"string": ("text", TEXT), "number": ("number", ORDERED), "array": ("labels", EQUALITY),
                "date": ("date", ORDERED), "option": ("option", EQUALITY), "user": ("user", EQUALITY)}


def custom_spec(definition: FieldDef) -> FieldSpec:
    """The FieldSpec of a custom field definition."""
    kind, operators = CUSTOM_KINDS.get(definition.kind, ("text", TEXT))
    field_id = definition.id
    return FieldSpec(field_id, kind, operators, lambda issue: (issue.get("customfields") or {}).get(field_id))


PROPERTY_KINDS = {"number": ("number", ORDERED), "string": ("labels", EQUALITY), "text": ("text", TEXT),
                  "date": ("date", ORDERED)}


def property_spec(definition: PropertyField) -> FieldSpec:
    """The FieldSpec of an indexed issue property: read from the issue's entity property by its path."""
    kind, operators = PROPERTY_KINDS.get(definition.type, ("text", TEXT))
    key, path = definition.property_key, definition.path.split(".")

    def read(issue: dict) -> object:
        value = (issue.get("properties") or {}).get(key)
        for step in path:
            value = value.get(step) if isinstance(value, dict) else None
        return value

    return FieldSpec(definition.alias, kind, operators, read)


def canonical_id(name: str) -> str:
    """Best-effort canonical id without a context (custom fields by name stay as written, lower case)."""
    lower = name.lower()
    if lower in SYSTEM_FIELDS:
        return SYSTEM_FIELDS[lower].id
    match = CF_BRACKET.match(name) or CF_ID.match(name)
    return f"customfield_{match.group(1)}" if match else lower


class FieldIndex:
    """Field lookup for one context: system aliases, `cf[N]`, `customfield_N` and custom names."""

    def __init__(self, ctx: SearchContext):
        self.by_id = {f.id.lower(): f for f in ctx.custom_fields}
        self.by_name = {}
        for definition in ctx.custom_fields:
            self.by_name.setdefault(definition.name.lower(), definition)
        self.properties = {p.alias.lower(): p for p in ctx.property_fields}

    def resolve(self, name: str) -> FieldSpec:
        """The spec for a field as written in a query; unknown fields raise Jira's message."""
        lower = name.lower()
        if lower in SYSTEM_FIELDS:
            return SYSTEM_FIELDS[lower]
        if lower in self.properties:
            return property_spec(self.properties[lower])
        match = CF_BRACKET.match(name) or CF_ID.match(name)
        definition = self.by_id.get(f"customfield_{match.group(1)}") if match else self.by_name.get(lower)
        if definition is None:
            raise unknown_field(name)
        return custom_spec(definition)
