"""Processing an inbox row: apply the issue's new state, classify the change, fan out — exactly once.

`process_delivery` (the job) claims the row, runs `apply_delivery` in one transaction and marks
it done; a failure rolls back and leaves the row in the inbox with its error, retried later.
After commit it starts outbox deliveries and refreshes the affected customers' context.

Order tolerance: issue rows are only overwritten by a newer `updated` (the upsert compares
`version_ts`); classification uses each delivery's own changelog (its from/to), never "the row
before vs after", so a late or repeated delivery yields the same events, and the events' dedupe
keys (changelog id + kind) make each change notify once.
"""

from __future__ import annotations

import logging
import time
import uuid
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text, update

from connect_app.atlassian.issue_json import (
    ISSUE_CREATED,
    ISSUE_DELETED,
    ISSUE_EVENTS,
    normalize_issue,
    parse_jira_time,
    status_category_of,
    status_changes,
)
from connect_app.connections.access import jira_client
from connect_app.connections.priorities import PRIORITY_KEY, priority_order
from connect_app.delivery import notify, outbox
from connect_app.extensions import db
from connect_app.impact.jira_property import submit_writes
from connect_app.impact.store import recompute
from connect_app.linking.rule_store import rules_for
from connect_app.linking.rules import RuleMatcher
from connect_app.logging_setup import bind_context
from connect_app.models import Customer, IssueEvent, JiraConnection, JiraCustomerLink, JiraIssue, WebhookDelivery
from connect_app.models.types import utcnow
from connect_app.platform import claims, metrics
from connect_app.platform.storable import clean_json
from connect_app.sla import store as sla
from connect_app.sync.custom_fields import stored_selection
from connect_app.sync.history import field_changes
from connect_app.sync.store import (
    apply_rule_links,
    insert_field_changes,
    insert_status_changes,
    mark_deleted,
    stored_issue_fields,
    upsert_issues,
)
from connect_app.tracking import contexts, inbox
from connect_app.tracking.classify import Change, StatusMap, classify_history

log = logging.getLogger(__name__)

STATUS_CACHE_TTL_S = 600.0
_status_cache: dict[uuid.UUID, tuple[float, dict[str, str]]] = {}


@dataclass
class Applied:
    """What applying one delivery did."""

    issue_id: uuid.UUID | None = None
    events: list[uuid.UUID] = field(default_factory=list)
    messages: list[uuid.UUID] = field(default_factory=list)
    customers: set[uuid.UUID] = field(default_factory=set)
    stale_properties: set[uuid.UUID] = field(default_factory=set)  # connections whose Jira property may be stale
    note: str | None = None


def process_delivery(delivery_id: str) -> str:
    """Job: process one inbox row once (claimed); returns done | failed | dead | skipped.

    The inbox is drained in batches (`tracking.batch`); this one-row job is what a batch falls back
    to when it fails as a whole, and what jobs queued by earlier releases still name.
    """
    row_id = uuid.UUID(str(delivery_id))
    if not inbox.claim_delivery(row_id, claims.worker_id()):
        return "skipped"
    return process_claimed(row_id)


def process_claimed(row_id: uuid.UUID) -> str:
    """Process one inbox row this worker has claimed, in its own transaction; done | failed | dead."""
    delivery = db.session.get(WebhookDelivery, row_id)
    bind_context(delivery_id=delivery.delivery_id)  # every line of this job, and of the jobs it starts
    try:
        connection = db.session.get(JiraConnection, delivery.connection_id)
        applied = apply_delivery(connection, delivery.payload)
        inbox.mark_done(delivery, applied.note)
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        log.exception("webhook.process_failed", extra={"delivery": str(row_id)})
        return inbox.mark_failed(row_id, f"{type(exc).__name__}: {exc}")
    metrics.webhook_processed("done", delivery.received_at)
    after_commit(applied)
    return "done"


def after_commit(applied: Applied) -> None:
    """Follow-up work of a committed change: push its messages and any changed customer contexts.

    Pushed right here, in this job (claimed first, sent in parallel over kept-alive connections):
    no job per message keeps latency low; a push that fails is left to the sweep's retries.
    """
    messages = list(applied.messages)
    if applied.customers:
        messages += contexts.refresh_contexts(applied.customers)
    outbox.deliver_many(messages)
    submit_writes(applied.stale_properties)


def event_time(payload: dict[str, Any]) -> datetime:
    """When Jira says the event happened (its `timestamp`, ms), else now."""
    stamp = payload.get("timestamp")
    if isinstance(stamp, int) and stamp > 0:
        return datetime.fromtimestamp(stamp / 1000, UTC)
    return utcnow()


def is_partial(raw: dict[str, Any]) -> bool:
    """Whether a payload's issue lacks the fields we store (then Jira is asked for it)."""
    fields = raw.get("fields")
    return not raw.get("id") or not raw.get("key") or not isinstance(fields, dict) or not all(
        name in fields for name in ("status", "updated", "summary"))


def lock_issue(connection_id: uuid.UUID, jira_id: str) -> None:
    """Serialise work on one issue across workers (PostgreSQL advisory lock for this transaction)."""
    lock_issues(connection_id, [jira_id])


def lock_issues(connection_id: uuid.UUID, jira_ids: Iterable[str]) -> None:
    """`lock_issue` for many issues in one statement, taken in ascending key order (as every caller
    takes them), so two transactions locking overlapping sets never wait on each other in a circle."""
    if db.session.get_bind().dialect.name != "postgresql":
        return  # SQLite has one writer at a time anyway
    keys = sorted({zlib.crc32(f"{connection_id}:{jira_id}".encode()) for jira_id in jira_ids})
    if keys:
        # unnest yields the array in order, and each row's lock is taken as the row is produced.
        db.session.execute(text("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(CAST(:keys AS bigint[])) AS k"),
                           {"keys": keys})


def status_map_for(connection: JiraConnection) -> StatusMap:
    """The connection's status map plus every status category we know (cached from Jira's /status)."""
    cached = _status_cache.get(connection.id)
    known = cached[1] if cached and time.monotonic() - cached[0] < STATUS_CACHE_TTL_S else {}
    return StatusMap((connection.status_map or {}) | {PRIORITY_KEY: list(priority_order(connection))}, known)


def learn_statuses(connection: JiraConnection, status_map: StatusMap, items: list[dict]) -> None:
    """Make sure every status named in a changelog has a category: ask the database, then Jira (cached)."""
    unknown = [(i.get("from"), i.get("fromString")) for i in items if i.get("field") == "status" or
               i.get("fieldId") == "status"]
    unknown += [(i.get("to"), i.get("toString")) for i in items if i.get("field") == "status" or
                i.get("fieldId") == "status"]
    unknown = [(str(sid) if sid else None, name) for sid, name in unknown if not status_map.knows(sid, name)]
    if not unknown:
        return
    ids = [sid for sid, _ in unknown if sid]
    if ids:
        for sid, category in db.session.execute(
                select(JiraIssue.status_id, JiraIssue.status_category).where(
                    JiraIssue.connection_id == connection.id, JiraIssue.status_id.in_(ids),
                    JiraIssue.status_category.is_not(None)).distinct()):
            status_map.learn(sid, None, category)
    if all(status_map.knows(sid, name) for sid, name in unknown):
        return
    statuses = jira_client(connection).get_statuses()
    known = {}
    for status in statuses:
        category = status_category_of(status)
        if category:
            known[str(status.get("id"))] = category
            if status.get("name"):
                known[status["name"]] = category
            status_map.learn(str(status.get("id")), status.get("name"), category)
    _status_cache[connection.id] = (time.monotonic(), known)


def histories_of(payload: dict[str, Any], when: datetime) -> list[dict[str, Any]]:
    """The delivery's changelog as Jira histories (a webhook carries one, without `created`)."""
    changelog = payload.get("changelog")
    if not isinstance(changelog, dict) or not changelog.get("items") or changelog.get("id") is None:
        return []
    return [{"id": str(changelog["id"]), "created": when.isoformat(), "author": payload.get("user"),
             "items": changelog["items"]}]


def _linked_customer_ids(issue_id: uuid.UUID | None) -> set[uuid.UUID]:
    if issue_id is None:
        return set()
    return set(db.session.scalars(select(JiraCustomerLink.customer_id).where(JiraCustomerLink.issue_id == issue_id)))


def _customers_at_event(issue_id: uuid.UUID, snapshot: set[str] | None, jql_rule_ids: set[str]) -> list[Customer]:
    """The customers an event affects: those the issue's own fields at that event matched (value rules),
    plus manual, created and JQL-rule links as they stand. So a late delivery notifies whoever the
    issue concerned when the change happened, not whoever it concerns now."""
    links = db.session.execute(select(JiraCustomerLink.customer_id, JiraCustomerLink.source, JiraCustomerLink.rule_id)
                               .where(JiraCustomerLink.issue_id == issue_id)).all()
    ids = {customer_id for customer_id, source, rule_id in links
           if snapshot is None or source != "rule" or str(rule_id) in jql_rule_ids}
    ids |= {uuid.UUID(c) for c in snapshot or ()}
    if not ids:
        return []
    return list(db.session.scalars(select(Customer).where(Customer.id.in_(ids)).order_by(Customer.name)))


@dataclass
class Stored:
    """An issue written by `store_issue`: its row id and whom its payload's fields matched."""

    issue_id: uuid.UUID
    snapshot_customers: set[str]
    jql_rule_ids: set[str]


def store_issue(connection: JiraConnection, raw: dict[str, Any], histories: list[dict[str, Any]],
                status_map: StatusMap) -> Stored:
    """Upsert one issue (never over newer state), its status and field history and its rule links.

    Uses the sync's pieces: normalise, the custom fields the workspace keeps, upsert, history, rule
    matching. Links are re-evaluated on the row as stored afterwards (the newest state), not on a late payload.
    """
    rules = rules_for(connection)
    matcher = RuleMatcher(rules)
    row = normalize_issue(raw)
    row["custom_fields"] = stored_selection(connection, matcher.custom_field_ids).shape(row["custom_fields"])
    lock_issue(connection.id, row["jira_id"])
    ids = upsert_issues(connection.id, [row], utcnow())
    issue_id = ids[row["jira_id"]]
    categories = {}
    changes = []
    for change in status_changes(histories):
        ends = ((change["from_status_id"], change["from_status"]), (change["to_status_id"], change["to_status"]))
        for sid, name in ends:
            info = status_map(str(sid) if sid else None, name)
            if info.category and sid:
                categories[str(sid)] = info.category
        changes.append(change | {"issue_id": issue_id})
    insert_status_changes(connection.id, changes, categories)
    insert_field_changes(connection.id, [c | {"issue_id": issue_id} for c in field_changes(histories)])
    stored = stored_issue_fields([issue_id])
    if stored:
        jql_members = {}
        if matcher.jql_rules:
            client = jira_client(connection)
            jql_members = {r.id: client.search_ids(f"id = {int(row['jira_id'])} AND ({r.jql})")
                           for r in matcher.jql_rules}
        desired = {issue_id: matcher.desired_links(stored[0], jql_members)}
        apply_rule_links(connection.id, desired, {issue_id: stored[0]["jira_key"]})
    return Stored(issue_id, set(matcher.desired_links(row)), {r.id for r in matcher.jql_rules})


def apply_delivery(connection: JiraConnection, payload: dict[str, Any]) -> Applied:
    """Apply one webhook payload to the database (no commit): state, links, history, events, fan-out."""
    event = payload.get("webhookEvent")
    if event not in ISSUE_EVENTS:
        return Applied(note=f"ignored: {event}")
    when = event_time(payload)
    raw = payload["issue"]
    if event != ISSUE_DELETED and is_partial(raw):
        fields = stored_selection(connection, RuleMatcher(rules_for(connection)).custom_field_ids).get_fields()
        raw = jira_client(connection).get_issue(raw.get("key") or raw["id"], fields=fields)
    return apply_issue(connection, event, raw, histories_of(payload, when), when)


def apply_issue(connection: JiraConnection, event: str, raw: dict[str, Any], histories: list[dict[str, Any]],
                when: datetime) -> Applied:
    """Apply an issue's state and changelog histories (webhook or reconciliation), no commit.

    `event` is a Jira webhook event name: issue_created adds a "created" change, issue_deleted
    marks the issue deleted; every history is classified on its own. The issue as Jira sent it is
    cleaned first (`clean_json`): its text may hold what PostgreSQL cannot store, and the row, its
    history and its events must be written all the same.
    """
    raw, histories = clean_json(raw)[0], clean_json(histories)[0]
    status_map = status_map_for(connection)
    fields = raw.get("fields") or {}
    status = fields.get("status") or {}
    status_map.learn(str(status.get("id")) if status.get("id") else None, status.get("name"),
                     status_category_of(status))
    for history in histories:
        learn_statuses(connection, status_map, history["items"])
    before = _linked_customer_ids(_stored_issue_id(connection, raw))
    if event == ISSUE_DELETED and is_partial(raw):
        issue_id = _stored_issue_id(connection, raw)
        if issue_id is None:
            return Applied(note="deleted before we knew it")
        snapshot, jql_rule_ids = None, set()
    else:
        stored = store_issue(connection, raw, histories, status_map)
        issue_id, snapshot, jql_rule_ids = stored.issue_id, stored.snapshot_customers, stored.jql_rule_ids
    customers = _customers_at_event(issue_id, snapshot, jql_rule_ids)
    jira_id = db.session.scalar(select(JiraIssue.jira_id).where(JiraIssue.id == issue_id))
    changes = classify_payload(event, histories, status_map, jira_id, when)
    if event == ISSUE_DELETED:
        mark_issue_deleted(connection, issue_id, when)
    # Every customer whose context may have moved: linked before, linked now, or concerned by the event.
    applied = Applied(issue_id=issue_id, customers=before | _linked_customer_ids(issue_id) | {c.id for c in customers})
    issue = db.session.get(JiraIssue, issue_id)
    db.session.refresh(issue)
    for dedupe_key, change, occurred_at in changes:
        _record(connection, issue, dedupe_key, change, occurred_at, customers, applied)
    rescored = recompute([issue_id], property_stale=True)
    applied.messages += rescored.messages
    applied.stale_properties |= rescored.stale_connections
    applied.messages += sla.evaluate_issues([issue_id]).messages
    return applied


def classify_payload(event: str, histories: list[dict[str, Any]], status_map: StatusMap, jira_id: str,
                     when: datetime) -> list[tuple[str, Change, datetime]]:
    """(dedupe key, change, when) of one issue event; the keys are the same whoever sees the change."""
    changes: list[tuple[str, Change, datetime]] = []
    if event == ISSUE_CREATED:
        changes.append((f"{jira_id}:created", Change("created", {}), when))
    elif event == ISSUE_DELETED:
        changes.append((f"{jira_id}:deleted", Change("deleted", {}), when))
    for history in histories:
        occurred = parse_jira_time(history.get("created")) or when
        for change in classify_history(history["items"], status_map, status_map.priority_order,
                                       status_map.maps_development):
            changes.append((f"{jira_id}:{history['id']}:{change.kind}", change, occurred))
    return changes


def _stored_issue_id(connection: JiraConnection, raw: dict[str, Any]) -> uuid.UUID | None:
    query = select(JiraIssue.id).where(JiraIssue.connection_id == connection.id)
    if raw.get("id"):
        return db.session.scalar(query.where(JiraIssue.jira_id == str(raw["id"])))
    return db.session.scalar(query.where(JiraIssue.jira_key == raw.get("key")))


def mark_issue_deleted(connection: JiraConnection, issue_id: uuid.UUID, when: datetime) -> None:
    """Flag the issue deleted and unlink it; its clock jumps to the deletion so no late update revives it."""
    mark_deleted(connection.id, [issue_id])
    stamp = int(when.timestamp() * 1000)
    db.session.execute(update(JiraIssue).where(JiraIssue.id == issue_id, JiraIssue.version_ts < stamp)
                       .values(version_ts=stamp))


def _record(connection: JiraConnection, issue: JiraIssue, dedupe_key: str, change: Change, when: datetime,
            customers: list[Customer], applied: Applied) -> None:
    """Insert the IssueEvent once (by dedupe key); only the insert that wins fans out."""
    event_id = uuid.uuid4()
    inserted = claims.insert_ignore(IssueEvent, {
        "id": event_id, "connection_id": connection.id, "issue_id": issue.id, "jira_key": issue.jira_key,
        "kind": change.kind, "dedupe_key": dedupe_key[:200], "details": change.details, "occurred_at": when,
    }, conflict=("connection_id", "dedupe_key"))
    if not inserted:
        return
    applied.events.append(event_id)
    if connection.organization_id is None:
        return  # a site not linked to a workspace yet: state is kept, nobody to tell
    event = db.session.get(IssueEvent, event_id)
    applied.messages += notify.fan_out(connection.organization_id, event, issue, customers)
    log.info("issue.event", extra={"connection": str(connection.id), "key": issue.jira_key, "kind": change.kind})
