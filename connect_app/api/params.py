"""Request parsing shared by the API views: JSON bodies and query parameters, each with a precise 400.

Query parameters are also checked against the OpenAPI document in one place (`check_query`, run by
`require_api` once the caller is authenticated): a name the operation does not document, an empty value,
or a value outside the documented type, range, enum or format is a 400 naming the parameter. So a typo
(`?stauts=open`) or a flag spelled `on` never silently means something else.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from functools import cache
from typing import Any

from flask import request

from connect_app.api.openapi import load_spec
from connect_app.errors import ApiError
from connect_app.models import JiraIssue
from connect_app.sync import queries

FLAG_SPELLINGS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
_FLASK_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
_INTEGER = re.compile(r"-?[0-9]{1,18}")


def json_body() -> object:
    """The request's JSON body, or a 400 when it is missing or not JSON."""
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "invalid_json", "the request body must be JSON")
    return body


def int_arg(name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within [low, high]."""
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ApiError(400, "invalid_parameter", f"{name} must be an integer") from exc
    if not low <= value <= high:
        raise ApiError(400, "invalid_parameter", f"{name} must be between {low} and {high}")
    return value


def workspace_issue(organization_id: str, key: str) -> JiraIssue:
    """The workspace's synced issue with this key (`?connection=` when it exists on several); 400/404/409 otherwise."""
    try:
        found = queries.find_issue(organization_id, key, request.args.get("connection"))
    except queries.QueryError as exc:
        raise ApiError(400, "invalid_parameter", str(exc)) from exc
    if not found:
        raise ApiError(404, "not_found", f"issue {key} is not synced in this workspace")
    if len(found) > 1:
        raise ApiError(409, "ambiguous", f"{key} exists on several connections; pass ?connection=<id>",
                       details=[str(issue.connection_id) for issue in found])
    return found[0]


def flag(name: str) -> bool:
    """A boolean query parameter: 1, true, yes or 0, false, no (absent: false); any other spelling is a 400."""
    raw = request.args.get(name)
    if raw is None:
        return False
    if raw not in FLAG_SPELLINGS:
        raise ApiError(400, "invalid_parameter", f"{name} must be one of {', '.join(FLAG_SPELLINGS)}")
    return FLAG_SPELLINGS[raw]


def list_arg(name: str) -> tuple[str, ...]:
    """A repeatable or comma-separated query parameter; an empty item (`status=`, `a,,b`) is a 400."""
    values = tuple(v.strip() for raw in request.args.getlist(name) for v in raw.split(","))
    if any(not v for v in values):
        raise ApiError(400, "invalid_parameter", f"{name} must not have an empty value")
    return values


@cache
def _documented_query() -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    """(path template, method) -> {name: parameter} of every service-token operation's query parameters."""
    spec = load_spec()
    documented = {}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            if operation.get("security", spec.get("security")) == []:
                continue  # called by Atlassian, which adds parameters of its own; verified by the view
            parameters = [*item.get("parameters", []), *operation.get("parameters", [])]
            documented[(path, method)] = {p["name"]: p for p in parameters if p.get("in") == "query"}
    return documented


def check_query() -> None:
    """Refuse (400) query parameters the current operation does not document, or values outside their schema."""
    if request.url_rule is None:
        return
    template = _FLASK_PARAM.sub(r"{\1}", request.url_rule.rule)
    documented = _documented_query().get((template, request.method.lower()))
    if documented is None:
        return
    for name in request.args:
        if name not in documented:
            known = ", ".join(sorted(documented)) or "none"
            raise ApiError(400, "invalid_parameter",
                           f"unknown query parameter {name!r} (this operation takes: {known})")
    for name, parameter in documented.items():
        values = request.args.getlist(name)
        if not values and parameter.get("required"):
            raise ApiError(400, "invalid_parameter", f"{name} is required")
        schema = parameter.get("schema", {})
        if schema.get("type") == "array":
            schema = schema.get("items", {})
            values = [item for value in values for item in value.split(",")]
        for value in values:
            problem = _value_problem(value, schema)
            if problem:
                raise ApiError(400, "invalid_parameter", f"{name} {problem}")


def _value_problem(value: str, schema: dict[str, Any]) -> str | None:
    """What is wrong with one query value under its (simple) JSON schema, or None."""
    if value == "" and schema.get("minLength", 1) > 0:
        return "must not be empty"
    kind = schema.get("type")
    if kind == "integer":
        if not _INTEGER.fullmatch(value):
            return "must be an integer"
        number = int(value)
        low, high = schema.get("minimum"), schema.get("maximum")
        if (low is not None and number < low) or (high is not None and number > high):
            return f"must be between {low if low is not None else 'any'} and {high if high is not None else 'any'}"
        return None
    if "enum" in schema and value not in schema["enum"]:
        return f"must be one of {', '.join(str(v) for v in schema['enum'])}"
    if len(value) > schema.get("maxLength", 1000):
        return f"must be at most {schema.get('maxLength', 1000)} characters"
    if "pattern" in schema and not re.search(schema["pattern"], value):
        return "is not in the expected form"
    fmt = schema.get("format")
    if fmt == "uuid":
        try:
            uuid.UUID(value)
        except ValueError:
            return "must be a UUID"
    elif fmt == "date-time":
        try:
            stamp = datetime.fromisoformat(value)
        except ValueError:
            return "must be an ISO 8601 time"
        if stamp.tzinfo is None:
            return "must include a time zone"
    return None
