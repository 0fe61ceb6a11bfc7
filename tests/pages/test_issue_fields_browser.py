"""The issue page's fields and change history in headless Chromium at 360 and 1280 px: nothing runs from Jira's
text, long values wrap instead of widening the page, and axe-core finds no serious or critical violation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from connect_app.extensions import db
from connect_app.models import IssueFieldChange, JiraField
from connect_app.models.types import utcnow
from tests.browser.test_pages_browser import _axe
from tests.browser.test_panel_browser import ARTIFACTS, browser  # noqa: F401  (fixture)
from tests.conftest import token_for
from tests.factories import make_connection, make_customer, make_issue, make_link, make_organization
from tests.live import LiveApp

pytestmark = pytest.mark.browser

LONG = "Customer-reported-regression-in-the-nightly-export-" * 8  # one long word: must wrap


@pytest.fixture
def served(database_url, tmp_path):
    """ws-f: CS-1 with named custom fields, a long unbroken value, and changes with markup in them."""
    with LiveApp(database_url, tmp_path) as live:
        with live.app.app_context():
            org = make_organization(id="ws-f")
            connection = make_connection(org)
            now = utcnow()
            issue = make_issue(connection, jira_key="CS-1", summary="Export fails", created_at=now - timedelta(days=3),
                               custom_fields={"customfield_10002": "Enterprise", "customfield_10010": LONG})
            make_link(issue, make_customer(org, name="Acme"))
            for field_id, name in (("customfield_10002", "Customer Tier"), ("customfield_10010", "Root cause")):
                db.session.add(JiraField(connection_id=connection.id, field_id=field_id, name=name,
                                         name_key=name.casefold(), custom=True, schema_type="string"))
            changes = [("Customer Tier", None, "Enterprise"), ("Root cause", "<b>unknown</b>", LONG),
                       ("Summary", "Export <script>alert(1)</script>", "Export fails")]
            for n, (field, before, after) in enumerate(changes):
                db.session.add(IssueFieldChange(
                    connection_id=connection.id, issue_id=issue.id, change_id=str(100 + n), field_key=field,
                    seq=0, field=field, from_value=before, to_value=after, author_name="Ana <i>Lopez</i>",
                    changed_at=now - timedelta(hours=10 - n)))
            db.session.commit()
        yield live


@pytest.mark.parametrize("width", (360, 1280))
def test_fields_and_history_in_a_browser(served, browser, width):  # noqa: F811
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{served.base_url}/app/issues/CS-1?token={token_for('ws-f', 'csm', 'maya')}")
    page.get_by_role("heading", name="Who changed what").wait_for()
    fields = page.locator("table.field-table")
    assert fields.get_by_role("rowheader", name="Customer Tier").is_visible()
    assert page.locator(".history li").count() == 3
    assert page.locator(".history li").first.inner_text().startswith(page.locator(".history .when").first.inner_text())
    assert "Summary: Export <script>alert(1)</script>" in page.locator(".history li").first.inner_text()
    assert "Ana <i>Lopez</i>" in page.locator(".history").inner_text()
    # Nothing widens the page beyond the viewport (the long value wraps), and no markup from Jira ran.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert dialogs == []
    page.screenshot(path=str(ARTIFACTS / f"pages-issue-fields-{width}.png"), full_page=True)
    assert _axe(page) == []
    context.close()
