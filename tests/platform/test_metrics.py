"""`GET /metrics`: off without a token, closed without the right one, and every family moving for real work."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from werkzeug.wrappers import Request, Response

from connect_app.atlassian.client import JiraClient, RetryPolicy
from connect_app.config import ConfigError, TestConfig
from connect_app.connections.access import jira_client
from connect_app.extensions import db
from connect_app.models import JiraConnection, OutboxMessage, WebhookDelivery
from connect_app.models.types import utcnow
from connect_app.platform import metrics
from connect_app.platform.jobs import shutdown_background
from connect_app.platform.server import _Gunicorn
from connect_app.sync.engine import sync_connection
from tests.conftest import SIGNING_SECRET
from tests.factories import make_connection, make_organization
from tests.serving import ThreadedServer
from tests.tracking.receiver import PushReceiver
from tests.tracking.support import install, start_tracked_site

TOKEN = "metrics-token-for-tests-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
FAMILIES = {
    "cscx_jira_http_request_duration_seconds", "cscx_jira_webhooks_processed",
    "cscx_jira_webhook_processing_latency_seconds", "cscx_jira_webhook_batch_deliveries", "cscx_jira_push_attempts",
    "cscx_jira_sync_run_duration_seconds",
    "cscx_jira_jira_requests", "cscx_jira_jira_retry_wait_seconds", "cscx_jira_backlog_up",
    "cscx_jira_inbox_backlog", "cscx_jira_inbox_oldest_age_seconds", "cscx_jira_outbox_backlog",
    "cscx_jira_outbox_oldest_age_seconds",
}


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of a text exposition, keyed by (name, labels)."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def current(name: str, **labels) -> float:
    """A sample of this process's registry (0 when the series does not exist yet)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def value(scraped: dict, name: str, **labels) -> float:
    """One sample's value (0 when the series does not exist yet)."""
    return scraped.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def scraping(app, client):
    """The app with METRICS_TOKEN set; returns a function that scrapes it."""
    app.config["METRICS_TOKEN"] = TOKEN

    def scrape() -> dict:
        response = client.get("/metrics", headers=BEARER)
        assert response.status_code == 200
        return samples(response.get_data(as_text=True))
    return scrape


def test_metrics_are_off_without_a_configured_token(client):
    response = client.get("/metrics", headers=BEARER)
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


@pytest.mark.parametrize("header", [None, "Bearer wrong-token-0123456789abcdef", f"Basic {TOKEN}",
                                    f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer "])
def test_a_missing_or_wrong_token_is_401(app, client, header):
    app.config["METRICS_TOKEN"] = TOKEN
    response = client.get("/metrics", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "cscx_jira" not in response.get_data(as_text=True)


def test_the_right_token_gets_every_family_in_the_text_format(app, client):
    app.config["METRICS_TOKEN"] = TOKEN
    response = client.get("/metrics", headers=BEARER)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert response.headers["Cache-Control"] == "no-store"
    names = {family.name for family in text_string_to_metric_families(response.get_data(as_text=True))}
    assert names >= FAMILIES


def test_openmetrics_when_the_scraper_asks_for_it(app, client):
    app.config["METRICS_TOKEN"] = TOKEN
    response = client.get("/metrics", headers=BEARER | {"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert response.get_data(as_text=True).endswith("# EOF\n")


def test_requests_are_counted_by_route_with_a_bounded_method_label(scraping, client):
    before = scraping()
    client.get("/healthz")
    client.open("/no-such-page", method="BREW")
    after = scraping()
    count = "cscx_jira_http_request_duration_seconds_count"
    assert value(after, count, endpoint="health.healthz", method="GET", status="200") == \
        value(before, count, endpoint="health.healthz", method="GET", status="200") + 1
    assert value(after, count, endpoint="unmatched", method="other", status="404") == \
        value(before, count, endpoint="unmatched", method="other", status="404") + 1
    assert not any(dict(labels).get("method") == "BREW" for _, labels in after)


def test_the_backlog_gauges_read_the_inbox_and_outbox(scraping):
    org = make_organization()
    connection = make_connection(org)
    now = utcnow()

    def delivery(status, age_s):
        return WebhookDelivery(connection_id=connection.id, delivery_id=uuid.uuid4().hex,
                               event_type="jira:issue_updated", payload={}, status=status,
                               received_at=now - timedelta(seconds=age_s))

    db.session.add_all([delivery("pending", 120), delivery("pending", 30), delivery("failed", 60),
                        delivery("dead", 9000), delivery("done", 5000)])
    db.session.add_all([OutboxMessage(organization_id=org.id, topic="jira.issue.resolved",
                                      idempotency_key=uuid.uuid4().hex, payload={}, status=status,
                                      created_at=now - timedelta(seconds=age_s))
                        for status, age_s in (("pending", 45), ("delivering", 10), ("delivered", 7000))])
    db.session.commit()
    scraped = scraping()
    assert value(scraped, "cscx_jira_backlog_up") == 1
    assert value(scraped, "cscx_jira_inbox_backlog", status="pending") == 2
    assert value(scraped, "cscx_jira_inbox_backlog", status="failed") == 1
    assert value(scraped, "cscx_jira_inbox_backlog", status="processing") == 0
    assert value(scraped, "cscx_jira_inbox_backlog", status="dead") == 1
    assert ("cscx_jira_inbox_backlog", frozenset({("status", "done")})) not in scraped
    # The oldest still waiting: the dead row and the done row do not count.
    assert 120 <= value(scraped, "cscx_jira_inbox_oldest_age_seconds") < 200
    assert value(scraped, "cscx_jira_outbox_backlog", status="pending") == 1
    assert value(scraped, "cscx_jira_outbox_backlog", status="delivering") == 1
    assert 45 <= value(scraped, "cscx_jira_outbox_oldest_age_seconds") < 120


def test_an_unreadable_database_says_so_instead_of_failing_the_scrape(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'nowhere.db'}")
    with Session(engine) as session:
        families = {f.name: f for f in metrics.BacklogCollector(session).collect()}
    assert set(families) == {"cscx_jira_backlog_up"}
    assert families["cscx_jira_backlog_up"].samples[0].value == 0


def test_jira_requests_and_the_time_waited_on_retry_after_are_counted():
    answers = [Response("slow down", status=429, headers={"Retry-After": "1"}),
               Response("{}", status=200, mimetype="application/json")]

    @Request.application
    def jira(_request):
        return answers.pop(0)

    def now() -> tuple[float, float, float]:
        return (current("cscx_jira_jira_requests_total", method="GET", status="429"),
                current("cscx_jira_jira_requests_total", method="GET", status="200"),
                current("cscx_jira_jira_retry_wait_seconds_total", status="429"))

    waits: list[float] = []
    with ThreadedServer(jira) as server:
        client = JiraClient(server.base_url, retry=RetryPolicy(sleep=waits.append), observer=metrics.JIRA)
        before = now()
        client.myself()
    after = now()
    assert after[0] == before[0] + 1 and after[1] == before[1] + 1
    assert len(waits) == 1 and waits[0] >= 1.0  # Retry-After, plus jitter
    assert after[2] == pytest.approx(before[2] + waits[0])


def test_every_client_of_a_connection_reports_to_the_metrics(app):
    connection = make_connection(make_organization())
    assert jira_client(connection).observer is metrics.JIRA


def test_a_webhook_delivered_and_processed_moves_intake_processing_push_jira_and_sync(database_url, tmp_path):
    with PushReceiver(SIGNING_SECRET) as receiver:
        site, live = start_tracked_site(database_url, tmp_path, receiver, METRICS_TOKEN=TOKEN)
        try:
            connection_id, _customers = install(site, live)

            def scrape() -> dict:
                response = requests.get(f"{live.base_url}/metrics", headers=BEARER, timeout=30)
                assert response.status_code == 200
                return samples(response.text)

            before = scrape()
            response = requests.post(f"{site.base_url}/rest/api/3/issue", auth=site.basic_auth, timeout=30, json={
                "fields": {"project": {"key": "CS"}, "summary": "Export fails", "issuetype": {"name": "Bug"},
                           "labels": ["customer_acme"], "priority": {"name": "High"}}})
            assert response.status_code == 201, response.text
            requests.post(f"{site.base_url}/_sandbox/webhooks/flush?timeout=60", headers=site.admin_headers,
                          timeout=90).raise_for_status()
            shutdown_background(live.app, close=False)  # the processing job and its pushes are done
            with live.app.app_context():
                jira_client(db.session.get(JiraConnection, uuid.UUID(connection_id))).myself()
                sync_connection(connection_id)
                db.session.remove()
            after = scrape()
        finally:
            live.__exit__(None, None, None)
            site.stop()

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("cscx_jira_http_request_duration_seconds_count", endpoint="api.jira_webhook", method="POST",
                 status="202") >= 1
    assert moved("cscx_jira_webhooks_processed_total", outcome="done") >= 1
    assert moved("cscx_jira_webhook_processing_latency_seconds_count") >= 1
    assert moved("cscx_jira_webhook_batch_deliveries_count", outcome="applied") >= 1
    assert moved("cscx_jira_webhook_batch_deliveries_sum", outcome="applied") >= 1
    assert moved("cscx_jira_push_attempts_total", outcome="delivered", status="200") >= 1
    assert moved("cscx_jira_jira_requests_total", method="GET", status="200") >= 1
    assert moved("cscx_jira_sync_run_duration_seconds_count", mode="full", status="ok") >= 1
    assert value(after, "cscx_jira_inbox_backlog", status="pending") == 0


INCREMENT = """
import sys
from connect_app.platform import metrics
from connect_app.platform.jobs import shutdown_background
from connect_app.platform.server import _Gunicorn
for _ in range(int(sys.argv[1])):
    metrics.push_attempted("retry", 503)
metrics.webhook_processed("done", None)
"""


def test_multiprocess_mode_adds_up_every_process(app, client, tmp_path):
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = dict(os.environ) | {"PROMETHEUS_MULTIPROC_DIR": str(shared)}
    root = Path(__file__).resolve().parents[2]
    for times in (3, 4):  # two processes, as two gunicorn or RQ workers would be
        done = subprocess.run([sys.executable, "-c", INCREMENT, str(times)], env=env, cwd=root,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
    assert len(list(shared.glob("counter_*.db"))) == 2
    app.config |= {"METRICS_TOKEN": TOKEN, "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    response = client.get("/metrics", headers=BEARER)
    assert response.status_code == 200
    scraped = samples(response.get_data(as_text=True))
    assert value(scraped, "cscx_jira_push_attempts_total", outcome="retry", status="503") == 7
    assert value(scraped, "cscx_jira_webhooks_processed_total", outcome="done") == 2
    assert value(scraped, "cscx_jira_backlog_up") == 1  # the database's part is read at scrape time as always


def test_the_server_forgets_a_dead_workers_live_values(app, tmp_path):
    shared = tmp_path / "prometheus"
    shared.mkdir()
    (shared / "gauge_livesum_4242.db").write_bytes(b"")
    (shared / "counter_4242.db").write_bytes(b"")
    app.config["PROMETHEUS_MULTIPROC_DIR"] = str(shared)
    server = _Gunicorn(app, {"bind": "127.0.0.1:0"})  # configured, not started
    server.cfg.child_exit(None, SimpleNamespace(pid=4242))  # what gunicorn's arbiter calls when a worker exits
    assert sorted(p.name for p in shared.iterdir()) == ["counter_4242.db"]  # its counts are history: kept


def test_metrics_settings_are_checked_at_start(tmp_path):
    with pytest.raises(ConfigError, match="METRICS_TOKEN"):
        TestConfig({"METRICS_TOKEN": "short"})
    with pytest.raises(ConfigError, match="PROMETHEUS_MULTIPROC_DIR"):
        TestConfig({"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "absent")})
    config = TestConfig({"METRICS_TOKEN": TOKEN, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)})
    assert config.METRICS_TOKEN == TOKEN
    assert Path(config.PROMETHEUS_MULTIPROC_DIR) == tmp_path
    assert TestConfig().METRICS_TOKEN is None
