"""The status map API: the site's statuses and priorities listed from Jira, edited by admins, used for new events
and for sorting by priority in each site's own order."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from connect_app.extensions import db
from connect_app.models import AuditEntry, JiraConnection
from connect_app.tracking.process import status_map_for
from tests.conftest import auth_headers
from tests.connections.conftest import admin
from tests.factories import make_connection, make_customer, make_issue, make_link, make_organization


def connected(api, site) -> JiraConnection:
    response = api.post("/api/integrations/jira/connect", headers=admin(),
                        json={"type": "server", "base_url": site.base_url, "token": site.pat})
    assert response.status_code in (200, 201), response.get_json()
    return db.session.get(JiraConnection, uuid.UUID(response.get_json()["connection"]["id"]))


def url(connection) -> str:
    return f"/api/integrations/jira/connections/{connection.id}/status-map"


def test_the_site_statuses_and_priorities_are_listed_from_jira(api, server_site):
    connection = connected(api, server_site)
    response = api.get(url(connection), headers=admin())
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    by_name = {s["name"]: s for s in body["statuses"]}
    assert by_name["Investigating"] == {"id": "10011", "name": "Investigating", "jira_category": "indeterminate",
                                        "category": "indeterminate", "meaning": None, "mapped": False}
    assert by_name["Shipped"]["jira_category"] == "done" and by_name["Triage"]["jira_category"] == "new"
    assert body["site_priorities"] == ["Highest", "High", "Medium", "Low", "Lowest"]
    assert body["priority_order"] == body["site_priorities"]
    assert body["development_rule"] == "status category in progress"
    assert body["jira"] == {"reachable": True, "error": None}
    db.session.refresh(connection)
    assert connection.priorities == ["Highest", "High", "Medium", "Low", "Lowest"]


def test_only_admins_of_the_workspace_see_or_change_it(api, server_site):
    connection = connected(api, server_site)
    assert api.get(url(connection), headers=auth_headers("ws-conn", "csm", "u-csm")).status_code == 403
    assert api.put(url(connection), headers=auth_headers("ws-conn", "csm", "u-csm"), json={}).status_code == 403
    other = api.get(url(connection), headers=auth_headers("ws-other", "admin", "u-x"))
    assert other.status_code == 404 and other.get_json()["error"]["code"] == "not_found"
    assert api.get("/api/integrations/jira/connections/not-a-uuid/status-map", headers=admin()).status_code == 400


def test_a_saved_map_gives_new_events_its_meaning(api, server_site):
    connection = connected(api, server_site)
    response = api.put(url(connection), headers=admin(), json={
        "statuses": {"Investigating": {"meaning": "development"}, "10015": "done", "won't fix": None},
    })
    assert response.status_code == 422  # a null entry says nothing: leave the status out instead
    assert list(response.get_json()["error"]["details"]) == ["statuses.won't fix"]
    response = api.put(url(connection), headers=admin(), json={
        "statuses": {"Investigating": {"meaning": "development"}, "Waiting for Customer": {"category": "new"}},
    })
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    by_name = {s["name"]: s for s in body["statuses"]}
    assert by_name["Investigating"]["meaning"] == "development" and by_name["Investigating"]["mapped"] is True
    assert by_name["Waiting for Customer"]["category"] == "new"
    assert by_name["Waiting for Customer"]["jira_category"] == "indeterminate"
    assert body["development_rule"] == "mapped statuses"

    db.session.expire_all()
    stored = db.session.get(JiraConnection, connection.id)
    lookup = status_map_for(stored)
    assert lookup("10011", "Investigating").meaning == "development"
    assert lookup(None, "waiting for customer").category == "new"
    assert lookup.maps_development is True
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.connection_id == connection.id,
                                                        AuditEntry.action == "status_map.updated")).one()
    assert entry.actor_id == "u-admin" and entry.details["after"] == 2


@pytest.mark.parametrize(("body", "place", "words"), [
    ({"statuses": {"Parked": "done"}}, "statuses", "Parked"),
    ({"statuses": {"Shipped": "finished"}}, "statuses.Shipped", "must be one of"),
    ({"statuses": {"Shipped": {"category": "done", "colour": "green"}}}, "statuses.Shipped", "colour"),
    ({"statuses": {"Shipped": {"meaning": "qa"}}}, "statuses.Shipped", "meaning must be one of"),
    ({"statuses": {"Shipped": "done", "shipped": "done"}}, "statuses.shipped", "mapped twice"),
    ({"statuses": ["Shipped"]}, "statuses", "must be an object"),
    ({"statuses": {}, "priority_order": ["P0", "P1"]}, "priority_order", "P0"),
    ({"statuses": {}, "priority_order": ["High", "high"]}, "priority_order", "twice"),
    ({"statuses": {}, "priority_order": "High"}, "priority_order", "a list"),
    ({"statuses": {}, "workflow": {}}, "workflow", "unknown key"),
])
def test_a_wrong_map_is_refused_naming_the_problem_and_nothing_changes(api, server_site, body, place, words):
    connection = connected(api, server_site)
    before = dict(connection.status_map or {})
    response = api.put(url(connection), headers=admin(), json=body)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "invalid_status_map" and words in error["details"][place]
    db.session.expire_all()
    assert (db.session.get(JiraConnection, connection.id).status_map or {}) == before


def test_not_json_is_a_400(api, server_site):
    connection = connected(api, server_site)
    response = api.put(url(connection), headers=admin() | {"Content-Type": "application/json"}, data="{")
    assert response.status_code == 400


def test_the_admin_priority_order_is_checked_against_the_site_and_used(api, server_site):
    connection = connected(api, server_site)
    order = ["Lowest", "Low", "Medium", "High", "Highest"]  # a team that ranks the other way round
    response = api.put(url(connection), headers=admin(), json={"statuses": {}, "priority_order": order})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["priority_order"] == order
    db.session.expire_all()
    assert status_map_for(db.session.get(JiraConnection, connection.id)).priority_order == tuple(order)


def test_without_jira_the_statuses_seen_on_issues_are_listed_and_only_those_can_be_mapped(app, client):
    org = make_organization(id="ws-offline")
    connection = make_connection(org, base_url="http://127.0.0.1:9",  # nothing listens there
                                 shared_secret="s" * 40)
    make_issue(connection, status="Triage", status_id="10010", status_category="new")
    make_issue(connection, status="Shipped", status_id="10014", status_category="done")
    headers = auth_headers("ws-offline", "admin", "u-1")
    body = client.get(url(connection), headers=headers).get_json()
    assert body["jira"]["reachable"] is False and body["jira"]["error"]
    assert [s["name"] for s in body["statuses"]] == ["Triage", "Shipped"]
    refused = client.put(url(connection), headers=headers, json={"statuses": {"Investigating": "development"}})
    assert refused.status_code == 422
    assert "could not be reached" in refused.get_json()["error"]["details"]["statuses"]
    accepted = client.put(url(connection), headers=headers, json={"statuses": {"Shipped": "done"}})
    assert accepted.status_code == 200


def test_sorting_by_priority_follows_each_site_order_highest_first_descending(app, client):
    org = make_organization(id="ws-prio")
    site_a = make_connection(org, priorities=["P0", "P1", "P2"])
    site_b = make_connection(org)  # no list yet: Jira's defaults
    customer = make_customer(org)
    for connection, priority in ((site_a, "P2"), (site_a, "P0"), (site_b, "Lowest"), (site_b, "Highest"),
                                 (site_a, "P1"), (site_b, None)):
        make_link(make_issue(connection, priority=priority, summary=f"{priority}"), customer)
    headers = auth_headers("ws-prio", "csm", "u-1")

    def order(sort):
        response = client.get(f"/api/jira/issues/{customer.id}?sort={sort}", headers=headers)
        assert response.status_code == 200, response.get_json()
        return [issue["priority"] for issue in response.get_json()["issues"]]

    urgent = order("-priority")
    assert urgent[-1] is None  # unknown priorities last either way
    assert urgent.index("P0") < urgent.index("P1") < urgent.index("P2")
    assert urgent.index("Highest") < urgent.index("Lowest")
    calm = order("priority")
    assert calm[-1] is None
    assert calm.index("P2") < calm.index("P1") < calm.index("P0") and calm.index("Lowest") < calm.index("Highest")
