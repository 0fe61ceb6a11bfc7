"""Registering the webhooks that feed `POST /api/integrations/jira/webhook`, and keeping them alive.

- Server/Data Center: one admin webhook with a generated secret (Jira signs each delivery with
  `X-Hub-Signature: sha256=<HMAC-SHA256 of the body>`), through the webhook REST API of the
  server's version: `/rest/webhooks/1.0/webhook` before 10.0, `/rest/jira-webhook/1.0/webhooks`
  from 10.0. Without admin rights the exact settings are handed back for a Jira admin to paste.
- Cloud OAuth 2.0: a dynamic webhook (`POST /rest/api/3/webhook`). Its JQL filter may only use
  issueKey, project, issuetype, status, assignee, reporter, issue.property and cf[id] with
  =, !=, IN and NOT IN, so we filter by `project IN (...)` over the projects the grant can see.
  Dynamic webhooks expire 30 days after registration or their last refresh; a periodic job
  (`refresh_expiring_webhooks`) extends them well before that.

The delivery URL is `{BASE_URL}/api/integrations/jira/webhook?connection=<connection id>`; the
webhooks endpoint finds the connection by that id and verifies the delivery against it.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from connect_app.atlassian.client import (
    ADMIN_WEBHOOKS_DC10,
    ADMIN_WEBHOOKS_LEGACY,
    JiraAuthError,
    JiraClient,
    JiraError,
)
from connect_app.atlassian.issue_json import ISSUE_EVENTS
from connect_app.atlassian.jql import jql_string
from connect_app.connections.access import jira_client
from connect_app.connections.records import ConnectSettings, NeedsReauth, TokenUnavailable, audit, current_settings
from connect_app.extensions import db
from connect_app.models import ConnectionKind, ConnectionStatus, JiraConnection
from connect_app.models.types import utcnow

log = logging.getLogger(__name__)

WEBHOOK_NAME = "CSCX.AI issue tracking"
DYNAMIC_LIFETIME = timedelta(days=30)
REFRESH_MARGIN = timedelta(days=10)  # refresh dynamic webhooks when less than this is left
MANUAL_WHERE = "Jira administration > System > WebHooks > Create a WebHook"


def version_tuple(version: str | None) -> tuple[int, ...]:
    """(major, minor, patch) of a Jira version string such as "9.12.2"; () when unreadable."""
    numbers: list[int] = []
    for part in (version or "").split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        if not digits or digits != part[: len(digits)]:
            break
        numbers.append(int(digits))
    return tuple(numbers)


def server_webhook_api(version: str | None) -> str:
    """The admin webhook REST path for a Server/DC version (10.0 moved it)."""
    numbers = version_tuple(version)
    return ADMIN_WEBHOOKS_DC10 if numbers and numbers[0] >= 10 else ADMIN_WEBHOOKS_LEGACY


def _server_body(api: str, url: str, secret: str) -> dict[str, Any]:
    if api == ADMIN_WEBHOOKS_DC10:
        return {"name": WEBHOOK_NAME, "url": url, "events": list(ISSUE_EVENTS), "active": True,
                "configuration": {"FILTERS": "", "EXCLUDE_BODY": "false"}, "secret": secret}
    return {"name": WEBHOOK_NAME, "url": url, "events": list(ISSUE_EVENTS), "enabled": True, "excludeBody": False,
            "filters": {"issue-related-events-section": ""}, "secret": secret}


def manual_settings(url: str, secret: str) -> dict[str, Any]:
    """What a Jira admin types into the WebHooks page when we cannot register the webhook ourselves."""
    return {"where": MANUAL_WHERE, "name": WEBHOOK_NAME, "url": url, "events": list(ISSUE_EVENTS),
            "jql": "", "exclude_body": False, "secret": secret}


def register_server_webhook(connection: JiraConnection, client: JiraClient, settings: ConnectSettings
                            ) -> dict[str, Any]:
    """Register (or hand back for manual setup) the admin webhook of a Server/DC connection; commits.

    Returns {"registered": True, "id", "api"} or {"registered": False, "reason", "manual": {...}};
    the manual settings carry the secret once, for the admin to paste into Jira.
    """
    delete_server_webhooks(connection, client)
    secret = secrets.token_urlsafe(32)
    url = settings.webhook_url(connection.id)
    api = server_webhook_api(connection.server_version)
    hook_id, reason = None, None
    try:
        hook_id = client.create_admin_webhook(api, _server_body(api, url, secret))
    except JiraAuthError:
        reason = "the token's user is not a Jira administrator"
    except JiraError as exc:
        reason = ("the webhook API could not be reached" if exc.status == 0
                  else f"the webhook API answered {exc.status}")
    if hook_id is None and reason is None:
        reason = "the webhook API answered without the new webhook's id"
    connection.webhook_secret = secret
    if hook_id is not None:
        connection.webhooks = [{"kind": "server", "api": api, "id": hook_id, "events": list(ISSUE_EVENTS),
                                "jql": ""}]
        result: dict[str, Any] = {"registered": True, "id": hook_id, "api": api}
    else:
        connection.webhooks = [{"kind": "server", "api": api, "manual": True, "events": list(ISSUE_EVENTS),
                                "jql": ""}]
        result = {"registered": False, "reason": reason, "manual": manual_settings(url, secret)}
    audit(connection, "connection.webhook_registered" if hook_id else "connection.webhook_manual",
          details={"api": api, "reason": reason} if reason else {"api": api})
    db.session.commit()
    log.info("webhook.server_registration", extra={"connection_id": str(connection.id),
                                                   "registered": hook_id is not None, "api": api})
    return result


def delete_server_webhooks(connection: JiraConnection, client: JiraClient) -> None:
    """Delete the admin webhooks we registered on a Server/DC site (best effort)."""
    for hook in connection.webhooks or []:
        if hook.get("kind") != "server" or not hook.get("id"):
            continue
        try:
            client.delete_admin_webhook(hook.get("api") or ADMIN_WEBHOOKS_LEGACY, hook["id"])
        except JiraError as exc:
            log.warning("webhook.server_delete_failed", extra={"connection_id": str(connection.id),
                                                               "status": exc.status})


# ---- Cloud dynamic webhooks (OAuth 2.0) ---------------------------------------------------

def dynamic_jql(keys: list[str]) -> str:
    """The dynamic webhook filter: only `project IN (...)`, a form the dynamic webhook API accepts."""
    return "project IN (" + ", ".join(jql_string(k) for k in sorted(keys)) + ")"


def register_dynamic_webhooks(connection: JiraConnection, client: JiraClient, settings: ConnectSettings
                              ) -> dict[str, Any]:
    """Register the dynamic webhook of an OAuth connection (replacing ours from before); commits."""
    delete_dynamic_webhooks(connection, client)
    keys = client.project_keys()
    if not keys:
        connection.webhooks, connection.webhooks_expire_at = [], None
        db.session.commit()
        return {"registered": False, "reason": "the grant sees no project; nothing to watch yet"}
    jql = dynamic_jql(keys)
    results = client.register_dynamic_webhooks(settings.webhook_url(connection.id),
                                                [{"events": list(ISSUE_EVENTS), "jqlFilter": jql}])
    ids = [r["createdWebhookId"] for r in results if r.get("createdWebhookId") is not None]
    errors = [e for r in results for e in r.get("errors") or []]
    connection.webhooks = [{"kind": "dynamic", "id": i, "events": list(ISSUE_EVENTS), "jql": jql} for i in ids]
    connection.webhooks_expire_at = utcnow() + DYNAMIC_LIFETIME if ids else None
    audit(connection, "connection.webhook_registered",
          details={"kind": "dynamic", "ids": ids, "errors": errors[:5]})
    db.session.commit()
    log.info("webhook.dynamic_registered", extra={"connection_id": str(connection.id), "ids": ids})
    if not ids:
        return {"registered": False, "reason": "; ".join(errors) or "Jira registered no webhook"}
    return {"registered": True, "ids": ids, "expires_at": connection.webhooks_expire_at.isoformat()}


def _dynamic_ids(connection: JiraConnection) -> list[int]:
    return [int(h["id"]) for h in connection.webhooks or [] if h.get("kind") == "dynamic" and h.get("id") is not None]


def delete_dynamic_webhooks(connection: JiraConnection, client: JiraClient) -> None:
    """Delete our dynamic webhooks of a connection from Jira (best effort)."""
    ids = _dynamic_ids(connection)
    if not ids:
        return
    try:
        client.delete_dynamic_webhooks(ids)
    except (JiraError, NeedsReauth, TokenUnavailable) as exc:
        log.warning("webhook.dynamic_delete_failed", extra={"connection_id": str(connection.id),
                                                            "error": type(exc).__name__})


def refresh_dynamic_webhooks(connection: JiraConnection, client: JiraClient, settings: ConnectSettings) -> str:
    """Extend a connection's dynamic webhooks by 30 days; re-register when Jira no longer knows them."""
    ids = _dynamic_ids(connection)
    if not ids:
        register_dynamic_webhooks(connection, client, settings)
        return "registered"
    registered = {int(h["id"]) for h in client.list_dynamic_webhooks()}
    if not set(ids) <= registered:
        register_dynamic_webhooks(connection, client, settings)
        return "re-registered"
    expiration = client.refresh_dynamic_webhooks(ids)
    connection.webhooks_expire_at = utcnow() + DYNAMIC_LIFETIME
    audit(connection, "connection.webhook_refreshed", details={"ids": ids, "expiration": expiration})
    db.session.commit()
    return "refreshed"


def refresh_expiring_webhooks(margin_days: float | None = None) -> dict[str, int]:
    """Periodic job: refresh every active OAuth connection's dynamic webhooks that expire within the margin."""
    settings = current_settings()
    margin = timedelta(days=margin_days) if margin_days is not None else REFRESH_MARGIN
    due = list(db.session.scalars(select(JiraConnection).where(
        JiraConnection.kind == ConnectionKind.OAUTH, JiraConnection.status == ConnectionStatus.ACTIVE,
        (JiraConnection.webhooks_expire_at.is_(None)) | (JiraConnection.webhooks_expire_at < utcnow() + margin),
    )))
    counts = {"due": len(due), "refreshed": 0, "registered": 0, "failed": 0}
    for connection in due:
        try:
            outcome = refresh_dynamic_webhooks(connection, jira_client(connection, settings=settings), settings)
        except (JiraError, NeedsReauth, TokenUnavailable) as exc:
            db.session.rollback()
            counts["failed"] += 1
            log.warning("webhook.refresh_failed", extra={"connection_id": str(connection.id),
                                                         "error": type(exc).__name__})
            continue
        counts["refreshed" if outcome == "refreshed" else "registered"] += 1
    log.info("webhook.refresh_run", extra=counts)
    return counts
