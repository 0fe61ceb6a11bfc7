"""The static shape of a sandbox site: statuses, workflows, issue types, priorities, fields.

Plain data, read by `state.SandboxState` and the renderers; nothing here changes at run time.
Ids follow the ranges a fresh Jira Cloud site hands out, so that clients that key on ids
(status ids in changelogs, priority ids, `customfield_100xx`) see realistic values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Jira's four built-in status categories: id, key, colorName, name.
STATUS_CATEGORIES = [
    {"id": 1, "key": "undefined", "colorName": "medium-gray", "name": "No Category"},
    {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    {"id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"},
    {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
]
CATEGORY_BY_KEY = {c["key"]: c for c in STATUS_CATEGORIES}

# name -> (id, category key, description)
STATUSES = {
    "To Do": ("10000", "new", "Work that has not been started."),
    "In Progress": ("3", "indeterminate", "This issue is being actively worked on at the moment."),
    "In Review": ("10001", "indeterminate", "Waiting for a reviewer."),
    "Done": ("10002", "done", "Work is complete."),
    "Triage": ("10010", "new", "Reported by a customer, not yet looked at."),
    "Investigating": ("10011", "indeterminate", "Support is reproducing the problem."),
    "Waiting for Customer": ("10012", "indeterminate", "Waiting on information from the customer."),
    "Fix Scheduled": ("10013", "indeterminate", "A fix is planned by engineering."),
    "Shipped": ("10014", "done", "The fix is released."),
    "Won't Fix": ("10015", "done", "Closed without a fix."),
}
STATUS_BY_ID = {v[0]: k for k, v in STATUSES.items()}


@dataclass(frozen=True)
class Transition:
    """One workflow transition: `sources` empty means a global transition (from any status)."""

    id: str
    name: str
    to: str
    sources: tuple[str, ...] = ()
    resolution: str | None = None  # default resolution set when it lands in a done status


@dataclass(frozen=True)
class Workflow:
    """A named workflow: its initial status and its transitions."""

    name: str
    initial: str
    transitions: tuple[Transition, ...] = field(default_factory=tuple)

    def available(self, status: str) -> list[Transition]:
        """Transitions that can be taken from `status`."""
        return [t for t in self.transitions if (not t.sources or status in t.sources) and t.to != status]

    @property
    def statuses(self) -> list[str]:
        """Every status reachable in this workflow, initial first."""
        names = [self.initial]
        for t in self.transitions:
            if t.to not in names:
                names.append(t.to)
        return names


STANDARD_WORKFLOW = Workflow(
    name="Software Simplified Workflow",
    initial="To Do",
    transitions=(
        Transition("11", "To Do", "To Do", ("In Progress", "In Review", "Done")),
        Transition("21", "In Progress", "In Progress", ("To Do", "In Review", "Done")),
        Transition("31", "In Review", "In Review", ("In Progress",)),
        Transition("41", "Done", "Done", ("In Progress", "In Review"), resolution="Done"),
    ),
)

SUPPORT_WORKFLOW = Workflow(
    name="Customer Support Workflow",
    initial="Triage",
    transitions=(
        Transition("11", "Start Investigating", "Investigating", ("Triage", "Waiting for Customer")),
        Transition("21", "Wait for Customer", "Waiting for Customer", ("Investigating",)),
        Transition("31", "Schedule Fix", "Fix Scheduled", ("Investigating",)),
        Transition("41", "Ship Fix", "Shipped", ("Fix Scheduled",), resolution="Done"),
        Transition("51", "Won't Fix", "Won't Fix", ("Triage", "Investigating", "Waiting for Customer"),
                   resolution="Won't Fix"),
        Transition("61", "Reopen", "Triage", ("Shipped", "Won't Fix")),
    ),
)
WORKFLOWS = {w.name: w for w in (STANDARD_WORKFLOW, SUPPORT_WORKFLOW)}

# name -> (id, description, hierarchyLevel)
ISSUE_TYPES = {
    "Epic": ("10000", "A big user story that needs to be broken down.", 1),
    "Bug": ("10001", "A problem or error.", 0),
    "Task": ("10002", "A small, distinct piece of work.", 0),
    "Story": ("10003", "A user story.", 0),
}

# highest first, as JQL's ORDER BY priority expects
PRIORITIES = [("1", "Highest"), ("2", "High"), ("3", "Medium"), ("4", "Low"), ("5", "Lowest")]
PRIORITY_IDS = {name: pid for pid, name in PRIORITIES}

# name -> (id, description)
RESOLUTIONS = {
    "Done": ("10000", "Work has been completed on this issue."),
    "Won't Fix": ("10001", "This issue won't be actioned."),
    "Duplicate": ("10002", "The problem is a duplicate of an existing issue."),
    "Cannot Reproduce": ("10003", "This issue couldn't be reproduced."),
}

CUSTOMFIELD_TYPES = "com.atlassian.jira.plugin.system.customfieldtypes:"


@dataclass(frozen=True)
class CustomField:
    """A custom field definition; `kind` is the JQL engine's kind, `options` for select lists."""

    id: str
    name: str
    kind: str  # string | number | array | date | option | user
    custom_type: str
    options: tuple[str, ...] = ()

    @property
    def numeric_id(self) -> int:
        """The number after `customfield_`."""
        return int(self.id.rsplit("_", 1)[1])

    def schema(self) -> dict:
        """Jira's `schema` object for this field."""
        base = {"custom": CUSTOMFIELD_TYPES + self.custom_type, "customId": self.numeric_id}
        if self.kind == "array":
            return {"type": "array", "items": "string", **base}
        return {"type": self.kind, **base}

    def option_id(self, value: str) -> str:
        """Stable option id for a select-list value."""
        return str(self.numeric_id * 10 + self.options.index(value) + 1)


CUSTOMER_TIERS = ("Enterprise", "Mid-Market", "SMB", "Strategic")
IMPACT_LEVELS = ("Low", "Medium", "High", "Critical")

CUSTOM_FIELDS = [
    CustomField("customfield_10001", "Customer ID", "string", "textfield"),
    CustomField("customfield_10002", "Customer Tier", "option", "select", CUSTOMER_TIERS),
    CustomField("customfield_10003", "Affected Customers", "array", "labels"),
    CustomField("customfield_10004", "Story Points", "number", "float"),
    CustomField("customfield_10005", "Customer Impact", "option", "select", IMPACT_LEVELS),
    CustomField("customfield_10006", "Target Date", "date", "datepicker"),
    CustomField("customfield_10007", "Customer Contact", "user", "userpicker"),
]
CUSTOM_FIELDS_BY_ID = {f.id: f for f in CUSTOM_FIELDS}

# System fields: id -> (name, schema type, navigable/orderable flags, JQL clause names)
SYSTEM_FIELDS = {
    "summary": ("Summary", {"type": "string", "system": "summary"}, ["summary"]),
    "description": ("Description", {"type": "string", "system": "description"}, ["description"]),
    "issuetype": ("Issue Type", {"type": "issuetype", "system": "issuetype"}, ["issuetype", "type"]),
    "project": ("Project", {"type": "project", "system": "project"}, ["project"]),
    "status": ("Status", {"type": "status", "system": "status"}, ["status"]),
    "statusCategory": ("Status Category", {"type": "statusCategory", "system": "statusCategory"},
                       ["statusCategory"]),
    "priority": ("Priority", {"type": "priority", "system": "priority"}, ["priority"]),
    "assignee": ("Assignee", {"type": "user", "system": "assignee"}, ["assignee"]),
    "reporter": ("Reporter", {"type": "user", "system": "reporter"}, ["reporter"]),
    "creator": ("Creator", {"type": "user", "system": "creator"}, ["creator"]),
    "labels": ("Labels", {"type": "array", "items": "string", "system": "labels"}, ["labels"]),
    "components": ("Components", {"type": "array", "items": "component", "system": "components"},
                   ["component"]),
    "resolution": ("Resolution", {"type": "resolution", "system": "resolution"}, ["resolution"]),
    "resolutiondate": ("Resolved", {"type": "datetime", "system": "resolutiondate"},
                       ["resolutiondate", "resolved"]),
    "created": ("Created", {"type": "datetime", "system": "created"}, ["created", "createdDate"]),
    "updated": ("Updated", {"type": "datetime", "system": "updated"}, ["updated", "updatedDate"]),
    "issuekey": ("Key", None, ["id", "issue", "issuekey", "key"]),
}

# Fields a client may set on create / edit (besides custom fields).
EDITABLE_FIELDS = {"summary", "description", "priority", "assignee", "reporter", "labels",
                   "components", "resolution"}

# The system fields of every create screen, in screen order; every custom field follows them.
CREATE_SCREEN_FIELDS = ("summary", "issuetype", "project", "description", "priority", "reporter", "assignee",
                        "labels", "components")
# Required on every create screen. Server/DC's default field configuration also requires the reporter.
ALWAYS_REQUIRED = ("project", "issuetype", "summary")
SERVER_REQUIRED = ("reporter",)
# Fields a create fills in when left out: the priority scheme's default, the caller as reporter.
DEFAULTED_ON_CREATE = ("priority", "reporter")
DEFAULT_PRIORITY = "Medium"

COMPONENT_NAMES = ("API", "Billing", "Integrations", "Mobile", "Web UI", "Reporting", "Auth", "Search")

# key -> (name, workflow name, component names)
DEFAULT_PROJECTS = [
    ("CS", "Customer Success", STANDARD_WORKFLOW.name, COMPONENT_NAMES[:6]),
    ("SUP", "Support", SUPPORT_WORKFLOW.name, COMPONENT_NAMES[:5]),
    ("ENG", "Engineering", STANDARD_WORKFLOW.name, COMPONENT_NAMES),
]
# Extra required fields of the default projects' create screens: (project key, issue type) -> field ids.
DEFAULT_REQUIRED_FIELDS = {("SUP", "Task"): ("customfield_10002",)}
