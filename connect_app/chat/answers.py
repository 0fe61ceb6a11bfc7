"""An answer to a chat message, and the answers every intent shares: a question back (a customer or an issue
is missing, or fits several), and the help."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connect_app.chat.replies import command_text, help_text, listing
from connect_app.chat.understand import Reading

# What a pending command keeps of its reading, to act on it once the follow-up answers the question.
KEPT = ("issue_key", "site", "filters", "event", "event_kinds", "issue_type", "summary")


@dataclass
class Answer:
    """What the chat answers: the reply, a card to show, choices, and what the conversation then waits for.

    `pending` is None or {"intent", "reading" (KEPT values), "customer_id", "awaiting": customer | issue |
    connection | summary, "choices": [{"label", "text", "value"}]}; `remember` the customer and issue spoken of.
    """

    intent: str
    entities: dict[str, Any]
    reply: str
    card: dict[str, Any] | None = None
    choices: list[dict[str, Any]] = field(default_factory=list)
    pending: dict[str, Any] | None = None
    remember: dict[str, str] = field(default_factory=dict)

    def view(self) -> dict[str, Any]:
        """The answer as the API sends it (choices without their internal values)."""
        return {"intent": self.intent, "entities": self.entities, "reply": self.reply, "card": self.card,
                "choices": [{"label": c["label"], "text": c["text"]} for c in self.choices]}


def pending(reading: Reading, awaiting: str, choices: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """What a conversation waits for: the reading's command, the missing piece, the choices offered."""
    kept = {name: getattr(reading, name) for name in KEPT}
    return {"intent": reading.action, "reading": kept, "awaiting": awaiting, "choices": choices or [],
            "customer_id": reading.customer.customer.id if reading.customer else None}


def reading_of(waiting: dict[str, Any]) -> Reading:
    """The reading a pending command was made from."""
    return Reading(waiting["intent"], **waiting["reading"], why=["answers the previous question"])


def ask(reading: Reading, awaiting: str, question: str) -> Answer:
    """Ask for what the command lacks; the next message may answer it."""
    return Answer(reading.action, reading.entities(), question, pending=pending(reading, awaiting))


def which_customer(reading: Reading, purpose: str) -> str:
    """'Which customer? ...', saying so when the name given fits none."""
    if reading.unmatched:
        return f"I don't know a customer called “{reading.unmatched}”. Which customer {purpose}?"
    return f"Which customer {purpose}? Say its name, e.g. “Acme Corp”."


def clarify_customer(reading: Reading) -> Answer:
    """The name fits several customers: offer each, as a command that names it fully."""
    entities = reading.entities()
    choices = [{"label": m.customer.name,
                "text": command_text(reading.action, entities, customer=m.customer.name),
                "value": {"customer_id": m.customer.id}} for m in reading.candidates]
    names = [c["label"] for c in choices]
    reply = f"Which one do you mean: {listing(names[:-1])} or {names[-1]}?"
    card = {"kind": "choices", "for": reading.action, "choices": [{"label": c["label"], "text": c["text"]}
                                                                  for c in choices]}
    return Answer("clarify", entities, reply, card, choices, pending(reading, "customer", choices))


def clarify_connection(reading: Reading, sites: list[tuple[str, str]]) -> Answer:
    """The key exists on several Jira sites: offer each ((connection id, site host) pairs)."""
    entities = reading.entities()
    choices = [{"label": f"{reading.issue_key} on {host}",
                "text": command_text(reading.action, entities, site=host),
                "value": {"connection_id": connection_id}} for connection_id, host in sites]
    reply = f"{reading.issue_key} exists on {len(sites)} Jira sites. Which one: " \
            f"{listing([host for _, host in sites[:-1]])} or {sites[-1][1]}?"
    card = {"kind": "choices", "for": reading.action, "choices": [{"label": c["label"], "text": c["text"]}
                                                                  for c in choices]}
    return Answer("clarify", entities, reply, card, choices, pending(reading, "connection", choices))


def help_answer(reading: Reading, examples: list[str]) -> Answer:
    """What the chat can do, with ready-made commands about what the CSM is looking at."""
    return Answer(reading.intent, {}, help_text(reading.intent == "unknown"),
                  choices=[{"label": text[0].upper() + text[1:], "text": text, "value": {}} for text in examples])
