"""The new-issue form and the approvals pages against the sandbox Jira (Cloud and Server), SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from connect_app.extensions import db
from connect_app.models import IssueDraft, JiraCustomerLink
from tests.conftest import token_for
from tests.creation.test_creation_api import WS, site, world  # noqa: F401  (fixtures)

pytestmark = pytest.mark.sandbox


def as_user(role: str, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(WS, role, user)}", "HX-Request": "true"}


CSM, APPROVER = as_user("csm", "maya"), as_user("approver", "omar")


def form(ours, **overrides) -> dict:
    return {"customer_id": str(ours["acme"].id), "connection_id": str(ours["connection"].id), "project_key": "CS",
            "issue_type": "Bug", "summary": "Invoice totals off by one cent on PDF export",
            "description": "Seen on <b>every</b> PDF", "link_type": "requested",
            "stakeholder_ids": ["dana@acme.example"]} | overrides


def test_the_form_follows_jiras_create_screen(client, world):  # noqa: F811
    acme = world["acme"]
    html = client.get(f"/app/issues/new?customer={acme.id}&token={token_for(WS, 'csm', 'maya')}").get_data(as_text=True)
    assert '<option value="CS" selected>' in html and '<option value="Bug" selected>' in html
    assert "(suggested)" in html and "Acme Corp is Enterprise" in html
    assert 'value="dana@acme.example"' in html
    world["site"].state.set_required_fields("CS", ["customfield_10002"], issuetype="Bug")
    from connect_app.creation import meta
    meta.cache.clear()
    fields = client.get(f"/app/issues/new?customer={acme.id}&project_key=CS&issue_type=Bug",
                        headers=CSM | {"HX-Target": "screen-fields"}).get_data(as_text=True)
    assert 'name="field.customfield_10002"' in fields and "Enterprise" in fields and "<html" not in fields


def test_duplicates_as_you_type_and_link_instead(client, world):  # noqa: F811
    acme = world["acme"]
    found = client.get("/app/issues/new/duplicates", headers=CSM, query_string={
        "customer": str(acme.id), "project": "CS", "summary": "Export fails in Safari"}).get_data(as_text=True)
    assert "Export fails on Safari" in found and "Link Acme Corp to" in found
    key = found.split('name="key" value="')[1].split('"')[0]
    linked = client.post(f"/app/customers/{acme.id}/links", headers=CSM, data={"key": key})
    assert linked.status_code == 200 and f"now linked to {key}" in linked.get_data(as_text=True)
    link = db.session.scalar(select(JiraCustomerLink).where(JiraCustomerLink.jira_key == key))
    assert (link.customer_id, link.source) == (acme.id, "manual")
    short = client.get("/app/issues/new/duplicates", headers=CSM,
                       query_string={"customer": str(acme.id), "project": "CS", "summary": "Ex"})
    assert "Maybe it exists" not in short.get_data(as_text=True)


def test_preview_submit_and_approve_in_the_pages(client, world):  # noqa: F811
    jira = world["site"]
    preview = client.post("/app/issues/new/preview", headers=CSM, data=form(world)).get_data(as_text=True)
    assert "What Jira will get" in preview and "customer_acme" in preview
    assert "Seen on &lt;b&gt;every&lt;/b&gt; PDF" in preview and "Dana O&#39;Neil" in preview
    assert db.session.scalar(select(IssueDraft.id)) is None  # a preview stores nothing
    refused = client.post("/app/issues/new/preview", headers=CSM, data=form(world, priority="Nope"))
    assert "does not offer the priority" in refused.get_data(as_text=True)

    submitted = client.post("/app/issues/new", headers=CSM, data=form(world))
    assert submitted.status_code == 200 and "pending approval" in submitted.get_data(as_text=True)
    draft = db.session.scalar(select(IssueDraft))
    queue = client.get("/app/approvals", headers=APPROVER).get_data(as_text=True)
    assert "Invoice totals off by one cent on PDF export" in queue and "Waiting for your approval" in queue
    assert "Waiting for your approval" not in client.get("/app/approvals", headers=CSM).get_data(as_text=True)
    own = client.get(f"/app/approvals/{draft.id}", headers=CSM).get_data(as_text=True)
    assert "Approve" not in own  # never one's own draft
    no_reason = client.post(f"/app/approvals/{draft.id}/reject", headers=APPROVER, data={})
    assert no_reason.status_code == 400 and "needs a reason" in no_reason.get_data(as_text=True)
    before = len(jira.state.issues)
    approved = client.post(f"/app/approvals/{draft.id}/approve", headers=APPROVER, data={"comment": "go"})
    html = approved.get_data(as_text=True)
    assert approved.status_code == 200 and "Created in Jira as" in html
    assert len(jira.state.issues) == before + 1


def test_another_workspace_cannot_see_or_decide_a_draft(client, world):  # noqa: F811
    client.post("/app/issues/new", headers=CSM, data=form(world))
    draft = db.session.scalar(select(IssueDraft))
    stranger = {"Authorization": f"Bearer {token_for('ws-else', 'approver', 'eve')}", "HX-Request": "true"}
    assert client.get(f"/app/approvals/{draft.id}", headers=stranger).status_code == 404
    assert client.post(f"/app/approvals/{draft.id}/approve", headers=stranger, data={}).status_code == 404
    assert client.get(f"/app/issues/new?customer={world['acme'].id}", headers=stranger).status_code == 404


def test_link_another_customer_from_the_issue_page(client, world):  # noqa: F811
    from tests.factories import make_customer, make_organization

    globex = make_customer(world["org"], name="Globex", slug="globex")
    stranger = make_customer(make_organization(id="ws-far"), name="Globex Far", slug="globex-far")
    key = db.session.scalar(select(JiraCustomerLink.jira_key).where(JiraCustomerLink.customer_id == world["acme"].id))
    found = client.get(f"/app/issues/{key}/customer-search?q=glo", headers=CSM).get_data(as_text=True)
    assert "Globex" in found and "Globex Far" not in found and "Acme" not in found
    linked = client.post(f"/app/issues/{key}/customers", headers=CSM,
                         data={"customer_id": str(globex.id), "link_type": "watching"})
    assert linked.status_code == 200 and f"Globex is linked to {key}" in linked.get_data(as_text=True)
    assert "customer_globex" in world["site"].state.issues[key]["labels"]
    foreign = client.post(f"/app/issues/{key}/customers", headers=CSM,
                          data={"customer_id": str(stranger.id), "link_type": "watching"})
    assert foreign.status_code == 400
    page_html = client.get(f"/app/issues/{key}", headers=CSM).get_data(as_text=True)
    assert "Globex" in page_html and "Create follow-up" in page_html
    follow_up = page_html.split('href="/app/issues/new?')[1].split('"')[0]
    form_html = client.get(f"/app/issues/new?{follow_up.replace('&amp;', '&')}", headers=CSM).get_data(as_text=True)
    assert f'value="Follow-up to {key}: ' in form_html
