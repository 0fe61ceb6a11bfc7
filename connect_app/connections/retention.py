"""Data retention: purge the data of Jira sites that uninstalled the app, after the grace period."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from connect_app.extensions import db
from connect_app.models import AuditEntry, ConnectionStatus, JiraConnection
from connect_app.models.types import utcnow

log = logging.getLogger(__name__)

UNINSTALL_RETENTION = timedelta(days=30)


def purge_uninstalled_connections(now: datetime | None = None) -> int:
    """Delete uninstalled connections whose retention period has passed (cascades to their data).

    Runs as a periodic job; returns how many connections were purged.
    """
    now = now or utcnow()
    doomed = db.session.execute(
        select(JiraConnection.id, JiraConnection.organization_id, JiraConnection.base_url).where(
            JiraConnection.status == ConnectionStatus.UNINSTALLED, JiraConnection.purge_after <= now
        )
    ).all()
    for connection_id, organization_id, base_url in doomed:
        db.session.add(AuditEntry(
            organization_id=organization_id, actor_type="system", action="connection.purged",
            target_type="jira_connection", target_id=str(connection_id), details={"base_url": base_url},
        ))
    if doomed:
        db.session.execute(delete(JiraConnection).where(JiraConnection.id.in_([d.id for d in doomed])))
    db.session.commit()
    log.info("retention.purged", extra={"connections": len(doomed)})
    return len(doomed)
