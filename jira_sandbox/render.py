"""Jira's REST JSON for the sandbox's objects: issues, users, statuses, projects, changelogs.

Cloud renders users by accountId (v2 and v3 alike); Server renders them by name/key. API v3
renders the description as Atlassian Document Format, v2 as wiki text. Shared by the REST
endpoints, the webhooks and the issue page.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from jira_sandbox.catalog import (
    CATEGORY_BY_KEY,
    CUSTOM_FIELDS_BY_ID,
    DEFAULTED_ON_CREATE,
    ISSUE_TYPES,
    PRIORITY_IDS,
    RESOLUTIONS,
    STATUSES,
    SYSTEM_FIELDS,
)

if TYPE_CHECKING:
    from jira_sandbox.catalog import CustomField
    from jira_sandbox.state import SandboxState

SYSTEM_ISSUE_FIELDS = ["summary", "description", "issuetype", "project", "status", "priority", "assignee",
                       "reporter", "creator", "labels", "components", "resolution", "resolutiondate",
                       "created", "updated", "issuelinks", "fixVersions"]
ISSUE_EXPAND = "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"


def jira_time(value: datetime | None) -> str | None:
    """Jira's timestamp format: 2024-01-15T10:30:00.000+0000."""
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}" + value.strftime("%z")


def field_name(field_id: str) -> str:
    """A field's display name ("Summary", "Customer Tier")."""
    if field_id in CUSTOM_FIELDS_BY_ID:
        return CUSTOM_FIELDS_BY_ID[field_id].name
    return SYSTEM_FIELDS.get(field_id, (field_id,))[0]


def all_field_ids() -> list[str]:
    """Every field an issue renders under `*all`."""
    return SYSTEM_ISSUE_FIELDS + list(CUSTOM_FIELDS_BY_ID)


def select_fields(spec: Any, default: str) -> set[str] | None:
    """Resolve a `fields` parameter (list or comma string; `*all`, `*navigable`, `-x`) to ids.

    Returns None for "every field"; an empty set means "no fields" (only id/key/self).
    """
    if spec is None or spec == "" or spec == []:
        spec = default
    tokens = spec.split(",") if isinstance(spec, str) else [t for s in spec for t in str(s).split(",")]
    tokens = [t.strip() for t in tokens if t.strip()]
    chosen: set[str] = set()
    excluded: set[str] = set()
    for token in tokens:
        if token in ("*all", "*navigable"):
            chosen.update(all_field_ids())
        elif token.startswith("-"):
            excluded.add(token[1:])
        else:
            chosen.add(token)
    if not chosen and excluded:
        chosen.update(all_field_ids())
    return chosen - excluded


def adf(text: str | None) -> dict | None:
    """Plain text -> an Atlassian Document Format doc with one paragraph per line."""
    if text is None:
        return None
    paragraphs = [{"type": "paragraph", "content": [{"type": "text", "text": line}] if line else []}
                  for line in text.split("\n")]
    return {"type": "doc", "version": 1, "content": paragraphs}


def _api(state: SandboxState, api_version: int) -> str:
    return f"{state.base_url}/rest/api/{api_version}"


def avatar_urls(seed: str) -> dict:
    """The four avatar sizes Jira returns."""
    return {f"{n}x{n}": f"https://avatar.sandbox.test/{seed}?s={n}" for n in (48, 24, 16, 32)}


def user(state: SandboxState, user_id: str | None, api_version: int = 3) -> dict | None:
    """A user: accountId on Cloud, name/key on Server."""
    u = state.users.get(user_id) if user_id else None
    if u is None:
        return None
    common = {"emailAddress": u["emailAddress"], "avatarUrls": avatar_urls(u["accountId"][-8:]),
              "displayName": u["displayName"], "active": u["active"], "timeZone": u["timeZone"]}
    if state.flavour == "cloud":
        return {"self": f"{_api(state, api_version)}/user?accountId={u['accountId']}",
                "accountId": u["accountId"], **common, "accountType": "atlassian"}
    return {"self": f"{_api(state, api_version)}/user?username={u['name']}", "name": u["name"],
            "key": u["key"], **common}


def status_category(state: SandboxState, key: str, api_version: int = 3) -> dict:
    """A status category."""
    c = CATEGORY_BY_KEY[key]
    return {"self": f"{_api(state, api_version)}/statuscategory/{c['id']}", "id": c["id"], "key": c["key"],
            "colorName": c["colorName"], "name": c["name"]}


def status(state: SandboxState, name: str, api_version: int = 3) -> dict:
    """A status with its category."""
    sid, category, description = STATUSES[name]
    return {"self": f"{_api(state, api_version)}/status/{sid}", "description": description,
            "iconUrl": f"{state.base_url}/images/icons/statuses/generic.png", "name": name, "id": sid,
            "statusCategory": status_category(state, category, api_version)}


def priority(state: SandboxState, name: str | None, api_version: int = 3) -> dict | None:
    """A priority."""
    if name is None:
        return None
    pid = PRIORITY_IDS[name]
    return {"self": f"{_api(state, api_version)}/priority/{pid}", "iconUrl":
            f"{state.base_url}/images/icons/priorities/{name.lower()}.svg", "name": name, "id": pid}


def resolution(state: SandboxState, name: str | None, api_version: int = 3) -> dict | None:
    """A resolution."""
    if name is None:
        return None
    rid, description = RESOLUTIONS[name]
    return {"self": f"{_api(state, api_version)}/resolution/{rid}", "id": rid, "description": description,
            "name": name}


def issuetype(state: SandboxState, name: str, api_version: int = 3) -> dict:
    """An issue type."""
    tid, description, level = ISSUE_TYPES[name]
    body = {"self": f"{_api(state, api_version)}/issuetype/{tid}", "id": tid, "description": description,
            "iconUrl": f"{state.base_url}/images/icons/issuetypes/{name.lower()}.svg", "name": name,
            "subtask": False}
    if state.flavour == "cloud":
        body["hierarchyLevel"] = level
    return body


def component(state: SandboxState, comp: dict, api_version: int = 3) -> dict:
    """A project component."""
    return {"self": f"{_api(state, api_version)}/component/{comp['id']}", "id": comp["id"],
            "name": comp["name"], "description": comp.get("description", "")}


def option(state: SandboxState, field: CustomField, value: str, api_version: int = 3) -> dict:
    """A select-list custom field option."""
    option_id = field.option_id(value)
    return {"self": f"{_api(state, api_version)}/customFieldOption/{option_id}", "value": value, "id": option_id}


def project(state: SandboxState, key: str, api_version: int = 3, full: bool = False) -> dict:
    """A project (the short form used inside issues and lists; `full` for /project/{key})."""
    p = state.projects[key]
    body = {"self": f"{_api(state, api_version)}/project/{p['id']}", "id": p["id"], "key": p["key"],
            "name": p["name"], "projectTypeKey": "software", "avatarUrls": avatar_urls(p["key"])}
    if state.flavour == "cloud":
        body["simplified"] = False
    if full:
        body.update({
            "description": f"The {p['name']} project", "lead": user(state, p["lead"], api_version),
            "components": [component(state, c, api_version) for c in p["components"]],
            "issueTypes": [issuetype(state, n, api_version) for n in ISSUE_TYPES],
            "assigneeType": "UNASSIGNED", "versions": [], "roles": {},
        })
        if state.flavour == "cloud":
            body.update({"style": "classic", "isPrivate": False, "properties": {}})
    return body


def field_value(state: SandboxState, issue: dict, field_id: str, api_version: int) -> Any:
    """One field of an issue in REST form."""
    if field_id in CUSTOM_FIELDS_BY_ID:
        value = issue["customfields"].get(field_id)
        field = CUSTOM_FIELDS_BY_ID[field_id]
        if field.kind == "option" and value is not None:
            return option(state, field, value, api_version)
        if field.kind == "user":
            return user(state, value, api_version)
        return list(value) if isinstance(value, list) else value
    renderers = {
        "summary": lambda: issue["summary"],
        "description": lambda: adf(issue["description"]) if api_version == 3 else issue["description"],
        "issuetype": lambda: issuetype(state, issue["issuetype"], api_version),
        "project": lambda: project(state, issue["project"], api_version),
        "status": lambda: status(state, issue["status"], api_version),
        "priority": lambda: priority(state, issue["priority"], api_version),
        "assignee": lambda: user(state, issue["assignee"], api_version),
        "reporter": lambda: user(state, issue["reporter"], api_version),
        "creator": lambda: user(state, issue["reporter"], api_version),
        "labels": lambda: list(issue["labels"]),
        "components": lambda: [component(state, c, api_version) for c in state.projects[issue["project"]]
                               ["components"] if c["name"] in issue["components"]],
        "resolution": lambda: resolution(state, issue["resolution"], api_version),
        "resolutiondate": lambda: jira_time(issue["resolved"]),
        "created": lambda: jira_time(issue["created"]),
        "updated": lambda: jira_time(issue["updated"]),
        "issuelinks": list,
        "fixVersions": list,
    }
    return renderers[field_id]() if field_id in renderers else None


def issue(state: SandboxState, issue: dict, fields: set[str] | None = None, expand=(),
          api_version: int = 3) -> dict:
    """Jira's issue JSON; `fields` None means all fields."""
    wanted = all_field_ids() if fields is None else [f for f in all_field_ids() if f in fields]
    body = {"expand": ISSUE_EXPAND, "id": issue["id"],
            "self": f"{_api(state, api_version)}/issue/{issue['id']}", "key": issue["key"],
            "fields": {f: field_value(state, issue, f, api_version) for f in wanted}}
    if "changelog" in expand:
        histories = [history(state, h, api_version) for h in issue["changelog"]]
        body["changelog"] = {"startAt": 0, "maxResults": len(histories), "total": len(histories),
                             "histories": histories}
    if "names" in expand:
        body["names"] = {f: field_name(f) for f in wanted}
    return body


def create_field(state: SandboxState, project_key: str, itype: str, field_id: str, required: bool,
                 api_version: int = 3) -> dict:
    """One field of a project's create screen for an issue type (createmeta): Cloud adds `key`."""
    custom = CUSTOM_FIELDS_BY_ID.get(field_id)
    schema = custom.schema() if custom else SYSTEM_FIELDS[field_id][1]
    body: dict[str, Any] = {"required": required, "schema": schema, "name": field_name(field_id)}
    if state.flavour == "cloud":
        body["key"] = field_id
    body["fieldId"] = field_id
    if field_id in ("assignee", "reporter"):
        query = "query" if state.flavour == "cloud" else "username"
        body["autoCompleteUrl"] = f"{_api(state, api_version)}/user/search?{query}="
    body["hasDefaultValue"] = field_id in DEFAULTED_ON_CREATE
    multiple = field_id in ("labels", "components") or (custom is not None and custom.kind == "array")
    body["operations"] = ["add", "set", "remove"] if multiple else [] if field_id == "issuetype" else ["set"]
    target = state.projects[project_key]
    allowed = {
        "project": lambda: [project(state, project_key, api_version)],
        "issuetype": lambda: [issuetype(state, itype, api_version)],
        "priority": lambda: [priority(state, name, api_version) for name in target["priorities"]],
        "components": lambda: [component(state, c, api_version) for c in target["components"]],
    }
    if field_id in allowed:
        body["allowedValues"] = allowed[field_id]()
    elif custom is not None and custom.kind == "option":
        body["allowedValues"] = [option(state, custom, value, api_version) for value in custom.options]
    if field_id == "priority":
        body["defaultValue"] = priority(state, target["default_priority"], api_version)
    return body


def _user_ref(state: SandboxState, user_id: str | None) -> str | None:
    u = state.users.get(user_id) if user_id else None
    if u is None:
        return user_id
    return u["accountId"] if state.flavour == "cloud" else u["key"]


def history(state: SandboxState, h: dict, api_version: int = 3) -> dict:
    """A changelog history with its author and items."""
    items = []
    for it in h["items"]:
        it = dict(it)
        custom = CUSTOM_FIELDS_BY_ID.get(it["fieldId"])
        if it["fieldId"] in ("assignee", "reporter") or (custom is not None and custom.kind == "user"):
            it["from"], it["to"] = _user_ref(state, it["from"]), _user_ref(state, it["to"])
            if state.flavour == "cloud":
                it["tmpFromAccountId"], it["tmpToAccountId"] = it["from"], it["to"]
        items.append(it)
    return {"id": h["id"], "author": user(state, h["author"], api_version), "created": jira_time(h["created"]),
            "items": items}
