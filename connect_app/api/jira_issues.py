"""Issues API: a customer's Jira issues (filtered, sorted, paged; ?refresh=1 syncs first) and one issue's detail."""

from __future__ import annotations

import uuid

from flask import g, jsonify, request
from sqlalchemy import select

from connect_app.api.auth import require_api
from connect_app.api.blueprint import bp
from connect_app.api.params import flag, int_arg, list_arg, workspace_issue
from connect_app.atlassian.client import JiraError
from connect_app.errors import ApiError
from connect_app.extensions import db
from connect_app.models import JiraConnection
from connect_app.sla import store as sla
from connect_app.sync import engine, history, on_demand, queries

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
    """One issue in full: fields, custom fields by name, status timeline, who changed what, linked customers
    (?connection= if ambiguous). A key not synced yet (linked to no customer) is fetched from Jira on demand;
    ?refresh=1 fetches it again first."""
    key = key.strip().upper()
    if not on_demand.ISSUE_KEY.fullmatch(key):
        raise ApiError(400, "invalid_parameter", "key must be a Jira issue key such as CS-123")
    refresh = flag("refresh")
    try:
        found = queries.find_issue(g.organization.id, key, request.args.get("connection"))
    except queries.QueryError as exc:
        raise ApiError(400, "invalid_parameter", str(exc)) from exc
    if refresh or not found:
        held = {issue.connection_id for issue in found}
        query = select(JiraConnection).where(JiraConnection.organization_id == g.organization.id)
        if request.args.get("connection"):
            query = query.where(JiraConnection.id == uuid.UUID(request.args["connection"]))  # checked by find_issue
        asked = [c for c in db.session.scalars(query.order_by(JiraConnection.created_at)) if not held or c.id in held]
        fetched, trouble = on_demand.fetch(key, asked, reason="api.issue")
        if not fetched and not found and trouble:
            raise ApiError(502, "jira_unavailable", f"{key} is not synced and Jira could not be asked: {trouble}")
    issue = workspace_issue(g.organization.id, key)  # as stored now: 404 when no site has it, 409 when several do
    return jsonify(queries.issue_detail(g.organization.id, issue) | {"sla": sla.issue_sla(issue),
                                                                     "history": history.issue_history(issue)})


@bp.get("/jira/sync-status")
@require_api()
def sync_status():
    """Per connection of the workspace: last sync run, counts, errors, watermark and next run."""
    return jsonify({"connections": engine.sync_status(g.organization.id)})
