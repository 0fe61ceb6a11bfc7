"""Business calendars: working seconds between two instants, and the instant a budget of them runs out.

A calendar is `24x7`, or working hours per weekday in an IANA time zone, minus public holidays
(the `holidays` library, by country and subdivision) and explicit dates. Windows are local wall
time, turned into UTC day by day through `zoneinfo`, so a DST change in either direction counts
the hours that really passed (a 00:00-24:00 day has 23 or 25 of them).

Per local day the calendar knows its working windows in UTC and the working seconds before that
day (prefix sums, built lazily and cached), so `seconds_between` and `add_seconds` cost a lookup
and a short walk inside one day, however far apart the instants are.
"""

from __future__ import annotations

import bisect
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holiday_library

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
EPOCH = date(2000, 1, 3)  # a Monday: local day ordinals count from here
DAY = timedelta(days=1)


class CalendarError(ValueError):
    """A calendar definition that cannot be used; `errors` maps each field to what is wrong."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _clock(text: str) -> time | None:
    """'09:30' -> time(9, 30); '24:00' -> None (the end of the day)."""
    if text == "24:00":
        return None
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


@dataclass(frozen=True)
class Window:
    """One working interval of a local day, as wall-clock times ('24:00' ends at midnight)."""

    start: time
    end: time | None  # None: midnight at the end of the day


class Calendar:
    """When work happens; see the module docstring. Build with `Calendar.parse(definition)`."""

    def __init__(self, zone: ZoneInfo | None, week: Mapping[int, tuple[Window, ...]] | None,
                 closed: frozenset[date] = frozenset(), country: str | None = None, subdiv: str | None = None):
        self.zone = zone  # None: 24x7 (UTC seconds, no windows)
        self.week = dict(week or {})
        self.closed = closed
        self.country, self.subdiv = country, subdiv
        self._holiday_years: set[int] = set()
        self._holidays: set[date] = set()
        self._first: int | None = None  # ordinal of the first cached local day
        self._before: list[int] = []  # working seconds before each cached day
        self._windows: list[tuple[tuple[int, int], ...]] = []  # each cached day's windows, UTC epoch seconds
        self._lock = threading.Lock()
        self._day_length = 86_400 if zone is None else max(
            (sum(_window_seconds(w) for w in windows) for windows in self.week.values()), default=0)

    # ---- building -------------------------------------------------------------------------

    @classmethod
    def parse(cls, definition: Any) -> Calendar:
        """A calendar from its JSON form: "24x7", or {"timezone", "hours", "holidays"?, "dates"?}."""
        if definition in (None, "24x7"):
            return cls(None, None)
        if not isinstance(definition, Mapping):
            raise CalendarError({"calendar": 'must be "24x7" or an object with timezone and hours'})
        errors: dict[str, str] = {}
        unknown = sorted(set(definition) - {"timezone", "hours", "holidays", "dates"})
        if unknown:
            errors["calendar"] = f"unknown field(s): {', '.join(unknown)}"
        zone = None
        try:
            zone = ZoneInfo(str(definition.get("timezone") or ""))
        except (ZoneInfoNotFoundError, ValueError):
            errors["calendar.timezone"] = "must be an IANA time zone such as America/New_York"
        week: dict[int, tuple[Window, ...]] = {}
        hours = definition.get("hours")
        if not isinstance(hours, Mapping) or not hours:
            errors["calendar.hours"] = 'must map weekdays (mon..sun) to ["HH:MM", "HH:MM"] or a list of them'
        else:
            for day, spec in hours.items():
                if day not in WEEKDAYS:
                    errors[f"calendar.hours.{day}"] = "must be one of mon, tue, wed, thu, fri, sat, sun"
                    continue
                windows = _windows(spec)
                if windows is None:
                    errors[f"calendar.hours.{day}"] = ('must be ["HH:MM", "HH:MM"] (start before end, "24:00" '
                                                       "for midnight) or a list of such non-overlapping pairs")
                    continue
                week[WEEKDAYS.index(day)] = windows
            if not errors and not week:
                errors["calendar.hours"] = "must have working hours on at least one day"
        country, subdiv = None, None
        rules = definition.get("holidays")
        if rules is not None:
            if not isinstance(rules, Mapping) or not isinstance(rules.get("country"), str):
                errors["calendar.holidays"] = 'must be {"country": "US", "subdiv": "CA"?}'
            else:
                country, subdiv = rules["country"].upper(), rules.get("subdiv")
                supported = holiday_library.list_supported_countries()
                if country not in supported:
                    errors["calendar.holidays.country"] = f"{country!r} is not a country the holiday calendar knows"
                elif subdiv is not None and subdiv not in supported[country]:
                    errors["calendar.holidays.subdiv"] = f"{subdiv!r} is not a subdivision of {country}"
        closed: set[date] = set()
        dates = definition.get("dates", [])
        if not isinstance(dates, list):
            errors["calendar.dates"] = "must be a list of YYYY-MM-DD dates"
        else:
            for value in dates:
                try:
                    # Strictly YYYY-MM-DD text: fromisoformat alone also takes 20261224, and str() a number.
                    if not isinstance(value, str) or len(value) != 10:
                        raise ValueError(value)
                    closed.add(date.fromisoformat(value))
                except ValueError:
                    errors["calendar.dates"] = f"{value!r} is not a YYYY-MM-DD date"
        if errors:
            raise CalendarError(errors)
        return cls(zone, week, frozenset(closed), country, subdiv)

    @property
    def is_24x7(self) -> bool:
        """True for a calendar without hours: every second counts."""
        return self.zone is None

    def day_length_seconds(self) -> int:
        """A working day's length ("1d" in targets): the longest weekday's hours (24 h for 24x7)."""
        return self._day_length

    # ---- per local day -------------------------------------------------------------------------

    def _is_holiday(self, day: date) -> bool:
        if day in self.closed:
            return True
        if self.country is None:
            return False
        if day.year not in self._holiday_years:
            self._holidays |= set(holiday_library.country_holidays(self.country, subdiv=self.subdiv, years=day.year))
            self._holiday_years.add(day.year)
        return day in self._holidays

    def _day_windows(self, ordinal: int) -> tuple[tuple[int, int], ...]:
        """The working windows of local day `ordinal` as (start, end) UTC epoch seconds."""
        day = EPOCH + timedelta(days=ordinal)
        windows = self.week.get(day.weekday(), ())
        if not windows or self._is_holiday(day):
            return ()
        spans = []
        for window in windows:
            start = datetime.combine(day, window.start, self.zone)
            end = datetime.combine(day + DAY, time(0), self.zone) if window.end is None \
                else datetime.combine(day, window.end, self.zone)
            spans.append((int(start.timestamp()), int(end.timestamp())))
        return tuple(spans)

    def _ensure(self, ordinal: int) -> None:
        """Extend the cached days (and their prefix sums) to cover `ordinal`."""
        if self._first is None:
            self._first = ordinal
            self._before = [0]
            self._windows = [self._day_windows(ordinal)]
        while ordinal < self._first:  # prepend: shift every prefix by the new day's seconds
            self._first -= 1
            windows = self._day_windows(self._first)
            seconds = sum(end - start for start, end in windows)
            self._before = [0] + [b + seconds for b in self._before]
            self._windows.insert(0, windows)
        while ordinal >= self._first + len(self._windows):
            last = self._windows[-1]
            self._before.append(self._before[-1] + sum(end - start for start, end in last))
            self._windows.append(self._day_windows(self._first + len(self._windows)))

    def _ordinal(self, moment: datetime) -> int:
        return (moment.astimezone(self.zone).date() - EPOCH).days

    def _cumulative(self, moment: datetime, ordinal: int) -> int:
        """Working seconds from the start of the cached range to `moment` of local day `ordinal` (lock held;
        the day is cached). Values are only comparable within one lock hold: a later prepend shifts every prefix.
        """
        index = ordinal - self._first
        before, windows = self._before[index], self._windows[index]
        stamp = moment.timestamp()
        inside = sum(max(0.0, min(end, stamp) - start) for start, end in windows)
        return before + int(inside)

    # ---- the two questions ------------------------------------------------------------------

    def seconds_between(self, start: datetime, end: datetime) -> int:
        """Working seconds from `start` to `end` (0 when end is not after start)."""
        if end <= start:
            return 0
        if self.is_24x7:
            return int(end.timestamp()) - int(start.timestamp())
        first, last = self._ordinal(start), self._ordinal(end)
        with self._lock:
            self._ensure(first)
            self._ensure(last)
            return self._cumulative(end, last) - self._cumulative(start, first)

    def add_seconds(self, start: datetime, seconds: int) -> datetime:
        """The instant when `seconds` working seconds have passed after `start` (UTC)."""
        if seconds <= 0:
            return start.astimezone(UTC)
        if self.is_24x7:
            return (start + timedelta(seconds=seconds)).astimezone(UTC)
        ordinal = self._ordinal(start)
        with self._lock:
            self._ensure(ordinal)
            target = self._cumulative(start, ordinal) + seconds
            # Grow the cache until it holds the day whose end reaches the target.
            while True:
                last = len(self._windows) - 1
                total = self._before[last] + sum(end - s for s, end in self._windows[last])
                if total >= target:
                    break
                if len(self._windows) > 40_000:  # ~110 years without a working second: no answer
                    raise CalendarError({"calendar": "has no working time in the next hundred years"})
                self._ensure(self._first + len(self._windows))
            # The first day whose end reaches the target: the budget runs out at the earliest instant.
            index = max(bisect.bisect_left(self._before, target) - 1, ordinal - self._first)
            while True:
                remaining = target - self._before[index]
                for window_start, window_end in self._windows[index]:
                    if remaining <= window_end - window_start:
                        return datetime.fromtimestamp(window_start + remaining, UTC)
                    remaining -= window_end - window_start
                index += 1


def _window_seconds(window: Window) -> int:
    end = 86_400 if window.end is None else window.end.hour * 3600 + window.end.minute * 60
    return end - (window.start.hour * 3600 + window.start.minute * 60)


def _windows(spec: Any) -> tuple[Window, ...] | None:
    """Working windows of a weekday from ["09:00", "17:00"] or [["09:00", "12:00"], ["13:00", "17:00"]]."""
    pairs = [spec] if isinstance(spec, list) and len(spec) == 2 and all(isinstance(x, str) for x in spec) else spec
    if not isinstance(pairs, list) or not pairs:
        return None
    windows: list[Window] = []
    previous_end = -1
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) and CLOCK.match(x) for x in pair)):
            return None
        if pair[0] == "24:00":
            return None
        window = Window(_clock(pair[0]), _clock(pair[1]))
        start = window.start.hour * 3600 + window.start.minute * 60
        if _window_seconds(window) <= 0 or start < previous_end:
            return None
        previous_end = start + _window_seconds(window)
        windows.append(window)
    return tuple(windows)
