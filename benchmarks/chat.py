"""Chat benchmark: how well and how fast POST /api/jira/chat reads what CSMs type, with 10,000 customers.

Seeds one workspace straight into the database: the customers the utterance table speaks of plus
generated ones up to `--customers` (company-like names, some sharing a first word, suffixes like Inc or
LLC), every issue key the table names plus background issues linked to customers, then sends each
utterance of `tests/chat/utterances.py` through the API (Flask test client, service token, a new
conversation each, its context when it has one) and compares the answer's intent and entities with the
table's. Timed per request, end to end (token, parse, queries, side effects, the html card); the parser
alone is timed too, and the first message after every customer's `updated_at` moved (the names are read
again) and after a rename (the name index is rebuilt), as the median of three. The last stdout line is the
JSON summary with `utterances`, `intent_accuracy`, `entity_accuracy` (utterances with entities whose
entities are all right), `p95_ms`.

    python -m benchmarks.chat                     # 10,000 customers, SQLite, three passes, ~1 min
    python -m benchmarks.chat --quick             # one pass
    python -m benchmarks.chat --database-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert, select, text, update

from benchmarks.impact import analyze, build_app, dispose, p95
from connect_app.api.auth import mint_service_token
from connect_app.chat import names
from connect_app.chat.understand import CustomerRef, NameIndex, understand
from connect_app.extensions import db
from connect_app.models import Customer, JiraConnection, JiraCustomerLink, JiraIssue, Organization
from tests.chat.utterances import CUSTOMERS, PROJECT_KEYS, UTTERANCES, Utterance

WORKSPACE = "bench-chat"


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST = _words("Nor Vel Quan Ast Bri Cal Dra El Fen Gal Hal Ir Jun Kel Lum Mar Nex Or Pax Rho Sil Tor Ul Var "
               "Wex Xan Yor Zel Ber Cor Den Fal Gor Hes Ith Jor Kas Lin Mon Nal Ost Pel Quin Ros Sab Tal Ven Wil")
SECOND = _words("dex tris vana mont wick brook field stone gate ford ly ara ion ix ora ent ica iva ton ware works "
                "mark point line path wave sphere bridge haven crest")
KINDS = _words("Systems Health Labs Logistics Analytics Partners Group Capital Software Foods Energy Media Bank "
               "Insurance Retail Robotics Networks Consulting Holdings Pharma Motors Airlines Studios Solutions "
               "Technologies Security Industries Dynamics Ventures Trading")
LEGAL = ("", "", "", "Inc", "LLC", "Ltd", "Corp", "GmbH")
STATUSES = (("To Do", "new"), ("In Progress", "indeterminate"), ("In Review", "indeterminate"), ("Done", "done"))
PRIORITIES = ("Highest", "High", "High", "Medium", "Medium", "Medium", "Low", "Lowest")
TYPES = ("Bug", "Bug", "Bug", "Story", "Task")
CHUNK = 5_000


def generated_names(count: int, rng: random.Random) -> list[str]:
    """Company-like names, none starting with a word of the table's customers (which would change its answers)."""
    taken = {name.split()[0].lower() for name, _, _ in CUSTOMERS}
    found: list[str] = []
    seen: set[str] = set()
    while len(found) < count:
        base = rng.choice(FIRST) + rng.choice(SECOND)
        words = [base, rng.choice(KINDS) if rng.random() < 0.8 else "", rng.choice(LEGAL)]
        name = " ".join(w for w in words if w)
        if name.lower() not in seen and base.lower() not in taken:
            seen.add(name.lower())
            found.append(name)
    return found


def table_keys() -> list[str]:
    """Every issue key the table names, in its entities or contexts."""
    keys = {u.entities.get("issue_key") for u in UTTERANCES} | {u.context.get("issue_key") for u in UTTERANCES}
    return sorted(k for k in keys if k)


def seed(customers: int, background_issues: int, rng: random.Random) -> dict[str, uuid.UUID]:
    """Insert the workspace in bulk; returns the table's customers' ids by name."""
    now = datetime.now(UTC)
    db.session.execute(insert(Organization), [{"id": WORKSPACE, "name": "Bench", "settings": {}, "created_at": now}])
    connection_id = uuid.uuid4()
    db.session.execute(insert(JiraConnection), [{
        "id": connection_id, "organization_id": WORKSPACE, "kind": "connect", "status": "active",
        # A Jira that refuses at once: no key of the table needs fetching, and none may reach the network.
        "base_url": "http://127.0.0.1:9", "display_url": "https://bench.atlassian.net", "client_key": "bench",
        "shared_secret": "s" * 40, "deployment": "cloud", "token_version": 0, "scopes": [], "status_map": {},
        "webhooks": [], "created_at": now, "updated_at": now}])
    rows = [(name, slug, external_id) for name, slug, external_id in CUSTOMERS]
    rows += [(name, f"{re.sub(r'[^a-z0-9]+', '-', name.lower())}", f"crm-{n}")
             for n, name in enumerate(generated_names(customers - len(CUSTOMERS), rng))]
    customer_rows = [{"id": uuid.uuid4(), "organization_id": WORKSPACE, "name": name, "name_key": name.lower(),
                      "slug": slug, "external_id": external_id, "arr": Decimal(rng.randrange(5_000, 900_000)),
                      "tier": rng.choice(("enterprise", "mid_market", "smb")), "health_score": rng.randint(10, 95),
                      "stakeholders": [], "created_at": now, "updated_at": now} for name, slug, external_id in rows]
    for start in range(0, len(customer_rows), CHUNK):
        db.session.execute(insert(Customer), customer_rows[start:start + CHUNK])
    named = [c["id"] for c in customer_rows[:len(CUSTOMERS)]]
    keys = table_keys() + [f"{('CS', 'ENG', 'SUP')[n % 3]}-{10_000 + n}" for n in range(background_issues)]
    issue_rows, link_rows = [], []
    for n, key in enumerate(keys):
        status, category = rng.choice(STATUSES)
        issue_rows.append({
            "id": uuid.uuid4(), "connection_id": connection_id, "jira_id": str(100_000 + n), "jira_key": key,
            "project_key": key.split("-")[0], "summary": f"Issue {n}", "issue_type": rng.choice(TYPES),
            "status": status, "status_category": category, "priority": rng.choice(PRIORITIES), "labels": [],
            "components": [], "custom_fields": {}, "created_at": now - timedelta(days=rng.randint(0, 300)),
            "updated_at": now - timedelta(hours=rng.randint(0, 2000)), "version_ts": 0, "synced_at": now})
        # The table's customers are big accounts (about 50 issues each); the rest go to anyone.
        owners = {rng.choice(named) if rng.random() < 0.025 else rng.choice(customer_rows)["id"]
                  for _ in range(rng.randint(1, 3))}
        link_rows += [{"id": uuid.uuid4(), "connection_id": connection_id, "issue_id": issue_rows[-1]["id"],
                       "jira_key": key, "customer_id": owner, "link_type": "affected", "source": "rule",
                       "created_at": now, "updated_at": now} for owner in owners]
    for start in range(0, len(issue_rows), CHUNK):
        db.session.execute(insert(JiraIssue), issue_rows[start:start + CHUNK])
    for start in range(0, len(link_rows), CHUNK):
        db.session.execute(insert(JiraCustomerLink), link_rows[start:start + CHUNK])
    db.session.commit()
    return {name: customer_id for (name, _, _), customer_id in zip(CUSTOMERS, named, strict=True)}


def labelled(body: dict) -> dict:
    """An answer in the table's terms (customer by name, the candidates as choices, the clarified intent)."""
    entities = body["entities"]
    found = {name: entities[name] for name in ("issue_key", "event", "issue_type", "summary", "filters")
             if name in entities}
    if "customer" in entities:
        found["customer"] = entities["customer"]["name"]
    if body["intent"] == "clarify" and body["card"]["for"] != "issue_status":
        found["choices"] = sorted(choice["label"] for choice in body["choices"])
        found["of"] = body["card"]["for"]
    return found


def expected(utterance: Utterance) -> dict:
    wanted = dict(utterance.entities)
    if "choices" in wanted:
        wanted["choices"] = sorted(wanted["choices"])
    return wanted


def measure(app, customers: int, background_issues: int, passes: int, rng: random.Random) -> dict:
    """Seed, then send every utterance `passes` times; accuracy from the first pass, times from all."""
    headers = {"Authorization": "Bearer " + mint_service_token(
        app.config["CSCX_SIGNING_SECRET"], workspace=WORKSPACE, role="csm", user="bench", ttl=86400)}
    client = app.test_client()
    with app.app_context():
        ids = seed(customers, background_issues, rng)
        analyze()
        if db.engine.dialect.name == "postgresql":
            # After a bulk load autovacuum soon sets the visibility map too; index-only scans rely on it.
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("VACUUM customers"))
        started = time.perf_counter()
        names.customer_index(WORKSPACE)
        index_build_ms = (time.perf_counter() - started) * 1000
        db.session.remove()
        request_ms: list[float] = []
        intent_right = entity_right = with_entities = 0
        misses = []
        for n in range(passes):
            for utterance in UTTERANCES:
                context = {}
                if "customer" in utterance.context:
                    context["customer_id"] = str(ids[utterance.context["customer"]])
                if "issue_key" in utterance.context:
                    context["issue_key"] = utterance.context["issue_key"]
                started = time.perf_counter()
                response = client.post("/api/jira/chat", json={"text": utterance.text, "context": context},
                                       headers=headers)
                request_ms.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.get_data(as_text=True)
                if n:
                    continue
                body = response.get_json()
                got, wanted = labelled(body), expected(utterance)
                intent_right += body["intent"] == utterance.intent
                with_entities += bool(wanted)
                entity_right += bool(wanted) and got == wanted
                if body["intent"] != utterance.intent or got != wanted:
                    misses.append({"text": utterance.text, "intent": body["intent"], "entities": got,
                                   "expected": [utterance.intent, wanted]})
        after_update_ms, after_rename_ms = [], []
        for n in range(1, 4):
            # Every customer's health score moves (names do not): the next message reads the names again.
            db.session.execute(update(Customer).where(Customer.organization_id == WORKSPACE).values(
                health_score=Customer.health_score, updated_at=datetime.now(UTC) + timedelta(seconds=2 * n)))
            db.session.commit()
            started = time.perf_counter()
            client.post("/api/jira/chat", json={"text": "show jira issues for globex"}, headers=headers)
            after_update_ms.append((time.perf_counter() - started) * 1000)
            # A customer is renamed: the next message rebuilds the name index.
            db.session.execute(update(Customer).where(Customer.id == ids["Hooli"]).values(
                name=f"Hooli {n}", name_key=f"hooli {n}", updated_at=datetime.now(UTC) + timedelta(seconds=2 * n + 1)))
            db.session.commit()
            started = time.perf_counter()
            client.post("/api/jira/chat", json={"text": "show jira issues for globex"}, headers=headers)
            after_rename_ms.append((time.perf_counter() - started) * 1000)
        rows = db.session.execute(select(Customer.id, Customer.name, Customer.slug, Customer.external_id)
                                  .where(Customer.organization_id == WORKSPACE)).all()
        db.session.remove()
    index = NameIndex(CustomerRef(str(i), n, s, e) for i, n, s, e in rows)
    parse_ms = []
    for utterance in UTTERANCES:
        started = time.perf_counter()
        understand(utterance.text, index, project_keys=PROJECT_KEYS)
        parse_ms.append((time.perf_counter() - started) * 1000)
    for miss in misses:
        print(json.dumps(miss), flush=True)
    return {"utterances": len(UTTERANCES), "intent_accuracy": round(intent_right / len(UTTERANCES), 4),
            "entity_accuracy": round(entity_right / with_entities, 4), "p95_ms": round(p95(request_ms), 1),
            "p50_ms": round(sorted(request_ms)[len(request_ms) // 2], 1), "max_ms": round(max(request_ms), 1),
            "requests": len(request_ms), "parse_p95_ms": round(p95(parse_ms), 2),
            "index_build_ms": round(index_build_ms, 1), "first_message_after_customers_update_ms":
            round(sorted(after_update_ms)[1], 1), "first_message_after_rename_ms": round(sorted(after_rename_ms)[1], 1),
            "customers": customers, "issues": background_issues + len(table_keys()),
            "misses": len(misses)}


def run(customers: int, background_issues: int, database_url: str | None, passes: int, seed_value: int) -> dict:
    """One run on a fresh database (a temporary SQLite file, or a schema of its own on PostgreSQL)."""
    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(Path(tmp), database_url)
        try:
            result = measure(app, customers, background_issues, passes, random.Random(seed_value))
        finally:
            dispose(app)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"database": "postgresql" if database_url else "sqlite", **result, "peak_rss_mb": round(peak, 1)}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its JSON summary as the last line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chat", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one pass over the utterances")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--issues", type=int, default=30_000, help="background issues, besides the table's keys")
    parser.add_argument("--passes", type=int, default=3, help="times each utterance is sent (timing)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args(argv)
    result = run(args.customers, args.issues, args.database_url, 1 if args.quick else args.passes, args.seed)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
