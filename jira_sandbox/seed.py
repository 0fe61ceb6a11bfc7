"""Deterministic seeding: users, projects, a customer catalogue and M issues from one seed.

Issues reference customers the way our users' Jira sites do: `customer_<slug>` labels, the
"Customer ID" field (the first customer's external id), "Affected Customers" (slugs) and
"Customer Tier". `state.customer_catalog` lists the customers so benchmarks can create the
matching customers on the product side. Issues are built directly (no validation, no events)
with at most a few changelog histories each, so 100k issues seed in seconds.
"""

from __future__ import annotations

import random
from collections import deque
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from jira_sandbox.catalog import (
    COMPONENT_NAMES,
    CUSTOMER_TIERS,
    DEFAULT_PROJECTS,
    IMPACT_LEVELS,
    PRIORITIES,
    RESOLUTIONS,
    STANDARD_WORKFLOW,
    STATUSES,
    SUPPORT_WORKFLOW,
    Workflow,
)
from jira_sandbox.changelog import item, status_item

SEED_OPTIONS = ("issues", "seed", "projects", "customers", "users", "anchor")
CUSTOMER_LABEL = "customer_"

_FIRST = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Soylent", "Tyrell",
          "Cyberdyne", "Wonka", "Aperture", "Massive", "Pied", "Oscorp", "Gringotts", "Monarch", "Nakatomi",
          "Virtucon", "Blue", "Northwind", "Contoso", "Fabrikam", "Litware", "Tailspin", "Adatum", "Proseware"]
_SECOND = ["Corp", "Labs", "Industries", "Systems", "Health", "Logistics", "Bank", "Media", "Foods", "Energy",
           "Retail", "Robotics", "Analytics", "Cloud", "Motors", "Insurance"]
_PEOPLE = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson", "Linus Torvalds",
           "Margaret Hamilton", "Dennis Ritchie", "Barbara Liskov", "Ken Thompson", "Radia Perlman",
           "Edsger Dijkstra", "Frances Allen"]
_PROBLEMS = ["export times out", "login loop after SSO", "webhook retries duplicate events",
             "dashboard shows stale numbers", "CSV import drops rows", "invoice totals off by one cent",
             "search misses recent records", "mobile app crashes on launch", "API returns 500 on bulk update",
             "report PDF renders blank", "permissions reset after upgrade", "sync stalls overnight"]
_TOPICS = ["regression", "performance", "ux", "security", "data-quality", "integration"]
_EXTRA_PROJECTS = ["OPS", "WEB", "MOB", "DATA", "INFRA", "BILL", "API", "SEC", "QA", "DOCS"]


def customer_catalog(count: int, rng: random.Random) -> list[dict]:
    """`count` customers with unique slugs, names, external ids and tiers."""
    catalog, seen = [], set()
    for n in range(count):
        first, second = _FIRST[n % len(_FIRST)], _SECOND[(n // len(_FIRST)) % len(_SECOND)]
        name = f"{first} {second}" + (f" {n // (len(_FIRST) * len(_SECOND)) + 1}"
                                      if n >= len(_FIRST) * len(_SECOND) else "")
        slug = name.lower().replace(" ", "-")
        if slug in seen:
            continue
        seen.add(slug)
        catalog.append({"slug": slug, "name": name, "external_id": f"CUST-{10001 + n}",
                        "tier": rng.choice(CUSTOMER_TIERS), "label": CUSTOMER_LABEL + slug})
    return catalog


def customers_for_issue(issue: dict) -> list[str]:
    """Slugs of the customers an issue references through its labels."""
    return [label[len(CUSTOMER_LABEL):] for label in issue["labels"] if label.startswith(CUSTOMER_LABEL)]


def _paths(workflow: Workflow) -> dict[str, list[str]]:
    """Shortest status path from the initial status to every status."""
    paths = {workflow.initial: [workflow.initial]}
    queue = deque([workflow.initial])
    while queue:
        current = queue.popleft()
        for t in workflow.available(current):
            if t.to not in paths:
                paths[t.to] = [*paths[current], t.to]
                queue.append(t.to)
    return paths


def seed_site(state, issues: int = 0, seed: int = 1, projects: int = 3, customers: int = 50, users: int = 8,
              anchor: str | datetime | None = None) -> None:
    """Reset `state` and fill it deterministically from `seed` and `anchor`.

    `anchor` (default: now, to the minute) is the latest moment anything happened; pass it
    explicitly for byte-identical sites across runs.
    """
    rng = random.Random(seed)
    if isinstance(anchor, str):
        anchor = datetime.fromisoformat(anchor)
    anchor = anchor or datetime.now(UTC).replace(second=0, microsecond=0)
    with state.lock:
        state.reset()
        for name in _PEOPLE[:users]:
            first, last = name.lower().split(" ")
            state.add_user(name, f"{first}.{last}@sandbox.test", name=f"{first[0]}{last}")
        for key in _EXTRA_PROJECTS[:max(0, projects - len(DEFAULT_PROJECTS))]:
            state.add_project(key, key.title(), STANDARD_WORKFLOW.name, COMPONENT_NAMES[:4])
        for key in list(state.projects)[projects:] if projects < len(DEFAULT_PROJECTS) else []:
            del state.projects[key]
        state.customer_catalog = customer_catalog(customers, rng)
        _seed_issues(state, rng, issues, anchor)


def _seed_issues(state, rng: random.Random, count: int, anchor: datetime) -> None:
    people = list(state.users)
    project_keys = list(state.projects)
    paths = {w.name: _paths(w) for w in (STANDARD_WORKFLOW, SUPPORT_WORKFLOW)}
    catalog = state.customer_catalog
    span = timedelta(days=365)
    priorities = [name for _, name in PRIORITIES]
    for n in range(count):
        project = state.projects[rng.choice(project_keys)]
        workflow_paths = paths[project["workflow"]]
        path = workflow_paths[rng.choice(list(workflow_paths))]
        created = anchor - span * (1 - n / max(count, 1)) - timedelta(seconds=rng.randrange(3600))
        refs = []
        if catalog and rng.random() < 0.7:
            # Skewed towards the first customers, as real support load is.
            refs = sorted({int(len(catalog) * rng.random() ** 2) for _ in range(rng.randint(1, 3))})
        picked = [catalog[r] for r in refs]
        labels = [c["label"] for c in picked]
        if rng.random() < 0.4:
            labels.append(rng.choice(_TOPICS))
        customfields = {"customfield_10005": rng.choice(IMPACT_LEVELS)}
        if picked:
            customfields.update({"customfield_10001": picked[0]["external_id"],
                                 "customfield_10002": picked[0]["tier"],
                                 "customfield_10003": [c["slug"] for c in picked]})
        itype = rng.choice(("Bug", "Bug", "Task", "Story"))
        if itype == "Story":
            customfields["customfield_10004"] = rng.choice((1, 2, 3, 5, 8))
        reporter = rng.choice(people)
        priority = priorities[min(4, int(rng.triangular(0, 5, 2)))]
        problem = rng.choice(_PROBLEMS)
        component = rng.choice(project["components"])["name"] if project["components"] else None
        proj_counter = project["counter"] = project["counter"] + 1
        issue = {
            "id": str(state._next_issue_id), "key": f"{project['key']}-{proj_counter}",
            "project": project["key"], "summary": f"{(picked[0]['name'] + ': ') if picked else ''}{problem}",
            "description": f"Reported via support.\nSteps: {problem}.", "issuetype": itype,
            "status": path[-1], "statusCategory": STATUSES[path[-1]][1], "priority": priority,
            "assignee": rng.choice(people) if rng.random() < 0.7 else None, "reporter": reporter,
            "labels": labels, "components": [component] if component else [], "resolution": None,
            "created": created, "updated": created, "resolved": None, "customfields": customfields,
            "changelog": [], "properties": {},
        }
        state._next_issue_id += 1
        _histories(state, rng, issue, path, people, anchor)
        state.issues[issue["key"]] = issue
        state.issue_ids[issue["id"]] = issue["key"]
    state.version += 1


def _histories(state, rng: random.Random, issue: dict, path: list[str], people: list[str],
               anchor: datetime) -> None:
    """At most three status-change histories along `path` (the last steps), spaced in time."""
    when = issue["created"]
    steps = list(pairwise(path))[-3:]
    for n, (old, new) in enumerate(steps):
        # Never later than the anchor: a seeded site has no changes from the future.
        room = (anchor - when) / (len(steps) - n + 1)
        when = when + min(timedelta(minutes=rng.randrange(30, 60 * 24 * 5)), room)
        items = [status_item(old, new)]
        if STATUSES[new][1] == "done":
            resolution = "Won't Fix" if new == "Won't Fix" else "Done"
            items.append(item("resolution", "resolution", None, None, RESOLUTIONS[resolution][0], resolution))
            issue["resolution"], issue["resolved"] = resolution, when
        issue["changelog"].append({"id": str(state._next_history_id), "created": when,
                                   "author": rng.choice(people), "items": items})
        state._next_history_id += 1
    issue["updated"] = when


def summary(state) -> dict:
    """What the site holds, for the control endpoints."""
    with state.lock:
        return {"flavour": state.flavour, "base_url": state.base_url, "cloud_id": state.cloud_id,
                "issues": len(state.issues), "projects": list(state.projects),
                "customers": len(state.customer_catalog), "users": len(state.users)}
