"""Jira's create metadata (which issue types a project has, which fields its create screen takes, which
are required, which values they allow), fetched once per connection, project and type and kept for
`TTL_S`; and the check of a draft's fields against it, which names every problem at once."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from connect_app.atlassian.client import JiraClient, JiraNotFound

TTL_S = 600.0
ALWAYS_OURS = frozenset({"project", "issuetype", "summary", "description", "labels", "priority"})
OPTION_TYPES = frozenset({"option", "priority", "component", "version", "issuetype", "project"})
MAX_ALLOWED_SHOWN = 50


class MetaError(Exception):
    """The draft does not fit Jira's create metadata; `errors` maps each field to {message, allowed?}."""

    def __init__(self, errors: dict[str, dict[str, Any]]):
        super().__init__("; ".join(f"{k}: {v['message']}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class FieldMeta:
    """One field of a create screen."""

    id: str
    name: str
    required: bool
    has_default: bool
    type: str  # schema.type: string, number, option, array, priority, user, ...
    items: str | None  # schema.items for arrays
    custom: str | None  # schema.custom for custom fields
    allowed: tuple[dict[str, Any], ...]

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> FieldMeta:
        schema = raw.get("schema") or {}
        field_id = str(raw.get("fieldId") or raw.get("key") or "")
        return cls(field_id, str(raw.get("name") or field_id), bool(raw.get("required")),
                   bool(raw.get("hasDefaultValue")), str(schema.get("type") or "any"), schema.get("items"),
                   schema.get("custom"), tuple(v for v in raw.get("allowedValues") or () if isinstance(v, dict)))

    def allowed_names(self) -> list[str]:
        """The allowed values as a person would type them (option values, priority names, ...)."""
        return [str(v.get("value") or v.get("name") or v.get("key") or v.get("id")) for v in self.allowed]

    def is_option(self) -> bool:
        return self.type in OPTION_TYPES or (self.type == "array" and self.items in OPTION_TYPES)

    def view(self) -> dict[str, Any]:
        """The JSON form for forms (GET /api/jira/create-meta)."""
        body: dict[str, Any] = {"id": self.id, "name": self.name, "required": self.required and not self.has_default,
                                "type": self.type, "items": self.items, "custom": self.custom}
        if self.allowed:
            body["allowed"] = self.allowed_names()
        return body


@dataclass(frozen=True)
class CreateMeta:
    """A project's issue type and its create screen."""

    project: str
    issue_type_id: str
    issue_type: str
    fields: dict[str, FieldMeta]

    def field(self, field_id: str) -> FieldMeta | None:
        return self.fields.get(field_id)

    def priorities(self) -> list[str]:
        """The priorities the project offers (empty when the screen has no priority field)."""
        found = self.fields.get("priority")
        return found.allowed_names() if found else []

    def view(self) -> dict[str, Any]:
        return {"project": self.project, "issue_type": {"id": self.issue_type_id, "name": self.issue_type},
                "fields": [f.view() for f in sorted(self.fields.values(), key=lambda f: (not f.required, f.name))]}


class _Cache:
    """Entries with an expiry, shared by the threads of one process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._entries: dict[tuple, tuple[float, Any]] = {}

    def get(self, key: tuple) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] < time.monotonic():
                self._entries.pop(key, None)
                return None
            return entry[1]

    def put(self, key: tuple, value: Any) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic() + TTL_S, value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


cache = _Cache()


def projects(connection_id: uuid.UUID, client: JiraClient) -> list[str]:
    """The keys of the projects the connection can see (for forms), kept like the rest of the metadata."""
    key = ("projects", connection_id)
    found = cache.get(key)
    if found is None:
        found = sorted(client.project_keys())
        cache.put(key, found)
    return found


def issue_types(connection_id: uuid.UUID, client: JiraClient, project: str) -> list[dict[str, Any]]:
    """The issue types one may create in a project ([] for a project the connection cannot see)."""
    key = ("types", connection_id, project.upper())
    found = cache.get(key)
    if found is None:
        try:
            found = [t for t in client.create_meta_issue_types(project) if not t.get("subtask")]
        except JiraNotFound:
            found = []
        cache.put(key, found)
    return found


def create_meta(connection_id: uuid.UUID, client: JiraClient, project: str, issue_type: str) -> CreateMeta:
    """The create screen of a project's issue type (by name or id); MetaError when either is unknown."""
    types = issue_types(connection_id, client, project)
    if not types:
        raise MetaError({"project_key": {"message": f"there is no project {project} on this Jira site that "
                                                    "the connection may create issues in"}})
    wanted = issue_type.casefold()
    match = next((t for t in types if str(t.get("name", "")).casefold() == wanted or str(t.get("id")) == issue_type),
                 None)
    if match is None:
        raise MetaError({"issue_type": {"message": f"{project} has no issue type {issue_type!r}",
                                        "allowed": [str(t.get("name")) for t in types]}})
    key = ("fields", connection_id, project.upper(), str(match["id"]))
    fields = cache.get(key)
    if fields is None:
        fields = {f.id: f for f in map(FieldMeta.parse, client.create_meta_fields(project, str(match["id"]))) if f.id}
        cache.put(key, fields)
    return CreateMeta(project.upper(), str(match["id"]), str(match.get("name")), fields)


def to_jira_value(meta: FieldMeta, value: Any) -> Any:
    """A field value as Jira takes it: a bare string for an option field becomes {"value": ...} (a list of them
    for multi-selects); anything already in Jira's form is passed through."""
    def option(item: Any) -> Any:
        if isinstance(item, str) and meta.is_option():
            return {"name": item} if meta.type in ("priority", "component", "version") or meta.items in (
                "component", "version") else {"value": item}
        return item
    if meta.type == "array":
        items = value if isinstance(value, list) else [value]
        return [option(i) for i in items]
    return option(value)


def _given(value: Any) -> bool:
    return value not in (None, "", [], {})


def _chosen(item: Any) -> str | None:
    if isinstance(item, dict):
        for name in ("value", "name", "id", "key"):
            if item.get(name) is not None:
                return str(item[name])
        return None
    return str(item)


def check(meta: CreateMeta, fields: dict[str, Any], *, priority: str | None) -> dict[str, dict[str, Any]]:
    """Every way `fields` (Jira's form) and `priority` do not fit the create screen; {} when they do."""
    errors: dict[str, dict[str, Any]] = {}
    for field_id, value in fields.items():
        field = meta.field(field_id)
        if field is None:
            errors[f"fields.{field_id}"] = {"message": f"{field_id} is not on the create screen of "
                                                       f"{meta.project} / {meta.issue_type}"}
            continue
        if field.allowed and field.is_option() and _given(value):
            offered = field.allowed_names() + [str(v.get("id")) for v in field.allowed if v.get("id") is not None]
            items = value if isinstance(value, list) else [value]
            bad = [c for c in map(_chosen, items) if c is None or c not in offered]
            if bad:
                errors[f"fields.{field_id}"] = {"message": f"{field.name} does not allow {', '.join(map(repr, bad))}",
                                                "allowed": field.allowed_names()[:MAX_ALLOWED_SHOWN]}
    if priority is not None:
        field = meta.field("priority")
        if field is None:
            errors["priority"] = {"message": f"{meta.project} / {meta.issue_type} issues take no priority on create"}
        elif field.allowed and priority.casefold() not in {n.casefold() for n in field.allowed_names()}:
            errors["priority"] = {"message": f"{meta.project} does not offer the priority {priority!r}",
                                  "allowed": field.allowed_names()}
    for field in meta.fields.values():
        if not field.required or field.has_default or field.id in ALWAYS_OURS:
            continue
        if not _given(fields.get(field.id)):
            error: dict[str, Any] = {"message": f"{field.name} is required by Jira for {meta.project} / "
                                                f"{meta.issue_type}"}
            if field.allowed:
                error["allowed"] = field.allowed_names()[:MAX_ALLOWED_SHOWN]
            errors[f"fields.{field.id}"] = error
    return errors
