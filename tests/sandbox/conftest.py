"""Fixtures for the sandbox's own tests: seeded sites of both flavours served over real HTTP."""

from __future__ import annotations

import pytest
import requests

from jira_sandbox.testing import SandboxServer

ANCHOR = "2026-01-15T00:00:00+00:00"


class Client:
    """A small REST client for one sandbox: authenticated by default, JSON in and out."""

    def __init__(self, server: SandboxServer, api: int | None = None):
        self.server = server
        self.api = api or (3 if server.state.flavour == "cloud" else 2)
        self.session = requests.Session()
        self.session.auth = server.basic_auth

    def url(self, path: str) -> str:
        """Absolute URL for a REST path (`/issue/X`) or a raw path (`/_sandbox/...`)."""
        if path.startswith(("/_sandbox", "/rest/")):
            return self.server.base_url + path
        return f"{self.server.base_url}/rest/api/{self.api}{path}"

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        """Send a request with a timeout."""
        if path.startswith("/_sandbox"):
            kwargs.setdefault("headers", {}).update(self.server.admin_headers)
        return self.session.request(method, self.url(path), timeout=30, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


@pytest.fixture(scope="module")
def cloud_site():
    """A read-mostly Cloud site with 300 seeded issues, shared by a module's tests."""
    with SandboxServer(flavour="cloud", issues=300, seed=7, anchor=ANCHOR) as server:
        yield server


@pytest.fixture(scope="module")
def server_site():
    """A read-mostly Server site with 300 seeded issues."""
    with SandboxServer(flavour="server", issues=300, seed=7, anchor=ANCHOR) as server:
        yield server


@pytest.fixture
def fresh_cloud():
    """A small Cloud site of its own, for tests that mutate."""
    with SandboxServer(flavour="cloud", issues=20, seed=3, anchor=ANCHOR) as server:
        yield server


@pytest.fixture
def fresh_server():
    """A small Server site of its own, for tests that mutate."""
    with SandboxServer(flavour="server", issues=20, seed=3, anchor=ANCHOR) as server:
        yield server


@pytest.fixture
def cloud(cloud_site):
    """REST client for the shared Cloud site."""
    return Client(cloud_site)


@pytest.fixture
def dc(server_site):
    """REST client for the shared Server site."""
    return Client(server_site)


def make_issue(client: Client, **fields) -> dict:
    """Create an issue over REST (SUP by default) and return the 201 body."""
    body = {"project": {"key": "SUP"}, "issuetype": {"name": "Bug"}, "summary": "Export times out"}
    body.update(fields)
    response = client.post("/issue", json={"fields": body})
    assert response.status_code == 201, response.text
    return response.json()
