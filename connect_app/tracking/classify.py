"""Transition classification: what a change of a Jira issue means to customer success.

Plain functions over plain values (no Flask, no session). Workflows are data: a status is
judged by its category (new | indeterminate | done) and by the connection's status map, which
may override a category or give a status our own meaning ("development"), never by its name.

Each changelog history is classified on its own, from its own from/to values, so the same
history always yields the same changes whatever order webhooks arrive in; a change's dedupe key
(history id + kind) is what makes it notify once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connect_app.atlassian.issue_json import DEFAULT_PRIORITY_ORDER

CATEGORIES = ("new", "indeterminate", "done")
MEANINGS = ("development",)


@dataclass(frozen=True)
class StatusInfo:
    """What a status means: its category and, if mapped, our own meaning."""

    category: str | None
    meaning: str | None = None


@dataclass(frozen=True)
class Change:
    """One classified change: a kind (an IssueEvent kind) and what changed."""

    kind: str
    details: dict[str, Any] = field(default_factory=dict)


StatusLookup = Callable[[str | None, str | None], StatusInfo]


class StatusMap:
    """A connection's status map plus the categories Jira reported, answering "what does this status mean?".

    `status_map` keys are status ids or names; a value is a category string or
    {"category": ..., "meaning": ...}. The reserved key "priority_order" lists priorities,
    highest first, for schemes with custom names.
    """

    def __init__(self, status_map: Mapping[str, Any] | None = None,
                 known: Mapping[str, str] | None = None):
        self._overrides: dict[str, StatusInfo] = {}
        for key, value in (status_map or {}).items():
            if key == "priority_order":
                continue
            if isinstance(value, str):
                info = StatusInfo(value if value in CATEGORIES else None,
                                  value if value in MEANINGS else None)
            elif isinstance(value, Mapping):
                category = value.get("category")
                meaning = value.get("meaning")
                info = StatusInfo(category if category in CATEGORIES else None,
                                  meaning if meaning in MEANINGS else None)
            else:
                continue
            self._overrides[str(key).casefold()] = info
        self._known = {str(k).casefold(): v for k, v in (known or {}).items() if v in CATEGORIES}
        # Once an admin maps which statuses mean development, the category rule stands aside.
        self.maps_development = any(info.meaning == "development" for info in self._overrides.values())
        order = (status_map or {}).get("priority_order")
        self.priority_order = tuple(order) if isinstance(order, list | tuple) and order else DEFAULT_PRIORITY_ORDER

    def learn(self, status_id: str | None, name: str | None, category: str | None) -> None:
        """Remember a category Jira reported for a status (from a payload or /status)."""
        if category not in CATEGORIES:
            return
        for key in (status_id, name):
            if key:
                self._known[str(key).casefold()] = category

    def __call__(self, status_id: str | None, name: str | None) -> StatusInfo:
        """The status's category (map override, else Jira's) and mapped meaning."""
        override = None
        for key in (status_id, name):
            if key and str(key).casefold() in self._overrides:
                override = self._overrides[str(key).casefold()]
                break
        category = override.category if override and override.category else None
        if category is None:
            for key in (status_id, name):
                if key and str(key).casefold() in self._known:
                    category = self._known[str(key).casefold()]
                    break
        return StatusInfo(category, override.meaning if override else None)

    def knows(self, status_id: str | None, name: str | None) -> bool:
        """Whether a category is known for this status."""
        return self(status_id, name).category is not None


def priority_rank(name: str | None, priority_id: str | None,
                  order: Iterable[str] = DEFAULT_PRIORITY_ORDER) -> float | None:
    """A number that grows as priority falls (0 = highest), or None when unknown."""
    names = [n.casefold() for n in order]
    if name and name.casefold() in names:
        return float(names.index(name.casefold()))
    if priority_id and str(priority_id).isdigit():
        # Jira's default priority ids run 1 (Highest) .. 5 (Lowest); custom ones sort after.
        return 100.0 + int(priority_id)
    return None


def _item_field(item: Mapping[str, Any]) -> str:
    return str(item.get("fieldId") or item.get("field") or "").casefold()


def classify_history(items: Iterable[Mapping[str, Any]], status_of: StatusLookup,
                     priority_order: Iterable[str] = DEFAULT_PRIORITY_ORDER,
                     development_mapped: bool = False) -> list[Change]:
    """Classify one changelog history (its items) into the changes a CSM cares about.

    `development_mapped`: the status map names the development statuses, so "moved to
    development" means entering one of those, not any new -> indeterminate move.
    """
    changes: list[Change] = []
    kinds: set[str] = set()

    def add(kind: str, details: dict[str, Any]) -> None:
        if kind not in kinds:
            kinds.add(kind)
            changes.append(Change(kind, details))

    items = list(items)
    for item in items:
        name = _item_field(item)
        if name == "status":
            before = status_of(_str(item.get("from")), _str(item.get("fromString")))
            after = status_of(_str(item.get("to")), _str(item.get("toString")))
            details = {"field": "status", "from": item.get("fromString"), "to": item.get("toString"),
                       "from_category": before.category, "to_category": after.category}
            for kind in classify_status(before, after, development_mapped):
                add(kind, details)
    for item in items:
        name = _item_field(item)
        if name == "resolution":
            details = {"field": "resolution", "from": item.get("fromString"), "to": item.get("toString")}
            was, now = bool(item.get("from") or item.get("fromString")), bool(item.get("to") or item.get("toString"))
            # A resolution set or cleared without a category change still resolves / reopens
            # (workflows that keep "done" issues in an indeterminate status).
            if now and not was and "reopened" not in kinds:
                add("resolved", details)
            elif was and not now and "resolved" not in kinds:
                add("reopened", details)
        elif name == "priority":
            order = tuple(priority_order)
            before = priority_rank(_str(item.get("fromString")), _str(item.get("from")), order)
            after = priority_rank(_str(item.get("toString")), _str(item.get("to")), order)
            direction = None
            if before is not None and after is not None and before != after:
                direction = "up" if after < before else "down"
            add("priority_changed", {"field": "priority", "from": item.get("fromString"),
                                     "to": item.get("toString"), "direction": direction})
        elif name == "assignee":
            add("assignee_changed", {"field": "assignee", "from": item.get("fromString"),
                                     "to": item.get("toString"), "from_id": _str(item.get("from")),
                                     "to_id": _str(item.get("to"))})
    return changes


def classify_status(before: StatusInfo, after: StatusInfo, development_mapped: bool = False) -> list[str]:
    """The kinds of one status transition, from categories and mapped meanings."""
    kinds: list[str] = []
    if after.category == "done" and before.category != "done":
        kinds.append("resolved")
    elif before.category == "done" and after.category not in (None, "done"):
        kinds.append("reopened")
    if development_mapped:
        into_development = after.meaning == "development" and before.meaning != "development"
    else:
        into_development = before.category == "new" and after.category == "indeterminate"
    if into_development and after.category != "done":
        kinds.append("moved_to_development")
    if not kinds:
        kinds.append("status_changed")
    return kinds


def _str(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)
