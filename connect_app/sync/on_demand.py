"""Issues fetched when someone asks: a key that is not synced (not linked to any customer yet, or new since the
last run) is read from Jira once, stored, and answered like any other.

Asked by a person waiting for an answer (the API, the chat): one try, a short timeout, and a site that does not
answer is reported rather than retried.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from connect_app.atlassian.client import RetryPolicy
from connect_app.connections.access import JIRA_UNREACHABLE, jira_client
from connect_app.extensions import db
from connect_app.models import JiraConnection, JiraIssue
from connect_app.models.tenancy import ConnectionStatus
from connect_app.sync import engine

log = logging.getLogger(__name__)

FETCH_TIMEOUT_S = 10  # a person waits this long for a Jira that does not answer, once
# A Jira issue key: a project key (a letter, then letters, digits or underscores) and a number.
ISSUE_KEY = re.compile(r"[A-Z][A-Z0-9_]{0,254}-[1-9][0-9]{0,17}")


def host_of(connection: JiraConnection) -> str:
    """The site's host name as people know it (jira.acme.com)."""
    return urlsplit(connection.display_url or connection.base_url).hostname or connection.base_url


def fetch(key: str, connections: Iterable[JiraConnection], *, reason: str) -> tuple[list[JiraIssue], str | None]:
    """Fetch `key` from each active connection and store it; (the live issues found, why a site could not be
    asked — the last such reason — or None). `reason` names the caller in the log."""
    found, trouble = [], None
    for connection in connections:
        if connection.status != ConnectionStatus.ACTIVE:
            continue
        try:
            client = jira_client(connection, retry=RetryPolicy(max_tries=1), timeout=FETCH_TIMEOUT_S)
            issue = engine.sync_issue(connection, key, client=client)
        except JIRA_UNREACHABLE as exc:
            db.session.rollback()
            log.info(f"{reason}.fetch_failed", extra={"connection": str(connection.id), "error": type(exc).__name__})
            trouble = f"{host_of(connection)} did not answer ({exc})"
            continue
        if issue is not None and issue.deleted_at is None:
            log.info(f"{reason}.fetched", extra={"connection": str(connection.id)})
            found.append(issue)
    return found, trouble
