"""The demo workspace: a realistic, deterministic set of customers for `cscx-jira demo`."""

from __future__ import annotations

import os
import random
from datetime import date, timedelta

from connect_app import customers as customer_domain
from connect_app.tenancy import ensure_organization

DEMO_WORKSPACE = "demo-workspace"
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


def seed_demo_workspace() -> dict[str, int]:
    """Create (or refresh) the demo workspace and its customers; safe to run repeatedly."""
    ensure_organization(DEMO_WORKSPACE, name="Demo Workspace")
    rows = [(line, row) for line, row in enumerate(demo_customers(), start=1)]
    return customer_domain.upsert_customers(DEMO_WORKSPACE, rows)


def run_demo(*, host: str, port: int) -> None:
    """Set up the embedded database, seed the demo workspace, print where to look, and serve."""
    from pathlib import Path

    import click

    from connect_app import create_app
    from connect_app.auth import mint_service_token
    from connect_app.cli import _upgrade
    from connect_app.config import Config
    from connect_app.server import serve

    environ = dict(os.environ)
    environ.setdefault("BASE_URL", f"http://{host}:{port}")
    config = Config(environ, instance_path=Path.cwd() / "instance")
    app = create_app(config)
    click.echo("==> database: " + app.config["SQLALCHEMY_DATABASE_URI"])
    click.echo("==> migrations at revision " + _upgrade(app))
    with app.app_context():
        counts = seed_demo_workspace()
        token = mint_service_token(app.config["CSCX_SIGNING_SECRET"], workspace=DEMO_WORKSPACE,
                                   role="csm", user=CSMS[0][0], email=CSMS[0][1], ttl=86400)
    click.echo(f"==> demo workspace '{DEMO_WORKSPACE}': {counts['total']} customers")
    base = f"http://{host}:{port}"

    def announce() -> None:
        click.echo("")
        click.echo(f"CSCX Jira demo is running on {base}")
        click.echo(f"  service home      {base}/")
        click.echo(f"  readiness         {base}/readyz")
        click.echo(f"  customers API     curl -H 'Authorization: Bearer {token}' '{base}/api/customers?q=ac'")
        click.echo("Press Ctrl+C to stop.")

    serve(app, host=host, port=port, workers=1, threads=8, on_ready=announce)
