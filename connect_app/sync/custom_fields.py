"""Which custom fields the sync stores (a workspace setting), and how stored values read as text.

The setting is `{"mode": "with_value"}` (the default: every custom field that has a value on the
issue) or `{"mode": "selected", "fields": [ids or names]}`. Jira's own "on the edit screen" rule
would need `editmeta` per issue, one request for every issue of a sync: too costly, so the
default keeps what has a value, minus machine-data fields (`field_catalog.NOISE_TYPES`). Names are
resolved per connection through its field catalog at each run, so a setting spans several Jira
sites. The fields linking rules read are always stored, whatever the setting.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from connect_app.atlassian.client import SYNC_FIELDS
from connect_app.atlassian.issue_json import parse_jira_time
from connect_app.extensions import db
from connect_app.models import JiraConnection, Organization
from connect_app.platform.storable import clean_json
from connect_app.sync.field_catalog import Catalog, FieldInfo, stored_catalog

log = logging.getLogger(__name__)

SETTINGS_KEY = "custom_fields"
MODES = ("with_value", "selected")
DEFAULT_SETTING = {"mode": "with_value"}
MAX_SELECTED = 100
MAX_REF_CHARS = 255
MAX_TEXT_CHARS = 1000  # a stored value longer than this (a whole text area) is cut; rule fields never are
MAX_LIST_ITEMS = 100
MAX_GET_FIELDS = 100  # more field ids than this would make a GET /issue URL longer than servers accept
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


class FieldSettingError(ValueError):
    """The setting cannot be saved: an HTTP `status`, a `code` (invalid_settings | unknown_fields |
    jira_unavailable) and what is wrong with each part."""

    def __init__(self, code: str, message: str, details: dict[str, str], status: int = 422):
        super().__init__(message)
        self.code = code
        self.details = details
        self.status = status


# ---- the workspace setting -------------------------------------------------------------------

def setting_of(organization_id: str) -> dict[str, Any]:
    """The workspace's setting ({"mode": "with_value"} unless it chose fields)."""
    organization = db.session.get(Organization, organization_id)
    stored = ((organization.settings if organization else None) or {}).get(SETTINGS_KEY)
    if isinstance(stored, dict) and stored.get("mode") == "selected" and isinstance(stored.get("fields"), list):
        return {"mode": "selected", "fields": [str(f) for f in stored["fields"]]}
    return dict(DEFAULT_SETTING)


def check_setting(raw: object, catalogs: Iterable[Catalog]) -> dict[str, Any]:
    """A setting from the API, validated: its shape, then every field resolved by at least one site's catalog."""
    if not isinstance(raw, dict):
        raise FieldSettingError("invalid_settings", "send the setting as a JSON object", {})
    errors = dict.fromkeys(sorted(set(raw) - {"mode", "fields"}), "unknown setting")
    mode = raw.get("mode", "selected" if "fields" in raw else None)
    if mode not in MODES:
        errors["mode"] = f"must be one of {', '.join(MODES)}"
    refs = raw.get("fields")
    if mode == "with_value" and refs not in (None, []):
        errors["fields"] = "with_value keeps every custom field that has a value: leave fields out"
    elif mode == "selected":
        if not isinstance(refs, list) or not all(isinstance(r, str) and r.strip() for r in refs):
            errors["fields"] = "must be a list of custom field ids (customfield_10042) or names"
        elif len(refs) > MAX_SELECTED:
            errors["fields"] = f"at most {MAX_SELECTED} fields"
        elif any(len(r) > MAX_REF_CHARS or any(ord(c) < 32 for c in r) for r in refs):
            errors["fields"] = f"each field is a name or id of at most {MAX_REF_CHARS} plain characters"
    if errors:
        raise FieldSettingError("invalid_settings", "the custom field setting is not valid", errors)
    if mode == "with_value":
        return dict(DEFAULT_SETTING)
    wanted = list(dict.fromkeys(r.strip() for r in refs))
    catalogs = [c for c in catalogs if c]
    unknown = {ref: _why_unknown(ref, catalogs) for ref in wanted if not any(c.resolve(ref) for c in catalogs)}
    if unknown:
        raise FieldSettingError("unknown_fields", f"unknown custom field{'s' if len(unknown) > 1 else ''}: "
                                f"{', '.join(unknown)}", unknown)
    return {"mode": "selected", "fields": wanted}


def _why_unknown(ref: str, catalogs: list[Catalog]) -> str:
    if not catalogs:
        return "the workspace has no connected Jira site to look it up on"
    return "no custom field has this id or name on the workspace's Jira sites"


def save_setting(organization_id: str, setting: dict[str, Any]) -> dict[str, Any]:
    """Store a checked setting (commits); the next sync of each connection applies it."""
    organization = db.session.get(Organization, organization_id)
    organization.settings = dict(organization.settings or {}) | {SETTINGS_KEY: setting}
    db.session.commit()
    log.info("custom_fields.setting_saved", extra={"workspace": organization_id, "mode": setting["mode"]})
    return setting


# ---- what one connection stores -------------------------------------------------------------

@dataclass(frozen=True)
class FieldSelection:
    """The custom fields one connection stores: `chosen` (None: every one with a value, minus `skipped`),
    always plus `rules` (the linking rules' fields, kept whole)."""

    chosen: frozenset[str] | None
    rules: frozenset[str]
    skipped: frozenset[str] = frozenset()
    known: tuple[str, ...] = ()  # the catalog's custom fields (what "with a value" asks Jira for)
    unresolved: tuple[str, ...] = ()  # chosen names no field of this site carries

    @classmethod
    def build(cls, setting: dict[str, Any], catalog: Catalog, rule_fields: Iterable[str]) -> FieldSelection:
        """The selection of one connection from the workspace setting, its catalog and its rules' fields."""
        rules = frozenset(rule_fields)
        if setting.get("mode") != "selected":
            return cls(None, rules, frozenset(f.id for f in catalog.custom if f.noise),
                       tuple(f.id for f in catalog.custom))
        chosen, unresolved = set(), []
        for ref in setting.get("fields") or ():
            ids = catalog.resolve(ref) if catalog else ([ref] if ref.startswith("customfield_") else [])
            chosen.update(ids)
            if not ids:
                unresolved.append(ref)
        return cls(frozenset(chosen), rules, unresolved=tuple(unresolved))

    def keeps(self, field_id: str) -> bool:
        """Whether a custom field's value is stored."""
        if field_id in self.rules:
            return True
        if self.chosen is None:
            return field_id not in self.skipped
        return field_id in self.chosen

    def custom_ids(self) -> list[str] | None:
        """The custom fields to ask Jira for (None: all of them, when the catalog is not known yet)."""
        if self.chosen is not None:
            return sorted(self.chosen | self.rules)
        if not self.known:
            return None
        return sorted((set(self.known) - self.skipped) | self.rules)

    def search_fields(self) -> list[str]:
        """The `fields` of a search (POSTed: any length)."""
        custom = self.custom_ids()
        return [*SYNC_FIELDS, *(custom if custom is not None else ["*navigable"])]

    def get_fields(self) -> list[str]:
        """The `fields` of a GET /issue (a URL: a long list of ids becomes `*navigable`)."""
        custom = self.custom_ids()
        if custom is None or len(custom) > MAX_GET_FIELDS:
            return [*SYNC_FIELDS, "*navigable"]
        return [*SYNC_FIELDS, *custom]

    def shape(self, custom_fields: dict[str, Any]) -> dict[str, Any]:
        """An issue's custom field values as stored: the kept ones, long texts cut (rule fields kept whole),
        cleaned of what PostgreSQL cannot store (Jira's text may hold a NUL)."""
        kept = {field_id: value if field_id in self.rules else _bounded(value)
                for field_id, value in custom_fields.items() if self.keeps(field_id)}
        return clean_json(kept)[0]


def selection_for(organization_id: str | None, catalog: Catalog, rule_fields: Iterable[str]) -> FieldSelection:
    """The selection of a connection of this workspace (the default for a site not linked to one yet)."""
    setting = setting_of(organization_id) if organization_id else dict(DEFAULT_SETTING)
    return FieldSelection.build(setting, catalog, rule_fields)


def stored_selection(connection: JiraConnection, rule_fields: Iterable[str]) -> FieldSelection:
    """The selection from the stored catalog, without calling Jira (webhook processing, reconciliation)."""
    return selection_for(connection.organization_id, stored_catalog(connection.id), rule_fields)


def _bounded(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
        return value[:MAX_TEXT_CHARS - 1] + "…"
    if isinstance(value, list):
        return [_bounded(v) for v in value[:MAX_LIST_ITEMS]]
    return value


# ---- reading stored values ------------------------------------------------------------------

def display_value(value: Any, info: FieldInfo | None = None) -> str:
    """A stored custom field value as a person reads it: options by value, users by name, lists joined,
    numbers without a trailing .0, dates as YYYY-MM-DD and instants as YYYY-MM-DD HH:MM UTC."""
    kind = info.type if info else None
    if isinstance(value, list):
        return ", ".join(text for text in (display_value(v, _item_info(info)) for v in value) if text)
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int | float):
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            return ""
        return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, dict):
        for key in ("value", "displayName", "name", "title", "key", "id"):
            if value.get(key) not in (None, ""):
                return display_value(value[key], None)
        return ""
    if value is None:
        return ""
    text = str(value)
    if kind == "datetime" or (kind is None and DATETIME.match(text)):
        try:
            moment = parse_jira_time(text)
        except ValueError:
            return text
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else text
    if kind == "date" and DATE.match(text[:10]):
        return text[:10]
    return text


def _item_info(info: FieldInfo | None) -> FieldInfo | None:
    """How an array's items read (a multi-user picker holds users, a date list dates)."""
    if info is None or info.type != "array":
        return info
    return FieldInfo(info.id, info.name, info.custom, info.items)


def custom_field_list(custom_fields: dict[str, Any], names: dict[str, FieldInfo]) -> list[dict[str, Any]]:
    """An issue's stored custom fields as `[{id, name, type, value}]` by name (the id where the site's
    catalog is not known yet); empty values are left out."""
    listed = []
    for field_id, raw in (custom_fields or {}).items():
        info = names.get(field_id)
        value = display_value(raw, info)
        if value == "":
            continue
        listed.append({"id": field_id, "name": info.name if info else field_id,
                       "type": (info.type if info else None), "value": value})
    return sorted(listed, key=lambda f: (f["name"].casefold(), f["id"]))
