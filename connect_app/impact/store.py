"""Impact in the database: per-issue aggregates in SQL, stored impacts, band-change pushes, settings.

`recompute(issue_ids)` is called in the transaction that changed what an issue's impact depends
on (its links, its priority or status, its customers' ARR, health, renewal or tier): one GROUP BY
over the issues' links and customers gives each issue's exposure, the pure `score.impact` turns
it into a score, and only rows whose impact changed are written. A severity band change queues
an `issue.impact` push in the same transaction. Jira's issue property is left to
`jira_property.write_properties`, which runs after the commit.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from itertools import groupby
from typing import Any

from sqlalchemy import Date, Float, Integer, bindparam, case, cast, func, insert, select, update

from connect_app.delivery import outbox
from connect_app.extensions import db
from connect_app.impact.jira_property import stale_connections, submit_writes
from connect_app.impact.score import UNKNOWN_HEALTH, Exposure, Impact, Settings, impact, percentile
from connect_app.models import (
    LINK_TYPES,
    TIERS,
    ConnectionKind,
    Customer,
    IssueImpact,
    JiraConnection,
    JiraCustomerLink,
    JiraIssue,
    Organization,
)
from connect_app.models.issues import TIER_BITS
from connect_app.models.types import utcnow

log = logging.getLogger(__name__)

TOPIC = "issue.impact"
SETTINGS_KEY = "impact"
PUSHED_FIRST = ("critical", "high")  # a first score is pushed only in these bands
REFERENCE_SHARE = 0.9  # the reference ARR is the 90th percentile of the workspace's customers' ARR
CHUNK = 500
WHOLE_WORKSPACE_AFTER = 5 * CHUNK
LOOKUP_CHUNK = 5000  # ids per IN list (PostgreSQL takes at most 65,535 parameters a statement)


def settings_of(organization_id: str) -> Settings:
    """The workspace's impact settings (the defaults where it set nothing)."""
    organization = db.session.get(Organization, organization_id)
    stored = (organization.settings or {}).get(SETTINGS_KEY) if organization else None
    return Settings.from_mapping(stored)


def save_settings(organization_id: str, raw: dict[str, Any]) -> Settings:
    """Validate and store the workspace's impact settings (SettingsError names what is wrong); commits."""
    settings = Settings.from_mapping(raw)
    organization = db.session.get(Organization, organization_id)
    organization.settings = dict(organization.settings or {}) | {SETTINGS_KEY: settings.as_dict()}
    db.session.commit()
    log.info("impact.settings_saved", extra={"workspace": organization_id})
    return settings


def reference_arr(organization_id: str) -> float:
    """The workspace's reference ARR: the 90th percentile of its customers' (positive) ARR, at least 1."""
    count = db.session.scalar(select(func.count()).select_from(Customer).where(
        Customer.organization_id == organization_id, Customer.arr > 0)) or 0
    if not count:
        return 1.0
    rank = percentile(range(1, count + 1), REFERENCE_SHARE)  # nearest rank, 1-based
    value = db.session.scalar(select(Customer.arr).where(Customer.organization_id == organization_id, Customer.arr > 0)
                              .order_by(Customer.arr).offset(int(rank) - 1).limit(1))
    return max(1.0, float(value or 0))


def days_until(column, today: date):
    """Whole days from `today` to a date column (negative when past), on PostgreSQL and SQLite alike."""
    if db.session.get_bind().dialect.name == "postgresql":
        return cast(column - bindparam("today", today, type_=Date), Integer)
    return cast(func.julianday(column) - func.julianday(today.isoformat()), Integer)


def link_weight_of(settings: Settings):
    """SQL: the link weight of a link row."""
    return case({t: settings.link_weight(t) for t in LINK_TYPES}, value=JiraCustomerLink.link_type, else_=0.0)


def exposures(organization_id: str, issue_ids: list[uuid.UUID], settings: Settings, today: date
              ) -> dict[uuid.UUID, tuple[Exposure, float]]:
    """(exposure, plain linked ARR) of each issue that has customers of this workspace: one GROUP BY per chunk."""
    lw = link_weight_of(settings)
    tw = case({t: settings.tier_weight(t) for t in TIERS}, value=Customer.tier, else_=settings.tier_weight(None))
    days = days_until(Customer.renewal_date, today)
    full, window = settings.renewal_full_days, settings.renewal_window_days
    proximity = case((Customer.renewal_date.is_(None), 0.0), (days <= full, 1.0), (days >= window, 0.0),
                     else_=cast(window - days, Float) / (window - full))
    arr = cast(Customer.arr, Float)
    risk = (100 - func.coalesce(Customer.health_score, UNKNOWN_HEALTH)) / 100.0 * lw
    has_tier = [func.max(case((Customer.tier == tier, 1), else_=0)) for tier in TIERS]
    query = (select(JiraCustomerLink.issue_id, func.count(), func.sum(arr * lw), func.sum(arr * lw * proximity),
                    func.max(risk), func.sum(tw * lw), func.max(lw), func.sum(arr), *has_tier)
             .join(Customer, Customer.id == JiraCustomerLink.customer_id).group_by(JiraCustomerLink.issue_id))
    wanted = set(issue_ids)
    if len(issue_ids) > WHOLE_WORKSPACE_AFTER:
        # Many issues: one pass over the workspace beats many IN lists.
        batches = [query.where(Customer.organization_id == organization_id)]
    else:
        # A few issues: their links lead. Written so no index can serve the workspace filter (`|| ''`), or
        # SQLite starts from the workspace's customers and probes every one of them for every issue.
        in_workspace = Customer.organization_id.concat("") == organization_id
        batches = [query.where(in_workspace, JiraCustomerLink.issue_id.in_(issue_ids[start:start + CHUNK]))
                   for start in range(0, len(issue_ids), CHUNK)]
    found: dict[uuid.UUID, tuple[Exposure, float]] = {}
    for batch in batches:
        for issue_id, count, weighted, renewing, health, breadth, strongest, plain, *tiers in db.session.execute(batch):
            if issue_id not in wanted:
                continue
            found[issue_id] = (Exposure(int(count), float(weighted or 0), float(renewing or 0), float(health or 0),
                                        float(breadth or 0), float(strongest or 0),
                                        frozenset(t for t, present in zip(TIERS, tiers, strict=True) if present)),
                               float(plain or 0))
    return found


@dataclass
class Computed:
    """An issue's impact and the figures stored beside it."""

    issue_id: uuid.UUID
    organization_id: str
    connection_id: uuid.UUID
    impact: Impact
    customers: int
    arr: float
    tiers: frozenset[str] = frozenset()
    has_app: bool = False  # our Jira app is installed there: its indexed property is worth writing


def compute(issue_ids: Iterable[uuid.UUID], *, today: date | None = None,
            references: dict[str, float] | None = None) -> dict[uuid.UUID, Computed]:
    """The current impact of these issues (nothing written). Deleted issues are left out."""
    ids = sorted(set(issue_ids))
    if not ids:
        return {}
    today = today or utcnow().date()
    issues = [row for start in range(0, len(ids), LOOKUP_CHUNK) for row in db.session.execute(
        select(JiraIssue.id, JiraIssue.priority, JiraIssue.status_category, JiraIssue.connection_id,
               JiraConnection.organization_id, JiraConnection.kind)
        .join(JiraConnection, JiraConnection.id == JiraIssue.connection_id)
        .where(JiraIssue.id.in_(ids[start:start + LOOKUP_CHUNK]), JiraIssue.deleted_at.is_(None),
               JiraConnection.organization_id.is_not(None)))]
    by_workspace: dict[str, list] = defaultdict(list)
    for row in issues:
        by_workspace[row.organization_id].append(row)
    references = dict(references or {})
    result: dict[uuid.UUID, Computed] = {}
    for organization_id, rows in by_workspace.items():
        settings = settings_of(organization_id)
        if organization_id not in references:
            references[organization_id] = reference_arr(organization_id)
        found = exposures(organization_id, [r.id for r in rows], settings, today)
        for row in rows:
            exposure, plain = found.get(row.id, (Exposure(), 0.0))
            result[row.id] = Computed(row.id, organization_id, row.connection_id, impact(
                exposure, row.priority, resolved=row.status_category == "done", settings=settings,
                reference_arr=references[organization_id]), exposure.customers, plain, exposure.tiers,
                has_app=row.kind == ConnectionKind.CONNECT)
    return result


@dataclass
class Recomputed:
    """What a recompute changed: impacts written, bands moved (pushes queued), connections whose property is stale."""

    changed: int = 0
    band_changes: list[tuple[uuid.UUID, str, str]] = field(default_factory=list)
    messages: list[uuid.UUID] = field(default_factory=list)
    stale_connections: set[uuid.UUID] = field(default_factory=set)


def recompute(issue_ids: Iterable[uuid.UUID], *, property_stale: bool = False, today: date | None = None,
              references: dict[str, float] | None = None) -> Recomputed:
    """Recompute and store these issues' impact in the caller's transaction (no commit).

    Set-based: the stored rows are read once, and inserts, updates and band-change pushes are each
    written in bulk. `property_stale`: the issues' customers changed in a way the impact does not
    show (a link swapped for another, a customer renamed): Jira's property is checked again even
    if the impact is the same.
    """
    ids = sorted(set(issue_ids))
    outcome = Recomputed()
    if not ids:
        return outcome
    computed = compute(ids, today=today, references=references)
    stored = {}
    for start in range(0, len(ids), CHUNK):
        for row in db.session.execute(select(
                IssueImpact.issue_id, IssueImpact.connection_id, IssueImpact.score, IssueImpact.severity,
                IssueImpact.customers, IssueImpact.arr, IssueImpact.factors, IssueImpact.band_version,
                IssueImpact.tiers)
                .where(IssueImpact.issue_id.in_(ids[start:start + CHUNK]))):
            stored[row.issue_id] = row
    now = utcnow()
    inserts, updates, bands = [], [], []
    for issue_id in ids:
        current, row = computed.get(issue_id), stored.get(issue_id)
        if current is None:  # deleted (or its connection unlinked): nothing hurts any more
            if row is not None and (row.customers or row.score):
                updates.append(_values(issue_id, None, now) | {"property_digest": None})
                outcome.changed += 1
                outcome.stale_connections.add(row.connection_id)
            continue
        if row is None and current.customers == 0:
            continue  # never linked: nothing to rank, nothing to tell Jira
        values = _values(issue_id, current, now)
        shown = (values["score"], values["severity"], values["customers"], values["arr"], values["tiers"])
        changed = row is None or shown != (row.score, row.severity, row.customers, Decimal(row.arr or 0), row.tiers)
        if not changed and not property_stale and row.factors == values["factors"]:
            continue
        if changed or property_stale:
            outcome.changed += 1
        if current.has_app and (changed or property_stale):
            # The property writer only settles rows it claimed at this version.
            values["property_digest"] = None
            outcome.stale_connections.add(current.connection_id)
        previous = row.severity if row is not None else None
        version = row.band_version if row is not None else 0
        if current.impact.severity != (previous or "low"):
            version += 1
            outcome.band_changes.append((issue_id, previous or "low", current.impact.severity))
            # A first score is news only when it is serious; after that, every band change is.
            if previous is not None or current.impact.severity in PUSHED_FIRST:
                bands.append((issue_id, current, previous or "low", version))
        values["band_version"] = version
        if row is None:
            inserts.append(values | {"organization_id": current.organization_id,
                                     "connection_id": current.connection_id, "property_digest": None})
        else:
            updates.append(values)
    for start in range(0, len(inserts), CHUNK):
        db.session.execute(insert(IssueImpact.__table__), inserts[start:start + CHUNK])  # Core: no ORM bookkeeping
    # In issue order (as the property writer settles them), so two writers never wait on each other
    # in a circle; executemany needs one shape per statement, hence runs of one shape.
    for start in range(0, len(updates), CHUNK):
        for _keys, run in groupby(updates[start:start + CHUNK], key=lambda u: tuple(sorted(u))):
            db.session.execute(update(IssueImpact), list(run))
    outcome.messages += _queue_band_changes(bands)
    if outcome.band_changes:
        log.info("impact.bands_changed", extra={"issues": len(outcome.band_changes)})
    return outcome


def _values(issue_id: uuid.UUID, current: Computed | None, now) -> dict[str, Any]:
    """The stored columns of an impact (a deleted issue: nothing at risk)."""
    if current is None:
        return {"issue_id": issue_id, "score": 0.0, "severity": "low", "customers": 0, "tiers": 0,
                "arr": Decimal("0"), "factors": [], "computed_at": now}
    return {"issue_id": issue_id, "score": current.impact.score, "severity": current.impact.severity,
            "customers": current.customers, "tiers": sum(TIER_BITS[t] for t in current.tiers),
            "arr": Decimal(str(round(current.arr, 2))),
            "factors": [f.as_dict() for f in current.impact.factors], "computed_at": now}


def _queue_band_changes(bands: list[tuple[uuid.UUID, Computed, str, int]]) -> list[uuid.UUID]:
    """The `issue.impact` pushes of severity band changes, in bulk (in the caller's transaction)."""
    heads = {}
    ids = [issue_id for issue_id, *_ in bands]
    for start in range(0, len(ids), CHUNK):
        for issue in db.session.execute(select(
                JiraIssue.id, JiraIssue.jira_key, JiraIssue.jira_id, JiraIssue.connection_id, JiraIssue.summary,
                JiraIssue.priority, JiraIssue.status, JiraIssue.status_category)
                .where(JiraIssue.id.in_(ids[start:start + CHUNK]))):
            heads[issue.id] = issue
    messages = []
    for issue_id, current, previous, version in bands:
        issue = heads[issue_id]
        messages.append((current.organization_id, f"{TOPIC}:{issue_id}:{version}", {
            "issue": {"key": issue.jira_key, "id": issue.jira_id, "connection_id": str(issue.connection_id),
                      "summary": issue.summary, "priority": issue.priority, "status": issue.status,
                      "status_category": issue.status_category},
            "impact": current.impact.as_dict(), "previous_severity": previous,
            "customers": current.customers, "arr_at_risk": round(current.arr, 2)}))
    return outbox.add_messages(TOPIC, messages)


def recompute_for_customers(customer_ids: Iterable[uuid.UUID]) -> Recomputed:
    """After customers' ARR, health, renewal, tier or name changed: their issues' impact (no commit)."""
    ids = sorted({uuid.UUID(str(c)) for c in customer_ids})
    issue_ids: set[uuid.UUID] = set()
    for start in range(0, len(ids), CHUNK):
        issue_ids.update(db.session.scalars(select(JiraCustomerLink.issue_id).where(
            JiraCustomerLink.customer_id.in_(ids[start:start + CHUNK]))))
    return recompute(issue_ids, property_stale=True)


def rescore_customers(customer_ids: Iterable[uuid.UUID]) -> Recomputed:
    """After an upsert changed customers' ARR, health, renewal, tier or name: rescore their issues; commits."""
    outcome = recompute_for_customers(customer_ids)
    db.session.commit()
    after_commit(outcome)
    return outcome


def recompute_workspace(organization_id: str, *, today: date | None = None) -> Recomputed:
    """Every linked issue of a workspace (settings changed, the reference moved, a day passed); commits."""
    issue_ids = list(db.session.scalars(
        select(JiraCustomerLink.issue_id).join(Customer, Customer.id == JiraCustomerLink.customer_id)
        .where(Customer.organization_id == organization_id).distinct()))
    issue_ids += list(db.session.scalars(select(IssueImpact.issue_id).where(
        IssueImpact.organization_id == organization_id, IssueImpact.customers > 0)))
    outcome = recompute(issue_ids, today=today, references={organization_id: reference_arr(organization_id)})
    db.session.commit()
    return outcome


def recompute_workspace_job(organization_id: str) -> dict[str, int]:
    """Job: rescore a workspace (its settings changed), then push band changes and write Jira."""
    outcome = recompute_workspace(organization_id)
    after_commit(outcome)
    return {"changed": outcome.changed, "band_changes": len(outcome.band_changes)}


def refresh_all() -> dict[str, int]:
    """Periodic job: recompute every workspace's impacts (renewals come closer each day) and write Jira."""
    totals = {"workspaces": 0, "changed": 0, "band_changes": 0}
    stale: set[uuid.UUID] = set()
    messages: list[uuid.UUID] = []
    for organization_id in list(db.session.scalars(select(Organization.id))):
        outcome = recompute_workspace(organization_id)
        totals["workspaces"] += 1
        totals["changed"] += outcome.changed
        totals["band_changes"] += len(outcome.band_changes)
        stale |= outcome.stale_connections
        messages += outcome.messages
    after_commit(Recomputed(messages=messages, stale_connections=stale | set(stale_connections())))
    log.info("impact.refreshed", extra=totals)
    return totals


def after_commit(outcome: Recomputed) -> None:
    """Follow-up of a committed recompute: push band changes, write stale Jira properties (jobs)."""
    outbox.submit_deliveries(outcome.messages)
    submit_writes(outcome.stale_connections)

