"""The chat box in headless Chromium against the sandbox Jira: on a customer's page a CSM asks for its issues,
picks one of two customers a name fits, follows a create phrase through the draft form to the new-issue page
pre-filled, and carries the conversation to /app/chat; refusals and a failed network show in the box; axe-core
finds no serious or critical violation, at 360 and 1280 px."""

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
def chatting(database_url, tmp_path):
    """The live service connected to a sandbox Cloud site: Acme Corp with two synced issues, and Acme Labs."""
    with SandboxServer(flavour="cloud", issues=0, seed=7) as site, LiveApp(database_url, tmp_path) as live:
        meta.cache.clear()
        with live.app.app_context():
            org = make_organization(id="ws-chat-b")
            connection = connect(live.app, org, site)
            acme = make_customer(org, name="Acme Corp", slug="acme-corp", tier="enterprise", arr=Decimal("900000"))
            make_customer(org, name="Acme Labs", slug="acme-labs")
            add_rule(acme, "label", value="customer_acme")
            for summary, priority in (("Invoice totals are off by one cent", "High"),
                                      ("Dashboard slow for large accounts", "Medium")):
                site.state.import_issue({"project": "CS", "issuetype": "Bug", "status": "To Do", "summary": summary,
                                         "priority": priority, "labels": ["customer_acme"]})
            sync_connection(str(connection.id))
            customer_id = str(acme.id)
        yield live, customer_id


def send(page, text: str) -> None:
    """Type a message in the chat box and press Enter, as a CSM does."""
    box = page.get_by_label("Message to the Jira chat")
    box.fill(text)
    box.press("Enter")


@pytest.mark.parametrize("width", WIDTHS)
def test_chat_on_a_customer_page_through_to_the_new_issue_form(chatting, browser, width, database_url):  # noqa: F811
    live, customer_id = chatting
    backend = "postgres" if database_url.startswith("postgresql") else "sqlite"
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": width, "height": 800})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(f"{live.base_url}/app/customers/{customer_id}?token={token_for('ws-chat-b', 'csm', 'maya')}")
    page.locator("#issue-list").wait_for()
    log = page.locator("#chat-log")
    expect(page.get_by_label("Message to the Jira chat")).to_be_hidden()  # folded until opened
    page.get_by_text("Ask about Jira issues").click()
    expect(page.get_by_label("Message to the Jira chat")).to_be_focused()

    send(page, "show jira issues for Acme Corp")
    expect(log.locator(".chat-answer").last).to_contain_text("Acme Corp has 2 open issues")
    expect(log.locator(".chat-answer").last.locator("li.issue")).to_have_count(2)
    expect(page.get_by_label("Message to the Jira chat")).to_have_value("")

    # A name two customers fit: the chat asks, and a click on a choice answers in the same conversation.
    send(page, "what's open for acme")
    choices = log.locator(".chat-answer").last.get_by_role("button")
    expect(choices).to_have_text(["Acme Corp", "Acme Labs"])
    choices.get_by_text("Acme Labs").click()
    expect(log.locator(".chat-user").last).to_have_text(re.compile(r"for Acme Labs$"))
    expect(log.locator(".chat-answer").last).to_contain_text("Acme Labs has no open issues")
    # The page's context: "this account" is the customer the page shows.
    send(page, "any high priority bugs for this account?")
    expect(log.locator(".chat-answer").last).to_contain_text("Invoice totals are off by one cent")
    expect(log.locator(".chat-answer").last.locator("li.issue")).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / f"pages-chat-dock-{width}-{backend}.png"), full_page=True)
    assert _axe(page) == []

    assert errors == [], errors
    # Refusals show in the box: a blank message, and a network that fails (htmx logs both as errors).
    send(page, "   ")
    expect(page.get_by_role("alert").filter(has_text="Type a message to send.")).to_be_visible()
    page.route("**/app/chat", lambda route: route.abort())
    send(page, "what am I watching?")
    expect(page.locator("#chat-error")).to_contain_text("could not be sent")
    page.unroute("**/app/chat")
    errors.clear()

    # A create phrase: a draft form, pre-filled; it opens the new-issue page (nothing is created here).
    send(page, "file a bug for acme corp: export fails on Safari")
    draft = log.locator("form.chat-draft").last
    expect(draft.get_by_label("Summary")).to_have_value("Export fails on Safari")
    expect(page.locator("#chat-error")).to_be_empty()
    draft.get_by_role("button", name="Continue to the new issue").click()
    page.get_by_role("heading", name="New Jira issue for Acme Corp").wait_for()
    expect(page).to_have_url(re.compile(r"/app/issues/new\?customer="))
    assert "token" not in page.url
    expect(page.locator("#main").get_by_label("Summary")).to_have_value("Export fails on Safari")
    expect(page.get_by_label("Issue type")).to_have_value("Bug")
    expect(page.locator("#project")).to_have_value("CS")

    # The conversation came along (the thread is kept across the frame's navigation), and goes on to /app/chat.
    page.get_by_text("Ask about Jira issues").click()
    expect(log.locator(".chat-user")).to_have_count(5)
    page.get_by_role("link", name="Open the full chat").click()
    page.get_by_role("heading", name="Ask about Jira issues").wait_for()
    expect(page).to_have_url(re.compile(r"/app/chat\?customer="))
    expect(log.locator(".chat-user")).to_have_count(5)
    send(page, "bugs for this account")  # the full page keeps the context it was opened with
    expect(log.locator(".chat-answer").last).to_contain_text("Acme Corp has 2 open bugs")
    page.screenshot(path=str(ARTIFACTS / f"pages-chat-{width}-{backend}.png"), full_page=True)
    assert _axe(page) == []
    assert errors == [], errors
