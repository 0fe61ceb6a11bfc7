"""Every Prometheus metric of the service, the hooks that move them, and what `GET /metrics` exposes.

Metrics are module-level objects of the official client, as its documentation defines them: creating
one only registers a name (no I/O unless multiprocess mode is on, see below). Callers never touch them
directly; each place that counts something calls one small function here (`webhook_processed`,
`push_attempted`, ...), so names, labels and units are decided in this one module.

Multiprocess mode: gunicorn workers and RQ workers are separate processes, each with its own counters.
With PROMETHEUS_MULTIPROC_DIR set in the environment *before the process starts*, the client keeps
every value in a memory-mapped file in that directory, and a scrape adds them up over every process
(`scrape_registry`). The directory must be emptied when the service (re)starts, and gunicorn's
`child_exit` hook must call `mark_process_dead` (the server does, `platform.server`).

The inbox and outbox backlogs are not counted by any process: they are read from the database at
scrape time (`BacklogCollector`), so they are right whichever process did the work.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from connect_app.atlassian.client import JiraObserver
from connect_app.models import OutboxMessage, SyncRun, WebhookDelivery
from connect_app.models.delivery import INBOX_STATUSES, OUTBOX_STATUSES
from connect_app.models.types import utcnow

log = logging.getLogger(__name__)

PREFIX = "cscx_jira_"
# Label values come from a fixed vocabulary: an attacker choosing the method of a request must not be
# able to create a new time series per request.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # the endpoint label of a request no route matched (404, 405 before routing)
# Every status but the finished one (done, delivered) is backlog; dead rows are counted but wait for a
# person, so only the others make the "oldest waiting" age.
INBOX_BACKLOG = tuple(s for s in INBOX_STATUSES if s != "done")
OUTBOX_BACKLOG = tuple(s for s in OUTBOX_STATUSES if s != "delivered")
INBOX_WAITING = tuple(s for s in INBOX_BACKLOG if s != "dead")
OUTBOX_WAITING = tuple(s for s in OUTBOX_BACKLOG if s != "dead")

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Received -> processed spans a job's queue time and retries with backoff: seconds to hours.
WEBHOOK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0)
SYNC_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 4 * 3600.0)

HTTP_REQUEST_SECONDS = Histogram(
    PREFIX + "http_request_duration_seconds",
    "Time to answer an HTTP request (webhook intake included: endpoint api.jira_webhook), by route.",
    ["endpoint", "method", "status"], buckets=HTTP_BUCKETS)
WEBHOOKS_PROCESSED = Counter(
    PREFIX + "webhooks_processed_total",
    "Inbox deliveries (webhooks and Forge events) whose processing finished: done, failed (retried later), dead.",
    ["outcome"])
WEBHOOK_LATENCY_SECONDS = Histogram(
    PREFIX + "webhook_processing_latency_seconds",
    "From a delivery's arrival in the inbox to its successful processing (queueing and retries included).",
    buckets=WEBHOOK_BUCKETS)
WEBHOOK_BATCH_DELIVERIES = Histogram(
    PREFIX + "webhook_batch_deliveries",
    "Deliveries per inbox batch, by outcome: applied (in one transaction) or split (the batch failed as a "
    "whole and its deliveries were processed one by one).",
    ["outcome"], buckets=(1, 2, 5, 10, 25, 50, 100, 200, 500, 1000))
PUSH_ATTEMPTS = Counter(
    PREFIX + "push_attempts_total",
    "Attempts to push an outbox message to CSCX.AI, by outcome (delivered, retry, dead) and HTTP status "
    "(none: no answer).",
    ["outcome", "status"])
SYNC_RUN_SECONDS = Histogram(
    PREFIX + "sync_run_duration_seconds",
    "Sync runs that finished, by mode (full, incremental, customer) and status (ok, failed), with their duration.",
    ["mode", "status"], buckets=SYNC_BUCKETS)
JIRA_REQUESTS = Counter(
    PREFIX + "jira_requests_total",
    "Requests to Jira (each try counts), by method and answer status (error: no answer).",
    ["method", "status"])
JIRA_RETRY_WAIT_SECONDS = Counter(
    PREFIX + "jira_retry_wait_seconds_total",
    "Seconds spent waiting before retrying a Jira request, by the status that made us wait "
    "(429 and 503: Jira's Retry-After; error: no answer).",
    ["status"])


def _status_label(status: int | None) -> str:
    return str(status) if status else "none"


def http_request(endpoint: str | None, method: str, status: int, seconds: float) -> None:
    """One answered HTTP request (the request hooks of `platform.tracing` call this)."""
    HTTP_REQUEST_SECONDS.labels(endpoint or UNMATCHED, method if method in HTTP_METHODS else "other",
                                str(status)).observe(seconds)


def webhook_processed(outcome: str, received_at: datetime | None = None) -> None:
    """An inbox delivery finished processing (`done`, `failed`, `dead`); `received_at` for a done one."""
    WEBHOOKS_PROCESSED.labels(outcome).inc()
    if received_at is not None:
        WEBHOOK_LATENCY_SECONDS.observe(max(0.0, (utcnow() - received_at).total_seconds()))


def webhook_batch(outcome: str, deliveries: int) -> None:
    """An inbox batch finished: `applied` in one transaction, or `split` into one delivery at a time."""
    WEBHOOK_BATCH_DELIVERIES.labels(outcome).observe(deliveries)


def push_attempted(outcome: str, status: int | None) -> None:
    """One push to CSCX.AI and what came of it (`delivered`, `retry`, `dead`)."""
    PUSH_ATTEMPTS.labels(outcome, _status_label(status)).inc()


def sync_finished(run: SyncRun) -> None:
    """A sync run ended, `ok` or `failed` (its duration: started to finished, a resumed run's pause included)."""
    seconds = ((run.finished_at or utcnow()) - run.started_at).total_seconds()
    SYNC_RUN_SECONDS.labels(run.mode, run.status).observe(max(0.0, seconds))


class JiraMetrics(JiraObserver):
    """What the Jira client reports from `_send`, counted (given to every client by `connections.access`)."""

    def answered(self, method: str, status: int) -> None:
        """One try of a Jira request ended, with this status (0: no answer)."""
        JIRA_REQUESTS.labels(method.upper() if method.upper() in HTTP_METHODS else "other",
                             str(status) if status else "error").inc()

    def waited(self, status: int, seconds: float) -> None:
        """The client is about to sleep this long before retrying after `status`."""
        JIRA_RETRY_WAIT_SECONDS.labels(str(status) if status else "error").inc(max(0.0, seconds))


JIRA = JiraMetrics()


class BacklogCollector(Collector):
    """The inbox and outbox backlogs, read from the database at each scrape.

    One grouped query per table, filtered on `status` (the leading column of ix_webhook_inbox_status_next
    and ix_outbox_status_next), so only backlog rows are read, never the delivered history. Every status
    is reported, 0 included, so an alert never sees an absent series where it expects a zero.
    """

    def __init__(self, session: Session):
        self.session = session

    def collect(self) -> Iterator[Metric]:
        """Yield the backlog gauges; on a database error, only `cscx_jira_backlog_up 0`."""
        up = "1 when the inbox and outbox backlogs could be read from the database."
        try:
            inbox = self._per_status(WebhookDelivery, WebhookDelivery.received_at, INBOX_BACKLOG)
            outbox = self._per_status(OutboxMessage, OutboxMessage.created_at, OUTBOX_BACKLOG)
        except SQLAlchemyError as exc:
            self.session.rollback()
            log.warning("metrics.backlog_unavailable", extra={"error": type(exc).__name__})
            yield GaugeMetricFamily(PREFIX + "backlog_up", up, 0)
            return
        yield GaugeMetricFamily(PREFIX + "backlog_up", up, 1)
        yield from _backlog("inbox", "webhook deliveries", inbox, INBOX_BACKLOG, INBOX_WAITING)
        yield from _backlog("outbox", "pushes to CSCX.AI", outbox, OUTBOX_BACKLOG, OUTBOX_WAITING)

    def _per_status(self, model, arrived, statuses: tuple[str, ...]) -> dict[str, tuple[int, datetime | None]]:
        rows = self.session.execute(
            select(model.status, func.count(), func.min(arrived))
            .where(model.status.in_(statuses)).group_by(model.status)).all()
        return {status: (count, oldest) for status, count, oldest in rows}


def _backlog(table: str, what: str, rows: dict[str, tuple[int, datetime | None]], statuses: tuple[str, ...],
             waiting: tuple[str, ...]) -> Iterator[Metric]:
    counts = GaugeMetricFamily(PREFIX + f"{table}_backlog", f"The {table}'s {what} not finished yet, by status.",
                               labels=["status"])
    for status in statuses:
        counts.add_metric([status], rows.get(status, (0, None))[0])
    yield counts
    oldest = [rows[s][1] for s in waiting if s in rows and rows[s][1] is not None]
    age = (utcnow() - min(oldest)).total_seconds() if oldest else 0.0
    yield GaugeMetricFamily(PREFIX + f"{table}_oldest_age_seconds",
                            f"Age of the oldest of the {table}'s {what} still waiting ({', '.join(waiting)}); "
                            "0 when none.", max(0.0, age))


def scrape_registry(session: Session, multiprocess_dir: str | None) -> CollectorRegistry:
    """What one scrape reads: this process's metrics (or, in multiprocess mode, every process's) + the backlog."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir:
        multiprocess.MultiProcessCollector(registry, path=multiprocess_dir)
    else:
        # The default registry is itself a collector: its metrics, plus the process and platform ones.
        registry.register(REGISTRY)
    registry.register(BacklogCollector(session))
    return registry


def exposition(session: Session, multiprocess_dir: str | None, accept: str | None) -> tuple[bytes, str]:
    """The scrape body and its content type (the text format, or OpenMetrics when the scraper asks for it)."""
    encode, content_type = choose_encoder(accept or "")
    return encode(scrape_registry(session, multiprocess_dir)), content_type


def mark_process_dead(pid: int, multiprocess_dir: str) -> None:
    """Gunicorn's `child_exit`: drop a dead worker's live gauges (its counters stay, they are history)."""
    multiprocess.mark_process_dead(pid, multiprocess_dir)
