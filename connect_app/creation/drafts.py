"""Drafts: what a CSM asks Jira to create, checked and composed, then approved (or not) by others.

Lifecycle: pending_approval -> approved -> creating -> created, or -> rejected / withdrawn /
linked_existing; creating -> failed (Jira refused, or is down: then retried by itself with backoff)
-> approved again on retry. With `approvals_required` 0 a draft is approved as it is made.
Composition (description with the customer's context, labels, the rule's custom field, the
priority) happens when the draft is made or edited: approvers approve exactly what Jira will get.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol
from urllib.parse import quote

from flask import current_app
from sqlalchemy import delete, func, select

from connect_app.atlassian.client import JiraClient, JiraError
from connect_app.atlassian.jql import jql_string, lucene_escape
from connect_app.connections.access import jira_client
from connect_app.creation import describe, duplicates, meta
from connect_app.creation.suggest import Account, suggest
from connect_app.delivery import outbox
from connect_app.errors import ApiError
from connect_app.extensions import db
from connect_app.impact.queries import browse_url
from connect_app.impact.store import reference_arr, settings_of
from connect_app.jira_app.issue_customers import LinkError, add_manual_link
from connect_app.linking.rule_store import customer_label, rules_for
from connect_app.models import (
    LINK_TYPES,
    AuditEntry,
    Customer,
    DraftApproval,
    IssueDraft,
    JiraConnection,
    JiraCustomerLink,
    JiraIssue,
    Organization,
)
from connect_app.models.tenancy import ConnectionStatus
from connect_app.models.types import iso, utcnow

log = logging.getLogger(__name__)

MAX_SUMMARY = 255  # Jira's limit
MAX_DESCRIPTION = 30_000  # Jira's text fields hold 32,767 characters; the context needs the rest
MAX_EXTRA_FIELDS = 50
DEFAULT_APPROVALS = 1
DEFAULT_APPROVER_ROLES = ("approver", "admin")
REQUESTER_ROLES = ("csm", "pm", "support", "admin")
OTHER_OPEN_ISSUES = 10
DUPLICATE_POOL = 20_000  # the most recently updated open issues of the project considered
JIRA_SEARCH_WORDS = 8
JIRA_SEARCH_LIMIT = 50
WORD = re.compile(r"[^\W_]+")
STOP_WORDS = frozenset({"the", "and", "for", "with", "from", "when", "not", "are", "was", "has", "have", "does",
                        "this", "that", "into", "onto", "off", "our", "their", "its", "can", "cannot", "will"})
OPEN_STATUSES = ("pending_approval",)
DECIDED_TOPIC = "jira.draft.decided"
SUBMITTED_TOPIC = "jira.draft.submitted"


class DraftError(ApiError):
    """A draft request that cannot be served; status, stable code, message and per-field details."""


class Principal(Protocol):
    """Who acts: a CSCX.AI user of the workspace, with their role (the API's service-token principal)."""

    user_id: str
    email: str | None
    role: str


# ---- workspace settings -------------------------------------------------------------------------

@dataclass(frozen=True)
class ApprovalSettings:
    """How many approvals a draft needs (0: none) and which roles may give them."""

    approvals_required: int = DEFAULT_APPROVALS
    approver_roles: tuple[str, ...] = DEFAULT_APPROVER_ROLES


def approval_settings(organization_id: str) -> ApprovalSettings:
    """The workspace's approval settings (defaults where unset)."""
    organization = db.session.get(Organization, organization_id)
    raw = ((organization.settings if organization else None) or {}).get("issue_creation") or {}
    return ApprovalSettings(int(raw.get("approvals_required", DEFAULT_APPROVALS)),
                            tuple(raw.get("approver_roles") or DEFAULT_APPROVER_ROLES))


def save_approval_settings(organization_id: str, raw: Any, roles_known: Iterable[str]) -> ApprovalSettings:
    """Validate and store {"approvals_required": 0..5, "approver_roles": [...]} (either may be left out)."""
    known = tuple(roles_known)
    if not isinstance(raw, dict):
        raise DraftError(400, "invalid_body", "the body must be a JSON object")
    errors: dict[str, str] = {}
    unknown = sorted(set(raw) - {"approvals_required", "approver_roles"})
    if unknown:
        errors |= dict.fromkeys(unknown, "unknown setting")
    current = approval_settings(organization_id)
    count = raw.get("approvals_required", current.approvals_required)
    if isinstance(count, float) and count.is_integer():
        count = int(count)  # JSON's 2.0 is the integer 2
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 5:
        errors["approvals_required"] = "must be a whole number from 0 (no approval) to 5"
    roles = raw.get("approver_roles", list(current.approver_roles))
    if not isinstance(roles, list) or not roles or not all(r in known for r in roles):
        errors["approver_roles"] = f"must be a non-empty list of roles among {', '.join(known)}"
    if errors:
        raise DraftError(422, "invalid_settings", "the approval settings are not valid", errors)
    organization = db.session.get(Organization, organization_id)
    organization.settings = dict(organization.settings or {}) | {
        "issue_creation": {"approvals_required": count, "approver_roles": sorted(set(roles))}}
    db.session.commit()
    return approval_settings(organization_id)


# ---- the request body ---------------------------------------------------------------------------

FIELDS = ("customer_id", "connection_id", "project_key", "issue_type", "summary", "description", "priority",
          "link_type", "stakeholder_ids", "fields")
EDITABLE = frozenset(FIELDS) - {"customer_id", "connection_id"}


def _text(raw: dict, name: str, errors: dict[str, str], *, required: bool, limit: int) -> str | None:
    value = raw.get(name)
    if value is None:
        if required:
            errors[name] = "is required"
        return None
    if not isinstance(value, str):
        errors[name] = "must be a string"
        return None
    value = value.strip() if name != "description" else value.rstrip()
    if required and not value:
        errors[name] = "must not be empty"
    elif len(value) > limit:
        errors[name] = f"must be at most {limit} characters"
    elif any(ord(c) < 32 and c not in "\n\t\r" for c in value) or "\x00" in value:
        errors[name] = "must not contain control characters"
    return value


def parse_body(raw: Any, *, partial: bool = False) -> dict[str, Any]:
    """The draft request's values, validated; DraftError 400 naming every bad field."""
    if not isinstance(raw, dict):
        raise DraftError(400, "invalid_body", "the body must be a JSON object")
    allowed = EDITABLE if partial else frozenset(FIELDS)
    errors = {name: ("cannot be changed on a draft" if name in FIELDS else "unknown field")
              for name in sorted(set(raw) - allowed)}
    values: dict[str, Any] = {}
    required = not partial
    for name, limit in (("customer_id", 64), ("project_key", 40), ("issue_type", 50), ("summary", MAX_SUMMARY)):
        if name in allowed and (required or name in raw):
            values[name] = _text(raw, name, errors, required=True, limit=limit)
    for name, limit in (("connection_id", 64), ("priority", 50), ("description", MAX_DESCRIPTION)):
        if name in raw and name in allowed:
            values[name] = _text(raw, name, errors, required=False, limit=limit)
    if values.get("project_key"):
        values["project_key"] = values["project_key"].upper()
    if "link_type" in raw or not partial:
        link_type = raw.get("link_type", "requested")
        if link_type not in LINK_TYPES:
            errors["link_type"] = f"must be one of {', '.join(LINK_TYPES)}"
        values["link_type"] = link_type
    if "stakeholder_ids" in raw:
        ids = raw["stakeholder_ids"]
        if not isinstance(ids, list) or not all(isinstance(i, str) and i.strip() for i in ids) or len(ids) > 50:
            errors["stakeholder_ids"] = "must be a list of up to 50 stakeholder ids (their email, or name)"
        else:
            values["stakeholder_ids"] = list(dict.fromkeys(i.strip() for i in ids))
    if "fields" in raw:
        extra = raw["fields"]
        if not isinstance(extra, dict) or len(extra) > MAX_EXTRA_FIELDS or not all(
                isinstance(k, str) and k for k in extra):
            errors["fields"] = f"must be an object of up to {MAX_EXTRA_FIELDS} Jira field ids to values"
        else:
            ours = sorted(set(extra) & meta.ALWAYS_OURS)
            if ours:
                errors["fields"] = f"{', '.join(ours)} are set from the draft itself, not through fields"
            values["fields"] = extra
    if partial and not raw:
        errors["body"] = "nothing to change"
    if errors:
        raise DraftError(400, "invalid_parameter", "the draft is not valid", errors)
    return values


# ---- composition ----------------------------------------------------------------------------------

def customer_url(customer: Customer) -> str:
    """The customer's page in CSCX.AI (CSCX_APP_URL)."""
    return current_app.config["CSCX_APP_URL"].format(
        customer_id=quote(str(customer.id), safe=""), external_id=quote(customer.external_id or "", safe=""),
        slug=quote(customer.slug or "", safe=""))


def stakeholders_of(customer: Customer, ids: Iterable[str]) -> list[dict[str, Any]]:
    """The chosen stakeholders; DraftError 422 for one the customer does not have."""
    people = [p for p in customer.stakeholders or [] if isinstance(p, dict)]
    chosen, unknown = [], []
    for wanted in ids:
        match = next((p for p in people if wanted.casefold() in {str(p.get("email") or "").casefold(),
                                                               str(p.get("name") or "").casefold()}), None)
        (chosen.append(match) if match else unknown.append(wanted))
    if unknown:
        raise DraftError(422, "unknown_stakeholder", f"{customer.name} has no stakeholder {', '.join(unknown)}",
                         {"stakeholder_ids": {"unknown": unknown,
                                              "allowed": [p.get("email") or p.get("name") for p in people]}})
    return chosen


def _open_issues(connection: JiraConnection, customer: Customer) -> list[describe.OpenIssue]:
    rows = db.session.execute(
        select(JiraIssue.jira_key, JiraIssue.summary, JiraIssue.status)
        .join(JiraCustomerLink, JiraCustomerLink.issue_id == JiraIssue.id)
        .where(JiraCustomerLink.customer_id == customer.id, JiraIssue.connection_id == connection.id,
               JiraIssue.deleted_at.is_(None), JiraIssue.status_category.is_distinct_from("done"))
        .order_by(JiraIssue.updated_at.desc()).limit(OTHER_OPEN_ISSUES))
    return [describe.OpenIssue(key, summary or "", status, browse_url(connection, key))
            for key, summary, status in rows]


def _context(connection: JiraConnection, customer: Customer, people: list[dict[str, Any]], requester: str,
             today: date) -> describe.CustomerContext:
    return describe.CustomerContext(
        name=customer.name, url=customer_url(customer), tier=customer.tier,
        arr=float(customer.arr) if customer.arr is not None else None, health_score=customer.health_score,
        renewal_date=customer.renewal_date.isoformat() if customer.renewal_date else None,
        days_to_renewal=(customer.renewal_date - today).days if customer.renewal_date else None,
        stakeholders=[describe.Person(str(p.get("name") or p.get("email")), p.get("role"), p.get("email"))
                      for p in people],
        open_issues=_open_issues(connection, customer), requested_by=requester)


def _jira_candidates(client: JiraClient, project: str, summary: str) -> list[duplicates.Candidate]:
    """Open issues of the project sharing a word with the summary, from Jira's own text search: the issues
    we store are only those linked to customers, and a duplicate may be linked to none yet."""
    words = [w for w in dict.fromkeys(WORD.findall(summary.casefold())) if len(w) > 2 and w not in STOP_WORDS]
    if not words:
        return []
    text = " OR ".join(f"summary ~ {jql_string(lucene_escape(w))}" for w in words[:JIRA_SEARCH_WORDS])
    jql = f"project = {jql_string(project)} AND statusCategory != Done AND ({text}) ORDER BY updated DESC"
    found = []
    for issues, _ in client.search_pages(jql, fields=("summary", "status"), page_size=JIRA_SEARCH_LIMIT):
        for raw in issues:
            fields = raw.get("fields") or {}
            found.append(duplicates.Candidate(str(raw.get("key")), str(fields.get("summary") or ""),
                                              (fields.get("status") or {}).get("name"), 0))
        break  # the first page is plenty: the best matches are ranked locally
    return found


def duplicates_for(connection: JiraConnection, client: JiraClient, project: str, summary: str,
                   description: str) -> list[dict[str, Any]]:
    """Open issues of the project that read like this summary and description, best first (see `duplicates`)."""
    rows = db.session.execute(
        select(JiraIssue.id, JiraIssue.jira_key, JiraIssue.summary, JiraIssue.status)
        .where(JiraIssue.connection_id == connection.id, JiraIssue.project_key == project,
               JiraIssue.deleted_at.is_(None), JiraIssue.status_category.is_distinct_from("done"))
        .order_by(JiraIssue.updated_at.desc()).limit(DUPLICATE_POOL)).all()
    pool = {r.jira_key: duplicates.Candidate(r.jira_key, r.summary or "", r.status, 0) for r in rows}
    try:
        for candidate in _jira_candidates(client, project, summary):
            pool.setdefault(candidate.key, candidate)
    except JiraError as exc:  # the stored issues still give suggestions
        log.warning("draft.duplicates.jira_search", extra={"error": str(exc)})
    ranked = duplicates.rank(summary, description, list(pool.values()))
    if not ranked:
        return []
    ids = {r.jira_key: r.id for r in rows}
    counts = dict(db.session.execute(
        select(JiraCustomerLink.issue_id, func.count()).where(
            JiraCustomerLink.issue_id.in_([ids[c.key] for c, _ in ranked if c.key in ids]))
        .group_by(JiraCustomerLink.issue_id)).all())
    return [{"key": c.key, "summary": c.summary, "status": c.status, "score": score,
             "customers": int(counts.get(ids.get(c.key), 0)), "url": browse_url(connection, c.key)}
            for c, score in ranked]


def compose(draft: IssueDraft, connection: JiraConnection, customer: Customer, client: JiraClient) -> None:
    """Check the draft against Jira's create metadata and fill its preview, suggestion and duplicates.

    DraftError 422 names every field Jira would refuse (with the values it allows, where it lists them).
    """
    try:
        screen = meta.create_meta(connection.id, client, draft.project_key, draft.issue_type)
    except meta.MetaError as exc:
        raise DraftError(422, "invalid_for_jira", str(exc), exc.errors) from exc
    extra: dict[str, Any] = {}
    for field_id, value in (draft.extra_fields or {}).items():
        field = screen.field(field_id)
        extra[field_id] = meta.to_jira_value(field, value) if field else value
    # The customer's custom-field rule value, so the issue matches its rules from the first sync.
    for rule in rules_for(connection, str(customer.id)):
        if rule.strategy == "custom_field" and rule.field_id and rule.field_id not in extra:
            field = screen.field(rule.field_id)
            if field is not None:
                extra[rule.field_id] = meta.to_jira_value(field, rule.value)
    errors = meta.check(screen, extra, priority=draft.priority)
    if errors:
        raise DraftError(422, "invalid_for_jira", "Jira would refuse this issue: " + "; ".join(
            f"{name}: {error['message']}" for name, error in errors.items()), errors)
    today = utcnow().date()
    people = stakeholders_of(customer, draft.stakeholder_ids or [])
    settings = settings_of(customer.organization_id)
    suggestion = suggest(Account(customer.name, customer.tier, float(customer.arr or 0), customer.health_score,
                                 customer.renewal_date), draft.link_type, screen.priorities(), settings,
                         reference_arr(customer.organization_id), today)
    context = _context(connection, customer, people, draft.requested_by_email or draft.requested_by, today)
    label = customer_label(customer)
    fields: dict[str, Any] = {"project": {"key": screen.project}, "issuetype": {"id": screen.issue_type_id},
                              "summary": draft.summary, **extra}
    priority = draft.priority or (suggestion["name"] if screen.field("priority") else None)
    if priority:
        fields["priority"] = {"name": priority}
    if client.is_cloud:
        body: Any = describe.adf(draft.description or "", context)
    else:
        body = describe.wiki(draft.description or "", context)
    draft.preview = {"format": "adf" if client.is_cloud else "wiki", "description": body, "labels": [label],
                     "labels_on_create": screen.field("labels") is not None, "fields": fields,
                     "issue_type": screen.issue_type}
    draft.suggestion = suggestion
    draft.duplicates = duplicates_for(connection, client, screen.project, draft.summary, draft.description or "")


# ---- lookups ------------------------------------------------------------------------------------

def pick_connection(organization_id: str, connection_id: str | None) -> JiraConnection:
    """The connection a draft goes to: the one given, else the workspace's only active one."""
    query = select(JiraConnection).where(JiraConnection.organization_id == organization_id)
    if connection_id:
        try:
            key = uuid.UUID(connection_id)
        except ValueError as exc:
            raise DraftError(400, "invalid_parameter", "connection_id must be a UUID",
                             {"connection_id": "must be a UUID"}) from exc
        connection = db.session.scalar(query.where(JiraConnection.id == key))
        if connection is None:
            raise DraftError(404, "not_found", "no such Jira connection in this workspace")
    else:
        active = list(db.session.scalars(query.where(JiraConnection.status == ConnectionStatus.ACTIVE)))
        if not active:
            raise DraftError(409, "no_connection", "this workspace has no active Jira connection")
        if len(active) > 1:
            raise DraftError(400, "connection_required", f"this workspace has {len(active)} Jira connections: "
                             "say which with connection_id", {"connection_id": [str(c.id) for c in active]})
        connection = active[0]
    if connection.status != ConnectionStatus.ACTIVE:
        raise DraftError(409, "connection_inactive", f"the Jira connection is {connection.status}")
    return connection


def find_draft(organization_id: str, draft_id: str, *, lock: bool = False) -> IssueDraft:
    """A draft of the workspace; DraftError 404 otherwise (also for another workspace's)."""
    try:
        key = uuid.UUID(str(draft_id))
    except ValueError as exc:
        raise DraftError(404, "not_found", "no such draft in this workspace") from exc
    query = select(IssueDraft).where(IssueDraft.id == key, IssueDraft.organization_id == organization_id)
    if lock:
        query = query.with_for_update()
    draft = db.session.scalar(query)
    if draft is None:
        raise DraftError(404, "not_found", "no such draft in this workspace")
    return draft


def _customer(organization_id: str, customer_id: str) -> Customer:
    try:
        key = uuid.UUID(str(customer_id))
    except ValueError as exc:
        raise DraftError(404, "not_found", "no such customer in this workspace") from exc
    customer = db.session.scalar(select(Customer).where(Customer.id == key,
                                                        Customer.organization_id == organization_id))
    if customer is None:
        raise DraftError(404, "not_found", "no such customer in this workspace")
    return customer


def approvals_of(draft: IssueDraft) -> list[DraftApproval]:
    return list(db.session.scalars(select(DraftApproval).where(DraftApproval.draft_id == draft.id)
                                   .order_by(DraftApproval.decided_at, DraftApproval.approver_id)))


def draft_view(draft: IssueDraft, *, approvals: list[DraftApproval] | None = None) -> dict[str, Any]:
    """A draft as the API shows it."""
    approvals = approvals_of(draft) if approvals is None else approvals
    return {"id": str(draft.id), "status": draft.status, "customer_id": str(draft.customer_id),
            "connection_id": str(draft.connection_id), "project_key": draft.project_key,
            "issue_type": draft.issue_type, "summary": draft.summary, "description": draft.description,
            "priority": draft.priority, "link_type": draft.link_type, "stakeholder_ids": draft.stakeholder_ids,
            "fields": draft.extra_fields, "requested_by": draft.requested_by,
            "approvals_required": draft.approvals_required,
            "approvals": [{"approver_id": a.approver_id, "decision": a.decision, "comment": a.comment,
                           "decided_at": iso(a.decided_at)} for a in approvals],
            "preview": {k: draft.preview.get(k) for k in ("format", "description", "labels", "fields")},
            "suggested_priority": draft.suggestion or None, "duplicates": draft.duplicates,
            "jira": {"key": draft.jira_key, "id": draft.jira_issue_id, "url": draft.jira_url}
            if draft.jira_key else None,
            "error": draft.error, "attempts": draft.attempts,
            "next_attempt_at": iso(draft.next_attempt_at) if draft.status == "failed" else None,
            "created_at": iso(draft.created_at), "updated_at": iso(draft.updated_at)}


def list_drafts(organization_id: str, *, statuses: tuple[str, ...] = (), requested_by: str | None = None,
                customer_id: str | None = None, limit: int = 50, offset: int = 0) -> tuple[int, list[IssueDraft]]:
    """Drafts, newest first, with the total before paging."""
    query = select(IssueDraft).where(IssueDraft.organization_id == organization_id)
    if statuses:
        query = query.where(IssueDraft.status.in_(statuses))
    if requested_by:
        query = query.where(IssueDraft.requested_by == requested_by)
    if customer_id:
        query = query.where(IssueDraft.customer_id == _customer(organization_id, customer_id).id)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.scalars(query.order_by(IssueDraft.created_at.desc(), IssueDraft.id).limit(limit).offset(offset))
    return int(total or 0), list(rows)


# ---- the lifecycle --------------------------------------------------------------------------------

def _audit(draft: IssueDraft, action: str, principal: Principal | None, **details: Any) -> None:
    db.session.add(AuditEntry(
        organization_id=draft.organization_id, connection_id=draft.connection_id,
        actor_type="cscx_user" if principal else "system", actor_id=principal.user_id if principal else None,
        action=action, target_type="issue_draft", target_id=str(draft.id), details=details))


def _push(draft: IssueDraft, topic: str, key: str, audience: dict[str, Any], **extra: Any) -> uuid.UUID | None:
    return outbox.add_message(draft.organization_id, topic, f"{topic}:{draft.id}:{key}", {
        "draft": {"id": str(draft.id), "status": draft.status, "summary": draft.summary,
                  "project_key": draft.project_key, "issue_type": draft.issue_type,
                  "customer_id": str(draft.customer_id), "requested_by": draft.requested_by},
        "notify": audience, **extra})


@dataclass
class Outcome:
    """What a lifecycle step did that must happen after its commit: pushes to send, a creation to start."""

    draft: IssueDraft
    messages: list[uuid.UUID]
    create: bool = False


def create_draft(organization_id: str, principal: Principal, raw: Any) -> Outcome:
    """A new draft from the API body; approved at once when the workspace needs no approval."""
    values = parse_body(raw)
    customer = _customer(organization_id, values["customer_id"])
    connection = pick_connection(organization_id, values.get("connection_id"))
    settings = approval_settings(organization_id)
    draft = IssueDraft(
        id=uuid.uuid4(), organization_id=organization_id, connection_id=connection.id, customer_id=customer.id,
        project_key=values["project_key"], issue_type=values["issue_type"], summary=values["summary"],
        description=values.get("description") or "", priority=values.get("priority") or None,
        link_type=values["link_type"], stakeholder_ids=values.get("stakeholder_ids") or [],
        extra_fields=values.get("fields") or {}, requested_by=principal.user_id,
        requested_by_email=principal.email, approvals_required=settings.approvals_required,
        status="pending_approval", attempts=0, labels=[])
    _compose_with_jira(draft, connection, customer)
    draft.labels = list(draft.preview["labels"])
    db.session.add(draft)
    _audit(draft, "draft.submitted", principal, customer=customer.name, summary=draft.summary)
    messages = []
    create = False
    if draft.approvals_required == 0:
        draft.status = "approved"
        create = True
        _audit(draft, "draft.approved", None, reason="the workspace requires no approval")
    else:
        messages.append(_push(draft, SUBMITTED_TOPIC, "submitted", {"roles": list(settings.approver_roles)},
                              customer={"id": str(customer.id), "name": customer.name},
                              duplicates=draft.duplicates, suggested_priority=draft.suggestion))
    db.session.commit()
    log.info("draft.submitted", extra={"draft": str(draft.id), "customer": str(customer.id),
                                       "approvals_required": draft.approvals_required})
    return Outcome(draft, [m for m in messages if m], create)


def _compose_with_jira(draft: IssueDraft, connection: JiraConnection, customer: Customer) -> None:
    try:
        compose(draft, connection, customer, jira_client(connection))
    except JiraError as exc:
        raise DraftError(502, "jira_unavailable", f"Jira did not answer the create metadata request: {exc}") from exc


def _requester_only(draft: IssueDraft, principal: Principal, action: str) -> None:
    if draft.requested_by != principal.user_id:
        raise DraftError(403, "forbidden", f"only the requester may {action} this draft")
    if draft.status not in OPEN_STATUSES:
        raise DraftError(409, "draft_closed", f"the draft is {draft.status}; only a pending draft can be {action}ed"
                         if action != "withdraw" else f"the draft is {draft.status}; only a pending draft can be "
                         "withdrawn")


def edit_draft(organization_id: str, principal: Principal, draft_id: str, raw: Any) -> Outcome:
    """The requester changes a pending draft; it is checked and composed again, and earlier approvals lapse."""
    values = parse_body(raw, partial=True)
    draft = find_draft(organization_id, draft_id, lock=True)
    _requester_only(draft, principal, "edit")
    names = {"fields": "extra_fields"}
    for name, value in values.items():
        setattr(draft, names.get(name, name), value if name != "priority" else (value or None))
    if "description" in values:
        draft.description = values["description"] or ""
    connection = db.session.get(JiraConnection, draft.connection_id)
    customer = db.session.get(Customer, draft.customer_id)
    _compose_with_jira(draft, connection, customer)
    draft.labels = list(draft.preview["labels"])
    lapsed = db.session.execute(delete(DraftApproval).where(DraftApproval.draft_id == draft.id)).rowcount
    _audit(draft, "draft.edited", principal, changed=sorted(values), approvals_lapsed=lapsed)
    db.session.commit()
    return Outcome(draft, [])


def withdraw_draft(organization_id: str, principal: Principal, draft_id: str) -> Outcome:
    """The requester withdraws a pending draft (it stays, withdrawn, for the record)."""
    draft = find_draft(organization_id, draft_id, lock=True)
    _requester_only(draft, principal, "withdraw")
    draft.status = "withdrawn"
    _audit(draft, "draft.withdrawn", principal)
    db.session.commit()
    return Outcome(draft, [])


def _approver(organization_id: str, principal: Principal, draft: IssueDraft) -> ApprovalSettings:
    settings = approval_settings(organization_id)
    if principal.role not in settings.approver_roles:
        raise DraftError(403, "forbidden", f"approving needs the role {' or '.join(settings.approver_roles)}")
    if draft.requested_by == principal.user_id:
        raise DraftError(403, "own_draft", "you cannot approve or reject your own draft")
    return settings


def _comment(raw: Any, *, required: bool) -> str | None:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict) or set(raw) - {"comment"}:
        raise DraftError(400, "invalid_body", 'the body must be {"comment": "..."}')
    comment = raw.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise DraftError(400, "invalid_parameter", "comment must be a string", {"comment": "must be a string"})
    comment = (comment or "").strip()
    if len(comment) > 2000:
        raise DraftError(400, "invalid_parameter", "comment is too long", {"comment": "at most 2000 characters"})
    if required and not comment:
        raise DraftError(400, "invalid_parameter", "a rejection needs a reason", {"comment": "is required"})
    return comment or None


def decide(organization_id: str, principal: Principal, draft_id: str, decision: str, raw: Any) -> Outcome:
    """An approver approves or rejects a pending draft; the last approval needed sends it to be created."""
    comment = _comment(raw, required=decision == "rejected")
    draft = find_draft(organization_id, draft_id, lock=True)
    _approver(organization_id, principal, draft)
    if draft.status != "pending_approval":
        raise DraftError(409, "draft_closed", f"the draft is {draft.status}; only a pending draft can be decided")
    if db.session.scalar(select(DraftApproval.id).where(DraftApproval.draft_id == draft.id,
                                                        DraftApproval.approver_id == principal.user_id)):
        raise DraftError(409, "already_decided", "you have already decided on this draft; one approver counts once")
    db.session.add(DraftApproval(organization_id=organization_id, draft_id=draft.id, approver_id=principal.user_id,
                                 decision=decision, comment=comment))
    db.session.flush()
    approvals = approvals_of(draft)
    given = sum(1 for a in approvals if a.decision == "approved")
    create = False
    if decision == "rejected":
        draft.status = "rejected"
    elif given >= draft.approvals_required:
        draft.status = "approved"
        create = True
    _audit(draft, f"draft.{decision}", principal, comment=comment, approvals=given,
           approvals_required=draft.approvals_required)
    message = _push(draft, DECIDED_TOPIC, f"{decision}:{principal.user_id}", {"user_ids": [draft.requested_by]},
                    decision={"by": principal.user_id, "decision": decision, "comment": comment,
                              "approvals": given, "approvals_required": draft.approvals_required})
    db.session.commit()
    log.info(f"draft.{decision}", extra={"draft": str(draft.id), "by": principal.user_id, "status": draft.status})
    return Outcome(draft, [message] if message else [], create)


def retry_draft(organization_id: str, principal: Principal, draft_id: str) -> Outcome:
    """The requester or an approver sends a failed draft to be created again (now)."""
    draft = find_draft(organization_id, draft_id, lock=True)
    settings = approval_settings(organization_id)
    if principal.user_id != draft.requested_by and principal.role not in settings.approver_roles:
        raise DraftError(403, "forbidden", "only the requester or an approver may retry a draft")
    if draft.status != "failed":
        raise DraftError(409, "not_failed", f"the draft is {draft.status}; only a failed draft can be retried")
    draft.status, draft.next_attempt_at = "approved", None
    _audit(draft, "draft.retried", principal)
    db.session.commit()
    return Outcome(draft, [], create=True)


def link_instead(organization_id: str, principal: Principal, draft_id: str, raw: Any) -> Outcome:
    """Link the draft's customer to an existing issue (a duplicate) instead, and close the draft."""
    if not isinstance(raw, dict) or not isinstance(raw.get("key"), str) or set(raw) - {"key"}:
        raise DraftError(400, "invalid_body", 'the body must be {"key": "<issue key>"}', {"key": "is required"})
    key = raw["key"].strip().upper()
    if not key or len(key) > 60 or not key.replace("-", "").replace("_", "").isalnum() or "-" not in key:
        raise DraftError(400, "invalid_parameter", "key must be an issue key like CS-88", {"key": "not an issue key"})
    draft = find_draft(organization_id, draft_id)
    settings = approval_settings(organization_id)
    if principal.user_id != draft.requested_by and principal.role not in settings.approver_roles:
        raise DraftError(403, "forbidden", "only the requester or an approver may link this draft instead")
    if draft.status not in ("pending_approval", "failed"):
        raise DraftError(409, "draft_closed", f"the draft is {draft.status}; only a pending or failed draft "
                         "can be linked to an existing issue instead")
    connection = db.session.get(JiraConnection, draft.connection_id)
    try:
        add_manual_link(connection, key, str(draft.customer_id), draft.link_type, principal.user_id,
                        jira_client(connection), actor_type="cscx_user")
    except LinkError as exc:
        raise DraftError(exc.status if exc.status != 400 else 422, "cannot_link", str(exc)) from exc
    except JiraError as exc:
        # Jira failing before the link was stored (fetching the issue) is an error; failing after it
        # (the label and property write-back) is not: those are written again on the next change.
        db.session.rollback()
        linked = db.session.scalar(select(JiraCustomerLink.id).where(
            JiraCustomerLink.connection_id == connection.id, JiraCustomerLink.jira_key == key,
            JiraCustomerLink.customer_id == draft.customer_id))
        if linked is None:
            raise DraftError(502, "jira_unavailable", f"Jira did not answer while linking {key}: {exc}") from exc
        log.warning("draft.link_instead.write_back", extra={"draft": str(draft.id), "error": str(exc)})
    draft = find_draft(organization_id, draft_id, lock=True)
    if draft.status not in ("pending_approval", "failed"):  # decided while we were linking
        db.session.commit()
        return Outcome(draft, [])
    issue = db.session.scalar(select(JiraIssue).where(JiraIssue.connection_id == connection.id,
                                                      JiraIssue.jira_key == key))
    draft.status, draft.jira_key = "linked_existing", key
    draft.jira_issue_id = issue.jira_id if issue else None
    draft.jira_url = browse_url(connection, key)
    _audit(draft, "draft.linked_existing", principal, key=key)
    db.session.commit()
    return Outcome(draft, [])
