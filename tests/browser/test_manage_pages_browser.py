"""The impact, SLA, notifications and sync pages in headless Chromium (Debian's, through Playwright) at 360 px
(CSCX.AI's side panel) and 1280 px: each page's main action (filter and open the factors, export the CSV through
its single-use link; filter the board; mark read; re-sync with progress against the sandbox Jira), navigation
between them inside the frame, and axe-core finding no serious or critical violation. Screenshots land in
test-artifacts/."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect

from connect_app.extensions import db
from connect_app.impact.store import recompute_workspace
from connect_app.models.types import utcnow
from connect_app.sla import store as sla
from jira_sandbox.testing import SandboxServer
from tests.browser.test_pages_browser import WIDTHS, _axe
from tests.browser.test_panel_browser import ARTIFACTS, browser  # noqa: F401  (fixture)
from tests.conftest import token_for
from tests.factories import make_customer, make_issue, make_link
from tests.live import LiveApp
from tests.pages.test_manage_pages import seed_world
from tests.sync.support import add_rule, catalog_customers, connect

pytestmark = [pytest.mark.browser, pytest.mark.sandbox]


@pytest.fixture
def served(database_url, tmp_path):
    """The live service with ws-m (`seed_world`, plus a few more customers and issues across projects) and a
    connection to a sandbox Jira Server that answers a little slowly, so a re-sync shows its progress."""
    with SandboxServer(flavour="server", issues=40, seed=5, customers=5, latency_ms=120) as site, \
            LiveApp(database_url, tmp_path) as live:
        with live.app.app_context():
            world = seed_world()
            now = utcnow()
            extra = [("Initech", "mid_market", "250000"), ("Umbrella", "startup", "60000"),
                     ("Hooli", "enterprise", "1200000")]
            for n, (name, tier, arr) in enumerate(extra):
                customer = make_customer(world["org"], name=name, slug=name.lower(), tier=tier, arr=Decimal(arr))
                for m, (project, priority) in enumerate([("BILL", "High"), ("WEB", "Medium"), ("CS", "Low")]):
                    issue = make_issue(world["connection"], jira_key=f"{project}-{10 + 3 * n + m}", project_key=project,
                                       summary=f"{name}: {project.lower()} problem {m + 1}", priority=priority,
                                       created_at=now - timedelta(hours=6 + 10 * m))
                    make_link(issue, customer)
            recompute_workspace(world["org"].id)
            sla.evaluate_policy(world["policy"])
            connection = connect(live.app, world["org"], site)
            (acme,) = catalog_customers(world["org"], site, 1)
            add_rule(acme, "label", value=site.state.customer_catalog[0]["label"])
            connection_id = str(connection.id)
            db.session.remove()
        yield live, connection_id


def _open(browser, live, path: str, width: int, role: str = "pm", user: str = "maya"):  # noqa: F811
    page = browser.new_page(viewport={"width": width, "height": 900}, accept_downloads=True)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(f"{live.base_url}{path}?token={token_for('ws-m', role, user)}")
    assert "token=" not in page.url
    return page, errors


def _shot(page, name: str, width: int, database_url: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    backend = "postgres" if database_url.startswith("postgresql") else "sqlite"
    page.screenshot(path=str(ARTIFACTS / f"pages-{name}-{width}-{backend}.png"), full_page=True)


@pytest.mark.parametrize("width", WIDTHS)
def test_impact_page_filters_explains_and_exports(served, browser, width, database_url):  # noqa: F811
    live, _ = served
    page, errors = _open(browser, live, "/app/impact", width)
    rows = page.locator("#impact-results table.ranking > tbody > tr")
    expect(rows).to_have_count(12)
    assert page.locator("svg.bar-chart[role=img]").count() == 2
    assert page.locator("svg.bar-chart rect").count() == 4 + 4  # four severities; CS, BILL, WEB, OPS
    _shot(page, "impact", width, database_url)
    assert _axe(page) == []

    page.get_by_label("Project", exact=True).select_option("BILL")
    expect(rows).to_have_count(3)
    assert "project=BILL" in page.url and "token" not in page.url
    rows.first.get_by_text("Why this impact").click()
    expect(rows.first.locator("table.factor-table")).to_be_visible()
    assert rows.first.get_by_role("link", name="Hooli").count() == 1

    with page.expect_download() as started:
        page.get_by_role("button", name="Export CSV").click()
    download = started.value
    exported = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert exported[0][1] == "key" and sorted(r[1] for r in exported[1:]) == ["BILL-10", "BILL-13", "BILL-16"]
    assert download.suggested_filename.startswith("issue-impact-")
    expect(rows).to_have_count(3)  # the page stayed where it was
    _shot(page, "impact-filtered", width, database_url)
    assert _axe(page) == []

    rows.first.locator("a.key").click()  # boosted: the issue page, fetched with the header
    page.get_by_role("heading", name=re.compile("Hooli: bill problem 1")).wait_for()
    assert "token" not in page.url
    assert errors == [], json.dumps(errors)


@pytest.mark.parametrize("width", WIDTHS)
def test_sla_board_filters_and_links(served, browser, width, database_url):  # noqa: F811
    live, _ = served
    page, errors = _open(browser, live, "/app/sla", width, role="csm")
    rows = page.locator("#sla-results table.clocks-table tbody tr")
    expect(rows.first).to_be_visible()
    total = rows.count()
    assert total >= 2 and page.locator("#sla-results .sla-breached").count() >= 1
    _shot(page, "sla", width, database_url)
    assert _axe(page) == []

    page.get_by_label("State").select_option("breached")
    expect(page.locator("#sla-results .sla-at_risk")).to_have_count(0)
    assert "state=breached" in page.url
    tallies = page.locator(".tallies")
    assert tallies.get_by_role("link", name="issues of Globex").get_attribute("href").startswith("/app/customers/")
    tallies.get_by_role("link", name="Globex", exact=True).click()
    page.get_by_role("heading", name="Clocks · Globex").wait_for()
    expect(page.get_by_label("Customer", exact=True)).to_have_value(re.compile(".+"))
    _shot(page, "sla-filtered", width, database_url)
    assert _axe(page) == []
    assert errors == [], json.dumps(errors)


@pytest.mark.parametrize("width", WIDTHS)
def test_notifications_mark_read(served, browser, width, database_url):  # noqa: F811
    live, _ = served
    page, errors = _open(browser, live, "/app/notifications", width, role="csm")
    expect(page.locator("#unread-count")).to_have_text("2 unread")
    _shot(page, "notifications", width, database_url)
    assert _axe(page) == []
    page.get_by_role("button", name="Mark read: CS-1").click()
    expect(page.locator("#unread-count")).to_have_text("1 unread")
    expect(page.locator(".new-badge")).to_have_count(1)
    page.get_by_label("Unread only").check()
    expect(page.locator(".notification")).to_have_count(1)
    page.get_by_role("button", name="Mark all read").click()
    expect(page.locator("#unread-count")).to_have_text("0 unread")
    page.get_by_text("Nothing unread.").wait_for()
    _shot(page, "notifications-read", width, database_url)
    assert _axe(page) == []
    page.get_by_role("navigation", name="CSCX Jira").get_by_role("link", name="SLA board").click()
    page.get_by_role("heading", name="SLA board", exact=True).wait_for()
    assert "token" not in page.url
    assert errors == [], json.dumps(errors)


@pytest.mark.parametrize("width", WIDTHS)
def test_sync_page_resyncs_with_progress(served, browser, width, database_url):  # noqa: F811
    live, connection_id = served
    refused, _ = _open(browser, live, "/app/sync", width, role="csm")
    refused.get_by_role("heading", name="Not allowed").wait_for()
    page, errors = _open(browser, live, "/app/sync", width, role="admin", user="ada")
    card = page.locator(f"#sync-{connection_id}")
    expect(card.get_by_text("Never synced")).to_be_visible()
    _shot(page, "sync", width, database_url)
    assert _axe(page) == []
    card.get_by_role("button", name="Re-sync now").click()
    expect(card.get_by_role("button", name="Re-sync now")).to_be_disabled()
    expect(card.locator("progress")).to_be_visible()
    expect(card.get_by_text("Re-sync finished: ok.")).to_be_visible(timeout=30_000)
    expect(card.get_by_role("button", name="Re-sync now")).to_be_enabled()
    assert card.locator(".run-counts li").count() >= 1
    _shot(page, "sync-done", width, database_url)
    assert _axe(page) == []
    assert errors == [], json.dumps(errors)
