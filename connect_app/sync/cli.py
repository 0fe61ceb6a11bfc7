"""`cscx-jira sync`: sync connections (with a progress bar) or refresh customers, and show sync status."""

from __future__ import annotations

import json
import sys
import uuid

import click
from flask import Flask
from sqlalchemy import select
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from connect_app.atlassian.client import JiraError
from connect_app.extensions import db
from connect_app.models import ConnectionStatus, JiraConnection
from connect_app.sync.engine import sync_connection, sync_customer, sync_status


@click.command("sync")
@click.option("--connection", "connection_ids", multiple=True, type=click.UUID,
              help="connection id (repeatable; default: all active)")
@click.option("--customer", "customer_ids", multiple=True, help="refresh only this customer (repeatable)")
@click.option("--full", is_flag=True, help="full backfill instead of an incremental run")
@click.option("--status", "show_status", is_flag=True, help="print each connection's sync status and exit")
@click.pass_obj
def sync_command(build_app, connection_ids: tuple[uuid.UUID, ...], customer_ids: tuple[str, ...], full: bool,
                 show_status: bool) -> None:
    """Sync Jira issues and customer links (incremental by default; resumes an interrupted run)."""
    if run_sync(build_app(), connection_ids, customer_ids, full, show_status):
        sys.exit(1)


def _set_total(bar: tqdm, total: int) -> None:
    bar.total = total
    bar.refresh()


def run_sync(app: Flask, connection_ids: tuple[uuid.UUID, ...], customer_ids: tuple[str, ...], full: bool,
             show_status: bool) -> int:
    """Run the requested syncs inside the app; returns the number of failed connections."""
    failed = 0
    with app.app_context():
        if show_status:
            for organization_id in db.session.scalars(select(JiraConnection.organization_id).distinct()):
                if organization_id:
                    click.echo(json.dumps({"workspace": organization_id, "connections": sync_status(organization_id)},
                                          indent=2))
            return 0
        if customer_ids:
            for customer_id in customer_ids:
                try:
                    counts = sync_customer(customer_id)
                except (JiraError, ValueError) as exc:
                    failed += 1
                    click.echo(f"customer {customer_id}: failed: {exc}", err=True)
                    continue
                click.echo(f"customer {customer_id}: {json.dumps(counts)}")
            return failed
        query = select(JiraConnection).where(JiraConnection.status == ConnectionStatus.ACTIVE,
                                             JiraConnection.organization_id.is_not(None))
        if connection_ids:
            query = query.where(JiraConnection.id.in_(connection_ids))
        connections = [(c.id, c.display_url or c.base_url) for c in db.session.scalars(query)]
        if not connections:
            click.echo("no active connection to sync")
        for connection_id, url in connections:
            # One connection's failure never stops the others. Log lines go through the bar, so they never tear it.
            with tqdm(desc=f"sync {url}", unit="issue", leave=True) as bar, logging_redirect_tqdm():
                try:
                    run = sync_connection(connection_id, full=full, progress=bar.update,
                                          expected=lambda total, bar=bar: _set_total(bar, total))
                except Exception as exc:  # reported; the next connection still runs
                    failed += 1
                    bar.write(f"{url}: failed: {exc}", file=sys.stderr)
                    continue
                if bar.total is not None and bar.n != bar.total:
                    _set_total(bar, bar.n)  # the count was approximate: end the bar at what was fetched
            if run.status != "ok":
                failed += 1
                click.echo(f"{url}: {run.mode} sync failed: {run.error} (the next run resumes)", err=True)
            else:
                click.echo(f"{url}: {run.mode} sync ok {json.dumps(run.counts)}")
    return failed
