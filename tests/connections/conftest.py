"""Fixtures for connecting Jira from CSCX.AI: sandbox sites of both flavours and apps configured for them."""

from __future__ import annotations

import pytest
import requests

from connect_app import create_app
from connect_app.config import TestConfig
from connect_app.extensions import db
from connect_app.platform.jobs import shutdown_background
from jira_sandbox.oauth import register_client
from jira_sandbox.testing import SandboxServer
from tests.conftest import auth_headers

BASE_URL = "http://127.0.0.1:5000"  # TestConfig's BASE_URL: the OAuth redirect_uri is built from it
CALLBACK_URL = f"{BASE_URL}/api/integrations/jira/callback"


@pytest.fixture(scope="module")
def server_site():
    """A Jira Server/DC sandbox (9.12.2) with a few issues."""
    with SandboxServer(flavour="server", issues=40, seed=11, customers=6) as site:
        yield site


@pytest.fixture(scope="module")
def cloud_site():
    """A Jira Cloud sandbox that is also the OAuth provider and the api.atlassian.com gateway."""
    with SandboxServer(flavour="cloud", issues=40, seed=12, customers=6) as site:
        yield site


@pytest.fixture
def oauth_client(cloud_site):
    """A fresh OAuth 2.0 integration registered with the sandbox's authorization server."""
    return register_client(cloud_site.state, [CALLBACK_URL], name="CSCX.AI")


def build_app(database_url, instance, **settings):
    """The app on the test database with extra settings."""
    return create_app(TestConfig({"DATABASE_URL": database_url} | settings, instance_path=instance))


@pytest.fixture
def jira_app(database_url, tmp_path, cloud_site, oauth_client):
    """The app allowed to reach the sandbox on 127.0.0.1, with OAuth pointed at the sandbox."""
    application = build_app(
        database_url, tmp_path / "instance", ALLOW_PRIVATE_JIRA_URLS="true",
        ATLASSIAN_AUTH_URL=cloud_site.base_url, ATLASSIAN_API_URL=cloud_site.base_url,
        ATLASSIAN_OAUTH_CLIENT_ID=oauth_client["client_id"],
        ATLASSIAN_OAUTH_CLIENT_SECRET=oauth_client["client_secret"],
    )
    with application.app_context():
        yield application
        shutdown_background(application)
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def api(jira_app):
    """A test client of jira_app."""
    return jira_app.test_client()


def admin(workspace="ws-conn", user="u-admin"):
    """Headers of a workspace admin."""
    return auth_headers(workspace, "admin", user)


def sandbox_control(site, method, path, **kwargs):
    """Call a sandbox control endpoint and return its JSON."""
    response = requests.request(method, f"{site.base_url}/_sandbox{path}", headers=site.admin_headers, timeout=30,
                                **kwargs)
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def non_admin_user(site) -> dict:
    """A seeded user of the site who is not its administrator."""
    return next(u for uid, u in site.state.users.items() if uid != site.state.admin_id)
