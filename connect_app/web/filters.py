"""Jinja filters for money and health badges."""

from __future__ import annotations

from decimal import Decimal

from flask import Flask


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


def register_filters(app: Flask) -> None:
    """Install the filters on the app's Jinja environment."""
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["health_class"] = health_class
