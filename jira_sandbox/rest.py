"""The REST blueprint under `/rest/api/{2,3,latest}` and the helpers its views share.

Cloud answers v3, v2 and latest (v2 with v2 shapes: wiki-text descriptions); Server answers v2
and latest only. The views live in `api_issues`, `api_search` and `api_meta`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, g, request

from jira_sandbox.errors import JiraError

bp = Blueprint("rest", __name__, url_prefix="/rest/api/<any('2','3','latest'):api>")


@bp.url_value_preprocessor
def _pull_api_version(endpoint, values):
    api = values.pop("api", "2")
    if api == "3" and site().flavour != "cloud":
        abort(404)
    g.api_version = 3 if api == "3" else 2


def site():
    """The SandboxState this app serves."""
    return current_app.extensions["jira_sandbox"]


def api_version() -> int:
    """2 or 3, from the URL."""
    return g.api_version


def caller_id() -> str:
    """The authenticated user's id."""
    return g.principal.user_id


def json_body() -> dict:
    """The request's JSON object, or a Jira 400."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise JiraError(400, ["No content to map to Object due to end of input"])
    return body


def int_arg(name: str, default: int, source: dict | None = None) -> int:
    """A non-negative integer query/body parameter, or a Jira 400."""
    raw = (source if source is not None else request.args).get(name, default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise JiraError(400, [f"The value '{raw}' is invalid for the parameter '{name}'."]) from None
    if value < 0:
        raise JiraError(400, [f"The '{name}' parameter must not be negative."])
    return value


def list_arg(name: str, source: dict | None = None) -> Any:
    """A list parameter: repeated query args or comma strings (GET) or a JSON list (POST)."""
    if source is not None:
        return source.get(name)
    values = request.args.getlist(name)
    return ",".join(values) if values else None


def page(values: list, start_at: int, max_results: int) -> dict:
    """Jira's offset-paged envelope (`startAt`, `maxResults`, `total`, `isLast`, `values`)."""
    chunk = values[start_at:start_at + max_results]
    return {"self": request.url, "maxResults": max_results, "startAt": start_at, "total": len(values),
            "isLast": start_at + len(chunk) >= len(values), "values": chunk}
