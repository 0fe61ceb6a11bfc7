"""Real RQ workers (subprocesses): several at once never double-process; a worker killed mid-job loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select, update

from connect_app.config import TestConfig
from connect_app.extensions import db
from connect_app.models import OutboxMessage, WebhookDelivery
from connect_app.models.types import utcnow
from connect_app.platform import jobs
from connect_app.tracking import process, sweeps
from tests.conftest import REDIS_URL, SIGNING_SECRET
from tests.tracking.receiver import PushReceiver
from tests.tracking.support import TrackedSite, install, start_tracked_site, wait_for

pytestmark = [pytest.mark.redis, pytest.mark.skipif(not REDIS_URL, reason="TEST_REDIS_URL not set")]


class Workers:
    """`cscx-jira worker` subprocesses, each in its own process group (the worker and its work horse)."""

    def __init__(self, env: dict, cwd):
        self.env, self.cwd = env, cwd
        self.processes: list[subprocess.Popen] = []

    def start(self, name: str) -> subprocess.Popen:
        name = f"{name}-{uuid.uuid4().hex[:8]}"  # RQ keeps a killed worker's name registered for a while
        process_ = subprocess.Popen([sys.executable, "-m", "connect_app.cli", "worker", "--name", name],
                                    env=self.env, cwd=self.cwd, start_new_session=True,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes.append(process_)
        return process_

    def kill(self, process_: subprocess.Popen, horse_pid: int) -> None:
        """SIGKILL the worker and the work horse running the job (RQ puts it in a session of its own)."""
        os.kill(horse_pid, signal.SIGKILL)
        os.killpg(process_.pid, signal.SIGKILL)
        process_.wait(timeout=10)

    def stop_all(self) -> None:
        for process_ in self.processes:
            if process_.poll() is None:
                os.killpg(process_.pid, signal.SIGTERM)
                try:
                    process_.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process_.pid, signal.SIGKILL)
                    process_.wait()


@pytest.fixture
def queued_site(database_url, tmp_path):
    """Sandbox + live app whose jobs go to an RQ queue of their own, plus a way to start workers."""
    queue = f"test-{uuid.uuid4().hex[:10]}"
    with PushReceiver(SIGNING_SECRET) as receiver:
        site, live = start_tracked_site(database_url, tmp_path, receiver, REDIS_URL=REDIS_URL, RQ_QUEUE=queue)
        config = TestConfig()
        env = dict(os.environ) | {
            "CSCX_ENV": "test", "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL, "RQ_QUEUE": queue,
            "SECRET_KEY": config.SECRET_KEY, "ENCRYPTION_KEY": config.ENCRYPTION_KEYS[0],
            "CSCX_SIGNING_SECRET": config.CSCX_SIGNING_SECRET, "BASE_URL": live.base_url,
            "CSCX_PUSH_URL": receiver.url, "PYTHONUNBUFFERED": "1",
            "ALLOW_PRIVATE_JIRA_URLS": "true",  # the sandbox Jira is on 127.0.0.1
        }
        workers = Workers(env, tmp_path)
        try:
            connection_id, customers = install(site, live)
            yield TrackedSite(site, live, receiver, connection_id, customers), workers
        finally:
            workers.stop_all()
            with live.app.app_context():
                jobs.queue(live.app).connection.delete(f"rq:queue:{queue}")
            live.__exit__(None, None, None)
            site.stop()


def inbox_rows(s):
    with s.live.app.app_context():
        rows = db.session.execute(select(WebhookDelivery.id, WebhookDelivery.status, WebhookDelivery.attempts,
                                         WebhookDelivery.jira_key)).all()
        db.session.remove()
    return rows


def test_two_workers_racing_on_duplicated_jobs_process_each_delivery_once(queued_site):
    s, workers = queued_site
    s.control("POST", "/webhooks/config", json={"duplicate": 1, "workers": 4})
    keys = [s.create_issue(f"Issue {n}", ["customer_acme"]) for n in range(6)]
    for key in keys:
        s.transition(key, "In Progress")
        s.transition(key, "Done")
    s.flush()
    rows = inbox_rows(s)
    assert len(rows) == 18 and {r.status for r in rows} == {"pending"}  # no worker yet: all queued
    with s.live.app.app_context():
        for row in rows:  # every job twice more: the workers race for the same rows
            jobs.enqueue(process.process_delivery, str(row.id))
            jobs.enqueue(process.process_delivery, str(row.id))
    workers.start("w1")
    workers.start("w2")
    wait_for(lambda: {r.status for r in inbox_rows(s)} == {"done"}, 90, "both workers to drain the inbox")
    assert {r.attempts for r in inbox_rows(s)} == {1}  # each row claimed exactly once
    assert Counter(k for _, _, k in s.notifications()) == {"moved_to_development": 6, "resolved": 6}

    def delivered():
        with s.live.app.app_context():
            statuses = set(db.session.scalars(select(OutboxMessage.status)))
            db.session.remove()
        return statuses == {"delivered"}
    wait_for(delivered, 60, "pushes delivered by the workers")
    assert len(s.receiver.topics("jira.issue.resolved")) == 6 and not s.receiver.duplicates


def test_a_worker_killed_mid_job_loses_nothing(queued_site):
    s, workers = queued_site
    key = s.create_issue("Payments fail", ["customer_acme"])
    s.flush()
    first = workers.start("doomed")
    wait_for(lambda: {r.status for r in inbox_rows(s)} == {"done"}, 60, "the first delivery")
    # The next delivery is partial, so its job must fetch the issue from Jira, which is slow now.
    s.control("POST", "/webhooks/config", json={"paused": True})
    s.transition(key, "In Progress")
    s.transition(key, "Done")
    history = s.jira("GET", f"/rest/api/3/issue/{key}/changelog").json()["values"][-1]
    issue_id = s.jira("GET", f"/rest/api/3/issue/{key}?fields=summary").json()["id"]
    s.control("PUT", "/faults", json={"path_latency_ms": {f"/rest/api/3/issue/{key}": 20000}})
    url = f"{s.live.base_url}/api/integrations/jira/webhook"
    token = s.control("POST", "/apps/ai.cscx.jira/sign", json={"method": "POST", "url": url}).json()["jwt"]
    partial = {"timestamp": 1, "webhookEvent": "jira:issue_updated", "issue": {"id": issue_id, "key": key},
               "changelog": {"id": history["id"], "items": history["items"]}}
    response = requests.post(url, json=partial, timeout=10, headers={
        "Authorization": f"JWT {token}", "X-Atlassian-Webhook-Identifier": "partial-1"})
    assert response.status_code == 202
    wait_for(lambda: any(r.status == "processing" for r in inbox_rows(s)), 30, "the job to start")
    with s.live.app.app_context():
        owner = db.session.scalar(select(WebhookDelivery.locked_by).where(WebhookDelivery.status == "processing"))
        db.session.remove()
    workers.kill(first, horse_pid=int(owner.split(":")[1]))  # the claim names host:pid:thread
    s.control("DELETE", "/faults")
    stuck = [r for r in inbox_rows(s) if r.status == "processing"]
    assert len(stuck) == 1 and s.notifications() == []

    # Time passes beyond the claim's lock timeout (moved back here instead of waiting it out).
    with s.live.app.app_context():
        db.session.execute(update(WebhookDelivery).where(WebhookDelivery.id == stuck[0].id)
                           .values(locked_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
        workers.start("rescuer")
        assert sweeps.sweep()["deliveries"] == 1
        db.session.remove()
    wait_for(lambda: {r.status for r in inbox_rows(s)} == {"done"}, 60, "the rescued delivery")
    assert [r.attempts for r in inbox_rows(s) if r.id == stuck[0].id] == [2]
    assert s.notifications() == [("csm-alice", key, "resolved")]
    # Jira's own (full) deliveries arrive late: the resolution is not news again; the earlier move is.
    s.control("POST", "/webhooks/config", json={"paused": False})
    s.flush()
    wait_for(lambda: {r.status for r in inbox_rows(s)} == {"done"} and len(inbox_rows(s)) == 4, 60, "late copies")
    assert s.notifications() == [("csm-alice", key, "moved_to_development"), ("csm-alice", key, "resolved")]
    wait_for(lambda: len(s.receiver.topics("jira.issue.resolved")) == 1, 60, "the push")
