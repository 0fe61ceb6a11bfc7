"""The REST client of a stored connection: authenticated the way it was made, with our safety rules.

Everything that talks to a connection's Jira (sync, webhook registration, the panel's write-back,
issue creation) gets its client from `jira_client`, the one place that knows the three kinds:
- connect: every request signed with a Connect JWT (the install's shared secret);
- oauth: a Bearer access token against `{api}/ex/jira/{cloudId}`, from the `TokenProvider` that
  refreshes and rotates tokens safely;
- server: a Bearer personal access token (or Basic), through a session that refuses internal hosts
  on every request and redirect, since the base URL was typed by a user.
"""

from __future__ import annotations

import requests

from connect_app.atlassian.client import APP_KEY, DEFAULT_TIMEOUT_S, JiraClient, RetryPolicy
from connect_app.atlassian.oauth import site_api_url
from connect_app.atlassian.signing import ConnectJwtAuth
from connect_app.connections.oauth_tokens import TokenProvider
from connect_app.connections.records import ConnectSettings, current_settings
from connect_app.connections.urlsafety import SafeSession
from connect_app.models import ConnectionKind, JiraConnection

SERVER_DEPLOYMENTS = ("server", "datacenter")


def jira_client(connection: JiraConnection, *, settings: ConnectSettings | None = None,
                retry: RetryPolicy | None = None, timeout: int = DEFAULT_TIMEOUT_S) -> JiraClient:
    """The authenticated client of a connection (any kind)."""
    settings = settings or current_settings()
    flavour = "server" if connection.kind == ConnectionKind.SERVER or connection.deployment in SERVER_DEPLOYMENTS \
        else "cloud"
    base_url = connection.base_url
    provider = None
    if connection.kind == ConnectionKind.CONNECT:
        # Cloud: a site URL from a signed install.
        session = requests.Session()
        session.auth = ConnectJwtAuth(issuer=APP_KEY, secret=connection.shared_secret, base_url=base_url)
    elif connection.kind == ConnectionKind.OAUTH:
        session = requests.Session()
        base_url = site_api_url(settings.api_url, connection.cloud_id)
        provider = TokenProvider(connection.id, settings)
        # Settle the token now, before the caller opens a write transaction: a refresh writes the
        # connection row from its own session, which SQLite would make wait on the caller's lock.
        provider()
    elif connection.kind == ConnectionKind.SERVER:
        # The base URL was typed by a user: every request (and redirect) is checked again.
        session = SafeSession(allow_private=settings.allow_private_urls)
        if connection.auth_user:
            session.auth = (connection.auth_user, connection.api_token)
        else:
            session.headers["Authorization"] = f"Bearer {connection.api_token}"
    else:
        raise ValueError(f"unknown connection kind {connection.kind!r}")
    return JiraClient(base_url, flavour=flavour, session=session, timeout=timeout, retry=retry,
                      token_provider=provider)
