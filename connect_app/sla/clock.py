"""An SLA clock on one issue, from its status history: cycles, elapsed business time, state, due instants.

Pure: an issue is its creation time and its stays (each status it was in, from when to when);
a policy says when a cycle starts and stops (its metric), which stays do not count (pause
statuses) and against which calendar time is measured.

- `time_to_resolution`: from creation, or from a reopen, until the issue enters the done category;
  a reopen starts a new cycle and earlier cycles keep their result.
- `time_to_development`: from creation until the issue first enters development (or is resolved).
- `time_in_status`: each stay in the status (or status category) is a cycle; `cumulative` sums
  every stay in one cycle, which stops when the issue is resolved.

States: `running`, `paused` (the issue is in a pause status, or out of the timed status for a
cumulative clock), `at_risk` (elapsed ≥ warn_at_percent of the target), `breached`, `met`,
`met_late` (stopped after breaching).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from connect_app.sla.calendar import Calendar
from connect_app.sla.policies import Policy

DONE = "done"


@dataclass(frozen=True)
class Transition:
    """One status change of the issue."""

    at: datetime
    from_status: str | None
    to_status: str | None
    from_category: str | None
    to_category: str | None


@dataclass(frozen=True)
class Stay:
    """The issue in one status, from `start` until `end` (None: still there)."""

    start: datetime
    end: datetime | None
    status: str | None
    category: str | None


@dataclass(frozen=True)
class Result:
    """One cycle of a policy's clock on an issue, as of `now`."""

    cycle: int
    state: str
    paused: bool
    started_at: datetime
    stopped_at: datetime | None
    elapsed_seconds: int
    target_seconds: int
    warn_at: datetime | None
    breach_at: datetime | None
    breached_at: datetime | None
    next_check_at: datetime | None


def stays(created_at: datetime, transitions: Iterable[Transition], status: str | None,
          category: str | None) -> list[Stay]:
    """The issue's stays from creation to now (the first status is where the first change left from)."""
    changes = sorted((t for t in transitions if t.at >= created_at), key=lambda t: t.at)
    found: list[Stay] = []
    start, current, current_category = created_at, status, category
    if changes:
        current, current_category = changes[0].from_status, changes[0].from_category
    for change in changes:
        found.append(Stay(start, change.at, current, current_category))
        start, current, current_category = change.at, change.to_status, change.to_category
    found.append(Stay(start, None, current, current_category))
    return found


@dataclass
class _Cycle:
    started_at: datetime
    stopped_at: datetime | None
    stays: list[Stay]


def _cycles(policy: Policy, history: list[Stay], is_development: Callable[[Stay], bool]) -> list[_Cycle]:
    """The cycles of a policy's metric over the issue's stays (each with the stays it spans)."""
    cycles: list[_Cycle] = []
    if policy.metric == "time_to_resolution":
        current: _Cycle | None = None
        for stay in history:
            if stay.category == DONE:
                if current is not None:
                    current.stopped_at = stay.start
                    current = None
                continue
            if current is None:
                current = _Cycle(stay.start, None, [])
                cycles.append(current)
            current.stays.append(stay)
        return cycles
    if policy.metric == "time_to_development":
        cycle = _Cycle(history[0].start, None, [])
        for stay in history:
            if is_development(stay) or stay.category == DONE:
                cycle.stopped_at = stay.start
                break
            cycle.stays.append(stay)
        return [cycle] if cycle.stays else []

    def timed(stay: Stay) -> bool:
        if policy.status is not None:
            return (stay.status or "").casefold() == policy.status.casefold()
        return stay.category == policy.status_category

    if policy.cumulative:
        inside = [stay for stay in history if timed(stay)]
        if not inside:
            return []
        last = history[-1]
        stopped = last.start if last.category == DONE and not timed(last) else None
        return [_Cycle(inside[0].start, stopped, inside)]
    current = None
    for stay in history:
        if timed(stay):
            if current is None:
                current = _Cycle(stay.start, None, [])
                cycles.append(current)
            current.stays.append(stay)
        elif current is not None:
            current.stopped_at = stay.start
            current = None
    return cycles


def _crossing(calendar: Calendar, segments: list[tuple[datetime, datetime]], spans: list[int],
              threshold: int) -> datetime | None:
    """The instant the counted time reached `threshold` inside these segments (of these working seconds)."""
    counted = 0
    for (start, _end), seconds in zip(segments, spans, strict=True):
        if counted + seconds >= threshold:
            return calendar.add_seconds(start, threshold - counted)
        counted += seconds
    return None


def evaluate(policy: Policy, history: list[Stay], target_seconds: int, now: datetime,
             is_development: Callable[[Stay], bool] = lambda stay: stay.category == "indeterminate") -> list[Result]:
    """Every cycle of the policy's clock on the issue, as of `now`."""
    calendar = policy.calendar
    warn_seconds = max(1, target_seconds * policy.warn_at_percent // 100)
    results = []
    for number, cycle in enumerate(_cycles(policy, history, is_development), start=1):
        horizon = min(cycle.stopped_at, now) if cycle.stopped_at else now
        segments = [(stay.start, min(stay.end or horizon, horizon)) for stay in cycle.stays
                    if (stay.status or "").casefold() not in policy.pause_statuses and stay.start < horizon]
        spans = [calendar.seconds_between(start, end) for start, end in segments]
        elapsed = sum(spans)
        running = cycle.stopped_at is None
        current = history[-1]
        paused = running and (current not in cycle.stays
                              or (current.status or "").casefold() in policy.pause_statuses)
        moving = running and not paused
        breached_at = _crossing(calendar, segments, spans, target_seconds)
        warned_at = _crossing(calendar, segments, spans, warn_seconds)
        breach_at = breached_at or (calendar.add_seconds(now, target_seconds - elapsed) if moving else None)
        warn_at = warned_at or (calendar.add_seconds(now, warn_seconds - elapsed) if moving else None)
        if not running:
            state = "met_late" if breached_at else "met"
        elif breached_at:
            state = "breached"
        elif paused:
            state = "paused"
        elif warned_at:
            state = "at_risk"
        else:
            state = "running"
        upcoming = [moment for moment, applies in ((warn_at, state == "running"),
                                                   (breach_at, state in ("running", "at_risk")))
                    if applies and moment is not None and moment > now]
        results.append(Result(number, state, paused, cycle.started_at, cycle.stopped_at, elapsed, target_seconds,
                              warn_at, breach_at, breached_at, min(upcoming) if upcoming else None))
    return results
