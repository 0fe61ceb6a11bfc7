"""Creating the approved issue in Jira, exactly once.

Jira has no idempotency key, so a crash or a timeout between Jira's answer and our commit could
otherwise create the issue twice on retry. Every issue we create carries the entity property
`cscx.draft` = {"draft_id", "workspace"}, set in the same create request (the issue never exists
without it). A draft is claimed before each attempt (status `creating`, a lease: two workers never
both create); every attempt after the first first looks for an issue carrying the draft's id among
the project's issues with the customer's label created since the first attempt, and adopts it
instead of creating another.

Failures: Jira down, 429 or a network error are transient (the draft is `failed` with Jira's
message and a `next_attempt_at`, and `retry_due` tries again with exponential backoff, up to
MAX_ATTEMPTS); Jira refusing the issue (400), the credentials (401/403) or a connection that is no
longer active are permanent (`failed`, no next attempt) until someone retries.
"""

from __future__ import annotations

import logging
import math
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update

from connect_app.atlassian.client import JiraClient, JiraError
from connect_app.atlassian.jql import jql_string
from connect_app.connections.access import jira_client
from connect_app.delivery import outbox
from connect_app.delivery.outbox import submit_deliveries
from connect_app.extensions import db
from connect_app.impact.queries import browse_url
from connect_app.impact.store import recompute
from connect_app.models import AuditEntry, Customer, IssueDraft, JiraConnection, JiraCustomerLink
from connect_app.models.tenancy import ConnectionStatus
from connect_app.models.types import utcnow
from connect_app.platform import claims, jobs
from connect_app.sla import store as sla
from connect_app.sync.engine import sync_issue

log = logging.getLogger(__name__)

PROPERTY = "cscx.draft"
LEASE_S = 300.0  # a creating draft whose worker went quiet this long is taken over
MAX_ATTEMPTS = 6
BACKOFF_BASE_S = 30.0
BACKOFF_MAX_S = 3600.0
LOOKUP_SLACK = timedelta(minutes=10)  # Jira's clock and its search index may lag ours
LOOKUP_LIMIT = 50
CREATED_TOPIC = "jira.issue.created"
FAILED_TOPIC = "jira.draft.failed"
TRANSIENT = frozenset({0, 429, 500, 502, 503, 504})


def backoff(attempts: int) -> float:
    """Seconds before the next automatic attempt after `attempts` failed ones."""
    return min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** max(0, attempts - 1))


def start(draft_ids: list[uuid.UUID]) -> None:
    """Queue the creation of approved drafts (after the commit that approved them)."""
    for draft_id in draft_ids:
        jobs.enqueue(create_issue_job, str(draft_id))


def find_created(client: JiraClient, draft: IssueDraft, label: str) -> dict[str, Any] | None:
    """The issue an earlier attempt created for this draft, if Jira has it: {"id", "key"}."""
    since = max(1, math.ceil((utcnow() - (draft.first_attempt_at or utcnow()) + LOOKUP_SLACK).total_seconds() / 60))
    jql = (f"project = {jql_string(draft.project_key)} AND labels = {jql_string(label)} "
           f"AND created >= -{since}m ORDER BY created DESC")
    seen = 0
    for issues, _ in client.search_pages(jql, fields=("summary",), page_size=LOOKUP_LIMIT):
        for issue in issues:
            seen += 1
            value = client.get_issue_property(issue["key"], PROPERTY)
            if isinstance(value, dict) and value.get("draft_id") == str(draft.id):
                return {"id": str(issue["id"]), "key": issue["key"]}
        if seen >= LOOKUP_LIMIT:
            break
    return None


def create_issue_job(draft_id: str) -> dict[str, Any]:
    """Job: create the approved draft's issue in Jira (once), link it, tell the requester and the CSM."""
    key = uuid.UUID(draft_id)
    if not claims.claim(IssueDraft, key, owner=claims.worker_id(), lock_timeout_s=LEASE_S,
                        claimable=("approved",), claimed="creating"):
        return {"draft": draft_id, "outcome": "not_claimed"}
    draft = db.session.get(IssueDraft, key)
    if draft.first_attempt_at is None:
        draft.first_attempt_at = utcnow()
        db.session.commit()
    connection = db.session.get(JiraConnection, draft.connection_id)
    if connection is None or connection.status != ConnectionStatus.ACTIVE:
        state = connection.status if connection else "gone"
        return _failed(draft, f"the Jira connection is {state}; reconnect it, then retry", transient=False)
    try:
        client = jira_client(connection)
        label = draft.preview["labels"][0]
        found = find_created(client, draft, label) if draft.attempts > 1 else None
        if found is None:
            fields = dict(draft.preview["fields"]) | {"description": draft.preview["description"]}
            if draft.preview.get("labels_on_create", True):
                fields["labels"] = list(draft.preview["labels"])
            found = client.create_issue(fields, properties={PROPERTY: {"draft_id": str(draft.id),
                                                                       "workspace": draft.organization_id}})
            log.info("draft.jira_created", extra={"draft": draft_id, "key": found["key"]})
        else:
            log.info("draft.jira_found", extra={"draft": draft_id, "key": found["key"], "attempts": draft.attempts})
        if not draft.preview.get("labels_on_create", True):
            client.edit_issue(found["key"], update={"labels": [{"add": label} for label in draft.preview["labels"]]})
    except JiraError as exc:
        return _failed(draft, _message(exc), transient=exc.status in TRANSIENT)
    return _created(draft, connection, client, found)


def _message(exc: JiraError) -> str:
    text = str(exc) or f"Jira answered {exc.status}"
    return text if exc.status else f"Jira could not be reached: {text}"


def _created(draft: IssueDraft, connection: JiraConnection, client: JiraClient, found: dict[str, Any]) -> dict:
    """Record the created issue, link the customer (source `created`), notify; one commit."""
    draft_id = draft.id
    try:
        issue = sync_issue(connection, found["key"], client=client)
    except JiraError:
        issue = None  # the next sync or webhook stores it; the link waits for it
    draft = db.session.get(IssueDraft, draft_id)
    draft.status, draft.jira_key, draft.jira_issue_id = "created", found["key"], found["id"]
    draft.jira_url = browse_url(connection, found["key"])
    draft.error, draft.next_attempt_at, draft.locked_by, draft.locked_at = None, None, None, None
    customer = db.session.get(Customer, draft.customer_id)
    if issue is not None:
        link = db.session.scalar(select(JiraCustomerLink).where(JiraCustomerLink.issue_id == issue.id,
                                                                JiraCustomerLink.customer_id == customer.id))
        if link is None:
            link = JiraCustomerLink(connection_id=connection.id, issue_id=issue.id, jira_key=issue.jira_key,
                                    customer_id=customer.id)
            db.session.add(link)
        link.link_type, link.source, link.rule_id = draft.link_type, "created", None
        link.created_by = draft.requested_by
    db.session.add(AuditEntry(
        organization_id=draft.organization_id, connection_id=connection.id, actor_type="system",
        action="draft.created", target_type="issue_draft", target_id=str(draft.id),
        details={"key": found["key"], "attempts": draft.attempts}))
    audience = sorted({draft.requested_by} | ({customer.csm_owner_id} if customer.csm_owner_id else set()))
    messages = [outbox.add_message(draft.organization_id, CREATED_TOPIC, f"{CREATED_TOPIC}:{draft.id}", {
        "draft": {"id": str(draft.id), "requested_by": draft.requested_by},
        "issue": {"key": found["key"], "id": found["id"], "url": draft.jira_url, "summary": draft.summary,
                  "project_key": draft.project_key, "issue_type": draft.issue_type,
                  "priority": (draft.preview["fields"].get("priority") or {}).get("name")},
        "customer": {"id": str(customer.id), "name": customer.name, "link_type": draft.link_type},
        "notify": {"user_ids": audience}})]
    if issue is not None:
        db.session.flush()
        messages += recompute([issue.id], property_stale=True).messages
        messages += sla.evaluate_issues([issue.id]).messages
    db.session.commit()
    submit_deliveries([m for m in messages if m])
    log.info("draft.created", extra={"draft": str(draft.id), "key": found["key"]})
    return {"draft": str(draft.id), "outcome": "created", "key": found["key"]}


def _failed(draft: IssueDraft, message: str, *, transient: bool) -> dict[str, Any]:
    """Leave the draft failed with the reason; a transient failure gets its next automatic attempt."""
    draft_id = draft.id
    db.session.rollback()
    draft = db.session.get(IssueDraft, draft_id)
    retry = transient and draft.attempts < MAX_ATTEMPTS
    draft.status, draft.error = "failed", message[:2000]
    draft.next_attempt_at = utcnow() + timedelta(seconds=backoff(draft.attempts)) if retry else None
    draft.locked_by = draft.locked_at = None
    db.session.add(AuditEntry(
        organization_id=draft.organization_id, connection_id=draft.connection_id, actor_type="system",
        action="draft.failed", target_type="issue_draft", target_id=str(draft.id),
        details={"error": draft.error, "attempts": draft.attempts, "retrying": retry}))
    key = f"{FAILED_TOPIC}:{draft.id}:{draft.attempts}"
    message_id = outbox.add_message(draft.organization_id, FAILED_TOPIC, key, {
        "draft": {"id": str(draft.id), "summary": draft.summary, "requested_by": draft.requested_by},
        "error": draft.error, "attempts": draft.attempts,
        "next_attempt_at": draft.next_attempt_at.isoformat() if draft.next_attempt_at else None,
        "notify": {"user_ids": [draft.requested_by]}})
    db.session.commit()
    submit_deliveries([message_id] if message_id else [])
    log.warning("draft.failed", extra={"draft": str(draft.id), "attempts": draft.attempts, "retrying": retry,
                                       "error": draft.error})
    return {"draft": str(draft.id), "outcome": "failed", "retrying": retry}


def retry_due() -> dict[str, int]:
    """Job (every minute): failed drafts whose next attempt is due, and creations whose worker went quiet."""
    now = utcnow()
    stale = now - timedelta(seconds=LEASE_S)
    due = list(db.session.scalars(select(IssueDraft.id).where(or_(
        (IssueDraft.status == "failed") & (IssueDraft.next_attempt_at <= now),
        (IssueDraft.status == "creating") & (IssueDraft.locked_at < stale))).limit(200)))
    if due:
        db.session.execute(update(IssueDraft).where(IssueDraft.id.in_(due), IssueDraft.status == "failed")
                           .values(status="approved").execution_options(synchronize_session=False))
        db.session.commit()
    for draft_id in due:
        jobs.enqueue(create_issue_job, str(draft_id))
    return {"due": len(due)}
