"""Sync benchmark: batched sync vs the naive per-customer sync, against the sandbox with a set latency.

    python -m benchmarks.sync --quick                 # small size, < 1 minute, JSON summary last
    python -m benchmarks.sync --sizes 100:10000,1000:50000,5000:100000 --latency-ms 50

For each size (customers:issues) it seeds a sandbox in its own process, creates the matching
customers (one label rule each, plus a Customer ID rule for every tenth), and measures: Jira
requests made by a full sync vs the minimum (synced issues / page size), wall time of a full and
an incremental sync (after editing 1% of the issues), on-demand refresh time per customer (p95
over a sample), peak RSS of this process, and the naive way (one paged query per customer) on
the same data, with the speed-up. The database is a fresh SQLite file (or DATABASE_URL).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests

from connect_app.demo import SandboxSite

REDIRECT = "https://bench.cscx.test/callback"
SCOPES = "read:jira-work write:jira-work read:jira-user offline_access"


def _admin(site, method: str, path: str, **kwargs) -> requests.Response:
    response = requests.request(method, f"{site.base_url}/_sandbox{path}", headers=site.admin_headers,
                                timeout=60, **kwargs)
    response.raise_for_status()
    return response


def _oauth_token(site) -> str:
    client = _admin(site, "POST", "/oauth/clients", json={"redirect_uris": [REDIRECT]}).json()
    response = requests.get(f"{site.base_url}/authorize", allow_redirects=False, timeout=30, params={
        "audience": "api.atlassian.com", "client_id": client["client_id"], "scope": SCOPES,
        "redirect_uri": REDIRECT, "state": "b", "response_type": "code"})
    code = parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]
    return requests.post(f"{site.base_url}/oauth/token", timeout=30, json={
        "grant_type": "authorization_code", "client_id": client["client_id"], "client_secret": client["client_secret"],
        "code": code, "redirect_uri": REDIRECT}).json()["access_token"]


def _requests(site) -> int:
    return int(_admin(site, "GET", "/stats").json()["requests_total"])


def _build_app(workdir: Path, database_url: str | None, api_url: str):
    from flask_migrate import upgrade

    from connect_app import create_app
    from connect_app.config import TestConfig

    url = database_url or f"sqlite:///{workdir / 'bench.db'}"
    app = create_app(TestConfig({"DATABASE_URL": url, "ATLASSIAN_API_URL": api_url, "LOG_LEVEL": "WARNING",
                                 "ALLOW_PRIVATE_JIRA_URLS": "true"},
                                instance_path=workdir / "instance"))
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
    return app


def _workspace(site, info: dict, catalog: list[dict], workspace: str, flavour: str):
    """Organization, connection and customers with rules; returns (connection id, customer ids)."""
    from connect_app.extensions import db
    from connect_app.models import Customer, JiraConnection, LinkingRule, Organization

    db.session.add(Organization(id=workspace, name=workspace, settings={}))
    db.session.flush()
    if flavour == "cloud":
        connection = JiraConnection(organization_id=workspace, kind="oauth", status="active", deployment="cloud",
                                    base_url=site.base_url, cloud_id=info["cloud_id"], access_token=_oauth_token(site),
                                    token_expires_at=datetime.now(UTC) + timedelta(minutes=55))
    else:
        connection = JiraConnection(organization_id=workspace, kind="server", status="active", deployment="server",
                                    base_url=site.base_url, api_token=site.info["pat"])
    db.session.add(connection)
    db.session.flush()
    customers, rules = [], []
    for entry in catalog:
        customer = Customer(organization_id=workspace, name=entry["name"], name_key=entry["name"].lower(),
                            slug=entry["slug"], external_id=entry["external_id"], stakeholders=[])
        customers.append(customer)
    db.session.add_all(customers)
    db.session.flush()
    for n, (customer, entry) in enumerate(zip(customers, catalog, strict=True)):
        rules.append(LinkingRule(organization_id=workspace, customer_id=customer.id, strategy="label",
                                 value=entry["label"], link_type="affected", position=0))
        if n % 10 == 0:
            rules.append(LinkingRule(organization_id=workspace, customer_id=customer.id, strategy="custom_field",
                                     field_id="customfield_10001", field="Customer ID", value=entry["external_id"],
                                     link_type="affected", position=1))
    db.session.add_all(rules)
    db.session.commit()
    return connection.id, [c.id for c in customers]


def _naive(connection_id, customer_ids: list, page_size: int) -> float:
    """The PRD's sketch: one paged query per customer, stored with the same writer. Returns seconds."""
    from connect_app.connections.access import jira_client
    from connect_app.extensions import db
    from connect_app.linking.rule_store import rules_for
    from connect_app.linking.rules import customer_query
    from connect_app.models import JiraConnection, SyncRun
    from connect_app.sync.engine import SyncContext
    from connect_app.sync.pages import PageWriter

    connection = db.session.get(JiraConnection, connection_id)
    client = jira_client(connection)
    started = time.perf_counter()
    rules = rules_for(connection)
    ctx = SyncContext(connection, client, rules)
    ctx.load_site()
    run = SyncRun(connection_id=connection.id, mode="naive", status="running", counts={})
    db.session.add(run)
    db.session.commit()
    for customer_id in customer_ids:
        mine = [r for r in rules if r.customer_id == str(customer_id)]
        writer = PageWriter(ctx, run, customers={str(customer_id)})
        for issues, _ in client.search_pages(f"{customer_query(mine, ctx.kinds)} ORDER BY key ASC", ctx.fields,
                                             page_size, expand=("changelog",)):
            writer.write(issues)
        db.session.commit()
    return time.perf_counter() - started


def run_size(customers: int, issues: int, latency_ms: float, flavour: str, database_url: str | None,
             refresh_sample: int, page_size: int, seed: int) -> dict:
    """One size: seed, full + incremental sync, refreshes, naive run; returns the figures."""
    with tempfile.TemporaryDirectory() as tmp, SandboxSite(
            flavour=flavour, issues=issues, seed=seed,
            extra_args=("--customers", str(customers), "--latency-ms", str(latency_ms))) as site:
        info = _admin(site, "GET", "/info").json()
        catalog = _admin(site, "GET", "/customers").json()
        app = _build_app(Path(tmp), database_url, site.base_url)
        with app.app_context():
            from sqlalchemy import func, select

            from connect_app.extensions import db
            from connect_app.models import JiraIssue
            from connect_app.sync.engine import sync_connection, sync_customer

            connection_id, customer_ids = _workspace(site, info, catalog, "bench", flavour)
            before = _requests(site)
            started = time.perf_counter()
            run = sync_connection(connection_id, full=True)  # its own page size: 500 written, 100 a request
            full_s = time.perf_counter() - started
            made = _requests(site) - before
            assert run.status == "ok", run.error
            synced = db.session.scalar(select(func.count()).select_from(JiraIssue)
                                       .where(JiraIssue.connection_id == connection_id))
            cap = 100  # issues a request: the sync's bulk fetch (Cloud) or `id in (...)` search (Server/DC)
            minimum = math.ceil(synced / cap)

            rng = random.Random(seed)
            keys = [k for (k,) in db.session.execute(select(JiraIssue.jira_key)
                                                     .where(JiraIssue.connection_id == connection_id))]
            api = 3 if flavour == "cloud" else 2
            session = requests.Session()
            session.auth = (info.get("email") or site.info["email"], site.info["api_token"]) if flavour == "cloud" \
                else (site.info["username"], site.info["password"])
            for key in rng.sample(keys, max(1, len(keys) // 100)):
                session.put(f"{site.base_url}/rest/api/{api}/issue/{key}", timeout=30,
                            json={"fields": {"summary": f"edited {key}"}}).raise_for_status()
            started = time.perf_counter()
            incremental = sync_connection(connection_id)
            incremental_s = time.perf_counter() - started
            assert incremental.status == "ok", incremental.error
            incremental_changed = incremental.counts.get("issues")

            refresh_ms = []
            for customer_id in rng.sample(customer_ids, min(refresh_sample, len(customer_ids))):
                started = time.perf_counter()
                sync_customer(customer_id)
                refresh_ms.append((time.perf_counter() - started) * 1000)
            refresh_ms.sort()
            p95 = refresh_ms[min(len(refresh_ms) - 1, math.ceil(len(refresh_ms) * 0.95) - 1)]

            naive_connection, naive_customers = _workspace(site, info, catalog, "bench-naive", flavour)
            before = _requests(site)
            naive_s = _naive(naive_connection, naive_customers, page_size)
            naive_requests = _requests(site) - before
            db.session.remove()
            db.engine.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"flavour": flavour, "issues": issues, "customers": customers, "synced_issues": synced,
            "latency_ms": latency_ms, "requests": made, "min_requests": minimum,
            "full_sync_s": round(full_s, 2), "incremental_sync_s": round(incremental_s, 2),
            "incremental_changed": incremental_changed,
            "refresh_p95_ms": round(p95, 1), "refresh_median_ms": round(statistics.median(refresh_ms), 1),
            "naive_s": round(naive_s, 2), "naive_requests": naive_requests,
            "speedup_vs_naive": round(naive_s / full_s, 1) if full_s else None, "peak_rss_mb": round(peak, 1)}


def main(argv: list[str] | None = None) -> int:
    """Run the sizes and print one JSON line per size, the last one being the summary."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sync", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small size (under a minute)")
    parser.add_argument("--sizes", default="100:10000,1000:50000,5000:100000", help="customers:issues,...")
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--flavour", choices=("cloud", "server"), default="cloud")
    parser.add_argument("--page-size", type=int, default=100,
                        help="the naive run's search page (the sync fetches 100 a request and writes 500 at a time)")
    parser.add_argument("--refresh-sample", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args(argv)
    sizes = [(100, 2000)] if args.quick else [tuple(int(x) for x in s.split(":")) for s in args.sizes.split(",")]
    results = []
    for customers, issues in sizes:
        result = run_size(customers, issues, args.latency_ms, args.flavour, args.database_url,
                          args.refresh_sample, args.page_size, args.seed)
        results.append(result)
        print(json.dumps(result), flush=True)
    if len(results) > 1:
        print(json.dumps(results[-1]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
