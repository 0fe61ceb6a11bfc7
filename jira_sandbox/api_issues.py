"""Issue endpoints: get / create / edit / delete, transitions, changelog, entity properties."""

from __future__ import annotations

from flask import Response, jsonify, request

from jira_sandbox import render
from jira_sandbox.errors import JiraError, not_found
from jira_sandbox.rest import api_version, bp, caller_id, int_arg, json_body, list_arg, page, site


def _expand() -> tuple[str, ...]:
    return tuple(e.strip() for e in request.args.get("expand", "").split(",") if e.strip())


def _no_content() -> Response:
    return Response(status=204)


@bp.get("/issue/<key>")
def get_issue(key):
    """GET /issue/{issueIdOrKey}: fields (default *all), expand=changelog,names."""
    state = site()
    fields = render.select_fields(list_arg("fields"), "*all")
    with state.lock:
        issue = state.get_issue(key)
        return jsonify(state.render_issue(issue, fields=fields, expand=_expand(), api_version=api_version()))


@bp.post("/issue")
def create_issue():
    """POST /issue: 201 {id, key, self}; 400 with per-field errors. `properties` ([{key, value}]) are set with it."""
    state = site()
    body = json_body()
    fields = body.get("fields")
    if not isinstance(fields, dict):
        raise JiraError(400, [], {"project": "project is required", "issuetype": "Specify an issue type",
                                  "summary": "You must specify a summary of the issue."})
    properties = body.get("properties") or []
    if not isinstance(properties, list) or not all(
            isinstance(p, dict) and isinstance(p.get("key"), str) and p["key"] and "value" in p for p in properties):
        raise JiraError(400, ["The property key and value are required."], {})
    issue = state.create_issue(fields, caller_id(), properties={p["key"]: p["value"] for p in properties})
    if body.get("update"):
        state.edit_issue(issue["key"], update=body["update"], actor=caller_id())
    self_url = f"{state.base_url}/rest/api/{api_version()}/issue/{issue['id']}"
    return jsonify({"id": issue["id"], "key": issue["key"], "self": self_url}), 201


@bp.put("/issue/<key>")
def edit_issue(key):
    """PUT /issue/{key}: `fields` and `update` (set/add/remove); 204."""
    body = json_body()
    site().edit_issue(key, fields=body.get("fields"), update=body.get("update"), actor=caller_id())
    return _no_content()


@bp.delete("/issue/<key>")
def delete_issue(key):
    """DELETE /issue/{key}: 204."""
    site().delete_issue(key, actor=caller_id())
    return _no_content()


@bp.put("/issue/<key>/assignee")
def assign_issue(key):
    """PUT /issue/{key}/assignee with {accountId} (Cloud) or {name} (Server); 204."""
    body = json_body()
    site().edit_issue(key, fields={"assignee": body}, actor=caller_id())
    return _no_content()


@bp.get("/issue/<key>/transitions")
def get_transitions(key):
    """GET /issue/{key}/transitions: the transitions available from the current status."""
    state = site()
    version = api_version()
    transitions = [{
        "id": t.id, "name": t.name, "to": render.status(state, t.to, version), "hasScreen": False,
        "isGlobal": not t.sources, "isInitial": False, "isAvailable": True, "isConditional": False,
        "isLooped": False,
    } for t in state.transitions_for(key)]
    return jsonify({"expand": "transitions", "transitions": transitions})


@bp.post("/issue/<key>/transitions")
def do_transition(key):
    """POST /issue/{key}/transitions {"transition": {"id"}, "fields"?}; 204, 400 if not available."""
    body = json_body()
    transition = body.get("transition") or {}
    if "id" not in transition:
        raise JiraError(400, ["Missing 'transition' identifier"])
    site().transition_issue(key, transition["id"], actor=caller_id(), fields=body.get("fields"))
    return _no_content()


@bp.get("/issue/<key>/changelog")
def get_changelog(key):
    """GET /issue/{key}/changelog (Cloud only): offset-paged histories, oldest first."""
    state = site()
    if state.flavour != "cloud":
        raise JiraError(404, ["null for uri: " + request.url])
    start_at, max_results = int_arg("startAt", 0), min(int_arg("maxResults", 100), 100)
    with state.lock:
        histories = [render.history(state, h, api_version()) for h in state.get_issue(key)["changelog"]]
    return jsonify(page(histories, start_at, max_results))


def _property_url(key: str, prop: str) -> str:
    return f"{site().base_url}/rest/api/{api_version()}/issue/{key}/properties/{prop}"


@bp.get("/issue/<key>/properties")
def list_properties(key):
    """GET /issue/{key}/properties: {"keys": [{self, key}]}."""
    state = site()
    with state.lock:
        issue = state.get_issue(key)
        keys = [{"self": _property_url(issue["key"], p), "key": p} for p in issue["properties"]]
    return jsonify({"keys": keys})


@bp.get("/issue/<key>/properties/<prop>")
def get_property(key, prop):
    """GET /issue/{key}/properties/{propertyKey}: {key, value}."""
    state = site()
    with state.lock:
        issue = state.get_issue(key)
        if prop not in issue["properties"]:
            raise not_found(f"The property with key '{prop}' does not exist.")
        return jsonify({"key": prop, "value": issue["properties"][prop]})


@bp.put("/issue/<key>/properties/<prop>")
def set_property(key, prop):
    """PUT /issue/{key}/properties/{propertyKey}: any JSON value; 201 created, 200 updated."""
    value = request.get_json(silent=True)
    if value is None and request.get_data(as_text=True).strip() != "null":
        raise JiraError(400, ["The property value must be a valid JSON."])
    created = site().set_property(key, prop, value, actor=caller_id())
    return Response(status=201 if created else 200)


MULTI_MAX_ISSUES = 100
MULTI_MAX_PROPERTIES = 10


@bp.post("/issue/properties/multi")
def set_properties_multi():
    """POST /issue/properties/multi (Cloud): up to 100 issues, 10 properties each; 303 See Other to the task."""
    state = site()
    if state.flavour != "cloud":
        raise JiraError(404, ["null for uri: " + request.url])
    issues = json_body().get("issues")
    if not isinstance(issues, list) or not issues:
        raise JiraError(400, ["At least one issue must be specified."])
    if len(issues) > MULTI_MAX_ISSUES:
        raise JiraError(400, [f"The number of issues can't exceed {MULTI_MAX_ISSUES}."])
    entries = []
    for entry in issues:
        issue_id = entry.get("issueID") if isinstance(entry, dict) else None
        properties = entry.get("properties") if isinstance(entry, dict) else None
        if isinstance(issue_id, bool) or not isinstance(issue_id, int):
            raise JiraError(400, ["issueID must be the issue's numeric id."])
        if not isinstance(properties, dict) or not properties or len(properties) > MULTI_MAX_PROPERTIES:
            raise JiraError(400, [f"Each issue needs 1 to {MULTI_MAX_PROPERTIES} properties."])
        if any(not key or len(key) > 255 for key in properties) or any(v is None for v in properties.values()):
            raise JiraError(400, ["The property key cannot be longer than 255 characters and values must be JSON."])
        entries.append((issue_id, properties))
    task_id = state.set_properties_bulk(entries, actor=caller_id())
    return Response(status=303, headers={"Location": f"{state.base_url}/rest/api/{api_version()}/task/{task_id}"})


@bp.get("/task/<task_id>")
def get_task(task_id):
    """GET /task/{taskId}: a long-running task's status and result."""
    state = site()
    with state.lock:
        task = state.tasks.get(task_id)
        if task is None:
            raise not_found(f"Task with id {task_id} not found.")
        return jsonify(task | {"self": f"{state.base_url}/rest/api/{api_version()}/task/{task_id}"})


@bp.delete("/issue/<key>/properties/<prop>")
def delete_property(key, prop):
    """DELETE /issue/{key}/properties/{propertyKey}: 204."""
    site().delete_property(key, prop, actor=caller_id())
    return _no_content()
