"""Helpers for sync tests: sandbox-backed connections of both flavours, customers from the catalogue, snapshots."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import requests
from sqlalchemy import delete, select

from connect_app.atlassian.client import JiraClient, RetryPolicy
from connect_app.connections.access import jira_client
from connect_app.extensions import db
from connect_app.models import IssueStatusChange, JiraCustomerLink, JiraIssue, LinkingRule, SyncRun
from connect_app.models.types import utcnow
from jira_sandbox.oauth import provider_for
from jira_sandbox.testing import SandboxServer
from tests.factories import make_connection, make_customer

ANCHOR = "2026-01-15T00:00:00+00:00"
REDIRECT = "https://cscx.test/callback"
SCOPES = "read:jira-work write:jira-work read:jira-user offline_access"


def oauth_access_token(server: SandboxServer) -> str:
    """A 3LO access token from the sandbox's OAuth provider, through its real authorize + token endpoints."""
    client = provider_for(server.state).register_client([REDIRECT])
    response = requests.get(f"{server.base_url}/authorize", allow_redirects=False, timeout=10, params={
        "audience": "api.atlassian.com", "client_id": client["client_id"], "scope": SCOPES,
        "redirect_uri": REDIRECT, "state": "s", "response_type": "code", "prompt": "consent"})
    code = parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]
    token = requests.post(f"{server.base_url}/oauth/token", timeout=10, json={
        "grant_type": "authorization_code", "client_id": client["client_id"],
        "client_secret": client["client_secret"], "code": code, "redirect_uri": REDIRECT})
    return token.json()["access_token"]


def connect(app, organization, server: SandboxServer):
    """A JiraConnection to the sandbox: OAuth 2.0 on Cloud, a personal access token on Server."""
    if server.state.flavour == "cloud":
        app.config["ATLASSIAN_API_URL"] = server.base_url  # api.atlassian.com is the sandbox here
        return make_connection(organization, kind="oauth", deployment="cloud", base_url=server.base_url,
                               client_key=None, shared_secret=None, cloud_id=server.state.cloud_id,
                               access_token=oauth_access_token(server),
                               token_expires_at=utcnow() + timedelta(hours=1))
    app.config["ALLOW_PRIVATE_JIRA_URLS"] = True  # the sandbox Server lives on 127.0.0.1
    return make_connection(organization, kind="server", deployment="server", base_url=server.base_url,
                           client_key=None, shared_secret=None, api_token=server.pat)


def fast_client(connection, **retry) -> JiraClient:
    """The connection's real client with backoff scaled down (Retry-After is still honoured)."""
    return jira_client(connection, retry=RetryPolicy(**({"base_delay_s": 0.01, "max_delay_s": 0.05} | retry)))


def catalog_customers(organization, server: SandboxServer, count: int):
    """Customers matching the sandbox's catalogue (slug, name, external id)."""
    return [make_customer(organization, name=c["name"], slug=c["slug"], external_id=c["external_id"])
            for c in server.state.customer_catalog[:count]]


def add_rule(customer, strategy: str, link_type: str = "affected", position: int = 0, **values) -> LinkingRule:
    """Store a linking rule directly (the API path is tested separately)."""
    rule = LinkingRule(organization_id=customer.organization_id, customer_id=customer.id, strategy=strategy,
                       link_type=link_type, position=position, **values)
    db.session.add(rule)
    db.session.commit()
    return rule


def snapshot(connection) -> dict:
    """Connection-independent content of the synced data: issues, links, status history."""
    issues = {i.jira_key: (i.summary, i.status, i.status_category, i.priority, tuple(i.labels), tuple(i.components),
                           i.deleted_at is None)
              for i in db.session.scalars(select(JiraIssue).where(JiraIssue.connection_id == connection.id))}
    links = sorted((link.jira_key, str(link.customer_id), link.link_type, link.source) for link in db.session.scalars(
        select(JiraCustomerLink).where(JiraCustomerLink.connection_id == connection.id)))
    history = sorted((c.change_id, c.from_status, c.to_status, c.to_category) for c in db.session.scalars(
        select(IssueStatusChange).where(IssueStatusChange.connection_id == connection.id)))
    return {"issues": issues, "links": links, "history": history}


def forget_sync(connection) -> None:
    """Drop everything a sync wrote for the connection, as if it had never run."""
    for model in (JiraCustomerLink, IssueStatusChange, JiraIssue, SyncRun):
        db.session.execute(delete(model).where(model.connection_id == connection.id))
    connection.sync_watermark, connection.sync_checkpoint = None, None
    db.session.commit()


def sandbox_admin(server: SandboxServer, method: str, path: str, **kwargs) -> requests.Response:
    """Call a /_sandbox control endpoint."""
    response = requests.request(method, f"{server.base_url}/_sandbox{path}", headers=server.admin_headers,
                                timeout=10, **kwargs)
    response.raise_for_status()
    return response


def rest(server: SandboxServer, method: str, path: str, **kwargs) -> requests.Response:
    """Call the sandbox's REST API as its admin (Basic auth), as a Jira user would change things."""
    version = 3 if server.state.flavour == "cloud" else 2
    response = requests.request(method, f"{server.base_url}/rest/api/{version}{path}", auth=server.basic_auth,
                                timeout=10, **kwargs)
    assert response.status_code < 300, response.text
    return response
