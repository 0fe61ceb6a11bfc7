"""Answering one chat message (POST /api/jira/chat): the request checked, the conversation's pending question
answered or the message read afresh, the intent acted on, the card rendered, the conversation kept.

A conversation (workspace + user + the client's conversation_id) remembers the question it asked ("Which
one do you mean: Acme Corp or Acme Labs?") and the customer and issue it last spoke of, which stand in for
the request's context when it gives none. A follow-up that picks a choice ("the first one", "Acme Labs",
or a choice's text) or fills the missing piece answers the question; anything else is a new message.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from flask import render_template

from connect_app.chat import alerts, conversations, draft_form, issues, names
from connect_app.chat.answers import Answer, clarify_customer, help_answer, reading_of
from connect_app.chat.understand import (
    BARE_KEY,
    KEY,
    Context,
    CustomerMatch,
    CustomerRef,
    NameIndex,
    Reading,
    customers_named,
    pick,
    understand,
)
from connect_app.creation.drafts import Principal
from connect_app.errors import ApiError
from connect_app.sync.queries import workspace_customer

log = logging.getLogger(__name__)

MAX_TEXT = 2000
FIELDS = {"text", "conversation_id", "context"}
CONTEXT_FIELDS = {"customer_id", "issue_key"}


@dataclass(frozen=True)
class ChatRequest:
    """A checked chat request."""

    text: str
    conversation_id: str | None
    customer_id: str | None
    issue_key: str | None


def parse_request(raw: Any) -> ChatRequest:
    """The request body checked: ApiError 400 naming every field at fault."""
    if not isinstance(raw, dict):
        raise ApiError(400, "invalid_body", "the body must be a JSON object")
    errors = dict.fromkeys(sorted(set(raw) - FIELDS), "unknown field")
    text = raw.get("text")
    if not isinstance(text, str) or not text.strip():
        errors["text"] = "is required: the message as typed"
    elif len(text) > MAX_TEXT:
        errors["text"] = f"must be at most {MAX_TEXT} characters"
    conversation_id = raw.get("conversation_id")
    if conversation_id is not None and (not isinstance(conversation_id, str)
                                        or not conversations.CONVERSATION_ID.fullmatch(conversation_id)):
        errors["conversation_id"] = "must be 1-100 letters, digits or . _ : -"
    context = raw.get("context")
    context = {} if context is None else context
    if not isinstance(context, dict):
        errors["context"] = "must be an object with customer_id and/or issue_key"
        context = {}
    for name in sorted(set(context) - CONTEXT_FIELDS):
        errors[f"context.{name}"] = "unknown field"
    customer_id, issue_key = context.get("customer_id"), context.get("issue_key")
    if customer_id is not None:
        try:
            customer_id = str(uuid.UUID(str(customer_id)))
        except ValueError:
            errors["context.customer_id"] = "must be a customer id (UUID)"
    if issue_key is not None:
        found = KEY.fullmatch(issue_key.strip()) if isinstance(issue_key, str) else None
        if found is None:
            errors["context.issue_key"] = "must be an issue key like CS-123"
        else:
            issue_key = f"{found.group(1).upper()}-{int(found.group(2))}"
    if errors:
        raise ApiError(400, "invalid_parameter", "the chat request is not valid", errors)
    return ChatRequest(text.strip(), conversation_id, customer_id, issue_key)


def _ref(organization_id: str, customer_id: str | None) -> CustomerRef | None:
    customer = workspace_customer(organization_id, customer_id) if customer_id else None
    return CustomerRef(str(customer.id), customer.name, customer.slug, customer.external_id) if customer else None


def _context(organization_id: str, request: ChatRequest, state: dict[str, Any]) -> Context:
    """The request's context, else what the conversation last spoke of."""
    customer = _ref(organization_id, request.customer_id)
    if request.customer_id and customer is None:
        raise ApiError(404, "not_found", "no such customer in this workspace (context.customer_id)")
    return Context(customer or _ref(organization_id, state.get("customer_id")),
                   request.issue_key or state.get("issue_key"))


def act(organization_id: str, principal: Principal, reading: Reading, context: Context,
        connection_id: str | None = None) -> Answer:
    """Do what the reading asks (see each intent's module)."""
    intent = reading.intent
    if intent == "clarify":
        return clarify_customer(reading)
    if intent == "show_issues":
        return issues.show_issues(organization_id, reading)
    if intent == "issue_status":
        return issues.issue_status(organization_id, reading, connection_id)
    if intent == "create_issue":
        return draft_form.create_issue(organization_id, reading)
    if intent == "subscribe":
        return alerts.subscribe(organization_id, principal, reading, connection_id)
    if intent == "unsubscribe":
        return alerts.unsubscribe(organization_id, principal, reading, connection_id)
    if intent == "list_subscriptions":
        return alerts.list_subscriptions(organization_id, principal, reading)
    examples = ["what am I watching?"]
    if context.issue_key:
        examples.insert(0, f"what's the status of {context.issue_key}")
    if context.customer:
        examples.insert(0, f"show jira issues for {context.customer.name}")
    return help_answer(reading, examples)


def _follow_up(organization_id: str, principal: Principal, text: str, waiting: dict[str, Any],
               fresh: Reading, index: NameIndex, context: Context) -> tuple[Answer, Reading] | None:
    """The answer to the pending question, if the message answers it; None if it is a new message."""
    reading = reading_of(waiting)
    if waiting.get("customer_id"):
        customer = _ref(organization_id, waiting["customer_id"])
        reading.customer = CustomerMatch(customer, 1.0, "the conversation") if customer else None
    choices = waiting.get("choices") or []
    awaiting = waiting["awaiting"]
    said = " ".join(text.lower().split())
    chosen = next((n for n, c in enumerate(choices) if " ".join(c["text"].lower().split()) == said), None)
    if chosen is None and awaiting == "issue" and fresh.issue_key and len(KEY.sub("", text).split()) <= 2:
        reading.issue_key = fresh.issue_key
        reading.why.append("gives the issue asked for")
        return act(organization_id, principal, reading, context), reading
    if chosen is None and awaiting == "summary" and (
            fresh.intent in ("unknown", "help") or (fresh.intent == "show_issues" and fresh.customer is None)):
        summary = text.strip().rstrip(".!")
        reading.summary = (summary[0].upper() + summary[1:])[:255]
        reading.why.append("gives the summary asked for")
        return act(organization_id, principal, reading, context), reading
    if chosen is None and fresh.intent not in ("unknown", "help"):
        return None  # a command of its own
    if chosen is None and choices:
        chosen = pick(text, [c["label"] for c in choices])
    if chosen is not None:
        value = choices[chosen]["value"]
        if value.get("customer_id"):
            customer = _ref(organization_id, value["customer_id"])
            if customer is None:
                return None
            reading.customer = CustomerMatch(customer, 1.0, "the choice")
        reading.why.append(f"chose {choices[chosen]['label']}")
        return act(organization_id, principal, reading, context, value.get("connection_id")), reading
    if awaiting == "customer":
        matches = customers_named(text, index)
        if not matches:
            return None
        if len(matches) > 1:
            reading.candidates, reading.of, reading.intent = matches, reading.intent, "clarify"
        else:
            reading.customer = matches[0]
        reading.why.append("names the customer asked for")
        return act(organization_id, principal, reading, context), reading
    return None


def answer(organization_id: str, principal: Principal, raw: Any) -> dict[str, Any]:
    """Answer one chat message (the API's view, with the html card and the conversation id)."""
    started = time.perf_counter()
    request = parse_request(raw)
    conversation_id = request.conversation_id or uuid.uuid4().hex
    state = conversations.load(organization_id, principal.user_id, conversation_id)
    context = _context(organization_id, request, state)
    index = names.customer_index(organization_id)
    prefixes = {found.group(1) for found in BARE_KEY.finditer(request.text)}
    fresh = understand(request.text, index, context, names.project_keys(organization_id, prefixes))
    answered = None
    if state.get("pending"):
        answered = _follow_up(organization_id, principal, request.text, state["pending"], fresh, index, context)
    reply, reading = answered or (act(organization_id, principal, fresh, context), fresh)
    remembered = {k: state[k] for k in ("customer_id", "issue_key") if state.get(k)} | reply.remember
    if state or reply.pending or remembered:  # a conversation with nothing to keep is not stored
        conversations.save(organization_id, principal.user_id, conversation_id,
                           {"pending": reply.pending, **remembered})
    log.info("chat.answered", extra={"intent": reply.intent, "follow_up": answered is not None,
                                     "ms": round((time.perf_counter() - started) * 1000, 1)})
    return reply.view() | {"html": render_template("chat/_card.html", answer=reply),
                           "explanation": reading.why, "conversation_id": conversation_id}

