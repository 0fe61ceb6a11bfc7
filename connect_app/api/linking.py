"""Linking rules API: read and replace a customer's rules (validated, previewed, applied)."""

from __future__ import annotations

from flask import g, jsonify, request

from connect_app.api.auth import require_api
from connect_app.api.blueprint import bp
from connect_app.api.params import flag
from connect_app.atlassian.client import JiraError
from connect_app.errors import ApiError
from connect_app.linking import rule_store
from connect_app.linking.rules import RuleValidationError
from connect_app.sync.engine import replace_customer_rules
from connect_app.sync.queries import workspace_customer


def _customer(customer_id: str):
    customer = workspace_customer(g.organization.id, customer_id)
    if customer is None:
        raise ApiError(404, "not_found", "no such customer in this workspace")
    return customer


@bp.get("/jira/linking/<customer_id>")
@require_api()
def get_linking(customer_id: str):
    """The customer's linking rules."""
    customer = _customer(customer_id)
    return jsonify({"customer_id": str(customer.id),
                    "rules": [rule_store.rule_json(r) for r in rule_store.customer_rules(customer)]})


@bp.put("/jira/linking/<customer_id>")
@require_api("admin", "csm")
def put_linking(customer_id: str):
    """Replace the customer's rules: validate (JQL by Jira), preview, save and apply (?dry_run=1: preview only)."""
    customer = _customer(customer_id)
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or "rules" not in body:
        raise ApiError(400, "invalid_body", 'send {"rules": [...]}')
    try:
        result = replace_customer_rules(customer, body["rules"], g.principal.user_id, dry_run=flag("dry_run"))
    except RuleValidationError as exc:
        raise ApiError(400, "invalid_rules", str(exc),
                       details=[{"rule": i, "error": m} for i, m in sorted(exc.errors.items())]) from exc
    except JiraError as exc:
        raise ApiError(502, "jira_unavailable", f"Jira could not check the rules: {exc}") from exc
    return jsonify({"customer_id": str(customer.id)} | result)
