"""Which connection sent this delivery, proven before anything is stored.

Three ways in, one answer (a JiraConnection) or an AtlassianAuthError:
- a Connect JWT (`Authorization: JWT ...`): the tenant is the token's `iss`, verified with its
  shared secret and a qsh bound to this URL;
- `X-Hub-Signature` (Jira Server/DC admin webhooks): the URL's `connection` id names the
  connection whose `webhook_secret` must have signed the raw body;
- `Authorization: Bearer` (OAuth 2.0 dynamic webhooks): the URL's `connection` id names an OAuth
  connection; the token is checked with our OAuth client secret and must not name another site.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connect_app.atlassian import AtlassianAuthError, token_from_request, verify_request_token
from connect_app.atlassian.jwt import refuse
from connect_app.atlassian.webhook_auth import bearer_token, verify_hub_signature, verify_oauth_webhook_token
from connect_app.connections.records import find_tenant
from connect_app.models import ConnectionKind, JiraConnection


@dataclass(frozen=True)
class RequestFacts:
    """The parts of an HTTP request that verification needs (no Flask inside)."""

    method: str
    target: str  # path and query exactly as sent (QSH hashes them)
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    base_path: str = ""


@dataclass(frozen=True)
class OAuthApp:
    """Our OAuth 2.0 app's credentials (the webhook JWT is signed with the client secret)."""

    client_id: str | None
    client_secret: str | None


def _connection_from_query(query: Mapping[str, str], kind: str) -> JiraConnection:
    raw = query.get("connection")
    if not raw:
        raise refuse("delivery names no connection", kind)
    try:
        connection_id = uuid.UUID(raw)
    except ValueError:
        raise refuse("unknown connection", kind) from None
    connection = find_tenant(connection_id=connection_id)
    if connection is None:
        raise refuse("unknown connection", kind)
    return connection


def webhook_ids(connection: JiraConnection) -> set[str]:
    """The ids of the dynamic webhooks this connection registered (as strings)."""
    ids: set[str] = set()
    for entry in connection.webhooks or []:
        value: Any = entry
        if isinstance(entry, Mapping):
            value = entry.get("id", entry.get("createdWebhookId"))
        if value is not None:
            ids.add(str(value))
    return ids


def authenticate(facts: RequestFacts, oauth: OAuthApp) -> JiraConnection:
    """The connection that provably sent this delivery; raises AtlassianAuthError otherwise."""
    headers = facts.headers
    authorization = headers.get("Authorization", "")
    if authorization[:4].lower() == "jwt " or facts.query.get("jwt"):
        token = token_from_request(headers, facts.query)
        verified = verify_request_token(token, method=facts.method, url=facts.target, tenant_lookup=find_tenant,
                                        base_path=facts.base_path)
        tenant: JiraConnection = verified.tenant
        named = facts.query.get("connection")
        if named and named != str(tenant.id):
            raise refuse("token is for another connection", "webhook")
        return tenant
    if headers.get("X-Hub-Signature"):
        connection = _connection_from_query(facts.query, "hub-signature")
        verify_hub_signature(headers.get("X-Hub-Signature"), facts.body, connection.webhook_secret)
        return connection
    token = bearer_token(authorization)
    if token:
        connection = _connection_from_query(facts.query, "oauth-webhook")
        if connection.kind != ConnectionKind.OAUTH:
            raise refuse("not an oauth connection", "oauth-webhook")
        verify_oauth_webhook_token(token, client_secret=oauth.client_secret, client_id=oauth.client_id,
                                   cloud_id=connection.cloud_id)
        return connection
    raise refuse("unsigned delivery", "webhook")


def check_matched_webhooks(connection: JiraConnection, payload: Mapping[str, Any]) -> None:
    """Refuse an OAuth delivery whose `matchedWebhookIds` are none of this connection's webhooks.

    The OAuth client secret is shared across sites, so this binds the body to the connection.
    """
    if connection.kind != ConnectionKind.OAUTH:
        return
    matched = payload.get("matchedWebhookIds")
    registered = webhook_ids(connection)
    if isinstance(matched, list) and matched and registered and not ({str(m) for m in matched} & registered):
        raise refuse("delivery is for another connection's webhooks", "oauth-webhook")


__all__ = ["AtlassianAuthError", "OAuthApp", "RequestFacts", "authenticate", "check_matched_webhooks"]
