"""Site metadata: projects, fields, statuses, priorities, resolutions, issue types, users."""

from __future__ import annotations


def test_projects_and_components(cloud, dc):
    assert {p["key"] for p in cloud.get("/project").json()} >= {"CS", "SUP", "ENG"}
    page = cloud.get("/project/search", params={"maxResults": 2}).json()
    assert (page["total"], len(page["values"]), page["isLast"]) == (3, 2, False)
    sup = dc.get("/project/SUP").json()
    assert sup["key"] == "SUP" and {c["name"] for c in sup["components"]} >= {"API", "Billing"}
    assert all({"id", "name"} <= set(c) for c in sup["components"])
    assert dc.get("/project/NOPE").status_code == 404
    assert dc.get("/project/search").status_code == 404


def test_fields_include_custom_schema(cloud):
    fields = {f["id"]: f for f in cloud.get("/field").json()}
    customer_id = fields["customfield_10001"]
    assert customer_id["name"] == "Customer ID" and customer_id["custom"] is True
    assert customer_id["schema"] == {"type": "string", "customId": 10001,
                                     "custom": "com.atlassian.jira.plugin.system.customfieldtypes:textfield"}
    assert fields["customfield_10003"]["schema"]["type"] == "array"
    assert fields["customfield_10002"]["schema"]["custom"].endswith(":select")
    assert fields["summary"]["custom"] is False


def test_statuses_have_categories(cloud):
    statuses = {s["name"]: s["statusCategory"]["key"] for s in cloud.get("/status").json()}
    assert statuses["Triage"] == "new" and statuses["Fix Scheduled"] == "indeterminate"
    assert statuses["Won't Fix"] == "done" and statuses["In Review"] == "indeterminate"
    categories = {c["key"] for c in cloud.get("/statuscategory").json()}
    assert categories == {"undefined", "new", "indeterminate", "done"}
    project_statuses = cloud.get("/project/SUP/statuses").json()[0]["statuses"]
    assert project_statuses[0]["name"] == "Triage"


def test_priorities_resolutions_issuetypes(dc):
    assert [p["name"] for p in dc.get("/priority").json()] == ["Highest", "High", "Medium", "Low", "Lowest"]
    assert "Won't Fix" in {r["name"] for r in dc.get("/resolution").json()}
    assert {"Bug", "Task", "Story", "Epic"} <= {t["name"] for t in dc.get("/issuetype").json()}


def test_user_lookup_per_flavour(cloud, cloud_site, dc):
    account_id = cloud_site.state.admin_id
    assert cloud.get("/user", params={"accountId": account_id}).json()["accountId"] == account_id
    assert cloud.get("/user", params={"accountId": "nope"}).status_code == 404
    assert dc.get("/user", params={"username": "admin"}).json()["name"] == "admin"
    assert len(dc.get("/user/search", params={"username": "a"}).json()) >= 1
