"""The chat box on the pages over HTTP (Flask's client), on SQLite and PostgreSQL: the dock on every page with the
page's context, POST /app/chat answering as the API does (context, conversations, choices, the draft form),
refusals in the box, escaping, tenant scoping."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import func, select

from connect_app.chat.respond import MAX_TEXT
from connect_app.extensions import db
from connect_app.models import ChatConversation, IssueDraft
from tests.chat.support import site
from tests.conftest import token_for
from tests.factories import make_customer, make_issue, make_link, make_organization

WS = "ws-talk"
CONVERSATION = re.compile(r'<input type="hidden" id="chat-conversation" name="conversation_id" value="([^"]+)"'
                          r' form="chat-form"\s+hx-swap-oob="true">')


@pytest.fixture
def world(app):
    """ws-talk: Acme Corp (two open bugs, one done), Acme Labs, a customer whose name is markup; another workspace."""
    org = make_organization(id=WS)
    acme = make_customer(org, name="Acme Corp", slug="acme-corp")
    labs = make_customer(org, name="Acme Labs", slug="acme-labs")
    sneaky = make_customer(org, name="Hooli <script>alert(1)</script>", slug="hooli")
    connection = site(org)
    issues = [make_issue(connection, jira_key="CS-1", summary="Export fails on Safari", priority="High"),
              make_issue(connection, jira_key="CS-2", summary="Checkout <b>down</b>", priority="Highest"),
              make_issue(connection, jira_key="CS-3", summary="Old login bug", status="Done", status_category="done")]
    for issue in issues:
        make_link(issue, acme)
    make_link(issues[1], sneaky)
    db.session.commit()
    other = make_organization(id="ws-elsewhere")
    stranger = make_customer(other, name="Stranger Things Ltd", slug="stranger")
    db.session.commit()
    return {"acme": acme, "labs": labs, "sneaky": sneaky, "stranger": stranger}


def bearer(user: str = "maya", workspace: str = WS) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(workspace, 'csm', user)}", "HX-Request": "true"}


def say(client, text: str, *, user: str = "maya", workspace: str = WS, **form: str):
    """Send one message as the chat box does (a form post from htmx)."""
    return client.post("/app/chat", data={"text": text, **form}, headers=bearer(user, workspace))


def conversation_of(html: str) -> str:
    found = CONVERSATION.search(html)
    assert found, html
    return found.group(1)


def test_every_page_has_the_chat_dock_with_its_own_context(client, world):
    acme = world["acme"]
    token = token_for(WS, "csm", "maya")
    customer_page = client.get(f"/app/customers/{acme.id}?token={token}").get_data(as_text=True)  # opened
    assert 'class="chat-dock"' in customer_page and 'id="chat-form"' in customer_page
    assert f'<input type="hidden" name="customer_id" value="{acme.id}">' in customer_page
    assert 'maxlength="2000"' in customer_page and 'hx-preserve="true"' in customer_page
    issue_page = client.get("/app/issues/CS-2", headers=bearer() | {"HX-Boosted": "true"}).get_data(as_text=True)
    assert '<input type="hidden" name="issue_key" value="CS-2">' in issue_page
    assert 'name="customer_id"' not in issue_page.split('id="chat-context"')[1].split("</div>")[0]
    # A layout swapped into a part of a page (not a navigation) brings no second dock.
    swapped = client.get("/app/issues/CS-2", headers=bearer()).get_data(as_text=True)
    assert "Status timeline" in swapped and "chat-dock" not in swapped
    # The full page has one box (no dock besides), with the context it was opened with.
    full = client.get(f"/app/chat?customer={acme.id}", headers=bearer() | {"HX-Boosted": "true"}).get_data(as_text=True)
    assert full.count('id="chat-form"') == 1 and "chat-dock" not in full
    assert f'name="customer_id" value="{acme.id}"' in full
    assert "Show Jira issues for Acme Corp" in full  # a ready-made first message about the page


def test_the_full_chat_page_refuses_a_foreign_customer_and_a_malformed_key(client, world):
    foreign = client.get(f"/app/chat?customer={world['stranger'].id}", headers=bearer())
    assert foreign.status_code == 404
    assert client.get("/app/chat?issue=not a key", headers=bearer()).status_code == 400
    assert 'name="issue_key" value="CS-12"' in client.get("/app/chat?issue=cs-012", headers=bearer()).get_data(
        as_text=True)


def test_the_page_context_answers_this_account_and_it(client, world):
    listed = say(client, "issues for this account", customer_id=str(world["acme"].id))
    assert listed.status_code == 200
    html = listed.get_data(as_text=True)
    assert 'data-intent="show_issues"' in html and "Acme Corp has 2 open issues" in unescape(html)
    assert 'data-key="CS-1"' in html and 'data-key="CS-2"' in html and 'data-key="CS-3"' not in html
    assert '<div class="chat-message chat-user"><span class="visually-hidden">You: </span>issues for this account<' \
        in html
    status = say(client, "is it done yet?", issue_key="CS-3").get_data(as_text=True)
    assert 'data-intent="issue_status"' in status and 'data-key="CS-3"' in status and "Done" in status
    # Without the context there is nothing to read "this account" as: the chat asks.
    asked = say(client, "issues for this account").get_data(as_text=True)
    assert 'data-key=' not in asked and "Which customer" in unescape(asked)


def test_choices_are_buttons_and_the_conversation_carries_the_answer(client, world):
    first = say(client, "show jira issues for acme")
    html = first.get_data(as_text=True)
    assert 'data-intent="clarify"' in html
    conversation = conversation_of(html)
    buttons = re.findall(r'<button type="button" class="button small chat-choice" hx-post="/app/chat"\s+'
                         r"hx-vals='([^']+)'[^>]*>([^<]+)</button>", html)
    assert [label for _, label in buttons] == ["Acme Corp", "Acme Labs"]
    assert [unescape(vals) for vals, _ in buttons][1] == '{"text": "show open jira issues for Acme Labs"}'
    assert 'hx-include="#chat-conversation, #chat-context"' in html
    # The answer to the question, in the same conversation, is Acme Corp's list; the id stays the same.
    picked = say(client, "the first one", conversation_id=conversation).get_data(as_text=True)
    assert 'data-intent="show_issues"' in picked and 'data-key="CS-1"' in picked
    assert conversation_of(picked) == conversation
    # The same words outside the conversation are not an answer to anything.
    fresh = say(client, "the first one").get_data(as_text=True)
    assert 'data-key="CS-1"' not in fresh and conversation_of(fresh) != conversation


def test_a_create_phrase_gives_a_form_to_the_new_issue_page_and_creates_nothing(client, world):
    html = say(client, "file a bug for acme corp: export fails on Safari").get_data(as_text=True)
    assert 'data-intent="create_issue"' in html
    form = re.search(r'<form class="chat-draft" action="([^"]+)" method="get".*?</form>', html, re.S)
    assert form and form.group(1) == "/app/issues/new"
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form.group(0)))
    assert fields == {"customer": str(world["acme"].id), "project": "CS", "type": "Bug",
                      "summary": "Export fails on Safari"}
    assert "data-action" not in html and "/api/jira/issues" not in html  # the API's form is not what the page shows
    assert db.session.scalar(select(func.count()).select_from(IssueDraft)) == 0


def test_names_and_messages_are_escaped(client, world):
    sneaky = world["sneaky"]
    html = say(client, "issues for this account", customer_id=str(sneaky.id)).get_data(as_text=True)
    assert "Hooli &lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert "Checkout &lt;b&gt;down&lt;/b&gt;" in html and "<b>down</b>" not in html
    echoed = say(client, '"><img src=x onerror=alert(1)>').get_data(as_text=True)
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in echoed and "<img" not in echoed
    page = client.get(f"/app/customers/{sneaky.id}", headers=bearer() | {"HX-Boosted": "true"}).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    # The greeting's ready-made message carries the name as JSON in an attribute, escaped there too.
    assert "show Jira issues for Hooli \\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in unescape(page)


@pytest.mark.parametrize("text, says", [
    ("   ", "Type a message to send."),
    ("x" * (MAX_TEXT + 1), "That message is 2,001 characters long; the chat reads at most 2,000."),
])
def test_an_empty_or_too_long_message_is_refused_in_the_box(client, world, text, says):
    refused = say(client, text)
    assert refused.status_code == 400
    assert refused.headers["HX-Retarget"] == "#chat-error" and refused.headers["HX-Reswap"] == "innerHTML"
    assert says in refused.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ChatConversation)) == 0


def test_another_workspace_or_user_gets_nothing_of_this_one(client, world):
    # Another workspace's customer as context: refused in the box, not answered.
    foreign = say(client, "issues for this account", customer_id=str(world["stranger"].id))
    assert foreign.status_code == 404 and foreign.headers["HX-Retarget"] == "#chat-error"
    assert "not in your workspace" in foreign.get_data(as_text=True)
    # Names are looked up in the caller's workspace only.
    outsider = say(client, "show jira issues for acme corp", workspace="ws-elsewhere").get_data(as_text=True)
    assert 'data-key="CS-1"' not in outsider and "Acme Corp has" not in outsider
    # Another user sending the same conversation id does not answer maya's question.
    conversation = conversation_of(say(client, "show jira issues for acme").get_data(as_text=True))
    omar = say(client, "the first one", user="omar", conversation_id=conversation).get_data(as_text=True)
    assert 'data-key="CS-1"' not in omar
    maya = say(client, "the first one", conversation_id=conversation).get_data(as_text=True)
    assert 'data-key="CS-1"' in maya


def test_the_chat_needs_the_pages_token(client, world):
    anonymous = client.post("/app/chat", data={"text": "help"}, headers={"HX-Request": "true"})
    assert anonymous.status_code == 401 and anonymous.headers["HX-Retarget"] == "body"
