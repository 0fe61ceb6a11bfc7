"""Issues API: a customer's Jira issues (filtered, sorted, paged; ?refresh=1 syncs first) and one issue's detail."""

from __future__ import annotations

from flask import g, jsonify, request

from connect_app.api.auth import require_api
from connect_app.api.blueprint import bp
from connect_app.api.params import flag, int_arg, list_arg, workspace_issue
from connect_app.atlassian.client import JiraError
from connect_app.errors import ApiError
from connect_app.sla import store as sla
from connect_app.sync import engine, queries

MAX_LIMIT = 200


@bp.get("/jira/issues/<customer_id>")
@require_api()
def customer_issues(customer_id: str):
    """The customer's linked issues from the database; ?refresh=1 runs an on-demand sync of the customer first."""
    customer = queries.workspace_customer(g.organization.id, customer_id)
    if customer is None:
        raise ApiError(404, "not_found", "no such customer in this workspace")
    try:
        filters = queries.IssueFilters(
            status_category=list_arg("status_category"), priority=list_arg("priority"),
            issue_type=list_arg("type"), link_type=list_arg("link_type"), open_only=flag("open"),
            sort=request.args.get("sort", "-updated"), limit=int_arg("limit", 50, 1, MAX_LIMIT),
            offset=int_arg("offset", 0, 0, 10**9)).check()
    except queries.QueryError as exc:
        raise ApiError(400, "invalid_parameter", str(exc)) from exc
    refreshed = None
    if flag("refresh"):
        try:
            refreshed = engine.sync_customer(customer.id)
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
    issue = workspace_issue(g.organization.id, key)
    return jsonify(queries.issue_detail(g.organization.id, issue) | {"sla": sla.issue_sla(issue)})


@bp.get("/jira/sync-status")
@require_api()
def sync_status():
    """Per connection of the workspace: last sync run, counts, errors, watermark and next run."""
    return jsonify({"connections": engine.sync_status(g.organization.id)})
