"""The chat's words: reply sentences, the text of a choice (a command that reads back as the same intent and
entities), durations, the help. Pure: plain values in, strings out."""

from __future__ import annotations

from collections.abc import Sequence

EVENT_PHRASES = {
    "resolved": "is resolved", "reopened": "is reopened", "moved_to_development": "moves to development",
    "priority_changed": "changes priority", "assignee_changed": "is reassigned", "status_changed": "changes status",
    "sla_breached": "breaches its SLA", "sla_at_risk": "is at risk of breaching its SLA", "created": "is created",
    "deleted": "is deleted",
}
CATEGORY_WORDS = {"done": "closed", "indeterminate": "in progress", "new": "not started"}
TYPE_PLURALS = {"Bug": "bugs", "Story": "stories", "Task": "tasks", "Epic": "epics"}
HELP_LINES = (
    "show a customer's Jira issues: “show open bugs for Acme Corp”, “acme's high priority tickets”",
    "an issue's status: “what's the status of CS-123?”",
    "draft a Jira issue for a customer (you submit it): “file a bug for Globex: export fails on Safari”",
    "alerts: “alert me when CS-123 is resolved”, “stop alerting me about CS-123”, “what am I watching?”",
)


def plural(count: int, word: str, words: str | None = None) -> str:
    """'1 issue', '3 issues'."""
    return f"{count} {word if count == 1 else (words or word + 's')}"


def listing(names: Sequence[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def issues_phrase(count: int, filters: dict) -> str:
    """'4 open high priority bugs', '1 closed issue', 'no bugs in progress'."""
    words = [_status_word(filters, before_noun=True)]
    if filters.get("priority"):
        words.append(f"{filters['priority'].lower()} priority")
    issue_type = filters.get("type")
    noun = TYPE_PLURALS.get(issue_type, f"{issue_type} issues" if issue_type else "issues")
    if count == 1:
        noun = noun[:-3] + "y" if noun.endswith("ies") else noun.removesuffix("s")
    tail = " in progress" if filters.get("status_category") == "indeterminate" else ""
    return " ".join([str(count) if count else "no", *(w for w in words if w), noun]) + tail


def duration(seconds: int | None) -> str | None:
    """'3 days', '5 hours', '12 minutes', 'a moment'."""
    if seconds is None:
        return None
    for size, unit in ((86_400, "day"), (3_600, "hour"), (60, "minute")):
        if seconds >= size:
            return plural(seconds // size, unit)
    return "a moment"


def alert_phrase(kinds: Sequence[str], subject: str, every: str | None = None) -> str:
    """'when CS-123 is resolved or moves to development', 'about every change to CS-123'."""
    if not kinds:
        return f"about every change to {every or subject}"
    return f"when {subject} " + " or ".join(EVENT_PHRASES.get(kind, kind.replace("_", " ")) for kind in kinds)


def command_text(intent: str, entities: dict, *, customer: str | None = None, site: str | None = None) -> str:
    """A command that says the intent with these entities (a choice's text: sent as is, it means the same)."""
    key = entities.get("issue_key")
    if intent == "show_issues":
        filters = entities.get("filters") or {}
        words = ["show"]
        if not filters.get("open") and not filters.get("status_category"):
            words.append("all")
        words += [w for w in (_status_word(filters), filters.get("priority") and
                              f"{filters['priority'].lower()} priority") if w]
        words.append(TYPE_PLURALS.get(filters.get("type"), "jira issues"))
        return " ".join(words) + f" for {customer}"
    if intent == "create_issue":
        noun = (entities.get("issue_type") or "jira issue").lower()
        text = f"create {'an' if noun[0] in 'aeiou' else 'a'} {noun} for {customer}"
        return text + (f": {entities['summary']}" if entities.get("summary") else "")
    target = key or customer
    if site:
        target = f"{target} on {site}"
    if intent == "subscribe":
        event = entities.get("event") or "any"
        return f"alert me about {target}" if event == "any" else f"alert me when {target} {EVENT_PHRASES[event]}"
    if intent == "unsubscribe":
        return f"stop alerting me about {target}"
    return f"what's the status of {target}"


def _status_word(filters: dict, *, before_noun: bool = False) -> str | None:
    """'open', 'closed', 'not started', 'in progress' (which reads after the noun in a sentence)."""
    category = filters.get("status_category")
    words = ["open"] if filters.get("open") else []
    if category and not (before_noun and category == "indeterminate"):
        words.append(CATEGORY_WORDS[category])
    return " ".join(words) or None


def help_text(unknown: bool) -> str:
    """What the chat can do (after "I can't help with that" when the message was not a command)."""
    opening = "I can't help with that here. " if unknown else ""
    return opening + "I can: " + "; ".join(HELP_LINES) + "."
