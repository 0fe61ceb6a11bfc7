"""Webhook benchmark: Jira (the sandbox) fires issue webhooks at the service; how fast are they acked and pushed?

    python -m benchmarks.webhooks --quick                  # embedded mode, small load, < 1 minute
    python -m benchmarks.webhooks --mode both --deliveries 3000 --concurrency 32

Per mode it starts the sandbox (in this process), a local CSCX.AI receiver (a process of its own) and
the service as a subprocess (`cscx-jira serve`), installs the Connect app through the sandbox's
signed install, links it to a workspace with label rules, then moves N issues To Do -> In
Progress in the sandbox. Each move is one webhook rendered and JWT-signed by the sandbox exactly
as it delivers them; the benchmark fires them at the service from `--concurrency` threads so it
can time each acknowledgement, and the receiver times each push ("moved to development") as it
arrives. Modes:
- production: gunicorn (2 processes x 8 threads), PostgreSQL (BENCH_POSTGRES_URL, a fresh schema),
  Redis (BENCH_REDIS_URL) and two `cscx-jira worker` processes;
- embedded: one gunicorn process, a fresh SQLite file, jobs on the in-process pool.
`--rate` paces the deliveries instead of firing them as fast as they are acknowledged; `--hold`
(production) starts the workers only once every delivery is in the inbox, to time a full drain.
BENCH_PROFILE_DIR=<dir> writes a cProfile of each worker there.
Last line per mode: a JSON summary (mode, deliveries, accepted_per_s, ack_p50_ms, ack_p99_ms,
e2e_p50_ms, e2e_p99_ms, pushed_after_last_ack_s, processed_per_s, drain_per_s, pushes_received,
lost, duplicated).
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

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


class _PushHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive, as CSCX.AI's endpoint offers it (werkzeug's server closes every connection)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave as two writes: without it each answer waits ~40 ms
    state: _Arrivals

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, answer = self.state.accept(self.headers, body)
        self._answer(status, answer)

    def do_GET(self) -> None:  # the benchmark reads what arrived
        self._answer(200, json.dumps(self.state.snapshot()).encode())

    def _answer(self, status: int, answer: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args) -> None:
        pass


class _Arrivals:
    """The receiver's record: the first arrival per idempotency key (issue key and topic), repeats, bad signatures."""

    def __init__(self, secret: str):
        from connect_app.delivery.outbox import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, verify_signature

        self._verify = lambda header, body: verify_signature(secret, header, body)
        self._sig, self._key = SIGNATURE_HEADER, IDEMPOTENCY_HEADER
        self.lock = threading.Lock()
        self.first: dict[str, tuple[float, str, str]] = {}
        self.duplicates = 0
        self.bad = 0

    def accept(self, headers, body: bytes) -> tuple[int, bytes]:
        arrived = time.time()
        if not self._verify(headers.get(self._sig, ""), body):
            with self.lock:
                self.bad += 1
            return 401, b'{"error": "bad signature"}'
        key = headers.get(self._key)
        data = json.loads(body)
        issue_key = ((data.get("data") or {}).get("issue") or {}).get("key")
        with self.lock:
            if key in self.first:
                self.duplicates += 1
            else:
                self.first[key] = (arrived, data["topic"], issue_key)
        return 200, b"{}"

    def snapshot(self) -> dict:
        with self.lock:
            return {"first": list(self.first.values()), "duplicates": self.duplicates, "bad": self.bad}


def _serve_receiver(secret: str, ports) -> None:
    """The receiver process: serve until terminated."""
    handler = type("Handler", (_PushHandler,), {"state": _Arrivals(secret)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    ports.put(server.server_port)
    server.serve_forever(poll_interval=0.05)


class Receiver:
    """CSCX.AI's push endpoint, in a process of its own (as CSCX.AI is): verifies signatures, records the first
    arrival per idempotency key. Kept out of this process so the load generator and the sandbox do not slow it."""

    def __init__(self, secret: str):
        context = multiprocessing.get_context("spawn")
        ports = context.Queue()
        self._process = context.Process(target=_serve_receiver, args=(secret, ports), daemon=True)
        self._process.start()
        self.url = f"http://127.0.0.1:{ports.get(timeout=60)}/push"
        self._session = requests.Session()

    def _snapshot(self) -> dict:
        return self._session.get(self.url, timeout=30).json()

    def arrivals(self, topic: str) -> dict[str, list[float]]:
        """Issue key -> arrival times of pushes of `topic` (more than one would be a duplicate)."""
        found: dict[str, list[float]] = {}
        for arrived, pushed_topic, issue_key in self._snapshot()["first"]:
            if pushed_topic == topic:
                found.setdefault(issue_key, []).append(arrived)
        return found

    @property
    def duplicates(self) -> int:
        return self._snapshot()["duplicates"]

    def close(self) -> None:
        self._session.close()
        self._process.terminate()
        self._process.join(timeout=10)


class Service:
    """The service and its workers as subprocesses, with the environment they share."""

    def __init__(self, mode: str, workdir: Path, receiver: Receiver, keys_url: str, signing_secret: str):
        from connect_app import crypto

        self.mode = mode
        self.workdir = workdir
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.processes: list[subprocess.Popen] = []
        self.schema = None
        self.profile_dir = os.environ.get("BENCH_PROFILE_DIR")
        self.env = dict(os.environ) | {
            "CSCX_ENV": "development", "BASE_URL": self.base_url, "SECRET_KEY": "bench-" + uuid.uuid4().hex,
            "ENCRYPTION_KEY": crypto.new_key(), "CSCX_SIGNING_SECRET": signing_secret,
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
        profile = []
        if self.profile_dir and args[0] == "worker":  # a worker stopped by SIGTERM exits cleanly: cProfile writes
            profile = ["-m", "cProfile", "-o", str(Path(self.profile_dir) / f"worker-{len(self.processes)}.prof")]
        process = subprocess.Popen([sys.executable, *profile, "-m", "connect_app.cli", *args], env=self.env,
                                   cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        self.processes.append(process)
        return process

    def start(self, *, hold: bool = False) -> None:
        """Migrate, then serve (and start two workers in production mode unless `hold`); wait until healthy."""
        subprocess.run([sys.executable, "-m", "connect_app.cli", "db", "upgrade"], env=self.env, cwd=self.workdir,
                       check=True, capture_output=True)
        workers = "2" if self.mode == "production" else "1"
        self._spawn("serve", "--port", str(self.port), "--workers", workers, "--threads", "8")
        if self.mode == "production" and not hold:
            self.start_workers()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError("the service did not become healthy")

    def start_workers(self) -> None:
        self._spawn("worker")
        self._spawn("worker")

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


def run_mode(mode: str, deliveries: int, concurrency: int, timeout: float, rate: float | None = None,
             hold: bool = False) -> dict:
    """One full run; returns the summary. `hold` (production): the workers start once every delivery is
    acknowledged, so the drain of a full inbox is timed on its own."""
    from jira_sandbox.connect_host import host_for, sign_for_app
    from jira_sandbox.testing import SandboxServer
    from jira_sandbox.webhooks import build_payload

    with tempfile.TemporaryDirectory(prefix=f"bench-webhooks-{mode}-") as tmp, \
            SandboxServer(issues=0, seed=11) as site:
        workdir = Path(tmp)
        state = site.state
        state.webhooks.configure(paused=True)  # we fire the sandbox's deliveries ourselves, to time them
        signing_secret = "bench-signing-" + uuid.uuid4().hex
        receiver = Receiver(signing_secret)
        service = Service(mode, workdir, receiver, f"{site.base_url}/_connect/install-keys", signing_secret)
        try:
            hold = hold and mode == "production"
            service.start(hold=hold)
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
            gc.collect()
            gc.freeze()  # the sandbox's objects stay put: no collector pause of the load generator's own

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
            if hold:
                service.start_workers()
            accepted = [r for r in results if 200 <= r[3] < 300]
            sent_at = {key: sent for key, sent, _, _ in accepted}
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and len(receiver.arrivals(PUSH_TOPIC)) < len(accepted):
                time.sleep(0.1)
            time.sleep(1.0)  # anything still in flight would show up as a duplicate
            arrivals = receiver.arrivals(PUSH_TOPIC)
            repeated = receiver.duplicates
        finally:
            service.stop()
            receiver.close()
    ack_ms = [(acked - sent) * 1000 for _, sent, acked, _ in accepted]
    e2e_ms = [(times[0] - sent_at[key]) * 1000 for key, times in arrivals.items() if key in sent_at]
    pushes = sorted(times[0] for times in arrivals.values())
    last_push = pushes[-1] if pushes else None
    return {
        "mode": mode, "deliveries": len(results), "accepted": len(accepted),
        "accepted_per_s": round(len(accepted) / max(acked_all - started, 1e-9), 1),
        "ack_p50_ms": round(_percentile(ack_ms, 50), 1), "ack_p99_ms": round(_percentile(ack_ms, 99), 1),
        "e2e_p50_ms": round(_percentile(e2e_ms, 50), 1), "e2e_p99_ms": round(_percentile(e2e_ms, 99), 1),
        "e2e_max_ms": round(max(e2e_ms), 1) if e2e_ms else None,
        # The burst criterion: how long after the last acknowledgement the last push arrived.
        "pushed_after_last_ack_s": round(last_push - acked_all, 2) if last_push else None,
        # Deliveries pushed per second, from the first one sent to the last push (bounded by the ack rate),
        # and from the first push to the last (the drain rate; with --hold, of a full inbox).
        "processed_per_s": round(len(pushes) / max(last_push - started, 1e-9), 1) if pushes else None,
        "drain_per_s": round((len(pushes) - 1) / max(pushes[-1] - pushes[0], 1e-9), 1) if len(pushes) > 1 else None,
        "hold": hold,
        "pushes_received": len(arrivals), "lost": len([k for k in sent_at if k not in arrivals]),
        "duplicated": repeated + sum(len(t) - 1 for t in arrivals.values()),
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
    parser.add_argument("--hold", action="store_true",
                        help="production mode: start the workers only once every delivery is acknowledged")
    args = parser.parse_args(argv)
    mode = args.mode or ("embedded" if args.quick else "both")
    deliveries = args.deliveries or (200 if args.quick else 2000)
    modes = ["production", "embedded"] if mode == "both" else [mode]
    summaries = [run_mode(m, deliveries, args.concurrency, args.timeout, args.rate, args.hold) for m in modes]
    for summary in summaries:
        print(json.dumps(summary), flush=True)
    return 0 if all(s["lost"] == 0 and s["duplicated"] == 0 for s in summaries) else 1


if __name__ == "__main__":
    sys.exit(main())
