"""The REST client of a stored connection, with our safety rules and OAuth token upkeep plugged in.

Everything that talks to a connection's Jira (sync, webhooks registration, issue creation) should
get its client here rather than from `client_for` directly: Server/DC connections get a session
that refuses internal hosts on every request and redirect (base URLs come from users), and OAuth
connections get the `TokenProvider` that refreshes and rotates tokens safely.
"""

from __future__ import annotations

import requests

from connect_app.atlassian.client import DEFAULT_TIMEOUT_S, JiraClient, RetryPolicy, client_for
from connect_app.connections.oauth_tokens import TokenProvider
from connect_app.connections.records import ConnectSettings, current_settings
from connect_app.connections.urlsafety import SafeSession
from connect_app.models import JiraConnection


def jira_client(connection: JiraConnection, *, settings: ConnectSettings | None = None,
                retry: RetryPolicy | None = None, timeout: int = DEFAULT_TIMEOUT_S) -> JiraClient:
    """The authenticated client of a connection (any kind)."""
    settings = settings or current_settings()
    provider = None
    if connection.kind == "server":
        # The base URL was typed by a user: every request (and redirect) is checked again.
        session: requests.Session = SafeSession(allow_private=settings.allow_private_urls)
    else:
        # Cloud: api.atlassian.com from our configuration, or a site URL from a signed install.
        session = requests.Session()
    if connection.kind == "oauth":
        provider = TokenProvider(connection.id, settings)
        # Settle the token now, before the caller opens a write transaction: a refresh writes the
        # connection row from its own session, which SQLite would make wait on the caller's lock.
        provider()
    return client_for(connection, session=session, timeout=timeout, retry=retry, token_provider=provider,
                      api_url=settings.api_url)
