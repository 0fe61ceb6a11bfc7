"""A customer's Jira context for CSCX.AI: open issue counts and issue health.

`issue_health` is plain arithmetic over the open issues' priorities; `context_of` reads the
customer's linked issues. Tracking pushes the context when it changes (`tracking.contexts`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import func, select

from connect_app.extensions import db
from connect_app.models import Customer, JiraCustomerLink, JiraIssue

# Points an open issue takes off a perfect 100, by priority.
PRIORITY_WEIGHT = {"blocker": 30, "highest": 25, "critical": 25, "high": 12, "major": 12, "medium": 5,
                   "low": 2, "minor": 2, "lowest": 1, "trivial": 1}
UNKNOWN_WEIGHT = 5


def issue_health(open_by_priority: dict[str, int]) -> dict[str, Any]:
    """A 0-100 score (100: no open issues) and a label, from open issue counts per priority."""
    penalty = sum(PRIORITY_WEIGHT.get((name or "").casefold(), UNKNOWN_WEIGHT) * n
                  for name, n in open_by_priority.items())
    score = max(0, 100 - penalty)
    label = "healthy" if score >= 80 else "at_risk" if score >= 50 else "critical"
    return {"score": score, "label": label}


def context_of(customer: Customer) -> dict[str, Any]:
    """The customer's current Jira context (counts over live linked issues)."""
    rows = db.session.execute(
        select(JiraIssue.status_category, JiraIssue.priority, func.count(func.distinct(JiraIssue.id)))
        .join(JiraCustomerLink, JiraCustomerLink.issue_id == JiraIssue.id)
        .where(JiraCustomerLink.customer_id == customer.id, JiraIssue.deleted_at.is_(None))
        .group_by(JiraIssue.status_category, JiraIssue.priority)
    ).all()
    open_by_priority: dict[str, int] = {}
    by_category = {"new": 0, "indeterminate": 0, "done": 0}
    for category, priority, n in rows:
        by_category[category or "new"] = by_category.get(category or "new", 0) + n
        if category != "done":
            open_by_priority[priority or "None"] = open_by_priority.get(priority or "None", 0) + n
    return {
        "customer": {"id": str(customer.id), "external_id": customer.external_id, "name": customer.name},
        "open_issues": sum(open_by_priority.values()),
        "open_by_priority": dict(sorted(open_by_priority.items())),
        "by_status_category": by_category,
        "linked_issues": sum(by_category.values()),
        "issue_health": issue_health(open_by_priority),
    }


def digest(context: dict[str, Any]) -> str:
    """A short fingerprint of a context: equal contexts, equal digests."""
    return hashlib.sha256(json.dumps(context, sort_keys=True).encode()).hexdigest()[:16]
