"""Jira connections of a workspace: settings, errors, audit, and what the API shows of a connection.

The flows that create and end connections are in `setup`, OAuth token upkeep in `oauth_tokens`,
webhook registration in `webhook_registration` (all in this package); the authenticated REST client
of a connection comes from `access.jira_client`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import current_app
from sqlalchemy import select

from connect_app.config import ATLASSIAN_API_URL, ATLASSIAN_AUTH_URL
from connect_app.extensions import db
from connect_app.models import (
    LIVE_STATUSES,
    AuditEntry,
    ConnectionKind,
    ConnectionStatus,
    JiraConnection,
    OutboxMessage,
)
from connect_app.models.types import iso

CALLBACK_PATH = "/api/integrations/jira/callback"
AUTHORIZE_PATH = "/api/integrations/jira/authorize"  # opened by the browser; binds the flow to it
WEBHOOK_PATH = "/api/integrations/jira/webhook"


@dataclass(frozen=True)
class ConnectSettings:
    """The configuration the connection flows need, read once from the app config."""

    base_url: str
    allow_private_urls: bool = False
    auth_url: str = ATLASSIAN_AUTH_URL
    api_url: str = ATLASSIAN_API_URL
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    state_key: str = field(default="", repr=False)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ConnectSettings:
        """Settings from a Flask config mapping."""
        return cls(
            base_url=str(config["BASE_URL"]).rstrip("/"),
            allow_private_urls=bool(config.get("ALLOW_PRIVATE_JIRA_URLS")),
            auth_url=config.get("ATLASSIAN_AUTH_URL") or ATLASSIAN_AUTH_URL,
            api_url=config.get("ATLASSIAN_API_URL") or ATLASSIAN_API_URL,
            client_id=config.get("ATLASSIAN_OAUTH_CLIENT_ID"),
            client_secret=config.get("ATLASSIAN_OAUTH_CLIENT_SECRET"),
            state_key=config.get("SECRET_KEY") or "",
        )

    @property
    def oauth_configured(self) -> bool:
        """Whether Cloud OAuth 2.0 can be offered (client id and secret are set)."""
        return bool(self.client_id and self.client_secret and self.state_key)

    @property
    def callback_url(self) -> str:
        """The OAuth redirect_uri registered in the Atlassian developer console."""
        return f"{self.base_url}{CALLBACK_PATH}"

    def authorize_link(self, state: str) -> str:
        """Our own link that sends a browser on to Atlassian's consent screen, binding the flow to it."""
        return f"{self.base_url}{AUTHORIZE_PATH}?{urlencode({'state': state})}"

    def webhook_url(self, connection_id: uuid.UUID | str) -> str:
        """Where Jira delivers webhooks of one connection (the webhooks endpoint verifies them)."""
        return f"{self.base_url}{WEBHOOK_PATH}?connection={connection_id}"


def current_settings() -> ConnectSettings:
    """Settings of the running app (for jobs and factories that are not handed settings)."""
    return ConnectSettings.from_config(current_app.config)


class ConnectionSetupError(Exception):
    """A connect/disconnect request cannot be done: HTTP status, stable code, message for the admin."""

    def __init__(self, status: int, code: str, message: str, details: Any = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class NeedsReauth(Exception):
    """The connection's OAuth grant is gone (revoked, expired or reused): an admin must reconnect."""


class TokenUnavailable(Exception):
    """No access token could be had right now (network fault, refresh in flight too long, no such connection)."""


def audit(connection: JiraConnection | None, action: str, *, actor_type: str = "system", actor_id: str | None = None,
          organization_id: str | None = None, details: dict[str, Any] | None = None,
          session=None) -> None:
    """Add an audit entry about a connection (never with secrets) to the session; the caller commits."""
    (session or db.session).add(AuditEntry(
        organization_id=organization_id or (connection.organization_id if connection else None),
        connection_id=connection.id if connection else None, actor_type=actor_type, actor_id=actor_id,
        action=action, target_type="jira_connection", target_id=str(connection.id) if connection else None,
        details=details or {},
    ))


def notify_admins_needs_reauth(connection: JiraConnection, reason: str, *, key: str, session) -> None:
    """Queue a push telling the workspace's admins that a connection needs re-authorisation."""
    if not connection.organization_id:
        return
    session.add(OutboxMessage(
        organization_id=connection.organization_id, topic="jira.connection.needs_reauth",
        idempotency_key=f"jira.connection.needs_reauth:{connection.id}:{key}",
        payload={"connection_id": str(connection.id), "site": connection.display_url or connection.base_url,
                 "kind": connection.kind, "reason": reason, "audience": "workspace_admins",
                 "action": "reconnect with POST /api/integrations/jira/connect {\"type\": \"cloud_oauth\"}"},
    ))


def find_connection(organization_id: str, connection_id: str) -> JiraConnection:
    """A connection of the workspace by id; ConnectionSetupError 400/404 otherwise."""
    try:
        key = uuid.UUID(str(connection_id))
    except ValueError as exc:
        raise ConnectionSetupError(400, "invalid_parameter", "connection id must be a UUID") from exc
    connection = db.session.get(JiraConnection, key)
    if connection is None or connection.organization_id != organization_id:
        raise ConnectionSetupError(404, "not_found", "no such Jira connection in this workspace")
    return connection


def find_tenant(client_key: str | None = None, *, connection_id: uuid.UUID | None = None,
                installation_id: str | None = None, live_only: bool = True) -> JiraConnection | None:
    """The one tenant lookup: a connection by its Connect clientKey, its Forge installation id, or by id.

    `live_only` (the default) answers only for sites that may still prove who they are
    (pending, active, disabled): an uninstalled site's tokens and webhooks are refused.
    Lifecycle events pass `live_only=False` to find a site in any state. A clientKey finds Connect
    connections only: once a site moved to Forge, Connect tokens no longer speak for it.
    """
    if sum(key is not None for key in (client_key, connection_id, installation_id)) != 1:
        raise ValueError("find_tenant needs exactly one of client_key, connection_id and installation_id")
    if client_key is not None:
        query = select(JiraConnection).where(JiraConnection.kind == ConnectionKind.CONNECT,
                                             JiraConnection.client_key == client_key)
    elif installation_id is not None:
        query = select(JiraConnection).where(JiraConnection.kind == ConnectionKind.FORGE,
                                             JiraConnection.installation_id == installation_id)
    else:
        query = select(JiraConnection).where(JiraConnection.id == connection_id)
    if live_only:
        query = query.where(JiraConnection.status.in_(LIVE_STATUSES))
    return db.session.scalar(query)


def list_connections(organization_id: str) -> list[JiraConnection]:
    """Every connection of the workspace, newest first."""
    return list(db.session.scalars(
        select(JiraConnection).where(JiraConnection.organization_id == organization_id)
        .order_by(JiraConnection.created_at.desc())
    ))


def serialize_connection(connection: JiraConnection) -> dict[str, Any]:
    """What the API shows of a connection: status and shape, never a secret."""
    webhooks = connection.webhooks or []
    return {
        "id": str(connection.id), "kind": connection.kind, "status": connection.status,
        "needs_reauth": connection.status == ConnectionStatus.NEEDS_REAUTH,
        "site_url": connection.display_url or connection.base_url, "api_base_url": connection.base_url,
        "cloud_id": connection.cloud_id, "deployment": connection.deployment,
        "server_version": connection.server_version,
        "auth": _auth_kind(connection),
        "token_expires_at": iso(connection.token_expires_at),
        "webhooks": [{k: v for k, v in hook.items() if k in ("id", "kind", "api", "manual", "events", "jql")}
                     for hook in webhooks],
        "webhooks_expire_at": iso(connection.webhooks_expire_at),
        "last_error": connection.last_error,
        "created_at": iso(connection.created_at), "updated_at": iso(connection.updated_at),
    }


def _auth_kind(connection: JiraConnection) -> str:
    if connection.kind == ConnectionKind.CONNECT:
        return "connect_jwt"
    if connection.kind == ConnectionKind.OAUTH:
        return "oauth2"
    if connection.kind == ConnectionKind.FORGE:
        return "forge_app_token"
    return "basic" if connection.auth_user else "personal_access_token"
