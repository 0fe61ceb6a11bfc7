"""The new-issue form and the approvals pages: the issue-creation flow (`connect_app.creation`) for people."""

from __future__ import annotations

import uuid
from typing import Any

from flask import g, render_template, request

from connect_app.atlassian.client import JiraError
from connect_app.connections.access import jira_client
from connect_app.creation import create, drafts, meta
from connect_app.creation.suggest import Account, suggest
from connect_app.delivery.outbox import submit_deliveries
from connect_app.errors import ApiError
from connect_app.extensions import db
from connect_app.impact.store import reference_arr, settings_of
from connect_app.jira_app.issue_customers import LinkError, add_manual_link
from connect_app.models import LINK_TYPES, Customer, IssueDraft, JiraConnection
from connect_app.models.types import utcnow
from connect_app.pages.adf import render as render_adf
from connect_app.pages.frame import bp
from connect_app.platform import jobs
from connect_app.sync import queries

SHOWN_DRAFTS = 50


def _customer(customer_id: str | None) -> Customer:
    customer = queries.workspace_customer(g.organization.id, customer_id or "")
    if customer is None:
        raise ApiError(404, "not_found", "no such customer in this workspace")
    return customer


def _jira(call, *args):
    try:
        return call(*args)
    except JiraError as exc:
        raise ApiError(502, "jira_unavailable", f"Jira did not answer: {exc}") from exc


def _screen(connection: JiraConnection, project: str | None, issue_type: str | None) -> dict[str, Any]:
    """The projects, the project's issue types and the chosen type's create screen."""
    client = jira_client(connection)
    projects = _jira(meta.projects, connection.id, client)
    if not projects:
        raise ApiError(409, "no_project", "the Jira connection cannot see any project")
    project = (project or "").upper() if (project or "").upper() in projects else projects[0]
    types = [str(t.get("name")) for t in _jira(meta.issue_types, connection.id, client, project)]
    if not types:
        raise ApiError(409, "no_issue_type", f"{project} offers no issue type the connection may create")
    chosen = issue_type if issue_type in types else ("Bug" if "Bug" in types else types[0])
    try:
        screen = _jira(meta.create_meta, connection.id, client, project, chosen)
    except meta.MetaError as exc:
        raise ApiError(422, "invalid_for_jira", str(exc), exc.errors) from exc
    extra = [f for f in screen.fields.values()
             if f.id not in meta.ALWAYS_OURS and f.required and not f.has_default]
    return {"projects": projects, "project": project, "types": types, "issue_type": chosen, "screen": screen,
            "extra": sorted(extra, key=lambda f: f.name)}


def _form_context(customer: Customer, connection: JiraConnection) -> dict[str, Any]:
    shown = _screen(connection, request.args.get("project"), request.args.get("type"))
    suggestion = suggest(Account(customer.name, customer.tier, float(customer.arr or 0), customer.health_score,
                                 customer.renewal_date), "requested", shown["screen"].priorities(),
                         settings_of(customer.organization_id), reference_arr(customer.organization_id),
                         utcnow().date())
    return {"customer": customer, "connection": connection, "suggestion": suggestion, "link_types": LINK_TYPES,
            "summary": request.args.get("summary", "")[:drafts.MAX_SUMMARY], **shown}


@bp.get("/issues/new")
def new_issue():
    """The new-issue form for a customer: Jira's create screen, the priority suggestion, duplicates as you type."""
    customer = _customer(request.args.get("customer"))
    connection = drafts.pick_connection(g.organization.id, request.args.get("connection"))
    context = _form_context(customer, connection)
    if request.headers.get("HX-Target") == "screen-fields":
        return render_template("pages/_new_issue_fields.html", **context)
    return render_template("pages/new_issue.html", **context)


def _body(form) -> dict[str, Any]:
    """The draft request from the form (the same body POST /api/jira/issues takes)."""
    body: dict[str, Any] = {"customer_id": form.get("customer_id", ""), "connection_id": form.get("connection_id"),
                            "project_key": form.get("project_key", ""), "issue_type": form.get("issue_type", ""),
                            "summary": form.get("summary", ""), "description": form.get("description", ""),
                            "link_type": form.get("link_type", "requested"),
                            "stakeholder_ids": form.getlist("stakeholder_ids")}
    if form.get("priority"):
        body["priority"] = form["priority"]
    fields = {name[len("field."):]: value for name, value in form.items() if name.startswith("field.") and value}
    if fields:
        body["fields"] = {k: _number(v) for k, v in fields.items()}
    return body


def _number(value: str) -> Any:
    try:
        return int(value) if value.strip().lstrip("-").isdigit() else float(value) if "." in value else value
    except ValueError:
        return value


@bp.post("/issues/new/preview")
def preview():
    """Exactly what Jira will receive, or every field Jira would refuse (nothing is stored)."""
    values = _body(request.form)
    customer = _customer(values["customer_id"])
    try:
        parsed = drafts.parse_body(values)
        connection = drafts.pick_connection(g.organization.id, parsed.get("connection_id"))
        draft = IssueDraft(id=uuid.uuid4(), organization_id=g.organization.id, connection_id=connection.id,
                           customer_id=customer.id, project_key=parsed["project_key"], issue_type=parsed["issue_type"],
                           summary=parsed["summary"], description=parsed.get("description") or "",
                           priority=parsed.get("priority"), link_type=parsed["link_type"],
                           stakeholder_ids=parsed.get("stakeholder_ids") or [], extra_fields=parsed.get("fields") or {},
                           requested_by=g.principal.user_id, requested_by_email=g.principal.email)
        drafts.compose(draft, connection, customer, jira_client(connection))
    except drafts.DraftError as exc:
        db.session.rollback()
        return render_template("pages/_draft_errors.html", error=exc)
    except JiraError as exc:
        raise ApiError(502, "jira_unavailable", f"Jira did not answer: {exc}") from exc
    db.session.rollback()  # a preview stores nothing
    return render_template("pages/_draft_preview.html", preview=draft.preview, render_adf=render_adf,
                           suggestion=draft.suggestion)


@bp.get("/issues/new/duplicates")
def duplicates():
    """Open issues that read like the summary so far (debounced as the CSM types)."""
    customer = _customer(request.args.get("customer"))
    summary = request.args.get("summary", "").strip()[:drafts.MAX_SUMMARY]
    project = (request.args.get("project_key") or request.args.get("project") or "").strip().upper()[:40]
    if len(summary) < 4 or not project:
        return render_template("pages/_duplicates.html", customer=customer, found=[], summary=summary)
    connection = drafts.pick_connection(g.organization.id, request.args.get("connection"))
    found = drafts.duplicates_for(connection, jira_client(connection), project, summary,
                                  request.args.get("description", "")[:2000])
    return render_template("pages/_duplicates.html", customer=customer, found=found, summary=summary)


@bp.post("/customers/<customer_id>/links")
def link_existing(customer_id: str):
    """"Link to this one instead": the customer joins an existing issue (a manual link, written back to Jira)."""
    customer = _customer(customer_id)
    key = request.form.get("key", "").strip().upper()
    link_type = request.form.get("link_type", "requested")
    if not key or len(key) > 60 or link_type not in LINK_TYPES:
        raise ApiError(400, "invalid_parameter", "an issue key and a link type are required")
    connection = drafts.pick_connection(g.organization.id, request.form.get("connection_id"))
    try:
        add_manual_link(connection, key, str(customer.id), link_type, g.principal.user_id, jira_client(connection),
                        actor_type="cscx_user")
    except LinkError as exc:
        raise ApiError(exc.status, "cannot_link", str(exc)) from exc
    except JiraError:
        pass  # the link is stored; the label and property are written again on the next change
    return render_template("pages/_linked.html", customer=customer, key=key)


def _settle(outcome: drafts.Outcome) -> IssueDraft:
    """After a lifecycle step's commit: its pushes, and the creation when it was the last approval."""
    submit_deliveries(outcome.messages)
    if outcome.create:
        jobs.enqueue(create.create_issue_job, str(outcome.draft.id))
    return drafts.find_draft(g.organization.id, str(outcome.draft.id))


@bp.post("/issues/new")
def submit():
    """Submit the form: a draft, sent for approval (created at once when the workspace needs none)."""
    values = _body(request.form)
    try:
        draft = _settle(drafts.create_draft(g.organization.id, g.principal, values))
    except drafts.DraftError as exc:
        if exc.status in (400, 422):
            db.session.rollback()
            return render_template("pages/_draft_errors.html", error=exc), exc.status, {
                "HX-Retarget": "#draft-errors", "HX-Reswap": "innerHTML"}
        raise
    # The draft's own page replaces the whole page (nav and title too), not just the form's #main.
    return render_template("pages/draft.html", **_draft_context(draft)), 200, {
        "HX-Retarget": "body", "HX-Reswap": "innerHTML"}


def _draft_context(draft: IssueDraft) -> dict[str, Any]:
    settings = drafts.approval_settings(g.organization.id)
    return {"draft": draft, "view": drafts.draft_view(draft), "customer": db.session.get(Customer, draft.customer_id),
            "render_adf": render_adf, "can_decide": g.principal.role in settings.approver_roles
            and draft.requested_by != g.principal.user_id and draft.status == "pending_approval",
            "already": any(a["approver_id"] == g.principal.user_id for a in drafts.draft_view(draft)["approvals"])}


@bp.get("/approvals")
def approvals():
    """The approvers' queue (pending drafts by others) and the user's own drafts with their states."""
    settings = drafts.approval_settings(g.organization.id)
    queue = []
    if g.principal.role in settings.approver_roles:
        _, pending = drafts.list_drafts(g.organization.id, statuses=("pending_approval",), limit=SHOWN_DRAFTS)
        queue = [d for d in pending if d.requested_by != g.principal.user_id]
    _, mine = drafts.list_drafts(g.organization.id, requested_by=g.principal.user_id, limit=SHOWN_DRAFTS)
    names = {c.id: c.name for c in db.session.query(Customer).filter(
        Customer.id.in_({d.customer_id for d in queue + mine} or {uuid.uuid4()}))}
    return render_template("pages/approvals.html", queue=queue, mine=mine, names=names,
                           approver=g.principal.role in settings.approver_roles)


@bp.get("/approvals/<draft_id>")
def draft_page(draft_id: str):
    """One draft: what Jira will get, the suggestion, duplicates, approvals; approve or reject."""
    return render_template("pages/draft.html", **_draft_context(drafts.find_draft(g.organization.id, draft_id)))


@bp.post("/approvals/<draft_id>/<decision>")
def decide(draft_id: str, decision: str):
    """Approve or reject (a reason is required to reject); the answer is the draft as it now stands."""
    if decision not in ("approve", "reject"):
        raise ApiError(404, "not_found", "no such action")
    comment = request.form.get("comment") or None
    try:
        draft = _settle(drafts.decide(g.organization.id, g.principal, draft_id,
                                      "approved" if decision == "approve" else "rejected", {"comment": comment}))
    except drafts.DraftError as exc:
        if exc.status in (400, 409):
            db.session.rollback()
            context = _draft_context(drafts.find_draft(g.organization.id, draft_id))
            return render_template("pages/_draft_detail.html", error=exc, **context), exc.status
        raise
    return render_template("pages/_draft_detail.html", **_draft_context(draft))
