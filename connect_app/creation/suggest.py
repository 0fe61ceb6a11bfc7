"""The priority a new issue should carry, from the impact it would have on its customer.

The issue's impact is scored as the impact engine scores any issue (`connect_app.impact.score`),
with this one customer linked and the priority factor left out, since priority is what we are
choosing: the other factors' points, scaled to 0-100, give the severity band, and the band picks
the priority: critical -> Highest, high -> High, medium -> Medium, low -> Low. Of the priorities
the project offers, the nearest by the impact settings' priority values is suggested.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from connect_app.creation.describe import TIER_NAMES, money
from connect_app.impact.score import Exposure, Settings, impact

BAND_PRIORITY = {"critical": "Highest", "high": "High", "medium": "Medium", "low": "Low"}


@dataclass(frozen=True)
class Account:
    """What the suggestion reads of the customer."""

    name: str
    tier: str | None
    arr: float
    health_score: int | None
    renewal_date: date | None


def suggest(account: Account, link_type: str, offered: Sequence[str], settings: Settings, reference_arr: float,
            today: date) -> dict[str, Any]:
    """{"name", "why", "score", "severity"}: the suggested priority (one the project offers) and the reason."""
    weight = settings.link_weight(link_type)
    days = (account.renewal_date - today).days if account.renewal_date else None
    health = 50 if account.health_score is None else account.health_score
    exposure = Exposure(customers=1, weighted_arr=account.arr * weight,
                        renewing_arr=account.arr * weight * settings.proximity(days),
                        health_risk=(100 - health) / 100 * weight, breadth=settings.tier_weight(account.tier) * weight,
                        strongest_link=weight, tiers=frozenset({account.tier}) if account.tier else frozenset())
    scored = impact(exposure, None, resolved=False, settings=settings, reference_arr=reference_arr)
    others = [f for f in scored.factors if f.name != "priority"]
    room = sum(f.weight for f in others) * 100
    score = round(sum(f.points for f in others) / room * 100, 1) if room else 0.0
    severity = settings.severity(score)
    wanted = BAND_PRIORITY[severity]
    name = _nearest(wanted, offered, settings) if offered else wanted
    reasons = [f"{account.name} is {TIER_NAMES.get(account.tier or '', 'of unknown tier')}"
               f" with {money(account.arr)} ARR"]
    if days is not None:
        reasons.append(f"renewing in {days} days" if days >= 0 else f"{-days} days past renewal")
    if account.health_score is not None:
        reasons.append(f"health {account.health_score}/100")
    why = (", ".join(reasons) + f": impact {score:g} of 100 ({severity}) before priority, so {name}"
           + ("" if name == wanted else f" (the project has no {wanted})") + ".")
    return {"name": name, "why": why, "score": score, "severity": severity}


def _nearest(wanted: str, offered: Sequence[str], settings: Settings) -> str:
    """The offered priority whose value is closest to the wanted one's (the higher on a tie)."""
    target = settings.priority_value(wanted)
    for name in offered:
        if name.casefold() == wanted.casefold():
            return name
    return min(offered, key=lambda n: (abs(settings.priority_value(n) - target), -settings.priority_value(n)))
