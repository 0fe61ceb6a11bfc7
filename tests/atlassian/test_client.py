"""The Jira client against the sandbox over HTTP, both flavours: search paging, issues, retries, errors."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from connect_app.atlassian.client import (
    JiraBadRequest,
    JiraClient,
    JiraError,
    JiraNotFound,
    JiraRateLimited,
    RetryPolicy,
    retry_after_seconds,
)
from connect_app.atlassian.issue_json import normalize_issue, parse_jira_time, status_changes
from jira_sandbox.testing import SandboxServer

ANCHOR = "2026-01-15T00:00:00+00:00"


def fast_retry(**overrides) -> RetryPolicy:
    """Real backoff, scaled down so the tests stay quick (Retry-After is still honoured)."""
    return RetryPolicy(**({"base_delay_s": 0.01, "max_delay_s": 0.05} | overrides))


def client_of(server: SandboxServer, **kwargs) -> JiraClient:
    session = requests.Session()
    if server.state.flavour == "cloud":
        session.auth = (server.email, server.api_token)
        return JiraClient(server.base_url, flavour="cloud", session=session, retry=fast_retry(), **kwargs)
    session.headers["Authorization"] = f"Bearer {server.pat}"
    return JiraClient(server.base_url, flavour="server", session=session, retry=fast_retry(), **kwargs)


@pytest.fixture(scope="module", params=["cloud", "server"])
def site(request):
    with SandboxServer(flavour=request.param, issues=120, seed=5, anchor=ANCHOR) as server:
        yield server


def test_search_pages_every_issue_once(site):
    client = client_of(site)
    keys = []
    for issues, _cursor in client.search_pages("project in (CS, SUP, ENG) ORDER BY id ASC", page_size=25):
        keys += [i["key"] for i in issues]
    assert len(keys) == len(set(keys)) == len(site.state.issues)


def test_search_pages_resume_from_cursor(site):
    client = client_of(site)
    pages = client.search_pages("project = CS ORDER BY id ASC", page_size=10)
    first, cursor = next(pages)
    rest = [i["key"] for issues, _ in client.search_pages("project = CS ORDER BY id ASC", page_size=10,
                                                          cursor=cursor) for i in issues]
    every = [i["key"] for issues, _ in client.search_pages("project = CS ORDER BY id ASC", page_size=10)
             for i in issues]
    assert [i["key"] for i in first] + rest == every


def test_search_ids_and_count(site):
    client = client_of(site)
    ids = client.search_ids("project = SUP")
    assert len(ids) == sum(1 for i in site.state.issues.values() if i["project"] == "SUP")
    assert client.approximate_count("project = SUP") == len(ids)


def test_validate_jql_reports_jira_messages(site):
    client = client_of(site)
    client.validate_jql("project = CS")
    with pytest.raises(JiraBadRequest) as caught:
        client.validate_jql("project = = CS (")
    assert caught.value.status == 400 and caught.value.messages


def test_issue_round_trip_and_normalize(site):
    client = client_of(site)
    created = client.create_issue({"project": {"key": "CS"}, "issuetype": {"name": "Bug"},
                                   "summary": "Export fails", "description": "line one\nline two",
                                   "labels": ["customer_acme-corp"], "customfield_10001": "CUST-10001"})
    raw = client.get_issue(created["key"])
    row = normalize_issue(raw, {"customfield_10001"})
    assert row["jira_key"] == created["key"] and row["project_key"] == "CS"
    assert row["labels"] == ["customer_acme-corp"] and row["custom_fields"] == {"customfield_10001": "CUST-10001"}
    assert row["status_category"] == "new" and row["created_at"].tzinfo is not None
    assert row["reporter_id"] and row["reporter_name"]
    client.edit_issue(created["key"], fields={"summary": "Export fails on Mondays"})
    assert client.get_issue(created["key"], fields=["summary"])["fields"]["summary"] == "Export fails on Mondays"


def test_changelog_gives_status_history(site):
    client = client_of(site)
    key = next(k for k, i in site.state.issues.items() if len(i["changelog"]) >= 2)
    histories = list(client.iter_changelog(key))
    changes = status_changes(histories)
    assert [c["to_status"] for c in changes] == [
        h["items"][0]["toString"] for h in site.state.issues[key]["changelog"]]


def test_issue_properties(site):
    client = client_of(site)
    key = next(iter(site.state.issues))
    assert client.get_issue_property(key, "cscx-test") is None
    client.set_issue_property(key, "cscx-test", {"customers": 2})
    assert client.get_issue_property(key, "cscx-test") == {"customers": 2}
    client.delete_issue_property(key, "cscx-test")
    client.delete_issue_property(key, "cscx-test")
    assert client.get_issue_property(key, "cscx-test") is None


def test_metadata(site):
    client = client_of(site)
    assert any(f["id"] == "customfield_10001" for f in client.get_fields())
    assert any(s["statusCategory"]["key"] == "done" for s in client.get_statuses())
    assert client.server_info()["deploymentType"] in ("Cloud", "Server")
    assert client.myself()["displayName"]


def test_missing_issue_is_typed(site):
    with pytest.raises(JiraNotFound):
        client_of(site).get_issue("CS-99999")


def test_retry_after_is_honoured_then_succeeds(site):
    requests.post(f"{site.base_url}/_sandbox/faults/fail-next", headers=site.admin_headers, timeout=5,
                  json={"path": "/rest/api/", "count": 2, "status": 429, "retry_after": 0})
    waits = []
    client = client_of(site)
    client.retry = fast_retry(sleep=waits.append)
    assert client.myself()["displayName"]
    assert len(waits) == 2


def test_storm_beyond_bounded_tries_raises_typed_error(site):
    requests.post(f"{site.base_url}/_sandbox/faults/fail-next", headers=site.admin_headers, timeout=5,
                  json={"path": "/rest/api/", "count": 3, "status": 503, "retry_after": 1})
    client = client_of(site)
    waits = []
    client.retry = fast_retry(max_tries=3, sleep=waits.append)
    with pytest.raises(JiraRateLimited) as caught:
        client.myself()
    assert caught.value.status == 503 and len(waits) == 2 and min(waits) >= 1.0


def test_retry_after_parsing():
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_jira_time("2024-01-15T10:30:00.000+0100").hour == 9


class _SlowJira:
    """A Jira whose answers to POST /issue arrive after the client gave up (the issue is created all the same)."""

    def __init__(self, delay_s: float):
        self.posts, self.gets = 0, 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.posts += 1
                time.sleep(delay_s)
                self._answer(201, b'{"id": "10001", "key": "CS-1"}')

            def do_GET(self):
                owner.gets += 1
                time.sleep(delay_s)
                self._answer(200, b'{"displayName": "Admin"}')

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_creating_an_issue_is_never_sent_twice_when_the_answer_is_lost():
    jira = _SlowJira(delay_s=1.6)
    try:
        client = JiraClient(jira.base_url, flavour="server", session=requests.Session(), timeout=1,
                            retry=fast_retry(max_tries=3))
        with pytest.raises(JiraError) as caught:
            client.create_issue({"project": {"key": "CS"}, "summary": "Once"})
        assert caught.value.status == 0 and jira.posts == 1  # Jira may have created it: not sent again
        with pytest.raises(JiraError):
            client.myself()
        assert jira.gets == 3  # a read is safe to send again
    finally:
        jira.close()


def test_creating_an_issue_is_retried_when_jira_says_not_now(site):
    requests.post(f"{site.base_url}/_sandbox/faults/fail-next", headers=site.admin_headers, timeout=5,
                  json={"path": "/rest/api/", "count": 1, "status": 429, "retry_after": 0, "method": "POST"})
    client = client_of(site)
    created = client.create_issue({"project": {"key": "CS"}, "issuetype": {"name": "Bug"}, "summary": "After a 429"})
    assert client.get_issue(created["key"])["fields"]["summary"] == "After a 429"
    requests.post(f"{site.base_url}/_sandbox/faults/fail-next", headers=site.admin_headers, timeout=5,
                  json={"path": "/rest/api/", "count": 1, "status": 502, "method": "POST"})
    with pytest.raises(JiraError) as caught:
        client.create_issue({"project": {"key": "CS"}, "issuetype": {"name": "Bug"}, "summary": "After a 502"})
    assert caught.value.status == 502  # Jira may have acted: the creation flow looks before trying again
