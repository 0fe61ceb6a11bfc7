"""End to end against the sandbox Jira: it fetches our descriptor, signs the install, and we verify it."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from connect_app.extensions import db
from connect_app.models import JiraConnection
from jira_sandbox.testing import SandboxServer
from tests.live import LiveApp


@pytest.fixture
def jira_and_app(database_url, tmp_path):
    """A sandbox Jira site and the service on real ports, the service trusting the sandbox's install keys."""
    with SandboxServer(issues=5) as site:
        keys_url = f"{site.base_url}/_connect/install-keys"
        with LiveApp(database_url, tmp_path, ATLASSIAN_INSTALL_KEYS_URL=keys_url) as live:
            yield site, live


def install(site, live, **extra):
    """Ask the sandbox to install the app from its descriptor URL."""
    return requests.post(f"{site.base_url}/_sandbox/apps/install", headers=site.admin_headers, timeout=30,
                         json={"descriptor_url": f"{live.base_url}/atlassian-connect.json", **extra})


def stored(live) -> list[JiraConnection]:
    """Connections in the service's database."""
    with live.app.app_context():
        rows = db.session.scalars(select(JiraConnection)).all()
        db.session.expunge_all()
        return rows


def test_signed_install_and_uninstall(jira_and_app):
    site, live = jira_and_app
    response = install(site, live)
    assert response.status_code == 201, response.text
    installed = response.json()
    (connection,) = stored(live)
    assert connection.client_key == installed["client_key"]
    assert connection.shared_secret == installed["shared_secret"]
    assert connection.base_url == site.base_url
    # The sandbox also sent `enabled`, signed with the new shared secret.
    assert connection.status == "pending"
    calls = requests.get(f"{site.base_url}/_sandbox/apps", headers=site.admin_headers, timeout=10).json()
    assert [c.get("status") for c in calls["lifecycle_calls"]] == [204, 204]

    response = requests.post(f"{site.base_url}/_sandbox/apps/ai.cscx.jira/uninstall", headers=site.admin_headers,
                             json={}, timeout=30)
    assert response.status_code == 204
    (connection,) = stored(live)
    assert connection.status == "uninstalled"


@pytest.mark.parametrize("fault", ["bad_signature", "wrong_aud", "wrong_qsh", "wrong_key", "wrong_iss", "expired",
                                   "unknown_kid", "hs256", "no_token"])
def test_forged_installs_are_refused(jira_and_app, fault):
    site, live = jira_and_app
    response = install(site, live, fault=fault)
    assert response.status_code == 400
    assert "installed callback answered 401" in response.text
    assert stored(live) == []


def test_reinstall_with_a_new_secret_replaces_it(jira_and_app):
    site, live = jira_and_app
    first = install(site, live).json()
    second = install(site, live, new_secret=True).json()
    assert first["shared_secret"] != second["shared_secret"]
    (connection,) = stored(live)
    assert connection.shared_secret == second["shared_secret"]
