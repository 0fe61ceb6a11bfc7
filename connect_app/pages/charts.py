"""Charts drawn server-side as SVG geometry (the templates only place what is computed here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# Jira's lozenge colours by status category (the subtle variants, readable text on each).
CATEGORY_FILL = {"new": "#dfe1e6", "indeterminate": "#deebff", "done": "#e3fcef", None: "#f4f5f7"}
CATEGORY_INK = {"new": "#42526e", "indeterminate": "#0747a6", "done": "#006644", None: "#42526e"}
WIDTH = 640
BAR_HEIGHT = 28
MIN_SEGMENT = 3.0  # px: a status held for a minute still shows


@dataclass(frozen=True)
class Segment:
    """One stay in a status on the timeline bar."""

    status: str
    category: str | None
    seconds: int
    x: float
    width: float
    fill: str
    ink: str
    start: str | None
    end: str | None


def duration(seconds: int | None) -> str:
    """3d 4h, 5h 12m, 42m, <1m."""
    if seconds is None:
        return "unknown"
    days, rest = divmod(int(seconds), 86_400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m" if minutes else "<1m"


def timeline(stays: list[dict], width: float = WIDTH) -> dict:
    """The status timeline as one bar: each stay a segment as wide as its share of the issue's life
    (at least MIN_SEGMENT px), plus the total time per status, longest first."""
    known = [s for s in stays if s.get("seconds") is not None]
    total = sum(s["seconds"] for s in known) or 1
    floor = sum(MIN_SEGMENT for _ in known)
    room = max(width - floor, 0.0)
    segments, x = [], 0.0
    for stay in known:
        w = MIN_SEGMENT + room * stay["seconds"] / total
        category = stay.get("status_category")
        segments.append(Segment(stay.get("status") or "unknown", category, stay["seconds"], round(x, 2), round(w, 2),
                                CATEGORY_FILL.get(category, CATEGORY_FILL[None]),
                                CATEGORY_INK.get(category, CATEGORY_INK[None]), stay.get("from"), stay.get("to")))
        x += w
    totals: dict[str, int] = {}
    for stay in known:
        totals[stay.get("status") or "unknown"] = totals.get(stay.get("status") or "unknown", 0) + stay["seconds"]
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    return {"width": width, "height": BAR_HEIGHT, "segments": segments,
            "totals": [{"status": s, "seconds": n, "share": round(n / total * 100)} for s, n in ranked]}


def age(created: datetime | None, now: datetime) -> str:
    """How old an issue is, as the list shows it."""
    return "unknown" if created is None else duration(int((now - created).total_seconds()))


# ---- bar charts (the impact page's ARR at risk) ---------------------------------------------------

BAR_CHART_WIDTH = 360  # the viewBox: drawn about 1:1 in CSCX.AI's 360 px side panel, scaled up on a desktop
BAR_ROW = 26
BAR_THICKNESS = 16
BAR_LABEL_WIDTH = 92
BAR_VALUE_WIDTH = 58
# Bars keep 3:1 against white (WCAG 1.4.11); severity colours follow the impact chips.
SEVERITY_FILL = {"critical": "#bf2600", "high": "#b65c02", "medium": "#0052cc", "low": "#6b778c"}
BAR_FILL = "#0052cc"


@dataclass(frozen=True)
class Bar:
    """One horizontal bar: its label, its value, where it is drawn."""

    label: str
    value: float
    y: float
    width: float
    fill: str


def bar_chart(items: list[tuple[str, float]], *, fills: dict[str, str] | None = None,
              width: int = BAR_CHART_WIDTH) -> dict:
    """Horizontal bars as long as their value's share of the largest (a zero stays a zero, a small value shows at
    least 2 px), the label on the left and the value's place on the right; `empty` when every value is zero."""
    room = width - BAR_LABEL_WIDTH - BAR_VALUE_WIDTH
    largest = max((value for _, value in items), default=0.0)
    bars = []
    for n, (label, value) in enumerate(items):
        length = 0.0 if largest <= 0 or value <= 0 else max(2.0, room * value / largest)
        bars.append(Bar(label, value, n * BAR_ROW, round(length, 2), (fills or {}).get(label, BAR_FILL)))
    return {"width": width, "height": max(len(bars), 1) * BAR_ROW, "bars": bars, "label_width": BAR_LABEL_WIDTH,
            "bar_x": BAR_LABEL_WIDTH, "row": BAR_ROW, "thickness": BAR_THICKNESS, "empty": largest <= 0}
