"""Pages benchmark: the server time of every page CSCX.AI embeds, on demo-sized data.

Seeds one workspace the size of the demo (40 customers, 400 issues over three projects, 800 links;
impacts scored, two SLA policies evaluated), then renders each page `--samples` times through the app
with a service token, as CSCX.AI's frame would open it, and reports each page's p95 and median in ms.
The new-issue form is left out: it asks Jira for its create screen (network time, not ours). The last
stdout line is the JSON summary: `pages` (p95 per page), `worst_p95_ms`, `peak_rss_mb`.

    python -m benchmarks.pages                                              # SQLite
    python -m benchmarks.pages --database-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.impact import WORKSPACE, analyze, build_app, dispose, p95, seed
from connect_app.api.auth import mint_service_token
from connect_app.extensions import db
from connect_app.impact.store import recompute_workspace
from connect_app.sla import store as sla

POLICIES = [
    {"name": "Bugs resolved in 5 business days", "metric": "time_to_resolution", "target": "5d",
     "calendar": {"timezone": "America/New_York", "hours": {d: ["09:00", "17:00"] for d in
                                                             ("mon", "tue", "wed", "thu", "fri")}},
     "selector": {"issue_types": ["Bug"]}},
    {"name": "Picked up within 2 days", "metric": "time_to_development", "target": "48h"},
]


def run(database_url: str | None, samples: int, seed_value: int) -> dict:
    rng = random.Random(seed_value)
    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(Path(tmp), database_url)
        try:
            with app.app_context():
                ids = seed(40, 400, 800, rng)
                recompute_workspace(WORKSPACE)
                for body in POLICIES:
                    sla.evaluate_policy(sla.save_policy(WORKSPACE, body, "bench"))
                db.session.commit()
                analyze()
                db.session.remove()
            token = mint_service_token(app.config["CSCX_SIGNING_SECRET"], workspace=WORKSPACE, role="admin",
                                       user="bench", ttl=3600)
            headers = {"Authorization": f"Bearer {token}"}
            paths = {"customer": f"/app/customers/{ids['customer_ids'][0]}",
                     "customer_filtered": f"/app/customers/{ids['customer_ids'][0]}?filtered=1&filter=bugs&sort=impact",
                     "issue": f"/app/issues/{ids['linked_keys'][0]}", "impact": "/app/impact", "sla": "/app/sla",
                     "notifications": "/app/notifications", "sync": "/app/sync", "approvals": "/app/approvals"}
            client = app.test_client()
            timings: dict[str, list[float]] = {name: [] for name in paths}
            for _ in range(samples):
                for name, path in paths.items():
                    started = time.perf_counter()
                    response = client.get(path, headers=headers)
                    timings[name].append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200, (path, response.status_code)
        finally:
            dispose(app)
    pages = {name: {"p95_ms": round(p95(values), 1), "median_ms": round(statistics.median(values), 1)}
             for name, values in timings.items()}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"database": "postgresql" if database_url else "sqlite", "samples": samples, "pages": pages,
            "worst_p95_ms": max(p["p95_ms"] for p in pages.values()), "peak_rss_mb": round(peak, 1)}


def main(argv: list[str] | None = None) -> int:
    """Measure and print the JSON summary as the last line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pages", description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.database_url, args.samples, args.seed)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
