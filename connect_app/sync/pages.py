"""Writing fetched pages: normalise, upsert, status and field history, and local rule matching, per page."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select

from connect_app.atlassian.client import JiraNotFound
from connect_app.atlassian.issue_json import normalize_issue, status_changes
from connect_app.extensions import db
from connect_app.impact import store as impact
from connect_app.models import JiraCustomerLink, JiraIssue
from connect_app.models.types import utcnow
from connect_app.platform.storable import clean_row
from connect_app.sla import store as sla
from connect_app.sync.history import field_changes
from connect_app.sync.store import (
    apply_rule_links,
    existing_issues,
    history_counts,
    insert_field_changes,
    insert_status_changes,
    mark_deleted,
    stored_issue_fields,
    upsert_issues,
    version_ts,
)


class PageWriter:
    """Writes pages of one run (or one on-demand refresh) and keeps its counts and the ids it saw."""

    def __init__(self, ctx, run, customers: set[str] | None = None):
        self.ctx = ctx
        self.run = run
        self.customers = customers
        self.seen: set[str] = set()
        self.counts = {"issues": 0, "linked": 0, "unlinked": 0, "status_changes": 0, "field_changes": 0,
                       "deleted": 0, "reconciled": 0}
        self.impact = impact.Recomputed()  # band-change pushes and stale Jira properties, for after the commit
        self.sla = sla.Evaluated()  # SLA alerts to push after the commit

    @property
    def connection_id(self) -> uuid.UUID:
        """The connection being written."""
        return self.ctx.connection.id

    def write(self, issues: list[dict], counter: str = "issues") -> None:
        """Upsert a page of Jira issues, their status and field history (when new to us) and their rule links."""
        if not issues:
            return
        rows = [self._row(raw) for raw in issues]
        before = existing_issues(self.connection_id, [r["jira_id"] for r in rows])
        synced_at = self.run.started_at if self.run is not None else utcnow()
        ids = upsert_issues(self.connection_id, rows, synced_at)
        # Issues we hold unchanged still get what their search's changelog adds to the stored history
        # (first sync since field history was kept, an issue first seen through a webhook).
        unchanged = [ids[r["jira_id"]] for r in rows
                     if (p := before.get(r["jira_id"])) is not None and p[2] >= version_ts(r)]
        stored_histories = history_counts(unchanged)
        changes, items = [], []
        for raw, row in zip(issues, rows, strict=True):
            issue_id, previous = ids[row["jira_id"]], before.get(row["jira_id"])
            status_moved = previous is None or previous[1] != row["status_id"]
            if not status_moved and previous[2] >= version_ts(row):
                found = field_changes(self._embedded(raw))
                if len({c["change_id"] for c in found}) > stored_histories.get(issue_id, 0):
                    items += [c | {"issue_id": issue_id} for c in found]
                continue  # otherwise unchanged since the last sync: its history is already stored
            # A status move needs the whole changelog (time in status); field history takes what came along.
            histories = self._histories(raw) if status_moved else self._embedded(raw)
            if status_moved:
                changes += [clean_row(c | {"issue_id": issue_id}) for c in status_changes(histories)]
            items += [c | {"issue_id": issue_id} for c in field_changes(histories)]
        self.counts["status_changes"] += insert_status_changes(self.connection_id, changes, self.ctx.categories)
        self.counts["field_changes"] += insert_field_changes(self.connection_id, items)
        desired = {ids[r["jira_id"]]: self.ctx.matcher.desired_links(r, self.ctx.jql_members) for r in rows}
        keys = {ids[r["jira_id"]]: r["jira_key"] for r in rows}
        self._count(apply_rule_links(self.connection_id, desired, keys, customers=self.customers))
        self._rescore(ids.values())
        self.seen.update(r["jira_id"] for r in rows)
        self.counts[counter] += len({r["jira_id"] for r in rows})

    def _row(self, raw: dict) -> dict:
        """An issue's columns, with the custom fields this connection keeps."""
        row = clean_row(normalize_issue(raw))  # Jira text PostgreSQL cannot store (NUL, lone surrogates)
        row["custom_fields"] = self.ctx.selection.shape(row["custom_fields"])
        return row

    @staticmethod
    def _embedded(raw: dict) -> list[dict]:
        """The changelog histories the search expanded (no request; maybe not all of them)."""
        return ((raw.get("changelog") or {}).get("histories")) or []

    def _histories(self, raw: dict) -> list[dict]:
        """The issue's changelog: from the search's expand, paged separately when Jira truncated it."""
        changelog = raw.get("changelog")
        histories = (changelog or {}).get("histories")
        if histories is not None and int(changelog.get("total", len(histories))) <= len(histories):
            return histories
        return list(self.ctx.client.iter_changelog(raw["key"]))

    def _count(self, counts: dict[str, int]) -> None:
        for key, value in counts.items():
            self.counts[key] = self.counts.get(key, 0) + value

    def relink(self, issue_ids: Iterable[uuid.UUID]) -> dict[str, int]:
        """Re-evaluate the rule links of stored issues from their stored fields and the JQL memberships."""
        stored = stored_issue_fields(issue_ids)
        if not stored:
            return {"linked": 0, "unlinked": 0}
        desired = {s["id"]: self.ctx.matcher.desired_links(s, self.ctx.jql_members) for s in stored}
        counts = apply_rule_links(self.connection_id, desired, {s["id"]: s["jira_key"] for s in stored},
                                  customers=self.customers)
        self._count(counts)
        self._rescore(s["id"] for s in stored)
        return counts

    def check_gone(self, gone: list[tuple[uuid.UUID, str]], verified_missing: bool = False) -> None:
        """Issues no query returned: refresh the ones Jira still shows, mark the others deleted and unlink them."""
        missing = []
        for row_id, jira_id in gone:
            if verified_missing:
                missing.append(row_id)
                continue
            try:
                raw = self.ctx.client.get_issue(jira_id, fields=self.ctx.issue_fields, expand=("changelog",))
            except JiraNotFound:
                missing.append(row_id)
                continue
            self.write([raw], counter="reconciled")
        self.counts["deleted"] += mark_deleted(self.connection_id, missing)
        self._rescore(missing)

    def _rescore(self, issue_ids: Iterable[uuid.UUID]) -> None:
        """The impact and SLA clocks of issues whose state or links this page changed (in the page's transaction)."""
        issue_ids = list(issue_ids)
        outcome = impact.recompute(issue_ids, property_stale=True)
        self.impact.messages += outcome.messages
        self.impact.stale_connections |= outcome.stale_connections
        self.impact.changed += outcome.changed
        clocks = sla.evaluate_issues(issue_ids)
        self.sla.messages += clocks.messages
        self.sla.alerts += clocks.alerts

    def after_commit(self) -> None:
        """Follow-up of the committed pages: impact pushes and Jira properties, SLA alerts."""
        impact.after_commit(self.impact)
        sla.after_commit(self.sla)

    def relink_jql_members(self) -> None:
        """Stored issues whose free-JQL membership may have changed without the issue being refetched."""
        jql_rule_ids = [uuid.UUID(r.id) for r in self.ctx.matcher.jql_rules]
        if not jql_rule_ids:
            return
        candidates = set(db.session.scalars(select(JiraCustomerLink.issue_id).where(
            JiraCustomerLink.connection_id == self.connection_id, JiraCustomerLink.rule_id.in_(jql_rule_ids))))
        members = sorted(set().union(*self.ctx.jql_members.values()) - self.seen)
        for start in range(0, len(members), 500):
            candidates.update(db.session.scalars(select(JiraIssue.id).where(
                JiraIssue.connection_id == self.connection_id, JiraIssue.jira_id.in_(members[start:start + 500]))))
        seen_rows = {row_id for row_id, *_ in existing_issues(self.connection_id, self.seen).values()}
        self.relink(sorted(candidates - seen_rows))
