"""Who changed what: every changelog item of an issue (field, from, to, author, when), written by the
sync and the webhook pipeline, read newest first by the issue page and the issue API.

Webhooks carry one history each (`changelog.items`, the acting `user`); a sync reads the changelog
its searches already expand (no extra request), so history reaches back as far as Jira's changelog
does. Both write the same keys (issue, history id, field, nth item of that field), so a change seen
twice is stored once. Status changes written before this table existed (`issue_status_history`)
still show, merged in.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select

from connect_app.atlassian.issue_json import parse_jira_time, user_ref
from connect_app.extensions import db
from connect_app.models import IssueFieldChange, IssueStatusChange, JiraIssue
from connect_app.models.types import iso
from connect_app.platform.storable import clean_text
from connect_app.sync.field_catalog import field_names

MAX_VALUE_CHARS = 500  # a changed description is shown as its start
HISTORY_LIMIT = 50


def _text(value: Any, limit: int = MAX_VALUE_CHARS) -> str | None:
    """Jira's text as stored: storable by every database (no NUL), and at most `limit` characters."""
    if value is None:
        return None
    text = clean_text(str(value))
    return text if len(text) <= limit else text[:limit - 1] + "…"


def field_changes(histories: list[dict]) -> list[dict]:
    """Every item of changelog histories as IssueFieldChange values (without the issue id)."""
    changes = []
    for history in histories:
        changed_at = parse_jira_time(history.get("created"))
        if history.get("id") is None or changed_at is None:
            continue
        author_id, author_name = user_ref(history.get("author"))
        seen: Counter[str] = Counter()
        for item in history.get("items") or []:
            if not isinstance(item, dict):
                continue
            name = str(item.get("field") or item.get("fieldId") or "").strip()
            if not name:
                continue
            key = str(item.get("fieldId") or name)
            # Jira's display strings; the raw `from`/`to` only when it has none (a link, a removed user).
            before = item.get("fromString") if item.get("fromString") is not None else item.get("from")
            after = item.get("toString") if item.get("toString") is not None else item.get("to")
            changes.append({"change_id": _text(history["id"], 60), "field_key": _text(key, 255), "seq": seen[key],
                            "field": _text(name, 255), "from_value": _text(before), "to_value": _text(after),
                            "author_id": _text(author_id or None, 200), "author_name": _text(author_name or None, 200),
                            "changed_at": changed_at})
            seen[key] += 1
    return changes


def _entry(at, author: str | None, field: str, field_id: str, before: str | None, after: str | None) -> dict:
    return {"at": iso(at), "author": author, "field": field, "field_id": field_id, "from": before, "to": after}


def issue_history(issue: JiraIssue, limit: int = HISTORY_LIMIT) -> dict:
    """The issue's changes newest first: {"total", "changes": [{at, author, field, field_id, from, to}]}."""
    recorded = db.session.scalars(
        select(IssueFieldChange).where(IssueFieldChange.issue_id == issue.id)
        .order_by(IssueFieldChange.changed_at.desc(), IssueFieldChange.change_id.desc(), IssueFieldChange.field_key,
                  IssueFieldChange.seq).limit(limit)).all()
    total = db.session.scalar(select(func.count()).select_from(IssueFieldChange)
                              .where(IssueFieldChange.issue_id == issue.id)) or 0
    # Status changes stored before field history was (no item of theirs here).
    covered = select(IssueFieldChange.change_id).where(IssueFieldChange.issue_id == issue.id,
                                                       IssueFieldChange.field_key == "status")
    legacy_query = select(IssueStatusChange).where(IssueStatusChange.issue_id == issue.id,
                                                   IssueStatusChange.change_id.not_in(covered))
    legacy = db.session.scalars(legacy_query.order_by(IssueStatusChange.changed_at.desc()).limit(limit)).all()
    total += db.session.scalar(select(func.count()).select_from(legacy_query.subquery())) or 0
    names = field_names(issue.connection_id, {r.field_key for r in recorded} | ({"status"} if legacy else set()))
    rows = [(r.changed_at, _entry(r.changed_at, r.author_name or r.author_id,
                                  names[r.field_key].name if r.field_key in names else r.field,
                                  r.field_key, r.from_value, r.to_value)) for r in recorded]
    status_name = names["status"].name if "status" in names else "Status"
    rows += [(s.changed_at, _entry(s.changed_at, s.changed_by, status_name, "status", s.from_status, s.to_status))
             for s in legacy]
    rows.sort(key=lambda pair: pair[0], reverse=True)  # stable: a history's items keep their order
    return {"total": total, "changes": [entry for _, entry in rows[:limit]]}

