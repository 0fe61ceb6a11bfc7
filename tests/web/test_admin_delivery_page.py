"""The delivery admin page: opened with an admin service token, scoped to its workspace, Retry via htmx."""

from __future__ import annotations

import itertools
import uuid

import pytest

from connect_app.api.auth import mint_service_token
from connect_app.extensions import db
from connect_app.models import OutboxMessage, WebhookDelivery
from tests.conftest import auth_headers, token_for
from tests.factories import make_connection, make_organization
from tests.serving import ThreadedServer

PAGE = "/admin/delivery"
_keys = itertools.count(1)


def make_message(organization, **overrides) -> OutboxMessage:
    """An outbox message of organization (dead by default)."""
    n = next(_keys)
    values = {"organization_id": organization.id, "topic": "jira.issue.resolved", "idempotency_key": f"page-{n}",
              "payload": {"key": f"CS-{n}"}, "status": "dead", "attempts": 7, "last_error": "HTTP 500"} | overrides
    message = OutboxMessage(**values)
    db.session.add(message)
    db.session.commit()
    return message


def make_delivery(connection, **overrides) -> WebhookDelivery:
    """A webhook inbox row of connection (dead by default)."""
    n = next(_keys)
    values = {"connection_id": connection.id, "delivery_id": f"page-d-{n}", "event_type": "jira:issue_updated",
              "jira_key": f"CS-{n}", "payload": {"webhookEvent": "jira:issue_updated"}, "status": "dead",
              "attempts": 12, "last_error": "boom"} | overrides
    delivery = WebhookDelivery(**values)
    db.session.add(delivery)
    db.session.commit()
    return delivery


def open_page(client, workspace="ws-a", role="admin"):
    return client.get(PAGE, query_string={"token": token_for(workspace, role)})


def test_missing_or_bad_token_is_a_401_page(client):
    forged = mint_service_token("a-secret-that-is-not-ours-32-bytes", workspace="ws-a", role="admin", user="u-1")
    for query in ({}, {"token": "not-a-jwt"}, {"token": forged}, {"token": token_for("ws-a", ttl=-120)}):
        response = client.get(PAGE, query_string=query)
        assert response.status_code == 401, query
        assert response.mimetype == "text/html"
        assert '<meta name="referrer" content="no-referrer">' in response.text


def test_a_non_admin_gets_a_403_page(client):
    response = open_page(client, role="csm")
    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert "admin role" in response.text


def test_admin_sees_only_its_workspace_with_errors_escaped(app, client):
    mine, theirs = make_organization(id="ws-a"), make_organization(id="ws-b")
    make_message(mine, topic="customer.context", last_error="<script>x</script>")
    make_message(mine, topic="jira.issue.created", status="pending", attempts=1)
    make_message(mine, topic="jira.issue.done", status="delivered")
    make_message(theirs, topic="theirs.topic")
    make_delivery(make_connection(mine), jira_key="MINE-1", last_error="<b>bad</b>")
    make_delivery(make_connection(theirs), jira_key="THEIRS-1")

    response = open_page(client)
    body = response.text

    assert response.status_code == 200
    assert "customer.context" in body and "jira.issue.created" in body
    assert "jira.issue.done" not in body  # delivered messages are counted, not listed
    assert "theirs.topic" not in body and "THEIRS-1" not in body
    assert "MINE-1" in body
    assert "<script>x</script>" not in body and "&lt;script&gt;x&lt;/script&gt;" in body
    assert "<b>bad</b>" not in body
    assert '<li class="count-dead"><strong>1</strong>dead</li>' in body


def test_the_token_goes_to_htmx_in_a_header_only(client):
    token = token_for("ws-a")
    response = client.get(PAGE, query_string={"token": token})

    assert '<meta name="referrer" content="no-referrer">' in response.text
    assert f"Bearer {token}" in response.text  # in hx-headers
    assert "token=" not in response.text  # no later URL carries it
    assert "Set-Cookie" not in response.headers
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"


def test_retry_moves_a_dead_message_back_to_pending(client):
    message = make_message(make_organization(id="ws-a"))

    response = client.post(f"{PAGE}/outbox/{message.id}/retry", headers=auth_headers("ws-a"))

    assert response.status_code == 200
    assert "Message re-queued." in response.text
    db.session.expire_all()
    stored = db.session.get(OutboxMessage, message.id)
    assert (stored.status, stored.attempts, stored.last_error) == ("pending", 0, None)


def test_retry_of_another_workspaces_message_is_a_404(client):
    make_organization(id="ws-a")
    message = make_message(make_organization(id="ws-b"))

    response = client.post(f"{PAGE}/outbox/{message.id}/retry", headers=auth_headers("ws-a"))

    assert response.status_code == 404
    assert response.headers["HX-Retarget"] == "#delivery-alert"
    db.session.expire_all()
    assert db.session.get(OutboxMessage, message.id).status == "dead"
    assert client.post(f"{PAGE}/outbox/{uuid.uuid4()}/retry", headers=auth_headers("ws-a")).status_code == 404
    assert client.post(f"{PAGE}/outbox/not-a-uuid/retry", headers=auth_headers("ws-a")).status_code == 404


def test_retry_needs_an_admin_bearer_token(client):
    message = make_message(make_organization(id="ws-a"))
    url = f"{PAGE}/outbox/{message.id}/retry"

    assert client.post(url).status_code == 401
    assert client.post(url, query_string={"token": token_for("ws-a")}).status_code == 401  # only the header counts
    assert client.post(url, headers=auth_headers("ws-a", role="csm")).status_code == 403
    db.session.expire_all()
    assert db.session.get(OutboxMessage, message.id).status == "dead"


def test_retry_of_a_pending_message_is_a_409(client):
    message = make_message(make_organization(id="ws-a"), status="pending")

    response = client.post(f"{PAGE}/outbox/{message.id}/retry", headers=auth_headers("ws-a"))

    assert response.status_code == 409
    assert "only a dead message" in response.text


def test_retry_reruns_a_dead_webhook_delivery_of_the_workspace_only(app, client):
    mine, theirs = make_organization(id="ws-a"), make_organization(id="ws-b")
    delivery = make_delivery(make_connection(mine))
    foreign = make_delivery(make_connection(theirs))

    refused = client.post(f"{PAGE}/webhooks/{foreign.id}/retry", headers=auth_headers("ws-a"))
    response = client.post(f"{PAGE}/webhooks/{delivery.id}/retry", headers=auth_headers("ws-a"))

    assert refused.status_code == 404
    assert response.status_code == 200 and "Delivery re-run." in response.text
    db.session.expire_all()
    assert db.session.get(WebhookDelivery, foreign.id).status == "dead"
    # Re-queued; the background job may already have run it again.
    assert db.session.get(WebhookDelivery, delivery.id).status != "dead"


def test_refresh_renders_the_overview(client):
    make_message(make_organization(id="ws-a"), topic="customer.context")

    response = client.get(f"{PAGE}/overview", headers=auth_headers("ws-a"))

    assert response.status_code == 200
    assert "customer.context" in response.text
    assert "<html" not in response.text  # a partial, not a page


@pytest.mark.browser
def test_retry_in_a_browser_and_the_token_leaves_the_address_bar(app):
    from playwright.sync_api import sync_playwright

    from tests.browser.test_panel_browser import CHROMIUM, CHROMIUM_ARGS

    message = make_message(make_organization(id="ws-a"), topic="customer.context")
    with ThreadedServer(app) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page()
        page.goto(f"{server.base_url}{PAGE}?token={token_for('ws-a')}")
        assert "token" not in page.url
        page.get_by_role("button", name="Retry customer.context").click()
        page.locator("#delivery-alert .alert-ok").wait_for()
        assert page.locator(".outbox-messages .badge").all_inner_texts() == ["pending"]
        # A refused retry (no longer dead) shows its reason in the alert slot, keeping the table.
        page.evaluate(f"htmx.ajax('POST', '{PAGE}/outbox/{message.id}/retry', "
                      "{target: '#delivery-overview', source: 'main'})")
        page.locator("#delivery-alert .alert-error", has_text="only a dead message").wait_for()
        assert page.locator(".outbox-messages").count() == 1
        browser.close()
    db.session.expire_all()
    assert db.session.get(OutboxMessage, message.id).status == "pending"
