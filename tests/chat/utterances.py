"""What CSMs type into CSCX.AI's chat, and what each one means: the table shared by the tests and
`python -m benchmarks.chat`.

Written as people type (lower case, possessives, typos, no punctuation, shorthand) and not edited to
suit the parser: the first 201 before it existed; the rows marked "written after the first version of the
parser" were added then and run before any change to it (54 of their 58 intents were right; the four misses
were fixed by general patterns, their labels untouched). Each row is an utterance, the intent it expresses
and every entity it carries; a row is right only when the intent and all of its entities are.

What the labels mean:
- `customer` is the customer's name in CUSTOMERS; `context` is what the CSM is looking at
  (`{"customer": <name>}` or `{"issue_key": <key>}`), used by "this account", "them", "it" or when
  the text names no customer or issue at all.
- show_issues `filters`: `open: True` unless the text asks for closed ones (`status_category`
  "done"), for issues in one status category ("in progress": indeterminate, "not started" /
  backlog: new) or for all of them ("all", "everything", "including closed": no filter); `type`
  (Bug, Story for stories and feature requests, Task, Epic) and `priority` (Highest for critical,
  blocker, urgent) when named.
- create_issue: `issue_type` only when the text names one, `summary` as the text gives it with the
  first letter in upper case.
- subscribe: `event` is one of resolved, reopened, moved_to_development, priority_changed,
  assignee_changed, status_changed, sla_breached, created (customer alerts) or "any"; unsubscribe
  carries an event only when the text names one.
- clarify: the customer is ambiguous; `choices` are the candidates' names and `of` the intent that
  waits for the answer (its other entities are labelled as usual).
- help: the CSM asks what the chat can do, or greets it; unknown: anything else, including Jira
  actions the chat does not take (delete, close, assign) and questions that are not about Jira.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# (name, slug, external id) of the workspace's customers the utterances speak of.
CUSTOMERS = (
    ("Acme Corp", "acme-corp", "0015g00000ACME1"),
    ("Acme Labs", "acme-labs", "0015g00000ACME2"),
    ("Globex", "globex", "0015g00000GLBX1"),
    ("Initech", "initech", "0015g00000INIT1"),
    ("Umbrella Corporation", "umbrella", "0015g00000UMBR1"),
    ("Stark Industries", "stark-industries", "0015g00000STRK1"),
    ("Wayne Enterprises", "wayne-enterprises", "0015g00000WAYN1"),
    ("Hooli", "hooli", "0015g00000HOOL1"),
    ("Pied Piper", "pied-piper", "0015g00000PIED1"),
    ("Soylent Corp", "soylent", "0015g00000SOYL1"),
    ("Wonka Industries", "wonka", "0015g00000WONK1"),
    ("Cyberdyne Systems", "cyberdyne", "0015g00000CYBR1"),
    ("Tyrell Corporation", "tyrell", "0015g00000TYRL1"),
    ("Massive Dynamic", "massive-dynamic", "0015g00000MASS1"),
    ("Vandelay Industries", "vandelay", "0015g00000VAND1"),
    ("Dunder Mifflin", "dunder-mifflin", "0015g00000DUND1"),
    ("Aperture Science", "aperture", "0015g00000APRT1"),
    ("Oscorp", "oscorp", "0015g00000OSCP1"),
    ("Bluth Company", "bluth", "0015g00000BLUT1"),
    ("Prestige Worldwide", "prestige-worldwide", "0015g00000PRST1"),
    ("Northwind Traders", "northwind", "0015g00000NRTH1"),
    ("Contoso Ltd", "contoso", "0015g00000CNTS1"),
    ("Fabrikam Inc", "fabrikam", "0015g00000FABR1"),
    ("Priority Health", "priority-health", "0015g00000PRIO1"),
    ("Open Road Media", "open-road-media", "0015g00000OPEN1"),
    ("Zenith Bank", "zenith-bank", "0015g00000ZENB1"),
    ("Blue Sky Analytics", "blue-sky-analytics", "0015g00000BLUE1"),
)
# The Jira projects the workspace's issues live in.
PROJECT_KEYS = ("CS", "ENG", "SUP")

OPEN = {"open": True}


@dataclass(frozen=True)
class Utterance:
    """One thing a CSM types, with what it means."""

    text: str
    intent: str
    entities: dict[str, Any] = field(default_factory=dict)
    context: dict[str, str] = field(default_factory=dict)


def u(text: str, intent: str, context: dict[str, str] | None = None, **entities: Any) -> Utterance:
    return Utterance(text, intent, entities, context or {})


SHOW_ISSUES = [
    u("Show Jira issues for Acme Corp", "show_issues", customer="Acme Corp", filters=OPEN),
    u("what's open for acme corp?", "show_issues", customer="Acme Corp", filters=OPEN),
    u("acme corp's bugs", "show_issues", customer="Acme Corp", filters=OPEN | {"type": "Bug"}),
    u("any high priority bugs for Globex", "show_issues", customer="Globex",
      filters=OPEN | {"type": "Bug", "priority": "High"}),
    u("issues for this account", "show_issues", {"customer": "Hooli"}, customer="Hooli", filters=OPEN),
    u("show me globex issues", "show_issues", customer="Globex", filters=OPEN),
    u("globex tickets", "show_issues", customer="Globex", filters=OPEN),
    u("list initech's open tickets", "show_issues", customer="Initech", filters=OPEN),
    u("open bugs at initech", "show_issues", customer="Initech", filters=OPEN | {"type": "Bug"}),
    u("what bugs does umbrella have open", "show_issues", customer="Umbrella Corporation",
      filters=OPEN | {"type": "Bug"}),
    u("umbrella corp jira issues", "show_issues", customer="Umbrella Corporation", filters=OPEN),
    u("show closed issues for stark industries", "show_issues", customer="Stark Industries",
      filters={"status_category": "done"}),
    u("what did we fix for wayne enterprises", "show_issues", customer="Wayne Enterprises",
      filters={"status_category": "done"}),
    u("resolved tickets for hooli", "show_issues", customer="Hooli", filters={"status_category": "done"}),
    u("all issues for pied piper", "show_issues", customer="Pied Piper", filters={}),
    u("everything for soylent, including closed ones", "show_issues", customer="Soylent Corp", filters={}),
    u("show me stark's critical bugs", "show_issues", customer="Stark Industries",
      filters=OPEN | {"type": "Bug", "priority": "Highest"}),
    u("highest priority issues for cyberdyne", "show_issues", customer="Cyberdyne Systems",
      filters=OPEN | {"priority": "Highest"}),
    u("low priority stuff for tyrell", "show_issues", customer="Tyrell Corporation",
      filters=OPEN | {"priority": "Low"}),
    u("what's in progress for massive dynamic", "show_issues", customer="Massive Dynamic",
      filters={"status_category": "indeterminate"}),
    u("feature requests from vandelay", "show_issues", customer="Vandelay Industries",
      filters=OPEN | {"type": "Story"}),
    u("open stories for dunder mifflin", "show_issues", customer="Dunder Mifflin", filters=OPEN | {"type": "Story"}),
    u("any tasks open for aperture science?", "show_issues", customer="Aperture Science",
      filters=OPEN | {"type": "Task"}),
    u("oscorp issues pls", "show_issues", customer="Oscorp", filters=OPEN),
    u("what's going on with bluth company", "show_issues", customer="Bluth Company", filters=OPEN),
    u("how are things looking for prestige worldwide in jira", "show_issues", customer="Prestige Worldwide",
      filters=OPEN),
    u("show isues for globex", "show_issues", customer="Globex", filters=OPEN),
    u("bugs for globx", "show_issues", customer="Globex", filters=OPEN | {"type": "Bug"}),
    u("what's open for initek", "show_issues", customer="Initech", filters=OPEN),
    u("stark industires open tickets", "show_issues", customer="Stark Industries", filters=OPEN),
    u("issues for umbrela", "show_issues", customer="Umbrella Corporation", filters=OPEN),
    u("wayne enterprize bugs", "show_issues", customer="Wayne Enterprises", filters=OPEN | {"type": "Bug"}),
    u("dunder miflin jiras", "show_issues", customer="Dunder Mifflin", filters=OPEN),
    u("SHOW ISSUES FOR HOOLI", "show_issues", customer="Hooli", filters=OPEN),
    u("Hooli's tickets?", "show_issues", customer="Hooli", filters=OPEN),
    u("whats open for pied pipper", "show_issues", customer="Pied Piper", filters=OPEN),
    u("show open bugs", "show_issues", {"customer": "Globex"}, customer="Globex", filters=OPEN | {"type": "Bug"}),
    u("what's open for them?", "show_issues", {"customer": "Initech"}, customer="Initech", filters=OPEN),
    u("their high priority issues", "show_issues", {"customer": "Wonka Industries"}, customer="Wonka Industries",
      filters=OPEN | {"priority": "High"}),
    u("any blockers for this customer", "show_issues", {"customer": "Oscorp"}, customer="Oscorp",
      filters=OPEN | {"priority": "Highest"}),
    u("show me the bugs for this client", "show_issues", {"customer": "Tyrell Corporation"},
      customer="Tyrell Corporation", filters=OPEN | {"type": "Bug"}),
    u("open issues for northwind", "show_issues", customer="Northwind Traders", filters=OPEN),
    u("contoso bugs", "show_issues", customer="Contoso Ltd", filters=OPEN | {"type": "Bug"}),
    u("fabrikam inc issues", "show_issues", customer="Fabrikam Inc", filters=OPEN),
    u("show issues for priority health", "show_issues", customer="Priority Health", filters=OPEN),
    u("open road media tickets", "show_issues", customer="Open Road Media", filters=OPEN),
    u("jira issues for acme-labs", "show_issues", customer="Acme Labs", filters=OPEN),
    u("what's broken for soylent", "show_issues", customer="Soylent Corp", filters=OPEN),
    u("list the done items for cyberdyne", "show_issues", customer="Cyberdyne Systems",
      filters={"status_category": "done"}),
    u("show high priority bugs for acme labs", "show_issues", customer="Acme Labs",
      filters=OPEN | {"type": "Bug", "priority": "High"}),
    u("anything open for massive dynamic?", "show_issues", customer="Massive Dynamic", filters=OPEN),
    u("what are wonka's open issues", "show_issues", customer="Wonka Industries", filters=OPEN),
    u("which bugs are still open for aperture", "show_issues", customer="Aperture Science",
      filters=OPEN | {"type": "Bug"}),
    u("show me everything jira has on vandelay", "show_issues", customer="Vandelay Industries", filters={}),
    u("umbrella corporation: open issues", "show_issues", customer="Umbrella Corporation", filters=OPEN),
    u("issues for zenith bank", "show_issues", customer="Zenith Bank", filters=OPEN),
    u("show issues for blue sky", "show_issues", customer="Blue Sky Analytics", filters=OPEN),
    u("bugs in progress for hooli", "show_issues", customer="Hooli",
      filters={"type": "Bug", "status_category": "indeterminate"}),
    u("tickets not started yet for initech", "show_issues", customer="Initech", filters={"status_category": "new"}),
    u("show me the backlog for globex", "show_issues", customer="Globex", filters={"status_category": "new"}),
    u("bugs for wonka inc", "show_issues", customer="Wonka Industries", filters=OPEN | {"type": "Bug"}),
    u("show me open bugs", "show_issues", filters=OPEN | {"type": "Bug"}),
    u("what issues are open?", "show_issues", filters=OPEN),
    u("show issues for zyxcorp", "show_issues", filters=OPEN),
    # Written after the first version of the parser.
    u("pull up globex's jira tickets", "show_issues", customer="Globex", filters=OPEN),
    u("can you show me what's open for Hooli", "show_issues", customer="Hooli", filters=OPEN),
    u("acme labs open bugs?", "show_issues", customer="Acme Labs", filters=OPEN | {"type": "Bug"}),
    u("what's still outstanding for initech", "show_issues", customer="Initech", filters=OPEN),
    u("top priority stuff for stark", "show_issues", customer="Stark Industries",
      filters=OPEN | {"priority": "Highest"}),
    u("bugs reported by umbrella", "show_issues", customer="Umbrella Corporation", filters=OPEN | {"type": "Bug"}),
    u("any P1s for cyberdyne", "show_issues", customer="Cyberdyne Systems", filters=OPEN | {"priority": "Highest"}),
    u("globex - anything open?", "show_issues", customer="Globex", filters=OPEN),
    u("show me the jira list for pied piper", "show_issues", customer="Pied Piper", filters=OPEN),
    u("what tickets do we have open with wayne enterprises", "show_issues", customer="Wayne Enterprises",
      filters=OPEN),
    u("whats outstanding on the hooli account", "show_issues", customer="Hooli", filters=OPEN),
    u("closed bugs for soylent last month", "show_issues", customer="Soylent Corp",
      filters={"status_category": "done", "type": "Bug"}),
    u("How many open issues does Initech have?", "show_issues", customer="Initech", filters=OPEN),
    u("tickets for massive dynamic that are in progress", "show_issues", customer="Massive Dynamic",
      filters={"status_category": "indeterminate"}),
    u("any urgent issues for this account?", "show_issues", {"customer": "Zenith Bank"}, customer="Zenith Bank",
      filters=OPEN | {"priority": "Highest"}),
]

ISSUE_STATUS = [
    u("What's the status of CS-123?", "issue_status", issue_key="CS-123"),
    u("status cs-123", "issue_status", issue_key="CS-123"),
    u("where are we on CS-123", "issue_status", issue_key="CS-123"),
    u("is CS-123 done yet", "issue_status", issue_key="CS-123"),
    u("cs-42?", "issue_status", issue_key="CS-42"),
    u("any update on ENG-7", "issue_status", issue_key="ENG-7"),
    u("whats happening with cs-9", "issue_status", issue_key="CS-9"),
    u("who's working on CS-310", "issue_status", issue_key="CS-310"),
    u("tell me about sup-15", "issue_status", issue_key="SUP-15"),
    u("CS-123 status pls", "issue_status", issue_key="CS-123"),
    u("is cs-88 fixed?", "issue_status", issue_key="CS-88"),
    u("has ENG-1024 been resolved", "issue_status", issue_key="ENG-1024"),
    u("how's CS-5 coming along", "issue_status", issue_key="CS-5"),
    u("what priority is CS-77", "issue_status", issue_key="CS-77"),
    u("whats the eta on cs-123", "issue_status", issue_key="CS-123"),
    u("check CS-2001", "issue_status", issue_key="CS-2001"),
    u("Cs-12 status", "issue_status", issue_key="CS-12"),
    u("look up eng-55 for me", "issue_status", issue_key="ENG-55"),
    u("is it done yet?", "issue_status", {"issue_key": "CS-77"}, issue_key="CS-77"),
    u("what's the status of this issue", "issue_status", {"issue_key": "ENG-3"}, issue_key="ENG-3"),
    u("where is this one at", "issue_status", {"issue_key": "CS-19"}, issue_key="CS-19"),
    u("is cs-501 still in progress?", "issue_status", issue_key="CS-501"),
    u("what's going on with CS-600", "issue_status", issue_key="CS-600"),
    u("how long has CS-123 been in review", "issue_status", issue_key="CS-123"),
    u("show me CS-45", "issue_status", issue_key="CS-45"),
    u("who is assigned to ENG-9", "issue_status", issue_key="ENG-9"),
    u("status?", "issue_status"),
    u("whats the status of cs123", "issue_status", issue_key="CS-123"),
    u("is CS-123 blocked", "issue_status", issue_key="CS-123"),
    # Written after the first version of the parser.
    u("any news on CS-1234?", "issue_status", issue_key="CS-1234"),
    u("CS-77 - where is it at?", "issue_status", issue_key="CS-77"),
    u("has anyone picked up eng-88", "issue_status", issue_key="ENG-88"),
    u("status update on sup-2 please", "issue_status", issue_key="SUP-2"),
    u("what's the latest on CS-123", "issue_status", issue_key="CS-123"),
    u("can you check on cs-19 for me", "issue_status", issue_key="CS-19"),
    u("is eng-4 still open", "issue_status", issue_key="ENG-4"),
    u("ENG-301 eta?", "issue_status", issue_key="ENG-301"),
    u("what's the holdup on CS-250", "issue_status", issue_key="CS-250"),
]

CREATE_ISSUE = [
    u("Create a Jira issue for Acme Corp", "create_issue", customer="Acme Corp"),
    u("file a bug for Globex: export fails on Safari", "create_issue", customer="Globex", issue_type="Bug",
      summary="Export fails on Safari"),
    u("log a feature request for initech — SSO with Okta", "create_issue", customer="Initech", issue_type="Story",
      summary="SSO with Okta"),
    u("create a bug for hooli: login page times out", "create_issue", customer="Hooli", issue_type="Bug",
      summary="Login page times out"),
    u("open a ticket for stark industries about the billing export", "create_issue", customer="Stark Industries",
      summary="The billing export"),
    u("raise a bug for wayne enterprises - dashboard won't load in IE11", "create_issue",
      customer="Wayne Enterprises", issue_type="Bug", summary="Dashboard won't load in IE11"),
    u("new bug for pied piper: compression ratio wrong on large files", "create_issue", customer="Pied Piper",
      issue_type="Bug", summary="Compression ratio wrong on large files"),
    u("can you file a jira for soylent? reports are empty after the upgrade", "create_issue",
      customer="Soylent Corp", summary="Reports are empty after the upgrade"),
    u("please create a task for cyberdyne: rotate their API keys", "create_issue", customer="Cyberdyne Systems",
      issue_type="Task", summary="Rotate their API keys"),
    u("log a bug for this account: csv import drops the last row", "create_issue",
      {"customer": "Tyrell Corporation"}, customer="Tyrell Corporation", issue_type="Bug",
      summary="Csv import drops the last row"),
    u("file a bug: sso redirect loop", "create_issue", {"customer": "Massive Dynamic"}, customer="Massive Dynamic",
      issue_type="Bug", summary="Sso redirect loop"),
    u("create an issue for vandelay", "create_issue", customer="Vandelay Industries"),
    u("report a bug for dunder mifflin - printer integration broken", "create_issue", customer="Dunder Mifflin",
      issue_type="Bug", summary="Printer integration broken"),
    u("submit a feature request for aperture science: dark mode", "create_issue", customer="Aperture Science",
      issue_type="Story", summary="Dark mode"),
    u("create a story for oscorp: bulk user import", "create_issue", customer="Oscorp", issue_type="Story",
      summary="Bulk user import"),
    u("make a ticket for bluth company", "create_issue", customer="Bluth Company"),
    u("I need to log a bug for prestige worldwide, the export button is missing", "create_issue",
      customer="Prestige Worldwide", issue_type="Bug", summary="The export button is missing"),
    u("file bug for globx: charts render blank", "create_issue", customer="Globex", issue_type="Bug",
      summary="Charts render blank"),
    u("create jira ticket for initek", "create_issue", customer="Initech"),
    u("log an enhancement request for northwind: custom fields on invoices", "create_issue",
      customer="Northwind Traders", issue_type="Story", summary="Custom fields on invoices"),
    u("new feature request for contoso — audit log export", "create_issue", customer="Contoso Ltd",
      issue_type="Story", summary="Audit log export"),
    u("create a bug", "create_issue", issue_type="Bug"),
    u("Create a Jira issue for Fabrikam: Webhooks stop after 24h", "create_issue", customer="Fabrikam Inc",
      summary="Webhooks stop after 24h"),
    u("open a bug against hooli: 2FA codes arrive late", "create_issue", customer="Hooli", issue_type="Bug",
      summary="2FA codes arrive late"),
    u("write up a bug for zenith bank: statements show wrong currency", "create_issue", customer="Zenith Bank",
      issue_type="Bug", summary="Statements show wrong currency"),
    u("log a ticket for wonka: golden ticket emails bounce", "create_issue", customer="Wonka Industries",
      summary="Golden ticket emails bounce"),
    u("create bug for Priority Health: alerts not firing", "create_issue", customer="Priority Health",
      issue_type="Bug", summary="Alerts not firing"),
    # Written after the first version of the parser.
    u("create a ticket for hooli saying the sso button is broken", "create_issue", customer="Hooli",
      summary="The sso button is broken"),
    u("pls file a bug for acme labs: invoices show wrong tax", "create_issue", customer="Acme Labs",
      issue_type="Bug", summary="Invoices show wrong tax"),
    u("log a new bug for Globex - csv export times out", "create_issue", customer="Globex", issue_type="Bug",
      summary="Csv export times out"),
    u("can you raise a feature request for stark? they want audit logs", "create_issue",
      customer="Stark Industries", issue_type="Story", summary="They want audit logs"),
    u("open a new jira for initech re: password reset emails", "create_issue", customer="Initech",
      summary="Password reset emails"),
    u("I want to create a bug for wonka", "create_issue", customer="Wonka Industries", issue_type="Bug"),
    u("file a task for this customer: update their SAML cert", "create_issue", {"customer": "Northwind Traders"},
      customer="Northwind Traders", issue_type="Task", summary="Update their SAML cert"),
    u("add a bug for oscorp: search returns duplicates", "create_issue", customer="Oscorp", issue_type="Bug",
      summary="Search returns duplicates"),
]

SUBSCRIBE = [
    u("Alert me when CS-123 is resolved", "subscribe", issue_key="CS-123", event="resolved"),
    u("ping me when cs-123 moves to development", "subscribe", issue_key="CS-123", event="moved_to_development"),
    u("let me know if CS-9's priority changes", "subscribe", issue_key="CS-9", event="priority_changed"),
    u("notify me when ENG-42 is done", "subscribe", issue_key="ENG-42", event="resolved"),
    u("tell me when cs-77 gets fixed", "subscribe", issue_key="CS-77", event="resolved"),
    u("watch CS-500", "subscribe", issue_key="CS-500", event="any"),
    u("subscribe me to eng-12", "subscribe", issue_key="ENG-12", event="any"),
    u("keep me posted on CS-31", "subscribe", issue_key="CS-31", event="any"),
    u("let me know when CS-123 is picked up", "subscribe", issue_key="CS-123", event="moved_to_development"),
    u("alert me if cs-8 gets reopened", "subscribe", issue_key="CS-8", event="reopened"),
    u("ping me when someone is assigned to CS-64", "subscribe", issue_key="CS-64", event="assignee_changed"),
    u("heads up when sup-3 closes please", "subscribe", issue_key="SUP-3", event="resolved"),
    u("notify me of any changes to CS-90", "subscribe", issue_key="CS-90", event="any"),
    u("alert me when it's resolved", "subscribe", {"issue_key": "CS-77"}, issue_key="CS-77", event="resolved"),
    u("let me know when this ships", "subscribe", {"issue_key": "ENG-3"}, issue_key="ENG-3", event="resolved"),
    u("follow cs-1000", "subscribe", issue_key="CS-1000", event="any"),
    u("let me know if the priority of ENG-8 goes up", "subscribe", issue_key="ENG-8", event="priority_changed"),
    u("alert me if CS-14 breaches its SLA", "subscribe", issue_key="CS-14", event="sla_breached"),
    u("send me an alert when CS-56 is done", "subscribe", issue_key="CS-56", event="resolved"),
    u("ping me if CS-404 gets escalated", "subscribe", issue_key="CS-404", event="priority_changed"),
    u("can you notify me when cs-123 goes into development", "subscribe", issue_key="CS-123",
      event="moved_to_development"),
    u("alert me about anything new for globex", "subscribe", customer="Globex", event="created"),
    u("notify me about hooli's issues", "subscribe", customer="Hooli", event="any"),
    u("remind me when cs-2 is closed", "subscribe", issue_key="CS-2", event="resolved"),
    u("I want to know when CS-88 is released", "subscribe", issue_key="CS-88", event="resolved"),
    u("tell me if ENG-5 moves", "subscribe", issue_key="ENG-5", event="status_changed"),
    u("ping me when cs-71 is in progress", "subscribe", issue_key="CS-71", event="moved_to_development"),
    u("notfy me when cs-123 is resloved", "subscribe", issue_key="CS-123", event="resolved"),
    # Written after the first version of the parser.
    u("let me know once CS-123 is fixed", "subscribe", issue_key="CS-123", event="resolved"),
    u("can you ping me when ENG-19 gets picked up", "subscribe", issue_key="ENG-19", event="moved_to_development"),
    u("notify me if cs-4's priority gets bumped", "subscribe", issue_key="CS-4", event="priority_changed"),
    u("watch this issue for me", "subscribe", {"issue_key": "CS-66"}, issue_key="CS-66", event="any"),
    u("alert me when CS-300 is closed", "subscribe", issue_key="CS-300", event="resolved"),
    u("tell me as soon as sup-9 is done", "subscribe", issue_key="SUP-9", event="resolved"),
    u("keep me updated on ENG-61", "subscribe", issue_key="ENG-61", event="any"),
    u("I'd like to be notified when CS-10 is reopened", "subscribe", issue_key="CS-10", event="reopened"),
    u("ping me if CS-5 is reassigned", "subscribe", issue_key="CS-5", event="assignee_changed"),
]

UNSUBSCRIBE = [
    u("stop alerting me about CS-123", "unsubscribe", issue_key="CS-123"),
    u("unsubscribe from cs-9", "unsubscribe", issue_key="CS-9"),
    u("unwatch ENG-42", "unsubscribe", issue_key="ENG-42"),
    u("don't notify me about CS-77 anymore", "unsubscribe", issue_key="CS-77"),
    u("no more alerts for cs-500 please", "unsubscribe", issue_key="CS-500"),
    u("stop pinging me about sup-3", "unsubscribe", issue_key="SUP-3"),
    u("stop following CS-1000", "unsubscribe", issue_key="CS-1000"),
    u("stop watching this one", "unsubscribe", {"issue_key": "CS-19"}, issue_key="CS-19"),
    u("stop alerting me about globex", "unsubscribe", customer="Globex"),
    u("mute cs-31", "unsubscribe", issue_key="CS-31"),
    u("I don't need updates on ENG-12 anymore", "unsubscribe", issue_key="ENG-12"),
    u("stop telling me when CS-64 gets reassigned", "unsubscribe", issue_key="CS-64", event="assignee_changed"),
    # Written after the first version of the parser.
    u("stop sending me updates about CS-12", "unsubscribe", issue_key="CS-12"),
    u("remove my alert on eng-3", "unsubscribe", issue_key="ENG-3"),
    u("unsubscribe me from hooli", "unsubscribe", customer="Hooli"),
]

LIST_SUBSCRIPTIONS = [
    u("what am I watching?", "list_subscriptions"),
    u("show my subscriptions", "list_subscriptions"),
    u("what alerts do I have", "list_subscriptions"),
    u("list my alerts", "list_subscriptions"),
    u("which issues am I following", "list_subscriptions"),
    u("my watch list", "list_subscriptions"),
    u("what am i subscribed to", "list_subscriptions"),
    u("what notifications have I set up?", "list_subscriptions"),
    # Written after the first version of the parser.
    u("show me my alerts", "list_subscriptions"),
    u("do I have any alerts set?", "list_subscriptions"),
]

ACME = ["Acme Corp", "Acme Labs"]
CLARIFY = [
    u("Show Jira issues for Acme", "clarify", of="show_issues", choices=ACME, filters=OPEN),
    u("acme bugs", "clarify", of="show_issues", choices=ACME, filters=OPEN | {"type": "Bug"}),
    u("what's open for acme?", "clarify", of="show_issues", choices=ACME, filters=OPEN),
    u("acme's high priority tickets", "clarify", of="show_issues", choices=ACME, filters=OPEN | {"priority": "High"}),
    u("create a jira issue for acme", "clarify", of="create_issue", choices=ACME),
    u("file a bug for acme: search is slow", "clarify", of="create_issue", choices=ACME, issue_type="Bug",
      summary="Search is slow"),
    u("alert me about acme", "clarify", of="subscribe", choices=ACME, event="any"),
    u("issues for acm", "clarify", of="show_issues", choices=ACME, filters=OPEN),
    u("show tickets for acme please", "clarify", of="show_issues", choices=ACME, filters=OPEN),
    # Written after the first version of the parser.
    u("what's open at acme", "clarify", of="show_issues", choices=ACME, filters=OPEN),
    u("acme issues?", "clarify", of="show_issues", choices=ACME, filters=OPEN),
    u("ping me about acme's bugs", "clarify", of="subscribe", choices=ACME, event="any"),
]

HELP = [
    u("help", "help"),
    u("what can you do?", "help"),
    u("hi", "help"),
    u("how does this work", "help"),
    u("commands", "help"),
    u("hello there", "help"),
    u("what can I ask you?", "help"),
    # Written after the first version of the parser.
    u("what do you do", "help"),
    u("hey", "help"),
    u("what kinds of things can you help with?", "help"),
]

UNKNOWN = [
    u("what's the weather in paris", "unknown"),
    u("book a meeting with acme corp tomorrow", "unknown"),
    u("thanks!", "unknown"),
    u("tell me a joke", "unknown"),
    u("what's acme corp's ARR?", "unknown"),
    u("who is the CSM for globex", "unknown"),
    u("send the renewal deck to hooli", "unknown"),
    u("asdfgh", "unknown"),
    u("lol", "unknown"),
    u("what time is it", "unknown"),
    u("schedule a QBR with initech", "unknown"),
    u("delete CS-123", "unknown"),
    u("close cs-9", "unknown"),
    u("assign CS-5 to me", "unknown"),
    u("how's the renewal with soylent going", "unknown"),
    u("what's 2+2", "unknown"),
    u("email dana at acme labs", "unknown"),
    # Written after the first version of the parser.
    u("who owns the globex account?", "unknown"),
    u("what's our NPS?", "unknown"),
    u("move CS-12 to done", "unknown"),
    u("good job", "unknown"),
    u("can you summarize my last call with initech", "unknown"),
    u("what's the renewal date for hooli", "unknown"),
]

UTTERANCES: list[Utterance] = (SHOW_ISSUES + ISSUE_STATUS + CREATE_ISSUE + SUBSCRIBE + UNSUBSCRIBE
                               + LIST_SUBSCRIPTIONS + CLARIFY + HELP + UNKNOWN)
