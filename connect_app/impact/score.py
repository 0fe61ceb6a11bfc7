"""Impact severity of an issue and issue health of a customer: explainable arithmetic over plain values.

Impact (0-100, one decimal) is the sum of six factors' points; each factor turns what the issue's
linked customers and its priority say into a value in [0, 1], and earns `weight x value x 100`
points. Every customer counts through its link weight (affected 1.0, requested 0.7, watching 0.3
by default):

| factor | value |
|---|---|
| `arr_at_risk` | ARR of the linked customers (x link weight), as `arr / (arr + reference)` |
| `arr_renewing_soon` | the same ARR x renewal proximity (1 within 30 days, falling to 0 at 180 days) |
| `priority` | the issue's priority (Highest 1.0 ... Lowest 0.1); only when a customer is linked |
| `account_health` | the weakest linked account: `(100 - health) / 100` x link weight (unknown health: 50) |
| `customer_breadth` | linked customers x tier weight x link weight, as `n / (n + 3)` |
| `link_type` | the strongest link among the customers |

`reference` is the workspace's reference ARR (the 90th percentile of its customers' ARR unless
an admin sets one), so one very large account never pins every issue at 100 and issues still
separate in a workspace of many big accounts: `x / (x + reference)` keeps rising with x. For a
fixed reference every factor is monotone: another linked customer, more ARR, a sooner renewal, a
higher priority or a lower account health never lowers the score. A resolved issue scores 0.

Issue health (0-100) is `100 x K / (K + load)`: smooth, 100 with nothing open, halving when the
load reaches K, and reaching 0 only for an infinite load. The load adds up open issues by
priority (x link weight), the oldest open issue's age and the issues still waiting on engineering.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

FACTORS = ("arr_at_risk", "arr_renewing_soon", "priority", "account_health", "customer_breadth", "link_type")
SEVERITIES = ("critical", "high", "medium", "low")

DEFAULT_SETTINGS: dict[str, Any] = {
    "weights": {"arr_at_risk": 0.30, "arr_renewing_soon": 0.20, "priority": 0.20, "account_health": 0.10,
                "customer_breadth": 0.10, "link_type": 0.10},
    "bands": {"critical": 75.0, "high": 50.0, "medium": 25.0},
    "link_weights": {"affected": 1.0, "requested": 0.7, "watching": 0.3},
    "tier_weights": {"enterprise": 1.0, "mid_market": 0.6, "smb": 0.35, "startup": 0.2, "unknown": 0.3},
    "priority_values": {"blocker": 1.0, "highest": 1.0, "critical": 0.9, "high": 0.75, "major": 0.75,
                        "medium": 0.5, "low": 0.25, "minor": 0.25, "lowest": 0.1, "trivial": 0.1,
                        "unknown": 0.4},
    "renewal_full_days": 30,
    "renewal_window_days": 180,
    "arr_reference": None,
}
BREADTH_HALF = 3.0  # customer breadth is 0.5 at three fully weighted enterprise customers
UNKNOWN_HEALTH = 50
WEIGHT_SUM_TOLERANCE = 1e-6

# Issue health
HEALTH_K = 40.0
HEALTH_LABELS = (("healthy", 80.0), ("watch", 60.0), ("at_risk", 35.0), ("critical", 0.0))
PRIORITY_LOAD = {"blocker": 30.0, "highest": 25.0, "critical": 25.0, "high": 12.0, "major": 12.0, "medium": 5.0,
                 "low": 2.0, "minor": 2.0, "lowest": 1.0, "trivial": 1.0}
UNKNOWN_PRIORITY_LOAD = 5.0
AGE_LOAD_PER_30_DAYS = 1.0
AGE_LOAD_CAP_DAYS = 365
WAITING_LOAD = 2.0  # per open issue engineering has not picked up (status category "new") after a week
WAITING_AFTER_DAYS = 7
BREACH_LOAD = 6.0  # per open issue with a breached SLA clock


class SettingsError(ValueError):
    """Impact settings that cannot be used; `errors` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Settings:
    """A workspace's impact settings (weights, bands, link/tier weights, priority values, renewal window)."""

    weights: Mapping[str, float]
    bands: Mapping[str, float]
    link_weights: Mapping[str, float]
    tier_weights: Mapping[str, float]
    priority_values: Mapping[str, float]
    renewal_full_days: int
    renewal_window_days: int
    arr_reference: float | None

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> Settings:
        """Validated settings: the defaults overridden by `raw` (a stored or submitted settings object)."""
        merged = merge_settings(raw)
        # Unknown names are kept for validation to refuse (a typo must not silently do nothing).
        validate_settings(merged | {k: v for k, v in (raw or {}).items() if k not in DEFAULT_SETTINGS})
        return cls(**{k: merged[k] for k in DEFAULT_SETTINGS})

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (what the settings API shows)."""
        return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in self.__dict__.items()}

    def link_weight(self, link_type: str | None) -> float:
        """How much a customer linked this way counts."""
        return float(self.link_weights.get(link_type or "", 0.0))

    def tier_weight(self, tier: str | None) -> float:
        """How much a customer of this tier counts towards breadth."""
        return float(self.tier_weights.get(tier or "unknown", self.tier_weights["unknown"]))

    def priority_value(self, priority: str | None) -> float:
        """The priority factor's value for a priority name (case-insensitive)."""
        return float(self.priority_values.get((priority or "").casefold(), self.priority_values["unknown"]))

    def proximity(self, days_to_renewal: int | None) -> float:
        """1 when renewal is within `renewal_full_days` (or overdue), falling linearly to 0 at the window's end."""
        if days_to_renewal is None:
            return 0.0
        full, window = self.renewal_full_days, self.renewal_window_days
        if days_to_renewal <= full:
            return 1.0
        if days_to_renewal >= window:
            return 0.0
        return (window - days_to_renewal) / (window - full)

    def severity(self, score: float) -> str:
        """The band of a score."""
        for band in ("critical", "high", "medium"):
            if score >= self.bands[band]:
                return band
        return "low"


def merge_settings(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """The defaults with `raw` laid over them (maps are merged key by key)."""
    merged: dict[str, Any] = {}
    raw = raw or {}
    for key, default in DEFAULT_SETTINGS.items():
        value = raw.get(key, default)
        if isinstance(default, dict) and isinstance(value, Mapping):
            value = default | {str(k): v for k, v in value.items()}
        merged[key] = value
    return merged


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def validate_settings(settings: Mapping[str, Any]) -> None:
    """Raise SettingsError naming every unusable field."""
    errors: dict[str, str] = {}
    unknown = sorted(set(settings) - set(DEFAULT_SETTINGS))
    if unknown:
        errors["_"] = f"unknown setting(s): {', '.join(unknown)}"
    weights = settings.get("weights")
    if not isinstance(weights, Mapping) or set(weights) != set(FACTORS):
        errors["weights"] = f"weights must name exactly the factors {', '.join(FACTORS)}"
    elif not all(_number(v) and v >= 0 for v in weights.values()):
        errors["weights"] = "every weight must be a number >= 0"
    elif abs(sum(weights.values()) - 1.0) > WEIGHT_SUM_TOLERANCE:
        errors["weights"] = f"weights must add up to 1 (they add up to {sum(weights.values()):g})"
    bands = settings.get("bands")
    if not isinstance(bands, Mapping) or set(bands) != {"critical", "high", "medium"}:
        errors["bands"] = "bands must give the lowest score of critical, high and medium"
    elif not all(_number(v) and 0 < v <= 100 for v in bands.values()):
        errors["bands"] = "every band threshold must be a number in (0, 100]"
    elif not bands["critical"] > bands["high"] > bands["medium"]:
        errors["bands"] = "band thresholds must fall: critical > high > medium"
    for name, required in (("link_weights", ("affected", "requested", "watching")), ("tier_weights", ("unknown",)),
                           ("priority_values", ("unknown",))):
        mapping = settings.get(name)
        if not isinstance(mapping, Mapping) or not all(isinstance(k, str) and k for k in mapping):
            errors[name] = f"{name} must be an object of names to numbers"
        elif not all(_number(v) and 0 <= v <= 1 for v in mapping.values()):
            errors[name] = f"every value of {name} must be a number in [0, 1]"
        elif not set(required) <= set(mapping):
            errors[name] = f"{name} must include {', '.join(required)}"
    if isinstance(settings.get("priority_values"), Mapping) and any(
            k != k.casefold() for k in settings["priority_values"]):
        errors["priority_values"] = "priority names must be lower case"
    full, window = settings.get("renewal_full_days"), settings.get("renewal_window_days")
    if not (isinstance(full, int) and not isinstance(full, bool) and 0 <= full <= 3650):
        errors["renewal_full_days"] = "renewal_full_days must be a whole number of days in [0, 3650]"
    elif not (isinstance(window, int) and not isinstance(window, bool) and full < window <= 3650):
        errors["renewal_window_days"] = "renewal_window_days must be a whole number of days above renewal_full_days"
    reference = settings.get("arr_reference")
    if reference is not None and not (_number(reference) and reference > 0):
        errors["arr_reference"] = "arr_reference must be a positive number, or null for the workspace's 90th percentile"
    if errors:
        raise SettingsError(errors)


@dataclass(frozen=True)
class Exposure:
    """What an issue's linked customers add up to (one row of the per-issue aggregate)."""

    customers: int = 0
    weighted_arr: float = 0.0  # sum of ARR x link weight
    renewing_arr: float = 0.0  # sum of ARR x link weight x renewal proximity
    health_risk: float = 0.0  # max of (100 - health) / 100 x link weight
    breadth: float = 0.0  # sum of tier weight x link weight
    strongest_link: float = 0.0  # max link weight
    tiers: frozenset[str] = frozenset()  # the tiers among the linked customers


@dataclass(frozen=True)
class Factor:
    """One factor of an impact score: its raw value, weight and the points it earns."""

    name: str
    value: float | str | None
    normalized: float
    weight: float
    points: float

    def as_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"name": self.name, "value": self.value, "normalized": round(self.normalized, 4),
                "weight": self.weight, "points": self.points}


@dataclass(frozen=True)
class Impact:
    """An issue's impact: a 0-100 score (the sum of its factors' points), its band and its factors."""

    score: float
    severity: str
    factors: tuple[Factor, ...] = field(default_factory=tuple)
    resolved: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (what the API and the pushes carry)."""
        return {"score": self.score, "severity": self.severity, "resolved": self.resolved,
                "factors": [f.as_dict() for f in self.factors]}

    def top_factors(self, n: int = 3) -> list[dict[str, Any]]:
        """The factors earning the most points, largest first (ties by name)."""
        ranked = sorted((f for f in self.factors if f.points > 0), key=lambda f: (-f.points, f.name))
        return [{"name": f.name, "points": f.points} for f in ranked[:n]]


def saturate(amount: float, reference: float) -> float:
    """`amount / (amount + reference)`: 0 for nothing, 0.5 at the reference, approaching 1, always rising."""
    if amount <= 0:
        return 0.0
    return amount / (amount + max(reference, 1e-9))


def impact(exposure: Exposure, priority: str | None, *, resolved: bool, settings: Settings,
           reference_arr: float) -> Impact:
    """The impact of one issue from its customers' exposure and its priority (see the module docstring)."""
    reference = settings.arr_reference or reference_arr
    exposed = exposure.customers > 0 and exposure.strongest_link > 0
    values: dict[str, tuple[float | str | None, float]] = {
        "arr_at_risk": (round(exposure.weighted_arr, 2), saturate(exposure.weighted_arr, reference)),
        "arr_renewing_soon": (round(exposure.renewing_arr, 2), saturate(exposure.renewing_arr, reference)),
        "priority": (priority, settings.priority_value(priority) if exposed else 0.0),
        "account_health": (round(exposure.health_risk, 4), min(1.0, max(0.0, exposure.health_risk))),
        "customer_breadth": (exposure.customers, saturate(exposure.breadth, BREADTH_HALF)),
        "link_type": (round(exposure.strongest_link, 4), min(1.0, max(0.0, exposure.strongest_link))),
    }
    factors = []
    for name in FACTORS:
        value, normalized = values[name]
        if resolved:
            normalized = 0.0
        weight = float(settings.weights[name])
        factors.append(Factor(name, value, normalized, weight, round(weight * normalized * 100, 1)))
    score = round(sum(f.points for f in factors), 1)
    return Impact(score, settings.severity(score), tuple(factors), resolved)


def severity_rank(severity: str) -> int:
    """critical 3, high 2, medium 1, low 0 (for `min_severity` filters)."""
    return len(SEVERITIES) - 1 - SEVERITIES.index(severity)


@dataclass(frozen=True)
class HealthLoad:
    """What weighs on a customer: open issues by priority, the oldest one's age, issues waiting on engineering."""

    open_by_priority: Mapping[str, float]  # priority name -> open issues x link weight
    open_count: int
    oldest_open_days: int | None
    waiting_on_engineering: int
    sla_breaches: int = 0  # open issues with a breached SLA clock


def issue_health(load: HealthLoad) -> dict[str, Any]:
    """A 0-100 score (100: nothing open), a label and the factors with their load."""
    priority_load = sum(PRIORITY_LOAD.get((name or "").casefold(), UNKNOWN_PRIORITY_LOAD) * n
                        for name, n in load.open_by_priority.items())
    age_days = min(load.oldest_open_days or 0, AGE_LOAD_CAP_DAYS)
    age_load = AGE_LOAD_PER_30_DAYS * age_days / 30 if load.open_count else 0.0
    waiting_load = WAITING_LOAD * load.waiting_on_engineering
    breach_load = BREACH_LOAD * load.sla_breaches
    total = priority_load + age_load + waiting_load + breach_load
    score = round(100 * HEALTH_K / (HEALTH_K + total), 1)
    label = next(name for name, floor in HEALTH_LABELS if score >= floor)
    return {"score": score, "label": label, "load": round(total, 2), "factors": [
        {"name": "open_issues", "value": {k: round(v, 2) for k, v in sorted(load.open_by_priority.items())},
         "count": load.open_count, "load": round(priority_load, 2)},
        {"name": "oldest_open_issue", "value": load.oldest_open_days if load.open_count else None,
         "unit": "days", "load": round(age_load, 2)},
        {"name": "waiting_on_engineering", "value": load.waiting_on_engineering,
         "description": f"open issues not picked up after {WAITING_AFTER_DAYS} days", "load": round(waiting_load, 2)},
        {"name": "sla_breaches", "value": load.sla_breaches, "description": "open issues with a breached SLA",
         "load": round(breach_load, 2)},
    ]}


def percentile(values: Iterable[float], share: float) -> float:
    """The nearest-rank percentile of some values (0 when there are none)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(share * len(ordered)))
    return float(ordered[rank - 1])
