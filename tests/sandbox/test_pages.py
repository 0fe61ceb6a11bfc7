"""The issue view: escaped fields, signed app iframes, glance status, forms that fire webhooks."""

from __future__ import annotations

import html
import json
import re
from urllib.parse import parse_qs, urljoin, urlsplit

import jwt
import pytest
import requests

from jira_sandbox.pages import CONNECT_IFRAME_SANDBOX
from jira_sandbox.testing import SandboxServer
from tests.sandbox.app_receiver import AppReceiver
from tests.sandbox.test_connect_host import _qsh
from tests.sandbox.test_webhooks import create_issue, flush

EVIL = '<script>alert("x")</script>'


@pytest.fixture
def site():
    with SandboxServer(flavour="cloud", issues=1, seed=2) as server:
        yield server


@pytest.fixture
def app(site):
    with AppReceiver() as receiver:
        response = requests.post(f"{site.base_url}/_sandbox/apps/install", headers=site.admin_headers, timeout=20,
                                 json={"descriptor_url": receiver.descriptor_url})
        receiver.shared_secret = response.json()["shared_secret"]
        yield receiver


def iframe_srcs(page: str) -> list[str]:
    return [html.unescape(s) for s in re.findall(r'<iframe src="([^"]+)"', page)]


def test_browse_escapes_issue_content(site):
    key = create_issue(site, summary=EVIL, labels=["a<b"], description=None)["key"]
    page = requests.get(f"{site.base_url}/browse/{key}", timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert EVIL not in page.text and "&lt;script&gt;" in page.text and "a&lt;b" in page.text
    assert 'data-field="status"' in page.text and "Set priority" in page.text


def test_unknown_issue_is_404(site):
    assert requests.get(f"{site.base_url}/browse/NOPE-1", timeout=10).status_code == 404


def test_panel_iframe_is_signed_like_jira(site, app):
    key = create_issue(site)["key"]
    page = requests.get(f"{site.base_url}/browse/{key}", timeout=10).text
    src = next(s for s in iframe_srcs(page) if "/panel" in s)
    parts = urlsplit(src)
    query = parse_qs(parts.query)
    assert src.startswith(app.base_url + "/panel?") and query["issue"] == [key]
    assert query["xdm_e"] == [site.base_url] and query["xdm_deprecated_addon_key_do_not_use"] == ["test-app"]
    claims = jwt.decode(query["jwt"][0], app.shared_secret, algorithms=["HS256"])
    unsigned = re.sub(r"&jwt=[^&]+", "", parts.query)
    assert claims["qsh"] == _qsh("GET", f"{parts.path}?{unsigned}")
    assert claims["sub"] == site.state.admin_id and claims["context"]["jira"]["issue"]["key"] == key
    context_page = requests.get(f"{site.base_url}/browse/{key}?qsh=context", timeout=10).text
    context_src = next(s for s in iframe_srcs(context_page) if "/panel" in s)
    token = parse_qs(urlsplit(context_src).query)["jwt"][0]
    assert jwt.decode(token, app.shared_secret, algorithms=["HS256"])["qsh"] == "context-qsh"


def test_app_iframes_are_sandboxed_and_named_like_jiras(site, app):
    key = create_issue(site)["key"]
    page = requests.get(f"{site.base_url}/browse/{key}", timeout=10).text
    frames = [{name: html.unescape(value) for name, value in re.findall(r'([\w-]+)="([^"]*)"', tag)}
              for tag in re.findall(r"<iframe\s[^>]*>", page) if "forge-frame" not in tag]
    assert len(frames) == 2  # the Connect test app's panel and its glance
    for frame in frames:
        assert set(frame["sandbox"].split()) == {
            "allow-downloads", "allow-forms", "allow-modals", "allow-popups", "allow-same-origin", "allow-scripts",
            "allow-top-navigation-by-user-activation"} == set(CONNECT_IFRAME_SANDBOX.split())
        init = json.loads(frame["name"])  # what all.js reads from window.name
        assert init["extension_id"] == frame["data-connect-extension"]
        assert re.fullmatch(r"test-app__[\w-]+__[0-9a-f]{8}", init["extension_id"])
        assert init["origin"] == site.base_url and init["options"]["hostOrigin"] == site.base_url
    assert len({frame["data-connect-extension"] for frame in frames}) == 2
    host_script = re.search(r'<script src="([^"]*connect_host\.js)"></script>\s*</head>', page).group(1)
    served = requests.get(urljoin(site.base_url, host_script), timeout=10)
    assert served.status_code == 200 and "javascript" in served.headers["Content-Type"]
    assert '"resize"' in served.text and "contentWindow === event.source" in served.text


def test_glance_shows_the_status_property(site, app):
    key = create_issue(site)["key"]
    prop = "com.atlassian.jira.issue:test-app:customers-glance:status"
    requests.put(f"{site.base_url}/rest/api/3/issue/{key}/properties/{prop}", auth=site.basic_auth, timeout=10,
                 json={"type": "badge", "value": {"label": "3"}}).raise_for_status()
    page = requests.get(f"{site.base_url}/browse/{key}", timeout=10).text
    assert re.search(r"data-glance-status>3<", page)


def test_forms_transition_and_reprioritise_and_fire_webhooks(site, app):
    key = create_issue(site)["key"]
    page = requests.get(f"{site.base_url}/browse/{key}", timeout=10).text
    transition_id = re.search(r'name="transition" value="(\d+)"', page).group(1)
    moved = requests.post(f"{site.base_url}/browse/{key}/transition", data={"transition": transition_id}, timeout=10)
    assert moved.status_code == 200 and moved.url.endswith(f"/browse/{key}")
    requests.post(f"{site.base_url}/browse/{key}/priority", data={"priority": "Highest"}, timeout=10)
    assert site.state.issues[key]["priority"] == "Highest"
    flush(site)
    updates = [r.json() for r in app.on("/hooks/jira") if r.query == "kind=updated"]
    fields = [item["field"] for u in updates for item in u["changelog"]["items"]]
    assert "status" in fields and "priority" in fields
