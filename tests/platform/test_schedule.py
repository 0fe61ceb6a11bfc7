"""The scheduler enqueues each periodic job once per interval, across processes when Redis is there."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from connect_app import create_app
from connect_app.config import TestConfig
from connect_app.extensions import db
from connect_app.models import JiraConnection
from connect_app.models.types import utcnow
from connect_app.platform import jobs
from connect_app.platform.schedule import PERIODIC_JOBS, PeriodicJob, Scheduler
from tests.conftest import REDIS_URL
from tests.factories import make_connection, make_organization

PURGE = PeriodicJob("retention.purge", "connect_app.connections.retention.purge_uninstalled_connections",
                    timedelta(minutes=10))


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_due_jobs_run_once_per_interval(app):
    org = make_organization()
    clock = FakeClock()
    scheduler = Scheduler(app, [PURGE], clock=clock)
    expired_id = make_connection(org, status="uninstalled", purge_after=utcnow() - timedelta(seconds=1)).id
    assert scheduler.tick() == ["retention.purge"]
    assert db.session.get(JiraConnection, expired_id) is None
    assert scheduler.tick() == []  # not due again yet
    clock.now += 601
    assert scheduler.tick() == ["retention.purge"]


def test_every_periodic_job_names_a_real_function():
    for job in PERIODIC_JOBS:
        assert callable(jobs._resolve(job.path)), job.path


@pytest.mark.redis
@pytest.mark.skipif(not REDIS_URL, reason="TEST_REDIS_URL not set")
def test_two_schedulers_enqueue_a_job_once(database_url, tmp_path):
    queue_name = f"test-{uuid.uuid4().hex[:10]}"
    app = create_app(TestConfig({"DATABASE_URL": database_url, "REDIS_URL": REDIS_URL, "RQ_QUEUE": queue_name},
                                instance_path=tmp_path))
    job = PeriodicJob(f"test.{queue_name}", PURGE.path, timedelta(minutes=10))
    first, second = Scheduler(app, [job]), Scheduler(app, [job])
    assert first.tick() == [job.name]
    assert second.tick() == []
    queue = jobs.queue(app)
    assert queue.count == 1
    queue.empty()
    queue.connection.delete(f"cscx-jira:schedule:{job.name}")
    with app.app_context():
        db.engine.dispose()
