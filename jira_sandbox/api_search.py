"""Search endpoints, and fetching issues by id in bulk.

Cloud: `GET|POST /search/jql` (enhanced search: token paging, no total, only ids unless fields
are asked for), `POST /search/approximate-count`, `POST /issue/bulkfetch` (up to 100 issues by id
or key, in ascending id order) and the removed `/search` answering 410.
Server: `GET|POST /search` with startAt / maxResults / total.
"""

from __future__ import annotations

from flask import current_app, jsonify, request

from jira_sandbox import render
from jira_sandbox.errors import JiraError
from jira_sandbox.rest import api_version, bp, caller_id, int_arg, json_body, list_arg, site
from jira_sandbox.search import UNBOUNDED, decode_token, encode_token, is_unbounded

REMOVED = ("The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
           "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046")
ENHANCED_DEFAULT, ENHANCED_MAX, ENHANCED_MAX_IDS = 50, 100, 5000
SERVER_DEFAULT, SERVER_MAX = 50, 1000
BULK_FETCH_MAX = 100  # Jira's limit whenever changelog (or a multi-valued field) is asked for
BULK_CHANGELOG_MAX = 40  # bulkfetch's changelog: the newest 40 histories, `total` telling how many there are


def _params() -> dict | None:
    """The POST body, or None for GET (then parameters come from the query string)."""
    return json_body() if request.method == "POST" else None


def _expand(body: dict | None) -> tuple[str, ...]:
    raw = body.get("expand") if body is not None else request.args.get("expand")
    if isinstance(raw, list):
        raw = ",".join(raw)
    return tuple(e.strip() for e in (raw or "").split(",") if e.strip())


def _keys(jql: str) -> list[str]:
    return current_app.extensions["jira_sandbox.search"].keys(site(), jql, caller_id())


def _properties(body: dict | None) -> list[str]:
    raw = body.get("properties") if body is not None else list_arg("properties")
    if isinstance(raw, str):
        raw = raw.split(",")
    return [p.strip() for p in raw or [] if p.strip()]


def _render_page(keys: list[str], fields, expand, properties: list[str] = ()) -> list[dict]:
    state = site()
    rendered = []
    with state.lock:
        for issue in (state.issues[k] for k in keys if k in state.issues):
            body = {"id": issue["id"]} if fields == {"id"} and not properties else \
                state.render_issue(issue, fields=fields, expand=expand, api_version=api_version())
            if properties:
                body["properties"] = {p: issue["properties"][p] for p in properties if p in issue["properties"]}
            rendered.append(body)
    return rendered


@bp.route("/search/jql", methods=["GET", "POST"])
def enhanced_search():
    """Cloud enhanced JQL search: {"issues", "nextPageToken"?, "isLast"}; no total."""
    if site().flavour != "cloud":
        raise JiraError(404, ["null for uri: " + request.url])
    body = _params()
    source = body if body is not None else request.args
    jql = source.get("jql") or ""
    if is_unbounded(jql):
        raise JiraError(400, [UNBOUNDED])
    fields = render.select_fields(list_arg("fields", body), "id")
    cap = ENHANCED_MAX_IDS if fields <= {"id", "key"} else ENHANCED_MAX
    max_results = min(int_arg("maxResults", ENHANCED_DEFAULT, source), cap)
    offset = decode_token(jql, source.get("nextPageToken"))
    keys = _keys(jql)
    chunk = keys[offset:offset + max_results]
    result: dict = {"issues": _render_page(chunk, fields, _expand(body), _properties(body))}
    is_last = offset + len(chunk) >= len(keys)
    if not is_last:
        result["nextPageToken"] = encode_token(jql, offset + len(chunk))
    result["isLast"] = is_last
    return jsonify(result)


@bp.post("/search/approximate-count")
def approximate_count():
    """Cloud: POST {"jql"} -> {"count": N}."""
    if site().flavour != "cloud":
        raise JiraError(404, ["null for uri: " + request.url])
    jql = json_body().get("jql") or ""
    if is_unbounded(jql):
        raise JiraError(400, [UNBOUNDED])
    return jsonify({"count": len(_keys(jql))})


@bp.route("/search", methods=["GET", "POST"])
def search():
    """Server: offset-paged search with total. Cloud: 410 Gone (removed in 2025)."""
    if site().flavour == "cloud":
        return jsonify({"errorMessages": [REMOVED], "errors": {}}), 410
    body = _params()
    source = body if body is not None else request.args
    jql = source.get("jql") or ""
    fields = render.select_fields(list_arg("fields", body), "*navigable")
    start_at = int_arg("startAt", 0, source)
    max_results = min(int_arg("maxResults", SERVER_DEFAULT, source), SERVER_MAX)
    keys = _keys(jql)
    chunk = keys[start_at:start_at + max_results]
    return jsonify({"expand": "schema,names", "startAt": start_at, "maxResults": max_results,
                    "total": len(keys), "issues": _render_page(chunk, fields, _expand(body))})


@bp.post("/issue/bulkfetch")
def bulk_fetch():
    """Cloud: POST {"issueIdsOrKeys", "fields", "expand": [...], "properties"} -> {"issues", "issueErrors"}.

    As Jira: issues in ascending id order, one that does not exist (or is not visible) silently left out, at
    most 100 per request, and an expanded changelog cut to the newest 40 histories (its `total` says more).
    """
    if site().flavour != "cloud":
        raise JiraError(404, ["null for uri: " + request.url])
    body = json_body()
    wanted = body.get("issueIdsOrKeys")
    if not isinstance(wanted, list) or not wanted or not all(isinstance(w, str | int) for w in wanted):
        raise JiraError(400, ["issueIdsOrKeys must be a non-empty list of issue ids or keys."])
    if len(wanted) > BULK_FETCH_MAX:
        raise JiraError(400, [f"You can request up to {BULK_FETCH_MAX} issues."])
    state = site()
    with state.lock:
        keys = {state.issue_ids.get(str(w), str(w).upper()) for w in wanted}
        found = sorted((state.issues[k] for k in keys if k in state.issues), key=lambda i: int(i["id"]))
    fields = render.select_fields(list_arg("fields", body), "*navigable")
    issues = _render_page([i["key"] for i in found], fields, _expand(body), _properties(body))
    for issue in issues:
        changelog = issue.get("changelog")
        if changelog:
            newest = sorted(changelog["histories"], key=lambda h: (h.get("created") or "", int(h["id"])),
                            reverse=True)[:BULK_CHANGELOG_MAX]
            issue["changelog"] = changelog | {"maxResults": BULK_CHANGELOG_MAX, "histories": newest}
    return jsonify({"expand": "schema,names", "issues": issues, "issueErrors": []})
