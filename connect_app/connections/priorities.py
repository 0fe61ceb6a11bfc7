"""Priority order per Jira site: the site's own scheme (`GET /priority`, highest first) or the admin's.

"Priority raised", sorting by priority and "the most urgent first" all need to know which of two
priorities is higher. Names are the site's own (P0..P4, Blocker..Trivial, a translation), so the
order comes from the site, kept on the connection at each sync, and never from the alphabet.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping

from sqlalchemy import case, func, select
from sqlalchemy.sql.elements import ColumnElement

from connect_app.atlassian.client import JiraClient
from connect_app.atlassian.issue_json import DEFAULT_PRIORITY_ORDER
from connect_app.connections.access import JIRA_UNREACHABLE, jira_client
from connect_app.extensions import db
from connect_app.models import JiraConnection, JiraIssue

PRIORITY_KEY = "priority_order"  # the status map's reserved key for an admin's own order
MAX_PRIORITIES = 100


def site_priorities(connection: JiraConnection, client: JiraClient | None = None) -> list[str]:
    """The site's priority names, highest first, from Jira (JiraError when it cannot answer)."""
    return [p["name"] for p in (client or jira_client(connection)).get_priorities()
            if isinstance(p, dict) and isinstance(p.get("name"), str) and p["name"]][:MAX_PRIORITIES]


def refresh_priorities(connection: JiraConnection, client: JiraClient | None = None) -> list[str] | None:
    """Keep the site's order on the connection (the caller commits); None, and the old list kept, when Jira fails."""
    try:
        names = site_priorities(connection, client)
    except JIRA_UNREACHABLE:
        return None
    if names and names != connection.priorities:
        connection.priorities = names
    return names


def priority_order(connection: JiraConnection) -> tuple[str, ...]:
    """Priorities highest first: the admin's order, else the site's, else Jira's defaults."""
    configured = (connection.status_map or {}).get(PRIORITY_KEY)
    if isinstance(configured, list) and configured:
        return tuple(str(name) for name in configured)
    return tuple(connection.priorities or DEFAULT_PRIORITY_ORDER)


def workspace_orders(organization_id: str) -> dict[uuid.UUID, tuple[str, ...]]:
    """Each connection of the workspace and its priority order."""
    return {row.id: priority_order(row) for row in db.session.scalars(
        select(JiraConnection).where(JiraConnection.organization_id == organization_id))}


def rank_of(order: Iterable[str]) -> Mapping[str, int]:
    """Name (case-folded) -> rank, 0 the highest."""
    ranks: dict[str, int] = {}
    for n, name in enumerate(order):
        ranks.setdefault(name.casefold(), n)
    return ranks


def rank_column(orders: Mapping[uuid.UUID, Iterable[str]]) -> ColumnElement:
    """SQL: an issue's priority rank on its own site's scheme (0 = highest; NULL when unknown)."""
    whens = [((JiraIssue.connection_id == connection_id) & (func.lower(JiraIssue.priority) == name), rank)
             for connection_id, order in orders.items() for name, rank in rank_of(order).items()]
    if not whens:
        return case({p.casefold(): n for n, p in enumerate(DEFAULT_PRIORITY_ORDER)},
                    value=func.lower(JiraIssue.priority), else_=None)
    return case(*whens, else_=None)
