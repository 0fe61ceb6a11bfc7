"""Request parsing shared by the API views: JSON bodies and query parameters, each with a precise 400."""

from __future__ import annotations

from flask import request

from connect_app.errors import ApiError
from connect_app.models import JiraIssue
from connect_app.sync import queries


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
    """A boolean query parameter (1, true, yes)."""
    return request.args.get(name, "").lower() in ("1", "true", "yes")


def list_arg(name: str) -> tuple[str, ...]:
    """A repeatable or comma-separated query parameter."""
    return tuple(v.strip() for raw in request.args.getlist(name) for v in raw.split(",") if v.strip())
