"""Impact benchmark: ranking, affected customers, issue health and rescoring at scale.

Seeds one workspace straight into the database (customers with ARR, tiers, health and renewals;
issues with priorities, statuses and components; links with link types), scores every issue once,
then measures through the API (Flask test client, service token): the top 50 open issues by impact
(with and without filters), the affected customers of random issues, the issue health of every
customer, and the rescore after one customer's ARR changes. The last stdout line is the JSON
summary with `customers`, `issues`, `links`, `rank_p95_ms`, `affected_p95_ms`, `health_all_s`,
`recompute_after_change_ms`, `peak_rss_mb`.

    python -m benchmarks.impact --quick                                    # 1,000 / 10,000 / 30,000, SQLite
    python -m benchmarks.impact --database-url postgresql://postgres@127.0.0.1:5432/test   # 10,000 / 100,000 / 300,000
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
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from flask_migrate import upgrade
from sqlalchemy import func, insert, select, text

from connect_app import create_app
from connect_app.api.auth import mint_service_token
from connect_app.config import TestConfig
from connect_app.extensions import db
from connect_app.impact import health, store
from connect_app.models import Customer, JiraConnection, JiraCustomerLink, JiraIssue, Organization

WORKSPACE = "bench-impact"
TIERS = ("enterprise", "mid_market", "mid_market", "smb", "smb", "startup")
TIER_ARR = {"enterprise": (250_000, 1_500_000), "mid_market": (60_000, 250_000), "smb": (8_000, 60_000),
            "startup": (2_000, 15_000)}
PRIORITIES = ("Highest", "High", "High", "Medium", "Medium", "Medium", "Low", "Lowest")
CATEGORIES = (("To Do", "new"), ("In Progress", "indeterminate"), ("Done", "done"))
COMPONENTS = ("Auth", "Billing", "Reports", "Export", "API", "Mobile")
LINK_TYPES = ("affected", "affected", "affected", "requested", "watching")
CHUNK = 5_000


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(len(ordered) * 0.95) - 1)]


def build_app(workdir: Path, database_url: str | None):
    url = database_url or f"sqlite:///{workdir / 'bench.db'}"
    app = create_app(TestConfig({"DATABASE_URL": url, "LOG_LEVEL": "WARNING"}, instance_path=workdir / "instance"))
    with app.app_context():
        if url.startswith("postgresql"):
            # A schema of its own, so the benchmark never touches other data in the database.
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            with db.engine.begin() as connection:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            db.engine.dispose()
            joiner = "&" if "?" in url else "?"
            url = f"{url}{joiner}options=-csearch_path%3D{schema}"
            app = create_app(TestConfig({"DATABASE_URL": url, "LOG_LEVEL": "WARNING"},
                                        instance_path=workdir / "instance"))
            app.config["BENCH_SCHEMA"] = schema
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
    return app


def dispose(app) -> None:
    """Close the benchmark's database: drop its PostgreSQL schema (nothing else is touched), release connections."""
    schema = app.config.get("BENCH_SCHEMA")
    with app.app_context():
        db.session.remove()
        if schema:
            with db.engine.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        db.engine.dispose()


def seed(customers: int, issues: int, links: int, rng: random.Random) -> dict:
    """Insert the workspace in bulk; returns ids for the measurements."""
    now = datetime.now(UTC)
    today = date.today()
    db.session.execute(insert(Organization), [{"id": WORKSPACE, "name": "Bench", "settings": {}, "created_at": now}])
    connection_id = uuid.uuid4()
    db.session.execute(insert(JiraConnection), [{
        "id": connection_id, "organization_id": WORKSPACE, "kind": "oauth", "status": "active",
        "base_url": "https://api.atlassian.example/ex/jira/bench", "display_url": "https://bench.atlassian.net",
        "cloud_id": "bench", "deployment": "cloud", "token_version": 0, "scopes": [], "status_map": {},
        "webhooks": [], "created_at": now, "updated_at": now}])
    customer_rows = []
    for n in range(customers):
        tier = TIERS[n % len(TIERS)]
        low, high = TIER_ARR[tier]
        customer_rows.append({
            "id": uuid.uuid4(), "organization_id": WORKSPACE, "name": f"Customer {n}", "name_key": f"customer {n}",
            "slug": f"customer-{n}", "external_id": f"c-{n}", "arr": Decimal(round(rng.uniform(low, high), -2)),
            "tier": tier, "health_score": rng.randint(5, 98), "stakeholders": [],
            "renewal_date": today + timedelta(days=rng.randint(-20, 400)), "created_at": now, "updated_at": now})
    for start in range(0, len(customer_rows), CHUNK):
        db.session.execute(insert(Customer), customer_rows[start:start + CHUNK])
    issue_rows = []
    for n in range(issues):
        status, category = CATEGORIES[0 if rng.random() < 0.45 else 1 if rng.random() < 0.6 else 2]
        issue_rows.append({
            "id": uuid.uuid4(), "connection_id": connection_id, "jira_id": str(100_000 + n),
            "jira_key": f"{('CS', 'ENG', 'SUP')[n % 3]}-{n + 1}", "project_key": ("CS", "ENG", "SUP")[n % 3],
            "summary": f"Issue {n}", "issue_type": ("Bug", "Bug", "Story", "Task")[n % 4], "status": status,
            "status_category": category, "priority": rng.choice(PRIORITIES), "labels": [],
            "components": rng.sample(COMPONENTS, k=rng.randint(0, 2)), "custom_fields": {},
            "created_at": now - timedelta(days=rng.randint(0, 400)), "updated_at": now, "version_ts": 0,
            "synced_at": now})
    for start in range(0, len(issue_rows), CHUNK):
        db.session.execute(insert(JiraIssue), issue_rows[start:start + CHUNK])
    # Links: a few big accounts on many issues, most customers on a handful (a long tail).
    weights = [1.0 / (rank + 10) for rank in range(customers)]
    chosen_customers = rng.choices(range(customers), weights=weights, k=links * 2)
    pairs: set[tuple[int, int]] = set()
    cursor = 0
    while len(pairs) < links:
        pairs.add((rng.randrange(issues), chosen_customers[cursor % len(chosen_customers)]))
        cursor += 1
    link_rows = [{"id": uuid.uuid4(), "connection_id": connection_id, "issue_id": issue_rows[i]["id"],
                  "jira_key": issue_rows[i]["jira_key"], "customer_id": customer_rows[c]["id"],
                  "link_type": rng.choice(LINK_TYPES), "source": "rule", "created_at": now, "updated_at": now}
                 for i, c in pairs]
    for start in range(0, len(link_rows), CHUNK):
        db.session.execute(insert(JiraCustomerLink), link_rows[start:start + CHUNK])
    db.session.commit()
    linked_issues = sorted({i for i, _ in pairs})
    return {"customer_ids": [c["id"] for c in customer_rows],
            "linked_keys": [issue_rows[i]["jira_key"] for i in linked_issues], "connection_id": connection_id}


def analyze() -> None:
    """Refresh PostgreSQL's planner statistics after a bulk load, as autovacuum soon would (SQLite: no-op)."""
    if db.engine.dialect.name == "postgresql":
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))


def run(customers: int, issues: int, links: int, database_url: str | None, samples: int, seed_value: int) -> dict:
    """Seed, score, and measure one size."""
    rng = random.Random(seed_value)
    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(Path(tmp), database_url)
        headers = {"Authorization": "Bearer " + mint_service_token(
            app.config["CSCX_SIGNING_SECRET"], workspace=WORKSPACE, role="pm", user="bench", ttl=86400)}
        client = app.test_client()
        try:
            result = measure(app, client, headers, customers, issues, links, samples, rng)
        finally:
            dispose(app)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"database": "postgresql" if database_url else "sqlite", **result, "peak_rss_mb": round(peak, 1)}


def measure(app, client, headers: dict, customers: int, issues: int, links: int, samples: int,
            rng: random.Random) -> dict:
    """Seed, score, then time each endpoint; the figures of one size."""
    with app.app_context():
        started = time.perf_counter()
        ids = seed(customers, issues, links, rng)
        seed_s = time.perf_counter() - started
        analyze()
        started = time.perf_counter()
        scored = store.recompute_workspace(WORKSPACE)
        full_recompute_s = time.perf_counter() - started
        analyze()
        db.session.remove()

        filters = ["", "project=ENG", "priority=Highest,High", "customer_tier=enterprise", "component=Billing",
                   "min_severity=high", "type=Bug&offset=50"]
        rank_ms = []
        for n in range(samples):
            started = time.perf_counter()
            response = client.get(f"/api/jira/impact?limit=50&{filters[n % len(filters)]}", headers=headers)
            rank_ms.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.get_data(as_text=True)
        top = client.get("/api/jira/impact?limit=1", headers=headers).get_json()["issues"]

        affected_ms = []
        for key in rng.sample(ids["linked_keys"], min(samples, len(ids["linked_keys"]))):
            started = time.perf_counter()
            response = client.get(f"/api/jira/affected-customers/{key}", headers=headers)
            affected_ms.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.get_data(as_text=True)

        started = time.perf_counter()
        everyone = health.all_health(WORKSPACE)
        health_all_s = time.perf_counter() - started
        labels: dict[str, int] = {}
        for customer_health in everyone.values():
            labels[customer_health["label"]] = labels.get(customer_health["label"], 0) + 1

        # One customer's ARR changes (a mid-sized account: the median number of linked issues).
        customer_id = ids["customer_ids"][len(ids["customer_ids"]) // 10]
        customer = db.session.get(Customer, customer_id)
        customer.arr = customer.arr * 3
        db.session.commit()
        started = time.perf_counter()
        outcome = store.recompute_for_customers([customer_id])
        db.session.commit()
        recompute_ms = (time.perf_counter() - started) * 1000
        touched = db.session.scalar(select(func.count()).select_from(JiraCustomerLink)
                                    .where(JiraCustomerLink.customer_id == customer_id))
        db.session.remove()
    return {"customers": customers, "issues": issues, "links": links, "seed_s": round(seed_s, 1),
            "full_recompute_s": round(full_recompute_s, 2), "scored_issues": scored.changed,
            "top_score": top[0]["score"] if top else None, "rank_p95_ms": round(p95(rank_ms), 1),
            "rank_median_ms": round(sorted(rank_ms)[len(rank_ms) // 2], 1),
            "affected_p95_ms": round(p95(affected_ms), 1), "health_all_s": round(health_all_s, 2),
            "health_labels": dict(sorted(labels.items())), "recompute_after_change_ms": round(recompute_ms, 1),
            "recomputed_issues": touched, "recompute_changed": outcome.changed}


def main(argv: list[str] | None = None) -> int:
    """Run one size and print its JSON summary as the last line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.impact", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 customers / 10,000 issues / 30,000 links")
    parser.add_argument("--size", default="10000:100000:300000", help="customers:issues:links")
    parser.add_argument("--samples", type=int, default=100, help="requests per measured endpoint")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args(argv)
    customers, issues, links = (1_000, 10_000, 30_000) if args.quick else (int(x) for x in args.size.split(":"))
    print(json.dumps(run(customers, issues, links, args.database_url, args.samples, args.seed)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
