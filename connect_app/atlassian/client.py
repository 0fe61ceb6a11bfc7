"""The Jira REST client: one per connection, Cloud (v3) and Server/DC (v2) behind one interface.

Built by `connect_app.connections.access.jira_client(connection)`. Requests go through
atlassian-python-api's `Jira` (URL building, default headers, our `requests.Session` with the
connection's auth), and every call
passes through `JiraClient._send`, the ONE place with timeouts, retries and error mapping:
429 and 503 honour `Retry-After`, other transient faults back off exponentially with jitter,
tries are bounded, and what still fails is raised as a typed `JiraError`.

The flavour differences (enhanced token-paged search vs startAt search, ADF vs wiki-text
descriptions, accountId vs name/key users, the changelog endpoint vs `expand=changelog`) stay
inside this module so that no caller branches on them. `normalize_issue` is in
`connect_app.atlassian.issue_json` and re-exported here.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import requests
from atlassian import Jira
from urllib3.exceptions import NewConnectionError

from connect_app.atlassian.issue_json import (
    SYNC_FIELDS,
    normalize_issue,
    parse_jira_time,
    text_to_adf,
)

log = logging.getLogger(__name__)

APP_KEY = "ai.cscx.jira"
DEFAULT_TIMEOUT_S = 30
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
NOT_ACTED_ON = frozenset({429, 503})  # "not now": safe to send again even what is not idempotent
CLOUD_PAGE_MAX = 100  # enhanced search: at most 100 issues per page when fields are requested
CLOUD_IDS_PAGE_MAX = 5000  # enhanced search: up to 5000 when only ids are requested
SERVER_PAGE_MAX = 1000  # jira.search.views.default.max on Server/DC
CHANGELOG_PAGE = 100
PROJECT_PAGE = 50
WEBHOOK_PAGE = 100

# Endpoints. Relative paths live under `rest/api/<2|3>/`; those starting with `/rest/` are other
# REST APIs of the site (the Server/DC admin webhook APIs).
SEARCH_JQL = "search/jql"  # Cloud's enhanced search (the old /search is gone on Cloud)
SEARCH = "search"  # Server/DC search, startAt paging
APPROXIMATE_COUNT = "search/approximate-count"
ISSUES = "issue"
ISSUE = "issue/{key}"
ISSUE_CHANGELOG = "issue/{key}/changelog"
ISSUE_PROPERTY = "issue/{key}/properties/{prop}"
ISSUE_PROPERTIES_MULTI = "issue/properties/multi"  # Cloud: up to 100 issues, 10 properties each, per request
ISSUE_PROPERTIES_MULTI_MAX = 100
ISSUE_BULK_FETCH = "issue/bulkfetch"  # Cloud: issues by id, no JQL
BULK_FETCH_MAX = 100  # bulkfetch's limit when changelog is expanded; also the ids per `id in (...)` on Server
FIELDS = "field"
CREATE_META_TYPES = "issue/createmeta/{project}/issuetypes"  # Cloud, and Server/DC 8.4+ (the old endpoint is gone)
CREATE_META_FIELDS = "issue/createmeta/{project}/issuetypes/{type}"
CREATE_META_PAGE = 50
STATUSES = "status"
PRIORITIES = "priority"  # highest first; the whole list on Cloud and Server/DC alike
SERVER_INFO = "serverInfo"
MYSELF = "myself"
PROJECT_SEARCH = "project/search"
PROJECTS = "project"
DYNAMIC_WEBHOOKS = "webhook"  # Cloud dynamic webhooks (OAuth 2.0 and Connect apps)
DYNAMIC_WEBHOOKS_REFRESH = "webhook/refresh"
ADMIN_WEBHOOKS_LEGACY = "/rest/webhooks/1.0/webhook"  # Jira Server/DC 8.x and 9.x
ADMIN_WEBHOOKS_DC10 = "/rest/jira-webhook/1.0/webhooks"  # Jira Data Center 10.0 and later

__all__ = [
    "APP_KEY",
    "SYNC_FIELDS",
    "JiraAuthError",
    "JiraBadRequest",
    "JiraClient",
    "JiraError",
    "JiraNotFound",
    "JiraObserver",
    "JiraRateLimited",
    "RetryPolicy",
    "normalize_issue",
    "parse_jira_time",
]


class JiraError(Exception):
    """A Jira call failed: HTTP `status` (0 for a network fault), Jira's `messages` and field `errors`."""

    def __init__(self, status: int, messages: list[str] | None = None, errors: dict | None = None,
                 retry_after: float | None = None):
        self.status = status
        self.messages = list(messages or [])
        self.errors = dict(errors or {})
        self.retry_after = retry_after
        text = "; ".join(self.messages + [f"{k}: {v}" for k, v in self.errors.items()]) or "no details"
        super().__init__(f"Jira answered {status}: {text}")


class JiraBadRequest(JiraError):
    """400: the request (e.g. a JQL query) is invalid; `messages` say why, in Jira's words."""


class JiraAuthError(JiraError):
    """401/403: the connection's credentials are refused or lack permission."""


class JiraNotFound(JiraError):
    """404: the issue (or property) does not exist or is not visible to us."""


class JiraRateLimited(JiraError):
    """429/503 still returned after the bounded retries (or a Retry-After longer than we wait)."""


def _error_class(status: int) -> type[JiraError]:
    if status == 400:
        return JiraBadRequest
    if status in (401, 403):
        return JiraAuthError
    if status == 404:
        return JiraNotFound
    if status in (429, 503):
        return JiraRateLimited
    return JiraError


def _never_sent(exc: requests.RequestException) -> bool:
    """Whether the request cannot have reached Jira (no connection was made)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass
class RetryPolicy:
    """How hard to try: bounded tries, exponential backoff with jitter, Retry-After honoured."""

    max_tries: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    max_retry_after_s: float = 120.0  # a longer Retry-After is raised instead of slept through
    jitter: float = 0.25  # extra random share added on top of the wait (never subtracted)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """The wait before retry number `attempt` (1-based)."""
        if retry_after is not None:
            # Retry-After is the minimum the server asked for: wait at least that, plus jitter
            # so that many workers limited together do not come back on the same tick.
            return retry_after * (1 + self.rng.uniform(0, self.jitter)) + self.rng.uniform(0, 0.05)
        backoff = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        return backoff * (1 + self.rng.uniform(0, self.jitter))


class JiraObserver:
    """What `_send` reports: each try's answer and each wait before a retry. This base ignores both;
    `connect_app.platform.metrics.JiraMetrics` counts them (this module stays free of metrics)."""

    def answered(self, method: str, status: int) -> None:
        """One try ended with this HTTP status (0: no answer, a network error or timeout)."""

    def waited(self, status: int, seconds: float) -> None:
        """About to sleep `seconds` before retrying a try that ended with `status`."""


def _messages(response: requests.Response) -> tuple[list[str], dict]:
    try:
        body = response.json()
    except ValueError:
        text = (response.text or "").strip()
        return ([text[:500]] if text else [response.reason or "error"]), {}
    if isinstance(body, dict):
        messages = body.get("errorMessages") or ([body["message"]] if body.get("message") else [])
        return [str(m) for m in messages], dict(body.get("errors") or {})
    return [str(body)[:500]], {}


class JiraClient:
    """REST calls to one Jira site; one method per remote call (see module docstring)."""

    def __init__(self, base_url: str, *, flavour: str = "cloud", session: requests.Session | None = None,
                 timeout: int = DEFAULT_TIMEOUT_S, retry: RetryPolicy | None = None,
                 token_provider: Callable[[], str] | None = None, observer: JiraObserver | None = None):
        if flavour not in ("cloud", "server"):
            raise ValueError("flavour must be 'cloud' or 'server'")
        self.base_url = base_url.rstrip("/")
        self.flavour = flavour
        self.api_version = "3" if flavour == "cloud" else "2"
        self.session = session or requests.Session()
        self.retry = retry or RetryPolicy()
        self.token_provider = token_provider
        self.observer = observer or JiraObserver()
        self.requests_made = 0
        self._counting = threading.Lock()  # a sync's fetch threads share one client
        self.timeout = timeout
        # Retries are ours (retry_with_header=False, no backoff_and_retry): one place, typed errors.
        self._jira = Jira(url=self.base_url, session=self.session, cloud=flavour == "cloud", timeout=timeout,
                          api_version=self.api_version, advanced_mode=True, retry_with_header=False)

    @property
    def is_cloud(self) -> bool:
        """True for Jira Cloud (REST v3, enhanced search, accountIds)."""
        return self.flavour == "cloud"

    def _path(self, path: str) -> str:
        if path.startswith("/rest/"):
            return path.lstrip("/")
        return f"rest/api/{self.api_version}/{path.lstrip('/')}"

    def _send(self, method: str, path: str, *, params: dict | None = None, json: Any = None,
              ok: Iterable[int] = (), follow_redirects: bool = True, idempotent: bool = True) -> requests.Response:
        """Send one request with bounded retries; return the response or raise a typed JiraError.

        A request that is not `idempotent` (creating an issue) is retried only when Jira cannot have acted on
        it: the connection was never made, or Jira refused it for now (429, 503). A lost answer (a read timeout,
        a reset, a 500/502/504) is raised instead: sending it again could create the issue twice, and the
        caller knows how to look for what the first attempt did.
        """
        attempt = 0
        while True:
            attempt += 1
            if self.token_provider is not None:
                # OAuth: the provider returns a valid (refreshed if need be) access token.
                self.session.headers["Authorization"] = f"Bearer {self.token_provider()}"
            try:
                with self._counting:
                    self.requests_made += 1
                if follow_redirects:
                    response = self._jira.request(method, self._path(path), params=params, json=json,
                                                  advanced_mode=True)
                else:
                    # A 303 to a task: following it would replay a request signed for another URL.
                    response = self.session.request(method, f"{self.base_url}/{self._path(path)}", params=params,
                                                    json=json, headers={"Accept": "application/json"},
                                                    timeout=self.timeout, allow_redirects=False)
            except (requests.ConnectionError, requests.Timeout) as exc:
                self.observer.answered(method, 0)
                if attempt >= self.retry.max_tries or not (idempotent or _never_sent(exc)):
                    raise JiraError(0, [f"network error: {type(exc).__name__}"]) from exc
                wait = self.retry.delay(attempt, None)
                log.warning("jira.retry", extra={"path": path, "status": 0, "attempt": attempt, "wait_s": wait})
                self.observer.waited(0, wait)
                self.retry.sleep(wait)
                continue
            status = response.status_code
            self.observer.answered(method, status)
            if status < 400 or status in ok:
                return response
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            retryable = status in (RETRY_STATUSES if idempotent else NOT_ACTED_ON) and attempt < self.retry.max_tries
            if retryable and retry_after is not None and retry_after > self.retry.max_retry_after_s:
                retryable = False
            if not retryable:
                messages, errors = _messages(response)
                log.info("jira.error", extra={"path": path, "status": status, "attempts": attempt})
                raise _error_class(status)(status, messages, errors, retry_after)
            wait = self.retry.delay(attempt, retry_after if status in (429, 503) else None)
            log.warning("jira.retry", extra={"path": path, "status": status, "attempt": attempt, "wait_s": wait})
            self.observer.waited(status, wait)
            self.retry.sleep(wait)

    def _json(self, method: str, path: str, **kwargs) -> Any:  # kwargs: those of _send
        response = self._send(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    # ---- search ---------------------------------------------------------------------------

    def search_pages(self, jql: str, fields: Iterable[str] = SYNC_FIELDS, page_size: int = 100,
                     expand: Iterable[str] = (), cursor: str | int | None = None,
                     ) -> Iterator[tuple[list[dict], str | int | None]]:
        """Yield (issues, next_cursor) page by page; next_cursor resumes after that page (None at the end).

        Cloud: POST /rest/api/3/search/jql with nextPageToken paging; Server: POST /rest/api/2/search
        with startAt. `cursor` is a cursor previously yielded (a checkpoint) to resume from.
        """
        fields = list(fields)
        ids_only = set(fields) <= {"id", "key"}
        cap = (CLOUD_IDS_PAGE_MAX if ids_only else CLOUD_PAGE_MAX) if self.is_cloud else SERVER_PAGE_MAX
        size = max(1, min(page_size, cap))
        expand = ",".join(expand)
        while True:
            if self.is_cloud:
                body: dict[str, Any] = {"jql": jql, "fields": fields, "maxResults": size}
                if expand:
                    body["expand"] = expand
                if cursor:
                    body["nextPageToken"] = cursor
                page = self._json("POST", SEARCH_JQL, json=body)
                issues = page.get("issues") or []
                token = page.get("nextPageToken")
                cursor = None if page.get("isLast", not token) or not token else token
            else:
                start = int(cursor or 0)
                body = {"jql": jql, "fields": fields, "maxResults": size, "startAt": start}
                if expand:
                    body["expand"] = expand.split(",")
                page = self._json("POST", SEARCH, json=body)
                issues = page.get("issues") or []
                following = start + len(issues)
                cursor = following if issues and following < int(page.get("total", 0)) else None
            yield issues, cursor
            if cursor is None:
                return

    def search_ids(self, jql: str) -> set[str]:
        """Every matching issue's id (ids-only pages: cheap, used for reconciliation)."""
        found: set[str] = set()
        for issues, _ in self.search_pages(jql, fields=["id"], page_size=CLOUD_IDS_PAGE_MAX):
            found.update(str(issue["id"]) for issue in issues)
        return found

    def fetch_issues(self, ids: Iterable[str | int], fields: Iterable[str] = SYNC_FIELDS,
                     expand: Iterable[str] = ()) -> list[dict]:
        """The issues with these ids (up to `BULK_FETCH_MAX` per request); one Jira no longer shows is left out.

        Cloud: POST /rest/api/3/issue/bulkfetch (no JQL to evaluate; an expanded changelog holds the newest 40
        histories, its `total` telling the caller when to page the rest). Server/DC has no bulk fetch: an
        `id in (...)` search. An issue Cloud could not return for now (`issueErrors`) is asked for once more,
        then raised: leaving it out silently would drop it from the run.
        """
        ids = [str(int(i)) for i in ids]  # ids are digits: nothing to quote in JQL, checked anyway
        fields, expand = list(fields), list(expand)
        issues: list[dict] = []
        for start in range(0, len(ids), BULK_FETCH_MAX):
            chunk = ids[start:start + BULK_FETCH_MAX]
            if not self.is_cloud:
                body = {"jql": f"id in ({', '.join(chunk)})", "fields": fields, "maxResults": len(chunk),
                        "startAt": 0}
                if expand:
                    body["expand"] = expand
                issues += self._json("POST", SEARCH, json=body).get("issues") or []
                continue
            for attempt in (1, 2):
                answer = self._json("POST", ISSUE_BULK_FETCH, json={
                    "issueIdsOrKeys": chunk, "fields": fields, "expand": expand}) or {}
                issues += answer.get("issues") or []
                errors = [e for e in answer.get("issueErrors") or [] if isinstance(e, dict)]
                chunk = [str(e.get("id")) for e in errors]
                if not errors:
                    break
                if attempt == 2:
                    raise JiraError(200, [f"issue {e.get('id')}: {e.get('errorMessage') or 'not returned'}"
                                          for e in errors[:5]])
        return issues

    def approximate_count(self, jql: str) -> int:
        """How many issues match (Cloud: /search/approximate-count; Server: the search total)."""
        if self.is_cloud:
            return int(self._json("POST", APPROXIMATE_COUNT, json={"jql": jql})["count"])
        return int(self._json("POST", SEARCH, json={"jql": jql, "fields": ["id"], "maxResults": 0})["total"])

    def validate_jql(self, jql: str) -> None:
        """Ask Jira whether `jql` is valid; raises JiraBadRequest with Jira's errorMessages if not."""
        if self.is_cloud:
            self._json("POST", SEARCH_JQL, json={"jql": jql, "fields": ["id"], "maxResults": 1})
        else:
            self._json("POST", SEARCH, json={"jql": jql, "fields": ["id"], "maxResults": 0,
                                               "validateQuery": "strict"})

    # ---- issues ---------------------------------------------------------------------------

    def get_issue(self, key: str, fields: Iterable[str] | None = None, expand: Iterable[str] = ()) -> dict:
        """GET /issue/{key}: the issue JSON (all fields unless `fields` is given)."""
        params: dict[str, str] = {}
        if fields is not None:
            params["fields"] = ",".join(fields)
        if expand:
            params["expand"] = ",".join(expand)
        return self._json("GET", _issue_path(ISSUE, key), params=params or None)

    def iter_changelog(self, key: str) -> Iterator[dict]:
        """Every changelog history of an issue, oldest first (Cloud: paged endpoint; Server: expand)."""
        if not self.is_cloud:
            issue = self.get_issue(key, fields=["id"], expand=["changelog"])
            histories = (issue.get("changelog") or {}).get("histories") or []
            yield from sorted(histories, key=lambda h: (h.get("created") or "", int(h.get("id") or 0)))
            return
        start = 0
        while True:
            page = self._json("GET", _issue_path(ISSUE_CHANGELOG, key),
                              params={"startAt": start, "maxResults": CHANGELOG_PAGE})
            values = page.get("values") or []
            yield from values
            start += len(values)
            if not values or page.get("isLast", start >= int(page.get("total", 0))):
                return

    def create_issue(self, fields: dict, properties: dict[str, Any] | None = None) -> dict:
        """POST /issue: create an issue; a plain-text `description` is converted for Cloud (ADF). Returns {id, key}.

        `properties` are entity properties set in the same request: the issue never exists without them.
        """
        fields = dict(fields)
        if self.is_cloud and isinstance(fields.get("description"), str):
            fields["description"] = text_to_adf(fields["description"])
        request: dict[str, Any] = {"fields": fields}
        if properties:
            request["properties"] = [{"key": key, "value": value} for key, value in properties.items()]
        body = self._json("POST", ISSUES, json=request, idempotent=False)
        return {"id": str(body["id"]), "key": body["key"]}

    def edit_issue(self, key: str, fields: dict | None = None, update: dict | None = None) -> None:
        """PUT /issue/{key} with `fields` and/or `update` operations."""
        body: dict[str, Any] = {}
        if fields:
            body["fields"] = dict(fields)
            if self.is_cloud and isinstance(body["fields"].get("description"), str):
                body["fields"]["description"] = text_to_adf(body["fields"]["description"])
        if update:
            body["update"] = update
        self._send("PUT", _issue_path(ISSUE, key), json=body)

    def get_issue_property(self, key: str, prop: str) -> Any:
        """The value of an issue entity property, None when it is not set."""
        try:
            body = self._json("GET", _issue_path(ISSUE_PROPERTY, key, prop))
        except JiraNotFound:
            return None
        return body.get("value")

    def set_issue_property(self, key: str, prop: str, value: Any) -> None:
        """PUT an issue entity property (any JSON value)."""
        self._send("PUT", _issue_path(ISSUE_PROPERTY, key, prop), json=value)

    def set_issue_properties(self, values: list[tuple[str, dict[str, Any]]]) -> list[str]:
        """Set properties on many issues: `(issue id, {property key: value})` pairs; returns the ids Jira lacks.

        Cloud: POST /issue/properties/multi, up to 100 issues per request (an asynchronous task
        Jira answers with 303 See Other; the task's progress is not awaited, and issues it lacks
        are skipped by Jira). Server/DC has no bulk API: one PUT per property.
        """
        if self.is_cloud:
            for start in range(0, len(values), ISSUE_PROPERTIES_MULTI_MAX):
                body = {"issues": [{"issueID": int(issue_id), "properties": properties}
                                   for issue_id, properties in values[start:start + ISSUE_PROPERTIES_MULTI_MAX]]}
                self._send("POST", ISSUE_PROPERTIES_MULTI, json=body, ok=(303,), follow_redirects=False)
            return []
        missing = []
        for issue_id, properties in values:
            try:
                for prop, value in properties.items():
                    self.set_issue_property(str(issue_id), prop, value)
            except JiraNotFound:
                missing.append(str(issue_id))
        return missing

    def delete_issue_property(self, key: str, prop: str) -> None:
        """DELETE an issue entity property; absent already is fine."""
        self._send("DELETE", _issue_path(ISSUE_PROPERTY, key, prop), ok=(404,))

    # ---- site metadata --------------------------------------------------------------------

    def get_fields(self) -> list[dict]:
        """GET /field: every system and custom field with its schema."""
        return self._json("GET", FIELDS)

    def get_statuses(self) -> list[dict]:
        """GET /status: every status with its category."""
        return self._json("GET", STATUSES)

    def get_priorities(self) -> list[dict]:
        """GET /priority: the site's priorities, highest first."""
        return self._json("GET", PRIORITIES)

    def server_info(self) -> dict:
        """GET /serverInfo: deployment type, version, serverTime."""
        return self._json("GET", SERVER_INFO)

    def myself(self) -> dict:
        """GET /myself: the user we act as (its timeZone decides how JQL dates are read)."""
        return self._json("GET", MYSELF)

    def create_meta_issue_types(self, project: str) -> list[dict]:
        """GET /issue/createmeta/{project}/issuetypes: the issue types a user may create in a project (paged)."""
        return self._meta_pages(CREATE_META_TYPES.format(project=quote(project, safe="")), "issueTypes")

    def create_meta_fields(self, project: str, issue_type_id: str) -> list[dict]:
        """GET /issue/createmeta/{project}/issuetypes/{id}: the create screen's fields and allowed values."""
        path = CREATE_META_FIELDS.format(project=quote(project, safe=""), type=quote(issue_type_id, safe=""))
        return self._meta_pages(path, "fields")

    def _meta_pages(self, path: str, cloud_key: str) -> list[dict]:
        """Every value of a create-metadata list (Cloud names it `issueTypes` / `fields`, Server/DC `values`)."""
        values: list[dict] = []
        while True:
            page = self._json("GET", path, params={"startAt": len(values), "maxResults": CREATE_META_PAGE}) or {}
            batch = [v for v in page.get(cloud_key if self.is_cloud else "values") or [] if isinstance(v, dict)]
            values.extend(batch)
            total = page.get("total")
            if not batch or page.get("isLast") or (isinstance(total, int) and len(values) >= total):
                return values

    def project_keys(self) -> list[str]:
        """Keys of every project the credentials can browse (Cloud: GET /project/search, paged; Server/DC has no
        /project/search: GET /project, the whole list)."""
        projects = self._paged(PROJECT_SEARCH, PROJECT_PAGE) if self.is_cloud else self._json("GET", PROJECTS) or []
        return [str(p["key"]) for p in projects if isinstance(p, dict) and p.get("key")]

    # ---- webhooks -------------------------------------------------------------------------

    def register_dynamic_webhooks(self, url: str, webhooks: list[dict]) -> list[dict]:
        """POST /webhook (Cloud): register dynamic webhooks; Jira's webhookRegistrationResult, one per webhook."""
        answer = self._json("POST", DYNAMIC_WEBHOOKS, json={"url": url, "webhooks": webhooks}) or {}
        return [r for r in answer.get("webhookRegistrationResult") or [] if isinstance(r, dict)]

    def list_dynamic_webhooks(self) -> list[dict]:
        """GET /webhook (Cloud): every dynamic webhook this app registered on the site."""
        return self._paged(DYNAMIC_WEBHOOKS, WEBHOOK_PAGE)

    def refresh_dynamic_webhooks(self, ids: list[int]) -> str | None:
        """PUT /webhook/refresh (Cloud): extend dynamic webhooks by 30 days; returns the new expirationDate."""
        answer = self._json("PUT", DYNAMIC_WEBHOOKS_REFRESH, json={"webhookIds": list(ids)}) or {}
        return answer.get("expirationDate")

    def delete_dynamic_webhooks(self, ids: list[int]) -> None:
        """DELETE /webhook (Cloud): remove dynamic webhooks by id."""
        self._send("DELETE", DYNAMIC_WEBHOOKS, json={"webhookIds": list(ids)})

    def create_admin_webhook(self, api: str, body: dict) -> str | None:
        """POST an admin webhook through a Server/DC webhook API (`ADMIN_WEBHOOKS_*`); returns its id if Jira gave one.

        Needs a Jira administrator (401/403 otherwise, raised as JiraAuthError).
        """
        try:
            answer = self._json("POST", api, json=body)
        except ValueError:  # a 2xx without JSON: registered or not, we cannot tell which webhook it is
            return None
        return _admin_webhook_id(answer)

    def delete_admin_webhook(self, api: str, hook_id: str) -> None:
        """DELETE an admin webhook by id through a Server/DC webhook API; absent already is fine."""
        self._send("DELETE", f"{api}/{quote(str(hook_id), safe='')}", ok=(404,))

    def _paged(self, path: str, page_size: int) -> list[dict]:
        """Every value of a startAt/isLast paged list endpoint."""
        values: list[dict] = []
        while True:
            page = self._json("GET", path, params={"startAt": len(values), "maxResults": page_size}) or {}
            batch = page.get("values") or []
            values.extend(batch)
            if not batch or page.get("isLast", True):
                return values


def _issue_path(template: str, key: str, prop: str | None = None) -> str:
    return template.format(key=quote(key, safe=""), prop=quote(prop or "", safe=""))


def _admin_webhook_id(body: Any) -> str | None:
    """The id of a created admin webhook: `id` (DC 10) or the tail of `self` (the 1.0 API)."""
    if not isinstance(body, dict):
        return None
    if body.get("id") is not None:
        return str(body["id"])
    tail = str(body.get("self") or "").rstrip("/").rsplit("/", 1)[-1]
    return tail if tail.isdigit() else None

