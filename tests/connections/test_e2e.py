"""End to end: connect, sync a customer's issues, and receive a signed Server webhook over real HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

import requests
from sqlalchemy import func, select

from connect_app.connections.access import jira_client
from connect_app.extensions import db
from connect_app.models import JiraConnection, JiraCustomerLink, WebhookDelivery
from connect_app.sync.engine import sync_customer
from connect_app.workspaces import ensure_organization
from tests.connections.conftest import admin, sandbox_control
from tests.connections.test_oauth_connect import connect_cloud
from tests.live import LiveApp
from tests.sync.support import add_rule, catalog_customers


def labelled(site, label: str) -> set[str]:
    return {key for key, issue in site.state.issues.items() if label in issue["labels"]}


def synced_keys(connection_id, customer_id) -> set[str]:
    return set(db.session.scalars(select(JiraCustomerLink.jira_key).where(
        JiraCustomerLink.connection_id == connection_id, JiraCustomerLink.customer_id == customer_id)))


def first_customer_with_issues(site):
    return next(i for i, c in enumerate(site.state.customer_catalog) if labelled(site, c["label"]))


def test_cloud_oauth_connect_then_sync_a_customers_issues(api, cloud_site):
    connection_id = uuid.UUID(connect_cloud(api)["connections"][0]["id"])
    organization = ensure_organization("ws-conn")
    index = first_customer_with_issues(cloud_site)
    customer = catalog_customers(organization, cloud_site, index + 1)[index]
    label = cloud_site.state.customer_catalog[index]["label"]
    add_rule(customer, "label", value=label)
    counts = sync_customer(customer.id, client_factory=jira_client)
    assert counts, counts
    assert synced_keys(connection_id, customer.id) == labelled(cloud_site, label)


def connect_live(live, site) -> str:
    """Connect the Server sandbox through the live service over HTTP; returns the connection id."""
    response = requests.post(f"{live.base_url}/api/integrations/jira/connect", headers=admin(), timeout=30,
                             json={"type": "server", "base_url": site.base_url, "token": site.pat})
    assert response.status_code == 201, response.text
    assert response.json()["webhook"]["registered"] is True
    return response.json()["connection"]["id"]


def test_server_connect_then_sync_a_customers_issues(database_url, tmp_path, server_site):
    with LiveApp(database_url, tmp_path / "instance", ALLOW_PRIVATE_JIRA_URLS="true") as live:
        connection_id = connect_live(live, server_site)
        with live.app.app_context():
            organization = ensure_organization("ws-conn")
            index = first_customer_with_issues(server_site)
            customer = catalog_customers(organization, server_site, index + 1)[index]
            label = server_site.state.customer_catalog[index]["label"]
            add_rule(customer, "label", value=label)
            sync_customer(customer.id, client_factory=jira_client)
            assert synced_keys(uuid.UUID(connection_id), customer.id) == labelled(server_site, label)
            db.session.remove()


def test_server_webhook_signed_by_jira_is_accepted_and_a_wrong_secret_refused(database_url, tmp_path, server_site):
    with LiveApp(database_url, tmp_path / "instance", ALLOW_PRIVATE_JIRA_URLS="true") as live:
        connection_id = connect_live(live, server_site)
        hook_url = f"{live.base_url}/api/integrations/jira/webhook?connection={connection_id}"
        with live.app.app_context():
            secret = db.session.get(JiraConnection, uuid.UUID(connection_id)).webhook_secret
            db.session.remove()

        # A change in Jira: the site signs the delivery with the secret we registered; it is accepted.
        sandbox_control(server_site, "DELETE", "/webhooks/deliveries")
        created = requests.post(f"{server_site.base_url}/rest/api/2/issue", timeout=10,
                                headers={"Authorization": f"Bearer {server_site.pat}"},
                                json={"fields": {"project": {"key": "SUP"}, "issuetype": {"name": "Bug"},
                                                 "summary": "Export times out"}})
        assert created.status_code == 201, created.text
        assert sandbox_control(server_site, "POST", "/webhooks/flush")["drained"]
        ours = [d for d in sandbox_control(server_site, "GET", "/webhooks/deliveries") if d["url"] == hook_url]
        assert ours and all(d["status"] == 202 for d in ours), ours
        assert all(d["headers"]["X-Hub-Signature"].startswith("sha256=") for d in ours)
        with live.app.app_context():
            stored = db.session.scalar(select(func.count()).select_from(WebhookDelivery).where(
                WebhookDelivery.connection_id == uuid.UUID(connection_id)))
            assert stored == len({d["id"] for d in ours})
            db.session.remove()

        # The same kind of body signed with another secret is refused, and so is an unsigned one.
        payload = json.dumps({"webhookEvent": "jira:issue_updated", "timestamp": 1,
                              "issue": {"id": "1", "key": "SUP-1", "fields": {}}}).encode()
        forged = "sha256=" + hmac.new(b"not-the-secret", payload, hashlib.sha256).hexdigest()
        for headers in ({"X-Hub-Signature": forged}, {}):
            refused = requests.post(hook_url, data=payload, timeout=10,
                                    headers={"Content-Type": "application/json"} | headers)
            assert refused.status_code == 401, refused.text
        genuine = "sha256=" + hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
        accepted = requests.post(hook_url, data=payload, timeout=10,
                                 headers={"Content-Type": "application/json", "X-Hub-Signature": genuine})
        assert accepted.status_code in (200, 202), accepted.text
