"""Forge installations: record lifecycle events, re-key a site's earlier install, cache the system token.

A Forge install is keyed by `app.installationId` (Forge passes the Connect clientKey through only until
Connect's end of support). A new installation on a site we already know takes that site's connection
over: same row, so the same customers, links, history and workspace. That is the site's Connect install
(the app was upgraded to Forge), or its uninstalled Forge install (a reinstall gets a new installationId,
and Atlassian leaves mapping the old one to the new to the remote); a Forge install still live is never
taken (another environment of the app on the same site keeps its own).
Called by the Forge routes (`connect_app.jira_app.forge`) with a verified `ForgeInvocation`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from connect_app.atlassian.forge import ForgeInvocation
from connect_app.connections.records import audit, find_tenant
from connect_app.connections.retention import UNINSTALL_RETENTION
from connect_app.extensions import db
from connect_app.models import ConnectionKind, ConnectionStatus, JiraConnection
from connect_app.models.types import utcnow

log = logging.getLogger(__name__)

# Forge documents a system token as valid for at least 2 h (at most 4 h), and tokens are opaque:
# the lower bound is the only expiry we can rely on.
SYSTEM_TOKEN_LIFETIME = timedelta(hours=2)
# A newer token replaces the cached one only when that buys this much more life: every invocation
# brings a token, and writing the row on each would turn reads into writes.
SYSTEM_TOKEN_REFRESH_STEP = timedelta(minutes=15)


def _earlier_connection_of_site(invocation: ForgeInvocation) -> JiraConnection | None:
    """The site's Connect install, else its uninstalled Forge install (cloudId, else the site URL), newest first."""
    same_site = [JiraConnection.cloud_id == invocation.cloud_id]
    if invocation.site_url:
        site = invocation.site_url.rstrip("/")
        same_site += [JiraConnection.base_url == site, JiraConnection.display_url == site]
    for kind in (ConnectionKind.CONNECT, ConnectionKind.FORGE):
        query = select(JiraConnection).where(JiraConnection.kind == kind, or_(*same_site))
        if kind == ConnectionKind.FORGE:
            query = query.where(JiraConnection.status == ConnectionStatus.UNINSTALLED)
        found = db.session.scalar(query.order_by(JiraConnection.created_at.desc()).limit(1))
        if found is not None:
            return found
    return None


def record_forge_install(invocation: ForgeInvocation, *, event: str, installer: str | None = None) -> JiraConnection:
    """Create, refresh or take over (the site's Connect or uninstalled Forge install) the connection of an install."""
    connection = find_tenant(installation_id=invocation.installation_id, live_only=False)
    action = "connection.installed"
    if connection is None:
        connection = _earlier_connection_of_site(invocation)
        if connection is not None and connection.kind == ConnectionKind.CONNECT:
            # The Connect app was upgraded to Forge on this site: re-key the same row, so its workspace,
            # customers, links and history stay. Its clientKey is kept for the record, but Connect tokens
            # no longer find it (the tenant lookup by clientKey is for Connect connections only).
            action = "connection.upgraded_to_forge"
            connection.kind = ConnectionKind.FORGE
            connection.shared_secret = None
        elif connection is not None:
            # Reinstalled within the retention period: the new installation takes the old one's row.
            action = "connection.reinstalled"
        else:
            connection = JiraConnection(kind=ConnectionKind.FORGE)
            db.session.add(connection)
    reinstall = connection.id is not None and action != "connection.upgraded_to_forge"
    connection.installation_id = invocation.installation_id
    connection.base_url = invocation.api_base_url
    connection.display_url = (invocation.site_url or connection.display_url or invocation.api_base_url).rstrip("/")
    connection.cloud_id = invocation.cloud_id
    connection.deployment = "cloud"
    if connection.status in (None, ConnectionStatus.UNINSTALLED, ConnectionStatus.PENDING, ConnectionStatus.DISABLED):
        connection.status = ConnectionStatus.ACTIVE if connection.organization_id else ConnectionStatus.PENDING
    connection.installed_at = utcnow()
    connection.uninstalled_at = None
    connection.purge_after = None
    db.session.flush()
    audit(connection, action, actor_id=installer, actor_type="jira_user" if installer else "system",
          details={"event": event, "installation_id": invocation.installation_id, "cloud_id": invocation.cloud_id,
                   "reinstall": reinstall})
    db.session.commit()
    log.info("forge.installed", extra={"installation_id": invocation.installation_id, "event": event,
                                       "upgraded_from_connect": action == "connection.upgraded_to_forge",
                                       "reinstalled": action == "connection.reinstalled"})
    return connection


def record_forge_uninstall(connection: JiraConnection) -> None:
    """preUninstall: keep the data for the retention period (then a job purges it); forget the token."""
    now = utcnow()
    connection.status = ConnectionStatus.UNINSTALLED
    connection.uninstalled_at = now
    connection.purge_after = now + UNINSTALL_RETENTION
    connection.access_token = None
    connection.token_expires_at = None
    audit(connection, "connection.uninstalled", details={"purge_after": connection.purge_after.isoformat()})
    db.session.commit()
    log.info("forge.uninstalled", extra={"installation_id": connection.installation_id})


def remember_system_token(connection: JiraConnection, token: str | None, *,
                          received_at: datetime | None = None) -> bool:
    """Cache the `x-forge-oauth-system` token of the latest invocation (encrypted at rest); True if stored."""
    if not token or connection.kind != ConnectionKind.FORGE:
        return False
    received_at = received_at or utcnow()
    expires_at = received_at + SYSTEM_TOKEN_LIFETIME
    current = connection.token_expires_at
    if connection.access_token and current is not None and current + SYSTEM_TOKEN_REFRESH_STEP > expires_at:
        return False
    connection.access_token = token
    connection.token_expires_at = expires_at
    db.session.commit()
    log.info("forge.system_token.cached", extra={"installation_id": connection.installation_id,
                                                 "expires_at": expires_at.isoformat()})
    return True


def claim_due_sync(connection: JiraConnection, lease: timedelta) -> bool:
    """Claim the connection's periodic sync if it is due (active, linked, next_sync_at passed); True if claimed.

    One conditional UPDATE moves next_sync_at a lease ahead, so the minute's `sync.due` job and a second
    trigger see it as not due: one sync is enqueued. The sync sets the real next time when it ends; if its
    job is lost, the lease runs out and `sync.due` enqueues it again.
    """
    now = utcnow()
    claimed = db.session.execute(
        update(JiraConnection)
        .where(JiraConnection.id == connection.id, JiraConnection.status == ConnectionStatus.ACTIVE,
               JiraConnection.organization_id.is_not(None),
               or_(JiraConnection.next_sync_at.is_(None), JiraConnection.next_sync_at <= now))
        .values(next_sync_at=now + lease)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return claimed == 1
