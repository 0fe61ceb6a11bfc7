"""Third-party clients work against the sandbox unmodified: atlassian-python-api."""

from __future__ import annotations

import pytest
from atlassian import Jira
from requests import HTTPError


@pytest.fixture
def cloud_jira(fresh_cloud):
    return Jira(fresh_cloud.base_url, username=fresh_cloud.email, password=fresh_cloud.api_token, cloud=True)


@pytest.fixture
def server_jira(server_site):
    return Jira(server_site.base_url, token=server_site.pat)


def test_cloud_create_issue_and_read_it(cloud_jira):
    created = cloud_jira.create_issue(fields={"project": {"key": "SUP"}, "issuetype": {"name": "Bug"},
                                              "summary": "Made by atlassian-python-api"})
    issue = cloud_jira.issue(created["key"])
    assert issue["fields"]["summary"] == "Made by atlassian-python-api"
    assert issue["fields"]["status"]["name"] == "Triage"


def test_cloud_enhanced_jql(cloud_jira, fresh_cloud):
    body = cloud_jira.enhanced_jql("project = CS ORDER BY key ASC", limit=5)
    assert len(body["issues"]) <= 5 and "summary" in body["issues"][0]["fields"]
    every = cloud_jira.enhanced_jql_get_list_of_tickets("project in (CS, SUP, ENG)", fields=["key"], limit=None)
    assert len(every) == len(fresh_cloud.state.issues)


def test_cloud_issue_changelog(cloud_jira):
    created = cloud_jira.create_issue(fields={"project": {"key": "CS"}, "issuetype": {"name": "Task"},
                                              "summary": "Changelog subject"})
    cloud_jira.set_issue_status(created["key"], "In Progress")
    changelog = cloud_jira.get_issue_changelog(created["key"])
    assert changelog["total"] == 1
    item = changelog["values"][0]["items"][0]
    assert (item["field"], item["fromString"], item["toString"]) == ("status", "To Do", "In Progress")


def test_cloud_client_sees_the_removed_search(cloud_jira):
    with pytest.raises(HTTPError):
        cloud_jira.get("rest/api/3/search", params={"jql": "project = CS"})


def test_server_jql_paging_with_pat(server_jira, server_site):
    expected = sum(1 for i in server_site.state.issues.values() if i["project"] == "SUP")
    first = server_jira.jql("project = SUP ORDER BY key ASC", start=0, limit=25)
    assert first["total"] == expected and len(first["issues"]) == 25
    keys, start = [], 0
    while start < expected:
        page = server_jira.jql("project = SUP ORDER BY key ASC", start=start, limit=25, fields=["key"])
        keys += [issue["key"] for issue in page["issues"]]
        start += len(page["issues"])
    assert len(set(keys)) == expected


def test_server_issue_and_changelog_via_expand(server_jira):
    issue = server_jira.issue("SUP-1")
    assert issue["fields"]["reporter"]["name"]
    changelog = server_jira.get_issue_changelog("SUP-1")
    assert "histories" in changelog
