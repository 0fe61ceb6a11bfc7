"""`cscx-jira demo`: the stand-in Jira site, a realistic demo workspace, the app installed, served.

`--forge` installs the app the Forge way (the manifest and its Custom UI, this service as the remote)
instead of the Connect descriptor, with a database and sandbox state of its own.

`SandboxSite` runs the stand-in Jira (`python -m jira_sandbox`) as its own program; the demo,
the tests and the benchmarks start it through this one class (the service never imports the
sandbox, even to launch it).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import random
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import click
import requests
from sqlalchemy import func, select
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from connect_app import create_app
from connect_app.api.auth import mint_service_token
from connect_app.config import Config
from connect_app.connections.access import jira_client
from connect_app.connections.forge_installations import record_forge_uninstall
from connect_app.connections.records import find_tenant
from connect_app.customers import records as customer_domain
from connect_app.delivery.outbox import SIGNATURE_HEADER, verify_signature
from connect_app.extensions import db
from connect_app.jira_app.forge.manifest import render_manifest, resource_files
from connect_app.linking.rule_store import check_rules, replace_rules
from connect_app.models import ConnectionKind, ConnectionStatus, Customer, JiraConnection, JiraCustomerLink
from connect_app.platform import db as database
from connect_app.platform.jobs import shutdown_background
from connect_app.platform.server import PortInUse, check_port_free, serve
from connect_app.sync.engine import sync_connection
from connect_app.workspaces import ensure_organization

DEMO_WORKSPACE = "demo-workspace"
# The demo's Forge app id (FORGE_APP_ID overrides it): the sandbox signs invocation tokens for it.
DEMO_FORGE_APP_ID = "ari:cloud:ecosystem::app/5e0d3c8a-6f1b-4d2e-9a7c-c5c0de00f0e1"
CSMS = (
    ("u-maya", "maya.chen@cscx.example", "Maya Chen"),
    ("u-omar", "omar.haddad@cscx.example", "Omar Haddad"),
    ("u-lena", "lena.novak@cscx.example", "Lena Novak"),
    ("u-raj", "raj.patel@cscx.example", "Raj Patel"),
)
COMPANIES = (
    "Acme Corp", "Globex", "Initech", "Umbrella Health", "Stark Industries", "Wayne Logistics",
    "Hooli", "Pied Piper", "Soylent Foods", "Tyrell Systems", "Cyberdyne Robotics", "Wonka Confectionery",
    "Oscorp Labs", "Massive Dynamic", "Vandelay Imports", "Gringotts Bank", "Monarch Airlines",
    "Aperture Science", "Black Mesa Research", "Dunder Mifflin", "Prestige Worldwide", "Sterling Cooper",
    "Nakatomi Trading", "Bluth Company", "Los Pollos Hermanos", "Krusty Krab", "Duff Brewing",
    "Planet Express", "Virtucon", "Spacely Sprockets", "Cogswell Cogs", "Wernham Hogg",
    "Ollivanders", "Zorg Industries", "Blue Sun Corp", "Weyland-Yutani", "Rekall", "InGen",
    "Octan Energy", "Mooby's Family Restaurants",
)
TIER_ARR = {"enterprise": (250_000, 1_500_000), "mid_market": (60_000, 250_000),
            "smb": (8_000, 60_000), "startup": (2_000, 15_000)}
ROLES = ("VP Engineering", "Head of Support", "IT Director", "Product Owner", "CTO", "Ops Manager")
FIRST = ("Ana", "Ben", "Chloe", "Diego", "Eva", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kofi", "Lucia")
LAST = ("Garcia", "Smith", "Kim", "Okafor", "Rossi", "Nguyen", "Schmidt", "Silva", "Haddad", "Ivanova")


def demo_customers(seed: int = 201) -> list[dict]:
    """Deterministic customer rows (name, ARR, tier, health, renewal, CSM, stakeholders)."""
    rng = random.Random(seed)
    today = date(2026, 11, 1)
    rows = []
    for position, name in enumerate(COMPANIES):
        tier = ("enterprise", "mid_market", "mid_market", "smb", "smb", "startup")[position % 6]
        low, high = TIER_ARR[tier]
        csm_id, csm_email, _ = CSMS[position % len(CSMS)]
        slug = customer_domain.slugify(name)
        domain = slug.replace("-", "") + ".example"
        people = []
        for role in rng.sample(ROLES, k=rng.randint(1, 3)):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            people.append({"name": f"{first} {last}", "email": f"{first.lower()}.{last.lower()}@{domain}",
                           "role": role})
        rows.append({
            "name": name,
            "external_id": f"cscx-{1000 + position}",
            "arr": str(round(rng.uniform(low, high), -2)),
            "tier": tier,
            "health_score": rng.choice((rng.randint(20, 55), rng.randint(55, 80), rng.randint(75, 98))),
            "renewal_date": (today + timedelta(days=rng.randint(20, 400))).isoformat(),
            "csm_owner_id": csm_id,
            "csm_owner_email": csm_email,
            "stakeholders": people,
        })
    return rows


class SandboxSite:
    """The stand-in Jira site as its own process; `.info` is the JSON line it printed on start.

    Use as a context manager, or `start()` / `stop()`. `extra_args` pass through to
    `python -m jira_sandbox` (--customers, --latency-ms, --state-file, ...).
    """

    ADMIN_HEADER = "X-Sandbox-Admin-Token"

    def __init__(self, *, port: int = 0, flavour: str = "cloud", issues: int = 100, seed: int = 1,
                 extra_args: Iterable[str] = (), log_path: Path | None = None):
        self.args = [sys.executable, "-m", "jira_sandbox", "--port", str(port), "--flavour", flavour,
                     "--issues", str(issues), "--seed", str(seed), *extra_args]
        self.log_path = log_path  # where its access log goes (default: this process's stderr)
        self.process: subprocess.Popen | None = None
        self.info: dict = {}

    def start(self) -> SandboxSite:
        """Start it and read the JSON line with its address and credentials."""
        log = open(self.log_path, "a") if self.log_path else None  # noqa: SIM115  (the child keeps it)
        try:
            self.process = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=log, text=True,
                                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
        finally:
            if log is not None:
                log.close()
        line = self.process.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError("the Jira sandbox did not start (is the port free?)")
        self.info = json.loads(line)
        return self

    @property
    def base_url(self) -> str:
        """Where the sandbox serves."""
        return self.info["base_url"]

    @property
    def admin_headers(self) -> dict[str, str]:
        """Headers for the sandbox's /_sandbox control endpoints."""
        return {self.ADMIN_HEADER: self.info["admin_token"]}

    def control(self, method: str, path: str, **kwargs) -> requests.Response:
        """Call one of the sandbox's /_sandbox control endpoints; raises on an error answer."""
        response = requests.request(method, self.base_url + path, headers=self.admin_headers, timeout=30, **kwargs)
        response.raise_for_status()
        return response

    def stop(self) -> None:
        """Stop it (it saves its state file on the way out)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> SandboxSite:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def sandbox_customer_rows(catalog: list[dict], seed: int = 201) -> list[dict]:
    """Customers for the sandbox's catalogue, enriched like real accounts (ARR, health, CSM, people)."""
    rows = demo_customers(seed)
    enriched = []
    for position, entry in enumerate(catalog):
        base = rows[position % len(rows)]
        enriched.append(base | {"name": entry["name"], "slug": entry["slug"], "external_id": entry["external_id"]})
    return enriched


@contextmanager
def _serving(app, host: str, port: int) -> Iterator[None]:
    """Serve the app in-process for a while (the sandbox calls it while it installs it)."""
    server = make_server(host, port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


class PushInbox:
    """The demo's stand-in for CSCX.AI's push endpoint, so pushes land somewhere you can look at.

    POST /push checks the HMAC signature (as CSCX.AI would) and keeps the push, newest first, in memory and as a
    JSON line in `path`; GET / lists the latest ones as JSON. Runs in a thread of the demo's main process.
    """

    KEEP = 200

    def __init__(self, host: str, port: int, secret: str, path: Path):
        self.secret, self.path = secret, path
        self.latest: list[dict] = []
        self.lock = threading.Lock()
        self.server = make_server(host, port, self._app, threaded=True)
        self.url = f"http://{host}:{port}"

    @Request.application
    def _app(self, request: Request) -> Response:
        if request.method == "POST" and request.path == "/push":
            body = request.get_data()
            if not verify_signature(self.secret, request.headers.get(SIGNATURE_HEADER, ""), body):
                return Response('{"error": "bad signature"}', status=401, mimetype="application/json")
            try:
                push = json.loads(body)
            except ValueError:
                return Response('{"error": "not JSON"}', status=400, mimetype="application/json")
            with self.lock:
                self.latest = [push, *self.latest][:self.KEEP]
                with self.path.open("a") as out:
                    out.write(json.dumps(push) + "\n")
            return Response("{}", mimetype="application/json")
        if request.method == "GET" and request.path == "/":
            with self.lock:
                return Response(json.dumps({"pushes": len(self.latest), "latest": self.latest}, indent=2),
                                mimetype="application/json")
        return Response('{"error": "not found"}', status=404, mimetype="application/json")

    def start(self) -> PushInbox:
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
        return self


def _install_into_sandbox(app, site: SandboxSite, host: str, port: int) -> None:
    """Serve the app briefly in-process so the sandbox can install it, then link it to the demo workspace."""
    with _serving(app, host, port):
        result = site.control("POST", "/_sandbox/apps/install",
                              json={"descriptor_url": f"{app.config['BASE_URL']}/atlassian-connect.json"}).json()
        client_key = result.get("clientKey") or result.get("client_key")
        with app.app_context():
            connection = find_tenant(client_key, live_only=False)
            if connection is None:
                raise RuntimeError("the sandbox did not install the app")
            connection.organization_id = DEMO_WORKSPACE
            connection.status = ConnectionStatus.ACTIVE
            db.session.commit()
            _rules_and_first_sync(connection)


def _install_forge_into_sandbox(app, site: SandboxSite, host: str, port: int) -> str:
    """Install the app the Forge way (manifest and Custom UI), link it, sync; returns its admin page's URL.

    The sandbox keeps no Forge install across restarts, so an earlier run's installation is gone: it is
    recorded as uninstalled first, and the new installation takes its row back (rules, links, history),
    as a reinstall on a real site does.
    """
    with _serving(app, host, port):
        cloud_id = site.control("GET", "/_sandbox/forge").json()["cloud_id"]
        with app.app_context():
            for earlier in db.session.scalars(select(JiraConnection).where(
                    JiraConnection.kind == ConnectionKind.FORGE, JiraConnection.cloud_id == cloud_id,
                    JiraConnection.status != ConnectionStatus.UNINSTALLED)).all():
                record_forge_uninstall(earlier)
            db.session.remove()
        manifest = render_manifest(app.config["BASE_URL"], app.config["FORGE_APP_ID"])
        result = site.control("POST", "/_sandbox/forge/install",
                              json={"manifest": manifest, "resources": {"panel": resource_files("panel")}}).json()
        with app.app_context():
            connection = find_tenant(installation_id=result["installation_id"], live_only=False)
            if connection is None:
                raise RuntimeError("the sandbox did not install the Forge app")
            connection.organization_id = DEMO_WORKSPACE
            connection.status = ConnectionStatus.ACTIVE
            db.session.commit()
            _rules_and_first_sync(connection)
    return result["admin_page_url"]


def _rules_and_first_sync(connection) -> None:
    """Give every demo customer a label rule and a Customer ID rule, then run the first full sync."""
    clients = {connection.id: jira_client(connection)}
    customers = db.session.scalars(select(Customer).where(Customer.organization_id == DEMO_WORKSPACE)).all()
    for customer in customers:
        raw = [{"strategy": "label", "link_type": "affected"},
               {"strategy": "custom_field", "field": "Customer ID", "link_type": "requested"}]
        replace_rules(customer, check_rules(customer, raw, clients), "demo")
    run = sync_connection(connection.id, full=True, client=clients[connection.id])
    click.echo(f"==> first sync: {run.status}, {run.counts.get('issues', 0)} issues, "
               f"{run.counts.get('linked', 0)} customer links")


def _page_links(app) -> list[tuple[str, str]]:
    """Links to the /app pages for a CSM, a PM and an approver of the demo workspace (the busiest customer)."""
    secret = app.config["CSCX_SIGNING_SECRET"]
    with app.app_context():
        busiest = db.session.execute(
            select(Customer.id, Customer.name).join(JiraCustomerLink, JiraCustomerLink.customer_id == Customer.id)
            .where(Customer.organization_id == DEMO_WORKSPACE).group_by(Customer.id, Customer.name)
            .order_by(func.count().desc(), Customer.name).limit(1)).first()
        db.session.remove()

    def token(role: str, user: str, email: str) -> str:
        return mint_service_token(secret, workspace=DEMO_WORKSPACE, role=role, user=user, email=email, ttl=86400)

    csm = token("csm", CSMS[0][0], CSMS[0][1])
    links = []
    if busiest is not None:
        links.append((f"{busiest.name}'s issues (CSM)", f"/app/customers/{busiest.id}?token={csm}"))
        links.append((f"a new issue for {busiest.name} (CSM)", f"/app/issues/new?customer={busiest.id}&token={csm}"))
    pm = token("pm", "pm-demo", "pm@cscx.example")
    links.append(("impact ranking (PM)", f"/app/impact?token={pm}"))
    links.append(("SLA board (PM)", f"/app/sla?token={pm}"))
    links.append(("approvals (approver)",
                  f"/app/approvals?token={token('approver', 'approver-demo', 'approver@cscx.example')}"))
    return links


def run_demo(*, host: str, port: int, forge: bool = False) -> None:
    """Start the sandbox Jira, set up the embedded database and demo workspace, install the app, serve.

    With `forge`, the app is installed the Forge way; that demo keeps a database and a sandbox site of
    its own, so both demos can be run in turn (a site on Forge cannot go back to the Connect app).
    """
    for taken in (port, port + 1, port + 2):  # the service, the sandbox Jira, the push inbox
        try:
            check_port_free(host, taken)
        except PortInUse as exc:
            raise click.ClickException(f"{exc}: is another demo running? The demo uses ports N, N+1 and N+2; "
                                       "choose N with --port") from None
    instance = Path.cwd() / "instance"
    instance.mkdir(exist_ok=True)
    name = "demo-forge-sandbox" if forge else "demo-sandbox"
    site = SandboxSite(port=port + 1, issues=400, seed=7, log_path=instance / f"{name}.log",
                       extra_args=("--customers", "40", "--state-file", str(instance / f"{name}.pickle"))).start()
    atexit.register(site.stop)
    click.echo(f"==> Jira sandbox on {site.base_url} (its log: {instance / f'{name}.log'})")
    environ = dict(os.environ)
    if forge:
        environ.setdefault("DATABASE_URL", f"sqlite:///{instance / 'cscx-jira-forge.db'}")
        environ.setdefault("FORGE_APP_ID", DEMO_FORGE_APP_ID)
        environ["FORGE_JWKS_URL"] = f"{site.base_url}/_forge/jwks.json"  # the sandbox signs the invocations
    environ.setdefault("BASE_URL", f"http://{host}:{port}")
    environ["ATLASSIAN_INSTALL_KEYS_URL"] = f"{site.base_url}/_connect/install-keys"
    environ["ALLOW_PRIVATE_JIRA_URLS"] = "true"  # the sandbox site is on this machine
    environ.setdefault("CSCX_PUSH_URL", f"http://{host}:{port + 2}/push")
    config = Config(environ, instance_path=instance)
    app = create_app(config)
    pushes = None
    if app.config["CSCX_PUSH_URL"] == f"http://{host}:{port + 2}/push":
        pushes = PushInbox(host, port + 2, app.config["CSCX_SIGNING_SECRET"], instance / "demo-pushes.jsonl").start()
    # Setting up logs a line per migration, rule and install step: the ==> lines say what matters.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the in-process servers' access lines
    click.echo("==> database: " + app.config["SQLALCHEMY_DATABASE_URI"])
    click.echo("==> migrations at revision " + database.upgrade(app))
    with app.app_context():
        ensure_organization(DEMO_WORKSPACE, name="Demo Workspace")
        catalog = site.control("GET", "/_sandbox/customers").json()
        rows = [(line, row) for line, row in enumerate(sandbox_customer_rows(catalog), start=1)]
        counts = customer_domain.upsert_customers(DEMO_WORKSPACE, rows).counts
        token = mint_service_token(app.config["CSCX_SIGNING_SECRET"], workspace=DEMO_WORKSPACE,
                                   role="csm", user=CSMS[0][0], email=CSMS[0][1], ttl=86400)
        db.session.remove()
    click.echo(f"==> demo workspace '{DEMO_WORKSPACE}': {counts['total']} customers")
    if forge:
        admin_page = _install_forge_into_sandbox(app, site, host, port)
        click.echo("==> app installed into the sandbox the Forge way and linked to the demo workspace")
    else:
        _install_into_sandbox(app, site, host, port)
        click.echo("==> app installed into the sandbox and linked to the demo workspace")
    pages = _page_links(app)
    # gunicorn forks next: no background job (the first sync's property writes) and no pooled
    # connection may cross the fork.
    shutdown_background(app, close=False)
    database.dispose(app)
    root.setLevel(level)
    base = app.config["BASE_URL"]
    admin = mint_service_token(app.config["CSCX_SIGNING_SECRET"], workspace=DEMO_WORKSPACE, role="admin",
                               user="admin-demo", email="admin@cscx.example", ttl=86400)

    def announce() -> None:
        click.echo("")
        click.echo(f"CSCX Jira demo is running on {base}")
        click.echo(f"  an issue in Jira, with the Customers panel   {site.base_url}/browse/CS-1")
        if forge:
            click.echo(f"  the app's admin page in Jira (Forge)       {admin_page}")
        click.echo(f"  service home                               {base}/")
        click.echo(f"  customers API  curl -H 'Authorization: Bearer {token}' '{base}/api/customers?q=ac'")
        click.echo(f"  webhook and push deliveries (admin)        {base}/admin/delivery?token={admin}")
        if pushes is not None:
            click.echo(f"  pushes CSCX.AI received, newest first      {pushes.url}/  (all: {pushes.path})")
        else:
            click.echo(f"  pushes go to CSCX_PUSH_URL                 {app.config['CSCX_PUSH_URL']}")
        click.echo(f"Jira sandbox sign-in: {site.info.get('email')} / API token {site.info.get('api_token')} "
                   f"(user {site.info.get('username')}, password {site.info.get('password')})")
        click.echo("The pages CSCX.AI embeds (each link holds a 24-hour token for one demo user):")
        for label, path in pages:
            click.echo(f"  {label:<44} {base}{path}")
        click.echo("Press Ctrl+C to stop.")

    serve(app, host=host, port=port, workers=1, threads=8, on_ready=announce)
