"""Request parsing shared by the API views: JSON bodies and query parameters, each with a precise 400."""

from __future__ import annotations

from flask import request

from connect_app.errors import ApiError


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


def flag(name: str) -> bool:
    """A boolean query parameter (1, true, yes)."""
    return request.args.get(name, "").lower() in ("1", "true", "yes")


def list_arg(name: str) -> tuple[str, ...]:
    """A repeatable or comma-separated query parameter."""
    return tuple(v.strip() for raw in request.args.getlist(name) for v in raw.split(",") if v.strip())
