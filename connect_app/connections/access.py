"""The REST client of a stored connection: authenticated the way it was made, with our safety rules.

Everything that talks to a connection's Jira (sync, webhook registration, the panel's write-back,
issue creation) gets its client from `jira_client`, the one place that knows the three kinds:
- connect: every request signed with a Connect JWT (the install's shared secret), through the safe
  session with the Connect rule (an Atlassian Cloud site unless private URLs are allowed);
- oauth: a Bearer access token against `{api}/ex/jira/{cloudId}`, from the `TokenProvider` that
  refreshes and rotates tokens safely;
- server: a Bearer personal access token (or Basic), through a session that refuses internal hosts
  on every request and redirect, since the base URL was typed by a user;
- forge: a Bearer token against the install's `app.apiBaseUrl`: the `x-forge-oauth-user` token of the
  request when acting for the user in the panel, else the cached `x-forge-oauth-system` token of the
  latest invocation (there is no endpoint to mint one; an expired cache waits for the next invocation).
"""

from __future__ import annotations

import requests

from connect_app.atlassian.client import APP_KEY, DEFAULT_TIMEOUT_S, JiraClient, JiraError, RetryPolicy
from connect_app.atlassian.oauth import site_api_url
from connect_app.atlassian.signing import ConnectJwtAuth
from connect_app.connections.oauth_tokens import TokenProvider
from connect_app.connections.records import ConnectSettings, NeedsReauth, TokenUnavailable, current_settings
from connect_app.connections.urlsafety import SafeSession, UnsafeUrl
from connect_app.models import ConnectionKind, JiraConnection
from connect_app.models.types import utcnow
from connect_app.platform import metrics

SERVER_DEPLOYMENTS = ("server", "datacenter")
# Why a connection's Jira could not be asked: it answered an error or not at all, the connection needs
# authorising again, no token could be had, or its address is not one the service may call.
JIRA_UNREACHABLE = (JiraError, NeedsReauth, TokenUnavailable, UnsafeUrl)


def jira_client(connection: JiraConnection, *, settings: ConnectSettings | None = None,
                retry: RetryPolicy | None = None, timeout: int = DEFAULT_TIMEOUT_S,
                user_token: str | None = None) -> JiraClient:
    """The authenticated client of a connection (any kind); `user_token` acts for the user (Forge only)."""
    settings = settings or current_settings()
    flavour = "server" if connection.kind == ConnectionKind.SERVER or connection.deployment in SERVER_DEPLOYMENTS \
        else "cloud"
    base_url = connection.base_url
    provider = None
    if connection.kind == ConnectionKind.CONNECT:
        # Cloud: a site URL from a signed install, still checked on every request (an Atlassian
        # site unless private URLs are allowed; its addresses public, the connection pinned to them).
        session = SafeSession(allow_private=settings.allow_private_urls, atlassian_only=True)
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
    elif connection.kind == ConnectionKind.FORGE:
        # The base URL is `app.apiBaseUrl` from a verified invocation token.
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {user_token or forge_system_token(connection)}"
    else:
        raise ValueError(f"unknown connection kind {connection.kind!r}")
    return JiraClient(base_url, flavour=flavour, session=session, timeout=timeout, retry=retry,
                      token_provider=provider, observer=metrics.JIRA)


def forge_system_token(connection: JiraConnection) -> str:
    """The cached Forge system token while it is fresh; TokenUnavailable until an invocation brings one."""
    expires_at = connection.token_expires_at
    if not connection.access_token or expires_at is None or expires_at <= utcnow():
        raise TokenUnavailable("no fresh Forge system token; the next Forge invocation brings one")
    return connection.access_token
