"""Atlassian Document Format as HTML, for previews: the nodes our descriptions use, every text escaped."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from markupsafe import Markup, escape

BLOCKS = {"paragraph": "p", "bulletList": "ul", "orderedList": "ol", "listItem": "li"}
MARKS = {"strong": "strong", "em": "em", "code": "code"}


def _wrap(tag: str, inner: Markup) -> Markup:
    """`<tag>inner</tag>`; the tag is one of ours, the inner HTML already escaped."""
    return Markup("<{0}>{1}</{0}>").format(tag, inner)


def _safe_href(href: Any) -> str | None:
    return href if isinstance(href, str) and urlsplit(href).scheme in ("http", "https") else None


def _text(node: dict[str, Any]) -> Markup:
    out = escape(node.get("text", ""))
    for mark in node.get("marks") or []:
        kind = mark.get("type")
        if kind in MARKS:
            out = _wrap(MARKS[kind], out)
        elif kind == "link":
            href = _safe_href((mark.get("attrs") or {}).get("href"))
            if href:
                out = Markup('<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>').format(href, out)
    return out


def render(node: Any) -> Markup:
    """HTML for an ADF node (unknown nodes show their text content only)."""
    if not isinstance(node, dict):
        return Markup("")
    kind = node.get("type")
    if kind == "text":
        return _text(node)
    if kind == "hardBreak":
        return Markup("<br>")
    if kind == "rule":
        return Markup("<hr>")
    inner = Markup("").join(render(child) for child in node.get("content") or [])
    if kind == "heading":
        level = min(6, max(3, int((node.get("attrs") or {}).get("level", 3))))
        return _wrap(f"h{level}", inner)
    tag = BLOCKS.get(kind)
    return _wrap(tag, inner) if tag else inner
