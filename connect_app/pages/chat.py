"""The chat box on every page and the full chat page (`/app/chat`): the same answers as POST /api/jira/chat.

A message is answered by `connect_app.chat.respond.answer` (the API's own function, no HTTP round trip), with
the page the CSM is on as its context (a customer's page gives `customer_id`, an issue's page `issue_key`), so
"issues for this account" works there. The answer comes back as an htmx fragment appended to the chat log:
the message, the reply and its card, choices as buttons that send their text in the same conversation, and a
draft form that opens the new-issue page pre-filled (the approval flow creates the issue, never the chat).
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import g, render_template, request

from connect_app.chat import respond
from connect_app.chat.understand import KEY
from connect_app.errors import ApiError
from connect_app.pages.frame import bp
from connect_app.sync import queries


@bp.context_processor
def _chat_dock() -> dict[str, Any]:
    """What the layout's chat dock needs: whether to show it (on pages opened or navigated to, not on a page
    swapped into a part of one, as the new-issue form's answer is, which already has one), the API's text
    limit, and the ready-made first messages."""
    swapped_into_part = request.headers.get("HX-Request") and not (
        request.headers.get("HX-Boosted") or request.headers.get("HX-History-Restore-Request"))
    return {"chat_dock": request.endpoint != "pages.chat_page" and not swapped_into_part,
            "chat_max_text": respond.MAX_TEXT, "chat_examples": examples}


def examples(customer_name: str | None, issue_key: str | None) -> list[dict[str, str]]:
    """Ready-made first messages about what the page shows, as choices ({"label", "text"}) for the greeting."""
    texts = [f"show Jira issues for {customer_name}"] if customer_name else []
    if issue_key:
        texts.append(f"what's the status of {issue_key}")
    return [{"label": text[0].upper() + text[1:], "text": text} for text in [*texts, "what am I watching?"]]


def _issue_key(raw: str | None) -> str | None:
    """An issue key from the address (`?issue=`), normalised as the chat reads keys: ApiError 400 if it is not one."""
    if not raw:
        return None
    found = KEY.fullmatch(raw.strip())
    if found is None:
        raise ApiError(400, "invalid_parameter", "issue must be an issue key like CS-123")
    return f"{found.group(1).upper()}-{int(found.group(2))}"


@bp.get("/chat")
def chat_page():
    """The full chat page: the conversation carried over from the page it was opened from, and the box."""
    customer = None
    if request.args.get("customer"):
        customer = queries.workspace_customer(g.organization.id, request.args["customer"])
        if customer is None:
            raise ApiError(404, "not_found", "no such customer in this workspace")
    return render_template("pages/chat.html", customer=customer, issue_key=_issue_key(request.args.get("issue")))


def _problem(error: ApiError, text: str) -> str:
    """What the chat box says when the message is refused, in the CSM's words rather than the API's fields."""
    details = error.details if isinstance(error.details, dict) else {}
    if "text" in details:
        if not text.strip():
            return "Type a message to send."
        return f"That message is {len(text):,} characters long; the chat reads at most {respond.MAX_TEXT:,}. " \
               "Shorten it and send it again."
    if "context.customer_id" in error.message or "context.customer_id" in details:
        return "This page's customer is not in your workspace any more. Reload the page from CSCX.AI."
    if "conversation_id" in details or "context.issue_key" in details:
        return "This chat could not go on. Reload the page from CSCX.AI to start a new conversation."
    return error.message[:1].upper() + error.message[1:] + "."


@bp.post("/chat")
def chat_message():
    """One message from the chat box: the exchange appended to the log, the conversation id swapped in."""
    form = request.form
    text = form.get("text", "")
    context = {name: form[name].strip() for name in ("customer_id", "issue_key") if form.get(name, "").strip()}
    body = {"text": text, "conversation_id": form.get("conversation_id") or None, "context": context}
    try:
        answer = respond.answer(g.organization.id, g.principal, body)
    except ApiError as error:
        if error.status >= 500 or error.status == 401:
            raise
        # Into the box's alert, not over the page: the page is fine, only this message was refused.
        return render_template("pages/_chat_error.html", message=_problem(error, text)), error.status, {
            "HX-Retarget": "#chat-error", "HX-Reswap": "innerHTML"}
    card = answer["card"]
    draft = card if card and card["kind"] == "draft_form" else None
    # The card as the API renders it (chat/_card.html, autoescaped), less what the pages render as controls of
    # their own: choices become buttons that send their text, the draft form opens the new-issue page.
    shown = {"intent": answer["intent"], "reply": answer["reply"], "card": None if draft else card, "choices": []}
    return render_template("pages/_chat_exchange.html", text=text.strip(), answer=answer, shown=shown, draft=draft,
                           exchange=uuid.uuid4().hex[:10])
