"""Create metadata (createmeta) in both flavours, required fields and priority schemes on create."""

from __future__ import annotations

import pickle

import pytest
from atlassian import Jira

from jira_sandbox import persist
from jira_sandbox.state import SandboxState
from tests.sandbox.conftest import Client

TASK, BUG = "10002", "10001"
TIERS = ["Enterprise", "Mid-Market", "SMB", "Strategic"]
PRIORITY_REFUSED = {"cloud": "The priority selected is invalid.",
                    "server": "This priority is not available for this project."}


def _fields(client: Client, project: str = "SUP", type_id: str = TASK, **params) -> dict[str, dict]:
    body = client.get(f"/issue/createmeta/{project}/issuetypes/{type_id}", params=params).json()
    listed = body["fields"] if client.server.state.flavour == "cloud" else body["values"]
    return {f["fieldId"]: f for f in listed}


def _required(client: Client, project: str = "SUP", type_id: str = TASK) -> set[str]:
    return {f for f, meta in _fields(client, project, type_id).items() if meta["required"]}


def _create(client: Client, project: str = "SUP", issuetype: str = "Task", **fields):
    body = {"project": {"key": project}, "issuetype": {"name": issuetype}, "summary": "Renewal at risk", **fields}
    return client.post("/issue", json={"fields": body})


def test_cloud_issuetypes_page(cloud):
    body = cloud.get("/issue/createmeta/SUP/issuetypes").json()
    assert set(body) == {"maxResults", "startAt", "total", "issueTypes"}
    assert (body["maxResults"], body["startAt"], body["total"]) == (50, 0, 4)
    bug = next(t for t in body["issueTypes"] if t["name"] == "Bug")
    assert bug == {"self": f"{cloud.server.base_url}/rest/api/3/issuetype/{BUG}", "id": BUG,
                   "description": "A problem or error.", "iconUrl": bug["iconUrl"], "name": "Bug",
                   "subtask": False, "hierarchyLevel": 0}
    by_id = Client(cloud.server, api=2).get(f"/issue/createmeta/{cloud.server.state.projects['SUP']['id']}/issuetypes")
    assert [t["name"] for t in by_id.json()["issueTypes"]] == [t["name"] for t in body["issueTypes"]]


def test_issuetypes_paging_per_flavour(cloud, dc):
    first = cloud.get("/issue/createmeta/CS/issuetypes", params={"maxResults": 3}).json()
    rest = cloud.get("/issue/createmeta/CS/issuetypes", params={"startAt": 3, "maxResults": 3}).json()
    assert (len(first["issueTypes"]), len(rest["issueTypes"]), rest["startAt"], rest["total"]) == (3, 1, 3, 4)
    page = dc.get("/issue/createmeta/CS/issuetypes", params={"maxResults": 3}).json()
    assert set(page) == {"maxResults", "startAt", "total", "isLast", "values"}
    assert (len(page["values"]), page["total"], page["isLast"]) == (3, 4, False)
    last = dc.get("/issue/createmeta/CS/issuetypes", params={"startAt": 3}).json()
    assert (len(last["values"]), last["isLast"]) == (1, True)
    assert "hierarchyLevel" not in last["values"][0]
    assert dc.get("/issue/createmeta/CS/issuetypes", params={"maxResults": -1}).status_code == 400


def test_cloud_fields_required_and_allowed_values(cloud):
    fields = _fields(cloud)
    assert {f for f, meta in fields.items() if meta["required"]} == {"summary", "issuetype", "project",
                                                                     "customfield_10002"}
    tier = fields["customfield_10002"]
    assert tier["name"] == "Customer Tier" and tier["key"] == "customfield_10002"
    assert tier["schema"] == {"type": "option", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:select",
                              "customId": 10002}
    assert [v["value"] for v in tier["allowedValues"]] == TIERS
    assert all(set(v) == {"self", "value", "id"} and v["self"].endswith(f"/customFieldOption/{v['id']}")
               for v in tier["allowedValues"])
    assert (tier["operations"], tier["hasDefaultValue"]) == (["set"], False)
    priority = fields["priority"]
    assert [p["name"] for p in priority["allowedValues"]] == ["Highest", "High", "Medium", "Low", "Lowest"]
    assert priority["hasDefaultValue"] and priority["defaultValue"]["name"] == "Medium"
    assert [t["name"] for t in fields["issuetype"]["allowedValues"]] == ["Task"]
    assert fields["issuetype"]["operations"] == []
    assert [p["key"] for p in fields["project"]["allowedValues"]] == ["SUP"]
    assert fields["labels"]["operations"] == ["add", "set", "remove"]
    assert not fields["reporter"]["required"] and fields["reporter"]["autoCompleteUrl"].endswith("?query=")
    assert _required(cloud, type_id=BUG) == {"summary", "issuetype", "project"}


def test_server_fields_shape(dc):
    body = dc.get(f"/issue/createmeta/SUP/issuetypes/{TASK}").json()
    assert set(body) == {"maxResults", "startAt", "total", "isLast", "values"}
    fields = {f["fieldId"]: f for f in body["values"]}
    assert body["total"] == len(fields) and body["isLast"] is True
    assert all("key" not in meta for meta in fields.values())
    reporter = fields["reporter"]
    assert reporter["required"] and reporter["hasDefaultValue"]
    assert reporter["autoCompleteUrl"] == f"{dc.server.base_url}/rest/api/2/user/search?username="
    assert {f for f, meta in fields.items() if meta["required"]} == {"summary", "issuetype", "project", "reporter",
                                                                     "customfield_10002"}
    assert [v["value"] for v in fields["customfield_10002"]["allowedValues"]] == TIERS


@pytest.mark.parametrize("site", ["cloud", "dc"])
def test_fields_paging(site, request):
    client = request.getfixturevalue(site)
    every = list(_fields(client))
    paged, start = [], 0
    while start < len(every):
        paged += list(_fields(client, startAt=start, maxResults=4))
        start += 4
    assert paged == every and len(every) > 4
    assert _fields(client, startAt=len(every)) == {}


@pytest.mark.parametrize("site", ["cloud", "dc"])
def test_unknown_project_or_issuetype_is_404(site, request):
    client = request.getfixturevalue(site)
    for path, message in [("/issue/createmeta/NOPE/issuetypes", "No project could be found with key 'NOPE'."),
                          (f"/issue/createmeta/NOPE/issuetypes/{BUG}", "No project could be found with key 'NOPE'."),
                          ("/issue/createmeta/SUP/issuetypes/99999", "The issue type with id '99999' does not exist"),
                          ("/issue/createmeta/SUP/issuetypes/Bug", "The issue type with id 'Bug' does not exist")]:
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"errorMessages": [message], "errors": {}}


@pytest.mark.parametrize("site", ["fresh_cloud", "fresh_server"])
def test_create_refuses_a_missing_required_custom_field(site, request):
    client = Client(request.getfixturevalue(site))
    for missing in ({}, {"customfield_10002": None}):
        response = _create(client, **missing)
        assert response.status_code == 400
        assert response.json() == {"errorMessages": [], "errors": {"customfield_10002": "Customer Tier is required."}}
    response = _create(client, customfield_10002={"value": "Gold"})
    assert response.json()["errors"] == {"customfield_10002": "Option value 'Gold' is not valid"}
    response = _create(client, customfield_10002={"id": "99"})
    assert response.json()["errors"] == {"customfield_10002": "Option id '99' is not valid"}
    created = _create(client, customfield_10002={"value": "Strategic"})
    assert created.status_code == 201, created.text
    fields = client.get(f"/issue/{created.json()['key']}").json()["fields"]
    assert fields["customfield_10002"]["value"] == "Strategic" and fields["priority"]["name"] == "Medium"
    assert _create(client, issuetype="Bug").status_code == 201


def test_control_requires_fields_per_issuetype(fresh_cloud):
    client = Client(fresh_cloud)
    config = client.put("/_sandbox/projects/CS/required-fields",
                        json={"fields": ["customfield_10001", "components"], "issuetype": "Bug"})
    assert config.status_code == 200, config.text
    assert config.json()["required_fields"]["Bug"] == ["summary", "issuetype", "project", "components",
                                                       "customfield_10001"]
    assert _required(client, "CS", BUG) == {"summary", "issuetype", "project", "components", "customfield_10001"}
    response = _create(client, "CS", "Bug", customfield_10002={"value": "Gold"}, components=[])
    assert response.status_code == 400
    assert response.json()["errors"] == {"components": "Components is required.",
                                         "customfield_10001": "Customer ID is required.",
                                         "customfield_10002": "Option value 'Gold' is not valid"}
    assert _create(client, "CS", "Bug", customfield_10001="CUST-10001", components=[{"name": "API"}]).status_code == 201
    assert _create(client, "CS", "Task").status_code == 201
    client.put("/_sandbox/projects/CS/required-fields", json={"fields": []})
    assert _create(client, "CS", "Bug").status_code == 201
    assert client.put("/_sandbox/projects/CS/required-fields", json={"fields": ["status"]}).status_code == 400
    assert client.put("/_sandbox/projects/CS/required-fields",
                      json={"fields": [], "issuetype": "Incident"}).status_code == 400
    assert client.put("/_sandbox/projects/NOPE/required-fields", json={"fields": []}).status_code == 404
    client.post("/_sandbox/reset", json={})
    assert _required(client) == {"summary", "issuetype", "project", "customfield_10002"}


@pytest.mark.parametrize("site", ["fresh_cloud", "fresh_server"])
def test_priority_scheme_limits_create_and_edit(site, request):
    client = Client(request.getfixturevalue(site))
    config = client.put("/_sandbox/projects/SUP/priority-scheme",
                        json={"priorities": ["Low", "High", "Medium"], "default": "Low"})
    assert config.json()["priorities"] == ["High", "Medium", "Low"] and config.json()["default_priority"] == "Low"
    priority = _fields(client, type_id=BUG)["priority"]
    assert [p["name"] for p in priority["allowedValues"]] == ["High", "Medium", "Low"]
    assert priority["defaultValue"]["name"] == "Low"
    refused = _create(client, issuetype="Bug", priority={"name": "Highest"})
    assert refused.status_code == 400
    message = PRIORITY_REFUSED[client.server.state.flavour]
    assert refused.json() == {"errorMessages": [], "errors": {"priority": message}}
    assert _create(client, issuetype="Bug", priority={"id": "1"}).status_code == 400
    key = _create(client, issuetype="Bug").json()["key"]
    assert client.get(f"/issue/{key}").json()["fields"]["priority"]["name"] == "Low"
    assert client.put(f"/issue/{key}", json={"fields": {"priority": {"name": "Highest"}}}).status_code == 400
    assert client.put(f"/issue/{key}", json={"fields": {"priority": {"name": "High"}}}).status_code == 204
    assert _create(client, "CS", "Bug", priority={"name": "Highest"}).status_code == 201
    client.put("/_sandbox/projects/SUP/priority-scheme", json={"priorities": None})
    assert _create(client, issuetype="Bug", priority={"name": "Highest"}).status_code == 201
    for bad in ({"priorities": []}, {"priorities": ["Urgent"]}, {"priorities": ["High"], "default": "Low"}):
        assert client.put("/_sandbox/projects/SUP/priority-scheme", json=bad).status_code == 400


def test_third_party_client_reads_server_createmeta(server_site):
    jira = Jira(server_site.base_url, token=server_site.pat)
    assert {t["name"] for t in jira.issue_createmeta_issuetypes("SUP")["values"]} == {"Epic", "Bug", "Task", "Story"}
    fields = jira.issue_createmeta_fieldtypes("SUP", TASK)["values"]
    assert {f["fieldId"] for f in fields if f["required"]} >= {"summary", "customfield_10002"}


def test_state_file_without_create_configuration_loads_with_defaults(tmp_path):
    path = str(tmp_path / "site.pickle")
    persist.save(SandboxState(), path)
    with open(path, "rb") as handle:
        data = pickle.load(handle)
    for project in data["projects"].values():
        for key in ("required_fields", "priorities", "default_priority"):
            del project[key]
    with open(path, "wb") as handle:
        pickle.dump(data, handle)
    state = SandboxState()
    persist.load(state, path)
    issue = state.create_issue({"project": "SUP", "issuetype": {"name": "Task"}, "summary": "Old file"},
                               state.admin_id)
    assert issue["priority"] == "Medium"
