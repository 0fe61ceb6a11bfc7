"""`cscx-jira customers import FILE`: customers from CSV or JSON, every row valid or nothing imported."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import click

from connect_app.customers.records import CustomerValidationError, upsert_customers
from connect_app.impact.store import rescore_customers
from connect_app.sla import store as sla
from connect_app.workspaces import ensure_organization


@click.group("customers")
def customers_command() -> None:
    """Customer commands."""


def read_rows(path: Path) -> list[tuple[int, dict]]:
    """(line or item number, row) pairs of a CSV or JSON customers file; a ClickException when unreadable."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise click.ClickException(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc
        items = data.get("customers") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise click.ClickException(f"{path}: expected a list of customers or {{\"customers\": [...]}}")
        return [(n, item if isinstance(item, dict) else {"_": item}) for n, item in enumerate(items, 1)]
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or "name" not in [f.strip() for f in reader.fieldnames]:
        raise click.ClickException(f"{path}: the CSV header must include a 'name' column")
    rows = []
    for raw in reader:
        cleaned = {(k or "").strip(): v for k, v in raw.items() if k is not None and (v or "").strip()}
        if None in raw:
            cleaned["_"] = "more values than header columns"
        rows.append((reader.line_num, cleaned))
    return rows


@customers_command.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--workspace", required=True, help="CSCX.AI workspace id the customers belong to")
@click.pass_obj
def import_customers(build_app, file: Path, workspace: str) -> None:
    """Import customers from a CSV or JSON file: every row valid, or nothing imported."""
    app = build_app()
    rows = read_rows(file)
    kind = "item" if file.suffix.lower() == ".json" else "line"
    click.echo(f"validating {len(rows)} row(s) from {file.name} ...")
    with app.app_context():
        ensure_organization(workspace)
        try:
            upserted = upsert_customers(workspace, rows)
        except CustomerValidationError as exc:
            click.echo(f"rejected {len(exc.rejected)} row(s); nothing was imported:", err=True)
            for rejected in exc.rejected:
                problems = "; ".join(f"{f}: {m}" if f != "_" else m for f, m in rejected.errors.items())
                click.echo(f"  {kind} {rejected.line}: {problems}", err=True)
            sys.exit(1)
        rescore_customers(upserted.rescore)
        sla.customers_changed(upserted.rescore)
    counts = upserted.counts
    click.echo(f"imported {counts['total']} customer(s): {counts['created']} created, {counts['updated']} updated")
