"""Reconciliation: catch what lost webhooks missed, and notify for it exactly as a webhook would.

Periodically, for each active linked connection, ask Jira for the issues updated since the last
reconciliation (minus an overlap) with their changelogs, and run every history newer than that
window through the same path as a webhook (`process.apply_issue`). The dedupe keys (issue id +
changelog id + kind) are the ones a webhook produces, so a change seen by both notifies once.
A connection's first reconciliation starts from when it was connected: nothing older is news.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from connect_app.atlassian.client import JiraClient
from connect_app.atlassian.issue_json import ISSUE_CREATED, ISSUE_UPDATED, parse_jira_time
from connect_app.atlassian.jql import since_clause
from connect_app.connections.access import jira_client
from connect_app.extensions import db
from connect_app.linking.rule_store import rules_for
from connect_app.linking.rules import RuleMatcher
from connect_app.models import ConnectionStatus, JiraConnection, SyncRun
from connect_app.models.types import utcnow
from connect_app.platform import jobs
from connect_app.sync.custom_fields import stored_selection
from connect_app.tracking.process import Applied, after_commit, apply_issue

log = logging.getLogger(__name__)

OVERLAP = timedelta(minutes=2)  # JQL dates have minute precision; clocks drift
INTERVAL = timedelta(minutes=5)


def _window_start(connection: JiraConnection) -> datetime:
    last = db.session.scalar(select(SyncRun).where(
        SyncRun.connection_id == connection.id, SyncRun.mode == "reconcile", SyncRun.status == "ok")
        .order_by(SyncRun.started_at.desc()).limit(1))
    if last is not None:
        return last.started_at
    return connection.installed_at or connection.created_at or utcnow()


def _zone(client: JiraClient):
    try:
        return ZoneInfo(client.myself().get("timeZone") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _histories(client: JiraClient, raw: dict) -> list[dict]:
    changelog = raw.get("changelog") or {}
    histories = changelog.get("histories")
    if histories is not None and int(changelog.get("total", len(histories))) <= len(histories):
        return histories
    return list(client.iter_changelog(raw["key"]))


def reconcile_connection(connection_id: str, *, client: JiraClient | None = None) -> dict[str, int]:
    """Job: apply and classify every change Jira made since the last reconciliation of one connection."""
    connection = db.session.get(JiraConnection, uuid.UUID(str(connection_id)))
    if connection is None or connection.status != ConnectionStatus.ACTIVE:
        return {"issues": 0, "events": 0}
    client = client or jira_client(connection)
    since = _window_start(connection)
    run = SyncRun(connection_id=connection.id, mode="reconcile", status="running", counts={})
    db.session.add(run)
    db.session.commit()
    counts = {"issues": 0, "events": 0}
    try:
        floor = since - OVERLAP
        jql = f"{since_clause(since, _zone(client), OVERLAP)} ORDER BY updated ASC"
        fields = stored_selection(connection, RuleMatcher(rules_for(connection)).custom_field_ids).search_fields()
        for issues, _ in client.search_pages(jql, fields, 100, expand=("changelog",)):
            for raw in issues:
                histories = [h for h in _histories(client, raw)
                             if (parse_jira_time(h.get("created")) or floor) >= floor]
                created = parse_jira_time((raw.get("fields") or {}).get("created"))
                event = ISSUE_CREATED if created and created >= floor else ISSUE_UPDATED
                when = parse_jira_time((raw.get("fields") or {}).get("updated")) or utcnow()
                applied: Applied = apply_issue(connection, event, raw, histories, when)
                db.session.commit()
                after_commit(applied)
                counts["issues"] += 1
                counts["events"] += len(applied.events)
        run = db.session.get(SyncRun, run.id)
        run.status, run.finished_at, run.counts = "ok", utcnow(), counts
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        run = db.session.get(SyncRun, run.id)
        run.status, run.finished_at, run.error, run.counts = "failed", utcnow(), str(exc)[:2000], counts
        db.session.commit()
        log.warning("reconcile.failed", extra={"connection": str(connection_id), "error": type(exc).__name__})
        raise
    if counts["events"]:
        log.info("reconcile.found", extra={"connection": str(connection_id), **counts})
    return counts


def reconcile_due() -> list[str]:
    """Periodic job: start a reconciliation of every active, linked connection not reconciled for INTERVAL."""
    started = []
    for connection in db.session.scalars(select(JiraConnection).where(
            JiraConnection.status == ConnectionStatus.ACTIVE, JiraConnection.organization_id.is_not(None))):
        last = db.session.scalar(select(SyncRun.started_at).where(
            SyncRun.connection_id == connection.id, SyncRun.mode == "reconcile")
            .order_by(SyncRun.started_at.desc()).limit(1))
        if last is not None and utcnow() - last < INTERVAL:
            continue
        jobs.submit(reconcile_connection, str(connection.id))
        started.append(str(connection.id))
    return started
