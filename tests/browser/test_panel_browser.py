"""The Customers panel in a real browser: Debian's chromium, driven by Playwright, inside the sandbox's issue page."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
# The network here is closed: without these flags Chromium keeps trying to reach Google's hosts.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]

pytestmark = pytest.mark.browser


@pytest.fixture
def browser():
    """Headless Chromium (a missing browser is an error, not a skip: ./run test installs it)."""
    from playwright.sync_api import sync_playwright

    assert shutil.which(CHROMIUM), f"{CHROMIUM} is missing: install Debian's chromium package (./run test does)"

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


def test_engineer_adds_a_customer_in_the_issue_view(installed_site, browser, database_url):
    s = installed_site
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.goto(f"{s.site.base_url}/browse/CS-1")
    panel = page.frame_locator("iframe[src*='cscx-customers-panel']")
    page.wait_for_selector("iframe[src*='cscx-customers-panel']")
    panel.locator(".summary .count").wait_for()
    assert panel.locator(".summary .count").inner_text() == "0 customers"

    panel.locator("#cscx-search").fill("acm")
    result = panel.locator("form.result", has_text="Acme Corp")
    result.wait_for()
    result.locator("select[name=link_type]").select_option("requested")
    result.locator("button[type=submit]").click()
    panel.locator(".customer", has_text="Acme Corp").wait_for()

    assert panel.locator(".summary .count").inner_text() == "1 customer"
    assert panel.locator(".customer .link-type").inner_text().lower() == "requested"
    assert panel.locator(".customer .health").inner_text() == "82"
    assert "health-good" in panel.locator(".customer .health").get_attribute("class")
    assert panel.locator("#cscx-search").input_value() == ""  # the search is cleared after adding
    labels = s.jira("GET", "/rest/api/3/issue/CS-1?fields=labels").json()["fields"]["labels"]
    assert "customer_acme-corp" in labels

    # Jira's own page shows the glance count the app stored.
    page.reload()
    page.wait_for_selector("iframe[src*='cscx-customers-panel']")
    ARTIFACTS.mkdir(exist_ok=True)
    backend = "postgres" if database_url.startswith("postgresql") else "sqlite"
    shot = ARTIFACTS / f"customers-panel-{backend}.png"
    page.frame_locator("iframe[src*='cscx-customers-panel']").locator(".customer", has_text="Acme Corp").wait_for()
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
