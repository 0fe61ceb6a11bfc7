"""OAuth 2.0 access tokens of Cloud connections: refreshed before expiry, rotated atomically.

Atlassian refresh tokens rotate: each refresh spends the token sent and returns a new one, and a
spent token presented again can revoke the whole token family. With many web processes and
workers, two of them will want to refresh the same connection at the same moment; only one may
call the token endpoint. The rule, enforced by the database rather than by a process-local lock:

- `token_version` is even when the stored tokens are settled, odd while one process holds the
  refresh lease. A refresher claims the lease with a compare-and-swap
  (`UPDATE ... SET token_version = v + 1 WHERE token_version = v`); exactly one wins.
- The winner calls the token endpoint (no transaction open meanwhile) and writes the new pair
  with `token_version = v + 2`, again guarded by the version it leased.
- Losers poll until the version is even again and use the winner's access token.
- A lease older than LEASE_S (its holder died) may be taken over.

One consent can cover several sites; their connections share one token family (the grant id
kept in `auth_user`), so the lease and the write cover every connection of the family.

`invalid_grant` from the token endpoint means the grant was revoked or expired: the family is
marked `needs_reauth`, its tokens are deleted, and an audit entry plus an outbox message tell the
workspace admins to reconnect, instead of syncs failing silently.

Token work uses its own short sessions, never the caller's: the provider is called from inside a
sync, and committing the lease must not commit (or roll back) the sync's unfinished work.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from connect_app.atlassian.oauth import OAuthClient, OAuthError
from connect_app.connections.records import (
    ConnectSettings,
    NeedsReauth,
    TokenUnavailable,
    audit,
    notify_admins_needs_reauth,
)
from connect_app.extensions import db
from connect_app.models import ConnectionKind, ConnectionStatus, JiraConnection
from connect_app.models.types import utcnow

log = logging.getLogger(__name__)

REFRESH_BEFORE = timedelta(minutes=5)  # refresh when the access token has less than this left...
# ...or less than half its lifetime, for tokens that live under ten minutes (else every call would refresh).
LEASE_S = 60.0  # a refresh lease older than this is presumed dead (token request timeout is 15 s)
WAIT_S = 45.0  # how long a loser waits for the winner's tokens
REVOKED_MESSAGE = ("Atlassian refused the refresh token (invalid_grant): access was revoked or expired. "
                   "A workspace admin must reconnect this Jira site.")


def _family(connection: JiraConnection):
    """WHERE clause selecting every connection sharing this connection's OAuth grant."""
    if connection.auth_user:
        return (JiraConnection.kind == ConnectionKind.OAUTH,
                JiraConnection.organization_id == connection.organization_id,
                JiraConnection.auth_user == connection.auth_user)
    return (JiraConnection.id == connection.id,)


def refresh_due(expires_at: datetime | None, issued_at: datetime | None, now: datetime) -> bool:
    """Whether a token expiring at `expires_at` (issued about `issued_at`) should be refreshed now."""
    if expires_at is None:
        return True
    lifetime = expires_at - (issued_at or expires_at - 2 * REFRESH_BEFORE)
    return now >= expires_at - min(REFRESH_BEFORE, max(lifetime, timedelta(0)) / 2)


def _session() -> Session:
    return Session(db.engine, expire_on_commit=False)


def access_token(connection_id, settings: ConnectSettings, *, force_refresh: bool = False,
                 oauth: OAuthClient | None = None) -> tuple[str, datetime]:
    """A valid access token of an OAuth connection and its expiry, refreshing it if need be.

    `force_refresh` refreshes even a fresh token, unless another process refreshed it since this
    call began (then that one's token is used: the point is a new token, not a second rotation).
    Raises NeedsReauth when the grant is gone, TokenUnavailable when no token can be had now.
    """
    deadline = time.monotonic() + WAIT_S
    seen_version: int | None = None
    while True:
        with _session() as session:
            connection = session.get(JiraConnection, connection_id)
            if connection is None or connection.kind != ConnectionKind.OAUTH:
                raise TokenUnavailable("no such OAuth connection")
            if connection.status == ConnectionStatus.NEEDS_REAUTH:
                raise NeedsReauth(connection.last_error or REVOKED_MESSAGE)
            if connection.status == ConnectionStatus.UNINSTALLED:
                raise TokenUnavailable("the connection was disconnected")
            version = connection.token_version
            if seen_version is None:
                seen_version = version
            now = utcnow()
            settled = version % 2 == 0
            # updated_at is when the tokens were written (or later): a fair lower bound of issue time.
            fresh = bool(connection.access_token) and not refresh_due(connection.token_expires_at,
                                                                      connection.updated_at, now)
            if settled and connection.access_token and (version > seen_version or (fresh and not force_refresh)):
                return connection.access_token, connection.token_expires_at
            lease_dead = not settled and connection.updated_at < now - timedelta(seconds=LEASE_S)
            if settled or lease_dead:
                claimed = session.execute(
                    update(JiraConnection).where(*_family(connection), JiraConnection.token_version == version)
                    .values(token_version=version + 1, updated_at=now)
                    .execution_options(synchronize_session=False)
                ).rowcount
                session.commit()
                if claimed:
                    if lease_dead:
                        log.warning("oauth.lease_taken_over", extra={"connection_id": str(connection_id)})
                    return _refresh(connection, version + 1, settings, oauth)
        if time.monotonic() > deadline:
            raise TokenUnavailable("another process is refreshing this connection's token and has not finished")
        time.sleep(random.uniform(0.05, 0.2))


def _refresh(connection: JiraConnection, lease: int, settings: ConnectSettings,
             oauth: OAuthClient | None) -> tuple[str, datetime]:
    """Holding the lease: spend the refresh token, store the new pair (or mark the family revoked)."""
    refresh_token = connection.refresh_token
    if not refresh_token:
        _mark_needs_reauth(connection, lease, "no refresh token is stored (offline_access was not granted)")
        raise NeedsReauth("no refresh token is stored")
    oauth = oauth or OAuthClient(auth_url=settings.auth_url, api_url=settings.api_url,
                                 client_id=settings.client_id or "", client_secret=settings.client_secret or "")
    try:
        tokens = oauth.refresh(refresh_token)
    except OAuthError as exc:
        if exc.grant_revoked:
            _mark_needs_reauth(connection, lease, REVOKED_MESSAGE)
            raise NeedsReauth(REVOKED_MESSAGE) from exc
        _release(connection, lease, f"token refresh failed: {exc.error} ({exc.status})")
        raise TokenUnavailable(f"token refresh failed: {exc.error} ({exc.status})") from exc
    except Exception:
        _release(connection, lease, "token refresh failed unexpectedly")
        raise
    with _session() as session:
        written = session.execute(
            update(JiraConnection).where(*_family(connection), JiraConnection.token_version == lease)
            .values(access_token=tokens.access_token, refresh_token=tokens.refresh_token or refresh_token,
                    token_expires_at=tokens.expires_at, token_version=lease + 1, last_error=None,
                    updated_at=utcnow(), **({"scopes": tokens.scopes} if tokens.scopes else {}))
            .execution_options(synchronize_session=False)
        ).rowcount
        session.commit()
    if not written:
        # Our lease was taken over (we exceeded LEASE_S); the new token is still valid for us.
        log.warning("oauth.lease_lost", extra={"connection_id": str(connection.id)})
    log.info("oauth.refreshed", extra={"connection_id": str(connection.id), "version": lease + 1})
    return tokens.access_token, tokens.expires_at


def _release(connection: JiraConnection, lease: int, error: str) -> None:
    """Give the lease back without new tokens (a transient failure: the stored pair is unchanged)."""
    with _session() as session:
        session.execute(
            update(JiraConnection).where(*_family(connection), JiraConnection.token_version == lease)
            .values(token_version=lease + 1, last_error=error, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        session.commit()
    log.warning("oauth.refresh_failed", extra={"connection_id": str(connection.id), "error": error})


def _mark_needs_reauth(connection: JiraConnection, lease: int, reason: str) -> None:
    """The grant is gone: every connection of the family needs re-auth; tokens deleted; admins told."""
    with _session() as session:
        members = list(session.scalars(
            update(JiraConnection).where(*_family(connection), JiraConnection.token_version == lease)
            .values(status=ConnectionStatus.NEEDS_REAUTH, access_token=None, refresh_token=None, token_expires_at=None,
                    token_version=lease + 1, last_error=reason, updated_at=utcnow())
            .returning(JiraConnection)
            .execution_options(synchronize_session=False)
        ))
        for member in members:
            audit(member, "connection.needs_reauth", details={"reason": reason}, session=session)
            notify_admins_needs_reauth(member, reason, key=str(lease), session=session)
        session.commit()
    log.warning("oauth.needs_reauth", extra={"connection_ids": [str(m.id) for m in members]})


class TokenProvider:
    """The `token_provider` hook of JiraClient for OAuth connections: a valid access token per call.

    Keeps the last token in memory and goes to the database only when it is about to expire,
    so a sync of thousands of requests costs one read per token lifetime.
    """

    def __init__(self, connection_id, settings: ConnectSettings):
        self.connection_id = connection_id
        self.settings = settings
        self._token: str | None = None
        self._expires_at: datetime | None = None
        self._fetched_at: datetime | None = None

    def __repr__(self) -> str:
        return f"TokenProvider(connection_id={self.connection_id!s})"

    def __call__(self) -> str:
        now = utcnow()
        if self._token and not refresh_due(self._expires_at, self._fetched_at, now):
            return self._token
        self._token, self._expires_at = access_token(self.connection_id, self.settings)
        self._fetched_at = now
        return self._token
