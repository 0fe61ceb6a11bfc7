"""Draining the webhook inbox in batches: one transaction and a fixed number of statements per batch.

A delivery is stored and acknowledged by the web process (`api.webhooks`), which then wakes one
drain job (`jobs.submit_once`): a burst of a thousand deliveries starts a few drains, not a
thousand jobs. A drain claims up to `INBOX_BATCH_SIZE` due deliveries, oldest first, and applies
them together:

- per connection, the rules, the status map and the custom-field selection are read once;
- the issues are upserted in one statement (several deliveries of one issue coalesce into one
  write, the newest `updated` winning as it does for single deliveries), their status and field
  history and their rule links are each written in bulk, and a JQL rule asks Jira once per batch;
- every delivery's changelog is still classified on its own, in Jira's order, and every change
  is recorded and notified once (the events' dedupe keys, as before);
- impact and SLA clocks are recomputed once for all the batch's issues, each customer's context
  once per batch, and the pushes go out in parallel after the commit.

Ordering: deliveries of one issue are claimed by one drain at a time (a delivery is not claimable
while another of its issue is being processed), so two drains never apply one issue's changes out
of order. Failure: if the batch fails as a whole it is rolled back and each of its deliveries is
processed on its own (`process.process_claimed`), so a poison delivery is retried with its error
while the others go through. A worker killed mid-batch leaves its claims to expire (`locked_at`);
nothing was committed, and the next drain takes them over.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import exists, select, text, update
from sqlalchemy.orm import aliased

from connect_app.atlassian.issue_json import (
    ISSUE_DELETED,
    ISSUE_EVENTS,
    normalize_issue,
    status_category_of,
    status_changes,
)
from connect_app.connections.access import jira_client
from connect_app.delivery import notify
from connect_app.extensions import db
from connect_app.impact.store import recompute
from connect_app.linking.rule_store import rules_for
from connect_app.linking.rules import RuleMatcher
from connect_app.logging_setup import context_scope, current_context
from connect_app.models import Customer, IssueEvent, JiraConnection, JiraCustomerLink, JiraIssue, WebhookDelivery
from connect_app.models.types import utcnow
from connect_app.platform import claims, jobs, metrics
from connect_app.platform.storable import clean_json
from connect_app.sla import store as sla
from connect_app.sync.custom_fields import stored_selection
from connect_app.sync.history import field_changes
from connect_app.sync.store import (
    apply_rule_links,
    insert_field_changes,
    insert_status_changes,
    stored_issue_fields,
    upsert_issues,
    version_ts,
)
from connect_app.tracking import inbox, process
from connect_app.tracking.classify import StatusMap

log = logging.getLogger(__name__)

BATCH_SIZE = 200  # deliveries per batch (app.config INBOX_BATCH_SIZE overrides)
# A drain hands its worker back after this long (another drain job continues), so a steady stream
# of webhooks never starves the other jobs of the queue.
DRAIN_SLICE_S = 30.0
# PostgreSQL advisory lock serialising batch claims (the same-issue check must see the others' claims).
CLAIM_LOCK_KEY = 0x43534358  # "CSCX"


def wake() -> bool:
    """Start a drain unless one is already waiting to start (called after a delivery is stored)."""
    return jobs.submit_once(inbox.DRAIN_JOB)


def batch_size() -> int:
    return max(1, int(current_app.config.get("INBOX_BATCH_SIZE", BATCH_SIZE)))


def drain_inbox() -> dict[str, int]:
    """Job: claim and process batches of due deliveries until none is left (or the slice is used up)."""
    owner = claims.worker_id()
    deadline = time.monotonic() + float(current_app.config.get("INBOX_DRAIN_SLICE_S", DRAIN_SLICE_S))
    totals: Counter[str] = Counter()
    limit = batch_size()
    while True:
        ids = claim_batch(owner, limit)
        if not ids:
            break
        if len(ids) == limit:
            wake()  # a backlog: another worker may drain beside this one (its claims are other issues)
        totals.update(process_batch(ids))
        if time.monotonic() > deadline:
            wake()  # the rest in a fresh job, behind whatever else waits in the queue
            break
    return dict(totals)


def claim_batch(owner: str, limit: int, now: datetime | None = None) -> list[uuid.UUID]:
    """Claim up to `limit` due deliveries, oldest first, none of an issue another worker is processing.

    Due: pending, failed whose retry time has come, or processing under a claim older than the lock
    timeout (its worker died). One UPDATE ... RETURNING; committed before returning.
    """
    now = now or utcnow()
    lock_timeout_s = inbox.lock_timeout()
    row = WebhookDelivery
    other = aliased(WebhookDelivery)
    in_flight = exists().where(other.connection_id == row.connection_id, other.jira_key == row.jira_key,
                               other.status == "processing",
                               other.locked_at >= now - timedelta(seconds=lock_timeout_s))
    due = claims.claimable_now(row, now=now, lock_timeout_s=lock_timeout_s, claimable=("pending", "failed"),
                               claimed="processing")
    pick = select(row.id).where(due, ~in_flight).order_by(row.received_at).limit(limit)
    postgres = db.session.get_bind().dialect.name == "postgresql"
    if postgres:
        # Claims are short: taking them one at a time lets each see the issues the others took.
        db.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CLAIM_LOCK_KEY})
        pick = pick.with_for_update(skip_locked=True)
    ids = list(db.session.scalars(
        update(row).where(row.id.in_(pick.scalar_subquery()))
        .values(**claims.claimed_by(row, owner=owner, now=now, claimed="processing"))
        .returning(row.id).execution_options(synchronize_session=False)))
    db.session.commit()
    return ids


@dataclass
class _Item:
    """One delivery of the batch, as applied."""

    row: WebhookDelivery
    event: str
    when: datetime
    raw: dict[str, Any]
    histories: list[dict[str, Any]]
    jira_id: str | None = None
    issue_id: uuid.UUID | None = None
    stored_from_payload: bool = True  # False: a deletion that names the issue only (nothing to upsert)
    snapshot: set[str] | None = None


def process_batch(ids: list[uuid.UUID]) -> Counter[str]:
    """Apply these claimed deliveries in one transaction; on failure, one by one. Counts per outcome."""
    outcome: Counter[str] = Counter()
    rows = list(db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.id.in_(ids))))
    rows.sort(key=lambda r: (r.event_ts or 0, r.received_at, str(r.id)))
    applied = process.Applied()
    notes: dict[uuid.UUID, str | None] = {}
    try:
        by_connection: dict[uuid.UUID, list[WebhookDelivery]] = defaultdict(list)
        for row in rows:
            by_connection[row.connection_id].append(row)
        for connection_id in sorted(by_connection, key=str):
            connection = db.session.get(JiraConnection, connection_id)
            _apply_connection(connection, by_connection[connection_id], applied, notes)
        now = utcnow()
        db.session.execute(update(WebhookDelivery), [
            {"id": row.id, "status": "done", "processed_at": now, "last_error": notes.get(row.id),
             "locked_by": None, "locked_at": None} for row in rows])
        done = [(row.received_at, row.delivery_id) for row in rows]  # read now: the commit expires the rows
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        if len(rows) == 1:  # nothing else to save: keep it with its error
            row_id, delivery_id = rows[0].id, rows[0].delivery_id
            with context_scope(current_context() | {"delivery_id": delivery_id}):
                log.exception("webhook.process_failed", extra={"delivery": str(row_id)})
                outcome[inbox.mark_failed(row_id, f"{type(exc).__name__}: {exc}")] += 1
            return outcome
        log.warning("webhook.batch_failed", exc_info=True,
                    extra={"deliveries": len(rows), "error": f"{type(exc).__name__}: {exc}"[:300]})
        metrics.webhook_batch("split", len(rows))
        for row_id in [r.id for r in rows]:
            with context_scope(current_context()):  # each delivery's lines carry its own delivery_id
                outcome[process.process_claimed(row_id)] += 1
        return outcome
    for received_at, _ in done:
        metrics.webhook_processed("done", received_at)
    metrics.webhook_batch("applied", len(done))
    outcome["done"] += len(done)
    # The deliveries' identifiers: a delivery's lines at intake and this batch's line share its delivery_id.
    log.info("webhook.batch", extra={"deliveries": len(done), "events": len(applied.events),
                                     "messages": len(applied.messages), "customers": len(applied.customers),
                                     "delivery_ids": [delivery_id for _, delivery_id in done]})
    process.after_commit(applied)
    return outcome


def _apply_connection(connection: JiraConnection, rows: list[WebhookDelivery], applied: process.Applied,
                      notes: dict[uuid.UUID, str | None]) -> None:
    """Apply one connection's deliveries of the batch (no commit): the set-based form of `process.apply_issue`."""
    status_map = process.status_map_for(connection)
    matcher = RuleMatcher(rules_for(connection))
    selection = stored_selection(connection, matcher.custom_field_ids)
    items: list[_Item] = []
    for row in rows:
        item = _item(connection, row, selection, status_map)
        if item is None:
            notes[row.id] = f"ignored: {row.payload.get('webhookEvent')}"
        else:
            items.append(item)
    if not items:
        return
    known = _stored_ids(connection, items)
    for item in items:
        item.issue_id = known.get(item.jira_id) if item.jira_id else None
        if item.event == ISSUE_DELETED and process.is_partial(item.raw):
            item.stored_from_payload = False
            if item.issue_id is None:
                notes[item.row.id] = "deleted before we knew it"
    live = [i for i in items if i.stored_from_payload or i.issue_id is not None]
    process.lock_issues(connection.id, [i.jira_id for i in live if i.jira_id])
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
    wanted: dict[uuid.UUID, set[uuid.UUID]] = {}
    for item in live:
        wanted[item.row.id] = {customer_id for customer_id, source, rule_id in links.get(item.issue_id, ())
                               if item.snapshot is None or source != "rule" or str(rule_id) in jql_rule_ids}
        wanted[item.row.id] |= {uuid.UUID(c) for c in item.snapshot or ()}
    customers = {c.id: c for c in db.session.scalars(
        select(Customer).where(Customer.id.in_(set().union(*wanted.values()) or {uuid.uuid4()})))}
    jira_ids = dict(db.session.execute(
        select(JiraIssue.id, JiraIssue.jira_id).where(JiraIssue.id.in_(issue_ids))).all())
    changes = []
    for item in live:
        item_customers = sorted((customers[c] for c in wanted[item.row.id] if c in customers), key=lambda c: c.name)
        for dedupe_key, change, occurred_at in process.classify_payload(
                item.event, item.histories, status_map, jira_ids[item.issue_id], item.when):
            changes.append((item, dedupe_key[:200], change, occurred_at, item_customers))
    deleted = [i for i in live if i.event == ISSUE_DELETED]
    for item in deleted:
        process.mark_issue_deleted(connection, item.issue_id, item.when)
    # Every customer whose context may have moved: linked before, linked now, or concerned by an event.
    applied.customers |= set().union(*before.values(), *({c for c, _, _ in found} for found in links.values()),
                                     *wanted.values())
    _record(connection, issue_ids, changes, applied)

    rescored = recompute(issue_ids, property_stale=True)
    applied.messages += rescored.messages
    applied.stale_properties |= rescored.stale_connections
    applied.messages += sla.evaluate_issues(issue_ids).messages


def _item(connection: JiraConnection, row: WebhookDelivery, selection, status_map: StatusMap) -> _Item | None:
    """A delivery's issue and changelog as stored values (a partial payload is completed from Jira)."""
    payload = row.payload
    event = payload.get("webhookEvent")
    if event not in ISSUE_EVENTS:
        return None
    when = process.event_time(payload)
    raw = payload["issue"]
    if event != ISSUE_DELETED and process.is_partial(raw):
        raw = jira_client(connection).get_issue(raw.get("key") or raw["id"], fields=selection.get_fields())
    raw, histories = clean_json(raw)[0], clean_json(process.histories_of(payload, when))[0]
    status = (raw.get("fields") or {}).get("status") or {}
    status_map.learn(str(status.get("id")) if status.get("id") else None, status.get("name"),
                     status_category_of(status))
    for history in histories:
        process.learn_statuses(connection, status_map, history["items"])
    return _Item(row, event, when, raw, histories, jira_id=str(raw["id"]) if raw.get("id") else None)


def _stored_ids(connection: JiraConnection, items: list[_Item]) -> dict[str, uuid.UUID]:
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


def _write_history(connection: JiraConnection, items: list[_Item], status_map: StatusMap) -> None:
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


def _record(connection: JiraConnection, issue_ids: list[uuid.UUID], changes: list, applied: process.Applied) -> None:
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

