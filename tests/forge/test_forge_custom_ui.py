"""The sandbox hosts the Forge app's Custom UI as Forge does: uploaded resources under a content security
policy, an import map for @forge/bridge, and a bridge that calls the remote for the page without giving it
any token. (The panel itself in a browser: tests/browser/test_forge_panel_browser.py.)"""

from __future__ import annotations

import re

import pytest
import requests

from connect_app.jira_app.forge.manifest import render_manifest, resource_files

from .conftest import APP_ID, sandbox

FRAME_SRC = re.compile(r'<iframe class="forge-frame" src="([^"]+)"')


def frame_of(s, key: str) -> tuple[str, str]:
    """The Customers panel's iframe in the issue view: (resource URL without fragment, frame token)."""
    page = requests.get(f"{s.site.base_url}/browse/{key}", timeout=30)
    assert page.status_code == 200
    src = FRAME_SRC.search(page.text).group(1).replace("&amp;", "&")
    url, _, fragment = src.partition("#frame=")
    return s.site.base_url + url, fragment


def bridge(s, path: str, frame: str | None, **kwargs) -> requests.Response:
    """A call the bridge stand-in makes from the page (with the page's frame token)."""
    headers = {"X-Forge-Frame": frame} if frame is not None else {}
    return requests.request(kwargs.pop("method", "POST"), f"{s.site.base_url}/_forge/bridge/{path}",
                            headers=headers, timeout=30, **kwargs)


def test_the_issue_view_hosts_the_resource_under_forges_policy(forge_installed):
    s = forge_installed
    key = s.create_issue("Hosted panel", [])
    url, frame = frame_of(s, key)
    assert frame and "/panel/index.html" in url
    page = requests.get(url, timeout=30)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self' 'sha256-" in policy and "unsafe-inline" not in policy
    # The import map is the first thing in the head, before the module script that imports @forge/bridge.
    assert re.search(r'<head><script type="importmap">\{"imports":\{"@forge/bridge":"/_forge/bridge.js"}}</script>',
                     page.text)
    assert page.text.index("importmap") < page.text.index('src="./panel.js"')
    script = requests.get(url.replace("index.html", "panel.js"), timeout=30)
    assert script.headers["Content-Type"].startswith("text/javascript")
    assert script.text == resource_files("panel")["panel.js"]
    assert requests.get(url.replace("index.html", "missing.js"), timeout=30).status_code == 404
    stand_in = requests.get(f"{s.site.base_url}/_forge/bridge.js", timeout=30)
    assert stand_in.headers["Content-Type"].startswith("text/javascript")
    assert "export async function invokeRemote" in stand_in.text


def test_the_bridge_calls_the_remote_for_the_frames_user_and_issue_only(forge_installed):
    s = forge_installed
    key = s.create_issue("Bridge call", [])
    _, frame = frame_of(s, key)
    context = bridge(s, "context", frame, method="GET").json()
    assert context["accountId"] == s.site.state.admin_id
    assert context["moduleKey"] == "cscx-customers-context"
    assert context["extension"]["type"] == "jira:issueContext" and context["extension"]["issue"]["key"] == key

    answer = bridge(s, "invoke", frame, json={"path": f"/forge/ui/panel?issueKey={key}", "method": "GET"}).json()
    assert answer["status"] == 200 and "No customers linked yet." in answer["body"]["html"]
    assert answer["headers"]["content-type"] == ["application/json"]
    assert "authorization" not in {name.lower() for name in answer["headers"]}
    # Without the page's frame token, or with a made-up one, nothing reaches the remote.
    calls = len(s.forge("GET", "").json()["calls"])
    for token in (None, "", "made-up"):
        refused = bridge(s, "invoke", token, json={"path": f"/forge/ui/panel?issueKey={key}"})
        assert refused.status_code == 401, refused.text
    assert len(s.forge("GET", "").json()["calls"]) == calls
    bad = bridge(s, "invoke", frame, json={"path": "//evil.example/x", "method": "GET"})
    assert bad.status_code == 400


def test_the_admin_page_frame_is_for_the_admin_page_module(forge_installed):
    s = forge_installed
    installed = s.forge("GET", "").json()["installs"][0]
    admin_url = f"{s.site.base_url}/jira/settings/apps/{APP_ID.rsplit('/', 1)[-1]}/{installed['environment_id']}"
    page = requests.get(admin_url, timeout=30)
    assert page.status_code == 200 and "CSCX Customers" in page.text
    frame = FRAME_SRC.search(page.text).group(1).partition("#frame=")[2]
    context = bridge(s, "context", frame, method="GET").json()
    assert (context["moduleKey"], context["extension"]) == ("cscx-admin-page", {"type": "jira:adminPage"})
    assert requests.get(f"{s.site.base_url}/jira/settings/apps/nope/{installed['environment_id']}",
                        timeout=30).status_code == 404


@pytest.mark.parametrize(("resources", "message"), [
    ({"other": {"index.html": "<p>"}}, "declares no resource"),
    ({"panel": {"panel.js": ""}}, "index.html"),
    ({"panel": {"index.html": "<p>", "../escape.js": ""}}, "relative path"),
    ({"panel": {"index.html": "<p>", "/etc/passwd": ""}}, "relative path"),
    ({"panel": {"index.html": 7}}, "relative path"),
    (["panel"], "must be an object"),
])
def test_resources_that_are_not_the_manifests_are_refused(forge_site, resources, message):
    response = sandbox(forge_site, "POST", "/install", json={
        "manifest": render_manifest("http://127.0.0.1:9", APP_ID), "resources": resources})
    assert response.status_code == 400 and message in response.text
