"""Creating Jira issues from CSCX.AI against the sandbox (Cloud and Server/DC) on SQLite and PostgreSQL:
drafts checked against create metadata, context in ADF / wiki markup, approval rules, created exactly once."""

from __future__ import annotations

import threading
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
import requests
import time_machine
from sqlalchemy import func, select

from connect_app.api.openapi import load_spec
from connect_app.creation import create, meta
from connect_app.creation.suggest import BAND_PRIORITY
from connect_app.extensions import db
from connect_app.models import AuditEntry, IssueDraft, JiraCustomerLink, OutboxMessage
from connect_app.models.types import utcnow
from connect_app.sync.engine import sync_connection
from jira_sandbox.testing import SandboxServer
from tests.conftest import token_for
from tests.factories import make_customer, make_organization
from tests.sync.support import add_rule, connect, fast_client
from tests.test_openapi import check_response

pytestmark = pytest.mark.sandbox

WS = "ws-create"
STAKEHOLDERS = [{"name": "Dana O'Neil", "email": "dana@acme.example", "role": "VP Finance"},
                {"name": "Lee Park", "email": "lee@acme.example", "role": "Admin"}]


def headers(role: str, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(WS, role, user, email=f'{user}@cscx.example')}"}


CSM, APPROVER, OTHER_APPROVER, ADMIN = (headers("csm", "maya"), headers("approver", "omar"),
                                        headers("approver", "ines"), headers("admin", "root"))


@pytest.fixture(params=["cloud", "server"])
def site(request):
    with SandboxServer(flavour=request.param, issues=0, seed=3) as server:
        yield server


@pytest.fixture
def world(app, site):
    """A workspace connected to the sandbox; Acme (label + custom-field rules) with one open issue already."""
    meta.cache.clear()
    org = make_organization(id=WS)
    connection = connect(app, org, site)
    acme = make_customer(org, name="Acme Corp", slug="acme", external_id="ACME-1", tier="enterprise",
                         arr=Decimal("900000"), health_score=42, renewal_date=date.today() + timedelta(days=45),
                         csm_owner_id="csm-maya", stakeholders=STAKEHOLDERS)
    add_rule(acme, "label", value="customer_acme")
    add_rule(acme, "custom_field", field="Customer ID", field_id="customfield_10001", value="ACME-1", position=1)
    site.state.import_issue({"project": "CS", "issuetype": "Bug", "summary": "Invoice totals are off by one cent",
                             "labels": ["customer_acme"], "status": "To Do"})
    site.state.import_issue({"project": "CS", "issuetype": "Bug", "summary": "Export fails on Safari",
                             "status": "To Do"})
    sync_connection(str(connection.id))
    return {"org": org, "connection": connection, "acme": acme, "site": site}


def body(world, **overrides) -> dict:
    return {"customer_id": str(world["acme"].id), "project_key": "CS", "issue_type": "Bug",
            "summary": "Invoice totals off by one cent on PDF export",
            "description": "The customer saw *bold* [a link|http://evil.example] {code} and h1. a heading.",
            "link_type": "requested", "stakeholder_ids": ["dana@acme.example"]} | overrides


def jira_issues(site) -> dict:
    return dict(site.state.issues)


def test_draft_then_approval_creates_the_issue_with_context_label_and_custom_field(client, world):
    site, spec = world["site"], load_spec()
    before = set(jira_issues(site))
    response = client.post("/api/jira/issues", json=body(world), headers=CSM)
    assert response.status_code == 201, response.get_json()
    draft = check_response(spec, "/api/jira/issues", "post", response)["draft"]
    assert draft["status"] == "pending_approval" and draft["approvals_required"] == 1
    preview = draft["preview"]
    assert preview["labels"] == ["customer_acme"]
    assert preview["fields"]["customfield_10001"] == "ACME-1"
    assert preview["fields"]["priority"] == {"name": draft["suggested_priority"]["name"]}
    suggestion = draft["suggested_priority"]
    assert suggestion["name"] == BAND_PRIORITY[suggestion["severity"]] and "Acme Corp" in suggestion["why"]
    assert draft["duplicates"][0]["summary"] == "Invoice totals are off by one cent"
    assert draft["duplicates"][0]["customers"] == 1
    if site.state.flavour == "cloud":
        assert preview["format"] == "adf" and preview["description"]["type"] == "doc"
        texts = [n.get("text") for block in preview["description"]["content"] for n in block.get("content", [])]
        assert "The customer saw *bold* [a link|http://evil.example] {code} and h1. a heading." in texts
    else:
        assert preview["format"] == "wiki"
        assert r"saw \*bold\* \[a link\|http://evil.example\] \{code\} and h1. a heading." in preview["description"]
        assert "* *Customer:* [Acme Corp|https://app.cscx.ai/customers/" in preview["description"]
    assert set(jira_issues(site)) == before  # nothing in Jira before approval

    approved = client.post(f"/api/jira/drafts/{draft['id']}/approve", json={"comment": "ok"}, headers=APPROVER)
    assert approved.status_code == 200, approved.get_json()
    created = check_response(spec, "/api/jira/drafts/{draft_id}/approve", "post", approved)["draft"]
    assert created["status"] == "created" and created["jira"]["key"].startswith("CS-")
    key = created["jira"]["key"]
    assert set(jira_issues(site)) - before == {key}
    issue = site.state.issues[key]
    assert "customer_acme" in issue["labels"]
    assert issue["customfields"]["customfield_10001"] == "ACME-1"
    assert issue["priority"] == suggestion["name"]
    assert issue["properties"]["cscx.draft"] == {"draft_id": draft["id"], "workspace": WS}
    text = issue["description"] if isinstance(issue["description"], str) else str(issue["description"])
    for expected in ("Acme Corp", "$900,000", "42/100", "Dana O'Neil", "VP Finance", "Invoice totals are off"):
        assert expected in text
    assert "Lee Park" not in text  # only the chosen stakeholders
    link = db.session.scalar(select(JiraCustomerLink).where(JiraCustomerLink.jira_key == key))
    assert (link.customer_id, link.source, link.link_type) == (world["acme"].id, "created", "requested")
    topics = set(db.session.scalars(select(OutboxMessage.topic)))
    assert {"jira.draft.submitted", "jira.draft.decided", "jira.issue.created"} <= topics
    pushed = db.session.scalar(select(OutboxMessage).where(OutboxMessage.topic == "jira.issue.created"))
    assert pushed.payload["issue"]["key"] == key and pushed.payload["notify"]["user_ids"] == ["csm-maya", "maya"]
    actions = [a for a, in db.session.execute(select(AuditEntry.action).where(AuditEntry.target_type == "issue_draft")
                                              .order_by(AuditEntry.created_at))]
    assert actions[:2] == ["draft.submitted", "draft.approved"] and "draft.created" in actions


def test_self_approval_is_refused_and_four_eyes_needs_two_approvers(client, world):
    assert client.put("/api/jira/settings/issue-creation", json={"approvals_required": 2},
                      headers=ADMIN).status_code == 200
    requester = headers("approver", "maya")  # an approver who requests cannot approve their own draft
    draft = client.post("/api/jira/issues", json=body(world), headers=headers("admin", "maya")).get_json()["draft"]
    own = client.post(f"/api/jira/drafts/{draft['id']}/approve", json={}, headers=requester)
    assert own.status_code == 403 and own.get_json()["error"]["code"] == "own_draft"
    csm = client.post(f"/api/jira/drafts/{draft['id']}/approve", json={}, headers=headers("csm", "kim"))
    assert csm.status_code == 403
    first = client.post(f"/api/jira/drafts/{draft['id']}/approve", json={}, headers=APPROVER)
    assert first.get_json()["draft"]["status"] == "pending_approval"
    again = client.post(f"/api/jira/drafts/{draft['id']}/approve", json={}, headers=APPROVER)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_decided"
    second = client.post(f"/api/jira/drafts/{draft['id']}/approve", json={}, headers=OTHER_APPROVER)
    assert second.get_json()["draft"]["status"] == "created"
    assert len(second.get_json()["draft"]["approvals"]) == 2


def test_reject_needs_a_reason_and_closes_the_draft(client, world):
    draft = client.post("/api/jira/issues", json=body(world), headers=CSM).get_json()["draft"]
    no_reason = client.post(f"/api/jira/drafts/{draft['id']}/reject", json={}, headers=APPROVER)
    assert no_reason.status_code == 400 and no_reason.get_json()["error"]["details"] == {"comment": "is required"}
    rejected = client.post(f"/api/jira/drafts/{draft['id']}/reject", json={"comment": "duplicate of CS-1"},
                           headers=APPROVER)
    assert rejected.get_json()["draft"]["status"] == "rejected"
    late = client.post(f"/api/jira/drafts/{draft['id']}/approve", json={}, headers=OTHER_APPROVER)
    assert late.status_code == 409
    decided = db.session.scalar(select(OutboxMessage).where(OutboxMessage.topic == "jira.draft.decided"))
    assert decided.payload["notify"] == {"user_ids": ["maya"]} and decided.payload["decision"]["comment"]


def test_edit_and_withdraw_by_the_requester_only(client, world):
    client.put("/api/jira/settings/issue-creation", json={"approvals_required": 2}, headers=ADMIN)
    fresh = client.post("/api/jira/issues", json=body(world, summary="Login page slow"), headers=CSM)
    fresh_id = fresh.get_json()["draft"]["id"]
    half = client.post(f"/api/jira/drafts/{fresh_id}/approve", json={}, headers=APPROVER).get_json()["draft"]
    assert len(half["approvals"]) == 1
    stranger = client.patch(f"/api/jira/drafts/{fresh_id}", json={"summary": "x"}, headers=headers("csm", "kim"))
    assert stranger.status_code == 403
    edited = client.patch(f"/api/jira/drafts/{fresh_id}", json={"summary": "Login page takes 20 s", "priority": "Low"},
                          headers=CSM)
    assert edited.status_code == 200
    assert edited.get_json()["draft"]["approvals"] == []  # approvals of the old content lapse
    assert edited.get_json()["draft"]["preview"]["fields"]["summary"] == "Login page takes 20 s"
    assert edited.get_json()["draft"]["preview"]["fields"]["priority"] == {"name": "Low"}
    other = client.delete(f"/api/jira/drafts/{fresh_id}", headers=headers("csm", "someone-else"))
    assert other.status_code == 403
    withdrawn = client.delete(f"/api/jira/drafts/{fresh_id}", headers=CSM)
    assert withdrawn.get_json()["draft"]["status"] == "withdrawn"
    assert client.patch(f"/api/jira/drafts/{fresh_id}", json={"summary": "y"}, headers=CSM).status_code == 409
    queue = check_response(load_spec(), "/api/jira/drafts", "get",
                           client.get("/api/jira/drafts?status=pending_approval", headers=APPROVER))
    assert all(d["status"] == "pending_approval" for d in queue["drafts"])


def test_create_metadata_refusals_name_every_field(client, world):
    site = world["site"]
    unknown_project = client.post("/api/jira/issues", json=body(world, project_key="NOPE"), headers=CSM)
    assert unknown_project.status_code == 422 and "project_key" in unknown_project.get_json()["error"]["details"]
    unknown_type = client.post("/api/jira/issues", json=body(world, issue_type="Incident"), headers=CSM)
    details = unknown_type.get_json()["error"]["details"]
    assert unknown_type.status_code == 422 and "Bug" in details["issue_type"]["allowed"]
    site.state.set_priority_scheme("CS", ["High", "Medium", "Low"])
    site.state.set_required_fields("CS", ["customfield_10002", "customfield_10004"], issuetype="Bug")
    meta.cache.clear()
    refused = client.post("/api/jira/issues", json=body(world, priority="Highest"), headers=CSM)
    details = check_response(load_spec(), "/api/jira/issues", "post", refused)["error"]["details"]
    assert refused.status_code == 422
    assert details["priority"]["allowed"] == ["High", "Medium", "Low"]
    assert details["fields.customfield_10002"]["allowed"] == ["Enterprise", "Mid-Market", "SMB", "Strategic"]
    assert "Story Points is required" in details["fields.customfield_10004"]["message"]
    bad_option = client.post("/api/jira/issues", json=body(world, fields={"customfield_10002": "Gold",
                                                                          "customfield_10004": 3}), headers=CSM)
    assert "does not allow 'Gold'" in bad_option.get_json()["error"]["details"]["fields.customfield_10002"]["message"]
    fine = client.post("/api/jira/issues", json=body(world, fields={"customfield_10002": "Enterprise",
                                                                    "customfield_10004": 3}), headers=CSM)
    assert fine.status_code == 201
    assert fine.get_json()["draft"]["preview"]["fields"]["customfield_10002"] == {"value": "Enterprise"}
    screen = check_response(load_spec(), "/api/jira/create-meta", "get",
                            client.get("/api/jira/create-meta?project=cs&type=Bug", headers=CSM))
    required = {f["id"] for f in screen["fields"] if f["required"]}
    assert {"customfield_10002", "customfield_10004", "summary"} <= required


def test_bad_bodies_are_400s_naming_the_field(client, world):
    cases = [({}, "customer_id"), (body(world, summary=""), "summary"), (body(world, summary="x" * 256), "summary"),
             (body(world, link_type="loves"), "link_type"), (body(world, fields={"labels": ["x"]}), "fields"),
             (body(world, stakeholder_ids="dana"), "stakeholder_ids"), (body(world, surprise=1), "surprise"),
             (body(world, summary={"obj": 1}), "summary")]
    for payload, field in cases:
        response = client.post("/api/jira/issues", json=payload, headers=CSM)
        assert response.status_code == 400, (payload, response.get_json())
        assert field in response.get_json()["error"]["details"]
    stranger = client.post("/api/jira/issues", json=body(world, stakeholder_ids=["nobody@x"]), headers=CSM)
    assert stranger.status_code == 422 and stranger.get_json()["error"]["code"] == "unknown_stakeholder"
    assert client.post("/api/jira/issues", json=body(world), headers=headers("approver", "x")).status_code == 403
    assert db.session.scalar(select(func.count()).select_from(IssueDraft)) == 0


def test_link_instead_links_the_customer_to_the_duplicate(client, world):
    draft = client.post("/api/jira/issues", json=body(world, summary="Export fails in Safari"),
                        headers=CSM).get_json()["draft"]
    duplicate = draft["duplicates"][0]
    assert duplicate["summary"] == "Export fails on Safari" and duplicate["customers"] == 0
    linked = client.post(f"/api/jira/drafts/{draft['id']}/link-instead", json={"key": duplicate["key"].lower()},
                         headers=CSM)
    assert linked.status_code == 200, linked.get_json()
    assert linked.get_json()["draft"]["status"] == "linked_existing"
    link = db.session.scalar(select(JiraCustomerLink).where(JiraCustomerLink.jira_key == duplicate["key"]))
    assert (link.customer_id, link.source) == (world["acme"].id, "manual")
    assert "customer_acme" in world["site"].state.issues[duplicate["key"]]["labels"]


def _fail_creates(site, status: int, count: int = 1) -> None:
    prefix = "/rest/api/3" if site.state.flavour == "cloud" else "/rest/api/2"  # /ex/jira/{cloudId} is mounted
    response = requests.post(f"{site.base_url}/_sandbox/faults/fail-next", headers=site.admin_headers, timeout=10,
                             json={"path": f"{prefix}/issue", "method": "POST", "status": status, "count": count})
    assert response.status_code == 201


def test_jira_down_at_create_fails_then_retries_into_one_issue(client, world, monkeypatch):
    site = world["site"]
    monkeypatch.setattr(create, "jira_client", fast_client)  # the client's own retries, without their waits
    _fail_creates(site, 503, count=10)  # more than the client's own retries
    draft = client.post("/api/jira/issues", json=body(world), headers=CSM).get_json()["draft"]
    failed = client.post(f"/api/jira/drafts/{draft['id']}/approve", json={}, headers=APPROVER).get_json()["draft"]
    assert failed["status"] == "failed" and "503" in failed["error"] and failed["next_attempt_at"]
    requests.delete(f"{site.base_url}/_sandbox/faults", headers=site.admin_headers, timeout=10)
    before = len(jira_issues(site))
    retried = client.post(f"/api/jira/drafts/{draft['id']}/retry", headers=CSM).get_json()["draft"]
    assert retried["status"] == "created" and len(jira_issues(site)) == before + 1
    assert client.post(f"/api/jira/drafts/{draft['id']}/retry", headers=CSM).status_code == 409


def test_a_refused_create_fails_without_retrying_by_itself(client, world):
    site = world["site"]
    draft = client.post("/api/jira/issues", json=body(world), headers=CSM).get_json()["draft"]
    site.state.set_required_fields("CS", ["customfield_10005"], issuetype="Bug")  # changed after the draft
    failed = client.post(f"/api/jira/drafts/{draft['id']}/approve", json={}, headers=APPROVER).get_json()["draft"]
    assert failed["status"] == "failed" and "Customer Impact is required" in failed["error"]
    assert failed["next_attempt_at"] is None
    with time_machine.travel(utcnow() + timedelta(hours=2)):
        assert create.retry_due() == {"due": 0}


def test_a_crash_after_jira_answered_is_recovered_without_a_second_issue(client, world, monkeypatch):
    site = world["site"]
    draft = client.post("/api/jira/issues", json=body(world), headers=CSM).get_json()["draft"]
    monkeypatch.setattr(create, "create_issue_job", lambda draft_id: {"outcome": "queued"})
    client.post(f"/api/jira/drafts/{draft['id']}/approve", json={}, headers=APPROVER)
    monkeypatch.undo()
    before = len(jira_issues(site))

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("worker killed between Jira's answer and the commit")

    monkeypatch.setattr(create, "_created", crash)
    with pytest.raises(KeyboardInterrupt):
        create.create_issue_job(draft["id"])
    monkeypatch.undo()
    db.session.rollback()
    assert len(jira_issues(site)) == before + 1
    stuck = db.session.get(IssueDraft, uuid.UUID(draft["id"]))
    assert stuck.status == "creating"
    assert create.retry_due() == {"due": 0}  # its lease has not run out
    with time_machine.travel(utcnow() + timedelta(seconds=create.LEASE_S + 60)):
        assert create.retry_due() == {"due": 1}
    db.session.expire_all()
    done = db.session.get(IssueDraft, stuck.id)
    assert done.status == "created" and done.attempts == 2
    assert len(jira_issues(site)) == before + 1  # found by its property, not created again
    assert site.state.issues[done.jira_key]["properties"]["cscx.draft"]["draft_id"] == draft["id"]


def test_concurrent_creators_create_one_issue(app, client, world, monkeypatch):
    site = world["site"]
    draft = client.post("/api/jira/issues", json=body(world), headers=CSM).get_json()["draft"]
    monkeypatch.setattr(create, "create_issue_job", lambda draft_id: {"outcome": "queued"})
    client.post(f"/api/jira/drafts/{draft['id']}/approve", json={}, headers=APPROVER)
    monkeypatch.undo()
    before = len(jira_issues(site))
    outcomes, barrier = [], threading.Barrier(3)

    def work():
        with app.app_context():
            barrier.wait()
            outcomes.append(create.create_issue_job(draft["id"])["outcome"])
            db.session.remove()

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["created", "not_claimed", "not_claimed"]
    assert len(jira_issues(site)) == before + 1


def test_concurrent_approvals_create_one_issue(app, client, world):
    site = world["site"]
    draft = client.post("/api/jira/issues", json=body(world), headers=CSM).get_json()["draft"]
    before = len(jira_issues(site))
    answers, barrier = [], threading.Barrier(2)

    def approve(who):
        with app.test_client() as own:
            barrier.wait()
            answers.append(own.post(f"/api/jira/drafts/{draft['id']}/approve", json={}, headers=who))

    threads = [threading.Thread(target=approve, args=(who,)) for who in (APPROVER, OTHER_APPROVER)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(r.status_code for r in answers)[0] == 200
    assert all(r.status_code in (200, 409) for r in answers)
    db.session.expire_all()
    final = db.session.get(IssueDraft, uuid.UUID(draft["id"]))
    assert final.status == "created"
    assert len(jira_issues(site)) == before + 1
