"""Changelog items in Jira's shape: `{field, fieldtype, fieldId, from, fromString, to, toString}`.

Users are stored by user id in `from`/`to`; `render.history` turns them into accountIds (Cloud)
or usernames (Server) on the way out.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from jira_sandbox.catalog import CUSTOM_FIELDS_BY_ID, PRIORITY_IDS, RESOLUTIONS, STATUSES

if TYPE_CHECKING:
    from jira_sandbox.state import SandboxState


def item(field: str, field_id: str, from_: Any, from_s: Any, to: Any, to_s: Any, fieldtype="jira") -> dict:
    """One changelog item."""
    return {"field": field, "fieldtype": fieldtype, "fieldId": field_id,
            "from": from_, "fromString": from_s, "to": to, "toString": to_s}


def status_item(old: str, new: str) -> dict:
    """A status change."""
    return item("status", "status", STATUSES[old][0], old, STATUSES[new][0], new)


def _display(state: SandboxState, user_id: str | None) -> str | None:
    return state.users[user_id]["displayName"] if user_id in state.users else None


def _picker_date(value: str | None) -> str | None:
    """A date as Jira's default date picker writes it in changelogs: 2026-02-01 -> 1/Feb/26."""
    if not value:
        return None
    day = date.fromisoformat(value)
    return f"{day.day}/{day.strftime('%b')}/{day.strftime('%y')}"


def _field_items(state: SandboxState, issue: dict, field_id: str, old: Any, new: Any) -> list[dict]:
    if field_id == "status":
        return [status_item(old, new)]
    if field_id == "priority":
        return [item("priority", "priority", PRIORITY_IDS.get(old), old, PRIORITY_IDS.get(new), new)]
    if field_id == "resolution":
        rid = {n: v[0] for n, v in RESOLUTIONS.items()}
        return [item("resolution", "resolution", rid.get(old), old, rid.get(new), new)]
    if field_id in ("assignee", "reporter"):
        return [item(field_id, field_id, old, _display(state, old), new, _display(state, new))]
    if field_id == "labels":
        return [item("labels", "labels", None, " ".join(old or []), None, " ".join(new or []))]
    if field_id == "components":
        comps = {c["name"]: c["id"] for c in state.projects[issue["project"]]["components"]}
        removed = [item("Component", "components", comps.get(c), c, None, None) for c in old if c not in new]
        added = [item("Component", "components", None, None, comps.get(c), c) for c in new if c not in old]
        return removed + added
    if field_id in CUSTOM_FIELDS_BY_ID:
        field = CUSTOM_FIELDS_BY_ID[field_id]
        if field.kind == "option":
            return [item(field.name, field_id, field.option_id(old) if old else None, old,
                         field.option_id(new) if new else None, new, "custom")]
        if field.kind == "user":  # like the assignee: user ids out, display names as the strings
            return [item(field.name, field_id, old, _display(state, old), new, _display(state, new), "custom")]
        if field.kind == "date":  # Jira keeps the ISO date in from/to and its date-picker text in the strings
            return [item(field.name, field_id, old, _picker_date(old), new, _picker_date(new), "custom")]
        as_text = (lambda v: " ".join(v) if isinstance(v, list) else v) if field.kind == "array" else \
            (lambda v: None if v is None else str(v))
        return [item(field.name, field_id, None, as_text(old), None, as_text(new), "custom")]
    return [item(field_id, field_id, None, old, None, new)]


def diff_items(state: SandboxState, issue: dict, changes: dict) -> list[dict]:
    """Changelog items for the fields in `changes` whose value actually differs."""
    items = []
    for field_id, new in changes.items():
        old = issue["customfields"].get(field_id) if field_id.startswith("customfield_") else issue[field_id]
        if old == new or (old in (None, [], "") and new in (None, [], "")):
            continue
        items.extend(_field_items(state, issue, field_id, old, new))
    return items
