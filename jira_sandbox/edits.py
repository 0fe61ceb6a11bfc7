"""Turn REST `fields` / `update` payloads into internal field values, with Jira's 400 errors.

Called by `state.SandboxState` for create, edit and transition. Internal values are plain:
names for priority / resolution / components / options, user ids for people, plain text for
the description (ADF is flattened to text).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from jira_sandbox.catalog import CUSTOM_FIELDS_BY_ID, EDITABLE_FIELDS, PRIORITIES, RESOLUTIONS
from jira_sandbox.errors import JiraError

if TYPE_CHECKING:
    from jira_sandbox.state import SandboxState

NOT_ON_SCREEN = "Field '{}' cannot be set. It is not on the appropriate screen, or unknown."
# A priority that exists but is not in the project's priority scheme, per flavour.
PRIORITY_NOT_IN_SCHEME = {"cloud": "The priority selected is invalid.",
                          "server": "This priority is not available for this project."}
LIST_FIELDS = {"labels", "components"}


def adf_to_text(value: Any) -> str:
    """Flatten an Atlassian Document Format node (or a plain string) to text."""
    if value is None or isinstance(value, str):
        return value or ""
    if not isinstance(value, dict):
        return str(value)
    if value.get("type") == "text":
        return value.get("text", "")
    if value.get("type") == "hardBreak":
        return "\n"
    parts = [adf_to_text(child) for child in value.get("content", [])]
    joiner = "\n" if value.get("type") in ("doc", "bulletList", "orderedList") else ""
    return joiner.join(parts)


def resolve_user_ref(state: SandboxState, ref: Any) -> str | None:
    """The user id for `{"accountId"}` / `{"name"}` / `{"key"}` / a bare string; None unassigns."""
    if ref is None:
        return None
    if isinstance(ref, str):
        ref = {"accountId": ref, "name": ref}
    if not isinstance(ref, dict):
        raise ValueError("not a user reference")
    for attr in ("accountId", "name", "key", "id"):
        wanted = ref.get(attr)
        if wanted is None:
            continue
        for user_id, user in state.users.items():
            if wanted in (user_id, user.get(attr)):
                return user_id
        raise ValueError(f"User '{wanted}' does not exist.")
    if not any(ref.get(a) for a in ("accountId", "name", "key", "id")):
        return None
    raise ValueError("not a user reference")


def _named(ref: Any, by_id: dict[str, str]) -> str | None:
    """Resolve `{"name": x}` / `{"id": y}` / a bare string against a name->id table."""
    if ref is None:
        return None
    if isinstance(ref, str):
        ref = {"name": ref}
    if "name" in ref and ref["name"] in by_id:
        return ref["name"]
    if "id" in ref:
        for name, item_id in by_id.items():
            if str(ref["id"]) == item_id:
                return name
    raise ValueError("unknown value")


def parse_value(state: SandboxState, project: str, field_id: str, raw: Any) -> Any:
    """One REST field value -> internal value; raises ValueError with Jira's message."""
    if field_id == "summary":
        if not isinstance(raw, str) or not raw.strip():
            raise ValueError("You must specify a summary of the issue.")
        if len(raw) > 255:
            raise ValueError("Summary must be less than 255 characters.")
        return raw
    if field_id == "description":
        return adf_to_text(raw) or None
    if field_id == "priority":
        try:
            name = _named(raw, {n: i for i, n in PRIORITIES})
        except (ValueError, TypeError):
            raise ValueError("Specify the Priority (id or name) in the string format") from None
        if name is not None and name not in state.projects[project]["priorities"]:
            raise ValueError(PRIORITY_NOT_IN_SCHEME[state.flavour])
        return name
    if field_id == "resolution":
        try:
            return _named(raw, {n: v[0] for n, v in RESOLUTIONS.items()})
        except (ValueError, TypeError):
            raise ValueError("Could not find resolution.") from None
    if field_id in ("assignee", "reporter"):
        return resolve_user_ref(state, raw)
    if field_id == "labels":
        return [_label(v) for v in (raw or [])]
    if field_id == "components":
        comps = state.projects[project]["components"]
        names = []
        for ref in raw or []:
            try:
                names.append(_named(ref, {c["name"]: c["id"] for c in comps}))
            except (ValueError, TypeError):
                raise ValueError(f"Component name '{_ref_text(ref)}' is not valid") from None
        return names
    field = CUSTOM_FIELDS_BY_ID[field_id]
    if field.kind == "user":
        try:
            return resolve_user_ref(state, raw)
        except (ValueError, TypeError):
            raise ValueError("Specify a valid value for " + field.name) from None
    return _custom_value(field, raw)


def _ref_text(ref: Any) -> str:
    return str(ref.get("name") or ref.get("id")) if isinstance(ref, dict) else str(ref)


def _label(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("Labels must be strings.")
    if " " in value:
        raise ValueError(f"The label '{value}' contains spaces which is invalid.")
    if len(value) > 255:
        raise ValueError("The label must not exceed 255 characters.")
    return value


def _custom_value(field: Any, raw: Any) -> Any:
    if raw is None:
        return None
    if field.kind == "string":
        if not isinstance(raw, str):
            raise ValueError("Operation value must be a string")
        return raw
    if field.kind == "number":
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ValueError("Operation value must be a number")
        return raw
    if field.kind == "array":
        return [_label(v) for v in raw]
    if field.kind == "date":  # a date picker takes "2026-02-01"
        try:
            if isinstance(raw, str) and len(raw) == 10:
                return date.fromisoformat(raw).isoformat()
        except ValueError:
            pass
        raise ValueError(f"Error parsing date string: {raw}")
    if field.kind == "option":
        value = raw.get("value") if isinstance(raw, dict) else raw
        if isinstance(raw, dict) and "id" in raw and value is None:
            value = next((o for o in field.options if field.option_id(o) == str(raw["id"])), None)
            if value is None:
                raise ValueError(f"Option id '{raw['id']}' is not valid")
        if value not in field.options:
            raise ValueError(f"Option value '{value}' is not valid")
        return value
    return raw


def parse_fields(state: SandboxState, project: str, fields: dict, *, allowed: set[str] | None = None) -> dict:
    """Validate a `fields` object (without project/issuetype) -> {field_id: internal value}."""
    allowed = allowed if allowed is not None else EDITABLE_FIELDS | set(CUSTOM_FIELDS_BY_ID)
    return _per_field(fields, allowed, lambda field_id, raw: parse_value(state, project, field_id, raw))


def apply_update_ops(state: SandboxState, issue: dict, update: dict) -> dict:
    """Apply Jira's `update` verbs (set / add / remove) -> {field_id: new internal value}."""
    allowed = EDITABLE_FIELDS | set(CUSTOM_FIELDS_BY_ID)
    return _per_field(update, allowed, lambda field_id, ops: _run_ops(state, issue, field_id, ops))


def _per_field(items: dict, allowed: set[str], convert) -> dict:
    """Convert each field's input, collecting Jira's per-field 400 errors: all fields valid or none applied."""
    changes, errors = {}, {}
    for field_id, raw in items.items():
        if field_id not in allowed:
            errors[field_id] = NOT_ON_SCREEN.format(field_id)
            continue
        try:
            changes[field_id] = convert(field_id, raw)
        except ValueError as exc:
            errors[field_id] = str(exc)
    if errors:
        raise JiraError(400, [], errors)
    return changes


def _run_ops(state: SandboxState, issue: dict, field_id: str, ops: list) -> Any:
    if not isinstance(ops, list):
        raise ValueError("Update operations must be a list.")
    current = issue["customfields"].get(field_id) if field_id.startswith("customfield_") else issue[field_id]
    is_list = field_id in LIST_FIELDS or (
        field_id in CUSTOM_FIELDS_BY_ID and CUSTOM_FIELDS_BY_ID[field_id].kind == "array")
    value = list(current or []) if is_list else current
    for op in ops:
        if not isinstance(op, dict) or len(op) != 1:
            raise ValueError("Each update operation must have exactly one verb.")
        verb, raw = next(iter(op.items()))
        if verb == "set":
            value = parse_value(state, issue["project"], field_id, raw)
        elif verb in ("add", "remove") and is_list:
            item = parse_value(state, issue["project"], field_id, [raw])[0]
            if verb == "add" and item not in value:
                value.append(item)
            elif verb == "remove" and item in value:
                value.remove(item)
        else:
            raise ValueError(f"Field does not support update operation '{verb}'.")
    return value
