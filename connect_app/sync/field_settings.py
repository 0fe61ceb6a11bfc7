"""The custom-field setting as the API shows and changes it: the workspace's choice, and what it
means on each connected Jira site (which fields it resolves to there, which names match nothing).

Changing it validates every named field against the sites' catalogs (a site never synced is asked
for its `GET /field` once) and schedules a full sync of each site, since rows stored under the old
setting are refreshed only when synced again.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from connect_app.atlassian.client import JiraError, RetryPolicy
from connect_app.connections.access import jira_client
from connect_app.connections.records import TokenUnavailable
from connect_app.extensions import db
from connect_app.linking.rule_store import rules_for
from connect_app.linking.rules import RuleMatcher
from connect_app.models import ConnectionStatus, JiraConnection
from connect_app.models.types import iso, utcnow
from connect_app.sync.custom_fields import FieldSelection, FieldSettingError, check_setting, save_setting, setting_of
from connect_app.sync.field_catalog import Catalog, catalog_for, stored_catalog

log = logging.getLogger(__name__)


def _connections(organization_id: str) -> list[JiraConnection]:
    return list(db.session.scalars(select(JiraConnection).where(
        JiraConnection.organization_id == organization_id, JiraConnection.status == ConnectionStatus.ACTIVE)
        .order_by(JiraConnection.created_at)))


def setting_view(organization_id: str) -> dict[str, Any]:
    """GET: the setting, and per active connection the custom fields it stores there (from stored catalogs)."""
    setting = setting_of(organization_id)
    sites = []
    for connection in _connections(organization_id):
        catalog = stored_catalog(connection.id)
        rule_fields = RuleMatcher(rules_for(connection)).custom_field_ids
        selection = FieldSelection.build(setting, catalog, rule_fields)
        sites.append({
            "connection_id": str(connection.id), "base_url": connection.display_url or connection.base_url,
            "catalog_known": bool(catalog), "custom_fields_known": len(catalog.custom),
            "stored": None if selection.chosen is None else _described(selection.chosen, catalog),
            "rule_fields": _described(rule_fields, catalog), "unresolved": list(selection.unresolved),
            "last_synced": iso(connection.sync_watermark)})
    return {"setting": setting, "connections": sites}


def _described(field_ids, catalog: Catalog) -> list[dict[str, Any]]:
    described = []
    for field_id in sorted(field_ids):
        info = catalog.get(field_id)
        described.append({"id": field_id, "name": info.name if info else None, "type": info.type if info else None})
    return described


def _catalog(connection: JiraConnection) -> Catalog:
    """The connection's catalog; fetched when none is stored, the stored (maybe empty) one when Jira fails."""
    try:
        # Someone waits for the answer: two tries, not the sync's patient backoff.
        return catalog_for(connection.id, jira_client(connection, retry=RetryPolicy(max_tries=2), timeout=10))
    except (JiraError, TokenUnavailable) as exc:
        log.info("custom_fields.catalog_unavailable", extra={"connection": str(connection.id),
                                                             "error": type(exc).__name__})
        return stored_catalog(connection.id)


def change_setting(organization_id: str, raw: object) -> dict[str, Any]:
    """PUT: check the setting (FieldSettingError names what is wrong), store it, and make each site's next
    sync a full one, due now; returns the new view."""
    connections = _connections(organization_id)
    catalogs = [_catalog(c) for c in connections]
    db.session.commit()  # a catalog fetched just now is kept whatever the setting's fate
    if connections and not any(catalogs) and isinstance(raw, dict) and raw.get("fields"):
        raise FieldSettingError("jira_unavailable", "could not read the list of fields from Jira to check the "
                                "names; try again shortly", {}, status=502)
    setting = check_setting(raw, catalogs)
    for connection in connections:
        connection.sync_watermark = None  # the next run is a full one: every stored issue is rewritten
        connection.next_sync_at = utcnow()
    save_setting(organization_id, setting)  # commits
    return setting_view(organization_id) | {"full_sync_scheduled": [str(c.id) for c in connections]}
