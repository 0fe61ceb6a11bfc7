"""Applying issue changes: the issue's new state, each change classified and fanned out — exactly once.

`apply_issues` is the one way a change is applied, set-based: for a batch of webhooks
(`tracking.batch`), one delivery (`process_claimed`, what a failed batch falls back to), or an
issue a reconciliation found. After commit, `after_commit` pushes the outbox messages and
refreshes the affected customers' context.

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
from collections import defaultdict
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
    version_ts,
)
from connect_app.tracking import contexts, inbox
from connect_app.tracking.classify import Change, StatusMap, classify_history

log = logging.getLogger(__name__)

STATUS_CACHE_TTL_S = 600.0
_status_cache: dict[uuid.UUID, tuple[float, dict[str, str]]] = {}


@dataclass
class Applied:
    """What applying changes did (one delivery, a batch, a reconciled issue)."""

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


@dataclass
class Incoming:
    """One change of one issue to apply: a webhook's, or one a reconciliation found in Jira."""

    event: str  # a Jira webhook event name
    raw: dict[str, Any]  # the issue as sent (a partial one is completed from Jira)
    histories: list[dict[str, Any]]
    when: datetime
    note: str | None = None  # what applying it says when it changed nothing (a deletion we never saw)
    jira_id: str | None = None
    issue_id: uuid.UUID | None = None
    stored_from_payload: bool = True  # False: a deletion that names the issue only (nothing to upsert)
    snapshot: set[str] | None = None  # whom the issue's own fields matched at this change


def incoming_of(payload: dict[str, Any]) -> Incoming | None:
    """A stored webhook payload as a change to apply; None for events that are not about an issue."""
    event = payload.get("webhookEvent")
    if event not in ISSUE_EVENTS:
        return None
    when = event_time(payload)
    return Incoming(event, payload["issue"], histories_of(payload, when), when)


def apply_delivery(connection: JiraConnection, payload: dict[str, Any]) -> Applied:
    """Apply one webhook payload to the database (no commit): state, links, history, events, fan-out."""
    incoming = incoming_of(payload)
    if incoming is None:
        return Applied(note=f"ignored: {payload.get('webhookEvent')}")
    applied = Applied()
    apply_issues(connection, [incoming], applied)
    applied.note = incoming.note
    return applied


def apply_issue(connection: JiraConnection, event: str, raw: dict[str, Any], histories: list[dict[str, Any]],
                when: datetime) -> Applied:
    """Apply an issue's state and changelog histories found by a reconciliation (no commit)."""
    applied = Applied()
    apply_issues(connection, [Incoming(event, raw, histories, when)], applied)
    return applied


def apply_issues(connection: JiraConnection, items: list[Incoming], applied: Applied) -> None:
    """Apply changes of one connection's issues, in the order given (no commit), a fixed number of statements
    however many: issue event `created` adds a "created" change, `deleted` marks the issue deleted, and every
    history is classified on its own.

    Several changes of one issue are one write (the newest `updated` wins, as an older event never
    overwrites newer state); status and field history and rule links are written in bulk, and links are
    re-evaluated on the rows as stored (their newest state), a JQL rule asking Jira once. Each change notifies
    whom the issue concerned at that change. Issue text Jira sent that PostgreSQL cannot store is cleaned
    first (`clean_json`): the row, its history and its events are written all the same.
    """
    if not items:
        return
    status_map = status_map_for(connection)
    matcher = RuleMatcher(rules_for(connection))
    selection = stored_selection(connection, matcher.custom_field_ids)
    for item in items:
        _prepare(connection, item, selection, status_map)
    known = _stored_ids(connection, items)
    for item in items:
        item.issue_id = known.get(item.jira_id) if item.jira_id else None
        if item.event == ISSUE_DELETED and is_partial(item.raw):
            item.stored_from_payload = False
            if item.issue_id is None:
                item.note = "deleted before we knew it"
    live = [i for i in items if i.stored_from_payload or i.issue_id is not None]
    lock_issues(connection.id, [i.jira_id for i in live if i.jira_id])
    before = _links_of({i.issue_id for i in live if i.issue_id})

    # The issues' newest state, one write per issue; then history and rule links in bulk.
    upserted = [i for i in live if i.stored_from_payload]
    normalized = {}
    for item in upserted:
        issue_row = normalize_issue(item.raw)
        issue_row["custom_fields"] = selection.shape(issue_row["custom_fields"])
        item.jira_id = issue_row["jira_id"]
        item.snapshot = set(matcher.desired_links(issue_row))
        normalized.setdefault(item.jira_id, []).append(issue_row)
    newest = [max(versions, key=version_ts) for versions in normalized.values()]
    ids = upsert_issues(connection.id, newest, utcnow())
    for item in upserted:
        item.issue_id = ids[item.jira_id]
    _write_history(connection, upserted, status_map)
    issue_ids = sorted({i.issue_id for i in live}, key=str)
    _apply_rule_links(connection, matcher, [i.issue_id for i in upserted])

    # Whom each delivery concerns (as at its own event), classified and recorded in Jira's order.
    links = _link_rows(issue_ids)
    jql_rule_ids = {r.id for r in matcher.jql_rules}
    wanted: dict[int, set[uuid.UUID]] = {}  # by position in `live`
    for n, item in enumerate(live):
        wanted[n] = {customer_id for customer_id, source, rule_id in links.get(item.issue_id, ())
                               if item.snapshot is None or source != "rule" or str(rule_id) in jql_rule_ids}
        wanted[n] |= {uuid.UUID(c) for c in item.snapshot or ()}
    customers = {c.id: c for c in db.session.scalars(
        select(Customer).where(Customer.id.in_(set().union(*wanted.values()) or {uuid.uuid4()})))}
    jira_ids = dict(db.session.execute(
        select(JiraIssue.id, JiraIssue.jira_id).where(JiraIssue.id.in_(issue_ids))).all())
    changes = []
    for n, item in enumerate(live):
        item_customers = sorted((customers[c] for c in wanted[n] if c in customers), key=lambda c: c.name)
        for dedupe_key, change, occurred_at in classify_payload(
                item.event, item.histories, status_map, jira_ids[item.issue_id], item.when):
            changes.append((item, dedupe_key[:200], change, occurred_at, item_customers))
    deleted = [i for i in live if i.event == ISSUE_DELETED]
    for item in deleted:
        mark_issue_deleted(connection, item.issue_id, item.when)
    # Every customer whose context may have moved: linked before, linked now, or concerned by an event.
    applied.customers |= set().union(*before.values(), *({c for c, _, _ in found} for found in links.values()),
                                     *wanted.values())
    _record(connection, issue_ids, changes, applied)

    rescored = recompute(issue_ids, property_stale=True)
    applied.messages += rescored.messages
    applied.stale_properties |= rescored.stale_connections
    applied.messages += sla.evaluate_issues(issue_ids).messages


def _prepare(connection: JiraConnection, item: Incoming, selection, status_map: StatusMap) -> None:
    """The change's issue and histories as stored values (a partial issue fetched from Jira), statuses known."""
    if item.event != ISSUE_DELETED and is_partial(item.raw):
        item.raw = jira_client(connection).get_issue(item.raw.get("key") or item.raw["id"],
                                                     fields=selection.get_fields())
    item.raw, item.histories = clean_json(item.raw)[0], clean_json(item.histories)[0]
    status = (item.raw.get("fields") or {}).get("status") or {}
    status_map.learn(str(status.get("id")) if status.get("id") else None, status.get("name"),
                     status_category_of(status))
    for history in item.histories:
        learn_statuses(connection, status_map, history["items"])
    item.jira_id = str(item.raw["id"]) if item.raw.get("id") else None


def _stored_ids(connection: JiraConnection, items: list[Incoming]) -> dict[str, uuid.UUID]:
    """jira_id -> row id of the batch's issues already stored (an id-less deletion is found by its key)."""
    jira_ids = {i.jira_id for i in items if i.jira_id}
    found = dict(db.session.execute(select(JiraIssue.jira_id, JiraIssue.id).where(
        JiraIssue.connection_id == connection.id, JiraIssue.jira_id.in_(jira_ids or {""}))).all())
    for item in items:
        if not item.jira_id and item.raw.get("key"):
            match = db.session.execute(select(JiraIssue.jira_id, JiraIssue.id).where(
                JiraIssue.connection_id == connection.id, JiraIssue.jira_key == item.raw["key"])).first()
            if match is not None:
                item.jira_id = match.jira_id
                found[match.jira_id] = match.id
    return found


def _links_of(issue_ids: set[uuid.UUID]) -> dict[uuid.UUID, set[uuid.UUID]]:
    found: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    if issue_ids:
        for issue_id, customer_id in db.session.execute(
                select(JiraCustomerLink.issue_id, JiraCustomerLink.customer_id)
                .where(JiraCustomerLink.issue_id.in_(issue_ids))):
            found[issue_id].add(customer_id)
    return found


def _link_rows(issue_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[tuple[uuid.UUID, str, Any]]]:
    found: dict[uuid.UUID, list[tuple[uuid.UUID, str, Any]]] = defaultdict(list)
    if issue_ids:
        for issue_id, customer_id, source, rule_id in db.session.execute(select(
                JiraCustomerLink.issue_id, JiraCustomerLink.customer_id, JiraCustomerLink.source,
                JiraCustomerLink.rule_id).where(JiraCustomerLink.issue_id.in_(issue_ids))):
            found[issue_id].append((customer_id, source, rule_id))
    return found


def _write_history(connection: JiraConnection, items: list[Incoming], status_map: StatusMap) -> None:
    """Every delivery's status transitions and changelog items, in two bulk inserts (repeats ignored)."""
    categories: dict[str, str] = {}
    transitions, items_changed = [], []
    for item in items:
        for change in status_changes(item.histories):
            ends = ((change["from_status_id"], change["from_status"]), (change["to_status_id"], change["to_status"]))
            for sid, name in ends:
                info = status_map(str(sid) if sid else None, name)
                if info.category and sid:
                    categories[str(sid)] = info.category
            transitions.append(change | {"issue_id": item.issue_id})
        items_changed += [c | {"issue_id": item.issue_id} for c in field_changes(item.histories)]
    insert_status_changes(connection.id, _unique(transitions, ("issue_id", "change_id")), categories)
    insert_field_changes(connection.id, _unique(items_changed, ("issue_id", "change_id", "field", "item_index")))


def _unique(rows: list[dict], key: tuple[str, ...]) -> list[dict]:
    """The rows with the first of each key (a duplicated delivery repeats its history in the batch)."""
    seen: dict[tuple, dict] = {}
    for row in rows:
        seen.setdefault(tuple(row.get(k) for k in key), row)
    return list(seen.values())


def _apply_rule_links(connection: JiraConnection, matcher: RuleMatcher, issue_ids: list[uuid.UUID]) -> None:
    """Re-evaluate the rule links of the batch's issues on their rows as stored (their newest state)."""
    stored = stored_issue_fields(sorted(set(issue_ids), key=str))
    if not stored:
        return
    jql_members: dict[str, set[str]] = {}
    if matcher.jql_rules:
        client = jira_client(connection)
        id_list = ", ".join(str(int(row["jira_id"])) for row in stored)
        jql_members = {r.id: client.search_ids(f"id in ({id_list}) AND ({r.jql})") for r in matcher.jql_rules}
    apply_rule_links(connection.id, {row["id"]: matcher.desired_links(row, jql_members) for row in stored},
                     {row["id"]: row["jira_key"] for row in stored})


def _record(connection: JiraConnection, issue_ids: list[uuid.UUID], changes: list, applied: Applied) -> None:
    """Insert the batch's events once each (by dedupe key) and fan out those inserted now."""
    first: dict[str, tuple] = {}
    for change in changes:
        first.setdefault(change[1], change)
    if not first:
        return
    issues = {i.id: i for i in db.session.scalars(
        select(JiraIssue).where(JiraIssue.id.in_(issue_ids)).execution_options(populate_existing=True))}
    rows = [{"id": uuid.uuid4(), "connection_id": connection.id, "issue_id": item.issue_id,
             "jira_key": issues[item.issue_id].jira_key, "kind": change.kind, "dedupe_key": key,
             "details": change.details, "occurred_at": occurred_at}
            for item, key, change, occurred_at, _ in first.values()]
    inserted = set(claims.insert_ignore_many(IssueEvent, rows, conflict=("connection_id", "dedupe_key")))
    applied.events += [r["id"] for r in rows if r["id"] in inserted]
    if not inserted or connection.organization_id is None:
        return  # nothing new, or a site not linked to a workspace yet: state is kept, nobody to tell
    fanned = []
    for row, (item, _, change, _, customers) in zip(rows, first.values(), strict=True):
        if row["id"] in inserted:
            fanned.append((IssueEvent(**row), issues[item.issue_id], customers))
            log.info("issue.event", extra={"connection": str(connection.id), "key": row["jira_key"],
                                           "kind": change.kind})
    applied.messages += notify.fan_out_many(connection.organization_id, fanned)


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


def mark_issue_deleted(connection: JiraConnection, issue_id: uuid.UUID, when: datetime) -> None:
    """Flag the issue deleted and unlink it; its clock jumps to the deletion so no late update revives it."""
    mark_deleted(connection.id, [issue_id])
    stamp = int(when.timestamp() * 1000)
    db.session.execute(update(JiraIssue).where(JiraIssue.id == issue_id, JiraIssue.version_ts < stamp)
                       .values(version_ts=stamp))
