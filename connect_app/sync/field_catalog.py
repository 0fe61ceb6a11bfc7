"""Each connection's field catalog: what Jira's `GET /field` says about every field (name, value type).

An issue names its custom fields by id only (`customfield_10042`); the catalog turns ids into names
and tells how a value reads (a date, a user, a number). Every sync run refreshes it from Jira (one
request, written only where something changed); everything else reads the stored copy, so a page or
an API answer never waits on Jira. A process keeps the last read for a short while: webhook jobs
read it for every delivery.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import delete, select

from connect_app.atlassian.client import JiraClient
from connect_app.extensions import db
from connect_app.models import JiraField
from connect_app.models.types import utcnow

CACHE_TTL_S = 300.0
NAME_LIMIT = 255

# Custom field types whose values mean nothing to a person reading an issue (a sort key, an encoded
# summary of branches and commits, encoded durations, service-desk SLA objects: our SLAs are our
# own). "Every custom field with a value" leaves them out; a workspace may still choose one by name.
NOISE_TYPES = frozenset({
    "com.pyxis.greenhopper.jira:gh-lexo-rank",
    "com.atlassian.jira.plugins.jira-development-integration-plugin:devsummary",
    "com.atlassian.jira.plugins.jira-development-integration-plugin:devsummarycf",
    "com.atlassian.jira.ext.charting:timeinstatus",
    "com.atlassian.servicedesk:sd-sla-field",
})


@dataclass(frozen=True)
class FieldInfo:
    """One field of a site: id, name, whether it is custom, and its schema (type, items, custom type)."""

    id: str
    name: str
    custom: bool = False
    type: str | None = None
    items: str | None = None
    custom_type: str | None = None

    @property
    def noise(self) -> bool:
        """Whether the field's values are machine data nobody reads (see NOISE_TYPES)."""
        return self.custom_type in NOISE_TYPES

    @classmethod
    def from_jira(cls, raw: dict) -> FieldInfo | None:
        """A field from one entry of `GET /field` (None for an entry without an id)."""
        field_id = str(raw.get("id") or "").strip()
        if not field_id:
            return None
        schema = raw.get("schema") if isinstance(raw.get("schema"), dict) else {}
        name = str(raw.get("name") or field_id).strip()[:NAME_LIMIT]
        return cls(field_id[:NAME_LIMIT], name, bool(raw.get("custom")), _short(schema.get("type"), 60),
                   _short(schema.get("items"), 60), _short(schema.get("custom"), NAME_LIMIT))


def _short(value: object, limit: int) -> str | None:
    return str(value)[:limit] if value not in (None, "") else None


@dataclass
class Catalog:
    """The fields of one site by id, with custom fields findable by (case-insensitive) name."""

    fields: dict[str, FieldInfo] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.fields)

    @property
    def custom(self) -> list[FieldInfo]:
        """The custom fields, by id."""
        return sorted((f for f in self.fields.values() if f.custom), key=lambda f: f.id)

    def get(self, field_id: str) -> FieldInfo | None:
        """A field by id."""
        return self.fields.get(field_id)

    def resolve(self, ref: str) -> list[str]:
        """The custom field ids an id or a name stands for ([] when unknown; several fields may share a name)."""
        ref = ref.strip()
        found = self.fields.get(ref)
        if found is not None and found.custom:
            return [found.id]
        key = ref.casefold()
        return [f.id for f in self.custom if f.name.casefold() == key]


def _catalog_of(rows: Iterable[JiraField]) -> Catalog:
    return Catalog({r.field_id: FieldInfo(r.field_id, r.name, r.custom, r.schema_type, r.schema_items, r.custom_type)
                    for r in rows})


class _Cache:
    """Catalogs read lately, per connection, shared by the threads of one process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._entries: dict[uuid.UUID, tuple[float, Catalog]] = {}

    def get(self, connection_id: uuid.UUID) -> Catalog | None:
        with self._lock:
            entry = self._entries.get(connection_id)
            if entry is None or entry[0] < time.monotonic():
                return None
            return entry[1]

    def put(self, connection_id: uuid.UUID, catalog: Catalog) -> None:
        with self._lock:
            self._entries[connection_id] = (time.monotonic() + CACHE_TTL_S, catalog)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


cache = _Cache()


def stored_catalog(connection_id: uuid.UUID) -> Catalog:
    """The catalog as the last sync stored it (empty when none ran yet); never calls Jira."""
    found = cache.get(connection_id)
    if found is None:
        found = _catalog_of(db.session.scalars(select(JiraField).where(JiraField.connection_id == connection_id)))
        if found:
            cache.put(connection_id, found)
    return found


def field_names(connection_id: uuid.UUID, field_ids: Iterable[str]) -> dict[str, FieldInfo]:
    """Just the named fields of one connection's catalog (what one issue's page needs)."""
    ids = sorted(set(field_ids))
    if not ids:
        return {}
    cached = cache.get(connection_id)
    if cached is not None:
        return {i: cached.fields[i] for i in ids if i in cached.fields}
    rows = db.session.scalars(select(JiraField).where(JiraField.connection_id == connection_id,
                                                      JiraField.field_id.in_(ids)))
    return _catalog_of(rows).fields


def store_catalog(connection_id: uuid.UUID, raw_fields: Iterable[dict]) -> Catalog:
    """Make the stored catalog match Jira's `GET /field` answer (only changed rows are written; no commit)."""
    fresh = {}
    for raw in raw_fields:
        info = FieldInfo.from_jira(raw) if isinstance(raw, dict) else None
        if info is not None:
            fresh[info.id] = info
    stored = {r.field_id: r for r in db.session.scalars(select(JiraField).where(
        JiraField.connection_id == connection_id))}
    now = utcnow()
    for field_id, info in fresh.items():
        row = stored.get(field_id)
        if row is None:
            row = JiraField(connection_id=connection_id, field_id=field_id)
            db.session.add(row)
        elif (row.name, row.custom, row.schema_type, row.schema_items, row.custom_type) == (
                info.name, info.custom, info.type, info.items, info.custom_type):
            continue
        row.name, row.name_key, row.custom = info.name, info.name.casefold()[:NAME_LIMIT], info.custom
        row.schema_type, row.schema_items, row.custom_type, row.refreshed_at = (info.type, info.items,
                                                                                 info.custom_type, now)
    gone = sorted(set(stored) - set(fresh))
    if gone:
        db.session.execute(delete(JiraField).where(JiraField.connection_id == connection_id,
                                                   JiraField.field_id.in_(gone)))
    catalog = Catalog(fresh)
    cache.put(connection_id, catalog)
    return catalog


def refresh_catalog(connection_id: uuid.UUID, client: JiraClient) -> tuple[Catalog, list[dict]]:
    """Fetch `GET /field` and store it; returns the catalog and Jira's raw answer (the rules read it too)."""
    raw = client.get_fields() or []
    return store_catalog(connection_id, raw), raw


def catalog_for(connection_id: uuid.UUID, client: JiraClient) -> Catalog:
    """The stored catalog, fetched from Jira first when none is stored yet (settings, on-demand refreshes)."""
    found = stored_catalog(connection_id)
    if not found:
        found, _ = refresh_catalog(connection_id, client)
    return found
