"""Connect installations: record lifecycle events, and link a Jira site to a CSCX.AI workspace."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from connect_app.connections.records import find_tenant
from connect_app.connections.retention import UNINSTALL_RETENTION
from connect_app.connections.urlsafety import UnsafeUrl, validate_base_url, validate_connect_base_url
from connect_app.extensions import db
from connect_app.models import AuditEntry, ConnectionKind, ConnectionStatus, JiraConnection, LinkCode
from connect_app.models.types import utcnow

log = logging.getLogger(__name__)

LINK_CODE_TTL = timedelta(minutes=30)
REQUIRED_INSTALL_FIELDS = ("key", "clientKey", "sharedSecret", "baseUrl")


class InstallError(Exception):
    """The lifecycle payload is unusable; the message says why (never echoing secrets)."""


class LinkCodeError(Exception):
    """A one-time link code is unknown, used, or expired."""


def validate_install_payload(payload: Any, app_key: str) -> dict[str, Any]:
    """Check an `installed` body: the fields we need, for our app key, with an http(s) baseUrl."""
    if not isinstance(payload, dict):
        raise InstallError("body must be a JSON object")
    missing = [f for f in REQUIRED_INSTALL_FIELDS if not isinstance(payload.get(f), str) or not payload[f]]
    if missing:
        raise InstallError(f"missing field(s): {', '.join(missing)}")
    if payload["key"] != app_key:
        raise InstallError(f"this endpoint installs {app_key}, not {payload['key']}")
    if not payload["baseUrl"].startswith(("https://", "http://")):
        raise InstallError("baseUrl must be an http(s) URL")
    return payload


def install_urls(payload: dict[str, Any], *, allow_private_urls: bool) -> tuple[str, str]:
    """(base URL, display URL) of an `installed` body under the URL-safety policy; UnsafeUrl otherwise.

    We call the baseUrl with the tenant's secret, so it must be an Atlassian Cloud site unless
    ALLOW_PRIVATE_JIRA_URLS is set; the displayUrl (a custom domain may differ) is only linked to,
    so it need only be a plain http(s) URL.
    """
    try:
        base_url = validate_connect_base_url(payload["baseUrl"], allow_private=allow_private_urls)
    except UnsafeUrl as exc:
        raise UnsafeUrl(f"baseUrl: {exc}") from None
    display = payload.get("displayUrl") or base_url
    try:
        if not isinstance(display, str):
            raise UnsafeUrl("must be a URL")
        return base_url, validate_base_url(display, allow_private=True)
    except UnsafeUrl as exc:
        raise UnsafeUrl(f"displayUrl: {exc}") from None


def record_install(payload: dict[str, Any], *, allow_private_urls: bool = False) -> JiraConnection:
    """Create or refresh the connection of a verified `installed` event; UnsafeUrl for a refused baseUrl."""
    base_url, display_url = install_urls(payload, allow_private_urls=allow_private_urls)
    connection = find_tenant(payload["clientKey"], live_only=False)
    created = connection is None
    if created:
        connection = JiraConnection(kind=ConnectionKind.CONNECT, client_key=payload["clientKey"])
        db.session.add(connection)
    connection.base_url = base_url
    connection.display_url = display_url
    connection.cloud_id = payload.get("cloudId") or connection.cloud_id
    connection.shared_secret = payload["sharedSecret"]
    connection.deployment = "cloud"
    connection.server_version = payload.get("serverVersion")
    connection.status = ConnectionStatus.ACTIVE if connection.organization_id else ConnectionStatus.PENDING
    connection.installed_at = utcnow()
    connection.uninstalled_at = None
    connection.purge_after = None
    db.session.flush()
    _audit(connection, "connection.installed", {"base_url": connection.base_url, "reinstall": not created})
    db.session.commit()
    log.info("connect.installed", extra={"client_key": connection.client_key, "reinstall": not created})
    return connection


def record_uninstall(connection: JiraConnection) -> None:
    """Disable a connection; its data is kept for the retention period, then purged by a job."""
    now = utcnow()
    connection.status = ConnectionStatus.UNINSTALLED
    connection.uninstalled_at = now
    connection.purge_after = now + UNINSTALL_RETENTION
    _audit(connection, "connection.uninstalled", {"purge_after": connection.purge_after.isoformat()})
    db.session.commit()
    log.info("connect.uninstalled", extra={"client_key": connection.client_key})


def set_enabled(connection: JiraConnection, enabled: bool) -> None:
    """Record the app being enabled or disabled on the site."""
    if enabled:
        connection.status = ConnectionStatus.ACTIVE if connection.organization_id else ConnectionStatus.PENDING
    else:
        connection.status = ConnectionStatus.DISABLED
    _audit(connection, "connection.enabled" if enabled else "connection.disabled", {})
    db.session.commit()


def _hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


def create_link_code(organization_id: str, created_by: str) -> tuple[str, LinkCode]:
    """A one-time code a workspace admin gives the Jira admin; only its hash is stored."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O/1/I: codes are read aloud and typed
    raw = "".join(secrets.choice(alphabet) for _ in range(12))
    code = "-".join(raw[i : i + 4] for i in range(0, 12, 4))
    link_code = LinkCode(organization_id=organization_id, code_hash=_hash(code), created_by=created_by,
                         expires_at=utcnow() + LINK_CODE_TTL)
    db.session.add(link_code)
    db.session.add(AuditEntry(organization_id=organization_id, actor_type="cscx_user", actor_id=created_by,
                              action="link_code.created", target_type="link_code", details={}))
    db.session.commit()
    return code, link_code


def link_with_code(connection: JiraConnection, code: str, jira_account_id: str | None) -> str:
    """Bind an app install (Connect, or Forge from its admin page) to the workspace that issued the code."""
    now = utcnow()
    # One UPDATE claims the code, so two submissions of the same code cannot both succeed.
    claimed = db.session.execute(
        update(LinkCode)
        .where(LinkCode.code_hash == _hash(code), LinkCode.used_at.is_(None), LinkCode.expires_at > now)
        .values(used_at=now, connection_id=connection.id)
        .returning(LinkCode.organization_id)
    ).scalar_one_or_none()
    if claimed is None:
        db.session.rollback()
        raise LinkCodeError("that code is unknown, already used, or expired")
    if connection.organization_id and connection.organization_id != claimed:
        db.session.rollback()
        raise LinkCodeError("this Jira site is already linked to another workspace")
    connection.organization_id = claimed
    if connection.status == ConnectionStatus.PENDING:
        connection.status = ConnectionStatus.ACTIVE
    db.session.add(AuditEntry(organization_id=claimed, connection_id=connection.id, actor_type="jira_user",
                              actor_id=jira_account_id, action="connection.linked", target_type="jira_connection",
                              target_id=str(connection.id), details={"base_url": connection.base_url}))
    db.session.commit()
    log.info("connect.linked", extra={"client_key": connection.client_key,
                                      "installation_id": connection.installation_id, "workspace": claimed})
    return claimed


def _audit(connection: JiraConnection, action: str, details: dict[str, Any]) -> None:
    db.session.add(AuditEntry(organization_id=connection.organization_id, connection_id=connection.id,
                              actor_type="system", actor_id=connection.client_key, action=action,
                              target_type="jira_connection", target_id=str(connection.id), details=details))
