"""The sandbox Jira with the app installed the Forge way (or Connect first, then upgraded), for end-to-end tests."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import requests
from sqlalchemy import select

from connect_app.extensions import db
from connect_app.jira_app.forge.manifest import render_manifest, resource_files
from connect_app.models import ConnectionKind, JiraConnection, LinkingRule
from jira_sandbox.testing import SandboxServer
from tests.conftest import SIGNING_SECRET
from tests.factories import make_customer, make_organization
from tests.live import LiveApp
from tests.tracking.receiver import PushReceiver
from tests.tracking.support import CUSTOMERS, WORKSPACE, TrackedSite, install

APP_ID = "ari:cloud:ecosystem::app/6c4f1a52-93b2-4c1e-8a7d-0e5f2b9c1d34"



@dataclass
class ForgeSite(TrackedSite):
    """A tracked site whose app came through Forge: Forge's events are flushed too."""

    def flush(self) -> None:
        """Wait until the sandbox has delivered every webhook and every Forge event (with retries)."""
        super().flush()
        self.control("POST", "/forge/events/flush?timeout=60")

    def forge(self, method: str, path: str, **kwargs) -> requests.Response:
        """Call a /_sandbox/forge control endpoint (no status check)."""
        return requests.request(method, f"{self.site.base_url}/_sandbox/forge{path}", headers=self.site.admin_headers,
                                timeout=60, **kwargs)

    def install_forge(self) -> dict:
        """Install (or upgrade to) the Forge app: the rendered manifest and its Custom UI; the sandbox's answer."""
        response = requests.post(f"{self.site.base_url}/_sandbox/forge/install", headers=self.site.admin_headers,
                                 json={"manifest": render_manifest(self.live.base_url, APP_ID),
                                       "resources": {"panel": resource_files("panel")}}, timeout=60)
        assert response.status_code == 201, response.text
        return response.json()

    def invoke(self, path: str, principal: str | None, method: str = "GET", body: dict | None = None,
               issue_key: str | None = None, fault: str | None = None,
               module_key: str | None = None) -> tuple[int, object]:
        """A UI module's invokeRemote (the panel's, unless `module_key` names another), through the sandbox."""
        response = self.forge("POST", "/invoke", json={"app_id": APP_ID, "path": path, "method": method,
                                                        "body": body, "principal": principal,
                                                        "issue_key": issue_key, "fault": fault,
                                                        "module_key": module_key})
        assert response.status_code == 200, response.text
        answer = response.json()
        return answer["status"], answer["body"]

    def connection(self) -> JiraConnection:
        """The site's connection row (detached)."""
        with self.live.app.app_context():
            row = db.session.scalar(select(JiraConnection).order_by(JiraConnection.created_at))
            db.session.expunge(row)
            db.session.remove()
        return row


def link_forge_connection(live, *, link: bool = True) -> tuple[str, dict]:
    """The workspace with three customers and their label rules; the Forge connection linked to it (if `link`)."""
    with live.app.app_context():
        org = make_organization(id=WORKSPACE)
        connection = db.session.scalar(select(JiraConnection).where(JiraConnection.kind == ConnectionKind.FORGE))
        if link:
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
def forge_site_factory(database_url, tmp_path):
    """Build a ForgeSite: `connect_first=True` installs the Connect app (linked) before anything Forge;
    `linked=False` leaves a Forge-only site unlinked (the workspace and its customers exist)."""
    started = []

    def build(*, connect_first: bool = False, linked: bool = True) -> ForgeSite:
        receiver = PushReceiver(SIGNING_SECRET).__enter__()
        site = SandboxServer(issues=0, seed=5).start()
        live = LiveApp(database_url, tmp_path, ATLASSIAN_INSTALL_KEYS_URL=f"{site.base_url}/_connect/install-keys",
                       CSCX_PUSH_URL=receiver.url, FORGE_APP_ID=APP_ID,
                       FORGE_JWKS_URL=f"{site.base_url}/_forge/jwks.json").__enter__()
        started.append((receiver, site, live))
        live.app.config["OUTBOX_RETRY_BASE_S"] = 0.2
        connection_id, customers = install(site, live) if connect_first else ("", {})
        forge = ForgeSite(site, live, receiver, connection_id, customers)
        if not connect_first:
            forge.install_forge()
            forge.connection_id, forge.customers = link_forge_connection(live, link=linked)
        return forge

    yield build
    for receiver, site, live in started:
        pool = live.app.extensions.get("cscx_background")
        if pool is not None:
            pool.shutdown(wait=True)
        live.__exit__(None, None, None)
        site.stop()
        receiver.__exit__(None, None, None)


@pytest.fixture
def forge_installed(forge_site_factory) -> ForgeSite:
    """The sandbox with the app installed the Forge way, linked to the workspace, three customers with rules."""
    return forge_site_factory()
