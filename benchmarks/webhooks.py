"""Webhook benchmark: Jira (the sandbox) fires issue webhooks at the service; how fast are they acked and pushed?

    python -m benchmarks.webhooks --quick                  # embedded mode, small load, < 1 minute
    python -m benchmarks.webhooks --mode both --deliveries 3000 --concurrency 32

Per mode it starts the sandbox (in this process), a local CSCX.AI receiver (in this process) and
the service as a subprocess (`cscx-jira serve`), installs the Connect app through the sandbox's
signed install, links it to a workspace with label rules, then moves N issues To Do -> In
Progress in the sandbox. Each move is one webhook rendered and JWT-signed by the sandbox exactly
as it delivers them; the benchmark fires them at the service from `--concurrency` threads so it
can time each acknowledgement, and the receiver times each push ("moved to development") as it
arrives. Modes:
- production: gunicorn (2 processes x 8 threads), PostgreSQL (BENCH_POSTGRES_URL, a fresh schema),
  Redis (BENCH_REDIS_URL) and two `cscx-jira worker` processes;
- embedded: one gunicorn process, a fresh SQLite file, jobs on the in-process pool.
Last line: a JSON summary (mode, deliveries, accepted_per_s, ack_p50_ms, ack_p99_ms, e2e_p50_ms,
e2e_p99_ms, pushes_received, lost, duplicated).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

WORKSPACE = "ws-bench"
CUSTOMERS = 50
APP_KEY = "ai.cscx.jira"
PUSH_TOPIC = "jira.issue.moved_to_development"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


class Receiver:
    """CSCX.AI's push endpoint: verifies signatures, records the first arrival per idempotency key."""

    def __init__(self):
        from connect_app.delivery.outbox import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, verify_signature

        self.secret = ""  # set once the service's signing secret is chosen
        self._verify = lambda header, body: verify_signature(self.secret, header, body)
        self._sig, self._key = SIGNATURE_HEADER, IDEMPOTENCY_HEADER
        self.lock = threading.Lock()
        self.first: dict[str, tuple[float, dict]] = {}
        self.duplicates = 0
        self.bad = 0
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True, request_handler=_Quiet)
        self.url = f"http://127.0.0.1:{self._server.server_port}/push"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @Request.application
    def _app(self, request: Request) -> Response:
        body = request.get_data()
        arrived = time.time()
        if not self._verify(request.headers.get(self._sig, ""), body):
            with self.lock:
                self.bad += 1
            return Response("bad signature", status=401)
        key = request.headers.get(self._key)
        with self.lock:
            if key in self.first:
                self.duplicates += 1
            else:
                self.first[key] = (arrived, json.loads(body))
        return Response("{}", mimetype="application/json")

    def arrivals(self, topic: str) -> dict[str, list[float]]:
        """Issue key -> arrival times of pushes of `topic` (more than one would be a duplicate)."""
        found: dict[str, list[float]] = {}
        with self.lock:
            for arrived, data in self.first.values():
                if data["topic"] == topic:
                    found.setdefault(data["data"]["issue"]["key"], []).append(arrived)
        return found

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Service:
    """The service and its workers as subprocesses, with the environment they share."""

    def __init__(self, mode: str, workdir: Path, receiver: Receiver, keys_url: str):
        from connect_app import crypto

        self.mode = mode
        self.workdir = workdir
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.processes: list[subprocess.Popen] = []
        self.schema = None
        self.env = dict(os.environ) | {
            "CSCX_ENV": "development", "BASE_URL": self.base_url, "SECRET_KEY": "bench-" + uuid.uuid4().hex,
            "ENCRYPTION_KEY": crypto.new_key(), "CSCX_SIGNING_SECRET": "bench-signing-" + uuid.uuid4().hex,
            "CSCX_PUSH_URL": receiver.url, "ATLASSIAN_INSTALL_KEYS_URL": keys_url, "LOG_LEVEL": "WARNING",
            "ALLOW_PRIVATE_JIRA_URLS": "true", "PYTHONUNBUFFERED": "1",
        }
        self.env.pop("REDIS_URL", None)
        if mode == "production":
            self.schema = f"bench_{uuid.uuid4().hex[:10]}"
            base = os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("TEST_POSTGRES_URL") or \
                "postgresql://postgres@127.0.0.1:5432/test"
            self._pg_base = base
            self._sql(f'CREATE SCHEMA "{self.schema}"')
            joiner = "&" if "?" in base else "?"
            self.env["DATABASE_URL"] = f"{base}{joiner}options=-csearch_path%3D{self.schema}"
            self.env["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL") or os.environ.get("TEST_REDIS_URL") or \
                "redis://127.0.0.1:6379/15"
            self.env["RQ_QUEUE"] = f"bench-{uuid.uuid4().hex[:8]}"
        else:
            self.env["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.db'}"

    def _sql(self, statement: str) -> None:
        from sqlalchemy import create_engine, text

        from connect_app.config import normalise_database_url

        engine = create_engine(normalise_database_url(self._pg_base))
        with engine.begin() as connection:
            connection.execute(text(statement))
        engine.dispose()

    def _spawn(self, *args: str) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-m", "connect_app.cli", *args], env=self.env, cwd=self.workdir,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.processes.append(process)
        return process

    def start(self) -> None:
        """Migrate, then serve (and start two workers in production mode); wait until healthy."""
        subprocess.run([sys.executable, "-m", "connect_app.cli", "db", "upgrade"], env=self.env, cwd=self.workdir,
                       check=True, capture_output=True)
        workers = "2" if self.mode == "production" else "1"
        self._spawn("serve", "--port", str(self.port), "--workers", workers, "--threads", "8")
        if self.mode == "production":
            self._spawn("worker")
            self._spawn("worker")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError("the service did not become healthy")

    def app(self):
        """An app bound to the same database (to link the workspace and count rows)."""
        from connect_app import create_app
        from connect_app.config import Config

        return create_app(Config({k: v for k, v in self.env.items() if k != "REDIS_URL"},
                                 instance_path=self.workdir / "instance"))

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self.schema:
            self._sql(f'DROP SCHEMA "{self.schema}" CASCADE')


def _link_workspace(service: Service, client_key: str) -> None:
    """Link the installed site to the workspace; customers with one label rule each."""
    from decimal import Decimal

    from connect_app.connections.records import find_tenant
    from connect_app.extensions import db
    from connect_app.models import Customer, LinkingRule, Organization

    app = service.app()
    with app.app_context():
        db.session.add(Organization(id=WORKSPACE, name="Bench", settings={}))
        connection = find_tenant(client_key, live_only=False)
        connection.organization_id, connection.status = WORKSPACE, "active"
        for n in range(CUSTOMERS):
            customer = Customer(organization_id=WORKSPACE, name=f"Customer {n}", name_key=f"customer {n}",
                                slug=f"customer-{n}", arr=Decimal(1000 * n), csm_owner_id=f"csm-{n % 7}",
                                stakeholders=[])
            db.session.add(customer)
            db.session.flush()
            db.session.add(LinkingRule(organization_id=WORKSPACE, customer_id=customer.id, strategy="label",
                                       value=f"customer_{n}", link_type="affected"))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def run_mode(mode: str, deliveries: int, concurrency: int, timeout: float, rate: float | None = None) -> dict:
    """One full run; returns the summary."""
    from jira_sandbox.connect_host import host_for, sign_for_app
    from jira_sandbox.testing import SandboxServer
    from jira_sandbox.webhooks import build_payload

    with tempfile.TemporaryDirectory(prefix=f"bench-webhooks-{mode}-") as tmp, \
            SandboxServer(issues=0, seed=11) as site:
        workdir = Path(tmp)
        state = site.state
        state.webhooks.configure(paused=True)  # we fire the sandbox's deliveries ourselves, to time them
        receiver = Receiver()
        service = Service(mode, workdir, receiver, f"{site.base_url}/_connect/install-keys")
        receiver.secret = service.env["CSCX_SIGNING_SECRET"]
        try:
            service.start()
            installed = requests.post(f"{site.base_url}/_sandbox/apps/install", headers=site.admin_headers,
                                      json={"descriptor_url": f"{service.base_url}/atlassian-connect.json"},
                                      timeout=60)
            installed.raise_for_status()
            _link_workspace(service, installed.json()["client_key"])
            install = host_for(state).get(APP_KEY)
            keys = [state.import_issue({"project": "CS", "summary": f"Bench issue {n}", "issuetype": "Bug",
                                        "labels": [f"customer_{n % CUSTOMERS}"]}, notify=False)["key"]
                    for n in range(deliveries)]
            events = []
            state.subscribe(events.append)
            for key in keys:
                state.transition_issue(key, "21")  # To Do -> In Progress
            url = f"{service.base_url}/api/integrations/jira/webhook"
            bodies = [(event.issue_key, json.dumps(build_payload(state, event)).encode()) for event in events]
            local = threading.local()
            begin = time.time() + 0.5

            def fire(indexed):
                index, (key, body) = indexed
                if rate:  # paced: delivery i leaves at begin + i / rate
                    time.sleep(max(0.0, begin + index / rate - time.time()))
                session = getattr(local, "session", None) or requests.Session()
                local.session = session
                headers = {"Content-Type": "application/json", "X-Atlassian-Webhook-Identifier": str(uuid.uuid4()),
                           "Authorization": "JWT " + sign_for_app(install, "POST", url)}
                sent = time.time()
                response = session.post(url, data=body, headers=headers, timeout=30)
                return key, sent, time.time(), response.status_code

            started = time.time()
            with ThreadPoolExecutor(concurrency) as pool:
                results = list(pool.map(fire, enumerate(bodies)))
            acked_all = time.time()
            accepted = [r for r in results if 200 <= r[3] < 300]
            sent_at = {key: sent for key, sent, _, _ in accepted}
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and len(receiver.arrivals(PUSH_TOPIC)) < len(accepted):
                time.sleep(0.1)
            time.sleep(1.0)  # anything still in flight would show up as a duplicate
            arrivals = receiver.arrivals(PUSH_TOPIC)
        finally:
            service.stop()
            receiver.close()
    ack_ms = [(acked - sent) * 1000 for _, sent, acked, _ in accepted]
    e2e_ms = [(times[0] - sent_at[key]) * 1000 for key, times in arrivals.items() if key in sent_at]
    return {
        "mode": mode, "deliveries": len(results), "accepted": len(accepted),
        "accepted_per_s": round(len(accepted) / max(acked_all - started, 1e-9), 1),
        "ack_p50_ms": round(_percentile(ack_ms, 50), 1), "ack_p99_ms": round(_percentile(ack_ms, 99), 1),
        "e2e_p50_ms": round(_percentile(e2e_ms, 50), 1), "e2e_p99_ms": round(_percentile(e2e_ms, 99), 1),
        "e2e_max_ms": round(max(e2e_ms), 1) if e2e_ms else None,
        "pushes_received": len(arrivals), "lost": len([k for k in sent_at if k not in arrivals]),
        "duplicated": receiver.duplicates + sum(len(t) - 1 for t in arrivals.values()),
        "concurrency": concurrency, "rate": rate, "mean_ack_ms": round(statistics.fmean(ack_ms), 1) if ack_ms else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="embedded mode, 200 deliveries")
    parser.add_argument("--mode", choices=("production", "embedded", "both"), default=None)
    parser.add_argument("--deliveries", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for the pushes")
    parser.add_argument("--rate", type=float, default=None, help="deliveries per second (default: as fast as acked)")
    args = parser.parse_args(argv)
    mode = args.mode or ("embedded" if args.quick else "both")
    deliveries = args.deliveries or (200 if args.quick else 2000)
    modes = ["production", "embedded"] if mode == "both" else [mode]
    summaries = [run_mode(m, deliveries, args.concurrency, args.timeout, args.rate) for m in modes]
    for summary in summaries:
        print(json.dumps(summary), flush=True)
    return 0 if all(s["lost"] == 0 and s["duplicated"] == 0 for s in summaries) else 1


if __name__ == "__main__":
    sys.exit(main())
