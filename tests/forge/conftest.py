"""Forge fixtures: a sandbox site speaking Forge over HTTP, FITs minted by it, our verifier pointed at its JWKS."""

from __future__ import annotations

import pytest
import requests

from connect_app.atlassian import JwksKeys, verify_invocation_token
from jira_sandbox.testing import SandboxServer
from tests.forge.site import APP_ID, forge_installed, forge_site_factory  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def forge_site():
    """A small Cloud site whose Forge host mints tokens and publishes its key sets."""
    with SandboxServer(flavour="cloud", issues=2, seed=5) as server:
        yield server


def sandbox(site: SandboxServer, method: str, path: str, **kwargs) -> requests.Response:
    """Call a `/_sandbox/forge` control endpoint with the admin header."""
    headers = {**site.admin_headers, **kwargs.pop("headers", {})}
    return requests.request(method, f"{site.base_url}/_sandbox/forge{path}", headers=headers, timeout=20, **kwargs)


def mint(site: SandboxServer, **body) -> str | None:
    """A FIT minted by the sandbox for our app (override `app_id`, ask for a `fault`, `principal`, `staging`)."""
    response = sandbox(site, "POST", "/token", json={"app_id": APP_ID, **body})
    assert response.status_code == 200, response.text
    return response.json()["token"]


def forge_state(site: SandboxServer) -> dict:
    """The Forge host's state: installs, calls, kids and JWKS fetch counts."""
    response = sandbox(site, "GET", "")
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def http():
    """A requests session closed after the test."""
    with requests.Session() as session:
        yield session


@pytest.fixture
def key_sets(forge_site, http):
    """Fresh key caches (production and staging) pointed at the sandbox's JWKS URLs."""
    return (JwksKeys(f"{forge_site.base_url}/_forge/jwks.json", session=http, timeout=5),
            JwksKeys(f"{forge_site.base_url}/_forge/stg/jwks.json", session=http, timeout=5))


@pytest.fixture
def verify(key_sets):
    """Verify a FIT for our app against the sandbox's key sets."""
    keys, staging_keys = key_sets

    def run(token, app_id=APP_ID):
        return verify_invocation_token(token, app_id=app_id, keys=keys, staging_keys=staging_keys)

    return run

