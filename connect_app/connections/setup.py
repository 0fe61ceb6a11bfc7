"""Connecting Jira from the CSCX.AI side: Server/Data Center by token, Cloud by OAuth 2.0 (3LO); disconnecting.

Called by the handlers in `connect_app.api.connections` with plain values; raises ConnectionSetupError
with the status and message the admin sees. Secrets given to or obtained by these flows are
stored encrypted (EncryptedText) and never logged, audited or echoed.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import or_, select, update

from connect_app.atlassian.client import JiraAuthError, JiraError, JiraNotFound, RetryPolicy
from connect_app.atlassian.oauth import (
    OAuthClient,
    OAuthError,
    authorize_url,
    new_pkce_pair,
    pkce_challenge,
    sign_state,
    site_api_url,
    verify_state,
)
from connect_app.connections.access import jira_client
from connect_app.connections.records import (
    ConnectionSetupError,
    ConnectSettings,
    NeedsReauth,
    TokenUnavailable,
    audit,
    find_connection,
)
from connect_app.connections.retention import UNINSTALL_RETENTION
from connect_app.connections.urlsafety import UnsafeUrl, validate_base_url
from connect_app.connections.webhook_registration import (
    delete_dynamic_webhooks,
    delete_server_webhooks,
    register_dynamic_webhooks,
    register_server_webhook,
    version_tuple,
)
from connect_app.extensions import db
from connect_app.models import ConnectionKind, ConnectionStatus, JiraConnection, OAuthState
from connect_app.models.types import utcnow

log = logging.getLogger(__name__)

MIN_SERVER_VERSION = (8, 0)
STATE_TTL = timedelta(minutes=10)
BROWSER_COOKIE_PREFIX = "cscx_jira_oauth_"
PROBE_TIMEOUT_S = 15


# ---- Server / Data Center ----------------------------------------------------------------

@dataclass
class ServerConnected:
    """A saved Server/DC connection and how its webhook was set up."""

    connection: JiraConnection
    webhook: dict[str, Any]
    created: bool


def _probe(call, what: str, base_url: str):
    """One check against the site, its failures turned into messages an admin can act on."""
    try:
        body = call()
    except UnsafeUrl as exc:
        raise ConnectionSetupError(422, "unsafe_base_url", f"Jira redirected to a refused address: {exc}") from None
    except JiraAuthError as exc:
        raise ConnectionSetupError(
            422, "credentials_refused",
            f"Jira refused the credentials ({exc.status} on {what}): check the personal access token, "
            "or the username and password/token") from None
    except JiraNotFound:
        raise ConnectionSetupError(
            422, "not_jira", f"no Jira REST API at {base_url} ({what} answered 404); check the base URL, "
            "including a context path such as /jira") from None
    except JiraError as exc:
        if exc.status == 0:
            raise ConnectionSetupError(422, "jira_unreachable", f"could not reach Jira at {base_url}") from None
        raise ConnectionSetupError(422, "jira_error", f"Jira answered {exc.status} to {what}") from None
    except ValueError:
        raise ConnectionSetupError(422, "not_jira", f"{base_url} did not answer {what} with JSON") from None
    if not isinstance(body, dict):
        raise ConnectionSetupError(422, "not_jira", f"{base_url} answered {what} with something other than Jira's")
    return body


def check_server_version(info: dict[str, Any]) -> tuple[str, str]:
    """(deployment, version) of a serverInfo body; ConnectionSetupError for Cloud or versions below 8.0."""
    deployment = str(info.get("deploymentType") or "Server").replace(" ", "").lower()
    version = str(info.get("version") or "")
    if deployment == "cloud":
        raise ConnectionSetupError(422, "cloud_site", "this is a Jira Cloud site: connect it with "
                                   '{"type": "cloud_oauth"} or install the Connect app')
    numbers = tuple(int(n) for n in info.get("versionNumbers") or () if isinstance(n, int)) or version_tuple(version)
    if not numbers:
        raise ConnectionSetupError(422, "unknown_version", "Jira did not report its version in serverInfo")
    if numbers[:2] < MIN_SERVER_VERSION:
        raise ConnectionSetupError(
            422, "unsupported_version",
            f"Jira {version or '.'.join(map(str, numbers))} is not supported: CSCX.AI needs Jira Server or "
            "Data Center 8.0 or later. Upgrade Jira, then connect again.")
    return ("datacenter" if deployment == "datacenter" else "server"), version


def connect_server(organization_id: str, user_id: str, *, base_url: str, token: str, username: str | None,
                   settings: ConnectSettings) -> ServerConnected:
    """Check a Server/DC site and its credentials (serverInfo, version, /myself), save it, register its webhook."""
    try:
        url = validate_base_url(base_url, allow_private=settings.allow_private_urls)
    except UnsafeUrl as exc:
        raise ConnectionSetupError(422, "unsafe_base_url", str(exc)) from None
    # Not added to the session: a stand-in that gives the client its URL and credentials for the checks.
    probe = JiraConnection(kind=ConnectionKind.SERVER, base_url=url, deployment="server", api_token=token,
                           auth_user=username)
    client = jira_client(probe, settings=settings, retry=RetryPolicy(max_tries=2), timeout=PROBE_TIMEOUT_S)
    deployment, version = check_server_version(_probe(client.server_info, "GET /rest/api/2/serverInfo", url))
    me = _probe(client.myself, "GET /rest/api/2/myself", url)

    connection = db.session.scalar(select(JiraConnection).where(
        JiraConnection.organization_id == organization_id, JiraConnection.kind == ConnectionKind.SERVER,
        JiraConnection.base_url == url))
    created = connection is None
    if created:
        connection = JiraConnection(organization_id=organization_id, kind=ConnectionKind.SERVER, base_url=url)
        db.session.add(connection)
    connection.display_url = url
    connection.deployment = deployment
    connection.server_version = version
    connection.api_token = token
    connection.auth_user = username
    connection.status = ConnectionStatus.ACTIVE
    connection.last_error = None
    connection.installed_at, connection.uninstalled_at, connection.purge_after = utcnow(), None, None
    db.session.flush()
    audit(connection, "connection.created" if created else "connection.reconnected", actor_type="cscx_user",
          actor_id=user_id, details={"kind": ConnectionKind.SERVER, "base_url": url, "version": version,
                                     "auth": "basic" if username else "personal_access_token",
                                     "jira_user": me.get("name") or me.get("key")})
    db.session.commit()
    log.info("connection.server_connected", extra={"connection_id": str(connection.id), "version": version})
    webhook = register_server_webhook(connection, client, settings)
    return ServerConnected(connection, webhook, created)


# ---- Cloud, OAuth 2.0 (3LO) ----------------------------------------------------------------

def _check_redirect_after(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc \
            or len(value) > 500:
        raise ConnectionSetupError(422, "invalid_redirect_after",
                                   "redirect_after must be an absolute http(s) URL without credentials")
    return value


def _require_oauth(settings: ConnectSettings) -> None:
    if not settings.oauth_configured:
        raise ConnectionSetupError(503, "oauth_not_configured", "Cloud OAuth 2.0 is not configured on this service: "
                                   "set ATLASSIAN_OAUTH_CLIENT_ID and ATLASSIAN_OAUTH_CLIENT_SECRET")


def start_oauth(organization_id: str, user_id: str, settings: ConnectSettings,
                redirect_after: str | None = None) -> dict[str, str]:
    """A single-use, signed, workspace- and user-bound state with a PKCE verifier, and the link to open.

    The link is ours (`open_authorization`), not Atlassian's: opening it binds the flow to that browser.
    """
    _require_oauth(settings)
    redirect_after = _check_redirect_after(redirect_after)
    nonce = secrets.token_urlsafe(24)
    verifier, _ = new_pkce_pair()  # the challenge goes out when the link is opened
    expires_at = utcnow() + STATE_TTL
    db.session.add(OAuthState(id=nonce, organization_id=organization_id, user_id=user_id, code_verifier=verifier,
                              redirect_after=redirect_after, expires_at=expires_at))
    db.session.commit()
    return {"authorize_url": settings.authorize_link(sign_state(nonce, settings.state_key)),
            "expires_at": expires_at.isoformat()}


# The state alone authenticates nothing that a stolen URL would not: it travels in Atlassian's authorize
# URL and in our callback URL (history, logs, a shared screen). Whoever holds it could consent with their
# own Atlassian account and have *their* site connected into the victim's workspace. So the flow is also
# bound to a browser: opening our link (once) sets a secret, short-lived cookie there, and the callback
# is honoured only with it. Another browser's callback is refused without spending the state.

@dataclass(frozen=True)
class OpenedAuthorization:
    """Where to send the browser that opened the link, and the cookie binding the flow to it."""

    authorize_url: str
    cookie_name: str
    browser_secret: str = field(repr=False)
    max_age: int


def browser_cookie_name(state: str | None) -> str:
    """The cookie of one flow (named per flow: two tabs are two flows); any text gives a safe name."""
    nonce = (state or "").split(".", 1)[0]
    return BROWSER_COOKIE_PREFIX + hashlib.sha256(nonce.encode("utf-8", "replace")).hexdigest()[:16]


def _browser_hash(secret: str) -> str:
    return hashlib.sha256(f"jira-oauth-browser:{secret}".encode()).hexdigest()


def open_authorization(state: str | None, settings: ConnectSettings,
                       browser_secret: str | None = None) -> OpenedAuthorization:
    """Bind a started flow to the browser opening its link, and the Atlassian URL to send it on to.

    The first browser to open the link owns the flow; the same browser (its cookie) may open it
    again, any other is refused.
    """
    _require_oauth(settings)
    nonce = verify_state(state or "", settings.state_key)
    if nonce is None:
        raise ConnectionSetupError(400, "invalid_state", "the state parameter is missing, forged or not from here")
    secret = browser_secret or secrets.token_urlsafe(32)
    digest = _browser_hash(secret)
    now = utcnow()
    # One UPDATE binds: two browsers opening the link at once cannot both win.
    bound = db.session.execute(
        update(OAuthState).where(OAuthState.id == nonce, OAuthState.used_at.is_(None), OAuthState.expires_at > now,
                                 or_(OAuthState.browser_hash.is_(None), OAuthState.browser_hash == digest))
        .values(browser_hash=digest)
        .returning(OAuthState.code_verifier, OAuthState.expires_at)
    ).one_or_none()
    db.session.commit()
    if bound is None:
        raise ConnectionSetupError(400, "invalid_state", "this authorization link was already opened in another "
                                   "browser, used, or has expired; start again from CSCX.AI")
    url = authorize_url(settings.auth_url, client_id=settings.client_id, redirect_uri=settings.callback_url,
                        state=state, code_challenge=pkce_challenge(bound.code_verifier))
    max_age = max(1, int((bound.expires_at - now).total_seconds()))
    return OpenedAuthorization(url, browser_cookie_name(state), secret, max_age)


@dataclass
class OAuthConnected:
    """The outcome of a callback: the connections made (one per site), their webhooks, sites skipped."""

    organization_id: str
    connections: list[JiraConnection]
    webhooks: dict[str, dict[str, Any]]
    skipped: list[dict[str, str]] = field(default_factory=list)
    redirect_after: str | None = None


def _claim_state(state: str | None, browser_secret: str | None, settings: ConnectSettings):
    nonce = verify_state(state or "", settings.state_key)
    if nonce is None:
        raise ConnectionSetupError(400, "invalid_state", "the state parameter is missing, forged or not from here")
    now = utcnow()
    claimed = None
    if browser_secret:
        # One UPDATE claims the state: a replayed or concurrent callback with the same state gets nothing,
        # and neither does a callback from a browser other than the one that opened the link.
        claimed = db.session.execute(
            update(OAuthState).where(OAuthState.id == nonce, OAuthState.used_at.is_(None),
                                     OAuthState.expires_at > now,
                                     OAuthState.browser_hash == _browser_hash(browser_secret))
            .values(used_at=now)
            .returning(OAuthState.organization_id, OAuthState.user_id, OAuthState.code_verifier,
                       OAuthState.redirect_after)
        ).one_or_none()
        db.session.commit()
    if claimed is None:
        pending = db.session.scalar(select(OAuthState.id).where(
            OAuthState.id == nonce, OAuthState.used_at.is_(None), OAuthState.expires_at > now))
        if pending is None:
            raise ConnectionSetupError(400, "invalid_state",
                                       "this authorization was already used or has expired; start again from CSCX.AI")
        raise ConnectionSetupError(400, "browser_mismatch",
                                   "this authorization was not started in this browser (or its cookie was blocked): "
                                   "finish it in the browser that opened the link from CSCX.AI, or start again")
    return claimed


def finish_oauth(*, state: str | None, code: str | None, error: str | None, settings: ConnectSettings,
                 browser_secret: str | None = None) -> OAuthConnected:
    """The callback: check state and browser, exchange the code, list the sites, save one connection per site."""
    organization_id, user_id, verifier, redirect_after = _claim_state(state, browser_secret, settings)
    if error:
        raise ConnectionSetupError(400, "authorization_denied", f"Atlassian did not grant access ({error[:100]})")
    if not code:
        raise ConnectionSetupError(400, "missing_code", "the callback carries no authorization code")
    oauth = OAuthClient(auth_url=settings.auth_url, api_url=settings.api_url, client_id=settings.client_id or "",
                        client_secret=settings.client_secret or "")
    try:
        tokens = oauth.exchange_code(code, redirect_uri=settings.callback_url, code_verifier=verifier)
        sites = [site for site in oauth.accessible_resources(tokens.access_token) if site.is_jira]
    except OAuthError as exc:
        status = 502 if exc.status == 0 or exc.status >= 500 else 400
        raise ConnectionSetupError(status, "code_exchange_failed",
                                   f"Atlassian refused the authorization ({exc.error})") from None
    if not tokens.refresh_token:
        raise ConnectionSetupError(400, "no_refresh_token",
                                   "Atlassian returned no refresh token: the offline_access scope was not granted")
    if not sites:
        raise ConnectionSetupError(422, "no_jira_site", "the authorization covers no Jira site")
    grant = f"grant:{secrets.token_hex(12)}"  # the token family shared by this consent's connections
    connections, skipped = [], []
    for site in sites:
        connection = db.session.scalar(select(JiraConnection).where(
            JiraConnection.organization_id == organization_id, JiraConnection.cloud_id == site.cloud_id))
        if connection is not None and connection.kind != ConnectionKind.OAUTH:
            skipped.append({"cloud_id": site.cloud_id, "site_url": site.url,
                            "reason": "already connected to this workspace through the Connect app"})
            continue
        created = connection is None
        if created:
            connection = JiraConnection(organization_id=organization_id, kind=ConnectionKind.OAUTH,
                                        cloud_id=site.cloud_id)
            db.session.add(connection)
        connection.base_url = site_api_url(settings.api_url, site.cloud_id)
        connection.display_url = site.url.rstrip("/") or None
        connection.deployment = "cloud"
        connection.access_token, connection.refresh_token = tokens.access_token, tokens.refresh_token
        connection.token_expires_at = tokens.expires_at
        connection.scopes = tokens.scopes or site.scopes
        connection.token_version = 0
        connection.auth_user = grant
        connection.status, connection.last_error = ConnectionStatus.ACTIVE, None
        connection.installed_at, connection.uninstalled_at, connection.purge_after = utcnow(), None, None
        db.session.flush()
        audit(connection, "connection.created" if created else "connection.reauthorized", actor_type="cscx_user",
              actor_id=user_id, details={"kind": ConnectionKind.OAUTH, "site_url": site.url, "cloud_id": site.cloud_id})
        connections.append(connection)
    db.session.commit()
    log.info("connection.oauth_connected", extra={"connection_ids": [str(c.id) for c in connections]})
    webhooks = {str(c.id): _register_dynamic(c, settings) for c in connections}
    return OAuthConnected(organization_id, connections, webhooks, skipped, redirect_after)


def _register_dynamic(connection: JiraConnection, settings: ConnectSettings) -> dict[str, Any]:
    try:
        return register_dynamic_webhooks(connection, jira_client(connection, settings=settings), settings)
    except (JiraError, NeedsReauth, TokenUnavailable) as exc:
        db.session.rollback()
        connection.last_error = f"dynamic webhook registration failed: {exc}"[:500]
        db.session.commit()
        return {"registered": False, "reason": connection.last_error}


# ---- disconnect --------------------------------------------------------------------------

def disconnect(organization_id: str, connection_id: str, user_id: str, settings: ConnectSettings) -> JiraConnection:
    """Remove our webhooks from Jira, delete every stored secret, and stop using the connection.

    The connection row stays (status `uninstalled`) for the retention period so that links and
    history survive a quick reconnect; the retention job purges it afterwards.
    """
    connection = find_connection(organization_id, connection_id)
    if connection.kind == ConnectionKind.CONNECT:
        raise ConnectionSetupError(409, "connect_install", "this site is connected through the Connect app: "
                                   "a Jira admin disconnects it by uninstalling the app in Jira (Manage apps)")
    if connection.status == ConnectionStatus.UNINSTALLED:
        return connection
    cleanup = "failed"
    try:
        client = jira_client(connection, settings=settings)
        if connection.kind == ConnectionKind.SERVER:
            delete_server_webhooks(connection, client)
        elif connection.status == ConnectionStatus.ACTIVE:
            delete_dynamic_webhooks(connection, client)
        cleanup = "attempted"
    except (UnsafeUrl, JiraError, NeedsReauth, TokenUnavailable) as exc:
        log.warning("connection.disconnect_cleanup_failed", extra={"connection_id": str(connection.id),
                                                                   "error": type(exc).__name__})
    now = utcnow()
    connection.access_token = connection.refresh_token = connection.api_token = None
    connection.webhook_secret = connection.shared_secret = None
    connection.token_expires_at = None
    # +2 keeps the parity and defeats the compare-and-swap of any refresh still in flight.
    connection.token_version = (connection.token_version or 0) + 2
    connection.webhooks, connection.webhooks_expire_at = [], None
    connection.status, connection.uninstalled_at = ConnectionStatus.UNINSTALLED, now
    connection.purge_after = now + UNINSTALL_RETENTION
    audit(connection, "connection.disconnected", actor_type="cscx_user", actor_id=user_id,
          details={"jira_cleanup": cleanup, "purge_after": connection.purge_after.isoformat()})
    db.session.commit()
    log.info("connection.disconnected", extra={"connection_id": str(connection.id)})
    return connection
