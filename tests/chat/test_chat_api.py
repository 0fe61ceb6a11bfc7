"""POST /api/jira/chat on SQLite and PostgreSQL: what each intent does (and does not do), follow-ups within a
conversation, tenant scoping, escaping in the html card, and every answer checked against the OpenAPI document."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from html.parser import HTMLParser

import pytest
import time_machine
from sqlalchemy import func, select

from connect_app.api.openapi import load_spec
from connect_app.creation.drafts import parse_body
from connect_app.extensions import db
from connect_app.models import ChatConversation, IssueDraft, IssueStatusChange, OutboxMessage, Subscription
from connect_app.models.types import utcnow
from tests.chat.support import PATH, WS, headers, say, site
from tests.factories import make_customer, make_issue, make_link, make_organization
from tests.test_openapi import check_response


@pytest.fixture
def world(app):
    """A workspace with Acme Corp, Acme Labs, Globex (four issues, one breaching its SLA) and Initech."""
    org = make_organization(id=WS)
    acme = make_customer(org, name="Acme Corp", slug="acme-corp")
    labs = make_customer(org, name="Acme Labs", slug="acme-labs")
    globex = make_customer(org, name="Globex", slug="globex", csm_owner_id="maya")
    initech = make_customer(org, name="Initech", slug="initech")
    connection = site(org, display_url="https://globex-eng.atlassian.net")
    days_ago = utcnow() - timedelta(days=3)
    issues = {
        "CS-1": make_issue(connection, jira_key="CS-1", summary="Export fails on Safari", issue_type="Bug",
                           priority="High", assignee_name="Dana Lee", created_at=days_ago),
        "CS-2": make_issue(connection, jira_key="CS-2", summary="Old login bug", issue_type="Bug", priority="Low",
                           status="Done", status_category="done", created_at=days_ago),
        "CS-3": make_issue(connection, jira_key="CS-3", summary="Dark mode", issue_type="Story", priority="Medium",
                           status="In Progress", status_category="indeterminate", created_at=days_ago),
        "CS-4": make_issue(connection, jira_key="CS-4", summary="Checkout down", issue_type="Bug", priority="Highest",
                           created_at=days_ago),
        "CS-9": make_issue(connection, jira_key="CS-9", summary="Unlinked", created_at=days_ago),
    }
    for key in ("CS-1", "CS-2", "CS-3", "CS-4"):
        make_link(issues[key], globex)
    make_link(issues["CS-4"], acme, link_type="requested")
    db.session.add(IssueStatusChange(connection_id=connection.id, issue_id=issues["CS-3"].id, change_id="h1",
                                     from_status="To Do", to_status="In Progress", from_category="new",
                                     to_category="indeterminate", changed_at=utcnow() - timedelta(hours=5)))
    db.session.commit()
    return {"org": org, "acme": acme, "labs": labs, "globex": globex, "initech": initech, "connection": connection,
            "issues": issues}


@pytest.fixture
def breach(client, world):
    """A 4-hour SLA on Highest issues (CS-4, three days old, breaches it)."""
    response = client.post("/api/jira/sla/policies", headers=headers(role="admin", user="root"), json={
        "name": "Highest in 4 hours", "metric": "time_to_resolution", "target": "4h",
        "selector": {"priorities": ["Highest"]}})
    assert response.status_code == 201, response.get_json()


def subscriptions(user: str = "maya") -> list[Subscription]:
    return list(db.session.scalars(select(Subscription).where(Subscription.user_id == user)
                                   .order_by(Subscription.created_at)))


# ---- show_issues --------------------------------------------------------------------------------------

def test_show_issues_lists_the_open_ones_most_urgent_first_and_counts_sla_breaches(client, world, breach):
    body = say(client, "Show Jira issues for Globex")
    assert body["intent"] == "show_issues"
    assert body["entities"] == {"customer": {"id": str(world["globex"].id), "name": "Globex", "match": 1.0},
                                "filters": {"open": True}}
    card = body["card"]
    assert card["kind"] == "issue_list" and (card["total"], card["breaching"], card["more"]) == (3, 1, 0)
    assert [(i["key"], i["sla_state"]) for i in card["issues"]] == [("CS-4", "breached"), ("CS-1", None),
                                                                    ("CS-3", None)]
    assert card["issues"][0]["url"] == "https://globex-eng.atlassian.net/browse/CS-4"
    assert body["reply"] == "Globex has 3 open issues, 1 breaching its SLA."
    assert "CS-2" not in body["html"] and "CS-4" in body["html"]


@pytest.mark.parametrize(("text", "keys"), [
    ("any high priority bugs for Globex", ["CS-1"]),
    ("globex's closed tickets", ["CS-2"]),
    ("what's in progress for globex", ["CS-3"]),
    ("all issues for globx", ["CS-4", "CS-1", "CS-3", "CS-2"]),
])
def test_show_issues_applies_the_filters_asked_for(client, world, text, keys):
    body = say(client, text)
    assert [i["key"] for i in body["card"]["issues"]] == keys
    assert body["card"]["filters"] == body["entities"]["filters"]


def test_issues_for_this_account_use_the_context_then_the_conversation(client, world):
    context = {"customer_id": str(world["globex"].id)}
    body = say(client, "issues for this account", context=context, conversation_id="c-1")
    assert body["entities"]["customer"]["name"] == "Globex" and body["card"]["total"] == 3
    again = say(client, "what's open for them?", conversation_id="c-1")  # no context: the conversation's customer
    assert again["entities"]["customer"]["name"] == "Globex"
    assert say(client, "show open bugs")["card"] is None  # a new conversation knows no customer


def test_a_missing_customer_is_asked_for_and_the_answer_completes_the_command(client, world):
    asked = say(client, "show me open bugs", conversation_id="c-2")
    assert asked["intent"] == "show_issues" and asked["card"] is None and "Which customer" in asked["reply"]
    answered = say(client, "globex", conversation_id="c-2")
    assert answered["intent"] == "show_issues"
    assert answered["entities"]["customer"]["name"] == "Globex"
    assert answered["entities"]["filters"] == {"open": True, "type": "Bug"}
    assert [i["key"] for i in answered["card"]["issues"]] == ["CS-4", "CS-1"]
    unknown = say(client, "show issues for zyxcorp")
    assert unknown["reply"].startswith("I don't know a customer called “zyxcorp”")


# ---- issue_status -------------------------------------------------------------------------------------

def test_issue_status_answers_status_assignee_priority_time_in_status_sla_and_customers(client, world, breach):
    body = say(client, "where are we on cs-3")
    assert body["intent"] == "issue_status" and body["entities"] == {"issue_key": "CS-3"}
    issue = body["card"]["issue"]
    assert (issue["status"], issue["assignee"], issue["priority"]) == ("In Progress", None, "Medium")
    assert 5 * 3600 - 60 <= issue["time_in_status_seconds"] <= 5 * 3600 + 60
    assert body["card"]["customers"] == [{"id": str(world["globex"].id), "name": "Globex", "link_type": "affected"}]
    assert body["reply"] == "CS-3 “Dark mode” is In Progress, unassigned, priority Medium; 5 hours in In Progress. " \
                            "Affects Globex."
    late = say(client, "is CS-4 done yet")
    assert late["card"]["sla"]["worst"] == "breached"
    assert late["card"]["sla"]["clocks"][0]["policy"] == "Highest in 4 hours"
    assert "SLA: breached." in late["reply"] and "Affects Acme Corp and Globex." in late["reply"]


def test_a_key_nowhere_is_not_found_and_jira_was_asked(client, world):
    body = say(client, "status of CS-404")
    assert body["intent"] == "issue_status" and body["card"] is None
    assert body["reply"].startswith("I can't find CS-404 among the synced issues, and Jira could not be asked")


def test_a_key_on_two_sites_is_clarified_by_site_and_the_follow_up_picks_one(client, world):
    other = site(world["org"], display_url="https://initech.atlassian.net")
    make_issue(other, jira_key="CS-1", summary="Initech's own CS-1", priority="Low")
    asked = say(client, "status cs-1", conversation_id="c-3")
    assert asked["intent"] == "clarify" and asked["card"]["for"] == "issue_status"
    assert [c["label"] for c in asked["choices"]] == ["CS-1 on globex-eng.atlassian.net",
                                                      "CS-1 on initech.atlassian.net"] or \
        [c["label"] for c in asked["choices"]] == ["CS-1 on initech.atlassian.net", "CS-1 on globex-eng.atlassian.net"]
    second = asked["choices"][1]
    picked = say(client, "the second one", conversation_id="c-3")
    assert picked["intent"] == "issue_status" and picked["card"]["issue"]["url"].startswith(
        "https://" + second["label"].split(" on ")[1])
    fresh = say(client, second["text"])  # the choice's text works on its own too
    assert fresh["card"]["issue"]["summary"] == picked["card"]["issue"]["summary"]


# ---- create_issue -------------------------------------------------------------------------------------

def test_create_issue_answers_a_pre_filled_draft_form_and_creates_nothing(client, world):
    body = say(client, "file a bug for Globex: export fails on Safari")
    assert body["intent"] == "create_issue"
    assert body["entities"]["issue_type"] == "Bug" and body["entities"]["summary"] == "Export fails on Safari"
    card = body["card"]
    assert card["kind"] == "draft_form" and card["submit"] == {"method": "POST", "path": "/api/jira/issues"}
    assert card["draft"] == {"customer_id": str(world["globex"].id), "project_key": "CS", "issue_type": "Bug",
                             "summary": "Export fails on Safari", "description": "", "link_type": "requested"}
    assert card["missing"] == []
    assert parse_body(card["draft"])["summary"] == "Export fails on Safari"  # what POST /api/jira/issues accepts
    assert "Nothing is created in Jira until you submit it" in body["reply"]
    assert db.session.scalar(select(func.count()).select_from(IssueDraft)) == 0
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_a_draft_without_a_summary_asks_for_it_and_names_the_connection_when_there_are_several(client, world):
    site(world["org"])
    body = say(client, "log a feature request for initech", conversation_id="c-4")
    assert body["card"]["missing"] == ["summary"] and body["card"]["draft"]["issue_type"] == "Story"
    assert body["card"]["draft"]["connection_id"] == str(world["connection"].id)
    assert body["card"]["draft"]["project_key"] == "CS"  # no issue of Initech's yet: the workspace's recent ones
    assert body["reply"].endswith("What should its summary say?")
    filled = say(client, "SSO with Okta", conversation_id="c-4")
    assert filled["card"]["draft"]["summary"] == "SSO with Okta"
    assert filled["card"]["draft"]["customer_id"] == str(world["initech"].id)
    assert filled["card"]["missing"] == []
    assert db.session.scalar(select(func.count()).select_from(IssueDraft)) == 0


# ---- subscribe / unsubscribe / list -------------------------------------------------------------------

def test_subscribing_twice_keeps_one_subscription_and_another_event_widens_it(client, world):
    first = say(client, "Alert me when CS-1 is resolved")
    assert first["intent"] == "subscribe" and first["entities"] == {"issue_key": "CS-1", "event": "resolved"}
    assert first["card"]["created"] is True and first["reply"] == "Done: I'll alert you when CS-1 is resolved."
    again = say(client, "alert me when cs-1 is resolved")
    assert again["card"]["created"] is False and again["reply"] == "You already get alerts when CS-1 is resolved."
    rows = subscriptions()
    assert [(r.scope, r.jira_key, r.event_kinds) for r in rows] == [("issue", "CS-1", ["resolved"])]
    assert rows[0].connection_id == world["connection"].id
    say(client, "ping me when cs-1 moves to development")
    assert [r.event_kinds for r in subscriptions()] == [["moved_to_development", "resolved"]]
    say(client, "watch CS-1")  # any change
    assert [r.event_kinds for r in subscriptions()] == [[]]
    assert subscriptions("someone-else") == []


def test_unsubscribing_removes_the_subscription_or_just_the_kind_named(client, world):
    say(client, "let me know if CS-9's priority changes")
    say(client, "let me know when CS-9 is resolved")
    fewer = say(client, "stop telling me when CS-9's priority changes")
    assert fewer["intent"] == "unsubscribe" and fewer["entities"]["event"] == "priority_changed"
    assert [r.event_kinds for r in subscriptions()] == [["resolved"]]
    gone = say(client, "stop alerting me about cs-9")
    assert gone["reply"] == "Done: no more alerts about CS-9." and gone["card"]["removed"] == 1
    assert subscriptions() == []
    assert say(client, "unwatch CS-9")["reply"] == "You don't get alerts about CS-9."


def test_customer_alerts_and_what_am_i_watching(client, world):
    say(client, "alert me about anything new for initech")
    say(client, "alert me when CS-4 breaches its SLA")
    listed = say(client, "what am I watching?")
    assert listed["intent"] == "list_subscriptions"
    assert sorted((s["jira_key"] or "", s["customer"] and s["customer"]["name"], tuple(s["event_kinds"]))
                  for s in listed["card"]["subscriptions"]) == [("", "Initech", ("created",)),
                                                                ("CS-4", None, ("sla_breached",))]
    assert "CS-4 (sla breached)" in listed["reply"] and "Initech (created)" in listed["reply"]
    listed_by_api = client.get("/api/jira/subscriptions", headers=headers())  # the same rows, documented alike
    assert len(check_response(load_spec(), "/api/jira/subscriptions", "get", listed_by_api)["subscriptions"]) == 2
    owner = say(client, "stop alerting me about globex")
    assert "as its CSM you hear about its issues by default" in owner["reply"]


def test_alerts_need_an_issue_that_exists(client, world):
    body = say(client, "alert me when CS-404 is resolved")
    assert body["intent"] == "subscribe" and body["card"] is None and "can't find CS-404" in body["reply"]
    assert subscriptions() == []


# ---- clarify, help, unknown ------------------------------------------------------------------------------

@pytest.mark.parametrize("follow_up", ["the second one", "Acme Labs", "labs", "2",
                                       "show open bugs for Acme Labs"])
def test_an_ambiguous_customer_is_clarified_within_the_conversation(client, world, follow_up):
    asked = say(client, "acme bugs", conversation_id="c-5")
    assert asked["intent"] == "clarify" and asked["card"]["kind"] == "choices"
    assert asked["choices"] == [{"label": "Acme Corp", "text": "show open bugs for Acme Corp"},
                                {"label": "Acme Labs", "text": "show open bugs for Acme Labs"}]
    assert asked["reply"] == "Which one do you mean: Acme Corp or Acme Labs?"
    picked = say(client, follow_up, conversation_id="c-5")
    assert picked["intent"] == "show_issues"
    assert picked["entities"]["customer"]["name"] == "Acme Labs"
    assert picked["entities"]["filters"] == {"open": True, "type": "Bug"}


def test_a_clarified_alert_subscribes_once_the_choice_is_made(client, world):
    asked = say(client, "alert me about acme", conversation_id="c-6")
    assert asked["intent"] == "clarify" and asked["card"]["for"] == "subscribe" and subscriptions() == []
    say(client, "the first one", conversation_id="c-6")
    assert [(r.scope, r.customer_id) for r in subscriptions()] == [("customer", world["acme"].id)]


def test_follow_ups_are_private_to_the_user_and_workspace_and_expire(client, world):
    say(client, "acme bugs", conversation_id="c-7")
    other_user = say(client, "the first one", conversation_id="c-7", user="omar")
    assert other_user["intent"] == "unknown"
    make_organization(id="ws-other")
    other_workspace = say(client, "the first one", conversation_id="c-7", workspace="ws-other")
    assert other_workspace["intent"] == "unknown"
    rows = db.session.scalars(select(ChatConversation).where(ChatConversation.conversation_id == "c-7")).all()
    # Only maya's question was kept: the others' messages left nothing to keep, so nothing was stored.
    assert [(r.organization_id, r.user_id) for r in rows] == [(WS, "maya")]
    with time_machine.travel(utcnow() + timedelta(minutes=31)):
        assert say(client, "the first one", conversation_id="c-7")["intent"] == "unknown"
        say(client, "acme bugs", conversation_id="c-9")  # a new conversation sweeps the expired ones
    db.session.expire_all()
    assert db.session.scalars(select(ChatConversation.conversation_id)).all() == ["c-9"]


def test_a_new_command_replaces_the_pending_question(client, world):
    say(client, "acme bugs", conversation_id="c-8")
    body = say(client, "what's the status of CS-1", conversation_id="c-8")
    assert body["intent"] == "issue_status"
    assert say(client, "the first one", conversation_id="c-8")["intent"] == "unknown"


@pytest.mark.parametrize("text", ["delete CS-1", "close cs-1", "assign CS-1 to me", "what's the weather in paris"])
def test_anything_else_gets_the_help_and_nothing_is_done(client, world, text):
    before = {k: (i.status, i.assignee_name, i.deleted_at) for k, i in world["issues"].items()}
    body = say(client, text, context={"issue_key": "CS-1", "customer_id": str(world["globex"].id)})
    assert body["intent"] == "unknown" and body["card"] is None
    assert body["reply"].startswith("I can't help with that here. I can: show a customer's Jira issues")
    assert [c["text"] for c in body["choices"]] == ["show jira issues for Globex", "what's the status of CS-1",
                                                    "what am I watching?"]
    db.session.expire_all()
    assert {k: (i.status, i.assignee_name, i.deleted_at) for k, i in world["issues"].items()} == before
    assert subscriptions() == []


def test_help_lists_what_the_chat_can_do(client, world):
    body = say(client, "what can you do?")
    assert body["intent"] == "help" and body["reply"].startswith("I can: ")
    assert body["explanation"] == ["intent help: asks what the chat can do"]


# ---- tenancy, escaping, validation ---------------------------------------------------------------------

def test_another_workspaces_customers_and_issues_never_match(client, world):
    other = make_organization(id="ws-b")
    umbrella = make_customer(other, name="Umbrella Corporation", slug="umbrella")
    connection = site(other)
    make_link(make_issue(connection, jira_key="UMB-1", project_key="UMB"), umbrella)
    body = say(client, "show issues for umbrella corp")
    assert body["intent"] == "show_issues" and "customer" not in body["entities"] and body["card"] is None
    assert say(client, "show issues for umbrela")["card"] is None  # nor fuzzily
    assert say(client, "status of UMB-1")["card"] is None
    assert say(client, "alert me when UMB-1 is resolved")["card"] is None and subscriptions() == []
    assert say(client, "issues for this account", status=404,
               context={"customer_id": str(umbrella.id)})["error"]["code"] == "not_found"
    theirs = say(client, "show issues for umbrella corp", workspace="ws-b")
    assert theirs["entities"]["customer"]["name"] == "Umbrella Corporation" and theirs["card"]["total"] == 1


class _Markup(HTMLParser):
    """The elements and attributes of an html fragment."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))


def markup(html: str) -> _Markup:
    parsed = _Markup()
    parsed.feed(html)
    return parsed


def test_everything_in_the_html_card_is_escaped(client, world):
    evil = make_customer(world["org"], name='<script>alert("c")</script> Evil "Corp"', slug="evil")
    issue = make_issue(world["connection"], jira_key="CS-66", summary='<img src=x onerror="alert(1)">',
                       assignee_name="<b>Mallory</b>", status="<i>Open</i>")
    make_link(issue, evil)
    answers = [
        say(client, "show issues for evil"),
        say(client, "status of cs-66"),
        say(client, 'file a bug for evil: x"><script>alert(2)</script>'),
        say(client, "issues for this account", context={"customer_id": str(evil.id)}),
    ]
    for body in answers:
        html = body["html"]
        tags = markup(html).tags
        assert not [t for t, _ in tags if t in ("script", "img", "b", "i")], html
        assert not [a for _, attrs in tags for a, _ in attrs if a.startswith("on")], html
        assert "<script" not in html and ("&lt;script&gt;" in html or "&lt;img" in html), html
    assert 'value="X&#34;&gt;&lt;script&gt;alert(2)&lt;/script&gt;"' in answers[2]["html"]
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in answers[1]["html"]


def test_links_in_the_card_only_point_at_http(client, world):
    world["connection"].display_url = "javascript:alert(1)//"
    db.session.commit()
    html = say(client, "show issues for globex")["html"]
    assert "javascript:" not in "".join(v or "" for _, attrs in markup(html).tags for _, v in attrs)


@pytest.mark.parametrize(("body", "fields"), [
    ({}, {"text"}),
    ({"text": "   "}, {"text"}),
    ({"text": "x" * 2001}, {"text"}),
    ({"text": "hi", "conversation_id": "has spaces"}, {"conversation_id"}),
    ({"text": "hi", "context": {"customer_id": "nope", "issue_key": "not a key", "extra": 1}},
     {"context.customer_id", "context.issue_key", "context.extra"}),
    ({"text": "hi", "mood": "happy"}, {"mood"}),
])
def test_bad_requests_name_every_field_at_fault(client, world, body, fields):
    response = client.post(PATH, json=body, headers=headers())
    assert response.status_code == 400
    assert set(check_response(load_spec(), PATH, "post", response)["error"]["details"]) == fields


def test_any_role_may_chat_and_a_token_is_required(client, world):
    for role in ("csm", "pm", "support", "approver", "admin"):
        assert client.post(PATH, json={"text": "help"}, headers=headers(role=role)).status_code == 200
    unauthenticated = client.post(PATH, json={"text": "help"})
    assert unauthenticated.status_code == 401
    check_response(load_spec(), PATH, "post", unauthenticated)


def test_a_conversation_id_is_made_when_none_is_given_and_kept_when_given(client, world):
    made = say(client, "help")["conversation_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made) and uuid.UUID(made)
    assert say(client, "help", conversation_id="mine-1")["conversation_id"] == "mine-1"
