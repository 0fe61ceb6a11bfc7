"""The job seam: in-process without Redis, a real RQ worker with it."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from connect_app import create_app
from connect_app.config import TestConfig
from connect_app.connections.retention import purge_uninstalled_connections
from connect_app.extensions import db
from connect_app.models import AuditEntry, JiraConnection
from connect_app.models.types import utcnow
from connect_app.platform import jobs
from tests.conftest import REDIS_URL
from tests.factories import make_connection, make_organization


def uninstalled_connections(org):
    """One connection past its retention period and one still inside it."""
    expired = make_connection(org, status="uninstalled", purge_after=utcnow() - timedelta(minutes=1))
    kept = make_connection(org, status="uninstalled", purge_after=utcnow() + timedelta(days=3))
    return expired.id, kept.id


def test_inline_enqueue_runs_the_job_now(app):
    org = make_organization()
    expired, kept = uninstalled_connections(org)
    assert jobs.enqueue(purge_uninstalled_connections) is None
    db.session.expunge_all()
    assert db.session.get(JiraConnection, expired) is None
    assert db.session.get(JiraConnection, kept) is not None
    audit = db.session.scalars(select(AuditEntry)).one()
    assert audit.action == "connection.purged" and audit.target_id == str(expired)


def test_jobs_outside_the_package_are_refused(app):
    with pytest.raises(ValueError, match="outside connect_app"):
        jobs.enqueue("os.system", "true")


def test_a_job_named_by_its_path_before_the_package_layout_still_runs(app):
    org = make_organization()
    expired, kept = uninstalled_connections(org)
    jobs.enqueue("connect_app.retention.purge_uninstalled_connections")
    db.session.expunge_all()
    assert db.session.get(JiraConnection, expired) is None
    assert db.session.get(JiraConnection, kept) is not None


def _queue_app(database_url, tmp_path):
    config = TestConfig({"DATABASE_URL": database_url, "REDIS_URL": REDIS_URL,
                         "RQ_QUEUE": f"test-{uuid.uuid4().hex[:10]}"}, instance_path=tmp_path)
    return create_app(config), config


def _run_worker(app, config, database_url, tmp_path) -> None:
    """`cscx-jira worker --burst` in its own process, as in production."""
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    env = dict(os.environ) | {
        "CSCX_ENV": "test", "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL, "RQ_QUEUE": app.config["RQ_QUEUE"],
        "SECRET_KEY": config.SECRET_KEY, "ENCRYPTION_KEY": config.ENCRYPTION_KEYS[0],
        "CSCX_SIGNING_SECRET": config.CSCX_SIGNING_SECRET,
    }
    worker = subprocess.run(
        [sys.executable, "-m", "connect_app.cli", "worker", "--burst"], env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=120,
    )
    assert worker.returncode == 0, worker.stderr[-2000:]


@pytest.mark.redis
@pytest.mark.skipif(not REDIS_URL, reason="TEST_REDIS_URL not set")
def test_enqueued_job_is_run_by_a_real_worker(database_url, tmp_path):
    app, config = _queue_app(database_url, tmp_path)
    with app.app_context():
        org = make_organization()
        expired, kept = uninstalled_connections(org)
        job_id = jobs.enqueue(purge_uninstalled_connections)
        assert job_id
        # Nothing ran in-process: the job waits for a worker.
        assert db.session.get(JiraConnection, expired) is not None
    _run_worker(app, config, database_url, tmp_path)
    with app.app_context():
        assert db.session.get(JiraConnection, expired) is None
        assert db.session.get(JiraConnection, kept) is not None
        job = jobs.queue(app).fetch_job(job_id)
        assert job.get_status() == "finished"
        assert job.return_value() == 1
        db.session.remove()
        db.engine.dispose()


@pytest.mark.redis
@pytest.mark.skipif(not REDIS_URL, reason="TEST_REDIS_URL not set")
def test_a_job_queued_by_the_previous_release_is_run_by_this_worker(database_url, tmp_path):
    app, config = _queue_app(database_url, tmp_path)
    with app.app_context():
        org = make_organization()
        expired, kept = uninstalled_connections(org)
        # Exactly what the release before the package layout put in Redis: its RQ entry point and job path.
        job = jobs.queue(app).enqueue("connect_app.jobs.run_job", "connect_app.retention.purge_uninstalled_connections",
                                      (), {})
    _run_worker(app, config, database_url, tmp_path)
    with app.app_context():
        assert db.session.get(JiraConnection, expired) is None
        assert db.session.get(JiraConnection, kept) is not None
        assert jobs.queue(app).fetch_job(job.id).get_status() == "finished"
        db.session.remove()
        db.engine.dispose()
