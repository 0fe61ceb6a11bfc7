"""Impact API: the customers an issue affects, open issues ranked by impact, issue health, the settings."""

from __future__ import annotations

import csv
import io
import uuid

from flask import Response, g, jsonify, request

from connect_app.api.auth import require_api
from connect_app.api.blueprint import bp
from connect_app.api.params import int_arg, json_body, list_arg, workspace_issue
from connect_app.errors import ApiError
from connect_app.impact import health, queries, store
from connect_app.impact.score import SEVERITIES, SettingsError
from connect_app.models import TIERS
from connect_app.models.issues import STATUS_CATEGORIES
from connect_app.platform import jobs
from connect_app.sync import queries as issue_queries

MAX_LIMIT = 500


@bp.get("/jira/affected-customers/<key>")
@require_api()
def affected_customers(key: str):
    """The customers an issue affects, with totals and its impact score (?connection= if the key is ambiguous)."""
    return jsonify(queries.affected_customers(workspace_issue(g.organization.id, key)))


def _one_of(name: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    values = list_arg(name)
    wrong = [v for v in values if v not in allowed]
    if wrong:
        raise ApiError(400, "invalid_parameter", f"{name} must be one of {', '.join(allowed)} (got {wrong[0]!r})")
    return values


def _rank_filters() -> queries.RankFilters:
    min_severity = request.args.get("min_severity") or None
    if min_severity is not None and min_severity not in SEVERITIES:
        raise ApiError(400, "invalid_parameter", f"min_severity must be one of {', '.join(SEVERITIES)}")
    return queries.RankFilters(
        project=list_arg("project"), type=list_arg("type"), priority=list_arg("priority"),
        status_category=_one_of("status_category", STATUS_CATEGORIES), component=list_arg("component"),
        customer_tier=_one_of("customer_tier", TIERS), min_severity=min_severity,
        limit=int_arg("limit", 50, 1, MAX_LIMIT), offset=int_arg("offset", 0, 0, 10_000_000))


@bp.get("/jira/impact")
@require_api()
def impact_ranking():
    """Open issues ranked by impact, filtered; `?format=csv` exports the same rows."""
    export = request.args.get("format", "json")
    if export not in ("json", "csv"):
        raise ApiError(400, "invalid_parameter", "format must be json or csv")
    ranked = queries.rank(g.organization.id, _rank_filters())
    if export == "json":
        return jsonify(ranked)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(queries.CSV_COLUMNS)
    writer.writerows(queries.csv_row(row) for row in ranked["issues"])
    return Response(out.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": 'attachment; filename="issue-impact.csv"', "X-Total-Count": str(ranked["total"])})


@bp.get("/customers/<uuid:customer_id>/issue-health")
@require_api()
def customer_issue_health(customer_id: uuid.UUID):
    """The customer's issue health: a 0-100 score, a label, its factors and the top open issues by impact."""
    customer = issue_queries.workspace_customer(g.organization.id, str(customer_id))
    if customer is None:
        raise ApiError(404, "not_found", "no such customer in this workspace")
    return jsonify(health.customer_health(customer))


def _settings_view(settings) -> dict:
    return {"settings": settings.as_dict(), "reference_arr": store.reference_arr(g.organization.id)}


@bp.get("/jira/impact/settings")
@require_api()
def impact_settings():
    """The workspace's impact weights, bands and scales, and the reference ARR in use."""
    return jsonify(_settings_view(store.settings_of(g.organization.id)))


@bp.put("/jira/impact/settings")
@require_api("admin")
def update_impact_settings():
    """Change the impact settings (only the fields given; maps are merged), then rescore every issue."""
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "send the settings to change as a JSON object")
    current = store.settings_of(g.organization.id).as_dict()
    merged = {key: current[key] | value if isinstance(current.get(key), dict) and isinstance(value, dict) else value
              for key, value in body.items()}
    try:
        settings = store.save_settings(g.organization.id, current | merged)
    except SettingsError as exc:
        raise ApiError(400, "invalid_settings", str(exc), details=exc.errors) from exc
    jobs.enqueue(store.recompute_workspace_job, g.organization.id)
    return jsonify(_settings_view(settings) | {"rescoring": True})
