"""Jira issue JSON -> our columns: pure functions shared by the client, the sync and the webhooks."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

# What the product stores (PRD FR-2): the sync asks Jira for these plus the custom fields in use.
SYNC_FIELDS = ("summary", "issuetype", "project", "status", "priority", "resolution", "assignee", "reporter",
               "labels", "components", "created", "updated", "resolutiondate")
STATUS_CATEGORIES = ("new", "indeterminate", "done")
# Jira's default priority schemes, highest first (Cloud, then Server/DC's older names): the order
# when a site's own `GET /priority` list is not known yet.
DEFAULT_PRIORITY_ORDER = ("Blocker", "Highest", "Critical", "High", "Major", "Medium", "Low", "Minor",
                          "Lowest", "Trivial")
_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")


# The issue events of Jira webhooks (Connect, dynamic and admin webhooks alike).
ISSUE_CREATED = "jira:issue_created"
ISSUE_UPDATED = "jira:issue_updated"
ISSUE_DELETED = "jira:issue_deleted"
ISSUE_EVENTS = (ISSUE_CREATED, ISSUE_UPDATED, ISSUE_DELETED)

def parse_jira_time(value: str | None) -> datetime | None:
    """Jira's '2024-01-15T10:30:00.000+0000' (or ISO 8601) as an aware UTC datetime."""
    if not value:
        return None
    text = _OFFSET.sub(r"\1:\2", value.strip().replace("Z", "+00:00"))
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def text_to_adf(text: str) -> dict:
    """Plain text as an Atlassian Document Format doc, one paragraph per line (Cloud v3 descriptions)."""
    return {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": line}] if line else []}
        for line in text.split("\n")]}


def adf_to_text(doc: Any) -> str | None:
    """The plain text of an ADF document (or a wiki-text string as is)."""
    if doc is None or isinstance(doc, str):
        return doc
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "text":
                parts.append(node.get("text", ""))
            for child in node.get("content") or []:
                walk(child)
            if node.get("type") == "paragraph":
                parts.append("\n")
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(doc)
    return "".join(parts).rstrip("\n")


def user_ref(user: dict | None) -> tuple[str | None, str | None]:
    """(id, display name) of a Jira user: accountId on Cloud, key (or name) on Server."""
    if not user:
        return None, None
    return user.get("accountId") or user.get("key") or user.get("name"), user.get("displayName")


def simple_value(value: Any) -> Any:
    """A custom field value reduced to plain JSON: options to their value, users to their name."""
    if isinstance(value, list):
        return [simple_value(v) for v in value]
    if isinstance(value, dict):
        if "value" in value:
            return value["value"]
        if "displayName" in value:
            return value["displayName"]
        if "name" in value:
            return value["name"]
        if value.get("type") == "doc":
            return adf_to_text(value)
    return value


def _name(value: dict | None) -> str | None:
    return value.get("name") if isinstance(value, dict) else None


def status_category_of(status: dict | None) -> str | None:
    """The status category key (new / indeterminate / done) of a status object, None if uncategorised."""
    key = ((status or {}).get("statusCategory") or {}).get("key")
    return key if key in STATUS_CATEGORIES else None


def normalize_issue(raw: dict, custom_field_ids: set[str] | frozenset[str] | None = None) -> dict:
    """Map Jira's issue JSON (v2 or v3) to JiraIssue's columns; custom fields limited to `custom_field_ids`."""
    fields = raw.get("fields") or {}
    status = fields.get("status") or {}
    assignee_id, assignee_name = user_ref(fields.get("assignee"))
    reporter_id, reporter_name = user_ref(fields.get("reporter"))
    project = fields.get("project") or {}
    custom = {}
    for field_id, value in fields.items():
        if not field_id.startswith("customfield_") or value is None:
            continue
        if custom_field_ids is not None and field_id not in custom_field_ids:
            continue
        custom[field_id] = simple_value(value)
    return {
        "jira_id": str(raw["id"]),
        "jira_key": raw["key"],
        "project_key": project.get("key") or raw["key"].rsplit("-", 1)[0],
        "summary": fields.get("summary") or "",
        "issue_type": _name(fields.get("issuetype")),
        "status": status.get("name"),
        "status_id": str(status["id"]) if status.get("id") is not None else None,
        "status_category": status_category_of(status),
        "priority": _name(fields.get("priority")),
        "resolution": _name(fields.get("resolution")),
        "assignee_id": assignee_id,
        "assignee_name": assignee_name,
        "reporter_id": reporter_id,
        "reporter_name": reporter_name,
        "labels": sorted(fields.get("labels") or []),
        "components": sorted(c.get("name") for c in fields.get("components") or [] if c.get("name")),
        "custom_fields": custom,
        "created_at": parse_jira_time(fields.get("created")),
        "updated_at": parse_jira_time(fields.get("updated")),
        "resolved_at": parse_jira_time(fields.get("resolutiondate")),
    }


def status_changes(histories: list[dict]) -> list[dict]:
    """The status transitions in changelog histories, as IssueStatusChange values (oldest first)."""
    changes = []
    for history in histories:
        for item in history.get("items") or []:
            if item.get("fieldId", item.get("field")) != "status" and item.get("field") != "status":
                continue
            author_id, author_name = user_ref(history.get("author"))
            changes.append({
                "change_id": str(history["id"]),
                "from_status": item.get("fromString"),
                "to_status": item.get("toString"),
                "from_status_id": item.get("from"),
                "to_status_id": item.get("to"),
                "changed_at": parse_jira_time(history.get("created")),
                "changed_by": author_name or author_id,
            })
            break  # one status item per history
    changes.sort(key=lambda c: (c["changed_at"], int(c["change_id"]) if c["change_id"].isdigit() else 0))
    return changes
