"""The sync engine: every customer's Jira issues, batched, incremental, resumable and reconciled.

A connection's rules compile into a few JQL queries (`linking.compile_queries`); they are asked
for ids only, and the union is fetched once, in chunks of 100 (a few chunks in flight while the
previous one is written); each chunk is upserted and matched to customers locally, then committed
together with a checkpoint, so a crash resumes from the next chunk. Incremental runs ask only
for issues `updated` since the watermark (minus an overlap); an ids-only reconciliation finds
issues that stopped matching or vanished. Entry points: `sync_connection`, `sync_customer`,
`sync_issue`, `relink_issues`, `sync_due_connections` (the periodic job) and `sync_status`.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from connect_app.atlassian.client import BULK_FETCH_MAX, JiraClient, JiraError, JiraNotFound
from connect_app.atlassian.issue_json import parse_jira_time
from connect_app.atlassian.jql import since_clause
from connect_app.connections import priorities
from connect_app.connections.access import jira_client
from connect_app.extensions import db
from connect_app.linking.rule_store import rules_for, update_customer_rules
from connect_app.linking.rules import FieldCatalog, Rule, RuleMatcher, compile_queries
from connect_app.models import (
    ConnectionKind,
    ConnectionStatus,
    Customer,
    JiraConnection,
    JiraCustomerLink,
    JiraIssue,
    SyncRun,
)
from connect_app.models.types import iso, utcnow
from connect_app.platform import metrics
from connect_app.platform.jobs import enqueue
from connect_app.sync.custom_fields import FieldSelection, selection_for
from connect_app.sync.fetch import fetch_ahead
from connect_app.sync.field_catalog import Catalog, catalog_for, refresh_catalog
from connect_app.sync.pages import PageWriter

log = logging.getLogger(__name__)

OVERLAP = timedelta(minutes=5)  # clock skew + JQL's minute precision
SYNC_INTERVAL = timedelta(minutes=15)
FORGE_TOKEN_MARGIN = timedelta(minutes=2)  # a Forge system token must outlive the start of the run by this much
# Issues written (and committed) at a time. Jira answers at most 100 a request (BULK_FETCH_MAX); the
# writer's cost is mostly per statement and per commit, so a page gathers several requests' worth.
PAGE_SIZE = 500
Progress = Callable[[int], None]
Expected = Callable[[int], None]  # told once how many issues the run will fetch (each counted once)


class SyncContext:
    """What one run needs: the connection, its client, rules, matcher, field kinds, status categories,
    and the custom fields it stores."""

    def __init__(self, connection: JiraConnection, client: JiraClient, rules: list[Rule]):
        self.connection = connection
        self.client = client
        self.rules = rules
        self.matcher = RuleMatcher(rules)
        self.kinds: dict[str, str] = {}
        self.categories: dict[str, str] = {}
        self.zone = UTC
        self.jql_members: dict[str, set[str]] = {}
        self.selection = FieldSelection(None, self.matcher.custom_field_ids)  # until a catalog is known

    def load_site(self) -> None:
        """The field catalog (refreshed from Jira), the rules' field kinds, status categories and time zone."""
        catalog, raw_fields = refresh_catalog(self.connection.id, self.client)
        if self.matcher.custom_field_ids:
            self.kinds = FieldCatalog.from_fields(raw_fields).kinds
        self.use_catalog(catalog)
        self.categories = {str(s["id"]): (s.get("statusCategory") or {}).get("key")
                           for s in self.client.get_statuses()}
        priorities.refresh_priorities(self.connection, self.client)  # the site's order, for sorting by priority
        try:
            self.zone = ZoneInfo(self.client.myself().get("timeZone") or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            self.zone = UTC

    def use_catalog(self, catalog: Catalog) -> None:
        """Decide the custom fields to store from the workspace's setting, the site's catalog and the rules."""
        self.selection = selection_for(self.connection.organization_id, catalog, self.matcher.custom_field_ids)

    @property
    def fields(self) -> list[str]:
        """Fields a search requests: the stored ones plus the custom fields kept (see `custom_fields`)."""
        return self.selection.search_fields()

    @property
    def issue_fields(self) -> list[str]:
        """The same for a GET of one issue (kept short enough for a URL)."""
        return self.selection.get_fields()

    def load_jql_members(self) -> None:
        """The ids each free-JQL rule matches now (ids-only searches: cheap)."""
        self.jql_members = {r.id: self.client.search_ids(r.jql) for r in self.matcher.jql_rules}


def _queries_hash(queries) -> str:
    return hashlib.sha256("\n".join(q.jql for q in queries).encode()).hexdigest()[:16]


def _jira_now(client: JiraClient) -> datetime:
    """Jira's own clock (serverTime), so the watermark never depends on our clock."""
    server_time = client.server_info().get("serverTime")
    return parse_jira_time(server_time) if server_time else utcnow()


def sync_connection(connection_id, *, full: bool = False, client: JiraClient | None = None,
                    progress: Progress | None = None, expected: Expected | None = None,
                    page_size: int = PAGE_SIZE) -> SyncRun:
    """Sync one connection: resume an interrupted run, else a full (first time / --full) or incremental run.

    `progress` is told each written page's issue count (`page_size` at most, fetched 100 a request);
    `expected`, when given, the run's total first (the number of distinct issues left to fetch, known once
    the queries' ids are in: no extra request).
    """
    connection = db.session.get(JiraConnection, uuid.UUID(str(connection_id)))
    if connection is None or connection.status != ConnectionStatus.ACTIVE or connection.organization_id is None:
        raise ValueError(f"connection {connection_id} is not an active, linked connection")
    client = client or jira_client(connection)
    run, checkpoint = _start_or_resume(connection, full)
    try:
        _run(connection, client, run, checkpoint, progress, page_size, expected)
    except Exception as exc:
        db.session.rollback()
        run = db.session.get(SyncRun, run.id)
        connection = db.session.get(JiraConnection, connection.id)
        run.status, run.finished_at = "failed", utcnow()
        run.error = str(exc)[:2000]
        connection.last_error = f"sync failed: {str(exc)[:500]}"
        connection.next_sync_at = utcnow() + timedelta(minutes=1)
        db.session.commit()
        metrics.sync_finished(run)
        log.warning("sync.failed", extra={"connection": str(connection.id), "run": str(run.id),
                                          "error": type(exc).__name__})
        if not isinstance(exc, JiraError):
            raise
    else:
        metrics.sync_finished(run)
    return run


def _start_or_resume(connection: JiraConnection, full: bool) -> tuple[SyncRun, dict | None]:
    checkpoint = _checkpoint(connection.sync_checkpoint)
    if checkpoint and not full:
        run = db.session.get(SyncRun, uuid.UUID(checkpoint["run_id"]))
        if run is not None:
            run.status, run.error, run.finished_at = "running", None, None
            run.counts = dict(run.counts or {}) | {"resumed": int((run.counts or {}).get("resumed", 0)) + 1}
            db.session.commit()
            log.info("sync.resume", extra={"connection": str(connection.id), "run": str(run.id)})
            return run, checkpoint
    mode = "full" if full or connection.sync_watermark is None else "incremental"
    run = SyncRun(connection_id=connection.id, mode=mode, status="running", counts={})
    db.session.add(run)
    db.session.commit()
    return run, None


def _checkpoint(stored: object) -> dict | None:
    """The stored checkpoint if its run can be resumed (a run id and Jira's start time), else None: a new run."""
    if not isinstance(stored, dict):
        return None
    try:
        uuid.UUID(str(stored["run_id"]))
        datetime.fromisoformat(stored["jira_started"])
        if stored.get("since"):
            datetime.fromisoformat(stored["since"])
    except (KeyError, TypeError, ValueError):
        log.info("sync.checkpoint_unreadable")
        return None
    return stored


def _resume_after(checkpoint: dict | None, digest: str) -> int | None:
    """The last issue id the interrupted run wrote, if it ran the same queries; None: fetch everything.

    A checkpoint of another shape (an older release paged each query with a cursor) resumes its run from the
    start: every issue is fetched again, which writing makes harmless, and the counts start over with it.
    """
    if not checkpoint or checkpoint.get("queries") != digest:
        return None
    after = checkpoint.get("after_id")
    return after if isinstance(after, int) and not isinstance(after, bool) else None


def _run(connection, client, run: SyncRun, checkpoint: dict | None, progress, page_size: int,
         expected: Expected | None = None) -> None:
    ctx = SyncContext(connection, client, rules_for(connection))
    ctx.load_site()
    if checkpoint:
        jira_started = datetime.fromisoformat(checkpoint["jira_started"])
        since_at = datetime.fromisoformat(checkpoint["since"]) if checkpoint.get("since") else None
    else:
        jira_started = _jira_now(client)
        since_at = connection.sync_watermark if run.mode == "incremental" else None
    since = since_clause(since_at, ctx.zone, OVERLAP) if since_at else None
    queries = compile_queries(ctx.rules, since=since, kinds=ctx.kinds)
    digest = _queries_hash(queries)
    after = _resume_after(checkpoint, digest)
    ctx.load_jql_members()
    # Each issue once per run, however many queries match it: the queries give ids (big, cheap pages),
    # the union is fetched with full fields in ascending id order, so the last id written is the resume point.
    todo = [i for i in _matching_ids(ctx, queries, full=since is None) if after is None or i > after]
    if expected:
        expected(len(todo))
    writer = PageWriter(ctx, run)
    if after is not None:  # the issues written before the interruption stay counted
        writer.counts |= {k: int(v) for k, v in (run.counts or {}).items() if k in writer.counts}
    base = {"run_id": str(run.id), "jira_started": jira_started.isoformat(),
            "since": iso(since_at), "queries": digest}
    size = max(1, min(page_size, BULK_FETCH_MAX))
    chunks = [todo[start:start + size] for start in range(0, len(todo), size)]
    with closing(fetch_ahead(client, chunks, ctx.fields)) as fetched:
        for last_id, issues in _write_pages(fetched, max(1, page_size)):
            writer.write(issues)
            connection.sync_checkpoint = base | {"after_id": last_id}
            run.counts = writer.counts | {"resumed": (run.counts or {}).get("resumed", 0)}
            db.session.commit()
            if progress:
                progress(len(issues))
    _reconcile(ctx, writer, run, queries)
    run.status, run.finished_at = "ok", utcnow()
    run.counts = writer.counts | {"resumed": (run.counts or {}).get("resumed", 0), "requests": client.requests_made}
    connection.sync_watermark = jira_started
    connection.sync_checkpoint = None
    connection.last_error = None
    connection.next_sync_at = utcnow() + SYNC_INTERVAL
    db.session.commit()
    writer.after_commit()
    log.info("sync.done", extra={"connection": str(connection.id), "run": str(run.id), "mode": run.mode,
                                 **writer.counts})


def _write_pages(fetched, most: int) -> Iterator[tuple[int, list[dict]]]:
    """Fetched chunks gathered into pages of up to `most` issues (the last id of each page with its issues).

    The next requests go on while a page is written (`fetch_ahead`).
    """
    page: list[dict] = []
    last_id = None
    for chunk, issues in fetched:
        page += issues
        last_id = chunk[-1]
        if len(page) >= most:
            yield last_id, page
            page = []
    if page:
        yield last_id, page


def _matching_ids(ctx: SyncContext, queries, full: bool) -> list[int]:
    """Every issue id the run's queries match, ascending (a free-JQL rule's ids are known already in a full run)."""
    ids: set[str] = set()
    for query in queries:
        if full and query.kind == "jql" and query.rule_id in ctx.jql_members:
            ids |= ctx.jql_members[query.rule_id]
        else:
            ids |= ctx.client.search_ids(query.jql)
    return sorted(int(i) for i in ids)


def _reconcile(ctx: SyncContext, writer: PageWriter, run: SyncRun, queries) -> None:
    """Find rule links whose issue no longer matches, issues gone from Jira, and JQL membership changes."""
    connection = ctx.connection
    if run.mode == "full":
        # Everything that matches was fetched in this run (synced_at marks it, across a resume too).
        candidates = db.session.execute(
            select(JiraIssue.id, JiraIssue.jira_id).where(
                JiraIssue.connection_id == connection.id, JiraIssue.deleted_at.is_(None),
                JiraIssue.synced_at < run.started_at,
                JiraIssue.id.in_(select(JiraCustomerLink.issue_id)))
        ).all()
        gone = [(row_id, jira_id) for row_id, jira_id in candidates if jira_id not in writer.seen]
    else:
        matching: set[str] = set().union(*ctx.jql_members.values()) if ctx.jql_members else set()
        for query in compile_queries([r for r in ctx.rules if r.strategy != "jql"], kinds=ctx.kinds,
                                     ordered=False):
            matching |= ctx.client.search_ids(query.jql)
        rule_linked = db.session.execute(
            select(JiraIssue.id, JiraIssue.jira_id).where(
                JiraIssue.connection_id == connection.id, JiraIssue.deleted_at.is_(None),
                JiraIssue.id.in_(select(JiraCustomerLink.issue_id).where(JiraCustomerLink.source == "rule")))
        ).all()
        gone = [(row_id, jira_id) for row_id, jira_id in rule_linked
                if jira_id not in matching and jira_id not in writer.seen]
        # Issues a JQL rule matches now that we do not hold yet (e.g. a relative-date JQL).
        held = {jira_id for (jira_id,) in db.session.execute(
            select(JiraIssue.jira_id).where(JiraIssue.connection_id == connection.id,
                                            JiraIssue.deleted_at.is_(None)))}
        missing = sorted(set().union(*ctx.jql_members.values()) - held - writer.seen) if ctx.jql_members else []
        for start in range(0, len(missing), BULK_FETCH_MAX):
            writer.write(ctx.client.fetch_issues(missing[start:start + BULK_FETCH_MAX], ctx.fields,
                                                 expand=("changelog",)))
    writer.check_gone(gone)
    writer.relink_jql_members()
    db.session.commit()


def sync_customer(customer_id, *, client_factory=jira_client) -> dict:
    """On-demand refresh of one customer on every active connection of its workspace; returns counts."""
    customer = db.session.get(Customer, uuid.UUID(str(customer_id)))
    totals: dict[str, int] = {}
    connections = db.session.scalars(select(JiraConnection).where(
        JiraConnection.organization_id == customer.organization_id,
        JiraConnection.status == ConnectionStatus.ACTIVE)).all()
    for connection in connections:
        counts = _sync_customer_on(connection, str(customer.id), client_factory(connection))
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
    return totals


def _sync_customer_on(connection: JiraConnection, customer_id: str, client: JiraClient) -> dict:
    rules = rules_for(connection)
    mine = [r for r in rules if r.customer_id == customer_id]
    ctx = SyncContext(connection, client, rules)
    if RuleMatcher(mine).custom_field_ids:
        catalog, raw_fields = refresh_catalog(connection.id, client)
        ctx.kinds = FieldCatalog.from_fields(raw_fields).kinds
    else:
        catalog = catalog_for(connection.id, client)  # stored: an on-demand refresh stays quick
    ctx.use_catalog(catalog)
    ctx.jql_members = {r.id: client.search_ids(r.jql) for r in mine if r.strategy == "jql"}
    run = SyncRun(connection_id=connection.id, mode="customer", status="running",
                  counts={"customer_id": customer_id})
    db.session.add(run)
    db.session.flush()
    writer = PageWriter(ctx, run, customers={customer_id})
    if mine:
        for query in compile_queries(mine, kinds=ctx.kinds, ordered=False):
            for issues, _ in client.search_pages(query.jql, ctx.fields, BULK_FETCH_MAX, expand=("changelog",)):
                writer.write(issues)
    linked = db.session.execute(
        select(JiraIssue.id, JiraIssue.jira_id).join(JiraCustomerLink, JiraCustomerLink.issue_id == JiraIssue.id)
        .where(JiraCustomerLink.customer_id == uuid.UUID(customer_id), JiraCustomerLink.source == "rule",
               JiraIssue.connection_id == connection.id)
    ).all()
    writer.relink([row_id for row_id, jira_id in linked if jira_id not in writer.seen])
    run.status, run.finished_at = "ok", utcnow()
    run.counts = writer.counts | {"customer_id": customer_id, "requests": client.requests_made}
    db.session.commit()
    metrics.sync_finished(run)
    writer.after_commit()
    return writer.counts


def sync_issue(connection: JiraConnection, key: str, *, client: JiraClient | None = None) -> JiraIssue | None:
    """Fetch one issue, store it with its status history and re-evaluate its rule links (webhooks call this).

    An issue Jira no longer shows is marked deleted and unlinked; returns the row (None if unknown).
    """
    client = client or jira_client(connection)
    ctx = SyncContext(connection, client, rules_for(connection))
    ctx.categories = {str(s["id"]): (s.get("statusCategory") or {}).get("key") for s in client.get_statuses()}
    try:
        ctx.use_catalog(catalog_for(connection.id, client))
    except JiraError:  # the issue still syncs; custom fields are named once a catalog is stored
        log.info("sync.catalog_unavailable", extra={"connection": str(connection.id)})
    run = SyncRun(connection_id=connection.id, mode="issue", status="running", counts={"key": key})
    db.session.add(run)
    db.session.flush()
    writer = PageWriter(ctx, run)
    try:
        raw = client.get_issue(key, fields=ctx.issue_fields, expand=("changelog",))
    except JiraNotFound:
        row = db.session.scalar(select(JiraIssue).where(JiraIssue.connection_id == connection.id,
                                                        JiraIssue.jira_key == key))
        if row is not None:
            writer.check_gone([(row.id, row.jira_id)], verified_missing=True)
        run.status, run.finished_at = "ok", utcnow()
        db.session.commit()
        writer.after_commit()
        return row
    # Free-JQL rules: ask Jira whether this one issue is in each (one small search per JQL rule).
    ctx.jql_members = {r.id: client.search_ids(f"id = {int(raw['id'])} AND ({r.jql})")
                       for r in ctx.matcher.jql_rules}
    writer.write([raw])
    run.status, run.finished_at = "ok", utcnow()
    run.counts = writer.counts | {"key": key}
    db.session.commit()
    writer.after_commit()
    return db.session.scalar(select(JiraIssue).where(JiraIssue.connection_id == connection.id,
                                                     JiraIssue.jira_id == str(raw["id"])))


def relink_issues(connection: JiraConnection, issue_ids: list[uuid.UUID]) -> dict:
    """Re-evaluate rule links of stored issues from their stored fields (no Jira call; JQL-rule links kept)."""
    ctx = SyncContext(connection, None, rules_for(connection))
    jql_ids = [uuid.UUID(r.id) for r in ctx.matcher.jql_rules]
    if jql_ids:
        rows = db.session.execute(
            select(JiraCustomerLink.rule_id, JiraIssue.jira_id)
            .join(JiraIssue, JiraIssue.id == JiraCustomerLink.issue_id)
            .where(JiraCustomerLink.issue_id.in_(issue_ids), JiraCustomerLink.rule_id.in_(jql_ids)))
        for rule_id, jira_id in rows:
            ctx.jql_members.setdefault(str(rule_id), set()).add(jira_id)
    writer = PageWriter(ctx, None)
    counts = writer.relink(issue_ids)
    db.session.commit()
    writer.after_commit()
    return counts


def due_connections(now: datetime | None = None) -> list[uuid.UUID]:
    """Active, linked connections whose next_sync_at has passed.

    A Forge connection can only call Jira with the system token of a recent invocation: without a fresh one it
    waits for Forge's hourly scheduled trigger (which brings a token and queues the sync itself), rather than
    failing a run every minute.
    """
    now = now or utcnow()
    return list(db.session.scalars(select(JiraConnection.id).where(
        JiraConnection.status == ConnectionStatus.ACTIVE, JiraConnection.organization_id.is_not(None),
        (JiraConnection.next_sync_at.is_(None)) | (JiraConnection.next_sync_at <= now),
        (JiraConnection.kind != ConnectionKind.FORGE.value)
        | (JiraConnection.token_expires_at > now + FORGE_TOKEN_MARGIN),
    )))


def sync_due_connections() -> list[str]:
    """Periodic job: enqueue a sync for every connection that is due."""
    due = due_connections()
    for connection_id in due:
        enqueue(sync_connection_job, str(connection_id))
    return [str(c) for c in due]


def sync_connection_job(connection_id: str, full: bool = False) -> str:
    """Job entry point: one connection's sync; a failure is recorded on the run, never spread to others."""
    run = sync_connection(connection_id, full=full)
    return run.status


def sync_status(organization_id: str) -> list[dict]:
    """Per connection of a workspace: last run (mode, status, counts, error), watermark, next run."""
    statuses = []
    for connection in db.session.scalars(select(JiraConnection).where(
            JiraConnection.organization_id == organization_id).order_by(JiraConnection.created_at)):
        last = db.session.scalar(select(SyncRun).where(SyncRun.connection_id == connection.id,
                                                       SyncRun.mode.in_(("full", "incremental")))
                                 .order_by(SyncRun.started_at.desc()).limit(1))
        statuses.append({
            "connection_id": str(connection.id), "base_url": connection.display_url or connection.base_url,
            "status": connection.status, "watermark": iso(connection.sync_watermark),
            "next_run": iso(connection.next_sync_at), "last_error": connection.last_error,
            "resumable": bool(connection.sync_checkpoint),
            "last_run": None if last is None else {
                "id": str(last.id), "mode": last.mode, "status": last.status, "started_at": iso(last.started_at),
                "finished_at": iso(last.finished_at), "counts": last.counts or {}, "error": last.error},
        })
    return statuses


def sync_customer_job(customer_id: str) -> dict:
    """Job entry point: apply a customer's (new) rules to its links on every connection."""
    return sync_customer(customer_id)


def replace_customer_rules(customer: Customer, raw_rules: object, user_id: str | None, *,
                           dry_run: bool = False) -> dict:
    """PUT /api/jira/linking: validate, preview and save the rules, then re-link the customer's issues (a job)."""
    result = update_customer_rules(customer, raw_rules, user_id, dry_run=dry_run)
    if result["applied"]:
        # After the commit: a queued job must never see rules that were rolled back.
        result["job_id"] = enqueue(sync_customer_job, str(customer.id))
    return result
