"""Issues API: a customer's Jira issues (filtered, sorted, paged; ?refresh=1 syncs first) and one issue's detail."""

from __future__ import annotations

from flask import g, jsonify, request

from connect_app import issue_queries as queries
from connect_app.api import bp
from connect_app.atlassian.client import JiraError
from connect_app.auth import require_api
from connect_app.errors import ApiError

MAX_LIMIT = 200


def _list_arg(name: str) -> tuple[str, ...]:
    values = [v.strip() for raw in request.args.getlist(name) for v in raw.split(",") if v.strip()]
    return tuple(values)


def _int_arg(name: str, default: int, low: int, high: int) -> int:
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


def _flag(name: str) -> bool:
    return request.args.get(name, "").lower() in ("1", "true", "yes")


@bp.get("/jira/issues/<customer_id>")
@require_api()
def customer_issues(customer_id: str):
    """The customer's linked issues from the database; ?refresh=1 runs an on-demand sync of the customer first."""
    customer = queries.workspace_customer(g.organization.id, customer_id)
    if customer is None:
        raise ApiError(404, "not_found", "no such customer in this workspace")
    try:
        filters = queries.IssueFilters(
            status_category=_list_arg("status_category"), priority=_list_arg("priority"),
            issue_type=_list_arg("type"), link_type=_list_arg("link_type"), open_only=_flag("open"),
            sort=request.args.get("sort", "-updated"), limit=_int_arg("limit", 50, 1, MAX_LIMIT),
            offset=_int_arg("offset", 0, 0, 10**9)).check()
    except queries.QueryError as exc:
        raise ApiError(400, "invalid_parameter", str(exc)) from exc
    refreshed = None
    if _flag("refresh"):
        from connect_app.sync import sync_customer

        try:
            refreshed = sync_customer(customer.id)
        except JiraError as exc:
            raise ApiError(502, "jira_unavailable", f"the on-demand sync failed: {exc}") from exc
    result = queries.customer_issues(g.organization.id, customer, filters)
    return jsonify({"customer": {"id": str(customer.id), "name": customer.name, "slug": customer.slug},
                    "total": result["total"], "limit": filters.limit, "offset": filters.offset,
                    "refreshed": refreshed, "issues": result["issues"]})


@bp.get("/jira/issue/<key>")
@require_api()
def issue_detail(key: str):
    """One issue in full: fields, custom fields, status timeline, linked customers (?connection= if ambiguous)."""
    try:
        found = queries.find_issue(g.organization.id, key, request.args.get("connection"))
    except queries.QueryError as exc:
        raise ApiError(400, "invalid_parameter", str(exc)) from exc
    if not found:
        raise ApiError(404, "not_found", f"issue {key} is not synced in this workspace")
    if len(found) > 1:
        raise ApiError(409, "ambiguous", f"{key} exists on several connections; pass ?connection=<id>",
                       details=[str(issue.connection_id) for issue in found])
    return jsonify(queries.issue_detail(g.organization.id, found[0]))


@bp.get("/jira/sync-status")
@require_api()
def sync_status():
    """Per connection of the workspace: last sync run, counts, errors, watermark and next run."""
    from connect_app.sync import sync_status as status

    return jsonify({"connections": status(g.organization.id)})
