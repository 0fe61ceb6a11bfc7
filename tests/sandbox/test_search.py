"""Search: Cloud enhanced search (token paging, id-only default, caps), 410 on the removed API,
Server offset paging with total."""

from __future__ import annotations

import pytest

from jira_sandbox.api_search import REMOVED
from tests.sandbox.conftest import Client


def _count(site, predicate):
    return sum(1 for issue in site.state.issues.values() if predicate(issue))


def test_enhanced_search_returns_only_ids_by_default(cloud):
    body = cloud.get("/search/jql", params={"jql": "project = CS", "maxResults": 5}).json()
    assert "total" not in body
    assert all(set(issue) == {"id"} for issue in body["issues"])
    assert len(body["issues"]) == 5 and body["isLast"] is False and body["nextPageToken"]


def test_enhanced_search_pages_with_tokens_to_the_end(cloud, cloud_site):
    keys, token, pages = [], None, 0
    while True:
        params = {"jql": "project = CS ORDER BY key ASC", "maxResults": 40, "fields": "key"}
        if token:
            params["nextPageToken"] = token
        body = cloud.get("/search/jql", params=params).json()
        keys += [issue["key"] for issue in body["issues"]]
        pages += 1
        if body["isLast"]:
            assert "nextPageToken" not in body
            break
        token = body["nextPageToken"]
    expected = _count(cloud_site, lambda i: i["project"] == "CS")
    assert len(keys) == len(set(keys)) == expected and pages == -(-expected // 40)
    assert cloud.post("/search/approximate-count", json={"jql": "project = CS"}).json() == {"count": expected}


def test_enhanced_search_post_with_field_list(cloud):
    body = cloud.post("/search/jql", json={"jql": "project = SUP", "maxResults": 3,
                                           "fields": ["summary", "status", "customfield_10001"]}).json()
    issue = body["issues"][0]
    assert set(issue) >= {"id", "key", "self", "fields"}
    assert set(issue["fields"]) == {"summary", "status", "customfield_10001"}
    assert issue["fields"]["status"]["statusCategory"]["key"] in {"new", "indeterminate", "done"}


@pytest.mark.parametrize(("fields", "cap"), [("summary", 100), ("id", 5000), ("key,id", 5000)])
def test_enhanced_search_caps_max_results(cloud, cloud_site, fields, cap):
    jql = "project in (CS, SUP, ENG)"
    body = cloud.get("/search/jql", params={"jql": jql, "maxResults": 10000, "fields": fields}).json()
    assert len(body["issues"]) == min(cap, len(cloud_site.state.issues))


def test_enhanced_search_all_and_excluded_fields_and_changelog(cloud):
    body = cloud.get("/search/jql", params={"jql": "project = SUP", "maxResults": 2,
                                            "fields": "*all,-description", "expand": "changelog"}).json()
    issue = body["issues"][0]
    assert "description" not in issue["fields"] and "labels" in issue["fields"]
    assert "histories" in issue["changelog"]


def test_enhanced_search_errors(cloud):
    invalid = cloud.get("/search/jql", params={"jql": "project = = CS"})
    assert invalid.status_code == 400
    assert invalid.json()["errorMessages"] and invalid.json()["errors"] == {}
    unbounded = cloud.get("/search/jql", params={"jql": "ORDER BY created DESC"})
    assert unbounded.status_code == 400
    bad_token = cloud.get("/search/jql", params={"jql": "project = CS", "nextPageToken": "garbage"})
    assert bad_token.status_code == 400


def test_search_jql_matches_state(cloud, cloud_site):
    jql = 'statusCategory = Done AND labels = "customer_acme-corp"'
    body = cloud.post("/search/jql", json={"jql": jql, "maxResults": 500, "fields": ["key"]}).json()
    expected = _count(cloud_site, lambda i: i["statusCategory"] == "done" and "customer_acme-corp" in i["labels"])
    assert len(body["issues"]) == expected > 0


@pytest.mark.parametrize("path", ["/rest/api/3/search", "/rest/api/2/search"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_old_cloud_search_is_gone(cloud, path, method):
    response = cloud.request(method, path, params={"jql": "project = CS"}, json={"jql": "project = CS"})
    assert response.status_code == 410
    assert response.json() == {"errorMessages": [REMOVED], "errors": {}}


def test_server_search_pages_with_start_at_and_total(dc, server_site):
    expected = _count(server_site, lambda i: i["project"] == "CS")
    first = dc.get("/search", params={"jql": "project = CS ORDER BY key ASC"}).json()
    assert (first["startAt"], first["maxResults"], first["total"]) == (0, 50, expected)
    assert "summary" in first["issues"][0]["fields"]
    keys = []
    while len(keys) < expected:
        body = dc.post("/search", json={"jql": "project = CS ORDER BY key ASC", "startAt": len(keys),
                                        "maxResults": 30, "fields": ["key"]}).json()
        assert body["total"] == expected
        keys += [issue["key"] for issue in body["issues"]]
    assert len(set(keys)) == expected


def test_server_search_caps_at_1000_and_has_no_enhanced_search(dc):
    body = dc.get("/search", params={"jql": "project = CS", "maxResults": 5000}).json()
    assert body["maxResults"] == 1000
    assert dc.get("/search/jql", params={"jql": "project = CS"}).status_code == 404


def test_server_search_invalid_jql(dc):
    response = dc.get("/search", params={"jql": "nonsense ~~ 1"})
    assert response.status_code == 400 and response.json()["errorMessages"]


def test_enhanced_search_returns_requested_properties(fresh_cloud):
    client = Client(fresh_cloud)
    client.put("/issue/CS-1/properties/cscx", json={"customers": ["acme"]})
    body = client.post("/search/jql", json={"jql": "project = CS ORDER BY key ASC", "maxResults": 1,
                                            "properties": ["cscx"]}).json()
    assert body["issues"][0]["properties"] == {"cscx": {"customers": ["acme"]}}


def test_server_empty_jql_returns_everything(dc, server_site):
    assert dc.get("/search", params={"jql": "", "maxResults": 0}).json()["total"] == len(server_site.state.issues)
