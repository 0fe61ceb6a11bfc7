"""SLA policies as plain values: validation of the API's JSON, durations, and which issues a policy covers."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from connect_app.models import LINK_TYPES, TIERS
from connect_app.models.governance import SLA_METRICS
from connect_app.models.issues import STATUS_CATEGORIES
from connect_app.sla.calendar import Calendar, CalendarError

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhd])\s*$")
UNIT_SECONDS = {"m": 60, "h": 3600}
TIER_RANK = {tier: rank for rank, tier in enumerate(reversed(TIERS))}  # startup 0 ... enterprise 3
SELECTOR_FIELDS = ("projects", "issue_types", "priorities", "tiers", "link_types")
FIELDS = ("name", "metric", "target", "targets_by_tier", "calendar", "pause_statuses", "selector",
          "warn_at_percent", "status", "status_category", "cumulative", "active")
MAX_TARGET_SECONDS = 366 * 86_400


class PolicyError(ValueError):
    """A policy that cannot be used; `errors` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Selector:
    """Which issues a policy covers; an empty list means any."""

    projects: frozenset[str] = frozenset()
    issue_types: frozenset[str] = frozenset()  # case-folded
    priorities: frozenset[str] = frozenset()  # case-folded
    tiers: frozenset[str] = frozenset()
    link_types: frozenset[str] = frozenset()

    def covers(self, *, project: str | None, issue_type: str | None, priority: str | None,
               links: Iterable[tuple[str, str | None]]) -> bool:
        """Whether an issue (its project, type, priority and (link type, tier) of each linked customer) is covered.

        Only issues with at least one linked customer (of the selected link types) are: SLAs here
        are about the engineering issues customers wait on.
        """
        if self.projects and (project or "").upper() not in self.projects:
            return False
        if self.issue_types and (issue_type or "").casefold() not in self.issue_types:
            return False
        if self.priorities and (priority or "").casefold() not in self.priorities:
            return False
        counted = [tier for link_type, tier in links if not self.link_types or link_type in self.link_types]
        if not counted:
            return False
        return not self.tiers or any(tier in self.tiers for tier in counted)

    def as_dict(self) -> dict[str, list[str]]:
        """The JSON form (sorted lists)."""
        return {name: sorted(getattr(self, name)) for name in SELECTOR_FIELDS}


@dataclass(frozen=True)
class Policy:
    """A validated policy: what is timed, against which target, on which calendar, for which issues."""

    name: str
    metric: str
    target: str
    targets_by_tier: Mapping[str, str]
    calendar: Calendar = field(compare=False)
    calendar_definition: Any
    pause_statuses: frozenset[str]  # case-folded status names
    selector: Selector
    warn_at_percent: int
    status: str | None = None  # time_in_status: a status name ...
    status_category: str | None = None  # ... or a status category
    cumulative: bool = False
    active: bool = True

    def target_seconds(self, tiers: Iterable[str | None] = ()) -> int:
        """The target for an issue: the highest tier among its customers that has its own target, else `target`."""
        best = max((t for t in tiers if t in self.targets_by_tier), key=TIER_RANK.__getitem__, default=None)
        return self._targets[best]

    @cached_property
    def _targets(self) -> dict[str | None, int]:
        """Each tier's target in seconds (None: the default), computed once."""
        durations = {None: self.target} | dict(self.targets_by_tier)
        return {tier: duration_seconds(text, self.calendar) for tier, text in durations.items()}

    def as_dict(self) -> dict[str, Any]:
        """The JSON form the API shows (and `definition` stores)."""
        body = {"name": self.name, "metric": self.metric, "target": self.target,
                "targets_by_tier": dict(self.targets_by_tier), "calendar": self.calendar_definition,
                "pause_statuses": sorted(self.pause_statuses), "selector": self.selector.as_dict(),
                "warn_at_percent": self.warn_at_percent, "active": self.active}
        if self.metric == "time_in_status":
            body |= {"status": self.status, "status_category": self.status_category, "cumulative": self.cumulative}
        return body


def duration_seconds(text: str, calendar: Calendar) -> int:
    """Seconds of '90m', '4h' or '3d' (a day of a business calendar is its working hours)."""
    match = DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 90m, 4h or 3d")
    amount, unit = float(match.group(1)), match.group(2)
    per_unit = calendar.day_length_seconds() if unit == "d" else UNIT_SECONDS[unit]
    return math.ceil(amount * per_unit)


def _strings(value: Any, name: str, errors: dict[str, str], allowed: Iterable[str] | None = None) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        errors[name] = "must be a list of names"
        return []
    if allowed is not None:
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            errors[name] = f"unknown: {', '.join(unknown)} (allowed: {', '.join(allowed)})"
    return [v.strip() for v in value]


def parse_policy(raw: Any) -> Policy:
    """Validate a policy's JSON; PolicyError names every field that is wrong."""
    if not isinstance(raw, Mapping):
        raise PolicyError({"_": "a policy is a JSON object"})
    errors: dict[str, str] = {}
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        errors["_"] = f"unknown field(s): {', '.join(unknown)}"
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        errors["name"] = "a name of 1 to 200 characters is required"
    metric = raw.get("metric")
    if metric not in SLA_METRICS:
        errors["metric"] = f"must be one of {', '.join(SLA_METRICS)}"
    calendar = Calendar.parse("24x7")
    calendar_definition = "24x7" if raw.get("calendar") is None else raw["calendar"]
    try:
        calendar = Calendar.parse(calendar_definition)
    except CalendarError as exc:
        errors.update(exc.errors)
    target = raw.get("target")
    if not isinstance(target, str) or not DURATION.match(target):
        errors["target"] = 'a duration like "90m", "4h" or "3d" is required'
    elif not 0 < duration_seconds(target, calendar) <= MAX_TARGET_SECONDS:
        errors["target"] = "must be more than zero and at most a year"
    by_tier = {} if raw.get("targets_by_tier") is None else raw["targets_by_tier"]
    if not isinstance(by_tier, Mapping):
        errors["targets_by_tier"] = 'must map tiers to durations, e.g. {"enterprise": "24h"}'
        by_tier = {}
    for tier, value in by_tier.items():
        if tier not in TIERS:
            errors[f"targets_by_tier.{tier}"] = f"unknown tier (allowed: {', '.join(TIERS)})"
        elif not isinstance(value, str) or not DURATION.match(value):
            errors[f"targets_by_tier.{tier}"] = 'must be a duration like "90m", "4h" or "3d"'
        elif not 0 < duration_seconds(value, calendar) <= MAX_TARGET_SECONDS:
            errors[f"targets_by_tier.{tier}"] = "must be more than zero and at most a year"
    pause = _strings(raw.get("pause_statuses"), "pause_statuses", errors)
    selector_raw = {} if raw.get("selector") is None else raw["selector"]
    if not isinstance(selector_raw, Mapping):
        errors["selector"] = f"must be an object with any of {', '.join(SELECTOR_FIELDS)}"
        selector_raw = {}
    for key in sorted(set(selector_raw) - set(SELECTOR_FIELDS)):
        errors[f"selector.{key}"] = f"unknown (allowed: {', '.join(SELECTOR_FIELDS)})"
    selector = Selector(
        projects=frozenset(p.upper() for p in _strings(selector_raw.get("projects"), "selector.projects", errors)),
        issue_types=frozenset(t.casefold() for t in _strings(selector_raw.get("issue_types"), "selector.issue_types",
                                                             errors)),
        priorities=frozenset(p.casefold() for p in _strings(selector_raw.get("priorities"), "selector.priorities",
                                                            errors)),
        tiers=frozenset(_strings(selector_raw.get("tiers"), "selector.tiers", errors, TIERS)),
        link_types=frozenset(_strings(selector_raw.get("link_types"), "selector.link_types", errors, LINK_TYPES)))
    warn = raw.get("warn_at_percent", 80)
    if isinstance(warn, bool) or not isinstance(warn, int) or not 0 < warn <= 100:
        errors["warn_at_percent"] = "must be a whole number from 1 to 100"
    status, category, cumulative = raw.get("status"), raw.get("status_category"), raw.get("cumulative", False)
    if metric == "time_in_status":
        if (status is None) == (category is None):
            errors["status"] = 'time_in_status needs exactly one of "status" (a name) or "status_category"'
        elif status is not None and (not isinstance(status, str) or not status.strip()):
            errors["status"] = "must be a status name"
        elif category is not None and category not in STATUS_CATEGORIES:
            errors["status_category"] = f"must be one of {', '.join(STATUS_CATEGORIES)}"
        if not isinstance(cumulative, bool):
            errors["cumulative"] = "must be true or false"
    elif status is not None or category is not None or raw.get("cumulative") is not None:
        errors["status"] = "status, status_category and cumulative only apply to time_in_status"
    active = raw.get("active", True)
    if not isinstance(active, bool):
        errors["active"] = "must be true or false"
    if errors:
        raise PolicyError(errors)
    return Policy(name=name.strip(), metric=metric, target=target.strip(),
                  targets_by_tier={t: v.strip() for t, v in by_tier.items()}, calendar=calendar,
                  calendar_definition=calendar_definition, pause_statuses=frozenset(p.casefold() for p in pause),
                  selector=selector, warn_at_percent=warn, status=status.strip() if status else None,
                  status_category=category, cumulative=bool(cumulative), active=active)
