"""Site metadata endpoints: projects, issue types, fields, create metadata, statuses, priorities, users,
serverInfo."""

from __future__ import annotations

from flask import jsonify, request

from jira_sandbox import render
from jira_sandbox.catalog import (
    CUSTOM_FIELDS,
    ISSUE_TYPES,
    PRIORITIES,
    RESOLUTIONS,
    STATUS_CATEGORIES,
    STATUSES,
    SYSTEM_FIELDS,
)
from jira_sandbox.errors import JiraError
from jira_sandbox.rest import api_version, bp, caller_id, int_arg, page, site
from jira_sandbox.state import now_utc

SERVER_VERSION = ("9.12.2", [9, 12, 2])
CLOUD_VERSION = ("1001.0.0-SNAPSHOT", [1001, 0, 0])


def _project_or_404(key_or_id: str) -> str:
    return site().get_project(key_or_id)["key"]


@bp.get("/project")
def list_projects():
    """GET /project: every project (short form)."""
    state = site()
    with state.lock:
        return jsonify([render.project(state, k, api_version()) for k in state.projects])


@bp.get("/project/search")
def search_projects():
    """GET /project/search (Cloud): offset-paged projects, optional `query` on key/name."""
    state = site()
    if state.flavour != "cloud":
        raise JiraError(404, ["null for uri: " + request.url])
    query = request.args.get("query", "").lower()
    with state.lock:
        values = [render.project(state, k, api_version()) for k, p in state.projects.items()
                  if query in k.lower() or query in p["name"].lower()]
    return jsonify(page(values, int_arg("startAt", 0), min(int_arg("maxResults", 50), 100)))


@bp.get("/project/<key>")
def get_project(key):
    """GET /project/{projectIdOrKey}: with components and issue types."""
    state = site()
    with state.lock:
        return jsonify(render.project(state, _project_or_404(key), api_version(), full=True))


@bp.get("/project/<key>/components")
def project_components(key):
    """GET /project/{key}/components."""
    state = site()
    with state.lock:
        project = state.projects[_project_or_404(key)]
        return jsonify([render.component(state, c, api_version()) for c in project["components"]])


@bp.get("/project/<key>/statuses")
def project_statuses(key):
    """GET /project/{key}/statuses: the workflow's statuses per issue type."""
    state = site()
    with state.lock:
        workflow = state.workflow(_project_or_404(key))
    statuses = [render.status(state, s, api_version()) for s in workflow.statuses]
    return jsonify([{"self": render.issuetype(state, n, api_version())["self"], "id": ISSUE_TYPES[n][0],
                     "name": n, "subtask": False, "statuses": statuses} for n in ISSUE_TYPES])


@bp.get("/issuetype")
def list_issuetypes():
    """GET /issuetype."""
    return jsonify([render.issuetype(site(), n, api_version()) for n in ISSUE_TYPES])


@bp.get("/field")
def list_fields():
    """GET /field: system fields and custom fields with their schema."""
    fields = [{"id": fid, "key": fid, "name": name, "custom": False, "orderable": True, "navigable": True,
               "searchable": True, "clauseNames": clauses, **({"schema": schema} if schema else {})}
              for fid, (name, schema, clauses) in SYSTEM_FIELDS.items()]
    fields += [{"id": f.id, "key": f.id, "name": f.name, "untranslatedName": f.name, "custom": True,
                "orderable": True, "navigable": True, "searchable": True,
                "clauseNames": [f"cf[{f.numeric_id}]", f.name], "schema": f.schema()} for f in CUSTOM_FIELDS]
    return jsonify(fields)


def _createmeta_page(values: list, cloud_key: str) -> dict:
    """A createmeta page: Cloud's {maxResults, startAt, total, <cloud_key>}, Server/DC's {..., isLast, values}."""
    start_at, max_results = int_arg("startAt", 0), int_arg("maxResults", 50)
    chunk = values[start_at:start_at + max_results]
    body = {"maxResults": max_results, "startAt": start_at, "total": len(values)}
    if site().flavour == "cloud":
        return body | {cloud_key: chunk}
    return body | {"isLast": start_at + len(chunk) >= len(values), "values": chunk}


@bp.get("/issue/createmeta/<key>/issuetypes")
def createmeta_issuetypes(key):
    """GET /issue/createmeta/{projectIdOrKey}/issuetypes: a page of the issue types a project can create."""
    state = site()
    with state.lock:
        _project_or_404(key)
    return jsonify(_createmeta_page([render.issuetype(state, n, api_version()) for n in ISSUE_TYPES], "issueTypes"))


@bp.get("/issue/createmeta/<key>/issuetypes/<type_id>")
def createmeta_fields(key, type_id):
    """GET /issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}: a page of the create screen's fields,
    with their required flags and allowed values."""
    state = site()
    with state.lock:
        project = _project_or_404(key)
        itype = next((name for name, (tid, _, _) in ISSUE_TYPES.items() if tid == type_id), None)
        if itype is None:
            raise JiraError(404, [f"The issue type with id '{type_id}' does not exist"])
        required = state.required_fields(project, itype)
        fields = [render.create_field(state, project, itype, f, f in required, api_version())
                  for f in state.create_screen()]
    return jsonify(_createmeta_page(fields, "fields"))


@bp.get("/status")
def list_statuses():
    """GET /status: every status with its category."""
    return jsonify([render.status(site(), name, api_version()) for name in STATUSES])


@bp.get("/status/<ref>")
def get_status(ref):
    """GET /status/{idOrName}."""
    name = next((n for n, v in STATUSES.items() if ref in (n, v[0])), None)
    if name is None:
        raise JiraError(404, [f"The status with id '{ref}' does not exist"])
    return jsonify(render.status(site(), name, api_version()))


@bp.get("/statuscategory")
def list_status_categories():
    """GET /statuscategory."""
    return jsonify([render.status_category(site(), c["key"], api_version()) for c in STATUS_CATEGORIES])


@bp.get("/priority")
def list_priorities():
    """GET /priority (highest first)."""
    return jsonify([render.priority(site(), name, api_version()) for _, name in PRIORITIES])


@bp.get("/resolution")
def list_resolutions():
    """GET /resolution."""
    return jsonify([render.resolution(site(), name, api_version()) for name in RESOLUTIONS])


@bp.get("/myself")
def myself():
    """GET /myself: the authenticated user."""
    return jsonify(render.user(site(), caller_id(), api_version()))


@bp.get("/user")
def get_user():
    """GET /user?accountId= (Cloud) or ?username= / ?key= (Server)."""
    state = site()
    ref = request.args.get("accountId") if state.flavour == "cloud" else \
        request.args.get("username") or request.args.get("key")
    if not ref:
        raise JiraError(400, ["The query parameter 'accountId' is required." if state.flavour == "cloud"
                              else "Either the 'username' or the 'key' query parameters need to be provided"])
    with state.lock:
        user = state.find_user(ref)
    if user is None:
        raise JiraError(404, [f"The user named '{ref}' does not exist"])
    return jsonify(render.user(state, user["accountId"], api_version()))


@bp.get("/user/search")
def search_users():
    """GET /user/search?query= (Cloud) / ?username= (Server): substring match on name or email."""
    state = site()
    query = (request.args.get("query") or request.args.get("username") or "").lower()
    with state.lock:
        found = [uid for uid, u in state.users.items()
                 if query in u["displayName"].lower() or query in u["emailAddress"].lower()
                 or query in u["name"].lower()]
        users = [render.user(state, uid, api_version()) for uid in found]
    start_at, max_results = int_arg("startAt", 0), min(int_arg("maxResults", 50), 1000)
    return jsonify(users[start_at:start_at + max_results])


@bp.get("/serverInfo")
def server_info():
    """GET /serverInfo (anonymous allowed): deployment type and version."""
    state = site()
    cloud = state.flavour == "cloud"
    version, numbers = CLOUD_VERSION if cloud else SERVER_VERSION
    return jsonify({"baseUrl": state.base_url, "version": version, "versionNumbers": numbers,
                    "deploymentType": "Cloud" if cloud else "Server", "buildNumber": 100000 if cloud else 912002,
                    "buildDate": "2024-01-01T00:00:00.000+0000", "serverTime": render.jira_time(now_utc()),
                    "scmInfo": "sandbox", "serverTitle": "Jira Sandbox"})
