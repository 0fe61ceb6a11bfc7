"""Business calendars: weekends, DST in both directions, holidays, windows, and the budget's end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connect_app.sla.calendar import WEEKDAYS, Calendar, CalendarError

NY = ZoneInfo("America/New_York")
OFFICE = {"timezone": "America/New_York",
          "hours": {d: ["09:00", "17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}}
HOUR = 3600


def ny(*args) -> datetime:
    return datetime(*args, tzinfo=NY)


@pytest.fixture(scope="module")
def office() -> Calendar:
    return Calendar.parse(OFFICE)


def test_a_weekend_does_not_count(office):
    # Friday 16:00 to Monday 10:00: one hour on Friday, one on Monday.
    assert office.seconds_between(ny(2026, 12, 4, 16), ny(2026, 12, 7, 10)) == 2 * HOUR
    assert office.add_seconds(ny(2026, 12, 4, 16), 2 * HOUR) == ny(2026, 12, 7, 10).astimezone(UTC)


def test_an_issue_created_outside_working_hours_starts_counting_at_opening_time(office):
    assert office.seconds_between(ny(2026, 12, 5, 10), ny(2026, 12, 7, 9, 30)) == 30 * 60  # Saturday -> Monday
    assert office.seconds_between(ny(2026, 12, 8, 20), ny(2026, 12, 9, 8)) == 0  # overnight
    assert office.add_seconds(ny(2026, 12, 8, 20), 60) == ny(2026, 12, 9, 9, 1).astimezone(UTC)


def test_the_budget_runs_out_at_the_earliest_instant(office):
    # Exactly one working day from Monday 09:00 is Monday 17:00, not Tuesday 09:00.
    assert office.add_seconds(ny(2026, 12, 7, 9), 8 * HOUR) == ny(2026, 12, 7, 17).astimezone(UTC)
    assert office.add_seconds(ny(2026, 12, 7, 12), 0) == ny(2026, 12, 7, 12).astimezone(UTC)


@pytest.mark.parametrize(("day", "hours"), [((2026, 3, 7), 23), ((2026, 10, 31), 25)])
def test_dst_changes_count_the_hours_that_really_passed(day, hours):
    # A calendar open around the clock in New York: the spring-forward day has 23 hours, fall-back 25.
    always = Calendar.parse({"timezone": "America/New_York", "hours": {d: ["00:00", "24:00"] for d in WEEKDAYS}})
    start = ny(*day, 12)
    end = datetime.combine(start.date() + timedelta(days=1), start.timetz())
    assert always.seconds_between(start, end) == hours * HOUR
    assert always.add_seconds(start, hours * HOUR) == end.astimezone(UTC)


def test_office_hours_keep_their_local_time_across_dst(office):
    # The week before and after the spring change: 09:00-17:00 local both times, 8 h a day.
    assert office.seconds_between(ny(2026, 3, 6, 9), ny(2026, 3, 9, 17)) == 16 * HOUR
    monday_nine = office.add_seconds(ny(2026, 3, 6, 17), 1)
    assert monday_nine == ny(2026, 3, 9, 9, 0, 1).astimezone(UTC)
    assert monday_nine.hour == 13  # EDT: 09:00 local is 13:00 UTC (it was 14:00 UTC the Friday before)


def test_public_holidays_and_explicit_dates_are_closed():
    calendar = Calendar.parse(OFFICE | {"holidays": {"country": "US"}, "dates": ["2026-12-24"]})
    # Wednesday 16:00 -> Friday 10:00 around Thanksgiving (Thursday 26 November 2026).
    assert calendar.seconds_between(ny(2026, 11, 25, 16), ny(2026, 11, 27, 10)) == 2 * HOUR
    # Wednesday 23 December 16:00 -> Monday 28 December 10:00: the 24th and Christmas are closed.
    assert calendar.seconds_between(ny(2026, 12, 23, 16), ny(2026, 12, 28, 10)) == 2 * HOUR
    subdivision = Calendar.parse(OFFICE | {"holidays": {"country": "US", "subdiv": "CA"}})
    assert subdivision.seconds_between(ny(2026, 3, 31, 9), ny(2026, 3, 31, 17)) == 0  # Cesar Chavez Day


def test_split_windows_and_day_length():
    calendar = Calendar.parse({"timezone": "Europe/Berlin",
                               "hours": {"mon": [["09:00", "12:00"], ["13:00", "18:00"]], "sat": ["10:00", "12:00"]}})
    berlin = ZoneInfo("Europe/Berlin")
    assert calendar.seconds_between(datetime(2026, 12, 7, 11, tzinfo=berlin),
                                    datetime(2026, 12, 7, 14, tzinfo=berlin)) == 2 * HOUR  # lunch does not count
    assert calendar.day_length_seconds() == 8 * HOUR
    assert Calendar.parse("24x7").day_length_seconds() == 24 * HOUR


@pytest.mark.parametrize(("definition", "field"), [
    ({"timezone": "Mars/Olympus", "hours": {"mon": ["09:00", "17:00"]}}, "calendar.timezone"),
    ({"timezone": "UTC", "hours": {"mon": ["17:00", "09:00"]}}, "calendar.hours.mon"),
    ({"timezone": "UTC", "hours": {"funday": ["09:00", "17:00"]}}, "calendar.hours.funday"),
    ({"timezone": "UTC", "hours": {"mon": ["9am", "5pm"]}}, "calendar.hours.mon"),
    ({"timezone": "UTC", "hours": {"mon": [["09:00", "13:00"], ["12:00", "17:00"]]}}, "calendar.hours.mon"),
    ({"timezone": "UTC", "hours": {"mon": ["09:00", "17:00"]}, "holidays": {"country": "XX"}},
     "calendar.holidays.country"),
    ({"timezone": "UTC", "hours": {"mon": ["09:00", "17:00"]}, "dates": ["next tuesday"]}, "calendar.dates"),
    ("9 to 5", "calendar"),
])
def test_invalid_calendars_name_the_field(definition, field):
    with pytest.raises(CalendarError) as caught:
        Calendar.parse(definition)
    assert field in caught.value.errors


moments = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 1, 1), timezones=st.just(UTC))


@settings(max_examples=200, deadline=None)
@given(moments, moments, moments, st.integers(0, 400 * HOUR))
def test_seconds_add_up_and_the_budget_ends_where_it_should(a, b, c, budget):
    calendar = Calendar.parse(OFFICE | {"holidays": {"country": "US"}})
    first, middle, last = sorted((a, b, c))
    assert calendar.seconds_between(first, middle) + calendar.seconds_between(middle, last) == \
        calendar.seconds_between(first, last)
    end = calendar.add_seconds(first, budget)
    assert calendar.seconds_between(first, end) == budget
    if budget:  # and not a second earlier
        assert calendar.seconds_between(first, end - timedelta(seconds=1)) == budget - 1
