"""The Customers panel in a real browser: Debian's chromium, driven by Playwright, inside the sandbox's issue page."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PANEL = "iframe[src*='cscx-customers-panel']"
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


def sized_height(frame, taller_than: int = 0, shorter_than: int = 100_000) -> int:
    """Wait until the Jira iframe is exactly as tall as the panel's content (in the range); return that height."""
    return frame.wait_for_function(
        """([low, high]) => {
             const content = Math.ceil(document.documentElement.getBoundingClientRect().height);
             return content === window.innerHeight && content > low && content < high ? content : false;
           }""", arg=[taller_than, shorter_than]).json_value()


def add_customer(panel, query: str, name: str) -> None:
    """Search, then Add (link type as offered), and wait for the row."""
    panel.locator("#cscx-search").fill(query)
    panel.locator("form.result", has_text=name).locator("button[type=submit]").click()
    panel.locator(".customer", has_text=name).wait_for()


def test_panel_grows_to_its_content_and_removes_a_customer_after_confirming(installed_site, browser):
    s = installed_site
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{s.site.base_url}/browse/CS-1")
    frame = page.wait_for_selector(PANEL).content_frame()
    panel = page.frame_locator(PANEL)
    panel.locator(".summary .count").wait_for()

    heights = [sized_height(frame)]
    for query, name in (("acm", "Acme Corp"), ("glob", "Globex <Intl>"), ("init", "Initech")):
        add_customer(panel, query, name)
        heights.append(sized_height(frame, taller_than=heights[-1]))
    assert panel.locator(".summary .count").inner_text() == "3 customers"
    assert heights[-1] > 200  # past the 200 px the issue view gives a panel before it asks
    assert page.eval_on_selector(PANEL, "f => f.dataset.connectBridge") == "established"

    row = panel.locator(".customer", has_text="Globex")
    remove = row.get_by_role("button", name="Remove Globex <Intl>", exact=True)
    confirm = row.get_by_role("button", name="Confirm remove Globex <Intl>", exact=True)
    # Remove only asks; Escape takes the question back and returns focus to Remove.
    remove.click()
    assert confirm.is_visible() and not remove.is_visible()
    assert confirm.evaluate("button => button === document.activeElement")
    page.keyboard.press("Escape")
    assert remove.is_visible() and not confirm.is_visible()
    assert remove.evaluate("button => button === document.activeElement")
    assert panel.locator(".customer").count() == 3

    # From the keyboard: Enter on Remove, then Enter on the focused "Confirm remove".
    page.keyboard.press("Enter")
    confirm.wait_for()
    page.keyboard.press("Enter")
    row.wait_for(state="detached")
    assert panel.locator(".summary .count").inner_text() == "2 customers"
    assert panel.locator(".summary").evaluate("summary => summary === document.activeElement")
    assert sized_height(frame, shorter_than=heights[-1]) > heights[1]
    assert dialogs == []  # no native dialog anywhere

    labels = s.jira("GET", "/rest/api/3/issue/CS-1?fields=labels").json()["fields"]["labels"]
    assert "customer_globex" not in labels and "customer_acme-corp" in labels and "customer_initech" in labels
    prop = s.jira("GET", "/rest/api/3/issue/CS-1/properties/cscx-customers").json()["value"]
    assert sorted(prop["slugs"]) == ["acme-corp", "initech"] and prop["count"] == 2


def test_issue_view_takes_sizes_only_from_the_panel_and_clamps_them(installed_site, browser):
    s = installed_site
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.goto(f"{s.site.base_url}/browse/CS-1")
    frame = page.wait_for_selector(PANEL).content_frame()
    height = sized_height(frame)
    eid = page.eval_on_selector(PANEL, "f => f.dataset.connectExtension")
    assert eid.startswith("ai.cscx.jira__cscx-customers-panel__")
    # A listener after the host's: once it has seen a message, the host has handled it.
    page.evaluate("() => { window.seen = []; addEventListener('message', e => seen.push(e.data.args[1])); }")

    def from_panel(eid_: str, value) -> None:
        frame.evaluate("""([eid, value, origin]) => parent.postMessage(
                            {eid, type: "req", mod: "env", fn: "resize", args: ["100%", value]}, origin)""",
                       [eid_, value, s.site.base_url])
        page.wait_for_function("value => seen.includes(value)", arg=value)

    def frame_height() -> float:
        return page.eval_on_selector(PANEL, "f => f.clientHeight")

    page.evaluate("""eid => window.postMessage(
                       {eid, type: "req", mod: "env", fn: "resize", args: ["100%", "901px"]}, "*")""", eid)
    page.wait_for_function("() => seen.includes('901px')")
    assert frame_height() == height  # this page is not the panel
    from_panel("ai.cscx.jira__someone-else__1", "902px")
    assert frame_height() == height  # the panel, but another extension's id
    from_panel(eid, "50%")
    assert frame_height() == height  # not a height in pixels
    from_panel(eid, "999999px")
    assert frame_height() == 4000  # clamped to the host's maximum
    from_panel(eid, 3)
    assert frame_height() == 20  # and to its minimum
