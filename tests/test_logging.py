"""Log lines: JSON or key=value, secrets redacted, and the request id following the work into its jobs."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
from werkzeug.wrappers import Response

from connect_app import create_app
from connect_app.config import ConfigError, TestConfig
from connect_app.connections.retention import purge_uninstalled_connections
from connect_app.extensions import db
from connect_app.logging_setup import (
    JsonFormatter,
    KeyValueFormatter,
    bind_context,
    build_handler,
    configure_logging,
    context_scope,
    current_context,
    request_id_from,
)
from connect_app.models.types import utcnow
from connect_app.platform import jobs
from tests.conftest import REDIS_URL
from tests.factories import make_connection, make_organization
from tests.jira_app.signing import tenant_token
from tests.serving import ThreadedServer

WEBHOOK = "/api/integrations/jira/webhook"


@pytest.fixture
def json_lines():
    """Everything logged during the test, through our JSON handler; returns a function parsing the lines."""
    stream = io.StringIO()
    handler = build_handler("json", stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


def record(message: str = "thing.happened", **extra) -> logging.LogRecord:
    """A record as `log.info(message, extra=extra)` makes it."""
    logger = logging.getLogger("connect_app.test")
    return logger.makeRecord(logger.name, logging.INFO, __file__, 1, message, (), None, extra=extra)


def test_a_json_line_has_the_event_its_fields_and_no_secret():
    line = json.loads(JsonFormatter().format(record(
        "connection.saved", connection="c-1", api_token="tok-s3cret", count=3,
        body={"user": "u-1", "client_secret": "cs-s3cret", "items": [{"password": "pw-s3cret"}]})))
    assert line["event"] == "connection.saved" and line["level"] == "INFO" and line["logger"] == "connect_app.test"
    assert line["time"].endswith("Z")
    assert line["connection"] == "c-1" and line["count"] == 3
    assert line["api_token"] == "[redacted]"
    assert line["body"] == {"user": "u-1", "client_secret": "[redacted]", "items": [{"password": "[redacted]"}]}
    assert "s3cret" not in json.dumps(line)


def test_a_json_line_keeps_the_exception_and_a_field_named_like_a_core_key():
    try:
        raise ValueError("boom")
    except ValueError:
        logger = logging.getLogger("connect_app.test")
        failed = logger.makeRecord(logger.name, logging.ERROR, __file__, 1, "job.failed", (), sys.exc_info(),
                                   extra={"event": "jira:issue_updated"})
    line = json.loads(JsonFormatter().format(failed))
    assert line["event"] == "job.failed" and line["event_field"] == "jira:issue_updated"
    assert "ValueError: boom" in line["exception"]


def test_key_value_lines_still_redact_secrets():
    text = KeyValueFormatter("%(levelname)s %(message)s").format(record("oauth.refreshed", access_token="at-s3cret",
                                                                        site="s-1"))
    assert text == "INFO oauth.refreshed access_token=[redacted] site=s-1"


def test_a_sane_request_id_is_kept_and_anything_else_replaced():
    assert request_id_from("3f2a9c1e-5b7d-4e2a-9c1e-5b7d4e2a9c1e") == "3f2a9c1e-5b7d-4e2a-9c1e-5b7d4e2a9c1e"
    assert request_id_from("Root=1-67891233-abcdef012345678912345678") == "Root=1-67891233-abcdef012345678912345678"
    for bad in (None, "", "has space", "line\nbreak", "x" * 200, "<script>", "-leading-dash"):
        fresh = request_id_from(bad)
        assert fresh != bad and len(fresh) == 32 and int(fresh, 16) >= 0


def test_the_format_follows_the_setting_and_production_defaults_to_json(tmp_path):
    assert TestConfig().LOG_FORMAT == "keyvalue"
    assert TestConfig({"LOG_FORMAT": "JSON"}).LOG_FORMAT == "json"
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        TestConfig({"LOG_FORMAT": "xml"})
    production = {"CSCX_ENV": "production", "DATABASE_URL": "postgresql://db/x", "BASE_URL": "https://jira.example",
                  "CSCX_SIGNING_SECRET": "s" * 32}
    assert TestConfig(production).LOG_FORMAT == "json"
    root = logging.getLogger()
    try:
        create_app(TestConfig({"LOG_FORMAT": "json", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"},
                              instance_path=tmp_path))
        installed = [h for h in root.handlers if getattr(h, "_cscx", False)]
        assert len(installed) == 1 and isinstance(installed[0].formatter, JsonFormatter)
    finally:
        configure_logging("INFO", "keyvalue")
    restored = [h for h in root.handlers if getattr(h, "_cscx", False)]
    assert len(restored) == 1 and isinstance(restored[0].formatter, KeyValueFormatter)


def test_a_request_echoes_its_id_and_every_line_carries_it(client, json_lines):
    response = client.get("/healthz", headers={"X-Request-Id": "edge-7f3a2b1c"})
    assert response.headers["X-Request-Id"] == "edge-7f3a2b1c"
    generated = client.get("/no-such-page", headers={"X-Request-Id": "bad id"}).headers["X-Request-Id"]
    assert generated != "bad id" and len(generated) == 32
    lines = [line for line in json_lines() if line["event"] == "http.request"]
    assert [(line["path"], line["status"], line["request_id"]) for line in lines] == [
        ("/no-such-page", 404, generated)]  # probes log at debug level
    assert current_context() == {}  # nothing of a request stays behind in the thread


@pytest.fixture
def refusing_jira():
    """A Jira that refuses every call (400) over real HTTP: the processing job fails fast and logs it."""
    with ThreadedServer(Response('{"errorMessages": ["refused"]}', status=400)) as server:
        yield server.base_url


def test_the_delivery_id_follows_a_webhook_into_the_drain_that_processes_it(app, client, refusing_jira, json_lines):
    app.config["ALLOW_PRIVATE_JIRA_URLS"] = True  # that Jira is on 127.0.0.1
    connection = make_connection(make_organization(), base_url=refusing_jira,
                                 shared_secret="logging-tenant-secret-0123456789abcdef")
    token = tenant_token("POST", WEBHOOK, client_key=connection.client_key, secret=connection.shared_secret)
    body = {"timestamp": 1_700_000_000_000, "webhookEvent": "jira:issue_updated",
            "issue": {"id": "10001", "key": "CS-1"}}
    response = client.post(WEBHOOK, json=body, headers={"Authorization": f"JWT {token}",
                                                        "X-Atlassian-Webhook-Identifier": "wh-trace-1",
                                                        "X-Request-Id": "req-trace-0001"})
    assert response.status_code == 202
    assert response.headers["X-Request-Id"] == "req-trace-0001"
    jobs.shutdown_background(app, close=False)  # the processing job ran on the background pool
    lines = json_lines()
    intake = next(line for line in lines if line["event"] == "http.request" and line["path"] == WEBHOOK)
    assert intake["request_id"] == "req-trace-0001" and intake["delivery_id"] == "wh-trace-1"
    # The partial payload sends the drain to Jira, which refuses: the drain's lines about it say so with the
    # delivery's id; the drain serves many requests, so its request id is its own.
    job_lines = [line for line in lines if line["logger"].startswith("connect_app.tracking")]
    assert {line["event"] for line in job_lines} >= {"webhook.process_failed", "webhook.failed"}
    assert all(line["delivery_id"] == "wh-trace-1" for line in job_lines)
    assert {line["request_id"] for line in job_lines} != {"req-trace-0001"}
    assert all(len(line["request_id"]) == 32 for line in job_lines)
    assert current_context() == {}


def test_a_batch_line_lists_the_deliveries_it_processed(app, client, json_lines):
    connection = make_connection(make_organization(), shared_secret="logging-tenant-secret-0123456789abcdef")
    for n in (1, 2):
        token = tenant_token("POST", WEBHOOK, client_key=connection.client_key, secret=connection.shared_secret)
        body = {"timestamp": 1_700_000_000_000 + n, "webhookEvent": "jira:issue_updated",
                "issue": {"id": f"1000{n}", "key": f"CS-{n}", "fields": {
                    "summary": "Export fails", "updated": "2026-01-01T00:00:00.000+0000",
                    "status": {"id": "1", "name": "To Do", "statusCategory": {"key": "new"}}}}}
        response = client.post(WEBHOOK, json=body, headers={"Authorization": f"JWT {token}",
                                                            "X-Atlassian-Webhook-Identifier": f"wh-batch-{n}"})
        assert response.status_code == 202
    jobs.shutdown_background(app, close=False)
    batches = [line for line in json_lines() if line["event"] == "webhook.batch"]
    assert sorted(i for line in batches for i in line["delivery_ids"]) == ["wh-batch-1", "wh-batch-2"]
    assert sum(line["deliveries"] for line in batches) == 2


def test_an_inline_job_runs_with_the_callers_id_and_keeps_its_own_fields(app, json_lines):
    org = make_organization()
    make_connection(org, status="uninstalled", purge_after=utcnow() - timedelta(minutes=1))
    with context_scope({"request_id": "req-inline-0001"}):
        jobs.enqueue(purge_uninstalled_connections)
        assert current_context() == {"request_id": "req-inline-0001"}
    purged = next(line for line in json_lines() if line["event"] == "retention.purged")
    assert purged["request_id"] == "req-inline-0001"


def test_work_started_without_a_request_gets_an_id_of_its_own(app, json_lines):
    make_connection(make_organization(), status="uninstalled", purge_after=utcnow() - timedelta(minutes=1))
    jobs.enqueue(purge_uninstalled_connections)
    purged = next(line for line in json_lines() if line["event"] == "retention.purged")
    assert len(purged["request_id"]) == 32


def test_fields_bound_in_a_scope_do_not_leak_out_of_it():
    with context_scope({"request_id": "outer-00000001"}):
        with context_scope({"request_id": "job-000000001"}):
            bind_context(delivery_id="wh-9")
            assert current_context() == {"request_id": "job-000000001", "delivery_id": "wh-9"}
        assert current_context() == {"request_id": "outer-00000001"}
    assert current_context() == {}


@pytest.mark.redis
@pytest.mark.skipif(not REDIS_URL, reason="TEST_REDIS_URL not set")
def test_a_queued_job_logs_the_enqueuing_request_id_in_the_worker(database_url, tmp_path):
    config = TestConfig({"DATABASE_URL": database_url, "REDIS_URL": REDIS_URL,
                         "RQ_QUEUE": f"test-{uuid.uuid4().hex[:10]}"}, instance_path=tmp_path)
    app = create_app(config)
    with app.app_context():
        make_connection(make_organization(), status="uninstalled", purge_after=utcnow() - timedelta(minutes=1))
        with context_scope({"request_id": "req-queued-0001"}):
            job_id = jobs.enqueue(purge_uninstalled_connections)
        db.session.remove()
        db.engine.dispose()
    env = dict(os.environ) | {
        "CSCX_ENV": "test", "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL, "RQ_QUEUE": config.RQ_QUEUE,
        "SECRET_KEY": config.SECRET_KEY, "ENCRYPTION_KEY": config.ENCRYPTION_KEYS[0],
        "CSCX_SIGNING_SECRET": config.CSCX_SIGNING_SECRET, "LOG_FORMAT": "json",
    }
    worker = subprocess.run([sys.executable, "-m", "connect_app.cli", "worker", "--burst"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert worker.returncode == 0, worker.stderr[-2000:]
    lines = [json.loads(text) for text in worker.stderr.splitlines() if text.startswith("{")]
    purged = next(line for line in lines if line["event"] == "retention.purged")
    assert purged["request_id"] == "req-queued-0001" and purged["job_id"] == job_id
    assert all(text.startswith("{") for text in worker.stderr.splitlines() if text.strip())
