"""SLA clocks from status histories: cycles, pauses, reopen, tiers, states and due instants (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connect_app.sla.clock import Transition, evaluate, stays
from connect_app.sla.policies import PolicyError, duration_seconds, parse_policy

NY = ZoneInfo("America/New_York")
HOUR = 3600
OFFICE = {"timezone": "America/New_York",
          "hours": {d: ["09:00", "17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}}


def ny(*args) -> datetime:
    return datetime(*args, tzinfo=NY)


def policy(**overrides):
    return parse_policy({"name": "Bugs in 3 business days", "metric": "time_to_resolution", "target": "3d",
                         "calendar": OFFICE, "warn_at_percent": 80} | overrides)


def move(at, frm, to, frm_cat, to_cat) -> Transition:
    return Transition(at, frm, to, frm_cat, to_cat)


def test_a_running_clock_counts_business_time_and_knows_when_it_will_warn_and_breach():
    created = ny(2026, 12, 7, 9)  # Monday 09:00
    history = stays(created, [], "To Do", "new")
    [result] = evaluate(policy(), history, 24 * HOUR, now=ny(2026, 12, 8, 13))  # Tuesday 13:00: 12 h in
    assert (result.state, result.elapsed_seconds, result.target_seconds) == ("running", 12 * HOUR, 24 * HOUR)
    assert result.warn_at == ny(2026, 12, 9, 12, 12).astimezone(UTC)  # 80%: 19.2 h -> Wednesday 12:12
    assert result.breach_at == ny(2026, 12, 9, 17).astimezone(UTC)
    assert result.next_check_at == result.warn_at and result.breached_at is None


def test_the_readme_example():
    # An enterprise bug created Monday 09:00 New York has 24 working hours: at risk Wednesday 12:12,
    # breached Wednesday 17:00; waiting for the customer Monday 11:00 - Tuesday 11:00 moves both by 8 h.
    created = ny(2026, 12, 7, 9)
    waits = policy(pause_statuses=["Waiting for customer"])
    [plain] = evaluate(waits, stays(created, [], "To Do", "new"), 24 * HOUR, now=created)
    assert (plain.warn_at, plain.breach_at) == (ny(2026, 12, 9, 12, 12).astimezone(UTC),
                                                ny(2026, 12, 9, 17).astimezone(UTC))
    waited = stays(created, [move(ny(2026, 12, 7, 11), "To Do", "Waiting for customer", "new", "indeterminate"),
                             move(ny(2026, 12, 8, 11), "Waiting for customer", "To Do", "indeterminate", "new")],
                   "To Do", "new")
    [later] = evaluate(waits, waited, 24 * HOUR, now=ny(2026, 12, 8, 11))
    assert (later.warn_at, later.breach_at) == (ny(2026, 12, 10, 12, 12).astimezone(UTC),
                                                ny(2026, 12, 10, 17).astimezone(UTC))


def test_at_risk_then_breached_then_met_late():
    created = ny(2026, 12, 7, 9)
    history = stays(created, [], "To Do", "new")
    [risky] = evaluate(policy(), history, 24 * HOUR, now=ny(2026, 12, 9, 13))
    assert risky.state == "at_risk" and risky.next_check_at == ny(2026, 12, 9, 17).astimezone(UTC)
    [breached] = evaluate(policy(), history, 24 * HOUR, now=ny(2026, 12, 10, 10))
    assert breached.state == "breached" and breached.breached_at == ny(2026, 12, 9, 17).astimezone(UTC)
    assert breached.next_check_at is None
    done = stays(created, [move(ny(2026, 12, 10, 11), "To Do", "Done", "new", "done")], "Done", "done")
    [late] = evaluate(policy(), done, 24 * HOUR, now=ny(2026, 12, 11, 9))
    assert (late.state, late.stopped_at, late.elapsed_seconds) == ("met_late", ny(2026, 12, 10, 11), 26 * HOUR)


def test_met_in_time():
    created = ny(2026, 12, 7, 9)
    history = stays(created, [move(ny(2026, 12, 7, 15), "To Do", "Done", "new", "done")], "Done", "done")
    [result] = evaluate(policy(), history, 24 * HOUR, now=ny(2026, 12, 20, 9))
    assert (result.state, result.elapsed_seconds, result.next_check_at) == ("met", 6 * HOUR, None)


def test_a_pause_status_in_the_middle_of_a_working_day_does_not_count():
    created = ny(2026, 12, 7, 9)
    history = stays(created, [
        move(ny(2026, 12, 7, 11), "To Do", "Waiting for customer", "new", "indeterminate"),
        move(ny(2026, 12, 7, 14, 30), "Waiting for customer", "In Progress", "indeterminate", "indeterminate"),
    ], "In Progress", "indeterminate")
    paused = policy(pause_statuses=["Waiting for customer"])
    [result] = evaluate(paused, history, 24 * HOUR, now=ny(2026, 12, 7, 17))
    assert result.elapsed_seconds == 2 * HOUR + int(2.5 * HOUR) and result.state == "running"
    waiting = stays(created, [move(ny(2026, 12, 7, 11), "To Do", "Waiting for customer", "new", "indeterminate")],
                    "Waiting for customer", "indeterminate")
    [during] = evaluate(paused, waiting, 24 * HOUR, now=ny(2026, 12, 7, 12))
    assert during.state == "paused" and during.paused and during.next_check_at is None


def test_a_reopen_starts_a_new_cycle_and_the_old_one_keeps_its_result():
    created = ny(2026, 12, 7, 9)
    history = stays(created, [
        move(ny(2026, 12, 7, 12), "To Do", "Done", "new", "done"),
        move(ny(2026, 12, 8, 10), "Done", "To Do", "done", "new"),
    ], "To Do", "new")
    first, second = evaluate(policy(), history, 24 * HOUR, now=ny(2026, 12, 8, 12))
    assert (first.cycle, first.state, first.elapsed_seconds) == (1, "met", 3 * HOUR)
    assert (second.cycle, second.state, second.started_at, second.elapsed_seconds) == (
        2, "running", ny(2026, 12, 8, 10), 2 * HOUR)


def test_the_target_follows_the_highest_tier_with_its_own_target():
    tiered = policy(target="40h", targets_by_tier={"enterprise": "24h", "mid_market": "32h"})
    assert tiered.target_seconds(["smb", "mid_market"]) == 32 * HOUR
    assert tiered.target_seconds(["enterprise", "mid_market"]) == 24 * HOUR
    assert tiered.target_seconds(["startup"]) == 40 * HOUR
    assert tiered.target_seconds([]) == 40 * HOUR


def test_time_to_development_stops_when_work_starts():
    created = ny(2026, 12, 7, 9)
    history = stays(created, [move(ny(2026, 12, 7, 13), "To Do", "In Progress", "new", "indeterminate")],
                    "In Progress", "indeterminate")
    [result] = evaluate(policy(metric="time_to_development", target="8h"), history, 8 * HOUR,
                        now=ny(2026, 12, 9, 9))
    assert (result.state, result.elapsed_seconds) == ("met", 4 * HOUR)
    # With a status map naming "Fix Scheduled" as development, In Progress does not stop it.
    mapped = evaluate(policy(metric="time_to_development", target="8h"), history, 8 * HOUR, now=ny(2026, 12, 7, 15),
                      is_development=lambda stay: stay.status == "Fix Scheduled")
    assert mapped[0].state == "running" and mapped[0].elapsed_seconds == 6 * HOUR


def test_time_in_status_each_stay_or_cumulative():
    created = ny(2026, 12, 7, 9)
    history = stays(created, [
        move(ny(2026, 12, 7, 10), "To Do", "In Review", "new", "indeterminate"),
        move(ny(2026, 12, 7, 12), "In Review", "In Progress", "indeterminate", "indeterminate"),
        move(ny(2026, 12, 7, 14), "In Progress", "In Review", "indeterminate", "indeterminate"),
    ], "In Review", "indeterminate")
    each = evaluate(policy(metric="time_in_status", status="In Review", target="4h"), history, 4 * HOUR,
                    now=ny(2026, 12, 7, 15))
    assert [(r.cycle, r.state, r.elapsed_seconds) for r in each] == [(1, "met", 2 * HOUR), (2, "running", HOUR)]
    [total] = evaluate(policy(metric="time_in_status", status="In Review", target="4h", cumulative=True), history,
                       4 * HOUR, now=ny(2026, 12, 7, 15))
    assert (total.state, total.elapsed_seconds) == ("running", 3 * HOUR)  # 75% of 4 h


def test_an_issue_created_on_saturday_starts_its_clock_on_monday_morning():
    history = stays(ny(2026, 12, 5, 11), [], "To Do", "new")
    [result] = evaluate(policy(), history, 8 * HOUR, now=ny(2026, 12, 7, 10))
    assert result.elapsed_seconds == HOUR and result.breach_at == ny(2026, 12, 7, 17).astimezone(UTC)


def test_a_day_of_a_business_calendar_is_its_working_day():
    office = parse_policy({"name": "x", "metric": "time_to_resolution", "target": "1d", "calendar": OFFICE})
    always = parse_policy({"name": "x", "metric": "time_to_resolution", "target": "1d"})
    assert duration_seconds("3d", office.calendar) == 24 * HOUR
    assert duration_seconds("1.5h", always.calendar) == 5400 and duration_seconds("90m", always.calendar) == 5400
    assert always.target_seconds() == 24 * HOUR


@pytest.mark.parametrize(("raw", "field"), [
    ({"metric": "time_to_lunch"}, "metric"),
    ({"target": "3 weeks"}, "target"),
    ({"target": "0h"}, "target"),
    ({"targets_by_tier": {"platinum": "4h"}}, "targets_by_tier.platinum"),
    ({"targets_by_tier": {"enterprise": "soon"}}, "targets_by_tier.enterprise"),
    ({"warn_at_percent": 0}, "warn_at_percent"),
    ({"selector": {"tiers": ["gold"]}}, "selector.tiers"),
    ({"selector": {"colour": ["red"]}}, "selector.colour"),
    ({"metric": "time_in_status"}, "status"),
    ({"metric": "time_in_status", "status_category": "closed"}, "status_category"),
    ({"status": "In Review"}, "status"),
    ({"calendar": {"timezone": "Nowhere/City", "hours": {"mon": ["09:00", "17:00"]}}}, "calendar.timezone"),
    ({"name": ""}, "name"),
    ({"mood": "happy"}, "_"),
])
def test_invalid_policies_name_each_field(raw, field):
    base = {"name": "P", "metric": "time_to_resolution", "target": "4h"}
    with pytest.raises(PolicyError) as caught:
        parse_policy(base | raw)
    assert field in caught.value.errors


def test_now_before_creation_is_an_empty_clock():
    history = stays(ny(2026, 12, 7, 9), [], "To Do", "new")
    [result] = evaluate(policy(), history, 8 * HOUR, now=ny(2026, 12, 7, 9) - timedelta(hours=1))
    assert result.elapsed_seconds == 0
