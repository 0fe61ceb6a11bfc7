"""A connection's status map as an admin sees and edits it, and the site's priority order.

Jira's status categories (new / in progress / done) say when work started and ended; they do not
say when a custom workflow's "Investigating" counts as development, or that a team's "Parked"
is really done. The status map says so, per connection: a status (by id or name) gets a
category and/or our own meaning. Admins edit it against the site's real statuses, listed from
Jira; what they save applies to the events processed from then on (history is not rewritten).

The site's priorities are listed from Jira too (`GET /priority`, highest first) and kept on the
connection, so "priority raised" and sorting by priority follow the site's own scheme.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connect_app.atlassian.client import JiraError
from connect_app.atlassian.issue_json import status_category_of
from connect_app.connections.access import JIRA_UNREACHABLE, jira_client
from connect_app.connections.priorities import MAX_PRIORITIES, PRIORITY_KEY, priority_order, site_priorities
from connect_app.connections.records import audit
from connect_app.connections.urlsafety import UnsafeUrl
from connect_app.extensions import db
from connect_app.models import JiraConnection, JiraIssue
from connect_app.tracking.classify import CATEGORIES, MEANINGS

MAX_STATUSES = 500  # entries in one map; a site with more statuses than this maps a few at most
MAX_NAME = 255
BODY_KEYS = ("statuses", "priority_order")


class StatusMapError(ValueError):
    """A map that cannot be saved; `errors` names each problem by its place in the body."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{place}: {problem}" for place, problem in errors.items()))
        self.errors = errors


@dataclass
class Site:
    """What Jira told us about the site's statuses and priorities (or why it could not)."""

    statuses: list[dict[str, Any]] = field(default_factory=list)  # {"id", "name", "category"}
    priorities: list[str] | None = None
    reachable: bool = True
    error: str | None = None


def _jira_reason(exc: Exception) -> str:
    if isinstance(exc, JiraError):
        return f"Jira answered {exc.status}" if exc.status else "Jira could not be reached"
    if isinstance(exc, UnsafeUrl):
        return "the site's address is not allowed"
    return "the connection needs to be authorised again"


def read_site(connection: JiraConnection) -> Site:
    """The site's statuses and priorities from Jira; on failure, the statuses our issues have shown."""
    site = Site()
    try:
        client = jira_client(connection)
        for status in client.get_statuses():
            if status.get("name"):
                site.statuses.append({"id": str(status.get("id") or ""), "name": status["name"],
                                      "category": status_category_of(status)})
        site.priorities = site_priorities(connection, client)
    except JIRA_UNREACHABLE as exc:
        site.reachable, site.error = False, _jira_reason(exc)
        seen = db.session.execute(
            db.select(JiraIssue.status_id, JiraIssue.status, JiraIssue.status_category)
            .where(JiraIssue.connection_id == connection.id, JiraIssue.status.is_not(None)).distinct())
        by_name: dict[str, dict[str, Any]] = {}
        for status_id, name, category in seen:
            by_name.setdefault(name.casefold(), {"id": status_id or "", "name": name, "category": category})
        site.statuses = list(by_name.values())
    site.statuses.sort(key=lambda s: (CATEGORIES.index(s["category"]) if s["category"] in CATEGORIES else 3,
                                      s["name"].casefold()))
    return site


def _entries(status_map: dict[str, Any]) -> dict[str, dict[str, str | None]]:
    """The stored map's status entries as {key: {"category", "meaning"}}."""
    entries = {}
    for key, value in (status_map or {}).items():
        if key == PRIORITY_KEY:
            continue
        if isinstance(value, str):
            entries[key] = {"category": value if value in CATEGORIES else None,
                            "meaning": value if value in MEANINGS else None}
        elif isinstance(value, dict):
            entries[key] = {"category": value.get("category"), "meaning": value.get("meaning")}
    return entries


def describe(connection: JiraConnection, site: Site) -> dict[str, Any]:
    """The GET body: every site status with its Jira category and what the map makes of it."""
    entries = _entries(connection.status_map)
    folded = {key.casefold(): value for key, value in entries.items()}
    matched: set[str] = set()
    statuses = []
    for status in site.statuses:
        entry = None
        for key in (status["id"], status["name"]):
            if key and key.casefold() in folded:
                entry = folded[key.casefold()]
                matched.add(key.casefold())
                break
        statuses.append({"id": status["id"] or None, "name": status["name"], "jira_category": status["category"],
                         "category": (entry or {}).get("category") or status["category"],
                         "meaning": (entry or {}).get("meaning"), "mapped": entry is not None})
    configured = (connection.status_map or {}).get(PRIORITY_KEY)
    return {
        "connection_id": str(connection.id),
        "statuses": statuses,
        "map": {"statuses": entries, "priority_order": configured if isinstance(configured, list) else None},
        # Entries naming no status the site has (renamed or deleted in Jira): they match nothing.
        "unmatched": sorted(key for key in entries if key.casefold() not in matched) if site.reachable else [],
        "site_priorities": site.priorities if site.priorities is not None else connection.priorities,
        "priority_order": list(priority_order(connection)),
        "development_rule": "mapped statuses" if any(e.get("meaning") == "development" for e in entries.values())
        else "status category in progress",
        "jira": {"reachable": site.reachable, "error": site.error},
    }


def _name(value: Any) -> str | None:
    if isinstance(value, str) and value.strip() and len(value) <= MAX_NAME and value.isprintable():
        return value.strip()
    return None


def validate(body: Any, site: Site) -> dict[str, Any]:
    """The map to store from a PUT body, or StatusMapError naming every problem.

    The body replaces the map: {"statuses": {"<status id or name>": {"category"?, "meaning"?} | "<category or
    meaning>"}, "priority_order": ["Highest", ...] | null}. Statuses are checked against the site's list
    (when Jira could not be reached, against the statuses our issues have shown).
    """
    if not isinstance(body, dict):
        raise StatusMapError({"body": "must be a JSON object with statuses and priority_order"})
    errors: dict[str, str] = {}
    for key in body:
        if key not in BODY_KEYS:
            errors[str(key)[:80]] = f"unknown key (expected {', '.join(BODY_KEYS)})"
    statuses = body.get("statuses", {})
    known = {key.casefold() for s in site.statuses for key in (s["id"], s["name"]) if key}
    stored: dict[str, Any] = {}
    if not isinstance(statuses, dict):
        errors["statuses"] = "must be an object of status id or name -> category and meaning"
        statuses = {}
    elif len(statuses) > MAX_STATUSES:
        errors["statuses"] = f"at most {MAX_STATUSES} entries"
        statuses = {}
    unknown = []
    for raw_key, value in statuses.items():
        place = f"statuses.{raw_key[:80]}"
        key = _name(raw_key)
        if key is None:
            errors[place] = f"a status id or name: 1 to {MAX_NAME} printable characters"
            continue
        if key.casefold() in {k.casefold() for k in stored}:
            errors[place] = "mapped twice (names are compared without case)"
            continue
        if key.casefold() not in known:
            unknown.append(key)
            continue
        if isinstance(value, str):
            value = {"category": value} if value in CATEGORIES else {"meaning": value} if value in MEANINGS else value
        if not isinstance(value, dict):
            errors[place] = f"must be one of {', '.join(CATEGORIES + MEANINGS)} or an object with category and meaning"
            continue
        extra = sorted(set(value) - {"category", "meaning"})
        category, meaning = value.get("category"), value.get("meaning")
        if extra:
            errors[place] = f"unknown key {extra[0]!r} (expected category, meaning)"
        elif category is not None and category not in CATEGORIES:
            errors[place] = f"category must be one of {', '.join(CATEGORIES)} or null"
        elif meaning is not None and meaning not in MEANINGS:
            errors[place] = f"meaning must be one of {', '.join(MEANINGS)} or null"
        elif category is None and meaning is None:
            errors[place] = "give a category, a meaning or both (leave a status out to use Jira's category)"
        else:
            stored[key] = {name: v for name, v in (("category", category), ("meaning", meaning)) if v is not None}
    if unknown:
        where = "the site's statuses" if site.reachable else \
            "the statuses seen on this connection (Jira could not be reached to list the site's)"
        errors["statuses"] = f"not among {where}: {', '.join(sorted(unknown)[:20])}"
    order = body.get("priority_order")
    if order is not None:
        names = [_name(n) for n in order] if isinstance(order, list) else None
        if not names or len(names) > MAX_PRIORITIES or None in names:
            errors["priority_order"] = f"a list of 1 to {MAX_PRIORITIES} priority names, highest first, or null"
        elif len({n.casefold() for n in names}) != len(names):
            errors["priority_order"] = "lists a priority twice"
        else:
            site_names = site.priorities
            missing = [n for n in names if site_names and n.casefold() not in {s.casefold() for s in site_names}]
            if missing:
                errors["priority_order"] = f"not among the site's priorities: {', '.join(missing[:20])}"
            else:
                stored[PRIORITY_KEY] = names
    if errors:
        raise StatusMapError(errors)
    return stored


def save(connection: JiraConnection, status_map: dict[str, Any], *, actor_id: str | None) -> None:
    """Replace the connection's map and audit who did it (the caller commits)."""
    before = connection.status_map or {}
    connection.status_map = status_map
    audit(connection, "status_map.updated", actor_type="cscx_user", actor_id=actor_id,
          details={"before": len(_entries(before)), "after": len(_entries(status_map)),
                   "priority_order": PRIORITY_KEY in status_map})
