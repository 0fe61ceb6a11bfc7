"""Issue creation API: drafts (create, edit, withdraw, list), approvals, retries, link-instead, create metadata."""

from __future__ import annotations

from flask import g, jsonify, request

from connect_app.api.auth import ROLES, require_api
from connect_app.api.blueprint import bp
from connect_app.api.params import int_arg, json_body, list_arg
from connect_app.atlassian.client import JiraError
from connect_app.connections.access import jira_client
from connect_app.creation import create, drafts, meta
from connect_app.delivery.outbox import submit_deliveries
from connect_app.errors import ApiError
from connect_app.models.governance import DRAFT_STATUSES
from connect_app.platform import jobs


def _after(outcome: drafts.Outcome, status: int = 200):
    """After the commit: pushes, then the creation (inline without Redis: the answer shows its result)."""
    submit_deliveries(outcome.messages)
    if outcome.create:
        jobs.enqueue(create.create_issue_job, str(outcome.draft.id))
    draft = drafts.find_draft(g.organization.id, str(outcome.draft.id))
    return jsonify({"draft": drafts.draft_view(draft)}), status


def _optional_body() -> object:
    return None if not request.get_data() else json_body()


@bp.post("/jira/issues")
@require_api(*drafts.REQUESTER_ROLES)
def create_draft():
    """Draft a Jira issue for a customer: checked against Jira, pre-filled with context, sent for approval."""
    return _after(drafts.create_draft(g.organization.id, g.principal, json_body()), 201)


@bp.get("/jira/create-meta")
@require_api()
def create_meta():
    """What Jira's create screen takes for ?project=&type= (required fields, allowed values); ?connection=."""
    project, issue_type = request.args.get("project", "").strip(), request.args.get("type", "").strip()
    missing = [name for name, value in (("project", project), ("type", issue_type)) if not value]
    if missing:
        raise ApiError(400, "invalid_parameter", f"{' and '.join(missing)} required",
                       dict.fromkeys(missing, "is required"))
    connection = drafts.pick_connection(g.organization.id, request.args.get("connection"))
    try:
        screen = meta.create_meta(connection.id, jira_client(connection), project.upper(), issue_type)
    except meta.MetaError as exc:
        raise ApiError(422, "invalid_for_jira", str(exc), exc.errors) from exc
    except JiraError as exc:
        raise ApiError(502, "jira_unavailable", f"Jira did not answer the create metadata request: {exc}") from exc
    return jsonify({"connection_id": str(connection.id), **screen.view()})


@bp.get("/jira/drafts")
@require_api()
def list_drafts():
    """Drafts, newest first: ?status= (the approvers' queue is status=pending_approval), ?mine=1, ?customer_id=."""
    statuses = list_arg("status")
    unknown = sorted(set(statuses) - set(DRAFT_STATUSES))
    if unknown:
        raise ApiError(400, "invalid_parameter",
                       f"unknown status {', '.join(unknown)}; one of {', '.join(DRAFT_STATUSES)}")
    mine = request.args.get("mine", "")
    if mine not in ("", "0", "1", "true", "false"):
        raise ApiError(400, "invalid_parameter", "mine must be 1 or 0")
    limit, offset = int_arg("limit", 50, 1, 200), int_arg("offset", 0, 0, 10**9)
    total, rows = drafts.list_drafts(
        g.organization.id, statuses=statuses, customer_id=request.args.get("customer_id"),
        requested_by=g.principal.user_id if mine in ("1", "true") else None, limit=limit, offset=offset)
    return jsonify({"total": total, "limit": limit, "offset": offset, "drafts": [drafts.draft_view(d) for d in rows]})


@bp.get("/jira/drafts/<draft_id>")
@require_api()
def get_draft(draft_id: str):
    """One draft with its approvals, preview, suggestion and duplicates."""
    return jsonify({"draft": drafts.draft_view(drafts.find_draft(g.organization.id, draft_id))})


@bp.patch("/jira/drafts/<draft_id>")
@require_api(*drafts.REQUESTER_ROLES)
def edit_draft(draft_id: str):
    """The requester edits a pending draft (checked and composed again; approvals given so far lapse)."""
    return _after(drafts.edit_draft(g.organization.id, g.principal, draft_id, json_body()))


@bp.delete("/jira/drafts/<draft_id>")
@require_api(*drafts.REQUESTER_ROLES)
def withdraw_draft(draft_id: str):
    """The requester withdraws a pending draft."""
    return _after(drafts.withdraw_draft(g.organization.id, g.principal, draft_id))


@bp.post("/jira/drafts/<draft_id>/approve")
@require_api()
def approve_draft(draft_id: str):
    """An approver (not the requester) approves; the last approval needed creates the issue."""
    return _after(drafts.decide(g.organization.id, g.principal, draft_id, "approved", _optional_body()))


@bp.post("/jira/drafts/<draft_id>/reject")
@require_api()
def reject_draft(draft_id: str):
    """An approver (not the requester) rejects, with a reason."""
    return _after(drafts.decide(g.organization.id, g.principal, draft_id, "rejected", _optional_body()))


@bp.post("/jira/drafts/<draft_id>/retry")
@require_api()
def retry_draft(draft_id: str):
    """Create a failed draft's issue again (the requester or an approver)."""
    return _after(drafts.retry_draft(g.organization.id, g.principal, draft_id))


@bp.post("/jira/drafts/<draft_id>/link-instead")
@require_api()
def link_instead(draft_id: str):
    """Link the draft's customer to an existing issue (e.g. a suggested duplicate) and close the draft."""
    return _after(drafts.link_instead(g.organization.id, g.principal, draft_id, json_body()))


@bp.get("/jira/settings/issue-creation")
@require_api()
def get_creation_settings():
    """How many approvals a draft needs and which roles approve."""
    settings = drafts.approval_settings(g.organization.id)
    return jsonify({"approvals_required": settings.approvals_required, "approver_roles": list(settings.approver_roles)})


@bp.put("/jira/settings/issue-creation")
@require_api("admin")
def put_creation_settings():
    """Admins: {"approvals_required": 0-5, "approver_roles": [...]} (applies to drafts made from now on)."""
    settings = drafts.save_approval_settings(g.organization.id, json_body(), ROLES)
    return jsonify({"approvals_required": settings.approvals_required, "approver_roles": list(settings.approver_roles)})
