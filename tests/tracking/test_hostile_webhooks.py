"""Signed webhooks carrying what PostgreSQL cannot store: kept and processed with cleaned values, or refused
with a 400 (which Jira does not retry), never a 500 nor a delivery retried into `dead`.

The deliveries are signed as Jira Server/DC signs them (an HMAC of the raw body), so the body the test
writes is exactly the body the service verifies, stores and processes, on every database backend.
"""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select
from werkzeug.wrappers import Response

from connect_app.atlassian.webhook_auth import hub_signature
from connect_app.extensions import db
from connect_app.models import JiraCustomerLink, JiraIssue, LinkingRule, WebhookDelivery
from tests.factories import make_connection, make_customer, make_organization
from tests.serving import ThreadedServer
from tests.tracking.support import wait_for

PATH = "/api/integrations/jira/webhook"
SECRET = "hostile-webhook-secret-0123456789"


@pytest.fixture
def site(app):
    """A Server/DC connection (its Jira answers 400 to anything, so nothing waits on it) with a label rule."""
    with ThreadedServer(Response('{"errorMessages": ["no"]}', status=400)) as jira:
        organization = make_organization()
        connection = make_connection(organization, kind="server", client_key=None, webhook_secret=SECRET,
                                     base_url=jira.base_url)
        customer = make_customer(organization, name="Acme")
        db.session.add(LinkingRule(organization_id=organization.id, customer_id=customer.id, strategy="label",
                                   value="customer_acme", link_type="affected"))
        db.session.commit()
        yield connection.id
        pool = app.extensions.get("cscx_background")
        if pool is not None:
            pool.shutdown(wait=True)


def issue_body(summary: str = '"Crash"', custom: str = "1", timestamp: str = "1700000000000",
               issue_id: str = '"10001"', labels: str = '["customer_acme"]') -> bytes:
    """A full jira:issue_updated body, each hostile part spliced in as raw JSON text."""
    return ('{"webhookEvent": "jira:issue_updated", "timestamp": ' + timestamp + ', "issue": {"id": ' + issue_id
            + ', "key": "CS-1", "fields": {"summary": ' + summary + ', "labels": ' + labels + ', '
            + '"status": {"id": "1", "name": "To Do", "statusCategory": {"key": "new"}}, '
            + '"updated": "2026-11-30T10:00:00.000+0000", "created": "2026-11-30T09:00:00.000+0000", '
            + '"project": {"key": "CS"}, "issuetype": {"name": "Bug"}, "priority": {"name": "High"}, '
            + '"customfield_10050": ' + custom + '}}, "changelog": {"id": "500", "items": [{"field": "summary", '
            + '"fromString": ' + summary + ', "toString": ' + summary + '}]}}').encode("utf-8", "surrogatepass")


def deliver(client, connection_id, body: bytes, identifier: str):
    """POST a delivery signed with the connection's secret."""
    return client.post(f"{PATH}?connection={connection_id}", data=body, headers={
        "X-Hub-Signature": hub_signature(SECRET, body), "X-Atlassian-Webhook-Identifier": identifier,
        "Content-Type": "application/json"})


def processed(delivery_id: str) -> WebhookDelivery:
    """The inbox row once its job has run (done, or failed/dead)."""
    def finished():
        db.session.remove()
        row = db.session.get(WebhookDelivery, uuid.UUID(delivery_id))
        return row if row is not None and row.status not in ("pending", "processing") else None
    return wait_for(finished, 30, "the delivery to be processed")


def issue_row() -> JiraIssue:
    db.session.remove()
    return db.session.scalar(select(JiraIssue).where(JiraIssue.jira_key == "CS-1"))


# summary / custom field value as raw JSON -> the summary stored, the custom field kept in the payload
STORED = {
    "nul": ('"Crash on \\u0000 input"', "1", "Crash on \ufffd input", 1),
    "lone surrogate": ('"Broken \\ud800 emoji"', "1", "Broken \ufffd emoji", 1),
    "reversed surrogates": ('"\\udc00\\ud800"', "1", "\ufffd\ufffd", 1),
    "number beyond float": ('"Big"', "1e400", "Big", None),
    "integer beyond 64 bits": ('"Big"', "100000000000000000000", "Big", None),
    "NaN": ('"NaN"', "NaN", "NaN", None),
    "Infinity": ('"Inf"', "-Infinity", "Inf", None),
}


@pytest.mark.parametrize("case", list(STORED))
def test_a_hostile_value_is_stored_as_received_and_processed_clean(client, site, case):
    summary, custom, expected_summary, expected_custom = STORED[case]
    body = issue_body(summary=summary, custom=custom, labels='["customer_acme", "odd\\u0000label"]')
    response = deliver(client, site, body, f"wh-{case}")
    assert response.status_code == 202, response.get_json()
    row = processed(response.get_json()["id"])
    assert (row.status, row.last_error) == ("done", None)
    # What Jira signed is kept byte for byte; what is processed is the storable copy.
    assert row.raw_body == body
    assert row.payload["issue"]["fields"]["summary"] == expected_summary
    assert row.payload["issue"]["fields"]["customfield_10050"] == expected_custom
    issue = issue_row()
    assert issue.summary == expected_summary
    assert issue.labels == ["customer_acme", "odd\ufffdlabel"]
    # Processing went all the way: the label rule linked the customer.
    assert db.session.scalar(select(JiraCustomerLink.customer_id).where(JiraCustomerLink.issue_id == issue.id))
    # Jira's retry of the same delivery is a duplicate, not a second row or an error.
    again = deliver(client, site, body, f"wh-{case}")
    assert again.status_code == 200 and again.get_json()["status"] == "duplicate"


def test_an_ordinary_delivery_keeps_no_second_copy(client, site):
    response = deliver(client, site, issue_body(), "wh-plain")
    row = processed(response.get_json()["id"])
    assert row.status == "done" and row.raw_body is None
    assert issue_row().summary == "Crash"


REFUSED = {
    "timestamp beyond year 9999": (issue_body(timestamp="100000000000000000000"),
                                   "timestamp must be milliseconds since the epoch"),
    "timestamp 1e400": (issue_body(timestamp="1e400"), "timestamp must be milliseconds since the epoch"),
    "timestamp NaN": (issue_body(timestamp="NaN"), "timestamp must be milliseconds since the epoch"),
    "issue id an object": (issue_body(issue_id='{"obj": 1}'), "issue.id must be Jira's numeric issue id"),
    "issue id a list": (issue_body(issue_id='["10001"]'), "issue.id must be Jira's numeric issue id"),
    "issue id true": (issue_body(issue_id="true"), "issue.id must be Jira's numeric issue id"),
    "issue id not numeric": (issue_body(issue_id='"10001; DROP"'), "issue.id must be Jira's numeric issue id"),
    "changelog items not objects": (b'{"webhookEvent": "jira:issue_updated", "issue": {"id": "1", "key": "CS-1"}, '
                                    b'"changelog": {"id": "1", "items": ["status"]}}',
                                    "changelog.items must be a list of objects"),
    "100,000 brackets": (b"[" * 100_000, "the document nests deeper than 64 levels"),
    "nested 100 deep": (b'{"webhookEvent": "jira:issue_updated", "x": ' + b"[" * 100 + b"]" * 100 + b"}",
                        "the document nests deeper than 64 levels"),
    "not UTF-8": (b'{"webhookEvent": "\xff"}', "the body is not valid JSON"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_delivery_no_processing_could_use_is_refused_at_receipt(client, site, case):
    body, message = REFUSED[case]
    response = deliver(client, site, body, f"wh-{case}")
    assert response.status_code == 400
    assert response.get_json()["error"] == {"code": "malformed_webhook", "message": message}
    db.session.remove()
    assert db.session.scalar(select(WebhookDelivery.id)) is None


def test_a_nul_in_the_identifier_header_is_stored_cleaned(client, site):
    body = issue_body()
    response = client.post(f"{PATH}?connection={site}", data=body, headers={
        "X-Hub-Signature": hub_signature(SECRET, body), "X-Atlassian-Webhook-Identifier": "wh-\x00-1"})
    assert response.status_code == 202
    row = processed(response.get_json()["id"])
    assert row.delivery_id == "wh-\ufffd-1" and row.status == "done"
    assert json.loads(json.dumps(row.payload)) == row.payload
