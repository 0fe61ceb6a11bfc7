"""Issue CRUD, transitions, properties and changelog over HTTP, in both flavours."""

from __future__ import annotations

import pytest

from tests.sandbox.conftest import Client, make_issue

NOT_FOUND = {"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}}


@pytest.mark.parametrize("site", ["cloud", "dc"])
def test_get_issue_by_key_and_id(site, request):
    client = request.getfixturevalue(site)
    issue = client.get("/issue/CS-1").json()
    assert issue["key"] == "CS-1"
    assert client.get(f"/issue/{issue['id']}").json()["key"] == "CS-1"
    fields = issue["fields"]
    assert fields["status"]["statusCategory"]["key"] in {"new", "indeterminate", "done"}
    assert fields["priority"]["name"] in {"Highest", "High", "Medium", "Low", "Lowest"}
    assert issue["self"].endswith(f"/rest/api/{client.api}/issue/{issue['id']}")
    assert "customfield_10001" in fields and "resolutiondate" in fields


def test_cloud_v3_renders_adf_and_account_ids(cloud):
    fields = cloud.get("/issue/CS-1").json()["fields"]
    assert fields["description"]["type"] == "doc"
    assert "accountId" in fields["reporter"] and "name" not in fields["reporter"]
    v2 = Client(cloud.server, api=2).get("/issue/CS-1").json()["fields"]
    assert isinstance(v2["description"], str)
    assert "accountId" in v2["reporter"]


def test_server_renders_wiki_text_and_usernames(dc):
    fields = dc.get("/issue/CS-1").json()["fields"]
    assert isinstance(fields["description"], str)
    assert {"name", "key"} <= set(fields["reporter"]) and "accountId" not in fields["reporter"]
    assert dc.get("/rest/api/3/issue/CS-1").status_code == 404


def test_get_issue_fields_filter(cloud):
    issue = cloud.get("/issue/CS-2", params={"fields": "summary,status"}).json()
    assert set(issue["fields"]) == {"summary", "status"}
    issue = cloud.get("/issue/CS-2", params={"fields": "*all,-description"}).json()
    assert "description" not in issue["fields"] and "summary" in issue["fields"]


@pytest.mark.parametrize("site", ["cloud", "dc"])
def test_unknown_issue_is_404_with_jira_body(site, request):
    response = request.getfixturevalue(site).get("/issue/NOPE-999")
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_create_issue_returns_201_and_is_readable(fresh_cloud):
    client = Client(fresh_cloud)
    created = make_issue(client, labels=["customer_acme-corp"], customfield_10001="CUST-10001",
                         customfield_10002={"value": "Enterprise"}, priority={"name": "High"},
                         description={"type": "doc", "version": 1, "content": [
                             {"type": "paragraph", "content": [{"type": "text", "text": "Hello"}]}]})
    assert set(created) == {"id", "key", "self"} and created["key"].startswith("SUP-")
    fields = client.get(f"/issue/{created['key']}").json()["fields"]
    assert fields["status"]["name"] == "Triage"
    assert fields["status"]["statusCategory"]["key"] == "new"
    assert fields["customfield_10002"]["value"] == "Enterprise"
    assert fields["labels"] == ["customer_acme-corp"]
    assert fields["priority"]["name"] == "High"
    assert fields["description"]["content"][0]["content"][0]["text"] == "Hello"


@pytest.mark.parametrize(("fields", "errors"), [
    ({"project": {"key": "SUP"}, "issuetype": {"name": "Bug"}},
     {"summary": "You must specify a summary of the issue."}),
    ({"project": {"key": "NOPE"}, "issuetype": {"name": "Bug"}, "summary": "x"},
     {"project": "Specify a valid project ID or key"}),
    ({"project": {"key": "SUP"}, "summary": "x"}, {"issuetype": "Specify an issue type"}),
    ({"project": {"key": "SUP"}, "issuetype": {"name": "Bug"}, "summary": "x", "labels": ["two words"]},
     {"labels": "The label 'two words' contains spaces which is invalid."}),
    ({"project": {"key": "SUP"}, "issuetype": {"name": "Bug"}, "summary": "x", "status": "Done"},
     {"status": "Field 'status' cannot be set. It is not on the appropriate screen, or unknown."}),
])
def test_create_issue_validation(fresh_cloud, fields, errors):
    response = Client(fresh_cloud).post("/issue", json={"fields": fields})
    assert response.status_code == 400
    assert response.json() == {"errorMessages": [], "errors": errors}


def test_edit_fields_and_label_update_ops(fresh_server):
    client = Client(fresh_server)
    key = make_issue(client, labels=["keep", "drop"])["key"]
    response = client.put(f"/issue/{key}", json={
        "fields": {"summary": "Renamed", "assignee": {"name": "admin"}},
        "update": {"labels": [{"add": "customer_globex-corp"}, {"remove": "drop"}]}})
    assert response.status_code == 204
    issue = client.get(f"/issue/{key}", params={"expand": "changelog"}).json()
    assert issue["fields"]["summary"] == "Renamed"
    assert issue["fields"]["labels"] == ["keep", "customer_globex-corp"]
    assert issue["fields"]["assignee"]["name"] == "admin"
    items = {i["field"]: i for i in issue["changelog"]["histories"][-1]["items"]}
    assert items["labels"]["toString"] == "keep customer_globex-corp"
    assert items["assignee"]["to"] == fresh_server.state.admin["key"]
    assert items["summary"]["fromString"] == "Export times out"


def test_edit_errors(fresh_cloud):
    client = Client(fresh_cloud)
    bad_field = client.put("/issue/CS-1", json={"fields": {"nonsense": 1}})
    assert bad_field.status_code == 400
    assert bad_field.json()["errors"] == {
        "nonsense": "Field 'nonsense' cannot be set. It is not on the appropriate screen, or unknown."}
    assert client.put("/issue/NOPE-1", json={"fields": {"summary": "x"}}).status_code == 404
    assert client.put("/issue/CS-1", json={"fields": {"priority": {"name": "Urgent"}}}).status_code == 400


def test_delete_issue(fresh_cloud):
    client = Client(fresh_cloud)
    key = make_issue(client)["key"]
    assert client.delete(f"/issue/{key}").status_code == 204
    assert client.get(f"/issue/{key}").status_code == 404
    assert client.delete(f"/issue/{key}").status_code == 404


def test_transitions_follow_the_custom_workflow(fresh_cloud):
    client = Client(fresh_cloud)
    key = make_issue(client)["key"]
    available = client.get(f"/issue/{key}/transitions").json()["transitions"]
    assert {t["name"]: t["to"]["name"] for t in available} == {
        "Start Investigating": "Investigating", "Won't Fix": "Won't Fix"}
    assert client.post(f"/issue/{key}/transitions", json={"transition": {"id": "41"}}).status_code == 400
    for tid in ("11", "31", "41"):  # Investigating -> Fix Scheduled -> Shipped
        assert client.post(f"/issue/{key}/transitions", json={"transition": {"id": tid}}).status_code == 204
    fields = client.get(f"/issue/{key}").json()["fields"]
    assert fields["status"]["name"] == "Shipped"
    assert fields["status"]["statusCategory"]["key"] == "done"
    assert fields["resolution"]["name"] == "Done" and fields["resolutiondate"]
    client.post(f"/issue/{key}/transitions", json={"transition": {"id": "61"}})
    fields = client.get(f"/issue/{key}").json()["fields"]
    assert fields["status"]["name"] == "Triage" and fields["resolution"] is None


def test_invalid_transition_body(fresh_cloud):
    response = Client(fresh_cloud).post("/issue/CS-1/transitions", json={"transition": {"id": "999"}})
    assert response.status_code == 400
    assert response.json()["errorMessages"] == ["Transition id '999' is not valid for this issue."]


def test_mutations_notify_listeners(fresh_cloud):
    events = []
    fresh_cloud.state.subscribe(events.append)
    client = Client(fresh_cloud)
    key = make_issue(client)["key"]
    client.put(f"/issue/{key}", json={"fields": {"assignee": {"accountId": fresh_cloud.state.admin_id}}})
    client.post(f"/issue/{key}/transitions", json={"transition": {"id": "51"}})
    client.post(f"/issue/{key}/transitions", json={"transition": {"id": "61"}})
    client.put(f"/issue/{key}/properties/cscx", json={"linked": True})
    client.delete(f"/issue/{key}")
    assert [(e.webhook_event, e.issue_event_type_name) for e in events] == [
        ("jira:issue_created", "issue_created"), ("jira:issue_updated", "issue_assigned"),
        ("jira:issue_updated", "issue_resolved"), ("jira:issue_updated", "issue_reopened"),
        ("issue_property_set", None), ("jira:issue_deleted", "issue_deleted")]
    resolved = events[2]
    assert resolved.issue["status"] == "Won't Fix" and resolved.issue["statusCategory"] == "done"
    assert {i["field"] for i in resolved.history["items"]} == {"status", "resolution"}
    assert resolved.user_id == fresh_cloud.state.admin_id and resolved.timestamp_ms > 0


def test_changelog_paging_cloud(fresh_cloud):
    client = Client(fresh_cloud)
    key = make_issue(client)["key"]
    for n in range(5):
        client.put(f"/issue/{key}", json={"fields": {"summary": f"Summary {n}"}})
    first = client.get(f"/issue/{key}/changelog", params={"maxResults": 2}).json()
    assert (first["startAt"], first["maxResults"], first["total"], first["isLast"]) == (0, 2, 5, False)
    last = client.get(f"/issue/{key}/changelog", params={"startAt": 4, "maxResults": 2}).json()
    assert last["isLast"] is True and len(last["values"]) == 1
    assert last["values"][0]["items"][0]["toString"] == "Summary 4"


def test_server_has_changelog_only_as_expand(fresh_server):
    client = Client(fresh_server)
    assert client.get("/issue/CS-1/changelog").status_code == 404
    changelog = client.get("/issue/CS-1", params={"expand": "changelog"}).json()["changelog"]
    assert set(changelog) == {"startAt", "maxResults", "total", "histories"}


def test_issue_properties(fresh_server):
    client = Client(fresh_server)
    assert client.put("/issue/CS-1/properties/cscx.links", json={"customers": ["acme"]}).status_code == 201
    assert client.put("/issue/CS-1/properties/cscx.links", json={"customers": []}).status_code == 200
    assert client.get("/issue/CS-1/properties/cscx.links").json() == {"key": "cscx.links",
                                                                       "value": {"customers": []}}
    keys = client.get("/issue/CS-1/properties").json()["keys"]
    assert [k["key"] for k in keys] == ["cscx.links"] and keys[0]["self"].endswith("/properties/cscx.links")
    assert client.delete("/issue/CS-1/properties/cscx.links").status_code == 204
    assert client.get("/issue/CS-1/properties/cscx.links").status_code == 404
    assert client.delete("/issue/CS-1/properties/cscx.links").status_code == 404
