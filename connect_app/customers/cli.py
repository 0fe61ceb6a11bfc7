"""`cscx-jira customers import FILE`: customers from CSV or JSON, every row valid or nothing imported.

The file is read strictly, because a silently mangled import is worse than a refused one: its
encoding is UTF-8 (a byte order mark may say UTF-16 or UTF-32 instead), and undecodable bytes are
reported by line rather than guessed at; the CSV is parsed by the csv module over the whole text
with strict quoting, so quoted newlines stay in their field, U+2028 or NEL are ordinary characters
rather than line breaks, an unclosed quote is an error, and so are duplicate columns and oversized
fields. Each such failure is one line on stderr and a non-zero exit, and nothing is written: not
even the workspace.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import sys
from pathlib import Path

import click

from connect_app.customers.records import CustomerValidationError, upsert_customers, validate_rows
from connect_app.impact.store import rescore_customers
from connect_app.platform.storable import UnstorableJSON, loads_strict
from connect_app.sla import store as sla
from connect_app.workspaces import ensure_organization

MAX_FILE_BYTES = 64 * 1024 * 1024  # far above MAX_BATCH rows of customers; a bigger file is a mistake
# Byte order marks, longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
)
LINE_BREAK = re.compile(r"\r\n|\r|\n")  # what csv and files count as lines (not U+2028, NEL, form feed)
LINE_BREAK_BYTES = re.compile(rb"\r\n|\r|\n")
SHOWN_LINES = 5


@click.group("customers")
def customers_command() -> None:
    """Customer commands."""


def _lines_list(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:SHOWN_LINES])
    more = f" and {len(numbers) - SHOWN_LINES} more" if len(numbers) > SHOWN_LINES else ""
    return f"line{'s' if len(numbers) > 1 else ''} {shown}{more}"


def read_text(path: Path) -> str:
    """The file's text: UTF-8, or UTF-16/32 with a byte order mark; a ClickException naming the bad lines."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise click.ClickException(f"{path}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
        raw = path.read_bytes()
    except OSError as exc:
        raise click.ClickException(f"{path}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    if not raw.strip():
        raise click.ClickException(f"{path}: the file is empty")
    encoding, label = "utf-8", "UTF-8"
    for mark, codec, name in BYTE_ORDER_MARKS:
        if raw.startswith(mark):
            encoding, label = codec, name
            break
    if encoding == "utf-8" and raw.count(b"\x00") * 4 >= len(raw):
        # ASCII text in UTF-16 without a byte order mark is valid UTF-8 with a NUL beside every letter.
        raise click.ClickException(f"{path}: looks like UTF-16 without a byte order mark; "
                                   "save it as UTF-8 (in Excel: CSV UTF-8)")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        if encoding not in ("utf-8", "utf-8-sig"):
            raise click.ClickException(f"{path}: not valid {label} text (byte {exc.start + 1} of the file)"
                                       ) from None
        bad = []
        for n, line in enumerate(LINE_BREAK_BYTES.split(raw), 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                bad.append(n)
        raise click.ClickException(f"{path}: not UTF-8 text (undecodable bytes on {_lines_list(bad)}); "
                                   "save it as UTF-8 (in Excel: CSV UTF-8)") from None
    if "\x00" in text:  # never meant, and PostgreSQL cannot store it
        bad = [n for n, line in enumerate(LINE_BREAK.split(text), 1) if "\x00" in line]
        raise click.ClickException(f"{path}: NUL characters on {_lines_list(bad)}")
    return text


def _csv_problem(error: csv.Error) -> str:
    message = str(error)
    if "unexpected end of data" in message:
        return "a quoted field is never closed (a missing \" before the end of the file)"
    if "expected after" in message:
        return f"a quoted field is followed by more text ({message}); double any \" inside a quoted field"
    if "field larger than field limit" in message:
        return f"a field is longer than {csv.field_size_limit()} characters"
    return message


def csv_rows(path: Path, text: str) -> list[tuple[int, dict]]:
    """(line, row) pairs of a CSV text, each row keyed by the header; the line is where the row starts."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[tuple[int, list[str]]] = []
    start = 1
    try:
        while True:
            start = reader.line_num + 1
            try:
                fields = next(reader)
            except StopIteration:
                break
            if fields:  # a blank line is no row
                records.append((start, fields))
    except csv.Error as exc:
        raise click.ClickException(f"{path}: line {start}: {_csv_problem(exc)}") from None
    if not records:
        raise click.ClickException(f"{path}: the file is empty")
    header_line, header = records[0]
    names = [name.strip() for name in header]
    if "name" not in names:
        raise click.ClickException(f"{path}: the CSV header must include a 'name' column")
    seen: dict[str, int] = {}
    for column, name in enumerate(names, 1):
        if name and name in seen:
            raise click.ClickException(f"{path}: line {header_line}: duplicate column {name!r} "
                                       f"(columns {seen[name]} and {column})")
        seen.setdefault(name, column)
    rows = []
    for line, fields in records[1:]:
        row = {names[i]: value for i, value in enumerate(fields[: len(names)]) if value.strip()}
        if len(fields) > len(names):
            row["_"] = "more values than header columns"
        rows.append((line, row))
    return rows


def read_rows(path: Path) -> list[tuple[int, dict]]:
    """(line or item number, row) pairs of a CSV or JSON customers file; a ClickException when unreadable."""
    text = read_text(path)
    if path.suffix.lower() == ".json":
        try:
            data = loads_strict(text)
        except UnstorableJSON as exc:  # too deeply nested, NaN, NUL...: refused like the API refuses them
            raise click.ClickException(f"{path}: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise click.ClickException(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc
        items = data.get("customers") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise click.ClickException(f"{path}: expected a list of customers or {{\"customers\": [...]}}")
        return [(n, item if isinstance(item, dict) else {"_": item}) for n, item in enumerate(items, 1)]
    return csv_rows(path, text)


@customers_command.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--workspace", required=True, help="CSCX.AI workspace id the customers belong to")
@click.pass_obj
def import_customers(build_app, file: Path, workspace: str) -> None:
    """Import customers from a CSV or JSON file: every row valid, or nothing imported."""
    app = build_app()
    rows = read_rows(file)
    if not rows:
        raise click.ClickException(f"{file.name}: no customers to import")
    kind = "item" if file.suffix.lower() == ".json" else "line"
    click.echo(f"validating {len(rows)} row(s) from {file.name} ...")
    with app.app_context():
        try:
            validate_rows(rows)  # a refused import must not leave even the workspace behind
            ensure_organization(workspace)
            upserted = upsert_customers(workspace, rows)
        except CustomerValidationError as exc:
            click.echo(f"rejected {len(exc.rejected)} row(s); nothing was imported:", err=True)
            for rejected in exc.rejected:
                problems = "; ".join(f"{f}: {m}" if f != "_" else m for f, m in rejected.errors.items())
                where = f"{kind} {rejected.line}: " if rejected.line else ""
                click.echo(f"  {where}{problems}", err=True)
            sys.exit(1)
        rescore_customers(upserted.rescore)
        sla.customers_changed(upserted.rescore)
    counts = upserted.counts
    click.echo(f"imported {counts['total']} customer(s): {counts['created']} created, {counts['updated']} updated")
