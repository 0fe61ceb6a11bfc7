"""The database's life outside requests: upgrading the schema, closing pooled connections."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from alembic.runtime.migration import MigrationContext
from flask import Flask
from flask_migrate import upgrade as alembic_upgrade
from sqlalchemy import ColumnElement, any_, bindparam
from sqlalchemy.dialects import postgresql

from connect_app.extensions import db


def upgrade(app: Flask) -> str:
    """Create or upgrade the schema to the newest migration; returns the revision it is at (`db upgrade`, demo)."""
    with app.app_context():
        alembic_upgrade(directory=app.extensions["migrate"].directory)
        with db.engine.connect() as connection:
            return ",".join(MigrationContext.configure(connection).get_current_heads())


def among(column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """`column IN (values)`; on PostgreSQL as `= ANY(array)`, one parameter where an IN list has one per
    value (psycopg parses and converts those client-side on every call: a 500-key chunk costs milliseconds)."""
    values = list(values)
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


def dispose(app: Flask) -> None:
    """Close the app's pooled database connections (a command ends, or gunicorn is about to fork)."""
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
