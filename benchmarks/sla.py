"""SLA benchmark: every open issue's clocks under several policies, and the every-minute check.

Seeds one workspace straight into the database: customers by tier, open issues linked to them
with one to three status changes each (some into a pause status), and five policies (resolution
and development clocks on business calendars with holidays, a tiered target, a time-in-status
clock). Then measures:

- `full_evaluation_s`: the first evaluation of every (policy, issue) pair right after the
  policies are created — what an admin's new policy set costs. Crossings that happened before a
  policy existed are shown on the board but not alerted, so this run fires next to no alerts
  (`alerts_on_first_evaluation`: only crossings at the very instant of creation).
- `alerting_evaluation_s`: the same evaluation from scratch with the policies dated before all
  of the history, so every at-risk and breach crossing fires its alert (`alerts_fired`): the
  worst case, a backlog that is already late.
- `due_check_idle_ms`: the every-minute check with nothing due (one indexed query), and
  `due_check_p95_ms`: the check minute by minute through the next hour as clocks come due.

The last stdout line is the JSON summary.

    python -m benchmarks.sla --quick                                              # 10,000 open issues, SQLite
    python -m benchmarks.sla --database-url postgresql://postgres@127.0.0.1:5432/test   # 100,000 open issues
"""

from __future__ import annotations

import argparse
import json
import math
import random
import resource
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import time_machine
from sqlalchemy import delete, func, insert, select, update

from benchmarks.impact import analyze, build_app, dispose
from connect_app.extensions import db
from connect_app.models import (
    Customer,
    IssueStatusChange,
    JiraConnection,
    JiraCustomerLink,
    JiraIssue,
    Organization,
    SlaPolicy,
    SlaResult,
)
from connect_app.sla import store
from connect_app.sla.policies import parse_policy

WORKSPACE = "bench-sla"
NOW = datetime(2026, 12, 9, 15, tzinfo=UTC)  # a Wednesday afternoon in New York
WEEK = {d: ["09:00", "17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
POLICIES = [
    {"name": "Bugs resolved in 5 business days", "metric": "time_to_resolution", "target": "5d",
     "targets_by_tier": {"enterprise": "3d", "mid_market": "4d"},
     "calendar": {"timezone": "America/New_York", "hours": WEEK, "holidays": {"country": "US"}},
     "pause_statuses": ["Waiting for customer"], "selector": {"issue_types": ["Bug"]}},
    {"name": "Everything resolved in 30 days", "metric": "time_to_resolution", "target": "720h"},
    {"name": "Picked up within 2 business days", "metric": "time_to_development", "target": "2d",
     "calendar": {"timezone": "Europe/Berlin", "hours": WEEK, "holidays": {"country": "DE", "subdiv": "BE"}}},
    {"name": "Enterprise first response in 8 hours", "metric": "time_to_development", "target": "8h",
     "selector": {"tiers": ["enterprise"]}},
    {"name": "Review within 1 business day", "metric": "time_in_status", "status": "In Review", "target": "1d",
     "calendar": {"timezone": "Asia/Tokyo", "hours": WEEK, "holidays": {"country": "JP"}}},
]
TIERS = ("enterprise", "mid_market", "mid_market", "smb", "smb", "startup")
CHUNK = 5_000


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(len(ordered) * 0.95) - 1)]


def seed(issues: int, customers: int, rng: random.Random) -> None:
    """The workspace, its customers, open issues with status changes, links, and the policies."""
    db.session.execute(insert(Organization), [{"id": WORKSPACE, "name": "Bench", "settings": {}, "created_at": NOW}])
    connection_id = uuid.uuid4()
    db.session.execute(insert(JiraConnection), [{
        "id": connection_id, "organization_id": WORKSPACE, "kind": "oauth", "status": "active",
        "base_url": "https://api.atlassian.example/ex/jira/bench", "cloud_id": "bench", "deployment": "cloud",
        "token_version": 0, "scopes": [], "status_map": {}, "webhooks": [], "created_at": NOW, "updated_at": NOW}])
    customer_ids = [uuid.uuid4() for _ in range(customers)]
    db.session.execute(insert(Customer), [{
        "id": cid, "organization_id": WORKSPACE, "name": f"Customer {n}", "name_key": f"customer {n}",
        "slug": f"customer-{n}", "arr": 100_000, "tier": TIERS[n % len(TIERS)], "stakeholders": [],
        "created_at": NOW, "updated_at": NOW} for n, cid in enumerate(customer_ids)])
    issue_rows, links, changes = [], [], []
    for n in range(issues):
        issue_id = uuid.uuid4()
        created = NOW - timedelta(minutes=rng.randint(60, 30 * 24 * 60))
        path = [("To Do", "new")]
        moment = created
        for _ in range(rng.randint(0, 3)):
            moment += timedelta(minutes=rng.randint(30, 4 * 24 * 60))
            if moment >= NOW:
                break
            path.append(rng.choice([("In Progress", "indeterminate"), ("Waiting for customer", "indeterminate"),
                                    ("In Review", "indeterminate"), ("To Do", "new")]))
            changes.append({"id": uuid.uuid4(), "connection_id": connection_id, "issue_id": issue_id,
                            "change_id": f"{n}-{len(path)}", "from_status": path[-2][0], "to_status": path[-1][0],
                            "from_category": path[-2][1], "to_category": path[-1][1], "changed_at": moment})
        issue_rows.append({"id": issue_id, "connection_id": connection_id, "jira_id": str(n + 1),
                           "jira_key": f"CS-{n + 1}", "project_key": "CS", "summary": f"Issue {n}",
                           "issue_type": rng.choice(("Bug", "Bug", "Story", "Task")), "status": path[-1][0],
                           "status_category": path[-1][1], "priority": "High", "labels": [], "components": [],
                           "custom_fields": {}, "created_at": created, "updated_at": moment, "version_ts": 0,
                           "synced_at": NOW})
        for customer in rng.sample(customer_ids, k=rng.randint(1, 2)):
            links.append({"id": uuid.uuid4(), "connection_id": connection_id, "issue_id": issue_id,
                          "jira_key": f"CS-{n + 1}", "customer_id": customer, "link_type": "affected",
                          "source": "rule", "created_at": NOW, "updated_at": NOW})
    for model, rows in ((JiraIssue, issue_rows), (JiraCustomerLink, links), (IssueStatusChange, changes)):
        for start in range(0, len(rows), CHUNK):
            db.session.execute(insert(model), rows[start:start + CHUNK])
    for body in POLICIES:
        policy = parse_policy(body)
        db.session.add(SlaPolicy(organization_id=WORKSPACE, name=policy.name, metric=policy.metric,
                                 warn_at_percent=policy.warn_at_percent, definition=policy.as_dict(),
                                 created_at=NOW))
    db.session.commit()


def evaluate(issue_ids: list[uuid.UUID]) -> tuple[float, store.Evaluated]:
    """Evaluate every issue under every policy and commit; the seconds taken and what it did."""
    started = time.perf_counter()
    outcome = store.evaluate_issues(issue_ids, now=NOW)
    db.session.commit()
    elapsed = time.perf_counter() - started
    analyze()
    return elapsed, outcome


def run(issues: int, customers: int, database_url: str | None, samples: int, seed_value: int) -> dict:
    """Seed, evaluate everything, then time the every-minute check idle and with work due."""
    rng = random.Random(seed_value)
    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(Path(tmp), database_url)
        try:
            with app.app_context(), time_machine.travel(NOW, tick=False):
                seed(issues, customers, rng)
                analyze()
                issue_ids = list(db.session.scalars(select(JiraIssue.id)))
                full_s, outcome = evaluate(issue_ids)
                clocks = db.session.scalar(select(func.count()).select_from(SlaResult))
                # The worst case: the same policies dated before all of the history, from scratch.
                db.session.execute(delete(SlaResult))
                db.session.execute(update(SlaPolicy).values(created_at=NOW - timedelta(days=60)))
                db.session.commit()
                analyze()
                alerting_s, alerting = evaluate(issue_ids)
                idle = []
                for _ in range(samples):
                    started = time.perf_counter()
                    counts = store.check_due(NOW)
                    idle.append((time.perf_counter() - started) * 1000)
                    assert counts["due"] == 0, counts
                # Then minute by minute through the next hour: whatever comes due is checked.
                busy, due_total = [], 0
                for minute in range(1, 61):
                    started = time.perf_counter()
                    counts = store.check_due(NOW + timedelta(minutes=minute))
                    busy.append((time.perf_counter() - started) * 1000)
                    due_total += counts["due"]
                db.session.remove()
        finally:
            dispose(app)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"database": "postgresql" if database_url else "sqlite", "open_issues": issues,
            "policies": len(POLICIES), "clocks": clocks, "full_evaluation_s": round(full_s, 2),
            "evaluations_per_s": round(issues * len(POLICIES) / full_s) if full_s else None,
            "alerts_on_first_evaluation": len(outcome.alerts),
            "alerting_evaluation_s": round(alerting_s, 2), "alerts_fired": len(alerting.alerts),
            "due_check_idle_ms": round(p95(idle), 2), "due_check_p95_ms": round(p95(busy), 1),
            "due_in_an_hour": due_total, "peak_rss_mb": round(peak, 1)}


def main(argv: list[str] | None = None) -> int:
    """Run one size and print its JSON summary as the last line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sla", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 open issues")
    parser.add_argument("--issues", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--samples", type=int, default=50, help="idle checks to time")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args(argv)
    issues = 10_000 if args.quick else args.issues
    print(json.dumps(run(issues, args.customers, args.database_url, args.samples, args.seed)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
