"""Drafting in headless Chromium against the sandbox Jira: a CSM fills the new-issue form (duplicates as
they type, the preview), an approver approves it on another page, the issue appears in Jira; axe-core
finds no serious or critical violation on the form, the queue or the draft, at 360 and 1280 px."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from connect_app.creation import meta
from connect_app.sync.engine import sync_connection
from jira_sandbox.testing import SandboxServer
from tests.browser.test_pages_browser import WIDTHS, _axe
from tests.browser.test_panel_browser import ARTIFACTS, browser  # noqa: F401  (fixture)
from tests.conftest import token_for
from tests.factories import make_customer, make_organization
from tests.live import LiveApp
from tests.sync.support import add_rule, connect

pytestmark = [pytest.mark.browser, pytest.mark.sandbox]


@pytest.fixture
def drafting(database_url, tmp_path):
    """The live service connected (OAuth) to a sandbox Cloud site; Acme with a label rule and one open bug."""
    with SandboxServer(flavour="cloud", issues=0, seed=5) as site, LiveApp(database_url, tmp_path) as live:
        meta.cache.clear()
        with live.app.app_context():
            org = make_organization(id="ws-d")
            connection = connect(live.app, org, site)
            acme = make_customer(org, name="Acme Corp", slug="acme", tier="enterprise", arr=Decimal("900000"),
                                 health_score=55, stakeholders=[{"name": "Dana O'Neil", "email": "dana@acme.example",
                                                                 "role": "VP Finance"}])
            add_rule(acme, "label", value="customer_acme")
            site.state.import_issue({"project": "CS", "issuetype": "Bug", "status": "To Do",
                                     "summary": "Invoice totals are off by one cent", "labels": ["customer_acme"]})
            sync_connection(str(connection.id))
            customer_id = str(acme.id)
        yield live, site, customer_id


@pytest.mark.parametrize("width", WIDTHS)
def test_draft_approve_and_see_it_in_jira(drafting, browser, width, database_url):  # noqa: F811
    live, site, customer_id = drafting
    backend = "postgres" if database_url.startswith("postgresql") else "sqlite"
    ARTIFACTS.mkdir(exist_ok=True)
    csm = browser.new_page(viewport={"width": width, "height": 900})
    csm.goto(f"{live.base_url}/app/issues/new?customer={customer_id}&token={token_for('ws-d', 'csm', 'maya')}")
    csm.get_by_label("Summary").wait_for()
    assert "token=" not in csm.url
    csm.get_by_label("Summary").fill("Invoice totals off by one cent")
    expect(csm.locator("#duplicates")).to_contain_text("Invoice totals are off by one cent")
    csm.get_by_label("What the customer saw").fill("The PDF shows 10.01, the screen 10.00.")
    csm.get_by_label("Dana O'Neil (VP Finance)").check()
    csm.get_by_role("button", name="Preview what Jira will get").click()
    expect(csm.locator("#preview")).to_contain_text("Customer context")
    expect(csm.locator("#preview")).to_contain_text("Dana O'Neil (VP Finance)")
    csm.screenshot(path=str(ARTIFACTS / f"pages-new-issue-{width}-{backend}.png"), full_page=True)
    assert _axe(csm) == []
    csm.get_by_role("button", name="Send for approval").click()
    expect(csm.locator("#draft-detail")).to_contain_text("pending approval")
    expect(csm.locator("nav.app-nav")).to_have_count(1)  # the draft page replaced the page, not nested in it
    expect(csm.locator("main")).to_have_count(1)
    before = set(site.state.issues)

    approver = browser.new_page(viewport={"width": width, "height": 900})
    approver.goto(f"{live.base_url}/app/approvals?token={token_for('ws-d', 'approver', 'omar')}")
    approver.get_by_role("link", name="Invoice totals off by one cent").click()
    approver.get_by_role("button", name="Approve").wait_for()
    assert _axe(approver) == []
    approver.get_by_label("Comment (required to reject)").fill("Looks right")
    approver.get_by_role("button", name="Approve").click()
    expect(approver.locator("#draft-detail")).to_contain_text("Created in Jira as")
    approver.screenshot(path=str(ARTIFACTS / f"pages-draft-{width}-{backend}.png"), full_page=True)
    created = set(site.state.issues) - before
    assert len(created) == 1
    key = created.pop()
    assert "customer_acme" in site.state.issues[key]["labels"]
    approver.get_by_role("link", name=key).first.click()
    expect(approver).to_have_url(re.compile(rf"/app/issues/{key}$"))
    assert _axe(approver) == []
