"""Chat answers about issues: a customer's issues (show_issues) and one issue's status (issue_status), read
from the synced data; a key that is not synced yet is fetched from Jira on demand."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import select

from connect_app.chat.answers import Answer, ask, clarify_connection, which_customer
from connect_app.chat.replies import duration, issues_phrase, listing, plural
from connect_app.chat.understand import Reading
from connect_app.connections import priorities
from connect_app.extensions import db
from connect_app.impact.queries import browse_url
from connect_app.models import JiraConnection, JiraCustomerLink, JiraIssue, SlaResult
from connect_app.sla.store import STATE_ORDER, issue_sla
from connect_app.sync import on_demand, queries
from connect_app.sync.on_demand import host_of

log = logging.getLogger(__name__)

SHOWN = 10  # issues in the card
URGENCY = {"breached": 0, "at_risk": 1}
CATEGORY_WORDS = {"new": "not started", "indeterminate": "in progress", "done": "done"}


def connections_of(organization_id: str) -> dict[uuid.UUID, JiraConnection]:
    """The workspace's Jira connections by id."""
    return {c.id: c for c in db.session.scalars(select(JiraConnection).where(
        JiraConnection.organization_id == organization_id))}


def find_issues(organization_id: str, key: str, *, site: str | None = None, connection_id: str | None = None,
                ) -> tuple[list[JiraIssue], dict[uuid.UUID, JiraConnection], str | None]:
    """The workspace's issues with this key (narrowed to a site or connection), fetched from Jira when none is
    synced; returns (issues, the workspace's connections, why Jira could not be asked, if it could not)."""
    connections = connections_of(organization_id)
    wanted = [c for c in connections.values() if (not site or host_of(c) == site)
              and (not connection_id or str(c.id) == connection_id)]
    found = [issue for issue in queries.find_issue(organization_id, key)
             if issue.connection_id in {c.id for c in wanted}]
    if found:
        return found, connections, None
    found, trouble = on_demand.fetch(key, wanted, reason="chat")
    return found, connections, trouble


def _sla_states(issues: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """The worst SLA state of each listed issue ((connection id, key) -> state), in one query."""
    if not issues:
        return {}
    rows = db.session.execute(
        select(JiraIssue.connection_id, JiraIssue.jira_key, SlaResult.state)
        .join(SlaResult, SlaResult.issue_id == JiraIssue.id)
        .where(JiraIssue.connection_id.in_({uuid.UUID(i["connection_id"]) for i in issues}),
               JiraIssue.jira_key.in_({i["key"] for i in issues})))
    states: dict[tuple[str, str], set[str]] = {}
    for connection_id, key, state in rows:
        states.setdefault((str(connection_id), key), set()).add(state)
    return {pair: next(s for s in STATE_ORDER if s in found) for pair, found in states.items()}


def _urgent(organization_id: str, customer, asked: dict) -> list[tuple[dict[str, Any], str]]:
    """The customer's issues with a breached or at-risk SLA clock that fit the filters, most urgent first.

    Few by nature, so read on their own (the customer's links, then each issue's clocks by the issue index)
    and filtered here, rather than ranking every issue of a big account by its SLA.
    """
    rows = db.session.execute(
        select(JiraIssue, SlaResult.state)
        .join(SlaResult, SlaResult.issue_id == JiraIssue.id)
        .join(JiraCustomerLink, JiraCustomerLink.issue_id == JiraIssue.id)
        .join(JiraConnection, JiraConnection.id == JiraIssue.connection_id)
        .where(JiraCustomerLink.customer_id == customer.id, JiraConnection.organization_id == organization_id,
               SlaResult.state.in_(tuple(URGENCY)), JiraIssue.deleted_at.is_(None))).all()
    worst: dict[uuid.UUID, tuple[JiraIssue, str]] = {}
    for issue, state in rows:
        if issue.id not in worst or URGENCY[state] < URGENCY[worst[issue.id][1]]:
            worst[issue.id] = (issue, state)
    ranks = {connection_id: priorities.rank_of(order)
             for connection_id, order in priorities.workspace_orders(organization_id).items()}
    fitting = [(issue, state) for issue, state in worst.values() if _fits(issue, asked)]
    fitting.sort(key=lambda pair: (URGENCY[pair[1]],
                                   ranks.get(pair[0].connection_id, {}).get((pair[0].priority or "").casefold(), 99),
                                   pair[0].jira_key))
    return [(queries.issue_summary(issue), state) for issue, state in fitting]


def _fits(issue: JiraIssue, asked: dict) -> bool:
    """Whether an issue passes the chat's filters (as customer_issues applies them)."""
    category = issue.status_category
    return ((not asked.get("open") or category != "done")
            and (not asked.get("status_category") or category == asked["status_category"])
            and (not asked.get("priority") or (issue.priority or "").lower() == asked["priority"].lower())
            and (not asked.get("type") or (issue.issue_type or "").lower() == asked["type"].lower()))


def show_issues(organization_id: str, reading: Reading) -> Answer:
    """The customer's issues with the filters asked for, most urgent first (breaching, at risk, by priority)."""
    customer = reading.customer and queries.workspace_customer(organization_id, reading.customer.customer.id)
    if customer is None:
        return ask(reading, "customer", which_customer(reading, "do you mean"))
    asked = reading.filters
    filters = queries.IssueFilters(
        status_category=(asked["status_category"],) if asked.get("status_category") else (),
        priority=(asked["priority"],) if asked.get("priority") else (),
        issue_type=(asked["type"],) if asked.get("type") else (), open_only=bool(asked.get("open")),
        sort="-priority", limit=SHOWN).check()
    result = queries.customer_issues(organization_id, customer, filters)
    urgent = _urgent(organization_id, customer, asked)
    listed = [issue for issue, _ in urgent]
    seen = {(i["connection_id"], i["key"]) for i in listed}
    listed += [i for i in result["issues"] if (i["connection_id"], i["key"]) not in seen]
    listed = listed[:SHOWN]
    states = _sla_states(listed)
    breaching = sum(1 for _, state in urgent if state == "breached")
    connections = connections_of(organization_id)
    shown = [{"key": i["key"], "summary": i["summary"], "status": i["status"], "status_category": i["status_category"],
              "priority": i["priority"], "issue_type": i["issue_type"], "assignee": i["assignee"]["name"],
              "sla_state": states.get((i["connection_id"], i["key"])),
              "url": browse_url(connections[uuid.UUID(i["connection_id"])], i["key"])} for i in listed]
    total = result["total"]
    reply = f"{customer.name} has {issues_phrase(total, asked)}"
    reply += f", {breaching} breaching {'its' if breaching == 1 else 'their'} SLA." if breaching else "."
    if total > len(shown):
        reply += f" The {len(shown)} most urgent:"
    card = {"kind": "issue_list", "customer": {"id": str(customer.id), "name": customer.name}, "filters": asked,
            "total": total, "breaching": breaching, "issues": shown, "more": total - len(shown)}
    return Answer("show_issues", reading.entities(), reply, card, remember={"customer_id": str(customer.id)})


def issue_status(organization_id: str, reading: Reading, connection_id: str | None = None) -> Answer:
    """Status, assignee, priority, time in status, SLA state and the customers affected, of one issue."""
    key = reading.issue_key
    if key is None:
        return ask(reading, "issue", "Which issue? Give me its key, like CS-123.")
    issues, connections, trouble = find_issues(organization_id, key, site=reading.site, connection_id=connection_id)
    if not issues:
        return Answer("issue_status", reading.entities(), not_found(key, trouble))
    if len(issues) > 1:
        return clarify_connection(reading, [(str(i.connection_id), host_of(connections[i.connection_id]))
                                            for i in issues])
    issue = issues[0]
    detail = queries.issue_detail(organization_id, issue)
    clocks = issue_sla(issue)
    worst = next((s for s in STATE_ORDER if s in {c["state"] for c in clocks}), None)
    current = detail["status_timeline"][-1]
    customers = [{"id": c["id"], "name": c["name"], "link_type": c["link_type"]} for c in detail["customers"]]
    card = {"kind": "issue", "issue": {
        "key": issue.jira_key, "summary": issue.summary, "status": issue.status,
        "status_category": issue.status_category, "priority": issue.priority, "issue_type": issue.issue_type,
        "assignee": issue.assignee_name, "resolution": issue.resolution, "resolved_at": detail["resolved_at"],
        "in_status_since": current["from"], "time_in_status_seconds": current["seconds"],
        "url": browse_url(connections[issue.connection_id], issue.jira_key)},
        "sla": {"worst": worst, "clocks": clocks}, "customers": customers}
    return Answer("issue_status", reading.entities(), _status_reply(issue, current["seconds"], worst, customers),
                  card, remember={"issue_key": issue.jira_key})


def not_found(key: str, trouble: str | None) -> str:
    """Why there is nothing to show about a key."""
    if trouble:
        return f"I can't find {key} among the synced issues, and Jira could not be asked: {trouble}."
    return f"I can't find {key} in this workspace's Jira."


def _status_reply(issue: JiraIssue, seconds: int | None, worst: str | None, customers: list[dict]) -> str:
    category = CATEGORY_WORDS.get(issue.status_category or "")
    status = f"{issue.status} ({category})" if category and category != (issue.status or "").lower() else issue.status
    parts = [f"{issue.jira_key} “{issue.summary}” is {status or 'in an unknown status'}"]
    if issue.status_category != "done":
        parts.append(f"assigned to {issue.assignee_name}" if issue.assignee_name else "unassigned")
    if issue.priority:
        parts.append(f"priority {issue.priority}")
    reply = ", ".join(parts)
    if seconds is not None and issue.status:
        reply += f"; {duration(seconds)} in {issue.status}"
    reply += "."
    if worst:
        reply += f" SLA: {worst.replace('_', ' ')}."
    if customers:
        names = [c["name"] for c in customers[:3]]
        more = len(customers) - len(names)
        reply += f" Affects {listing(names + ([plural(more, 'more customer')] if more else []))}."
    else:
        reply += " No customer is linked to it."
    return reply
