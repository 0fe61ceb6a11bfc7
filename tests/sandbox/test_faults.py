"""Faults: latency, rate limiting with Jira's headers, seeded random 5xx, scripted failures, stats."""

from __future__ import annotations

import time

import requests

from jira_sandbox.testing import SandboxServer
from tests.sandbox.conftest import Client


def test_latency_is_added_per_request():
    with SandboxServer(issues=5, latency_ms=150) as server:
        client = Client(server)
        started = time.monotonic()
        assert client.get("/issue/CS-1").status_code == 200
        assert time.monotonic() - started >= 0.15


def test_path_latency_slows_only_that_endpoint(fresh_cloud):
    client = Client(fresh_cloud)
    client.put("/_sandbox/faults", json={"path_latency_ms": {"/rest/api/3/project": 200}})
    started = time.monotonic()
    client.get("/myself")
    assert time.monotonic() - started < 0.2
    started = time.monotonic()
    client.get("/project")
    assert time.monotonic() - started >= 0.2


def test_rate_limit_answers_429_with_retry_after_and_headers():
    with SandboxServer(issues=5, rate_limit=3, rate_window_s=30) as server:
        client = Client(server)
        served = [client.get("/myself") for _ in range(3)]
        assert all(r.status_code == 200 for r in served)
        assert served[0].headers["X-RateLimit-Limit"] == "3"
        limited = client.get("/myself")
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["Retry-After"]) <= 30
        assert limited.headers["X-RateLimit-Remaining"] == "0"
        assert limited.headers["X-RateLimit-Reset"].endswith("Z")
        assert limited.headers["RateLimit-Reason"] == "jira-burst-based"


def test_random_errors_are_seeded_and_repeatable():
    def statuses():
        with SandboxServer(issues=5, error_rate=0.3, fault_seed=42) as server:
            client = Client(server)
            return [client.get("/myself").status_code for _ in range(40)]

    first = statuses()
    assert first == statuses()
    assert set(first) == {200, 503}


def test_fail_next_n_requests_to_a_path(fresh_cloud):
    client = Client(fresh_cloud)
    created = client.post("/_sandbox/faults/fail-next", json={
        "path": "/rest/api/3/issue/CS-1", "count": 2, "status": 429, "retry_after": 2})
    assert created.status_code == 201
    assert client.get("/issue/CS-2").status_code == 200
    first, second, third = (client.get("/issue/CS-1") for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.headers["Retry-After"] == "2"


def test_fail_next_by_method(fresh_cloud):
    client = Client(fresh_cloud)
    client.post("/_sandbox/faults/fail-next", json={"path": "/rest/api/3/issue", "method": "POST",
                                                    "status": 500})
    assert client.get("/issue/CS-1").status_code == 200
    response = client.post("/issue", json={"fields": {}})
    assert response.status_code == 500 and response.json()["errorMessages"]


def test_faults_can_be_cleared(fresh_cloud):
    client = Client(fresh_cloud)
    client.put("/_sandbox/faults", json={"error_rate": 1.0, "error_status": 502})
    assert client.get("/myself").status_code == 502
    client.delete("/_sandbox/faults")
    assert client.get("/myself").status_code == 200
    assert client.put("/_sandbox/faults", json={"bogus": 1}).status_code == 400


def test_stats_count_requests_per_endpoint(fresh_cloud):
    client = Client(fresh_cloud)
    client.post("/_sandbox/stats/reset")
    client.get("/issue/CS-1")
    client.get("/issue/CS-2")
    client.get("/myself")
    requests.get(f"{fresh_cloud.base_url}/rest/api/3/myself", timeout=10)  # anonymous: 401, still counted
    stats = client.get("/_sandbox/stats").json()
    assert stats["requests_total"] == 4
    assert stats["by_endpoint"]["GET /rest/api/3/issue/<key>"] == 2
    assert stats["by_status"] == {"200": 3, "401": 1}
