"""The issues, linking and sync-status API over the sandbox: filters, detail, refresh, rules, scoping, OpenAPI."""

from __future__ import annotations

import jsonschema
import pytest
from sqlalchemy import select

from connect_app.extensions import db
from connect_app.models import JiraCustomerLink, JiraIssue, LinkingRule
from connect_app.sync.engine import sync_connection
from jira_sandbox.testing import SandboxServer
from tests.conftest import auth_headers
from tests.factories import make_customer, make_organization
from tests.sync.support import ANCHOR, add_rule, catalog_customers, connect, fast_client, rest

pytestmark = pytest.mark.sandbox


@pytest.fixture(params=["cloud", "server"])
def site(request):
    with SandboxServer(flavour=request.param, issues=120, seed=21, anchor=ANCHOR, customers=10) as server:
        yield server


@pytest.fixture
def synced(app, site):
    """Workspace ws-a: Acme (label rule) synced from the site."""
    org = make_organization(id="ws-a")
    connection = connect(app, org, site)
    (acme,) = catalog_customers(org, site, 1)
    add_rule(acme, "label", value=site.state.customer_catalog[0]["label"])
    add_rule(acme, "component", value="Billing", link_type="watching", position=1)
    sync_connection(connection.id, client=fast_client(connection))
    return {"org": org, "connection": connection, "acme": acme}


def validate(spec: dict, schema_name: str, body: dict) -> None:
    """Check a response body against a schema of our OpenAPI document."""
    jsonschema.validate(body, {"$ref": f"#/components/schemas/{schema_name}", "components": spec["components"]})


def test_customer_issues_filters_sorting_paging(client, synced):
    acme = synced["acme"]
    url = f"/api/jira/issues/{acme.id}"
    spec = client.get("/api/openapi.json").get_json()
    everything = client.get(url, query_string={"limit": 200}, headers=auth_headers("ws-a", "csm")).get_json()
    validate(spec, "CustomerIssues", everything)
    stored = db.session.scalars(select(JiraCustomerLink).where(JiraCustomerLink.customer_id == acme.id)).all()
    assert everything["total"] == len(stored) > 5
    updated = [i["updated_at"] for i in everything["issues"]]
    assert updated == sorted(updated, reverse=True)

    open_only = client.get(url, query_string={"open": "1", "limit": 200}, headers=auth_headers("ws-a")).get_json()
    assert open_only["total"] == sum(1 for i in everything["issues"] if i["status_category"] != "done")
    done = client.get(url, query_string={"status_category": "done"}, headers=auth_headers("ws-a")).get_json()
    assert done["total"] + open_only["total"] == everything["total"]
    watching = client.get(url, query_string={"link_type": "watching"}, headers=auth_headers("ws-a")).get_json()
    assert {i["link"]["link_type"] for i in watching["issues"]} <= {"watching"}
    bugs = client.get(url, query_string={"type": "Bug,Story"}, headers=auth_headers("ws-a")).get_json()
    assert {i["issue_type"] for i in bugs["issues"]} <= {"Bug", "Story"}
    high = client.get(url, query_string={"priority": "High", "limit": 200}, headers=auth_headers("ws-a")).get_json()
    assert high["total"] == sum(1 for i in everything["issues"] if i["priority"] == "High")

    by_key = client.get(url, query_string={"sort": "key", "limit": 3, "offset": 2}, headers=auth_headers("ws-a"))
    keys = sorted(i["key"] for i in everything["issues"])
    assert [i["key"] for i in by_key.get_json()["issues"]] == keys[2:5]
    bad = client.get(url, query_string={"sort": "colour"}, headers=auth_headers("ws-a"))
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "invalid_parameter"


def test_issue_detail_with_timeline_and_customers(client, synced, site):
    spec = client.get("/api/openapi.json").get_json()
    issue = db.session.scalars(select(JiraIssue).join(JiraCustomerLink).where(
        JiraCustomerLink.customer_id == synced["acme"].id)).all()
    moved = next(i for i in issue if site.state.issues[i.jira_key]["changelog"])
    body = client.get(f"/api/jira/issue/{moved.jira_key}", headers=auth_headers("ws-a", "pm")).get_json()
    validate(spec, "IssueDetail", body)
    history = site.state.issues[moved.jira_key]["changelog"]
    assert [t["status"] for t in body["status_timeline"]][1:] == [h["items"][0]["toString"] for h in history]
    assert body["status_timeline"][-1]["status"] == moved.status and body["status_timeline"][-1]["to"] is None
    assert sum(body["time_in_status"].values()) > 0
    assert [c["slug"] for c in body["customers"]] == [synced["acme"].slug]
    assert client.get("/api/jira/issue/NOPE-1", headers=auth_headers("ws-a")).status_code == 404


def test_every_query_is_scoped_to_the_workspace(client, synced):
    acme = synced["acme"]
    key = db.session.scalar(select(JiraCustomerLink.jira_key).where(JiraCustomerLink.customer_id == acme.id))
    other = auth_headers("ws-b", "admin")
    assert client.get(f"/api/jira/issues/{acme.id}", headers=other).status_code == 404
    assert client.get(f"/api/jira/issue/{key}", headers=other).status_code == 404
    assert client.get(f"/api/jira/linking/{acme.id}", headers=other).status_code == 404
    assert client.put(f"/api/jira/linking/{acme.id}", json={"rules": []}, headers=other).status_code == 404
    assert client.get("/api/jira/sync-status", headers=other).get_json() == {"connections": []}
    assert client.get(f"/api/jira/issues/{acme.id}").status_code == 401
    mine = client.get("/api/jira/sync-status", headers=auth_headers("ws-a")).get_json()["connections"]
    assert mine[0]["last_run"]["status"] == "ok" and mine[0]["next_run"]


def test_refresh_syncs_the_customer_first(client, synced, site):
    label = site.state.customer_catalog[0]["label"]
    created = rest(site, "POST", "/issue", json={"fields": {
        "project": {"key": "CS"}, "issuetype": {"name": "Bug"}, "summary": "Just reported", "labels": [label]}})
    url = f"/api/jira/issues/{synced['acme'].id}"
    stale = client.get(url, query_string={"limit": 200}, headers=auth_headers("ws-a")).get_json()
    assert created.json()["key"] not in {i["key"] for i in stale["issues"]}
    fresh = client.get(url, query_string={"limit": 200, "refresh": "1"}, headers=auth_headers("ws-a")).get_json()
    assert created.json()["key"] in {i["key"] for i in fresh["issues"]}
    assert fresh["refreshed"]["issues"] >= 1


def test_put_linking_rejects_invalid_jql_and_changes_nothing(client, synced):
    acme = synced["acme"]
    before = [r.id for r in db.session.scalars(select(LinkingRule).where(LinkingRule.customer_id == acme.id))]
    response = client.put(f"/api/jira/linking/{acme.id}", headers=auth_headers("ws-a"), json={"rules": [
        {"strategy": "label"}, {"strategy": "jql", "jql": "project = = CS"}]})
    body = response.get_json()
    assert response.status_code == 400 and body["error"]["code"] == "invalid_rules"
    assert body["error"]["details"][0]["rule"] == 1 and "Jira rejected the JQL" in body["error"]["details"][0]["error"]
    db.session.expire_all()
    assert [r.id for r in db.session.scalars(select(LinkingRule).where(LinkingRule.customer_id == acme.id))] == before
    assert client.put(f"/api/jira/linking/{acme.id}", headers=auth_headers("ws-a", "pm"),
                      json={"rules": []}).status_code == 403


def test_put_linking_previews_and_applies(client, synced, site):
    acme = synced["acme"]
    catalog = site.state.customer_catalog
    expected = {k for k, i in site.state.issues.items() if i["customfields"].get("customfield_10001")
                == catalog[0]["external_id"] or (i["project"] == "SUP" and i["priority"] == "Highest")}
    rules = [{"strategy": "custom_field", "field": "Customer ID"},
             {"strategy": "jql", "jql": "project = SUP AND priority = Highest", "link_type": "requested"}]
    dry = client.put(f"/api/jira/linking/{acme.id}", query_string={"dry_run": "1"}, headers=auth_headers("ws-a"),
                     json={"rules": rules}).get_json()
    assert dry["applied"] is False and dry["preview"]["total"] == len(expected)
    response = client.put(f"/api/jira/linking/{acme.id}", headers=auth_headers("ws-a"), json={"rules": rules})
    body = response.get_json()
    assert response.status_code == 200 and body["applied"] is True
    jsonschema.validate(body, {"$ref": "#/components/schemas/LinkingResult",
                               "components": client.get("/api/openapi.json").get_json()["components"]})
    assert body["preview"]["total"] == len(expected)
    assert {s["key"] for s in body["preview"]["connections"][0]["sample"]} <= expected
    assert body["rules"][0]["field_id"] == "customfield_10001"
    assert body["rules"][0]["value"] == catalog[0]["external_id"]
    listed = client.get(f"/api/jira/issues/{acme.id}", query_string={"limit": 200},
                        headers=auth_headers("ws-a")).get_json()
    assert {i["key"] for i in listed["issues"]} == expected
    assert client.get(f"/api/jira/linking/{acme.id}", headers=auth_headers("ws-a")).get_json()["rules"][1][
        "jql"] == "project = SUP AND priority = Highest"


def test_a_hostile_customer_name_cannot_change_the_query(client, synced, site):
    hostile = make_customer(synced["org"], name='Acme "Corp" OR 1=1', slug="acme-corp-or-1-1")
    response = client.put(f"/api/jira/linking/{hostile.id}", headers=auth_headers("ws-a"), json={"rules": [
        {"strategy": "label", "value": hostile.name}, {"strategy": "component", "value": 'x") OR project = CS OR ("'}]})
    body = response.get_json()
    assert response.status_code == 200, body
    preview = body["preview"]["connections"][0]
    # Quoted and escaped: the values stay two literals, so nothing matches (unescaped, every CS issue would).
    assert preview["jql"] == ('component in ("x\\") OR project = CS OR (\\"") OR '
                              'labels in ("Acme \\"Corp\\" OR 1=1")')
    assert preview["count"] == 0 and preview["sample"] == []
    assert db.session.scalars(select(JiraCustomerLink).where(JiraCustomerLink.customer_id == hostile.id)).all() == []


def test_openapi_document_describes_the_endpoints(client):
    spec = client.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert {"/api/jira/issues/{customer_id}", "/api/jira/issue/{key}", "/api/jira/linking/{customer_id}",
            "/api/jira/sync-status"} <= set(spec["paths"])


def test_an_issue_linked_to_no_customer_is_fetched_on_demand(client, synced, site):
    linked = set(db.session.scalars(select(JiraIssue.jira_key)))
    unlinked = next(key for key in sorted(site.state.issues) if key not in linked)
    spec = client.get("/api/openapi.json").get_json()
    response = client.get(f"/api/jira/issue/{unlinked.lower()}", headers=auth_headers("ws-a", "csm"))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    validate(spec, "IssueDetail", body)
    assert body["key"] == unlinked and body["summary"] == site.state.issues[unlinked]["summary"]
    assert body["customers"] == []
    stored = db.session.scalar(select(JiraIssue).where(JiraIssue.jira_key == unlinked))
    assert stored is not None  # kept: the next question is answered from the database
    assert client.get(f"/api/jira/issue/{unlinked}", headers=auth_headers("ws-b", "admin")).status_code == 404


def test_refresh_reads_the_issue_again_and_bad_keys_are_refused(client, synced, site):
    key = db.session.scalar(select(JiraIssue.jira_key).order_by(JiraIssue.jira_key))
    rest(site, "PUT", f"/issue/{key}", json={"fields": {"summary": "Renamed in Jira just now"}})
    stale = client.get(f"/api/jira/issue/{key}", headers=auth_headers("ws-a")).get_json()
    assert stale["summary"] != "Renamed in Jira just now"
    fresh = client.get(f"/api/jira/issue/{key}?refresh=1", headers=auth_headers("ws-a")).get_json()
    assert fresh.get("summary"), fresh
    assert fresh["summary"] == "Renamed in Jira just now"
    for bad in ("not-a-key", "CS-0", "1CS-2", "CS-1%20OR%201=1"):
        response = client.get(f"/api/jira/issue/{bad}", headers=auth_headers("ws-a"))
        assert response.status_code == 400, bad
    assert client.get(f"/api/jira/issue/{key}?refresh=maybe", headers=auth_headers("ws-a")).status_code == 400
