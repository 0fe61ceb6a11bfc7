"""`cscx-jira sla check [--at TIME]`: run the SLA check now, or see what will be at risk or breached by then."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from connect_app.models.types import utcnow
from connect_app.sla.store import check_due, project


def _instant(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time such as 2026-12-04T17:00:00Z") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@click.group("sla")
def sla_command() -> None:
    """SLA commands."""


@sla_command.command("check")
@click.option("--at", "at", default=None, metavar="TIME",
              help="as of this time (ISO 8601, e.g. 2026-12-04T17:00:00Z): a read-only projection, nothing is sent")
@click.option("--workspace", default=None, help="only this workspace (with --at)")
@click.pass_obj
def check(build_app, at: str | None, workspace: str | None) -> None:
    """Check the SLA clocks that are due now (alerts sent), or project them to a time (--at)."""
    moment = _instant(at)
    app = build_app()
    with app.app_context():
        if moment is None:
            counts = check_due()
            click.echo(f"checked {counts['due']} issue(s): {counts['alerts']} alert(s), "
                       f"{counts['written']} clock(s) updated")
            moment = utcnow()
        rows = project(moment, workspace)
    label = "now" if at is None else f"as of {moment.isoformat()}"
    if not rows:
        click.echo(f"no SLA clock at risk or breached {label}")
        return
    click.echo(f"{len(rows)} SLA clock(s) at risk or breached {label}:")
    click.echo(f"  {'issue':12} {'state':9} {'policy':32} {'elapsed':>9} {'target':>9}  breach at (UTC)")
    for row in rows:
        click.echo(f"  {row['key']:12} {row['state']:9} {row['policy'][:32]:32} {_hours(row['elapsed_seconds']):>9} "
                   f"{_hours(row['target_seconds']):>9}  {row['breached_at'] or row['breach_at'] or '-'}")


def _hours(seconds: int) -> str:
    return f"{seconds / 3600:.1f}h"
