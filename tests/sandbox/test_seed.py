"""Seeding: determinism, the customer catalogue, scale, persistence."""

from __future__ import annotations

import time
from datetime import datetime

from jira_sandbox import persist
from jira_sandbox.seed import customers_for_issue, seed_site
from jira_sandbox.state import SandboxState
from jira_sandbox.testing import SandboxServer
from tests.sandbox.conftest import ANCHOR, Client

COMPARED = ("key", "summary", "status", "priority", "labels", "components", "customfields", "created",
            "resolution", "issuetype")


def _seeded(seed: int, issues: int = 500) -> SandboxState:
    state = SandboxState()
    seed_site(state, issues=issues, seed=seed, anchor=ANCHOR)
    return state


def _fingerprint(state: SandboxState) -> list:
    return [tuple(str(issue[f]) for f in COMPARED) for issue in state.issues.values()]


def test_same_seed_same_site():
    first, second = _seeded(5), _seeded(5)
    assert _fingerprint(first) == _fingerprint(second)
    assert first.customer_catalog == second.customer_catalog
    assert _fingerprint(first) != _fingerprint(_seeded(6))


def test_issues_reference_catalogued_customers():
    state = _seeded(1)
    by_slug = {c["slug"]: c for c in state.customer_catalog}
    referencing = [i for i in state.issues.values() if customers_for_issue(i)]
    assert len(referencing) > len(state.issues) / 2
    for issue in referencing:
        slugs = customers_for_issue(issue)
        assert set(slugs) <= set(by_slug)
        assert issue["customfields"]["customfield_10003"] == slugs
        assert issue["customfields"]["customfield_10001"] == by_slug[slugs[0]]["external_id"]


def test_seeded_issues_are_consistent_with_workflows():
    state = _seeded(2)
    for issue in state.issues.values():
        workflow = state.workflow(issue["project"])
        assert issue["status"] in workflow.statuses
        assert (issue["resolution"] is not None) == (issue["statusCategory"] == "done")
        assert len(issue["changelog"]) <= 3
        if issue["changelog"]:
            assert issue["changelog"][-1]["items"][0]["toString"] == issue["status"]
            assert issue["updated"] == issue["changelog"][-1]["created"]
        assert issue["created"] <= issue["updated"] <= datetime.fromisoformat(ANCHOR)


def test_hundred_thousand_issues_seed_fast():
    started = time.perf_counter()
    state = _seeded(1, issues=100_000)
    assert len(state.issues) == 100_000
    assert time.perf_counter() - started < 30


def test_state_file_round_trip(tmp_path):
    state = _seeded(3, issues=50)
    path = str(tmp_path / "site.pickle")
    persist.save(state, path)
    loaded = SandboxState()
    persist.load(loaded, path)
    assert _fingerprint(loaded) == _fingerprint(state)
    assert loaded.admin["api_token"] == state.admin["api_token"]


def test_reset_and_fast_create_through_control(fresh_cloud):
    client = Client(fresh_cloud)
    info = client.post("/_sandbox/reset", json={"issues": 40, "seed": 9, "customers": 10}).json()
    assert info["issues"] == 40 and info["customers"] == 10
    assert len(client.get("/_sandbox/customers").json()) == 10
    created = client.post("/_sandbox/issues", json={"issues": [
        {"project": "SUP", "summary": "Shipped already", "status": "Shipped", "labels": ["customer_x"]}]})
    key = created.json()["issues"][0]["key"]
    fields = client.get(f"/issue/{key}").json()["fields"]
    assert fields["status"]["name"] == "Shipped" and fields["resolution"]["name"] == "Done"


def test_sandbox_server_options_are_checked():
    try:
        SandboxServer(issues=1, nonsense=True)
    except TypeError as exc:
        assert "nonsense" in str(exc)
    else:
        raise AssertionError("unknown option accepted")
