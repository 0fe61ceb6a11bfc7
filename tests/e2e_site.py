"""The sandbox Jira with our app installed (signed install) and linked to a workspace, for end-to-end tests."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
import requests

from connect_app.connections.records import find_tenant
from connect_app.extensions import db
from jira_sandbox.testing import SandboxServer
from tests.factories import make_customer, make_organization
from tests.live import LiveApp

ENGINEER = "557058:engineer-e2e"


@dataclass
class InstalledSite:
    """A sandbox site, the live service, and the workspace the site is linked to."""

    site: SandboxServer
    live: LiveApp
    workspace: str
    customers: dict

    def jira(self, method: str, path: str, **kwargs) -> requests.Response:
        """Call the sandbox's REST API as its admin."""
        return requests.request(method, f"{self.site.base_url}{path}", auth=self.site.basic_auth, timeout=30,
                                **kwargs)

    def signed_panel_url(self, issue_key: str, account_id: str = ENGINEER) -> str:
        """The panel URL as Jira builds and signs it for the issue view (context-qsh)."""
        url = f"{self.live.base_url}/connect/panel?issueKey={issue_key}&issueId=1&projectKey=CS"
        token = requests.post(f"{self.site.base_url}/_sandbox/apps/ai.cscx.jira/sign", headers=self.site.admin_headers,
                              json={"method": "GET", "url": url, "context_qsh": True, "sub": account_id},
                              timeout=10).json()["jwt"]
        return f"{url}&jwt={token}"

    def open_panel(self, issue_key: str, account_id: str = ENGINEER) -> tuple[str, str]:
        """Load the panel; return its HTML and the context token it hands to htmx."""
        response = requests.get(self.signed_panel_url(issue_key, account_id), timeout=30)
        response.raise_for_status()
        token = re.search(r'"X-CSCX-Context": "([^"]+)"', response.text).group(1)
        return response.text, token


@pytest.fixture
def installed_site(database_url, tmp_path):
    """The sandbox with the app installed (signed install), linked to workspace ws-e2e with three customers."""
    with SandboxServer(issues=12, seed=3) as site:
        keys_url = f"{site.base_url}/_connect/install-keys"
        with LiveApp(database_url, tmp_path, ATLASSIAN_INSTALL_KEYS_URL=keys_url) as live:
            response = requests.post(f"{site.base_url}/_sandbox/apps/install", headers=site.admin_headers,
                                     json={"descriptor_url": f"{live.base_url}/atlassian-connect.json"}, timeout=30)
            response.raise_for_status()
            with live.app.app_context():
                org = make_organization(id="ws-e2e")
                connection = find_tenant(response.json()["client_key"], live_only=False)
                connection.organization_id = org.id
                connection.status = "active"
                db.session.commit()
                customers = {
                    "acme": make_customer(org, name="Acme Corp", slug="acme-corp", arr=900_000, health_score=82),
                    "globex": make_customer(org, name="Globex <Intl>", slug="globex", arr=150_000, health_score=31),
                    "initech": make_customer(org, name="Initech", slug="initech", arr=40_000, health_score=55),
                }
                customers = {name: str(c.id) for name, c in customers.items()}
                db.session.remove()
            yield InstalledSite(site, live, "ws-e2e", customers)
