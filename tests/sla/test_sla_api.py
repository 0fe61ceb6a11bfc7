"""SLA tracking on SQLite and PostgreSQL, with frozen time: policies, clocks, alerts once, the board, --at."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from click.testing import CliRunner
from sqlalchemy import select

from connect_app.api.openapi import load_spec
from connect_app.cli import main
from connect_app.extensions import db
from connect_app.models import IssueEvent, IssueStatusChange, Notification, OutboxMessage, SlaResult, Subscription
from connect_app.sla import store
from tests.conftest import auth_headers
from tests.factories import make_connection, make_customer, make_issue, make_link, make_organization
from tests.test_openapi import check_response

NY = ZoneInfo("America/New_York")
HOUR = 3600
OFFICE = {"timezone": "America/New_York",
          "hours": {d: ["09:00", "17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
          "holidays": {"country": "US"}}
POLICY = {"name": "Enterprise bugs in 3 business days", "metric": "time_to_resolution", "target": "5d",
          "targets_by_tier": {"enterprise": "3d", "mid_market": "4d"}, "calendar": OFFICE,
          "pause_statuses": ["Waiting for customer"],
          "selector": {"projects": ["CS"], "issue_types": ["Bug"], "link_types": ["affected", "requested"]},
          "warn_at_percent": 80}
MONDAY = datetime(2026, 12, 7, 9, tzinfo=NY)  # Monday 09:00 New York


def ny(*args) -> datetime:
    return datetime(*args, tzinfo=NY)


@pytest.fixture
def spec():
    return load_spec()


@pytest.fixture
def site(app):
    """ws-a: an enterprise and a mid-market customer, a bug for each (created Monday 09:00), a subscriber."""
    with time_machine.travel(MONDAY - timedelta(days=7), tick=False):
        org = make_organization(id="ws-a")
        connection = make_connection(org)
        acme = make_customer(org, name="Acme", slug="acme", tier="enterprise", csm_owner_id="csm-maya",
                             arr=Decimal(900_000))
        globex = make_customer(org, name="Globex", slug="globex", tier="mid_market", csm_owner_id="csm-omar")
        login = make_issue(connection, jira_key="CS-1", created_at=MONDAY, status="To Do", status_category="new")
        export = make_issue(connection, jira_key="CS-2", created_at=MONDAY, status="To Do", status_category="new")
        story = make_issue(connection, jira_key="CS-3", created_at=MONDAY, issue_type="Story")
        make_link(login, acme)
        make_link(export, globex, link_type="requested")
        make_link(story, acme)
        db.session.add(Subscription(organization_id=org.id, user_id="pm-lee", scope="issue",
                                    target=f"issue:{connection.id}:CS-1", connection_id=connection.id,
                                    jira_key="CS-1", event_kinds=["sla_breached"]))
        db.session.commit()
    return {"org": org, "connection": connection, "login": login, "export": export, "story": story}


def create_policy(client, body=POLICY, at=MONDAY):
    with time_machine.travel(at, tick=False):
        response = client.post("/api/jira/sla/policies", json=body, headers=auth_headers("ws-a"))
    assert response.status_code == 201, response.get_json()
    return response


def clocks(issue) -> list[SlaResult]:
    db.session.expire_all()
    return list(db.session.scalars(select(SlaResult).where(SlaResult.issue_id == issue.id).order_by(SlaResult.cycle)))


def check(at: datetime) -> dict:
    with time_machine.travel(at, tick=False):
        return store.check_due()


def alerts(kind: str) -> list[IssueEvent]:
    return list(db.session.scalars(select(IssueEvent).where(IssueEvent.kind == kind).order_by(IssueEvent.jira_key)))


def test_policies_are_created_listed_replaced_and_deleted(client, site, spec):
    created = check_response(spec, "/api/jira/sla/policies", "post", create_policy(client))
    assert created["version"] == 1 and created["targets_by_tier"] == {"enterprise": "3d", "mid_market": "4d"}
    listed = client.get("/api/jira/sla/policies", headers=auth_headers("ws-a", "csm"))
    assert [p["name"] for p in check_response(spec, "/api/jira/sla/policies", "get", listed)["policies"]] == [
        POLICY["name"]]
    url = f"/api/jira/sla/policies/{created['id']}"
    assert check_response(spec, "/api/jira/sla/policies/{policy_id}", "get",
                          client.get(url, headers=auth_headers("ws-a", "pm")))["id"] == created["id"]
    replaced = client.put(url, json=POLICY | {"target": "6d"}, headers=auth_headers("ws-a"))
    body = check_response(spec, "/api/jira/sla/policies/{policy_id}", "put", replaced)
    assert (body["version"], body["target"]) == (2, "6d")
    assert client.put(url, json=POLICY, headers=auth_headers("ws-a", "csm")).status_code == 403
    assert client.get(url, headers=auth_headers("ws-b")).status_code == 404  # another workspace sees nothing
    assert client.delete(url, headers=auth_headers("ws-a")).status_code == 204
    assert client.get(url, headers=auth_headers("ws-a")).status_code == 404
    assert clocks(site["login"]) == []


def test_invalid_policies_are_refused_naming_each_field(client, site, spec):
    response = client.post("/api/jira/sla/policies", headers=auth_headers("ws-a"), json=POLICY | {
        "target": "soon", "selector": {"tiers": ["gold"]}, "calendar": {"timezone": "Nowhere", "hours": {}}})
    error = check_response(spec, "/api/jira/sla/policies", "post", response)["error"]
    assert response.status_code == 400 and error["code"] == "invalid_policy"
    assert {"target", "selector.tiers", "calendar.timezone", "calendar.hours"} <= set(error["details"])
    create_policy(client)
    duplicate = client.post("/api/jira/sla/policies", json=POLICY, headers=auth_headers("ws-a"))
    assert duplicate.status_code == 409 and duplicate.get_json()["error"]["code"] == "duplicate_name"


def test_clocks_follow_the_selector_and_the_customers_tier(client, site):
    create_policy(client)
    [login] = clocks(site["login"])  # enterprise: 3 working days
    [export] = clocks(site["export"])  # mid-market (requested): 4 working days
    assert (login.target_seconds, export.target_seconds) == (24 * HOUR, 32 * HOUR)
    assert login.breach_at == ny(2026, 12, 9, 17).astimezone(UTC)  # Wednesday 17:00
    assert login.warn_at == ny(2026, 12, 9, 12, 12).astimezone(UTC)  # 80% = 19.2 working hours
    assert login.next_check_at == login.warn_at
    assert clocks(site["story"]) == []  # a Story is not selected


def test_at_risk_and_breach_fire_once_to_owners_and_subscribers(client, site):
    create_policy(client)
    assert check(ny(2026, 12, 8, 12)) == {"due": 0, "alerts": 0, "written": 0}  # nothing due: one query
    check(ny(2026, 12, 9, 13))
    assert [e.jira_key for e in alerts("sla_at_risk")] == ["CS-1"]
    assert clocks(site["login"])[0].state == "at_risk"
    for _ in range(3):  # the check runs every minute; the alert does not repeat
        check(ny(2026, 12, 9, 13, 5))
    check(ny(2026, 12, 9, 17, 1))
    [breach] = alerts("sla_breached")
    assert breach.details["state"] == "breached" and breach.details["target_seconds"] == 24 * HOUR
    assert breach.occurred_at == ny(2026, 12, 9, 17).astimezone(UTC)
    to = {(n.user_id, n.kind) for n in db.session.scalars(select(Notification))}
    assert to == {("csm-maya", "sla_at_risk"), ("csm-maya", "sla_breached"), ("pm-lee", "sla_breached")}
    pushes = db.session.scalars(select(OutboxMessage).where(OutboxMessage.topic == "issue.sla")).all()
    assert sorted(m.payload["change"]["state"] for m in pushes) == ["at_risk", "breached"]
    assert clocks(site["login"])[0].next_check_at is None


def test_two_concurrent_checkers_fire_each_alert_once(app, client, site):
    create_policy(client)
    barrier = threading.Barrier(2)
    failures = []

    def checker():
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                check(ny(2026, 12, 10, 14))  # Thursday 14:00: CS-1 breached (Wednesday 17:00), CS-2 at 29/32 h
            except Exception as exc:
                failures.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=checker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    # CS-1 was first seen already breached: its breach is told, not a stale at-risk.
    assert [e.jira_key for e in alerts("sla_at_risk")] == ["CS-2"]
    assert [e.jira_key for e in alerts("sla_breached")] == ["CS-1"]
    told = sorted((n.user_id, n.jira_key, n.kind) for n in db.session.scalars(select(Notification)))
    assert told == [("csm-maya", "CS-1", "sla_breached"), ("csm-omar", "CS-2", "sla_at_risk"),
                    ("pm-lee", "CS-1", "sla_breached")]  # once each, whichever checker won


def transition(issue, at, frm, to, frm_cat, to_cat):
    db.session.add(IssueStatusChange(connection_id=issue.connection_id, issue_id=issue.id,
                                     change_id=f"h-{at.timestamp()}", from_status=frm, to_status=to,
                                     from_category=frm_cat, to_category=to_cat, changed_at=at))
    issue.status, issue.status_category = to, to_cat
    db.session.commit()


def test_a_pause_and_a_reopen(client, site):
    create_policy(client)
    login = site["login"]
    transition(login, ny(2026, 12, 7, 11), "To Do", "Waiting for customer", "new", "indeterminate")
    transition(login, ny(2026, 12, 8, 11), "Waiting for customer", "In Progress", "indeterminate", "indeterminate")
    transition(login, ny(2026, 12, 8, 15), "In Progress", "Done", "indeterminate", "done")
    transition(login, ny(2026, 12, 9, 10), "Done", "To Do", "done", "new")
    with time_machine.travel(ny(2026, 12, 9, 12), tick=False):
        store.evaluate_issues([login.id])
        db.session.commit()
        detail = client.get("/api/jira/issue/CS-1", headers=auth_headers("ws-a", "csm")).get_json()
    first, second = clocks(login)
    # Cycle 1: Monday 09-11 counted, paused until Tuesday 11:00, then 11-15: 6 working hours, met.
    assert (first.cycle, first.state, first.elapsed_seconds) == (1, "met", 6 * HOUR)
    assert (second.cycle, second.state, second.started_at) == (2, "running", ny(2026, 12, 9, 10).astimezone(UTC))
    [one, two] = detail["sla"]
    assert (one["state"], two["state"], two["elapsed_seconds"], two["remaining_seconds"]) == (
        "met", "running", 2 * HOUR, 22 * HOUR)
    # 24 working hours from Wednesday 10:00: Wed 7 h, Thu 8 h, Fri 8 h, Monday 09:00-10:00.
    assert two["breach_at"] == ny(2026, 12, 14, 10).astimezone(UTC).isoformat()


def test_the_board_orders_by_urgency_and_filters(client, site, spec):
    create_policy(client)
    check(ny(2026, 12, 10, 14))  # Thursday 14:00: CS-1 breached Wednesday 17:00, CS-2 at risk (29 of 32 h)
    with time_machine.travel(ny(2026, 12, 10, 14), tick=False):
        response = client.get("/api/jira/sla", headers=auth_headers("ws-a", "csm"))
        body = check_response(spec, "/api/jira/sla", "get", response)
        assert [(i["key"], i["state"]) for i in body["items"]] == [("CS-1", "breached"), ("CS-2", "at_risk")]
        assert [i["elapsed_seconds"] for i in body["items"]] == [29 * HOUR, 29 * HOUR]  # 8 + 8 + 8 + 5
        only = client.get("/api/jira/sla?state=at_risk", headers=auth_headers("ws-a")).get_json()
        assert [i["key"] for i in only["items"]] == ["CS-2"]
        bad = client.get("/api/jira/sla?state=late", headers=auth_headers("ws-a"))
        assert bad.status_code == 400


def test_sla_check_as_of_a_time_is_a_projection(client, site, cli_env):
    create_policy(client)
    db.session.remove()
    with time_machine.travel(ny(2026, 12, 7, 10), tick=False):
        # What will be at risk or breached by Thursday 14:00 New York?
        result = CliRunner().invoke(main, ["sla", "check", "--at", "2026-12-10T19:00:00Z"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "2 SLA clock(s) at risk or breached as of 2026-12-10T19:00:00+00:00" in result.output
    assert "CS-1" in result.output and "breached" in result.output and "CS-2" in result.output
    assert db.session.scalars(select(IssueEvent).where(IssueEvent.kind.like("sla_%"))).all() == []  # nothing sent
    bad = CliRunner().invoke(main, ["sla", "check", "--at", "Friday"])
    assert bad.exit_code == 2 and "not an ISO 8601 time" in bad.output
