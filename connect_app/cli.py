"""The `cscx-jira` command line: the top-level commands, and the groups that live beside what they command."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from pathlib import Path

import click

from connect_app import create_app
from connect_app.api.auth import mint_service_token
from connect_app.config import SETTINGS, Config, ConfigError
from connect_app.crypto import new_key
from connect_app.customers.cli import customers_command
from connect_app.demo import run_demo
from connect_app.jira_app.descriptor import render_descriptor
from connect_app.jira_app.forge.manifest import render_manifest
from connect_app.platform import db as database
from connect_app.platform.jobs import run_worker
from connect_app.platform.keys import rotate_all
from connect_app.platform.schedule import PERIODIC_JOBS, Scheduler
from connect_app.platform.server import PortInUse, check_port_free
from connect_app.platform.server import serve as run_server
from connect_app.sla.cli import sla_command
from connect_app.sync.cli import sync_command


def _build_app():
    """The app for a command, from the environment; its pooled connections close when the command ends."""
    try:
        app = create_app(Config(instance_path=Path.cwd() / "instance"))
    except ConfigError as exc:
        raise click.ClickException(f"configuration error: {exc}") from exc
    context = click.get_current_context(silent=True)
    if context is not None:
        context.call_on_close(lambda: database.dispose(app))
    return app


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def main(context: click.Context) -> None:
    """CSCX Jira: the Jira app's companion service."""
    context.obj = _build_app  # the command groups defined beside their packages build the app through this


main.add_command(customers_command)
main.add_command(sync_command)
main.add_command(sla_command)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="interface to bind")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="gunicorn processes")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64), help="threads per process")
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Serve the web app and API with gunicorn."""
    app = _build_app()
    try:
        check_port_free(host, port)
    except PortInUse as exc:
        raise click.ClickException(f"{exc}; choose another with --port") from None
    base = f"http://{host}:{port}"
    click.echo(f"serving CSCX Jira on {base}  (health: {base}/healthz, ready: {base}/readyz)")
    run_server(app, host=host, port=port, workers=workers, threads=threads)


@main.command()
@click.option("--burst", is_flag=True, help="exit when the queue is empty")
@click.option("--name", default=None, help="worker name (default: generated)")
def worker(burst: bool, name: str | None) -> None:
    """Run an RQ worker for the job queue (needs REDIS_URL)."""
    app = _build_app()
    try:
        run_worker(app, burst=burst, name=name)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.option("--interval", default=5.0, show_default=True, type=click.FloatRange(0.5, 3600), help="seconds per tick")
def scheduler(interval: float) -> None:
    """Enqueue periodic jobs (sync, webhook refresh, outbox sweep, retention) on their schedule."""
    app = _build_app()
    for job in PERIODIC_JOBS:
        click.echo(f"  {job.name:28} every {job.every}")
    click.echo("scheduler running; Ctrl+C to stop")
    with contextlib.suppress(KeyboardInterrupt):
        Scheduler(app).run(threading.Event(), interval)


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the database schema to the newest migration."""
    app = _build_app()
    head = database.upgrade(app)
    click.echo(f"database at revision {head}: {app.config['SQLALCHEMY_DATABASE_URI'].split('@')[-1]}")


@main.command()
@click.option("--base-url", default=None, help="the app's public base URL (default: BASE_URL)")
@click.option("--forge", is_flag=True, help="print the Forge manifest instead of the Connect descriptor")
@click.option("--app-id", default=None, help="with --forge: the ARI from `forge register` (default: FORGE_APP_ID)")
def descriptor(base_url: str | None, forge: bool, app_id: str | None) -> None:
    """Print the Atlassian Connect descriptor (or, with --forge, the Forge manifest) rendered for a base URL."""
    config = Config() if base_url is None or (forge and app_id is None) else None
    url = (base_url or config.BASE_URL).rstrip("/")
    if not forge:
        click.echo(json.dumps(render_descriptor(url), indent=2))
        return
    app_id = app_id or config.FORGE_APP_ID
    if not app_id:
        raise click.UsageError("--forge needs --app-id (or FORGE_APP_ID)")
    try:
        click.echo(render_manifest(url, app_id), nl=False)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


@main.command()
@click.option("--workspace", required=True)
@click.option("--role", required=True, type=click.Choice(["csm", "pm", "support", "approver", "admin"]))
@click.option("--user", required=True, help="the CSCX.AI user id (sub)")
@click.option("--email", default=None)
@click.option("--ttl", default=3600, show_default=True, type=click.IntRange(60, 86400), help="seconds")
def token(workspace: str, role: str, user: str, email: str | None, ttl: int) -> None:
    """Mint an API service token for development (signed with CSCX_SIGNING_SECRET)."""
    app = _build_app()
    click.echo(mint_service_token(app.config["CSCX_SIGNING_SECRET"], workspace=workspace, role=role,
                                  user=user, email=email, ttl=ttl))


@main.group()
def keys() -> None:
    """Encryption key commands."""


@keys.command("new")
def keys_new() -> None:
    """Print a fresh ENCRYPTION_KEY."""
    click.echo(new_key())


@keys.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every stored secret with the first key of ENCRYPTION_KEY."""
    app = _build_app()
    with app.app_context():
        count = rotate_all()
    click.echo(f"re-encrypted {count} secret value(s) with the newest key")


@main.command("config")
def show_config() -> None:
    """List the settings read from the environment (values of secrets are never shown)."""
    for setting in SETTINGS:
        value = os.environ.get(setting.name)
        secret = any(w in setting.name for w in ("SECRET", "KEY", "TOKEN"))
        shown = ("set" if value else "unset") if secret else (value or f"(default: {setting.default})")
        click.echo(f"{setting.name:32} {shown:40} {setting.help}")


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port")
@click.option("--flavour", default="cloud", show_default=True, type=click.Choice(["cloud", "server"]))
@click.option("--issues", default=100, show_default=True, type=click.IntRange(0, 1_000_000))
@click.option("--seed", default=1, show_default=True, type=int)
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
def sandbox(port: int, flavour: str, issues: int, seed: int, extra: tuple[str, ...]) -> None:
    """Run the stand-in Jira site; prints one JSON line (base_url, email, api_token, pat) then serves.

    Extra options (--latency-ms, --rate-limit, --error-rate, --state-file, ...) pass through.
    """
    # Run as its own program: the service never imports the sandbox, even to launch it.
    args = [sys.executable, "-m", "jira_sandbox", "--port", str(port), "--flavour", flavour,
            "--issues", str(issues), "--seed", str(seed), *extra]
    os.execv(sys.executable, args)  # noqa: S606 - a fixed argv, no shell involved


@main.command()
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--forge", is_flag=True, help="install the app the Forge way (manifest, Custom UI, service as remote)")
def demo(port: int, host: str, forge: bool) -> None:
    """Create the embedded database, seed a demo workspace, and serve the app."""
    run_demo(host=host, port=port, forge=forge)


if __name__ == "__main__":  # pragma: no cover
    main()
