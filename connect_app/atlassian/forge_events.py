"""Forge product events in the shape of Jira webhooks, so one inbox and one pipeline serve both.

Forge posts an issue trigger as `{"eventType": "avi:jira:updated:issue", "issue": {...}, "changelog":
{...}, "atlassianId": ...}` and retries a failed delivery up to 4 times with the same event. The inbox
deduplicates by the event's id (its `id`, else a hash of the event without the per-attempt
`retryContext`), and stores it as the webhook Jira would have sent for the same change.
Pure: no Flask, no database. The Forge event route (`connect_app.jira_app.forge.events`) calls it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from connect_app.atlassian.issue_json import ISSUE_CREATED, ISSUE_DELETED, ISSUE_UPDATED, parse_jira_time

FORGE_ISSUE_EVENTS = {
    "avi:jira:created:issue": ISSUE_CREATED,
    "avi:jira:updated:issue": ISSUE_UPDATED,
    "avi:jira:deleted:issue": ISSUE_DELETED,
}
# Fields that differ between attempts of one event; never part of its identity.
_PER_ATTEMPT = ("retryContext", "contextToken")
_MAX_ID_LENGTH = 150


class UnusableForgeEvent(ValueError):
    """The body is not a Forge issue event we can store; the message says why."""


def forge_event_id(event: Mapping[str, Any]) -> str:
    """The event's identity across Forge's retries: `forge:<id>`, else `forge:sha256:<hash>` of the event."""
    value = event.get("id")
    if isinstance(value, str) and value.strip():
        return "forge:" + value.strip()[:_MAX_ID_LENGTH]
    stable = {k: v for k, v in event.items() if k not in _PER_ATTEMPT}
    canonical = json.dumps(stable, sort_keys=True, separators=(",", ":"), default=str)
    return "forge:sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def webhook_payload(event: Any) -> dict[str, Any]:
    """The Jira webhook body for a Forge issue event (issue id and key, changelog, user, timestamp when given)."""
    if not isinstance(event, dict):
        raise UnusableForgeEvent("the body must be a JSON object")
    webhook_event = FORGE_ISSUE_EVENTS.get(event.get("eventType"))
    if webhook_event is None:
        raise UnusableForgeEvent("eventType must be one of " + ", ".join(FORGE_ISSUE_EVENTS))
    issue = event.get("issue")
    if not isinstance(issue, dict):
        raise UnusableForgeEvent("an issue event needs its issue")
    # A Forge event carries a subset of the issue's fields (no labels, priority, components...). Storing
    # that subset would erase the rest, so only the issue's identity is kept: the pipeline reads the issue
    # from Jira (with the installation's system token), as it does for any partial webhook.
    payload: dict[str, Any] = {"webhookEvent": webhook_event,
                               "issue": {k: issue[k] for k in ("id", "key") if k in issue},
                               "forgeEventType": event["eventType"]}
    if isinstance(event.get("changelog"), dict):
        payload["changelog"] = event["changelog"]
    if isinstance(event.get("atlassianId"), str):
        payload["user"] = {"accountId": event["atlassianId"]}
    timestamp = event.get("timestamp")
    if isinstance(timestamp, int) and not isinstance(timestamp, bool):
        payload["timestamp"] = timestamp
    else:
        # Forge sends no event time; the issue's `updated` is when the change happened (the changelog's
        # time, which orders the status history however late the event is processed).
        fields = issue.get("fields") if isinstance(issue.get("fields"), dict) else {}
        updated = parse_jira_time(fields.get("updated")) if isinstance(fields.get("updated"), str) else None
        if updated is not None:
            payload["timestamp"] = int(updated.timestamp() * 1000)
    return payload
