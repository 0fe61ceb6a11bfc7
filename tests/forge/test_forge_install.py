"""The sandbox installs a Forge manifest: the lifecycle trigger reaches the remote with a FIT we can verify."""

from __future__ import annotations

import pytest
import requests

from connect_app.atlassian import invocation_token_from_headers
from tests.sandbox.app_receiver import AppReceiver

from .conftest import APP_ID, forge_state, sandbox


def manifest(remote_url: str, app_id: str = APP_ID) -> str:
    """A small manifest with one remote, a lifecycle trigger and an issue trigger."""
    return f"""
app:
  id: {app_id}
  connect: {{key: test-app, remote: flask}}
remotes:
  - key: flask
    baseUrl: {remote_url}
modules:
  endpoint:
    - key: lifecycle
      remote: flask
      route: {{path: /forge/lifecycle}}
      auth: {{appSystemToken: {{enabled: true}}}}
    - key: issues
      remote: flask
      route: {{path: /forge/events/issue}}
  trigger:
    - key: lifecycle-events
      endpoint: lifecycle
      events: [avi:forge:installed:app, avi:forge:upgraded:app]
    - key: issue-events
      endpoint: issues
      events: [avi:jira:created:issue]
"""


@pytest.fixture
def remote():
    with AppReceiver() as receiver:
        yield receiver


def install(site, text: str, **params) -> requests.Response:
    return sandbox(site, "POST", "/install", data=text, params=params,
                   headers={"Content-Type": "application/yaml"})


def test_install_delivers_the_installed_event_with_a_verifiable_token(forge_site, remote, verify):
    response = install(forge_site, manifest(remote.base_url))
    assert response.status_code == 201, response.text
    installed = response.json()
    assert installed["lifecycle_status"] == 200
    assert installed["connect_key"] == "test-app"
    (call,) = remote.on("/forge/lifecycle")
    invocation = verify(invocation_token_from_headers(call.headers))
    assert invocation.installation_id == installed["installation_id"]
    assert invocation.cloud_id == forge_site.state.cloud_id
    assert call.json()["eventType"] == "avi:forge:installed:app"
    assert call.json()["installationId"] == installed["installation_id"]
    assert call.headers["X-Forge-Oauth-System"].startswith("forge-sys-")
    assert remote.on("/forge/events/issue") == []

    again = install(forge_site, manifest(remote.base_url))
    assert again.status_code == 201, again.text
    assert again.json()["installation_id"] == installed["installation_id"]
    upgraded = remote.on("/forge/lifecycle")[-1]
    assert upgraded.json()["eventType"] == "avi:forge:upgraded:app"
    assert verify(invocation_token_from_headers(upgraded.headers)).installation_id == installed["installation_id"]


def test_a_remote_that_refuses_the_lifecycle_call_fails_the_install(forge_site, remote):
    other_app = "ari:cloud:ecosystem::app/11111111-2222-3333-4444-555555555555"
    remote.statuses.append(401)
    response = install(forge_site, manifest(remote.base_url, other_app), fault="wrong_aud")
    assert response.status_code == 400
    assert "answered 401" in response.text
    assert other_app not in {i["app_id"] for i in forge_state(forge_site)["installs"]}
    assert forge_state(forge_site)["calls"][-1]["fault"] == "wrong_aud"


@pytest.mark.parametrize("text", ["app: [", "app: {id: not-an-ari}", "", "- a list"])
def test_a_malformed_manifest_is_refused(forge_site, text):
    assert install(forge_site, text).status_code == 400


def test_the_control_plane_needs_the_admin_token(forge_site):
    response = requests.post(f"{forge_site.base_url}/_sandbox/forge/install", data="app: {}", timeout=10)
    assert response.status_code == 403
    assert requests.get(f"{forge_site.base_url}/_forge/jwks.json", timeout=10).json()["keys"]
