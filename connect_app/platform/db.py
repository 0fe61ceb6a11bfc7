"""The database's life outside requests: upgrading the schema, closing pooled connections."""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from flask import Flask
from flask_migrate import upgrade as alembic_upgrade

from connect_app.extensions import db


def upgrade(app: Flask) -> str:
    """Create or upgrade the schema to the newest migration; returns the revision it is at (`db upgrade`, demo)."""
    with app.app_context():
        alembic_upgrade(directory=app.extensions["migrate"].directory)
        with db.engine.connect() as connection:
            return ",".join(MigrationContext.configure(connection).get_current_heads())


def dispose(app: Flask) -> None:
    """Close the app's pooled database connections (a command ends, or gunicorn is about to fork)."""
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
