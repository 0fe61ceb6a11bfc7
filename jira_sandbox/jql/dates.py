"""Date literals and date functions of JQL, resolved against the context's `now` (UTC).

Jira reads a date without a time as midnight in the searcher's time zone; the sandbox has no
user time zones, so every date is UTC midnight. `created = "2026-01-31"` therefore matches only
an issue created exactly at 00:00 (Jira behaves the same way); a whole day is
`created >= "2026-01-31" AND created < "2026-02-01"`.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta

from jira_sandbox.jql.errors import JqlError, bad_date

ABSOLUTE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:\s+(\d{1,2}):(\d{2}))?$")
PERIOD = re.compile(r"^([+-]?)\s*((?:\d+\s*[wdhm]\s*)+)$")
PERIOD_PART = re.compile(r"(\d+)\s*([wdhm])")
UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60}
INCREMENT = re.compile(r"^([+-]?)(\d+)([yMwdhm])$")
DATE_FUNCTIONS = ("now", "startOfDay", "endOfDay", "startOfWeek", "endOfWeek", "startOfMonth", "endOfMonth",
                  "startOfYear", "endOfYear")


def parse_date(text: str, quoted: bool, now: datetime, field: str) -> datetime:
    """A JQL date literal -> aware UTC datetime: `2026-01-31`, `2026/01/31 14:05`, `-1d`, `4w 2d`, epoch ms."""
    value = text.strip()
    if not quoted and value.isdigit():
        # Jira reads a bare number on a date field as epoch milliseconds.
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    match = ABSOLUTE.match(value)
    if match:
        year, month, day, hour, minute = (int(g) if g else 0 for g in match.groups())
        try:
            return datetime(year, month, day, hour, minute, tzinfo=UTC)
        except ValueError:
            raise bad_date(text, field) from None
    match = PERIOD.match(value)
    if match:
        seconds = sum(int(n) * UNIT_SECONDS[unit] for n, unit in PERIOD_PART.findall(match.group(2)))
        return now + timedelta(seconds=-seconds if match.group(1) == "-" else seconds)
    raise bad_date(text, field)


def as_datetime(raw) -> datetime | None:
    """An issue's stored date (datetime, date or ISO string) as an aware UTC datetime."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, datetime):
        return raw if raw.tzinfo else raw.replace(tzinfo=UTC)
    if isinstance(raw, date):
        return datetime(raw.year, raw.month, raw.day, tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def call_date_function(name: str, args: tuple[str, ...], now: datetime) -> datetime:
    """Evaluate now() / startOfDay([inc]) / endOfMonth([inc])...; weeks start on Sunday as in Jira's default."""
    canonical = next(f for f in DATE_FUNCTIONS if f.lower() == name.lower())
    if canonical == "now":
        if args:
            raise JqlError(f"Function 'now' expected '0' arguments but received '{len(args)}'.")
        return now
    if len(args) > 1:
        raise JqlError(f"Function '{canonical}' expected between '0' and '1' arguments but received '{len(args)}'.")
    unit = canonical
    start = canonical.startswith("start")
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit.endswith("Day"):
        begin, span = day, "d"
    elif unit.endswith("Week"):
        begin, span = day - timedelta(days=(day.weekday() + 1) % 7), "w"
    elif unit.endswith("Month"):
        begin, span = day.replace(day=1), "M"
    else:
        begin, span = day.replace(month=1, day=1), "y"
    if args:
        match = INCREMENT.match(args[0].strip())
        if not match:
            raise JqlError(f"Duration for function '{canonical}' should have the format (+/-)n(yMwdm), "
                           "e.g -1M for 1 month earlier.")
        amount = int(match.group(2)) * (-1 if match.group(1) == "-" else 1)
        begin = _shift(begin, amount, match.group(3))
    if start:
        return begin
    return _shift(begin, 1, span) - timedelta(milliseconds=1)


def _shift(moment: datetime, amount: int, unit: str) -> datetime:
    if unit in ("y", "M"):
        months = moment.month - 1 + amount * (12 if unit == "y" else 1)
        year, month = moment.year + months // 12, months % 12 + 1
        return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))
    return moment + timedelta(seconds=amount * UNIT_SECONDS[unit])
