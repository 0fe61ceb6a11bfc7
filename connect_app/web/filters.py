"""Jinja filters: money, health badges, instants, ages and durations."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from flask import Flask

from connect_app.pages.charts import age, duration


def money(value: Decimal | float | int | None) -> str:
    """$1.2M / $250K / $900 for ARR figures."""
    amount = float(value or 0)
    if amount >= 1_000_000:
        return f"${amount / 1_000_000:.1f}M"
    if amount >= 1_000:
        return f"${amount / 1_000:.0f}K"
    return f"${amount:.0f}"


def health_class(score: int | None) -> str:
    """CSS class of a health score badge: good (70+), fair (40-69), poor (<40), unknown."""
    if score is None:
        return "health-unknown"
    if score >= 70:
        return "health-good"
    return "health-fair" if score >= 40 else "health-poor"


def when(value: str | datetime | None) -> str:
    """An ISO instant as `2026-12-03 14:05 UTC` (pages show UTC; CSCX.AI's frame has no zone of its own)."""
    if value is None:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def register_filters(app: Flask) -> None:
    """Install the filters on the app's Jinja environment."""
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["health_class"] = health_class
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["age"] = age
    app.jinja_env.filters["duration"] = duration
