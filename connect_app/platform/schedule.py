"""Periodic jobs: what runs on a clock, and the small scheduler that enqueues it.

Every periodic job of the product is one line in PERIODIC_JOBS. With Redis, run one or more
`cscx-jira scheduler` processes: a job is enqueued at most once per interval across all of them
(a Redis SET NX lock per job and interval). Without Redis (the embedded mode), `serve` and `demo`
run the scheduler in a thread of their single worker process.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask

from connect_app.platform import jobs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicJob:
    """A job function (dotted path inside connect_app) and how often it runs."""

    name: str
    path: str
    every: timedelta


PERIODIC_JOBS: list[PeriodicJob] = [
    PeriodicJob("retention.purge", "connect_app.connections.retention.purge_uninstalled_connections",
                timedelta(hours=6)),
    PeriodicJob("sync.due", "connect_app.sync.engine.sync_due_connections", timedelta(minutes=1)),
    PeriodicJob("delivery.sweep", "connect_app.tracking.sweeps.sweep", timedelta(seconds=5)),
    PeriodicJob("tracking.reconcile", "connect_app.tracking.reconcile.reconcile_due", timedelta(minutes=1)),
    # Dynamic webhooks die 30 days after their last refresh; the job extends those with < 10 days left.
    PeriodicJob("webhooks.refresh", "connect_app.connections.webhook_registration.refresh_expiring_webhooks",
                timedelta(hours=12)),
    # Renewals come closer every day and the reference ARR moves: rescore, and retry stale Jira properties.
    PeriodicJob("impact.refresh", "connect_app.impact.store.refresh_all", timedelta(hours=1)),
    # SLA clocks that reach their warning or breach point: one indexed query when nothing is due.
    PeriodicJob("sla.check", "connect_app.sla.store.check_due", timedelta(minutes=1)),
    # Drafts whose creation failed for a passing reason (Jira down, 429), or whose worker died mid-way.
    PeriodicJob("creation.retry", "connect_app.creation.create.retry_due", timedelta(minutes=1)),
]


class Scheduler:
    """Enqueues each periodic job when its interval has passed; `tick()` is one pass."""

    def __init__(self, app: Flask, periodic: list[PeriodicJob] | None = None, clock=time.monotonic):
        self.app = app
        self.periodic = PERIODIC_JOBS if periodic is None else periodic
        self.clock = clock
        self._last: dict[str, float] = {}

    def _claim(self, job: PeriodicJob) -> bool:
        """True if this process may run `job` now (once per interval across every scheduler)."""
        now = self.clock()
        last = self._last.get(job.name)
        if last is not None and now - last < job.every.total_seconds():
            return False
        self._last[job.name] = now
        if not self.app.config.get("REDIS_URL"):
            return True
        connection = jobs.queue(self.app).connection
        seconds = max(1, int(job.every.total_seconds()))
        return bool(connection.set(f"cscx-jira:schedule:{job.name}", "1", nx=True, ex=seconds))

    def tick(self) -> list[str]:
        """Enqueue every job that is due; returns their names."""
        due = []
        for job in self.periodic:
            if not self._claim(job):
                continue
            with self.app.app_context():
                try:
                    jobs.enqueue(job.path)
                except Exception:  # one failing job must not stop the others or the scheduler
                    log.exception("schedule.job_failed", extra={"job": job.name})
                    continue
            log.debug("schedule.enqueued", extra={"job": job.name})
            due.append(job.name)
        return due

    def run(self, stop: threading.Event, interval: float = 5.0) -> None:
        """Tick until `stop` is set."""
        while not stop.is_set():
            self.tick()
            stop.wait(interval)


def start_in_thread(app: Flask, interval: float = 5.0) -> threading.Event:
    """Run the scheduler in a daemon thread (embedded mode); set the returned event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(target=Scheduler(app).run, args=(stop, interval), name="cscx-scheduler", daemon=True)
    thread.start()
    return stop
