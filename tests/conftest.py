"""Shared fixtures: the app on every available database backend, clients, tokens and factories.

Every test that uses `app` runs on SQLite, and also on PostgreSQL when TEST_POSTGRES_URL is set
(CI sets it). Redis-backed tests need TEST_REDIS_URL.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from connect_app import create_app
from connect_app.api.auth import mint_service_token
from connect_app.config import TestConfig
from connect_app.extensions import db
from connect_app.platform.jobs import shutdown_background

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("TEST_REDIS_URL")
BACKENDS = ["sqlite"] + (["postgres"] if POSTGRES_URL else [])
SIGNING_SECRET = TestConfig().CSCX_SIGNING_SECRET


def pytest_report_header(config):
    """Say which real services this run covers, so a skipped backend is never silent."""
    return [f"databases: {', '.join(BACKENDS)}; redis: {'yes' if REDIS_URL else 'no (TEST_REDIS_URL unset)'}"]


def postgres_schema_url(schema: str) -> str:
    """The PostgreSQL test URL with search_path pinned to one schema."""
    from connect_app.config import normalise_database_url

    base = normalise_database_url(POSTGRES_URL)
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}options=-csearch_path%3D{schema}"


def migrate(url: str, instance: Path) -> None:
    """Run the Alembic migrations against url through the app, as `cscx-jira db upgrade` does."""
    from flask_migrate import upgrade

    app = create_app(TestConfig({"DATABASE_URL": url}, instance_path=instance))
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once keeps the suite fast)."""
    folder = tmp_path_factory.mktemp("sqlite-template")
    path = folder / "template.db"
    migrate(f"sqlite:///{path}", folder)
    return path


@pytest.fixture(scope="session")
def postgres_schema(tmp_path_factory):
    """A migrated schema of its own in the PostgreSQL test database, dropped at the end."""
    if not POSTGRES_URL:
        pytest.skip("TEST_POSTGRES_URL not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_schema_url("public"), poolclass=NullPool)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        migrate(postgres_schema_url(schema), tmp_path_factory.mktemp("pg"))
        yield schema
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> str:
    """A migrated, empty database of the parametrised backend, private to one test."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    schema = request.getfixturevalue("postgres_schema")
    url = postgres_schema_url(schema)
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        tables = connection.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = :s AND tablename <> 'alembic_version'"
        ), {"s": schema}).scalars().all()
        if tables:
            connection.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def app(database_url, tmp_path):
    """The app bound to the test database, inside an app context."""
    application = create_app(TestConfig({"DATABASE_URL": database_url}, instance_path=tmp_path / "instance"))
    with application.app_context():
        yield application
        shutdown_background(application)
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    """A test client of the app."""
    return app.test_client()


@pytest.fixture
def cli_env(database_url, tmp_path, monkeypatch):
    """Environment for `cscx-jira` commands run in-process against the test database."""
    config = TestConfig()
    env = {
        "CSCX_ENV": "test", "DATABASE_URL": database_url, "SECRET_KEY": config.SECRET_KEY,
        "ENCRYPTION_KEY": ",".join(config.ENCRYPTION_KEYS), "CSCX_SIGNING_SECRET": config.CSCX_SIGNING_SECRET,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return env


def token_for(workspace: str = "ws-1", role: str = "admin", user: str = "u-1", **kwargs) -> str:
    """A valid service token for the test signing secret."""
    return mint_service_token(SIGNING_SECRET, workspace=workspace, role=role, user=user, **kwargs)


def auth_headers(workspace: str = "ws-1", role: str = "admin", user: str = "u-1") -> dict[str, str]:
    """Authorization header for API calls."""
    return {"Authorization": f"Bearer {token_for(workspace, role, user)}"}
