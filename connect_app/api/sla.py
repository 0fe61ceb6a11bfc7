"""SLA API: policies (admins write, everyone reads) and the board of clocks at risk or breached."""

from __future__ import annotations

import uuid

from flask import g, jsonify

from connect_app.api.auth import require_api
from connect_app.api.blueprint import bp
from connect_app.api.params import int_arg, json_body, list_arg
from connect_app.errors import ApiError
from connect_app.models.governance import SLA_STATES
from connect_app.platform import jobs
from connect_app.sla import store
from connect_app.sla.policies import PolicyError
from connect_app.sync.queries import workspace_customer


def _policy(policy_id: uuid.UUID):
    row = store.find_policy(g.organization.id, policy_id)
    if row is None:
        raise ApiError(404, "not_found", "no such SLA policy in this workspace")
    return row


def _save(row=None):
    try:
        saved = store.save_policy(g.organization.id, json_body(), g.principal.user_id, row)
    except PolicyError as exc:
        status = 409 if set(exc.errors) == {"name"} and "has that name" in exc.errors["name"] else 400
        raise ApiError(status, "invalid_policy" if status == 400 else "duplicate_name", str(exc),
                       details=exc.errors) from exc
    # After the commit: the clocks of the issues it covers (inline without Redis, a job with it).
    jobs.enqueue(store.evaluate_policy_job, str(saved.id))
    return saved


@bp.post("/jira/sla/policies")
@require_api("admin")
def create_sla_policy():
    """Create an SLA policy, then evaluate it on every linked issue."""
    return jsonify(store.policy_view(_save())), 201


@bp.get("/jira/sla/policies")
@require_api()
def list_sla_policies():
    """The workspace's SLA policies."""
    return jsonify({"policies": [store.policy_view(row) for row in store.list_policies(g.organization.id)]})


@bp.get("/jira/sla/policies/<uuid:policy_id>")
@require_api()
def get_sla_policy(policy_id: uuid.UUID):
    """One SLA policy."""
    return jsonify(store.policy_view(_policy(policy_id)))


@bp.put("/jira/sla/policies/<uuid:policy_id>")
@require_api("admin")
def update_sla_policy(policy_id: uuid.UUID):
    """Replace an SLA policy (a new version), then re-evaluate the issues it covers."""
    return jsonify(store.policy_view(_save(_policy(policy_id))))


@bp.delete("/jira/sla/policies/<uuid:policy_id>")
@require_api("admin")
def delete_sla_policy(policy_id: uuid.UUID):
    """Delete an SLA policy and its clocks (alerts already sent stay in the notifications)."""
    if not store.delete_policy(g.organization.id, policy_id):
        raise ApiError(404, "not_found", "no such SLA policy in this workspace")
    return "", 204


@bp.get("/jira/sla")
@require_api()
def sla_board():
    """The SLA board: clocks in these states (default at_risk, breached), most urgent first."""
    states = list_arg("state") or ("at_risk", "breached")
    wrong = [s for s in states if s not in SLA_STATES]
    if wrong:
        raise ApiError(400, "invalid_parameter", f"state must be among {', '.join(SLA_STATES)} (got {wrong[0]!r})")
    customer_id = policy_id = None
    if raw := list_arg("customer_id"):
        customer = workspace_customer(g.organization.id, raw[0])
        if customer is None:
            raise ApiError(404, "not_found", "no such customer in this workspace")
        customer_id = customer.id
    if raw := list_arg("policy_id"):
        try:
            policy_id = _policy(uuid.UUID(raw[0])).id
        except ValueError as exc:
            raise ApiError(400, "invalid_parameter", "policy_id must be a UUID") from exc
    return jsonify(store.board(g.organization.id, states=tuple(states), customer_id=customer_id, policy_id=policy_id,
                               limit=int_arg("limit", 100, 1, 500), offset=int_arg("offset", 0, 0, 10_000_000)))
