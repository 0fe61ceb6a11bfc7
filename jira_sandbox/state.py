"""In-memory state of one sandbox Jira site, and every mutation of it.

Everything the REST layer, the seeder, the webhooks and the pages touch lives here, guarded by
`state.lock`. Mutations bump `updated`, append Jira-shaped changelog histories and tell every
listener registered with `subscribe()` through an `IssueEvent`, after the lock is released.
"""

from __future__ import annotations

import copy
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jira_sandbox import catalog, render
from jira_sandbox.catalog import (
    ALWAYS_REQUIRED,
    CREATE_SCREEN_FIELDS,
    CUSTOM_FIELDS,
    DEFAULT_PRIORITY,
    DEFAULTED_ON_CREATE,
    ISSUE_TYPES,
    PRIORITIES,
    SERVER_REQUIRED,
    STATUSES,
    WORKFLOWS,
)
from jira_sandbox.changelog import diff_items
from jira_sandbox.edits import apply_update_ops, parse_fields, parse_value
from jira_sandbox.errors import JiraError, field_error, not_found


@dataclass
class IssueEvent:
    """One issue change, as the webhook sender needs it to render Jira's payload.

    `webhook_event` is "jira:issue_created" | "jira:issue_updated" | "jira:issue_deleted", or
    "issue_property_set" | "issue_property_deleted" for entity properties (Jira's own names).
    """

    webhook_event: str
    issue_event_type_name: str | None
    issue_key: str
    issue: dict
    history: dict | None
    user_id: str
    timestamp_ms: int
    property_key: str | None = None


def now_utc() -> datetime:
    """The current time, truncated to Jira's millisecond precision."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def create_defaults() -> dict:
    """A new project's create configuration: nothing required beyond the basics, every priority offered."""
    return {"required_fields": {n: [] for n in ISSUE_TYPES}, "priorities": [n for _, n in PRIORITIES],
            "default_priority": DEFAULT_PRIORITY}


class SandboxState:
    """One Jira site: users, projects, issues and their history."""

    def __init__(self, flavour: str = "cloud", base_url: str = "http://127.0.0.1"):
        if flavour not in ("cloud", "server"):
            raise ValueError("flavour must be 'cloud' or 'server'")
        self.lock = threading.RLock()
        self.flavour = flavour
        self.base_url = base_url.rstrip("/")
        self.cloud_id = "3f1c6a2e-5b7d-4c8e-9a0b-1d2e3f4a5b6c"
        self.admin_token = secrets.token_urlsafe(24)
        self.authenticators: list[Callable] = []
        self.listeners: list[Callable[[IssueEvent], None]] = []
        self.custom_fields = list(CUSTOM_FIELDS)
        self.customer_catalog: list[dict] = []
        self.faults: Any = None  # a faults.FaultConfig, set by create_app
        self.reset()

    # ---- site setup -------------------------------------------------------------------------

    def reset(self) -> None:
        """Empty the site back to its admin user (same credentials) and the default projects."""
        with self.lock:
            admin = self.users.get(self.admin_id) if hasattr(self, "admin_id") else None
            self.issues: dict[str, dict] = {}
            self.issue_ids: dict[str, str] = {}
            self.tasks: dict[str, dict] = {}  # long-running tasks (bulk property sets), by id
            self.users: dict[str, dict] = {}
            self.projects: dict[str, dict] = {}
            self.customer_catalog = []
            self.version = getattr(self, "version", 0) + 1
            self._next_issue_id = 10001
            self._next_history_id = 100000
            self._next_user = 1
            if admin is None:
                admin = self.add_user("Sandy Admin", "admin@sandbox.test", name="admin")
            self.users = {admin["accountId"]: admin}
            self._next_user = 2
            self.admin_id = admin["accountId"]
            for key, name, workflow, components in catalog.DEFAULT_PROJECTS:
                self.add_project(key, name, workflow, components)
            for (key, issuetype), fields in catalog.DEFAULT_REQUIRED_FIELDS.items():
                self.set_required_fields(key, fields, issuetype)

    @property
    def admin(self) -> dict:
        """The site admin, whose credentials the CLI prints."""
        return self.users[self.admin_id]

    def add_user(self, display_name: str, email: str, name: str | None = None) -> dict:
        """Create a user with a Cloud API token, a Server password and a Server PAT."""
        with self.lock:
            n = self._next_user
            self._next_user += 1
            digest = hashlib.sha256(f"{email}:{n}".encode()).hexdigest()
            account_id = f"712020:{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
            user = {
                "accountId": account_id, "name": name or email.split("@")[0], "key": f"JIRAUSER{10000 + n}",
                "displayName": display_name, "emailAddress": email, "active": True,
                "timeZone": "Etc/UTC", "api_token": "ATATT3x" + secrets.token_urlsafe(24),
                "password": secrets.token_urlsafe(12), "pat": secrets.token_urlsafe(32),
            }
            self.users[account_id] = user
            return user

    def add_project(self, key: str, name: str, workflow: str, components: tuple | list = ()) -> dict:
        """Create a project using one of the catalogue's workflows, offering every priority."""
        with self.lock:
            pid = str(10000 + len(self.projects))
            comps = [{"id": str(int(pid) * 10 + i), "name": c, "description": f"{c} area"}
                     for i, c in enumerate(components)]
            project = {"id": pid, "key": key, "name": name, "workflow": workflow, "components": comps,
                       "lead": self.admin_id, "counter": 0, **create_defaults()}
            self.projects[key] = project
            return project

    def set_required_fields(self, project: str, fields: list[str] | tuple[str, ...],
                            issuetype: str | None = None) -> None:
        """Require `fields` (ids) on a project's create screen besides project, issue type and summary, for
        one issue type (name) or, when None, for every one; an empty list makes them optional again."""
        with self.lock:
            target = self.get_project(project)
            if issuetype is not None and issuetype not in ISSUE_TYPES:
                raise JiraError(400, [f"Unknown issue type '{issuetype}'."])
            screen = self.create_screen()
            unknown = [f for f in fields if f not in screen]
            if unknown:
                raise JiraError(400, [f"Field '{unknown[0]}' is not on the create screen."])
            for name in [issuetype] if issuetype else ISSUE_TYPES:
                target["required_fields"][name] = [f for f in screen if f in fields and f not in ALWAYS_REQUIRED]

    def set_priority_scheme(self, project: str, priorities: list[str] | None = None,
                            default: str | None = None) -> None:
        """Offer only `priorities` (names) in a project, None for every one; `default` (else Medium when
        offered, else the highest offered) is what a create that leaves the priority out gets."""
        every = [n for _, n in PRIORITIES]
        if priorities is not None and (not priorities or any(p not in every for p in priorities)):
            raise JiraError(400, [f"A priority scheme needs one or more of {', '.join(every)}."])
        offered = [n for n in every if priorities is None or n in priorities]
        default = default or (DEFAULT_PRIORITY if DEFAULT_PRIORITY in offered else offered[0])
        if default not in offered:
            raise JiraError(400, [f"The default priority '{default}' is not in the scheme."])
        with self.lock:
            target = self.get_project(project)
            target["priorities"], target["default_priority"] = offered, default

    def create_config(self, project: str) -> dict:
        """A project's create configuration: required fields per issue type, offered and default priority."""
        with self.lock:
            target = self.get_project(project)
            return {"required_fields": {n: self.required_fields(target["key"], n) for n in ISSUE_TYPES},
                    "priorities": list(target["priorities"]), "default_priority": target["default_priority"]}

    def create_screen(self) -> list[str]:
        """The field ids every create screen shows, in order."""
        return list(CREATE_SCREEN_FIELDS) + [f.id for f in self.custom_fields]

    def required_fields(self, project: str, issuetype: str) -> list[str]:
        """The field ids a project's create screen requires for an issue type (name), in screen order."""
        extra = self.projects[project]["required_fields"][issuetype]
        always = ALWAYS_REQUIRED + (SERVER_REQUIRED if self.flavour == "server" else ())
        return [f for f in self.create_screen() if f in always or f in extra]

    def subscribe(self, callback: Callable[[IssueEvent], None]) -> None:
        """Call `callback(event)` after every issue mutation (outside the lock)."""
        self.listeners.append(callback)

    def workflow(self, project_key: str) -> catalog.Workflow:
        """The workflow a project's issues follow."""
        return WORKFLOWS[self.projects[project_key]["workflow"]]

    def get_project(self, key_or_id: str) -> dict:
        """A project by key or id, or Jira's 404."""
        for project in self.projects.values():
            if key_or_id in (project["key"], project["id"]):
                return project
        raise JiraError(404, [f"No project could be found with key '{key_or_id}'."])

    def find_user(self, ref: str) -> dict | None:
        """A user by account id, username, key or email."""
        if ref in self.users:
            return self.users[ref]
        return next((u for u in self.users.values()
                     if ref in (u["name"], u["key"], u["emailAddress"])), None)

    def get_issue(self, key_or_id: str) -> dict:
        """The stored issue for a key or id, or a Jira 404."""
        key = self.issue_ids.get(key_or_id, key_or_id)
        issue = self.issues.get(key) or self.issues.get(key.upper())
        if issue is None:
            raise not_found()
        return issue

    def render_issue(self, issue: dict, fields: set[str] | None = None, expand=(), api_version: int = 3):
        """Jira's REST JSON for an issue (see `render.issue`)."""
        return render.issue(self, issue, fields=fields, expand=expand, api_version=api_version)

    def render_user(self, user_id: str | None, api_version: int = 3) -> dict | None:
        """Jira's REST JSON for a user, or None."""
        return render.user(self, user_id, api_version)

    # ---- mutations --------------------------------------------------------------------------

    def create_issue(self, fields: dict, actor: str, notify: bool = True, properties: dict | None = None) -> dict:
        """Validate REST `fields` and create an issue (with its entity `properties`); returns the stored issue."""
        errors = {}
        project = self._project_ref(fields.get("project"))
        if project is None:
            errors["project"] = "Specify a valid project ID or key" if fields.get("project") \
                else "project is required"
        itype = self._issuetype_ref(fields.get("issuetype"))
        if itype is None:
            errors["issuetype"] = "The issue type selected is invalid." if fields.get("issuetype") \
                else "Specify an issue type"
        if not fields.get("summary"):
            errors["summary"] = "You must specify a summary of the issue."
        if errors:
            raise JiraError(400, [], errors)
        rest = {k: v for k, v in fields.items() if k not in ("project", "issuetype")}
        with self.lock:
            errors = self._missing_required(project, itype, rest)
            try:
                values = parse_fields(self, project, rest)
            except JiraError as exc:
                raise JiraError(400, [], errors | exc.errors) from None
            if errors:
                raise JiraError(400, [], errors)
            issue = self._new_issue(project, itype, values.pop("summary"), actor, values)
            issue["properties"].update(copy.deepcopy(properties or {}))
            event = self._event("jira:issue_created", "issue_created", issue, None, actor)
        if notify:
            self._notify([event])
        return issue

    def import_issue(self, spec: dict, actor: str | None = None, notify: bool = True) -> dict:
        """Create an issue fast from internal values (any status), for seeding and tests."""
        with self.lock:
            project = spec.get("project", "CS")
            workflow = self.workflow(project)
            status = spec.get("status", workflow.initial)
            extra = {k: v for k, v in spec.items() if k not in ("project", "issuetype", "summary", "status")}
            issue = self._new_issue(project, spec.get("issuetype", "Task"), spec.get("summary", "Issue"),
                                    actor or self.admin_id, extra)
            self._set_status(issue, status)
            if issue["statusCategory"] == "done" and not issue["resolution"]:
                issue["resolution"] = "Done"
                issue["resolved"] = issue["updated"]
            event = self._event("jira:issue_created", "issue_created", issue, None, issue["reporter"])
        if notify:
            self._notify([event])
        return issue

    def edit_issue(self, key: str, fields: dict | None = None, update: dict | None = None,
                   actor: str | None = None) -> dict:
        """Apply REST `fields` and `update` to an issue; records one changelog history."""
        with self.lock:
            issue = self.get_issue(key)
            changes = parse_fields(self, issue["project"], fields or {})
            if update:
                overlap = set(changes) & set(update)
                if overlap:
                    field = sorted(overlap)[0]
                    raise field_error(field, f"Field '{field}' cannot be set and updated at the same time")
                changes.update(apply_update_ops(self, issue, update))
            history = self._apply(issue, changes, actor or self.admin_id)
            if history is None:
                return issue
            only_assignee = {i["fieldId"] for i in history["items"]} == {"assignee"}
            event = self._event("jira:issue_updated", "issue_assigned" if only_assignee else "issue_updated",
                                issue, history, actor)
        self._notify([event])
        return issue

    def transitions_for(self, key: str) -> list[catalog.Transition]:
        """Transitions available from the issue's current status."""
        with self.lock:
            issue = self.get_issue(key)
            return self.workflow(issue["project"]).available(issue["status"])

    def transition_issue(self, key: str, transition_id: str, actor: str | None = None,
                         fields: dict | None = None) -> dict:
        """Move an issue along its workflow, setting/clearing the resolution as Jira does."""
        with self.lock:
            issue = self.get_issue(key)
            transition = next((t for t in self.transitions_for(key) if t.id == str(transition_id)), None)
            if transition is None:
                raise JiraError(400, [f"Transition id '{transition_id}' is not valid for this issue."])
            changes = parse_fields(self, issue["project"], fields or {},
                                   allowed={"resolution", "assignee", "priority", "labels", "components"})
            to_done = STATUSES[transition.to][1] == "done"
            was_done = issue["statusCategory"] == "done"
            changes["status"] = transition.to
            if to_done and not changes.get("resolution"):
                changes["resolution"] = transition.resolution or "Done"
            if not to_done:
                changes["resolution"] = None
            history = self._apply(issue, changes, actor or self.admin_id)
            name = "issue_resolved" if to_done and not was_done else \
                "issue_reopened" if was_done and not to_done else "issue_generic"
            event = self._event("jira:issue_updated", name, issue, history, actor)
        self._notify([event])
        return issue

    def delete_issue(self, key: str, actor: str | None = None) -> None:
        """Remove an issue."""
        with self.lock:
            issue = self.get_issue(key)
            del self.issues[issue["key"]]
            del self.issue_ids[issue["id"]]
            self.version += 1
            event = self._event("jira:issue_deleted", "issue_deleted", issue, None, actor)
        self._notify([event])

    def set_property(self, key: str, prop: str, value: Any, actor: str | None = None) -> bool:
        """Store an issue entity property; True when it was created. Jira does not bump `updated`."""
        if not prop or len(prop) > 255:
            raise JiraError(400, ["The property key cannot be longer than 255 characters."])
        with self.lock:
            issue = self.get_issue(key)
            created = prop not in issue["properties"]
            issue["properties"][prop] = copy.deepcopy(value)
            self.version += 1
            event = self._event("issue_property_set", None, issue, None, actor, prop)
        self._notify([event])
        return created

    def set_properties_bulk(self, entries: list[tuple[int, dict[str, Any]]], actor: str | None = None) -> str:
        """Bulk set by issue (Cloud's /issue/properties/multi): applied at once, non-transactional; returns a task id.

        Issues that do not exist are skipped and named in the task's result, as Jira does.
        """
        missing, updated = [], 0
        for issue_id, properties in entries:
            try:
                self.get_issue(str(issue_id))
            except JiraError:
                missing.append(issue_id)
                continue
            for prop, value in properties.items():
                self.set_property(str(issue_id), prop, value, actor)
            updated += 1
        with self.lock:
            task_id = str(10000 + len(self.tasks))
            now = int(time.time() * 1000)
            self.tasks[task_id] = {"id": task_id, "description": "Bulk issue property update", "status": "COMPLETE",
                                   "submitted": now, "started": now, "finished": now, "progress": 100,
                                   "elapsedRuntime": 0, "lastUpdate": now,
                                   "result": {"updated": updated, "failedIssueIds": missing}}
        return task_id

    def delete_property(self, key: str, prop: str, actor: str | None = None) -> None:
        """Remove an issue entity property (404 if absent)."""
        with self.lock:
            issue = self.get_issue(key)
            if prop not in issue["properties"]:
                raise not_found(f"The property with key '{prop}' does not exist.")
            del issue["properties"][prop]
            self.version += 1
            event = self._event("issue_property_deleted", None, issue, None, actor, prop)
        self._notify([event])

    # ---- internals --------------------------------------------------------------------------

    def _project_ref(self, ref: Any) -> str | None:
        if isinstance(ref, str):
            ref = {"key": ref}
        if not isinstance(ref, dict):
            return None
        for project in self.projects.values():
            if ref.get("key") == project["key"] or str(ref.get("id")) == project["id"]:
                return project["key"]
        return None

    def _missing_required(self, project: str, issuetype: str, fields: dict) -> dict[str, str]:
        """Jira's "<Field> is required." for each required field a create leaves out or empty."""
        missing = {}
        for field_id in self.required_fields(project, issuetype):
            if field_id in ALWAYS_REQUIRED or field_id in DEFAULTED_ON_CREATE:
                continue
            try:
                value = parse_value(self, project, field_id, fields.get(field_id))
            except ValueError:
                continue  # parse_fields reports the field's own error
            if value in (None, "", []):
                missing[field_id] = f"{render.field_name(field_id)} is required."
        return missing

    @staticmethod
    def _issuetype_ref(ref: Any) -> str | None:
        if isinstance(ref, str):
            ref = {"name": ref}
        if not isinstance(ref, dict):
            return None
        for name, (tid, _, _) in ISSUE_TYPES.items():
            if ref.get("name") == name or str(ref.get("id")) == tid:
                return name
        return None

    def _new_issue(self, project: str, itype: str, summary: str, actor: str, values: dict) -> dict:
        proj = self.projects[project]
        proj["counter"] += 1
        issue_id = str(self._next_issue_id)
        self._next_issue_id += 1
        created = values.pop("created", None) or now_utc()
        workflow = self.workflow(project)
        issue = {
            "id": issue_id, "key": f"{project}-{proj['counter']}", "project": project, "summary": summary,
            "description": values.pop("description", None), "issuetype": itype,
            "status": workflow.initial, "statusCategory": STATUSES[workflow.initial][1],
            "priority": values.pop("priority", None) or proj["default_priority"],
            "assignee": values.pop("assignee", None),
            "reporter": values.pop("reporter", None) or actor, "labels": list(values.pop("labels", [])),
            "components": list(values.pop("components", [])), "resolution": values.pop("resolution", None),
            "created": created, "updated": values.pop("updated", None) or created,
            "resolved": values.pop("resolved", None), "customfields": {},
            "changelog": list(values.pop("changelog", [])), "properties": dict(values.pop("properties", {})),
        }
        issue["customfields"].update(values.pop("customfields", {}))
        for field_id, value in values.items():
            if field_id.startswith("customfield_"):
                issue["customfields"][field_id] = value
        self.issues[issue["key"]] = issue
        self.issue_ids[issue_id] = issue["key"]
        self.version += 1
        return issue

    def _set_status(self, issue: dict, status: str) -> None:
        issue["status"] = status
        issue["statusCategory"] = STATUSES[status][1]

    def _apply(self, issue: dict, changes: dict, actor: str) -> dict | None:
        """Write `changes` into the issue; append and return the changelog history (None if no-op)."""
        items = diff_items(self, issue, changes)
        if not items:
            return None
        now = now_utc()
        for field_id, value in changes.items():
            if field_id == "status":
                self._set_status(issue, value)
            elif field_id.startswith("customfield_"):
                issue["customfields"][field_id] = value
            else:
                issue[field_id] = value
        if "resolution" in changes:
            issue["resolved"] = now if issue["resolution"] else None
        issue["updated"] = now
        history = {"id": str(self._next_history_id), "created": now, "author": actor, "items": items}
        self._next_history_id += 1
        issue["changelog"].append(history)
        self.version += 1
        return history

    def next_history_id(self) -> str:
        """Allocate a changelog history id (the seeder builds histories itself)."""
        with self.lock:
            self._next_history_id += 1
            return str(self._next_history_id - 1)

    def _event(self, webhook_event, type_name, issue, history, actor, prop=None) -> IssueEvent:
        return IssueEvent(webhook_event, type_name, issue["key"], copy.deepcopy(issue),
                          copy.deepcopy(history), actor or self.admin_id, int(time.time() * 1000), prop)

    def _notify(self, events: list[IssueEvent]) -> None:
        for event in events:
            for listener in list(self.listeners):
                listener(event)

    def validate_value(self, project: str, field_id: str, raw: Any) -> Any:
        """Parse one REST field value (used by the control endpoints)."""
        return parse_value(self, project, field_id, raw)
