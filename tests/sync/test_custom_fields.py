"""Custom fields by name and who changed what, through the sync against the sandbox (Cloud and Server), the
setting's API, and the issue API, on every database backend."""

from __future__ import annotations

import jsonschema
import pytest
from sqlalchemy import func, select

from connect_app.extensions import db
from connect_app.models import IssueFieldChange, JiraConnection, JiraField, JiraIssue
from connect_app.sync.engine import sync_connection
from jira_sandbox.testing import SandboxServer
from tests.conftest import auth_headers
from tests.factories import make_connection, make_organization
from tests.sync.support import ANCHOR, add_rule, catalog_customers, connect, fast_client, rest

pytestmark = pytest.mark.sandbox

WORKSPACE = "ws-cf"
SETTINGS = "/api/jira/settings/custom-fields"


@pytest.fixture(params=["cloud", "server"])
def site(request):
    with SandboxServer(flavour=request.param, issues=60, seed=7, anchor=ANCHOR, customers=6) as server:
        yield server


@pytest.fixture
def world(app, site):
    """Acme linked by label; Globex by a "Customer ID" custom-field rule; one of Acme's issues to edit."""
    org = make_organization(id=WORKSPACE)
    connection = connect(app, org, site)
    acme, globex = catalog_customers(org, site, 2)
    label = site.state.customer_catalog[0]["label"]
    add_rule(acme, "label", value=label)
    add_rule(globex, "custom_field", field="Customer ID", field_id="customfield_10001",
             value=site.state.customer_catalog[1]["external_id"])
    key = sorted(k for k, i in site.state.issues.items() if label in i["labels"])[0]
    return {"org": org, "connection": connection, "acme": acme, "key": key}


def sync(connection, **kwargs):
    run = sync_connection(connection.id, client=fast_client(connection), **kwargs)
    assert run.status == "ok", run.error
    return run


def admin_ref(site: SandboxServer) -> dict:
    """The sandbox admin as a user-picker value (accountId on Cloud, name on Server)."""
    admin = site.state.users[site.state.admin_id]
    return {"accountId": admin["accountId"]} if site.state.flavour == "cloud" else {"name": admin["name"]}


def detail(client, key: str, role: str = "csm") -> dict:
    response = client.get(f"/api/jira/issue/{key}", headers=auth_headers(WORKSPACE, role))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def validate(client, body: dict, schema: str) -> None:
    spec = client.get("/api/openapi.json").get_json()
    jsonschema.validate(body, {"$ref": f"#/components/schemas/{schema}", "components": spec["components"]})


def test_the_sync_stores_every_custom_field_with_a_value_and_the_api_names_them(client, site, world):
    key = world["key"]
    rest(site, "PUT", f"/issue/{key}", json={"fields": {
        "customfield_10001": "ACME-<1>", "customfield_10002": {"value": "Strategic"}, "customfield_10004": 5,
        "customfield_10003": ["acme", "globex"], "customfield_10006": "2026-02-01",
        "customfield_10007": admin_ref(site)}})
    sync(world["connection"])
    body = detail(client, key)
    validate(client, body, "IssueDetail")
    impact = site.state.issues[key]["customfields"]["customfield_10005"]
    assert body["custom_fields"] == [
        {"id": "customfield_10003", "name": "Affected Customers", "type": "array", "value": "acme, globex"},
        {"id": "customfield_10007", "name": "Customer Contact", "type": "user", "value": "Sandy Admin"},
        {"id": "customfield_10001", "name": "Customer ID", "type": "string", "value": "ACME-<1>"},
        {"id": "customfield_10005", "name": "Customer Impact", "type": "option", "value": impact},
        {"id": "customfield_10002", "name": "Customer Tier", "type": "option", "value": "Strategic"},
        {"id": "customfield_10004", "name": "Story Points", "type": "number", "value": "5"},
        {"id": "customfield_10006", "name": "Target Date", "type": "date", "value": "2026-02-01"},
    ]
    # The catalog is the site's whole GET /field answer, stored per connection.
    answer = rest(site, "GET", "/field").json()
    stored = dict(db.session.execute(select(JiraField.field_id, JiraField.name).where(
        JiraField.connection_id == world["connection"].id)).all())
    assert stored == {f["id"]: f["name"] for f in answer}


def test_the_setting_chooses_fields_names_unknown_ones_and_resyncs_in_full(client, site, world):
    connection, key = world["connection"], world["key"]
    rest(site, "PUT", f"/issue/{key}", json={"fields": {"customfield_10002": {"value": "SMB"},
                                                        "customfield_10004": 3, "customfield_10006": "2026-03-01"}})
    sync(connection)
    admin = auth_headers(WORKSPACE, "admin")
    view = client.get(SETTINGS, headers=auth_headers(WORKSPACE, "csm")).get_json()
    assert view["setting"] == {"mode": "with_value"}
    assert view["connections"][0]["stored"] is None and view["connections"][0]["catalog_known"] is True
    assert view["connections"][0]["rule_fields"] == [{"id": "customfield_10001", "name": "Customer ID",
                                                      "type": "string"}]

    assert client.put(SETTINGS, json={"mode": "with_value"}, headers=auth_headers(WORKSPACE, "csm")).status_code == 403
    assert client.put(SETTINGS, json=["Customer Tier"], headers=admin).get_json()["error"]["code"] == "invalid_body"
    unknown = client.put(SETTINGS, json={"mode": "selected", "fields": ["Customer Tier", "Renewal <Risk>",
                                                                         "customfield_99999"]}, headers=admin)
    assert unknown.status_code == 422
    error = unknown.get_json()["error"]
    assert error["code"] == "unknown_fields" and "Renewal <Risk>" in error["message"]
    assert "customfield_99999" in error["message"] and set(error["details"]) == {"Renewal <Risk>", "customfield_99999"}
    invalid = client.put(SETTINGS, json={"mode": "sometimes"}, headers=admin)
    assert invalid.status_code == 422 and set(invalid.get_json()["error"]["details"]) == {"mode"}
    assert client.get(SETTINGS, headers=admin).get_json()["setting"] == {"mode": "with_value"}  # nothing saved

    chosen = client.put(SETTINGS, json={"mode": "selected", "fields": ["customer tier", "customfield_10004"]},
                        headers=admin)
    assert chosen.status_code == 200
    view = chosen.get_json()
    validate(client, view, "CustomFieldSettingView")
    assert view["setting"] == {"mode": "selected", "fields": ["customer tier", "customfield_10004"]}
    assert view["connections"][0]["stored"] == [
        {"id": "customfield_10002", "name": "Customer Tier", "type": "option"},
        {"id": "customfield_10004", "name": "Story Points", "type": "number"}]
    assert view["full_sync_scheduled"] == [str(connection.id)]
    db.session.expire_all()
    assert db.session.get(JiraConnection, connection.id).sync_watermark is None

    run = sync(db.session.get(JiraConnection, connection.id))
    assert run.mode == "full"
    kept = set().union(*(i.custom_fields for i in db.session.scalars(select(JiraIssue).where(
        JiraIssue.connection_id == connection.id))))
    assert kept <= {"customfield_10002", "customfield_10004", "customfield_10001"}  # + the rule's field
    named = {f["name"] for f in detail(client, key)["custom_fields"]}
    assert named - {"Customer ID"} == {"Customer Tier", "Story Points"}  # no Target Date, no Customer Impact

    back = client.put(SETTINGS, json={"mode": "with_value"}, headers=admin)
    assert back.status_code == 200 and back.get_json()["setting"] == {"mode": "with_value"}
    sync(db.session.get(JiraConnection, connection.id))
    assert "Target Date" in [f["name"] for f in detail(client, key)["custom_fields"]]


def test_history_comes_with_the_sync_newest_first_and_is_stored_once(client, site, world):
    connection, key = world["connection"], world["key"]
    sync(connection)
    seeded = sum(len(h["items"]) for h in site.state.issues[key]["changelog"])
    assert detail(client, key)["history"]["total"] == seeded  # the changelog the search expanded
    before = site.state.issues[key]["customfields"].get("customfield_10002")
    rest(site, "PUT", f"/issue/{key}", json={"fields": {"customfield_10002": {"value": "Strategic"},
                                                        "priority": {"name": "Highest"}}})
    transitions = rest(site, "GET", f"/issue/{key}/transitions").json()["transitions"]
    rest(site, "POST", f"/issue/{key}/transitions", json={"transition": {"id": transitions[0]["id"]}})
    run = sync(connection)
    assert run.mode == "incremental"
    history = detail(client, key, role="pm")["history"]
    validate(client, history, "IssueHistory")
    changelog = site.state.issues[key]["changelog"]
    assert history["total"] == sum(len(h["items"]) for h in changelog) >= seeded + 3
    moved = len(changelog[-1]["items"])  # the transition (and its resolution), newest; then the edit's two
    assert ("Status", transitions[0]["to"]["name"]) in {(c["field"], c["to"]) for c in history["changes"][:moved]}
    edited = history["changes"][moved:moved + 2]
    assert {(c["field"], c["from"], c["to"]) for c in edited} >= {("Customer Tier", before, "Strategic")}
    assert "Priority" in {c["field"] for c in edited}
    assert {c["author"] for c in history["changes"][:moved + 2]} == {"Sandy Admin"}
    assert [c["at"] for c in history["changes"]] == sorted((c["at"] for c in history["changes"]), reverse=True)

    rows = db.session.scalar(select(func.count()).select_from(IssueFieldChange).where(
        IssueFieldChange.connection_id == connection.id))
    sync(connection, full=True)
    sync(connection)
    assert db.session.scalar(select(func.count()).select_from(IssueFieldChange).where(
        IssueFieldChange.connection_id == connection.id)) == rows


def test_named_fields_need_a_readable_site(app, client):
    org = make_organization(id=WORKSPACE)
    app.config["ALLOW_PRIVATE_JIRA_URLS"] = True
    make_connection(org, kind="server", deployment="server", base_url="http://127.0.0.1:9", client_key=None,
                    shared_secret=None, api_token="pat")  # nothing listens on port 9: GET /field fails
    down = client.put(SETTINGS, json={"fields": ["Customer Tier"]}, headers=auth_headers(WORKSPACE))
    assert down.status_code == 502 and down.get_json()["error"]["code"] == "jira_unavailable"
    assert client.put(SETTINGS, json={"mode": "with_value"}, headers=auth_headers(WORKSPACE)).status_code == 200
