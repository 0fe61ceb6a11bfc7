"""SLA in the database: policies, per-issue results, the due check and its alerts.

`evaluate_issues(ids)` recomputes every active policy's clock on these issues from their status
history and linked customers (a status change, a link change, a tier change call it, in their
own transaction), writes the results that changed and fires the alerts their new state calls for.
Each result keeps `next_check_at`, the next instant it changes state by itself, so `check_due`
is one indexed query for what is due, and nothing when nothing is.

An alert (`sla_at_risk`, `sla_breached`) is an issue event whose dedupe key is the policy,
issue, cycle and state: inserted once however many checkers see it, then fanned out like every
issue event (the affected customers' CSM owners, subscribers) and pushed as `issue.sla`.
Crossings from before a policy existed are shown, not alerted.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from connect_app.delivery import notify, outbox
from connect_app.extensions import db
from connect_app.models import (
    Customer,
    IssueEvent,
    IssueStatusChange,
    JiraConnection,
    JiraCustomerLink,
    JiraIssue,
    SlaPolicy,
    SlaResult,
)
from connect_app.models.types import iso, utcnow
from connect_app.platform import claims
from connect_app.platform.db import among
from connect_app.sla.clock import Result, Stay, Transition, evaluate, stays
from connect_app.sla.policies import Policy, PolicyError, parse_policy

log = logging.getLogger(__name__)

TOPIC = "issue.sla"
ALERT_KINDS = {"at_risk": "sla_at_risk", "breached": "sla_breached"}
STATE_ORDER = ("breached", "at_risk", "paused", "running", "met_late", "met")  # worst first
CHUNK = 500
DUE_BATCH = 1000
_parsed: dict[tuple[uuid.UUID, int], Policy] = {}


# ---- policies --------------------------------------------------------------------------------

def policy_of(row: SlaPolicy) -> Policy:
    """The parsed policy of a row (cached by id and version: its calendar caches working days)."""
    key = (row.id, row.version)
    policy = _parsed.get(key)
    if policy is None:
        policy = _parsed[key] = parse_policy(row.definition)
    return policy


def policy_view(row: SlaPolicy) -> dict[str, Any]:
    """A policy as the API shows it."""
    return {"id": str(row.id), **row.definition, "version": row.version, "created_by": row.created_by,
            "created_at": iso(row.created_at), "updated_at": iso(row.updated_at)}


def list_policies(organization_id: str) -> list[SlaPolicy]:
    """The workspace's policies, by name."""
    return list(db.session.scalars(select(SlaPolicy).where(SlaPolicy.organization_id == organization_id)
                                   .order_by(SlaPolicy.name)))


def find_policy(organization_id: str, policy_id: uuid.UUID) -> SlaPolicy | None:
    """One of the workspace's policies (another workspace's is not found)."""
    row = db.session.get(SlaPolicy, policy_id)
    return row if row is not None and row.organization_id == organization_id else None


def save_policy(organization_id: str, raw: Any, user_id: str | None, row: SlaPolicy | None = None) -> SlaPolicy:
    """Create (row None) or replace a policy from its JSON; PolicyError names what is wrong; commits."""
    policy = parse_policy(raw)
    if row is None:
        row = SlaPolicy(organization_id=organization_id, created_by=user_id, version=1)
        db.session.add(row)
    else:
        row.version += 1
    row.name, row.metric, row.warn_at_percent, row.active = policy.name, policy.metric, policy.warn_at_percent, \
        policy.active
    row.definition = policy.as_dict()
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise PolicyError({"name": "another policy of this workspace has that name"}) from None
    log.info("sla.policy_saved", extra={"workspace": organization_id, "policy": str(row.id), "version": row.version})
    return row


def delete_policy(organization_id: str, policy_id: uuid.UUID) -> bool:
    """Delete a policy and its results; False when the workspace has no such policy; commits."""
    row = find_policy(organization_id, policy_id)
    if row is None:
        return False
    db.session.delete(row)
    db.session.commit()
    return True


# ---- what an issue is, for the clocks -----------------------------------------------------------

@dataclass
class IssueFacts:
    """An issue as the clocks see it."""

    issue: Row[Any]  # ISSUE_COLUMNS
    organization_id: str
    links: list[tuple[str, str | None]] = field(default_factory=list)  # (link type, customer tier)
    transitions: list[Transition] = field(default_factory=list)
    development: frozenset[str] | None = None  # status names / ids the status map calls development
    _history: list[Stay] | None = field(default=None, repr=False)

    def is_development(self, stay: Stay) -> bool:
        """Whether a stay is development: a mapped status, else the indeterminate category."""
        if self.development is not None:
            return (stay.status or "").casefold() in self.development
        return stay.category == "indeterminate"

    def history(self) -> list[Stay]:
        """The issue's stays from creation to now (worked out once: every policy reads the same)."""
        if self._history is None:
            created = self.issue.created_at or min((t.at for t in self.transitions), default=None) or utcnow()
            self._history = stays(created, self.transitions, self.issue.status, self.issue.status_category)
        return self._history

    def tiers(self, link_types: frozenset[str]) -> list[str | None]:
        """The tiers of the customers linked by these link types (all when empty)."""
        return [tier for link_type, tier in self.links if not link_types or link_type in link_types]


def _development(status_map: dict | None) -> frozenset[str] | None:
    """The statuses a connection's status map calls development (None: the category rule applies)."""
    mapped = frozenset(str(key).casefold() for key, value in (status_map or {}).items()
                       if (isinstance(value, dict) and value.get("meaning") == "development")
                       or value == "development")
    return mapped or None


# What the clocks, the views and the alerts read of an issue (rows, not entities: cheaper by far).
ISSUE_COLUMNS = (JiraIssue.id, JiraIssue.connection_id, JiraIssue.jira_id, JiraIssue.jira_key, JiraIssue.project_key,
                 JiraIssue.summary, JiraIssue.issue_type, JiraIssue.status, JiraIssue.status_category,
                 JiraIssue.priority, JiraIssue.assignee_name, JiraIssue.resolution, JiraIssue.created_at,
                 JiraIssue.updated_at, JiraIssue.deleted_at)


def load_facts(issue_ids: list[uuid.UUID]) -> dict[uuid.UUID, IssueFacts]:
    """Issues with their connection's workspace and status map, linked customers and status history."""
    facts: dict[uuid.UUID, IssueFacts] = {}
    connections: dict[uuid.UUID, tuple[str, frozenset[str] | None]] = {}
    for start in range(0, len(issue_ids), CHUNK):
        chunk = issue_ids[start:start + CHUNK]
        issues = list(db.session.execute(select(*ISSUE_COLUMNS).where(
            among(JiraIssue.id, chunk), JiraIssue.deleted_at.is_(None))))
        wanted = {issue.connection_id for issue in issues} - connections.keys()
        if wanted:
            for connection_id, organization_id, status_map in db.session.execute(
                    select(JiraConnection.id, JiraConnection.organization_id, JiraConnection.status_map)
                    .where(JiraConnection.id.in_(sorted(wanted)), JiraConnection.organization_id.is_not(None))):
                connections[connection_id] = (organization_id, _development(status_map))
        for issue in issues:
            if issue.connection_id in connections:
                organization_id, development = connections[issue.connection_id]
                facts[issue.id] = IssueFacts(issue, organization_id, development=development)
        for issue_id, link_type, tier, customer_org in db.session.execute(
                select(JiraCustomerLink.issue_id, JiraCustomerLink.link_type, Customer.tier, Customer.organization_id)
                .join(Customer, Customer.id == JiraCustomerLink.customer_id)
                .where(among(JiraCustomerLink.issue_id, chunk))):
            if issue_id in facts and customer_org == facts[issue_id].organization_id:
                facts[issue_id].links.append((link_type, tier))
        for change in db.session.execute(
                select(IssueStatusChange.issue_id, IssueStatusChange.changed_at, IssueStatusChange.from_status,
                       IssueStatusChange.to_status, IssueStatusChange.from_category, IssueStatusChange.to_category)
                .where(among(IssueStatusChange.issue_id, chunk))):  # `stays` puts them in order
            if change.issue_id in facts:
                facts[change.issue_id].transitions.append(Transition(
                    change.changed_at, change.from_status, change.to_status, change.from_category,
                    change.to_category))
    return facts


def clocks(policy: Policy, facts: IssueFacts, now: datetime) -> list[Result]:
    """A policy's cycles on one issue as of `now` ([] when the policy does not cover it)."""
    issue = facts.issue
    if not policy.active or not policy.selector.covers(project=issue.project_key, issue_type=issue.issue_type,
                                                        priority=issue.priority, links=facts.links):
        return []
    target = policy.target_seconds(facts.tiers(policy.selector.link_types))
    return evaluate(policy, facts.history(), target, now, facts.is_development)


# ---- evaluation ---------------------------------------------------------------------------------

@dataclass
class Evaluated:
    """What an evaluation changed: results written, alerts fired (their pushes for after the commit)."""

    written: int = 0
    removed: int = 0
    alerts: list[uuid.UUID] = field(default_factory=list)
    messages: list[uuid.UUID] = field(default_factory=list)


def _workspaces_of(issue_ids: list[uuid.UUID]) -> set[str]:
    """The workspaces whose (linked) connections hold these issues."""
    return set(db.session.scalars(
        select(JiraConnection.organization_id).join(JiraIssue, JiraIssue.connection_id == JiraConnection.id)
        .where(among(JiraIssue.id, issue_ids), JiraConnection.organization_id.is_not(None)).distinct()))


def _active_policies(organization_ids: Iterable[str]) -> dict[str, list[SlaPolicy]]:
    found: dict[str, list[SlaPolicy]] = defaultdict(list)
    ids = sorted(set(organization_ids))
    if ids:
        for row in db.session.scalars(select(SlaPolicy).where(SlaPolicy.organization_id.in_(ids),
                                                              SlaPolicy.active.is_(True))):
            found[row.organization_id].append(row)
    return found


def evaluate_issues(issue_ids: Iterable[uuid.UUID], *, now: datetime | None = None,
                    policy_rows: list[SlaPolicy] | None = None) -> Evaluated:
    """Recompute the SLA clocks of these issues and store what changed, in the caller's transaction.

    `policy_rows` limits it to some policies (a policy edit); by default every active policy of
    each issue's workspace counts, and results of policies that no longer cover an issue go.
    """
    now = now or utcnow()
    ids = sorted(set(issue_ids))
    outcome = Evaluated()
    for start in range(0, len(ids), CHUNK):
        _evaluate_chunk(ids[start:start + CHUNK], now, policy_rows, outcome)
    return outcome


def _evaluate_chunk(ids: list[uuid.UUID], now: datetime, policy_rows: list[SlaPolicy] | None,
                    outcome: Evaluated) -> None:
    if policy_rows is None and not _active_policies(_workspaces_of(ids)):
        # No policy covers these issues (a workspace without SLAs): only results left by a deleted or
        # paused policy can be here, and they go; no facts to load, no clock to run.
        gone = db.session.execute(delete(SlaResult).where(among(SlaResult.issue_id, ids))).rowcount
        outcome.removed += max(0, gone or 0)
        return
    facts = load_facts(ids)
    if policy_rows is None:
        by_workspace = _active_policies(f.organization_id for f in facts.values())
    else:
        by_workspace = defaultdict(list)
        for row in policy_rows:
            by_workspace[row.organization_id].append(row)
    scope = [row.id for rows in by_workspace.values() for row in rows]
    stored = {}
    query = select(SlaResult).where(among(SlaResult.issue_id, ids))
    if policy_rows is not None:
        query = query.where(SlaResult.policy_id.in_(scope or [uuid.uuid4()]))
    for row in db.session.scalars(query):
        stored[(row.policy_id, row.issue_id, row.cycle)] = row
    wanted: set[tuple[uuid.UUID, uuid.UUID, int]] = set()
    inserts, updates, alerts = [], [], []
    parsed = {row.id: policy_of(row) for rows in by_workspace.values() for row in rows}
    for issue_id, issue_facts in facts.items():
        for row in by_workspace.get(issue_facts.organization_id, []):
            for result in clocks(parsed[row.id], issue_facts, now):
                key = (row.id, issue_id, result.cycle)
                wanted.add(key)
                previous = stored.get(key)
                values = _values(result, now)
                if previous is None:
                    inserts.append(values | {"id": uuid.uuid4(), "organization_id": row.organization_id,
                                             "policy_id": row.id, "issue_id": issue_id, "cycle": result.cycle})
                elif _changed(previous, values):
                    updates.append(values | {"id": previous.id})
                if result.state in ALERT_KINDS and (previous is None or previous.state != result.state):
                    alerts.append((row, issue_facts, result))
    gone = [row.id for key, row in stored.items() if key not in wanted]
    for start in range(0, len(inserts), CHUNK):
        # Another evaluation of the same issue (a webhook, a concurrent check) may have written it first.
        claims.insert_ignore_many(SlaResult, inserts[start:start + CHUNK], conflict=("issue_id", "policy_id", "cycle"))
    for start in range(0, len(updates), CHUNK):
        db.session.execute(update(SlaResult), updates[start:start + CHUNK])
    if gone:
        db.session.execute(delete(SlaResult).where(SlaResult.id.in_(gone)))
    outcome.written += len(inserts) + len(updates)
    outcome.removed += len(gone)
    _alert(alerts, outcome)


def _values(result: Result, now: datetime) -> dict[str, Any]:
    return {"state": result.state, "paused": result.paused, "started_at": result.started_at,
            "stopped_at": result.stopped_at, "elapsed_seconds": result.elapsed_seconds,
            "target_seconds": result.target_seconds, "warn_at": result.warn_at, "breach_at": result.breach_at,
            "breached_at": result.breached_at, "next_check_at": result.next_check_at, "evaluated_at": now}


SETTLED = ("state", "paused", "stopped_at", "target_seconds", "breached_at", "next_check_at")


def _changed(row: SlaResult, values: dict[str, Any]) -> bool:
    """Whether a stored result must be rewritten: a state, target or due instant moved.

    `elapsed_seconds` alone moves every second; it is recomputed on read, not rewritten here.
    """
    return any(getattr(row, name) != values[name] for name in SETTLED) or (
        values["state"] not in ("running", "at_risk") and row.elapsed_seconds != values["elapsed_seconds"])


def _alert(alerts: list[tuple[SlaPolicy, IssueFacts, Result]], outcome: Evaluated) -> None:
    """Fire the at-risk and breach alerts of these cycles, each once (its dedupe key), unless it predates
    its policy: one insert of events, one customer lookup, one fan-out per workspace."""
    events: dict[uuid.UUID, tuple[IssueEvent, IssueFacts]] = {}
    for row, facts, result in alerts:
        state = result.state
        crossed = result.breached_at if state == "breached" else (result.warn_at or utcnow())
        if crossed is None or crossed < row.created_at:
            continue
        issue = facts.issue
        event = IssueEvent(
            id=uuid.uuid4(), connection_id=issue.connection_id, issue_id=issue.id, jira_key=issue.jira_key,
            kind=ALERT_KINDS[state], dedupe_key=f"sla:{row.id}:{issue.id}:{result.cycle}:{state}",
            occurred_at=crossed, details={
                "policy_id": str(row.id), "policy": row.name, "metric": row.metric, "cycle": result.cycle,
                "state": state, "elapsed_seconds": result.elapsed_seconds, "target_seconds": result.target_seconds,
                "breach_at": iso(result.breach_at), "warn_at": iso(result.warn_at)})
        events[event.id] = (event, facts)
    if not events:
        return
    columns = ("id", "connection_id", "issue_id", "jira_key", "kind", "dedupe_key", "details", "occurred_at")
    rows = [{name: getattr(event, name) for name in columns} for event, _ in events.values()]
    inserted = set()
    for start in range(0, len(rows), CHUNK):  # another checker may have fired some of them first
        inserted.update(claims.insert_ignore_many(IssueEvent, rows[start:start + CHUNK],
                                                  conflict=("connection_id", "dedupe_key")))
    fired = [events[event_id] for event_id in sorted(inserted)]
    customers = _customers_of(sorted({facts.issue.id for _, facts in fired}))
    by_workspace: dict[str, list[tuple[IssueEvent, JiraIssue, list[Customer]]]] = defaultdict(list)
    for event, facts in fired:
        outcome.alerts.append(event.id)
        linked = [c for c in customers.get(facts.issue.id, []) if c.organization_id == facts.organization_id]
        by_workspace[facts.organization_id].append((event, facts.issue, linked))
        log.info("sla.alert", extra={"policy": event.details["policy_id"], "key": event.jira_key,
                                     "state": event.details["state"], "cycle": event.details["cycle"]})
    for organization_id, batch in sorted(by_workspace.items()):
        outcome.messages += notify.fan_out_many(organization_id, batch, topic=TOPIC)


def _customers_of(issue_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[Customer]]:
    """The customers linked to each issue, by name."""
    found: dict[uuid.UUID, list[Customer]] = defaultdict(list)
    for start in range(0, len(issue_ids), CHUNK):
        for issue_id, customer in db.session.execute(
                select(JiraCustomerLink.issue_id, Customer)
                .join(Customer, Customer.id == JiraCustomerLink.customer_id)
                .where(JiraCustomerLink.issue_id.in_(issue_ids[start:start + CHUNK]))
                .order_by(JiraCustomerLink.issue_id, Customer.name)):
            if all(c.id != customer.id for c in found[issue_id]):
                found[issue_id].append(customer)
    return found


def after_commit(outcome: Evaluated) -> None:
    """Push the committed alerts."""
    outbox.submit_deliveries(outcome.messages)


def customers_changed(customer_ids: Iterable[uuid.UUID]) -> Evaluated:
    """Customers' tiers (or links) changed: the clocks of their issues (targets follow the tier); commits."""
    ids = sorted({uuid.UUID(str(c)) for c in customer_ids})
    issue_ids: set[uuid.UUID] = set()
    for start in range(0, len(ids), CHUNK):
        issue_ids.update(db.session.scalars(select(JiraCustomerLink.issue_id).where(
            JiraCustomerLink.customer_id.in_(ids[start:start + CHUNK]))))
    outcome = evaluate_issues(issue_ids)
    db.session.commit()
    after_commit(outcome)
    return outcome


def evaluate_policy(row: SlaPolicy, *, now: datetime | None = None) -> Evaluated:
    """A policy was created or edited: its clocks on every linked open issue of the workspace; commits."""
    candidates = list(db.session.scalars(
        select(JiraIssue.id).join(JiraConnection, JiraConnection.id == JiraIssue.connection_id)
        .where(JiraConnection.organization_id == row.organization_id, JiraIssue.deleted_at.is_(None),
               JiraIssue.id.in_(select(JiraCustomerLink.issue_id)))))
    candidates += list(db.session.scalars(select(SlaResult.issue_id).where(SlaResult.policy_id == row.id)))
    outcome = evaluate_issues(candidates, now=now, policy_rows=[row])
    db.session.commit()
    return outcome


def evaluate_policy_job(policy_id: str) -> dict[str, int]:
    """Job: evaluate one (new or edited) policy, then push its alerts."""
    row = db.session.get(SlaPolicy, uuid.UUID(str(policy_id)))
    if row is None:
        return {"written": 0}
    outcome = evaluate_policy(row)
    after_commit(outcome)
    return {"written": outcome.written, "removed": outcome.removed, "alerts": len(outcome.alerts)}


# ---- the periodic check ------------------------------------------------------------------------

def check_due(now: datetime | None = None) -> dict[str, int]:
    """Job (every minute): re-evaluate the results whose next state change is due; commits; pushes alerts.

    With nothing due this is one indexed query.
    """
    now = now or utcnow()
    counts = {"due": 0, "alerts": 0, "written": 0}
    while True:
        due = list(db.session.scalars(select(SlaResult.issue_id).where(SlaResult.next_check_at <= now)
                                      .order_by(SlaResult.next_check_at).limit(DUE_BATCH)))
        if not due:
            break
        outcome = evaluate_issues(due, now=now)
        db.session.commit()
        after_commit(outcome)
        counts["due"] += len(set(due))
        counts["alerts"] += len(outcome.alerts)
        counts["written"] += outcome.written
        if len(due) < DUE_BATCH:
            break
    if counts["due"]:
        log.info("sla.checked", extra=counts)
    return counts


def project(at: datetime, organization_id: str | None = None) -> list[dict[str, Any]]:
    """As of `at` (read-only): every open clock that will be at risk or breached by then, worst first."""
    query = select(SlaResult.issue_id).where(SlaResult.state.in_(("running", "at_risk", "breached", "paused")))
    if organization_id is not None:
        query = query.where(SlaResult.organization_id == organization_id)
    issue_ids = sorted(set(db.session.scalars(query)))
    rows = []
    for start in range(0, len(issue_ids), CHUNK):
        facts = load_facts(issue_ids[start:start + CHUNK])
        policies = _active_policies(f.organization_id for f in facts.values())
        for issue_facts in facts.values():
            for row in policies.get(issue_facts.organization_id, []):
                for result in clocks(policy_of(row), issue_facts, at):
                    if result.stopped_at is None and result.state in ("at_risk", "breached"):
                        rows.append(_view(row, issue_facts.issue, result, at))
    return sorted(rows, key=_urgency)


# ---- views -------------------------------------------------------------------------------------

def _view(row: SlaPolicy, issue: JiraIssue | Row[Any], result: Result, now: datetime) -> dict[str, Any]:
    remaining = None
    if result.stopped_at is None and not result.paused:
        remaining = result.target_seconds - result.elapsed_seconds
    return {"key": issue.jira_key, "summary": issue.summary, "status": issue.status, "priority": issue.priority,
            "policy_id": str(row.id), "policy": row.name, "metric": row.metric, "cycle": result.cycle,
            "state": result.state, "elapsed_seconds": result.elapsed_seconds,
            "target_seconds": result.target_seconds, "remaining_seconds": remaining, "warn_at": iso(result.warn_at),
            "breach_at": iso(result.breach_at), "breached_at": iso(result.breached_at), "paused": result.paused,
            "as_of": iso(now)}


def _urgency(view: dict[str, Any]) -> tuple:
    """Breached longest ago first, then soonest to breach."""
    if view["state"] == "breached":
        return (0, view["breached_at"] or "", view["key"])
    return (1, view["breach_at"] or "9999", view["key"])


def issue_sla(issue: JiraIssue, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every policy cycle on an issue, computed up to now (GET /api/jira/issue/<key>)."""
    now = now or utcnow()
    facts = load_facts([issue.id]).get(issue.id)
    if facts is None:
        return []
    views = []
    for row in _active_policies([facts.organization_id]).get(facts.organization_id, []):
        for result in clocks(policy_of(row), facts, now):
            view = _view(row, issue, result, now)
            views.append({k: view[k] for k in ("policy_id", "policy", "metric", "cycle", "state", "elapsed_seconds",
                                               "target_seconds", "remaining_seconds", "warn_at", "breach_at",
                                               "breached_at", "paused")})
    return views


def board(organization_id: str, *, states: tuple[str, ...] = ("at_risk", "breached"),
          customer_id: uuid.UUID | None = None, policy_id: uuid.UUID | None = None, limit: int = 100, offset: int = 0,
          now: datetime | None = None) -> dict[str, Any]:
    """GET /api/jira/sla: the workspace's clocks in these states, breached longest ago then soonest to breach."""
    now = now or utcnow()
    query = (select(SlaResult, SlaPolicy, JiraIssue)
             .join(SlaPolicy, SlaPolicy.id == SlaResult.policy_id)
             .join(JiraIssue, JiraIssue.id == SlaResult.issue_id)
             .where(SlaResult.organization_id == organization_id, SlaResult.state.in_(states),
                    JiraIssue.deleted_at.is_(None)))
    if policy_id is not None:
        query = query.where(SlaResult.policy_id == policy_id)
    if customer_id is not None:
        query = query.where(SlaResult.issue_id.in_(select(JiraCustomerLink.issue_id).where(
            JiraCustomerLink.customer_id == customer_id)))
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    breached_first = func.coalesce(SlaResult.breached_at, SlaResult.breach_at)
    rows = db.session.execute(query.order_by((SlaResult.state != "breached"), breached_first, JiraIssue.jira_key)
                              .limit(limit).offset(offset)).all()
    items = []
    for result, policy, issue in rows:
        elapsed = result.elapsed_seconds
        if result.stopped_at is None and not result.paused and result.state in ("running", "at_risk", "breached"):
            # Stored results are rewritten when their state changes, not every second: bring elapsed up to now.
            elapsed += policy_of(policy).calendar.seconds_between(result.evaluated_at, now)
        items.append({"key": issue.jira_key, "summary": issue.summary, "status": issue.status,
                      "priority": issue.priority, "connection_id": str(issue.connection_id),
                      "policy_id": str(policy.id), "policy": policy.name, "metric": policy.metric,
                      "cycle": result.cycle, "state": result.state, "elapsed_seconds": elapsed,
                      "target_seconds": result.target_seconds,
                      "remaining_seconds": None if result.paused else result.target_seconds - elapsed,
                      "warn_at": iso(result.warn_at), "breach_at": iso(result.breach_at),
                      "breached_at": iso(result.breached_at), "paused": result.paused})
    return {"total": total, "limit": limit, "offset": offset, "as_of": iso(now), "items": items}


def worst_state(issue_id: uuid.UUID) -> str | None:
    """The worst SLA state of an issue's current clocks (the Jira panel shows it)."""
    states = set(db.session.scalars(select(SlaResult.state).where(SlaResult.issue_id == issue_id)))
    return next((state for state in STATE_ORDER if state in states), None)
