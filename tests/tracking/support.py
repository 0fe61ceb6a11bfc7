"""A sandbox Jira with our Connect app installed, customers linked by label rules, and a CSCX.AI receiver."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import requests
from sqlalchemy import func, select

from connect_app.connections.records import find_tenant
from connect_app.extensions import db
from connect_app.models import LinkingRule, Notification, OutboxMessage, WebhookDelivery
from jira_sandbox.testing import SandboxServer
from tests.conftest import SIGNING_SECRET
from tests.factories import make_customer, make_organization
from tests.live import LiveApp
from tests.tracking.receiver import PushReceiver

WORKSPACE = "ws-track"
# customer name -> (label, CSM owner)
CUSTOMERS = {"acme": ("customer_acme", "csm-alice"), "globex": ("customer_globex", "csm-bob"),
             "initech": ("customer_initech", "csm-alice")}


def wait_for(predicate: Callable[[], object], timeout: float = 30, message: str = "condition") -> object:
    """Poll until predicate() is truthy (bounded); returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(0.05)


@dataclass
class TrackedSite:
    """The sandbox, the live service, the push receiver and the ids the tests need."""

    site: SandboxServer
    live: LiveApp
    receiver: PushReceiver
    connection_id: str
    customers: dict

    def jira(self, method: str, path: str, **kwargs) -> requests.Response:
        """Call the sandbox REST API as its admin."""
        response = requests.request(method, f"{self.site.base_url}{path}", auth=self.site.basic_auth, timeout=30,
                                    **kwargs)
        assert response.status_code < 400, response.text
        return response

    def control(self, method: str, path: str, **kwargs) -> requests.Response:
        """Call a /_sandbox control endpoint."""
        response = requests.request(method, f"{self.site.base_url}/_sandbox{path}", headers=self.site.admin_headers,
                                    timeout=60, **kwargs)
        assert response.status_code < 400, response.text
        return response

    def create_issue(self, summary: str, labels: list[str], priority: str = "Medium", project: str = "CS") -> str:
        """Create an issue in Jira (fires jira:issue_created); returns its key."""
        fields = {"project": {"key": project}, "summary": summary, "issuetype": {"name": "Bug"},
                  "labels": labels, "priority": {"name": priority}}
        return self.jira("POST", "/rest/api/3/issue", json={"fields": fields}).json()["key"]

    def transition(self, key: str, to_status: str) -> None:
        """Move an issue to a status through the workflow (fires jira:issue_updated)."""
        options = self.jira("GET", f"/rest/api/3/issue/{key}/transitions").json()["transitions"]
        match = next(t for t in options if t["to"]["name"] == to_status)
        self.jira("POST", f"/rest/api/3/issue/{key}/transitions", json={"transition": {"id": match["id"]}})

    def edit(self, key: str, **fields) -> None:
        """Edit fields (fires jira:issue_updated)."""
        self.jira("PUT", f"/rest/api/3/issue/{key}", json={"fields": fields})

    def flush(self) -> None:
        """Wait until the sandbox has delivered every webhook."""
        self.control("POST", "/webhooks/flush?timeout=60")

    def settle(self, timeout: float = 60) -> None:
        """Flush Jira's webhooks, then wait until every inbox row is processed and every push delivered."""
        self.flush()

        def idle():
            with self.live.app.app_context():
                busy = db.session.scalar(select(func.count()).select_from(WebhookDelivery).where(
                    WebhookDelivery.status.in_(("pending", "processing"))))
                unsent = db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
                    OutboxMessage.status.in_(("pending", "delivering"))))
                db.session.remove()
                return busy == 0 and unsent == 0
        wait_for(idle, timeout, "the inbox and outbox to drain")

    def notifications(self) -> list[tuple[str, str, str]]:
        """(user, issue key, kind) of every notification, sorted."""
        with self.live.app.app_context():
            rows = db.session.execute(select(Notification.user_id, Notification.jira_key, Notification.kind)).all()
            db.session.remove()
        return sorted(tuple(r) for r in rows)


def start_tracked_site(database_url, tmp_path, receiver: PushReceiver, **settings) -> tuple[SandboxServer, LiveApp]:
    """Start the sandbox and the live app (not yet installed)."""
    site = SandboxServer(issues=0, seed=5).start()
    keys_url = f"{site.base_url}/_connect/install-keys"
    live = LiveApp(database_url, tmp_path, ATLASSIAN_INSTALL_KEYS_URL=keys_url, CSCX_PUSH_URL=receiver.url,
                   **settings).__enter__()
    return site, live


def install(site: SandboxServer, live: LiveApp) -> tuple[str, dict]:
    """Install the app (signed install), link it to the workspace, create customers with label rules."""
    response = requests.post(f"{site.base_url}/_sandbox/apps/install", headers=site.admin_headers,
                             json={"descriptor_url": f"{live.base_url}/atlassian-connect.json"}, timeout=30)
    response.raise_for_status()
    with live.app.app_context():
        org = make_organization(id=WORKSPACE)
        connection = find_tenant(response.json()["client_key"], live_only=False)
        connection.organization_id = org.id
        connection.status = "active"
        customers = {}
        for name, (label, owner) in CUSTOMERS.items():
            customer = make_customer(org, name=name.title(), slug=name, csm_owner_id=owner)
            db.session.add(LinkingRule(organization_id=org.id, customer_id=customer.id, strategy="label",
                                       value=label, link_type="affected"))
            customers[name] = str(customer.id)
        db.session.commit()
        connection_id = str(connection.id)
        db.session.remove()
    return connection_id, customers


@pytest.fixture
def tracked_site(database_url, tmp_path):
    """Sandbox + live app (embedded jobs) + receiver, installed and linked."""
    with PushReceiver(SIGNING_SECRET) as receiver:
        site, live = start_tracked_site(database_url, tmp_path, receiver)
        try:
            live.app.config["OUTBOX_RETRY_BASE_S"] = 0.2
            connection_id, customers = install(site, live)
            yield TrackedSite(site, live, receiver, connection_id, customers)
        finally:
            pool = live.app.extensions.get("cscx_background")
            if pool is not None:
                pool.shutdown(wait=True)
            live.__exit__(None, None, None)
            site.stop()
