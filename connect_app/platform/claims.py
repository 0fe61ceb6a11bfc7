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
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, or_, update
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


def _with_defaults(table, values: dict[str, Any]) -> dict[str, Any]:
    """Column defaults (ids, timestamps) are Python-side; apply them, since these inserts bypass the ORM."""
    full = dict(values)
    for column in table.columns:
        if column.key in full or column.default is None:
            continue
        # SQLAlchemy wraps callable defaults to take an execution context (unused by ours).
        full[column.key] = column.default.arg(None) if column.default.is_callable else column.default.arg
    return full


def _insert_ignoring(table, conflict: Iterable[str]):
    module = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    return (module.insert(table).on_conflict_do_nothing(index_elements=list(conflict))
            .returning(*table.primary_key.columns))


def insert_ignore(model, values: dict[str, Any], conflict: Iterable[str]) -> bool:
    """INSERT a row unless one with the same `conflict` columns exists; True if this call inserted it."""
    table = model.__table__
    statement = _insert_ignoring(table, conflict).values(**_with_defaults(table, values))
    # RETURNING, not rowcount: psycopg reports -1 for a skipped single-row insert.
    return db.session.execute(statement).first() is not None


def insert_ignore_many(model, rows: list[dict[str, Any]], conflict: Iterable[str]) -> list[Any]:
    """INSERT many rows, skipping those that clash on `conflict`; returns the primary keys inserted."""
    if not rows:
        return []
    table = model.__table__
    result = db.session.execute(_insert_ignoring(table, conflict), [_with_defaults(table, r) for r in rows])
    return [row[0] for row in result]


def claim(model, row_id, *, owner: str, lock_timeout_s: float, claimable: tuple[str, ...],
          claimed: str, now: datetime | None = None) -> bool:
    """Move one row from a claimable status (and due) or a stale claim to `claimed`; True if we won."""
    now = now or utcnow()
    stale = now - timedelta(seconds=lock_timeout_s)
    due = or_(model.next_attempt_at.is_(None), model.next_attempt_at <= now)
    statement = (
        update(model)
        .where(model.id == row_id)
        .where(or_(and_(model.status.in_(claimable), due), and_(model.status == claimed, model.locked_at < stale)))
        .values(status=claimed, locked_by=owner, locked_at=now, attempts=model.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    won = db.session.execute(statement).rowcount == 1
    db.session.commit()
    return won
