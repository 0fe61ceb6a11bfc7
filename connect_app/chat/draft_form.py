"""Chat answer to "file a bug for Globex: export fails on Safari": a draft form, pre-filled, never submitted.

The form's `draft` is the body of POST /api/jira/issues (the issue-creation flow: checked against Jira,
composed with the customer's context, approved by someone else, created once). The chat creates nothing:
the CSM checks the form and submits it. The project is the one the customer's issues are mostly in, else
the one the workspace's recent issues are mostly in.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from connect_app.chat.answers import Answer, ask, pending, which_customer
from connect_app.chat.issues import connections_of
from connect_app.chat.understand import Reading
from connect_app.extensions import db
from connect_app.models import Customer, JiraConnection, JiraCustomerLink, JiraIssue
from connect_app.models.tenancy import ConnectionStatus
from connect_app.sync.queries import workspace_customer

DEFAULT_TYPE = "Bug"  # customers mostly report bugs; the form lets the CSM change it
RECENT_ISSUES = 200
SUBMIT = {"method": "POST", "path": "/api/jira/issues"}


def _usual_project(customer: Customer, active: list[JiraConnection]) -> tuple[JiraConnection, str | None]:
    """Where the customer's issues mostly are (else the workspace's recent ones): (connection, project key)."""
    ids = [c.id for c in active]
    count = func.count()
    # From the customer's links (their index), not from the connections' issues.
    found = db.session.execute(
        select(JiraCustomerLink.connection_id, JiraIssue.project_key, count).select_from(JiraCustomerLink)
        .join(JiraIssue, JiraIssue.id == JiraCustomerLink.issue_id)
        .where(JiraCustomerLink.customer_id == customer.id, JiraCustomerLink.connection_id.in_(ids))
        .group_by(JiraCustomerLink.connection_id, JiraIssue.project_key)
        .order_by(count.desc(), JiraIssue.project_key).limit(1)).first()
    if found is None:
        # Each connection's most recently updated issues, read backwards along its (connection, updated) index.
        recent = Counter((connection_id, project) for connection_id in ids for project in db.session.scalars(
            select(JiraIssue.project_key).where(JiraIssue.connection_id == connection_id)
            .order_by(JiraIssue.updated_at.desc()).limit(RECENT_ISSUES)))
        found = min(recent.items(), key=lambda item: (-item[1], item[0][1]))[0] if recent else None
    if found is None:
        return active[0], None
    return next(c for c in active if c.id == found[0]), found[1]


def create_issue(organization_id: str, reading: Reading) -> Answer:
    """A pre-filled draft form for POST /api/jira/issues: customer, project, type and summary from the text."""
    customer = reading.customer and workspace_customer(organization_id, reading.customer.customer.id)
    if customer is None:
        return ask(reading, "customer", which_customer(reading, "is it for"))
    active = sorted((c for c in connections_of(organization_id).values() if c.status == ConnectionStatus.ACTIVE),
                    key=lambda c: (c.created_at, str(c.id)))
    if not active:
        return Answer("create_issue", reading.entities(), "This workspace has no active Jira connection, so there "
                      "is nowhere to file it yet.", remember={"customer_id": str(customer.id)})
    connection, project = _usual_project(customer, active)
    draft = {"customer_id": str(customer.id), "project_key": project or "",
             "issue_type": reading.issue_type or DEFAULT_TYPE, "summary": reading.summary or "", "description": "",
             "link_type": "requested"}
    if len(active) > 1:
        draft["connection_id"] = str(connection.id)
    missing = [name for name in ("project_key", "summary") if not draft[name]]
    card = {"kind": "draft_form", "submit": SUBMIT, "customer": {"id": str(customer.id), "name": customer.name},
            "draft": draft, "missing": missing}
    where = f" in {project}" if project else ""
    titled = f": “{reading.summary}”" if reading.summary else ""
    reply = f"Here is a draft {draft['issue_type']} for {customer.name}{where}{titled}. Nothing is created in Jira " \
            "until you submit it for approval."
    answer = Answer("create_issue", reading.entities(), reply, card, remember={"customer_id": str(customer.id)})
    if not reading.summary:
        answer.reply += " What should its summary say?"
        answer.pending = pending(reading, "summary")
    elif not project:
        answer.reply += " Which Jira project should it go to? Fill it in on the form."
    return answer
