"""The Forge app's Custom UI in a real browser: the sandbox's issue view hosts the Customers panel, its
@forge/bridge stand-in calls the remote as Forge does, and the panel lists, adds (type-ahead) and removes
customers like the Connect panel; the admin page links a Forge-only site to a workspace with a link code."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from connect_app.connections.installations import create_link_code
from connect_app.extensions import db
from connect_app.models import AuditEntry, JiraConnection
from tests.browser.test_panel_browser import ARTIFACTS, browser  # noqa: F401  (fixture)
from tests.forge.site import forge_installed, forge_site_factory  # noqa: F401  (fixtures)
from tests.tracking.support import WORKSPACE

pytestmark = pytest.mark.browser

PANEL = "details.forge-context[data-forge-module='cscx-customers-context'] iframe"
# What must never reach the browser: a JWT (the FIT) or a Forge OAuth token.
SECRET_SHAPES = re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.|forge-(sys|usr)-")


def labels(s, key: str) -> list[str]:
    """The issue's labels in Jira."""
    return s.jira("GET", f"/rest/api/3/issue/{key}?fields=labels").json()["fields"]["labels"]


def audit_actors(s, action: str) -> list[str]:
    """Who did each audited `action`."""
    with s.live.app.app_context():
        actors = db.session.scalars(select(AuditEntry.actor_id).where(AuditEntry.action == action)).all()
        db.session.remove()
    return list(actors)


def watch_bridge(page) -> list[str]:
    """Collect the bodies of the bridge's answers (what the page's script received from the sandbox)."""
    bodies: list[str] = []
    page.on("response", lambda response: bodies.append(response.text()) if "/_forge/bridge/" in response.url
            else None)
    return bodies


def test_the_panel_in_the_issue_view_adds_and_removes_a_customer(forge_installed, browser, database_url):  # noqa: F811
    s = forge_installed
    key = s.create_issue("Exports time out for large accounts", [])
    s.settle()
    admin = s.site.state.admin_id  # the sandbox's browser is its admin
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    bridge_answers = watch_bridge(page)
    page.goto(f"{s.site.base_url}/browse/{key}")
    panel = page.frame_locator(PANEL)
    panel.locator(".summary .count").wait_for()
    assert panel.locator(".summary .count").inner_text() == "0 customers"
    assert panel.locator(".empty").first.inner_text() == "No customers linked yet."

    # Type-ahead: results come as the user types, without submitting anything.
    panel.locator("#cscx-search").press_sequentially("acm", delay=40)
    result = panel.locator("form.result", has_text="Acme")
    result.wait_for()
    assert panel.locator("form.result").count() == 1
    result.locator("select[name=link_type]").select_option("requested")
    result.locator("button[type=submit]").click()
    panel.locator(".customer", has_text="Acme").wait_for()
    assert panel.locator(".summary .count").inner_text() == "1 customer"
    assert panel.locator(".customer .link-type").inner_text().lower() == "requested"
    assert panel.locator("#cscx-search").input_value() == ""  # the search is cleared after adding
    assert "customer_acme" in labels(s, key)
    assert audit_actors(s, "link.added") == [admin]  # the token's principal is the actor

    # Let the label's own Forge event come back first (acme's rule matches it), then remove the manual link.
    s.settle()
    ARTIFACTS.mkdir(exist_ok=True)
    backend = "postgres" if database_url.startswith("postgresql") else "sqlite"
    page.screenshot(path=str(ARTIFACTS / f"forge-customers-panel-{backend}.png"), full_page=True)
    # Remove asks once more inside the panel, as the Connect panel does: Cancel (or Escape) takes it back.
    acme = panel.locator(".customer", has_text="Acme")
    acme.locator("button.remove").click()
    expect(acme.locator(".remove-yes")).to_be_focused()
    acme.locator(".remove-no").click()
    expect(acme.locator(".remove-confirm")).to_be_hidden()
    expect(acme.locator("button.remove")).to_be_focused()
    acme.locator("button.remove").click()
    page.keyboard.press("Escape")
    expect(acme.locator(".remove-confirm")).to_be_hidden()
    assert audit_actors(s, "link.removed") == []
    acme.locator("button.remove").click()
    acme.locator(".remove-yes").click()
    panel.locator(".empty", has_text="No customers linked yet.").wait_for()
    assert panel.locator(".summary .count").inner_text() == "0 customers"
    expect(panel.locator(".summary")).to_be_focused()  # focus stays in the panel
    assert "customer_acme" not in labels(s, key)
    assert audit_actors(s, "link.removed") == [admin]

    # The change stays after the label's Forge event (the rule no longer matches) and a reload.
    s.settle()
    page.reload()
    page.frame_locator(PANEL).locator(".summary .count").wait_for()
    assert page.frame_locator(PANEL).locator(".summary .count").inner_text() == "0 customers"
    # The bridge answered the page with the remote's bodies only: no invocation token, no OAuth token.
    assert bridge_answers and not any(SECRET_SHAPES.search(body) for body in bridge_answers)


def test_a_jira_admin_links_a_forge_only_site_on_the_admin_page(forge_site_factory, browser):  # noqa: F811
    s = forge_site_factory(linked=False)
    key = s.create_issue("Billing page blank", [])
    s.settle()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{s.site.base_url}/browse/{key}")
    assert "not linked to a CSCX.AI workspace" in page.frame_locator(PANEL).locator(".empty").inner_text()

    with s.live.app.app_context():
        code, _ = create_link_code(WORKSPACE, "cscx-admin")
        db.session.remove()
    installed = s.forge("GET", "").json()["installs"][0]  # Jira: Settings -> Apps -> CSCX Customers
    page.goto(f"{s.site.base_url}/jira/settings/apps/{installed['app_id'].rsplit('/', 1)[-1]}/"
              f"{installed['environment_id']}")
    admin_page = page.frame_locator("iframe.forge-frame")
    admin_page.locator("#code").fill("WRONG-CODE-0000")
    admin_page.locator("button[type=submit]").click()
    admin_page.locator(".alert-error").wait_for()
    assert "unknown, already used, or expired" in admin_page.locator(".alert-error").inner_text()
    admin_page.locator("#code").fill(code.lower())  # codes are read aloud and typed: case does not matter
    admin_page.locator("button[type=submit]").click()
    admin_page.locator(".alert-ok").wait_for()
    assert WORKSPACE in admin_page.locator(".alert-ok").inner_text()
    assert s.connection().organization_id == WORKSPACE and s.connection().status == "active"
    with s.live.app.app_context():
        linked = db.session.scalars(select(AuditEntry.actor_id).where(AuditEntry.action == "connection.linked")).all()
        assert db.session.scalar(select(JiraConnection.kind)) == "forge"
        db.session.remove()
    assert linked == [s.site.state.admin_id]

    # The panel now works on the linked site.
    page.goto(f"{s.site.base_url}/browse/{key}")
    page.frame_locator(PANEL).locator(".summary .count").wait_for()
    assert page.frame_locator(PANEL).locator(".summary .count").inner_text() == "0 customers"
