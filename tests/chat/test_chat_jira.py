"""The chat against the sandbox Jira (Cloud and Server/DC): a key not synced yet is fetched on demand, and
the draft form a chat answers is what POST /api/jira/issues takes, as it stands."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from connect_app.api.openapi import load_spec
from connect_app.creation import meta
from connect_app.extensions import db
from connect_app.models import IssueDraft, JiraIssue
from jira_sandbox.testing import SandboxServer
from tests.chat.support import PATH, headers, say
from tests.factories import make_customer, make_organization
from tests.sync.support import add_rule, connect
from tests.test_openapi import check_response

pytestmark = pytest.mark.sandbox

WS = "ws-chat"


@pytest.fixture(params=["cloud", "server"])
def jira(request):
    with SandboxServer(flavour=request.param, issues=0, seed=5) as server:
        yield server


@pytest.fixture
def world(app, jira):
    meta.cache.clear()
    org = make_organization(id=WS)
    connection = connect(app, org, jira)
    acme = make_customer(org, name="Acme Corp", slug="acme", external_id="ACME-1")
    add_rule(acme, "label", value="customer_acme")
    return {"org": org, "connection": connection, "acme": acme}


def test_a_key_not_synced_is_fetched_from_jira_and_linked_by_the_rules(client, world, jira):
    key = jira.state.import_issue({"project": "CS", "issuetype": "Bug", "summary": "Invoices are off by a cent",
                                   "labels": ["customer_acme"], "status": "To Do"})["key"]
    assert db.session.scalar(select(JiraIssue).where(JiraIssue.jira_key == key)) is None
    body = say(client, f"what's the status of {key.lower()}?")
    assert body["intent"] == "issue_status"
    assert body["card"]["issue"]["summary"] == "Invoices are off by a cent"
    assert body["card"]["customers"][0]["name"] == "Acme Corp"
    assert db.session.scalar(select(JiraIssue).where(JiraIssue.jira_key == key)) is not None
    subscribed = say(client, f"alert me when {key} is resolved")
    assert subscribed["card"]["subscriptions"][0]["connection_id"] == str(world["connection"].id)


def test_the_draft_form_is_accepted_by_the_issue_creation_flow_as_it_stands(client, world, jira):
    jira.state.import_issue({"project": "CS", "issuetype": "Bug", "summary": "Earlier bug",
                             "labels": ["customer_acme"]})
    say(client, "status of CS-1")  # fetched on demand: the customer's issues are in CS
    body = say(client, "file a bug for acme corp: export fails on Safari")
    form = body["card"]
    assert form["missing"] == [] and form["draft"]["project_key"] == "CS"
    assert db.session.scalar(select(IssueDraft)) is None
    submitted = client.post(form["submit"]["path"], json=form["draft"], headers=headers())
    assert submitted.status_code == 201, submitted.get_json()
    draft = check_response(load_spec(), "/api/jira/issues", "post", submitted)["draft"]
    assert (draft["status"], draft["summary"], draft["issue_type"], draft["customer_id"]) == (
        "pending_approval", "Export fails on Safari", "Bug", str(world["acme"].id))
    assert client.post(PATH, json={"text": "help"}, headers=headers()).status_code == 200
