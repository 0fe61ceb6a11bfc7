"""The CSM's pages in headless Chromium (Debian's, through Playwright): the token leaves the address bar,
filters and navigation work inside the frame, the alert button toggles, axe-core finds no serious or
critical violation, at 360 px (CSCX.AI's side panel) and 1280 px. Screenshots land in test-artifacts/."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from connect_app.extensions import db
from connect_app.impact.store import recompute_workspace
from connect_app.models import IssueStatusChange, Subscription
from connect_app.models.types import utcnow
from connect_app.sla import store as sla
from tests.browser.test_panel_browser import ARTIFACTS, browser  # noqa: F401  (fixture)
from tests.conftest import token_for
from tests.factories import make_connection, make_customer, make_issue, make_link, make_organization
from tests.live import LiveApp

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = (360, 1280)


@pytest.fixture
def served(database_url, tmp_path):
    """The live service with ws-b: Acme and a dozen issues across statuses, types and priorities."""
    with LiveApp(database_url, tmp_path) as live:
        with live.app.app_context():
            org = make_organization(id="ws-b")
            connection = make_connection(org)
            acme = make_customer(org, name="Acme Corp", slug="acme", arr=Decimal("900000"), tier="enterprise",
                                 health_score=48)
            now = utcnow()
            for n, (summary, kind, status, category, priority) in enumerate([
                    ("Invoice totals off by one cent", "Bug", "In Progress", "indeterminate", "Highest"),
                    ("Export fails on Safari", "Bug", "To Do", "new", "High"),
                    ("SSO with Okta", "Story", "In Review", "indeterminate", "Medium"),
                    ("Audit log export", "Story", "Done", "done", "Low"),
                    ("Slow dashboard for large accounts", "Bug", "To Do", "new", "Medium")], start=1):
                issue = make_issue(connection, jira_key=f"CS-{n}", summary=summary, issue_type=kind, status=status,
                                   status_category=category, priority=priority,
                                   created_at=now - timedelta(days=10 + n), updated_at=now - timedelta(hours=n))
                make_link(issue, acme, link_type="affected" if n % 2 else "requested")
                if category != "new":
                    db.session.add(IssueStatusChange(
                        connection_id=connection.id, issue_id=issue.id, change_id=f"c{n}", from_status="To Do",
                        to_status=status, from_category="new", to_category=category,
                        changed_at=now - timedelta(days=n), changed_by="Ana Lopez"))
            db.session.commit()
            # Scores and clocks as the service keeps them, so the pages show impact and SLA states.
            recompute_workspace("ws-b")
            policy = sla.save_policy("ws-b", {"name": "Bugs picked up in 2 days", "metric": "time_to_development",
                                              "target": "48h", "selector": {"issue_types": ["Bug"]}}, "admin")
            sla.evaluate_policy(policy)
            db.session.commit()
            customer_id = str(acme.id)
        yield live, customer_id


def _axe(page) -> list[dict]:
    """axe-core's serious and critical violations on the page (evaluated outside the page's CSP)."""
    assert AXE.exists(), f"{AXE} is missing: ./run test installs the npm packages"
    page.evaluate(AXE.read_text())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("width", WIDTHS)
def test_csm_pages_in_a_browser(served, browser, width, database_url):  # noqa: F811
    live, customer_id = served
    token = token_for("ws-b", "csm", "maya")
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(f"{live.base_url}/app/customers/{customer_id}?token={token}")
    page.locator("#issue-list").wait_for()
    assert "token=" not in page.url  # gone from the address bar and the history
    assert page.locator("#issue-list tbody tr").count() == 4  # open issues by default
    ARTIFACTS.mkdir(exist_ok=True)
    backend = "postgres" if database_url.startswith("postgresql") else "sqlite"
    page.screenshot(path=str(ARTIFACTS / f"pages-customer-{width}-{backend}.png"), full_page=True)
    assert _axe(page) == []

    page.get_by_label("Bugs").check()
    expect(page.locator("#issue-list tbody tr")).to_have_count(3)
    page.get_by_label("Search").fill("safari")
    expect(page.locator("#issue-list tbody tr")).to_have_count(1)
    assert "token=" not in page.url and "q=safari" in page.url

    page.get_by_role("link", name="CS-2").click()  # boosted: fetched with the header, no token in the URL
    page.get_by_role("heading", name="Export fails on Safari").wait_for()
    expect(page).to_have_url(re.compile(r"/app/issues/CS-2$"))
    assert "token" not in page.url
    page.get_by_role("button", name="Alert me when resolved").click()
    page.get_by_role("button", name="Alerting you when resolved · Stop").wait_for()
    with live.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Subscription)
                                 .where(Subscription.user_id == "maya")) == 1

    page.get_by_role("link", name="Acme Corp").click()
    page.locator("#issue-list").wait_for()
    page.goto(f"{live.base_url}/app/issues/CS-1?token={token}")
    page.locator("svg.timeline rect").first.wait_for()
    assert page.locator("svg.timeline rect").count() == 2
    page.screenshot(path=str(ARTIFACTS / f"pages-issue-{width}-{backend}.png"), full_page=True)
    assert _axe(page) == []
    assert errors == [], json.dumps(errors)

    # A reload of a page without its token (the frame was reloaded) says what to do.
    page.reload()
    page.get_by_role("heading", name="Reload from CSCX.AI").wait_for()
