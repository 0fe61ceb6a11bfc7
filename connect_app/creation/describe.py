"""The description Jira receives: the CSM's text, then the customer's context, as ADF (Cloud) or wiki markup
(Server/DC). The CSM's text is never read as markup: ADF holds it in text nodes, wiki markup escapes it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# Characters Jira's wiki renderer reads as markup; a backslash makes each literal.
WIKI_SPECIAL = re.compile(r"([\\*_?\-+^~|!{}\[\]#])")
WIKI_LINE_MARKUP = re.compile(r"^(\s*)(h[1-6]|bq)\.", re.IGNORECASE)
TIER_NAMES = {"enterprise": "Enterprise", "mid_market": "Mid-market", "smb": "SMB", "startup": "Startup"}


@dataclass(frozen=True)
class Person:
    """A stakeholder as the description names them."""

    name: str
    role: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class OpenIssue:
    """Another open issue of the customer."""

    key: str
    summary: str
    status: str | None
    url: str


@dataclass(frozen=True)
class CustomerContext:
    """Who the customer is and why the issue matters, as plain values."""

    name: str
    url: str
    tier: str | None
    arr: float | None
    health_score: int | None
    renewal_date: str | None  # ISO date
    days_to_renewal: int | None
    stakeholders: list[Person] = field(default_factory=list)
    open_issues: list[OpenIssue] = field(default_factory=list)
    requested_by: str | None = None


def money(amount: float | None) -> str:
    """$1,234,567 (no cents: ARR)."""
    return "unknown" if amount is None else f"${amount:,.0f}"


def facts(context: CustomerContext) -> list[tuple[str, str]]:
    """(label, value) lines of the context, in the order both formats show them."""
    renewal = "unknown"
    if context.renewal_date:
        renewal = context.renewal_date
        if context.days_to_renewal is not None:
            days = context.days_to_renewal
            renewal += f" (in {days} days)" if days >= 0 else f" ({-days} days ago)"
    return [("Tier", TIER_NAMES.get(context.tier or "", context.tier or "unknown")),
            ("ARR", money(context.arr)),
            ("Health score", "unknown" if context.health_score is None else f"{context.health_score}/100"),
            ("Renewal", renewal)]


def _person(person: Person) -> str:
    text = person.name
    if person.role:
        text += f" ({person.role})"
    if person.email:
        text += f" <{person.email}>"
    return text


# ---- ADF (Jira Cloud) ---------------------------------------------------------------------------

def _text(value: str, *marks: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": value}
    if marks:
        node["marks"] = list(marks)
    return node


def _paragraph(*nodes: dict[str, Any]) -> dict[str, Any]:
    return {"type": "paragraph", "content": [n for n in nodes if n.get("text", True)]}


def _bullets(items: list[list[dict[str, Any]]]) -> dict[str, Any]:
    return {"type": "bulletList", "content": [{"type": "listItem", "content": [_paragraph(*item)]} for item in items]}


def _heading(value: str) -> dict[str, Any]:
    return {"type": "heading", "attrs": {"level": 3}, "content": [_text(value)]}


def _text_paragraphs(text: str) -> list[dict[str, Any]]:
    """Blank-line separated paragraphs; single newlines become hard breaks."""
    blocks = []
    for block in re.split(r"\n\s*\n", text.strip()):
        nodes: list[dict[str, Any]] = []
        for n, line in enumerate(block.split("\n")):
            if n:
                nodes.append({"type": "hardBreak"})
            if line:
                nodes.append(_text(line))
        if nodes:
            blocks.append({"type": "paragraph", "content": nodes})
    return blocks


def adf(text: str, context: CustomerContext) -> dict[str, Any]:
    """The description as an Atlassian Document Format document."""
    strong = {"type": "strong"}
    content = _text_paragraphs(text)
    content.append({"type": "rule"})
    content.append(_heading("Customer context"))
    lines = [[_text("Customer: ", strong), _text(context.name, {"type": "link", "attrs": {"href": context.url}})]]
    lines += [[_text(f"{label}: ", strong), _text(value)] for label, value in facts(context)]
    content.append(_bullets(lines))
    if context.stakeholders:
        content.append(_heading("Stakeholders"))
        content.append(_bullets([[_text(_person(p))] for p in context.stakeholders]))
    if context.open_issues:
        content.append(_heading("The customer's other open issues"))
        content.append(_bullets([[_text(i.key, {"type": "link", "attrs": {"href": i.url}}),
                                  _text(f" {i.summary}" + (f" ({i.status})" if i.status else ""))]
                                 for i in context.open_issues]))
    if context.requested_by:
        content.append(_paragraph(_text(f"Requested in CSCX.AI by {context.requested_by}.", {"type": "em"})))
    return {"type": "doc", "version": 1, "content": content}


# ---- wiki markup (Jira Server / Data Center) ------------------------------------------------------

def wiki_escape(text: str) -> str:
    """Text that Jira's wiki renderer shows as written."""
    lines = []
    for line in text.split("\n"):
        line = WIKI_SPECIAL.sub(r"\\\1", line)
        line = WIKI_LINE_MARKUP.sub(lambda m: f"{m.group(1)}{m.group(2)}\\.", line)
        lines.append(line)
    return "\n".join(lines)


def _wiki_link(label: str, url: str) -> str:
    # Inside [label|url] the URL is taken as written; ours are built from quoted ids.
    return f"[{wiki_escape(label)}|{url}]"


def wiki(text: str, context: CustomerContext) -> str:
    """The description as Jira wiki markup."""
    out = [wiki_escape(text.strip()), "", "----", "h3. Customer context",
           f"* *Customer:* {_wiki_link(context.name, context.url)}"]
    out += [f"* *{label}:* {wiki_escape(value)}" for label, value in facts(context)]
    if context.stakeholders:
        out += ["", "h3. Stakeholders"] + [f"* {wiki_escape(_person(p))}" for p in context.stakeholders]
    if context.open_issues:
        out += ["", "h3. The customer's other open issues"]
        out += [f"* {_wiki_link(i.key, i.url)} {wiki_escape(i.summary)}"
                + (f" ({wiki_escape(i.status)})" if i.status else "") for i in context.open_issues]
    if context.requested_by:
        out += ["", f"_Requested in CSCX.AI by {wiki_escape(context.requested_by)}._"]
    return "\n".join(out)
