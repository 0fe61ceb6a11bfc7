"""Every CSCX.AI page on the demo's own data (40 customers, 400 issues, the first sync's 500-odd links), as
`./run demo` serves it: each opens at 360 px and 1280 px without a console error or a serious accessibility
violation, and the everyday actions work at that size. Screenshots land in test-artifacts/demo-*.png."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser.test_pages_browser import WIDTHS, _axe
from tests.browser.test_panel_browser import ARTIFACTS, browser  # noqa: F401  (fixture)
from tests.demo_run import DemoRun

pytestmark = pytest.mark.browser


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with DemoRun(tmp_path_factory.mktemp("demo")) as run:
        yield run


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_on_the_demo_data(demo, browser, width):  # noqa: F811
    customer_url = demo.link(next(label for label in demo.links if label.endswith("'s issues (CSM)")))
    csm, base = token_of(customer_url), f"http://127.0.0.1:{demo.port}"
    admin = token_of(demo.link("webhook and push deliveries"))
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)

    def check(name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"demo-{name}-{width}.png"), full_page=True)
        assert _axe(page) == [], name
        assert errors == [], f"{name}: {json.dumps(errors)}"

    # The CSM: the busiest customer's issues, narrowed to bugs, then one issue in full.
    page.goto(customer_url)
    rows, count = page.locator("#issue-list tbody tr"), page.locator("#issue-list .count")
    rows.first.wait_for()
    everything = count.inner_text()
    assert rows.count() > 5
    check("customer")
    page.get_by_label("Bugs").check()
    expect(count).not_to_have_text(everything)
    types = page.locator("#issue-list tbody td:nth-child(4)").all_inner_texts()
    assert types and set(types) == {"Bug"}, types
    key = rows.first.locator("a").first.inner_text().strip()
    rows.first.locator("a").first.click()
    page.get_by_role("heading", level=1).wait_for()
    expect(page.locator("main")).to_contain_text(key)
    expect(page.locator("main")).to_contain_text("Who changed what")
    check("issue")

    # The chat box on the same page, about the demo's own customers.
    page.goto(f"{base}/app/chat?token={csm}")
    page.get_by_label("Message").fill("show jira issues for acme corp")
    page.get_by_label("Message").press("Enter")
    expect(page.locator("[aria-live]").first).to_contain_text("Acme Corp")
    check("chat")

    page.goto(f"{base}/app/notifications?token={csm}")
    page.locator("main h1").wait_for()
    check("notifications")

    # The PM's pages and the approver's queue, with the demo's tokens.
    for label, name in (("impact ranking", "impact"), ("SLA board", "sla"), ("approvals", "approvals"),
                        ("a new issue for", "new-issue")):
        page.goto(demo.link(label))
        page.locator("main h1, main h2").first.wait_for()
        check(name)

    # The admin's sync page: a re-sync of the demo site runs to the end.
    page.goto(f"{base}/app/sync?token={admin}")
    page.get_by_role("button", name="Re-sync now").first.click()
    expect(page.locator("main")).to_contain_text("ok", timeout=60_000)
    check("sync")
    page.close()
