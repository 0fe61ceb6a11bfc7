"""Liveness and readiness."""

from __future__ import annotations

from connect_app import create_app
from connect_app.config import TestConfig
from tests.test_migrations import HEAD


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_when_migrated(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["migrations"] == "current"


def test_readyz_reports_pending_migrations(tmp_path):
    app = create_app(TestConfig({"DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}"}, instance_path=tmp_path))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["migrations"] == "pending"
    assert response.json["expected"] == [HEAD]


def test_readyz_reports_an_unreachable_database(tmp_path):
    app = create_app(TestConfig({"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}, instance_path=tmp_path))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["database"] == "unreachable"
