"""Impact through the API, on SQLite and PostgreSQL: affected customers, the ranking, issue health, settings."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from connect_app.api.openapi import load_spec
from connect_app.extensions import db
from connect_app.impact import store
from connect_app.models import Customer, IssueImpact, JiraCustomerLink, JiraIssue, OutboxMessage
from connect_app.models.types import utcnow
from tests.conftest import auth_headers
from tests.factories import make_connection, make_customer, make_issue, make_link, make_organization
from tests.test_openapi import check_response

TODAY = utcnow().date()


@pytest.fixture
def spec():
    return load_spec()


def rescore(*issues) -> store.Recomputed:
    outcome = store.recompute([i.id for i in issues])
    db.session.commit()
    return outcome


@pytest.fixture
def workspace(app):
    """ws-a: four customers, five issues on one connection; ws-b: a rich customer of its own."""
    org = make_organization(id="ws-a")
    connection = make_connection(org, display_url="https://acme-eng.atlassian.net")
    acme = make_customer(org, name="Acme Corp", slug="acme", arr=Decimal("900000"), tier="enterprise",
                         health_score=40, renewal_date=TODAY + timedelta(days=20), csm_owner_email="maya@cscx.example")
    globex = make_customer(org, name="Globex", slug="globex", arr=Decimal("150000"), tier="mid_market",
                           health_score=80, renewal_date=TODAY + timedelta(days=365))
    initech = make_customer(org, name="Initech", slug="initech", arr=Decimal("40000"), tier="smb", health_score=70,
                            renewal_date=TODAY + timedelta(days=60))
    hooli = make_customer(org, name="Hooli", slug="hooli", arr=Decimal("400000"), tier="mid_market", health_score=90)
    issues = {
        "login": make_issue(connection, jira_key="CS-1", priority="Highest", summary="Login fails",
                            components=["Auth"]),
        "export": make_issue(connection, jira_key="CS-2", priority="Medium", issue_type="Story", project_key="CS",
                             components=["Reports", "Export"]),
        "typo": make_issue(connection, jira_key="SUP-3", priority="Low", project_key="SUP"),
        "done": make_issue(connection, jira_key="CS-4", priority="Highest", status="Done", status_category="done"),
        "lonely": make_issue(connection, jira_key="CS-5", priority="Highest"),
    }
    make_link(issues["login"], acme)
    make_link(issues["login"], globex, link_type="requested")
    make_link(issues["export"], hooli)
    make_link(issues["export"], initech, link_type="watching")
    make_link(issues["typo"], initech)
    make_link(issues["done"], acme)
    other = make_organization(id="ws-b")
    stranger = make_customer(other, name="Stranger", slug="stranger", arr=Decimal("50000000"), health_score=1)
    # A link to another workspace's customer (never made by the product) must be ignored everywhere.
    make_link(issues["login"], stranger, source="manual")
    rescore(*issues.values())
    return {"org": org, "connection": connection, "issues": issues,
            "customers": {"acme": acme, "globex": globex, "initech": initech, "hooli": hooli}, "stranger": stranger}


def test_affected_customers_of_an_issue(client, workspace, spec):
    response = client.get("/api/jira/affected-customers/CS-1", headers=auth_headers("ws-a", "pm"))
    body = check_response(spec, "/api/jira/affected-customers/{key}", "get", response)
    assert body["issue"] | {"connection_id": None} == {
        "key": "CS-1", "summary": "Login fails", "priority": "Highest", "status": "To Do", "status_category": "new",
        "type": "Bug", "project": "CS", "connection_id": None, "url": "https://acme-eng.atlassian.net/browse/CS-1"}
    assert [(c["name"], c["link_type"], c["source"], c["days_to_renewal"]) for c in body["customers"]] == [
        ("Acme Corp", "affected", "rule", 20), ("Globex", "requested", "rule", 365)]
    assert body["customers"][0]["csm_owner"] == {"id": "u-csm", "email": "maya@cscx.example"}
    assert body["totals"] == {"customers": 2, "arr": 1_050_000.0, "arr_renewing_90d": 900_000.0,
                              "by_tier": {"enterprise": 1, "mid_market": 1},
                              "by_link_type": {"affected": 1, "requested": 1}}
    impact = body["impact"]
    assert impact["score"] == pytest.approx(sum(f["points"] for f in impact["factors"]), abs=1e-9)
    assert impact["severity"] in ("critical", "high") and not impact["resolved"]
    stored = db.session.get(IssueImpact, workspace["issues"]["login"].id)
    assert (stored.score, stored.severity, stored.customers, float(stored.arr)) == (
        impact["score"], impact["severity"], 2, 1_050_000.0)  # the stranger's $50M never counts


def test_affected_customers_errors(client, workspace, spec):
    other = make_connection(workspace["org"])
    make_issue(other, jira_key="CS-1")
    headers = auth_headers("ws-a", "csm")
    ambiguous = client.get("/api/jira/affected-customers/CS-1", headers=headers)
    assert check_response(spec, "/api/jira/affected-customers/{key}", "get", ambiguous)["error"]["code"] == "ambiguous"
    assert ambiguous.status_code == 409
    chosen = client.get(f"/api/jira/affected-customers/CS-1?connection={workspace['connection'].id}", headers=headers)
    assert chosen.status_code == 200 and chosen.get_json()["totals"]["customers"] == 2
    assert client.get("/api/jira/affected-customers/CS-1?connection=nope", headers=headers).status_code == 400
    assert client.get("/api/jira/affected-customers/NOPE-1", headers=headers).status_code == 404
    # Another workspace sees nothing of ws-a.
    assert client.get("/api/jira/affected-customers/CS-2", headers=auth_headers("ws-b")).status_code == 404


def test_resolved_issues_keep_their_customers_and_score_zero(client, workspace):
    body = client.get("/api/jira/affected-customers/CS-4", headers=auth_headers("ws-a")).get_json()
    assert body["totals"]["customers"] == 1
    assert body["impact"]["score"] == 0 and body["impact"]["resolved"] is True


def test_ranking_orders_open_issues_by_impact(client, workspace, spec):
    response = client.get("/api/jira/impact", headers=auth_headers("ws-a", "pm"))
    body = check_response(spec, "/api/jira/impact", "get", response)
    keys = [row["key"] for row in body["issues"]]
    assert keys == ["CS-1", "CS-2", "SUP-3"]  # CS-4 is resolved, CS-5 affects nobody
    assert body["total"] == 3 and [row["rank"] for row in body["issues"]] == [1, 2, 3]
    scores = [row["score"] for row in body["issues"]]
    assert scores == sorted(scores, reverse=True)
    first = body["issues"][0]
    assert first["customers"] == 2 and first["arr_at_risk"] == 1_050_000.0
    assert first["top_factors"][0]["points"] >= first["top_factors"][-1]["points"]


@pytest.mark.parametrize(("query", "keys"), [
    ("project=SUP", ["SUP-3"]), ("type=Story", ["CS-2"]), ("priority=Highest,Low", ["CS-1", "SUP-3"]),
    ("component=Export", ["CS-2"]), ("component=Auth,Reports", ["CS-1", "CS-2"]),
    ("customer_tier=smb", ["CS-2", "SUP-3"]), ("status_category=done", ["CS-4"]),
    ("limit=1&offset=1", ["CS-2"]),
])
def test_ranking_filters(client, workspace, query, keys):
    body = client.get(f"/api/jira/impact?{query}", headers=auth_headers("ws-a")).get_json()
    assert [row["key"] for row in body["issues"]] == keys


def test_ranking_min_severity_and_bad_parameters(client, workspace):
    everything = client.get("/api/jira/impact", headers=auth_headers("ws-a")).get_json()["issues"]
    severe = client.get("/api/jira/impact?min_severity=high", headers=auth_headers("ws-a")).get_json()["issues"]
    assert [r["key"] for r in severe] == [r["key"] for r in everything if r["severity"] in ("critical", "high")]
    for bad in ("min_severity=huge", "status_category=closed", "customer_tier=gold", "limit=0", "format=xml"):
        response = client.get(f"/api/jira/impact?{bad}", headers=auth_headers("ws-a"))
        assert response.status_code == 400, bad
        assert response.get_json()["error"]["code"] == "invalid_parameter"


def test_ranking_ties_are_broken_by_arr_then_key(client, app):
    org = make_organization(id="ws-a")
    connection = make_connection(org)
    big, small = make_customer(org, arr=Decimal("1000")), make_customer(org, arr=Decimal("1000"))
    issues = [make_issue(connection, jira_key=key, priority="Medium") for key in ("CS-9", "CS-10", "CS-11")]
    for issue in issues:
        make_link(issue, big if issue.jira_key != "CS-10" else small)
    rescore(*issues)
    rows = client.get("/api/jira/impact", headers=auth_headers("ws-a")).get_json()["issues"]
    assert len({r["score"] for r in rows}) == 1
    assert [r["key"] for r in rows] == ["CS-10", "CS-11", "CS-9"]


def test_the_csv_export_matches_the_json(client, workspace):
    body = client.get("/api/jira/impact", headers=auth_headers("ws-a")).get_json()
    response = client.get("/api/jira/impact?format=csv", headers=auth_headers("ws-a"))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"] and response.headers["X-Total-Count"] == "3"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["key"] for r in rows] == [r["key"] for r in body["issues"]]
    for row, item in zip(rows, body["issues"], strict=True):
        assert float(row["score"]) == item["score"] and row["severity"] == item["severity"]
        assert int(row["customers"]) == item["customers"] and float(row["arr_at_risk"]) == item["arr_at_risk"]
        assert row["top_factors"] == "; ".join(f"{f['name']} {f['points']}" for f in item["top_factors"])
        assert row["url"] == item["url"] and int(row["rank"]) == item["rank"]


def test_customer_issue_health(client, workspace, spec):
    acme = workspace["customers"]["acme"]
    response = client.get(f"/api/customers/{acme.id}/issue-health", headers=auth_headers("ws-a", "csm"))
    body = check_response(spec, "/api/customers/{customer_id}/issue-health", "get", response)
    assert body["customer"]["name"] == "Acme Corp"
    assert body["load"] == 25.0 and body["score"] == 61.5 and body["label"] == "watch"  # one Highest, new
    assert [i["key"] for i in body["top_issues"]] == ["CS-1"]  # CS-4 is resolved
    hooli = client.get(f"/api/customers/{workspace['customers']['hooli'].id}/issue-health",
                       headers=auth_headers("ws-a")).get_json()
    assert hooli["top_issues"][0]["impact"]["severity"] in ("critical", "high", "medium", "low")
    stranger = workspace["stranger"]
    assert client.get(f"/api/customers/{stranger.id}/issue-health", headers=auth_headers("ws-a")).status_code == 404
    assert client.get("/api/customers/not-a-uuid/issue-health", headers=auth_headers("ws-a")).status_code == 404


def test_settings_are_read_by_anyone_and_changed_by_admins(client, workspace, spec):
    read = client.get("/api/jira/impact/settings", headers=auth_headers("ws-a", "csm"))
    body = check_response(spec, "/api/jira/impact/settings", "get", read)
    assert body["settings"]["weights"]["arr_at_risk"] == 0.3 and body["reference_arr"] > 0
    before = client.get("/api/jira/impact", headers=auth_headers("ws-a")).get_json()["issues"]

    change = {"weights": {"arr_at_risk": 0.0, "arr_renewing_soon": 0.0, "priority": 1.0, "account_health": 0.0,
                          "customer_breadth": 0.0, "link_type": 0.0},
              "bands": {"critical": 90, "high": 70, "medium": 40}}
    denied = client.put("/api/jira/impact/settings", json=change, headers=auth_headers("ws-a", "pm"))
    assert denied.status_code == 403
    response = client.put("/api/jira/impact/settings", json=change, headers=auth_headers("ws-a", "admin"))
    body = check_response(spec, "/api/jira/impact/settings", "put", response)
    assert body["settings"]["weights"]["priority"] == 1.0 and body["settings"]["link_weights"]["watching"] == 0.3
    after = {r["key"]: r for r in client.get("/api/jira/impact", headers=auth_headers("ws-a")).get_json()["issues"]}
    # Priority alone now decides: Highest 100, Medium 50, Low 25; the stored scores were all rewritten.
    assert {k: r["score"] for k, r in after.items()} == {"CS-1": 100.0, "CS-2": 50.0, "SUP-3": 25.0}
    assert after["CS-1"]["severity"] == "critical" and {r["key"] for r in before} == set(after)
    assert client.get("/api/jira/impact/settings", headers=auth_headers("ws-b")).get_json()["settings"]["weights"][
        "priority"] == 0.2  # another workspace keeps its own


@pytest.mark.parametrize("body", [
    {"weights": {"arr_at_risk": 1.0}}, {"bands": {"critical": 10, "high": 50, "medium": 5}},
    {"link_weights": {"affected": 1.5}}, {"renewal_window_days": 10}, {"colour": "red"}, {"arr_reference": "lots"},
])
def test_invalid_settings_are_refused_and_change_nothing(client, workspace, spec, body):
    response = client.put("/api/jira/impact/settings", json=body, headers=auth_headers("ws-a"))
    error = check_response(spec, "/api/jira/impact/settings", "put", response)["error"]
    assert response.status_code == 400 and error["code"] == "invalid_settings" and error["details"]
    assert store.settings_of("ws-a") == store.Settings.from_mapping(None)


def test_a_band_change_is_pushed_once(app, workspace):
    login = workspace["issues"]["login"]
    messages = lambda: db.session.scalars(select(OutboxMessage).where(OutboxMessage.topic == "issue.impact")).all()  # noqa: E731
    first = {m.payload["issue"]["key"]: m for m in messages()}
    assert "CS-1" in first and first["CS-1"].payload["previous_severity"] == "low"
    assert first["CS-1"].payload["impact"]["severity"] == db.session.get(IssueImpact, login.id).severity
    count = len(messages())
    rescore(login)  # nothing changed: no new push
    assert len(messages()) == count
    login.status, login.status_category = "Done", "done"
    db.session.commit()
    outcome = rescore(login)
    assert outcome.band_changes == [(login.id, first["CS-1"].payload["impact"]["severity"], "low")]
    assert len(messages()) == count + 1 and db.session.get(IssueImpact, login.id).score == 0


def test_a_customers_arr_change_rescores_its_issues(client, workspace):
    before = db.session.get(IssueImpact, workspace["issues"]["typo"].id).score
    response = client.post("/api/customers", json={"name": "Initech", "slug": "initech", "arr": 4_000_000},
                           headers=auth_headers("ws-a"))
    assert response.status_code == 200
    db.session.expire_all()
    assert db.session.get(IssueImpact, workspace["issues"]["typo"].id).score > before
    body = client.get("/api/jira/affected-customers/SUP-3", headers=auth_headers("ws-a")).get_json()
    assert body["totals"]["arr"] == 4_000_000.0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 2_000_000), st.integers(0, 100), st.integers(-30, 400),
                          st.sampled_from(["enterprise", "mid_market", "smb", "startup", None]),
                          st.sampled_from(["affected", "requested", "watching"])), min_size=1, max_size=6),
       st.sampled_from(["arr", "health", "renewal", "link", "priority"]))
def test_a_worse_situation_never_lowers_an_issues_score(app, customers, change):
    """Over random workspaces: more ARR, lower health, a sooner renewal, another customer or a higher priority."""
    db.session.execute(delete(JiraCustomerLink))
    db.session.execute(delete(IssueImpact))
    db.session.execute(delete(JiraIssue))
    db.session.execute(delete(Customer))
    db.session.commit()
    org = make_organization(id="ws-p")
    connection = make_connection(org)
    issue = make_issue(connection, priority="Low")
    rows = [make_customer(org, arr=Decimal(arr), health_score=health, renewal_date=TODAY + timedelta(days=days),
                          tier=tier) for arr, health, days, tier, _ in customers]
    for customer, (*_, link_type) in zip(rows, customers, strict=True):
        make_link(issue, customer, link_type=link_type)
    references = {"ws-p": 500_000.0}  # the workspace's reference held fixed, as the property states
    before = store.compute([issue.id], references=references)[issue.id].impact.score
    target = rows[0]
    if change == "arr":
        target.arr += Decimal(250_000)
    elif change == "health":
        target.health_score = max(0, target.health_score - 30)
    elif change == "renewal":
        target.renewal_date = TODAY + timedelta(days=max(-30, (target.renewal_date - TODAY).days - 60))
    elif change == "link":
        make_link(issue, make_customer(org, arr=Decimal(10_000), tier=None, health_score=95), link_type="watching")
    else:
        issue.priority = "High"
    db.session.commit()
    after = store.compute([issue.id], references=references)[issue.id].impact.score
    assert after >= before


def test_renewal_days_count_on_both_databases(app):
    org = make_organization(id="ws-r")
    connection = make_connection(org)
    issue = make_issue(connection)
    customer = make_customer(org, renewal_date=date.today() + timedelta(days=105), arr=Decimal(100_000))
    make_link(issue, customer)
    exposure, plain = store.exposures("ws-r", [issue.id], store.settings_of("ws-r"), date.today())[issue.id]
    assert plain == 100_000 and exposure.renewing_arr == pytest.approx(50_000)  # 105 days: half-way through


def test_the_csv_export_never_hands_a_spreadsheet_a_formula(client, workspace):
    issue = next(i for i in workspace["issues"].values() if i.jira_key == "CS-1")
    issue.summary = '=HYPERLINK("http://evil.example","click")'
    db.session.commit()
    response = client.get("/api/jira/impact?format=csv", headers=auth_headers("ws-a"))
    rows = {r["key"]: r for r in csv.DictReader(io.StringIO(response.get_data(as_text=True)))}
    assert rows["CS-1"]["summary"] == '\'=HYPERLINK("http://evil.example","click")'
    assert not rows["CS-1"]["score"].startswith("'")  # numbers stay numbers
