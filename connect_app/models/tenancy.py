"""Tenants: CSCX.AI workspaces and the Jira sites connected to them."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from connect_app.extensions import db
from connect_app.models.types import EncryptedText, JSONType, UTCDateTime, new_uuid, utcnow


class ConnectionKind(StrEnum):
    """How a Jira site reaches us and we reach it."""

    CONNECT = "connect"  # the Connect app, installed from inside Jira Cloud (JWT with a shared secret)
    OAUTH = "oauth"  # Jira Cloud connected from CSCX.AI with OAuth 2.0 (3LO)
    SERVER = "server"  # Jira Server / Data Center with a personal access token (or Basic)
    FORGE = "forge"  # the Forge app: invocation tokens in, the cached app system token out


class ConnectionStatus(StrEnum):
    """Where a connection stands."""

    PENDING = "pending"  # installed, not yet linked to a workspace
    ACTIVE = "active"
    DISABLED = "disabled"  # the Jira admin disabled the app
    NEEDS_REAUTH = "needs_reauth"  # the OAuth grant is gone
    UNINSTALLED = "uninstalled"  # kept for the retention period, then purged


CONNECTION_KINDS = tuple(kind.value for kind in ConnectionKind)
CONNECTION_STATUSES = tuple(status.value for status in ConnectionStatus)
# A site in these states still proves who it is (its tokens and webhooks are verified).
LIVE_STATUSES = (ConnectionStatus.PENDING, ConnectionStatus.ACTIVE, ConnectionStatus.DISABLED)


class Organization(db.Model):
    """A CSCX.AI workspace; owns customers, rules, subscriptions and its Jira connections."""

    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the CSCX.AI workspace id
    name: Mapped[str] = mapped_column(String(200))
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    connections: Mapped[list[JiraConnection]] = relationship(back_populates="organization")


class JiraConnection(db.Model):
    """One Jira site reached one way (Connect or Forge install, Cloud OAuth 2.0, or Server/DC token).

    A Forge connection keeps `base_url` = the token's `app.apiBaseUrl` (where calls go) and caches the
    latest `x-forge-oauth-system` token in `access_token` (encrypted) with `token_expires_at`.
    """

    __tablename__ = "jira_connections"
    __table_args__ = (
        UniqueConstraint("client_key", name="uq_jira_connections_client_key"),
        UniqueConstraint("organization_id", "cloud_id", name="uq_jira_connections_org_cloud_id"),
        UniqueConstraint("installation_id", name="uq_jira_connections_installation_id"),
        Index("ix_jira_connections_org_status", "organization_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    organization_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(
        Enum(*CONNECTION_KINDS, name="connection_kind", native_enum=False, create_constraint=True)
    )
    status: Mapped[str] = mapped_column(
        Enum(*CONNECTION_STATUSES, name="connection_status", native_enum=False, create_constraint=True),
        default=ConnectionStatus.PENDING.value,
    )
    base_url: Mapped[str] = mapped_column(String(500))  # what API calls go to
    display_url: Mapped[str | None] = mapped_column(String(500))  # what people see in links
    client_key: Mapped[str | None] = mapped_column(String(200))  # Connect installs
    installation_id: Mapped[str | None] = mapped_column(String(200))  # Forge installs (app.installationId)
    cloud_id: Mapped[str | None] = mapped_column(String(100))  # Cloud sites (Connect and OAuth)
    deployment: Mapped[str] = mapped_column(String(20), default="cloud")  # cloud | server | datacenter
    server_version: Mapped[str | None] = mapped_column(String(40))
    auth_user: Mapped[str | None] = mapped_column(String(200))  # Server basic-auth username, if used

    shared_secret: Mapped[str | None] = mapped_column("shared_secret_encrypted", EncryptedText)
    access_token: Mapped[str | None] = mapped_column("access_token_encrypted", EncryptedText)
    refresh_token: Mapped[str | None] = mapped_column("refresh_token_encrypted", EncryptedText)
    api_token: Mapped[str | None] = mapped_column("api_token_encrypted", EncryptedText)
    webhook_secret: Mapped[str | None] = mapped_column("webhook_secret_encrypted", EncryptedText)
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    token_version: Mapped[int] = mapped_column(default=0)  # optimistic lock for refresh rotation
    scopes: Mapped[list[str]] = mapped_column(JSONType, default=list)

    # Custom workflows: status id/name -> category (new | indeterminate | done) and our own
    # meaning ("development", ...) where the Jira category alone is not enough.
    status_map: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # The site's priorities, highest first, as its GET /priority listed them at the last sync.
    priorities: Mapped[list[str] | None] = mapped_column(JSONType)
    webhooks: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    webhooks_expire_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    sync_watermark: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sync_checkpoint: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    next_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    installed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    uninstalled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    purge_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    organization: Mapped[Organization | None] = relationship(back_populates="connections")


class LinkCode(db.Model):
    """A one-time code that links a Connect install to a CSCX.AI workspace (configure page)."""

    __tablename__ = "link_codes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256; the code itself is never stored
    created_by: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    connection_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jira_connections.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OAuthState(db.Model):
    """A single-use OAuth 2.0 `state`, bound to the workspace and user who started it and the browser that opened it."""

    __tablename__ = "oauth_states"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # random nonce inside the signed state
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(200))
    code_verifier: Mapped[str | None] = mapped_column("code_verifier_encrypted", EncryptedText)
    redirect_after: Mapped[str | None] = mapped_column(String(500))
    # SHA-256 of the secret cookie set in the browser that opened the authorize link (set once, when opened).
    browser_hash: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SyncRun(db.Model):
    """One sync of a connection (full, incremental or per customer): progress, counts, errors."""

    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_sync_runs_connection_started", "connection_id", "started_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jira_connections.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(20))  # full | incremental | customer | reconcile
    status: Mapped[str] = mapped_column(String(20), default="running")  # running | ok | failed
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    counts: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    checkpoint: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(Text)
