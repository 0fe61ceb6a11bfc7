"""The migrations build the whole model on an empty SQLite and an empty PostgreSQL database."""

from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from connect_app.extensions import db
from connect_app.paths import migrations_dir
from tests.conftest import BACKENDS, POSTGRES_URL, migrate, postgres_schema_url

HEAD = ScriptDirectory(str(migrations_dir())).get_current_head()


@pytest.fixture(params=BACKENDS)
def empty_database(request, tmp_path):
    """A database with nothing in it, of each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    schema = f"m_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_schema_url("public"))
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield postgres_schema_url(schema)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def test_upgrade_creates_every_table_and_matches_the_models(empty_database, tmp_path):
    migrate(empty_database, tmp_path)
    engine = create_engine(empty_database)
    try:
        tables = set(inspect(engine).get_table_names())
        assert set(db.metadata.tables) <= tables
        assert "alembic_version" in tables
        with engine.connect() as connection:
            # Autogenerate finds no difference: the migration and the models describe one schema.
            diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_upgrade_is_idempotent(empty_database, tmp_path):
    migrate(empty_database, tmp_path)
    migrate(empty_database, tmp_path)
    engine = create_engine(empty_database)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD
    engine.dispose()


def test_postgres_backend_is_exercised_when_configured():
    # CI provides TEST_POSTGRES_URL; this guards against the PostgreSQL half silently vanishing.
    if POSTGRES_URL:
        assert "postgres" in BACKENDS
    else:
        assert BACKENDS == ["sqlite"]
