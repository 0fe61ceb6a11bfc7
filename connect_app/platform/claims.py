"""Database primitives for at-most-once work across processes: insert-if-absent and row claims.

Both work the same on SQLite and PostgreSQL: INSERT ... ON CONFLICT DO NOTHING, and a
conditional UPDATE whose row count says whether this process won the claim. No lock is held
while the claimed work runs, so a killed worker leaves a claim that expires (`locked_at`).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

import orjson
from sqlalchemy import Text, TypeDecorator, and_, bindparam, cast, column, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from connect_app.extensions import db
from connect_app.models.types import utcnow


class RetryOutcome(StrEnum):
    """What an admin's "retry" of a stored row (an inbox delivery, an outbox message) did."""

    REQUEUED = "requeued"
    NOT_FOUND = "not_found"  # no such row in the admin's workspace (another workspace's is not found either)
    NOT_RETRYABLE = "not_retryable"  # the row exists but is not failed or dead


def worker_id() -> str:
    """Who holds a claim: host, process and thread (for the admin view and debugging)."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"[:120]


def _with_defaults(table, values: dict[str, Any], defaulted: list | None = None) -> dict[str, Any]:
    """Column defaults (ids, timestamps) are Python-side; apply them, since these inserts bypass the ORM."""
    full = dict(values)
    for target in table.columns if defaulted is None else defaulted:
        if target.key in full or target.default is None:
            continue
        # SQLAlchemy wraps callable defaults to take an execution context (unused by ours).
        full[target.key] = target.default.arg(None) if target.default.is_callable else target.default.arg
    return full


def _insert_ignoring(table, conflict: Iterable[str] | None):
    module = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    index_elements = list(conflict) if conflict is not None else None
    return (module.insert(table).on_conflict_do_nothing(index_elements=index_elements)
            .returning(*table.primary_key.columns))


def insert_ignore(model, values: dict[str, Any], conflict: Iterable[str] | None) -> bool:
    """INSERT a row unless one with the same `conflict` columns exists (None: clashing on any unique key);
    True if this call inserted it."""
    table = model.__table__
    statement = _insert_ignoring(table, conflict).values(**_with_defaults(table, values))
    # RETURNING, not rowcount: psycopg reports -1 for a skipped single-row insert.
    return db.session.execute(statement).first() is not None


def insert_ignore_many(model, rows: list[dict[str, Any]], conflict: Iterable[str]) -> list[Any]:
    """INSERT many rows, skipping those that clash on `conflict`; returns the primary keys inserted, in order."""
    if not rows:
        return []
    table = model.__table__
    (key,) = table.primary_key.columns
    defaulted = [c for c in table.columns if c.default is not None]
    full = [_with_defaults(table, r, defaulted) for r in rows]
    if db.session.get_bind().dialect.name != "postgresql":
        return [row[0] for row in db.session.execute(_insert_ignoring(table, conflict), full)]
    # The rows as one JSON document, read server-side by jsonb_to_recordset: one parameter, where a
    # multi-row VALUES has one per cell (psycopg parses and escapes those in Python, on every call).
    dialect = db.session.get_bind().dialect
    names = sorted({name for row in full for name in row})
    columns = [table.c[name] for name in names]
    # A TypeDecorator's own conversion (UTC times, encryption) happens here, as SQLAlchemy's would.
    decorated = [c.key for c in columns if isinstance(c.type, TypeDecorator)]
    records = []
    for row in full:
        record = {name: row.get(name) for name in names}
        for name in decorated:
            if record[name] is not None:
                record[name] = table.c[name].type.process_bind_param(record[name], dialect)
        records.append(record)
    document = orjson.dumps(records, default=_json_scalar).decode()
    source = func.jsonb_to_recordset(cast(bindparam("rows", document, type_=Text), postgresql.JSONB)).table_valued(
        *[column(c.key, c.type) for c in columns]).render_derived(with_types=True)
    statement = (postgresql.insert(table).from_select(names, select(*source.c))
                 .on_conflict_do_nothing(index_elements=list(conflict)).returning(key))
    inserted = set(db.session.scalars(statement))
    return [row[key.key] for row in full if row[key.key] in inserted]


def _json_scalar(value: Any) -> Any:
    """What orjson does not write itself (UUIDs and datetimes it does)."""
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} cannot go into a JSON row")


def claimable_now(model, *, now: datetime, lock_timeout_s: float, claimable: tuple[str, ...], claimed: str):
    """SQL: the row may be claimed now: in a claimable status and due, or under a claim older than the timeout."""
    stale = now - timedelta(seconds=lock_timeout_s)
    due = or_(model.next_attempt_at.is_(None), model.next_attempt_at <= now)
    return or_(and_(model.status.in_(claimable), due), and_(model.status == claimed, model.locked_at < stale))


def claimed_by(model, *, owner: str, now: datetime, claimed: str) -> dict[str, Any]:
    """The values an UPDATE sets on the rows it claims (another attempt begins)."""
    return {"status": claimed, "locked_by": owner, "locked_at": now, "attempts": model.attempts + 1}


def claim(model, row_id, *, owner: str, lock_timeout_s: float, claimable: tuple[str, ...],
          claimed: str, now: datetime | None = None) -> bool:
    """Move one row from a claimable status (and due) or a stale claim to `claimed`; True if we won."""
    now = now or utcnow()
    statement = (
        update(model)
        .where(model.id == row_id)
        .where(claimable_now(model, now=now, lock_timeout_s=lock_timeout_s, claimable=claimable, claimed=claimed))
        .values(**claimed_by(model, owner=owner, now=now, claimed=claimed))
        .execution_options(synchronize_session=False)
    )
    won = db.session.execute(statement).rowcount == 1
    db.session.commit()
    return won


CLAIM_CHUNK = 500  # ids per claiming UPDATE: well under SQLite's bound-parameter limit, small plans on PostgreSQL


def claim_many(model, row_ids: Iterable[Any], *, owner: str, lock_timeout_s: float, claimable: tuple[str, ...],
               claimed: str, now: datetime | None = None) -> list[Any]:
    """`claim` for many rows at once: one UPDATE ... RETURNING per chunk of ids, one commit; the ids we won.

    The conditions and effects are `claim`'s, so a row is won here exactly when `claim` would have won it;
    RETURNING (SQLite 3.35+, PostgreSQL) says which rows, where a row count could only say how many.
    """
    ids = list(dict.fromkeys(row_ids))
    if not ids:
        return []
    now = now or utcnow()
    won: list[Any] = []
    for start in range(0, len(ids), CLAIM_CHUNK):
        statement = (
            update(model)
            .where(model.id.in_(ids[start:start + CLAIM_CHUNK]))
            .where(claimable_now(model, now=now, lock_timeout_s=lock_timeout_s, claimable=claimable,
                                 claimed=claimed))
            .values(**claimed_by(model, owner=owner, now=now, claimed=claimed))
            .returning(model.id)
            .execution_options(synchronize_session=False)
        )
        won.extend(db.session.scalars(statement))
    db.session.commit()
    return won
