"""Impact and issue-health arithmetic: factors that add up, bands, resolved issues, monotonicity, no saturation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connect_app.impact.score import (
    DEFAULT_SETTINGS,
    FACTORS,
    Exposure,
    HealthLoad,
    Settings,
    SettingsError,
    impact,
    issue_health,
    percentile,
)

DEFAULTS = Settings.from_mapping(None)
REFERENCE = 500_000.0


def exposure(**values) -> Exposure:
    return Exposure(**({"customers": 1, "weighted_arr": 200_000.0, "renewing_arr": 0.0, "health_risk": 0.3,
                        "breadth": 1.0, "strongest_link": 1.0} | values))


def test_the_points_add_up_to_the_score_and_each_factor_explains_itself():
    result = impact(exposure(customers=3, weighted_arr=900_000, renewing_arr=400_000, health_risk=0.6, breadth=2.2),
                    "High", resolved=False, settings=DEFAULTS, reference_arr=REFERENCE)
    assert [f.name for f in result.factors] == list(FACTORS)
    assert result.score == pytest.approx(sum(f.points for f in result.factors), abs=1e-9)
    for factor in result.factors:
        assert factor.points == round(factor.weight * factor.normalized * 100, 1)
        assert 0 <= factor.normalized <= 1
    by_name = {f.name: f for f in result.factors}
    assert by_name["arr_at_risk"].value == 900_000 and by_name["arr_at_risk"].normalized == pytest.approx(900 / 1400)
    assert by_name["priority"].value == "High" and by_name["priority"].normalized == 0.75
    assert by_name["customer_breadth"].value == 3
    assert result.severity == "high"  # 62.7 points


def test_worked_example_of_the_readme():
    # Acme (enterprise, $900k, health 40, renewing in 20 days, affected) and Globex (mid-market, $150k,
    # health 80, renewing in a year, requested) on a Highest bug; the workspace's reference ARR is $500k.
    acme_risk, globex_risk = 0.6 * 1.0, 0.2 * 0.7
    result = impact(Exposure(customers=2, weighted_arr=900_000 + 150_000 * 0.7, renewing_arr=900_000,
                             health_risk=max(acme_risk, globex_risk), breadth=1.0 + 0.6 * 0.7, strongest_link=1.0),
                    "Highest", resolved=False, settings=DEFAULTS, reference_arr=REFERENCE)
    assert [(f.name, f.points) for f in result.factors] == [
        ("arr_at_risk", 20.0), ("arr_renewing_soon", 12.9), ("priority", 20.0), ("account_health", 6.0),
        ("customer_breadth", 3.2), ("link_type", 10.0)]
    assert (result.score, result.severity) == (72.1, "high")


def test_a_resolved_issue_keeps_its_values_and_scores_zero():
    result = impact(exposure(weighted_arr=5_000_000), "Highest", resolved=True, settings=DEFAULTS,
                    reference_arr=REFERENCE)
    assert result.score == 0 and result.severity == "low" and result.resolved
    assert {f.name: f.value for f in result.factors}["arr_at_risk"] == 5_000_000
    assert all(f.points == 0 for f in result.factors)


def test_an_issue_no_customer_cares_about_scores_zero_whatever_its_priority():
    result = impact(Exposure(), "Blocker", resolved=False, settings=DEFAULTS, reference_arr=REFERENCE)
    assert result.score == 0


@pytest.mark.parametrize(("score", "band"), [(100, "critical"), (75, "critical"), (74.9, "high"), (50, "high"),
                                             (49.9, "medium"), (25, "medium"), (24.9, "low"), (0, "low")])
def test_band_thresholds(score, band):
    assert DEFAULTS.severity(score) == band


def test_bands_follow_the_workspace_settings():
    custom = Settings.from_mapping({"bands": {"critical": 90, "high": 60, "medium": 10}})
    assert [custom.severity(s) for s in (95, 89, 59, 10, 9)] == ["critical", "high", "medium", "medium", "low"]


def test_one_huge_account_does_not_pin_every_issue_at_the_top():
    # In a workspace of big accounts, issues still separate: more ARR at risk, more points, never 100.
    scores = [impact(exposure(weighted_arr=arr, customers=n, breadth=float(n)), "High", resolved=False,
                     settings=DEFAULTS, reference_arr=5_000_000).score
              for arr, n in ((5e6, 1), (1e7, 2), (2e7, 4), (5e7, 10), (1e9, 40))]
    assert scores == sorted(scores) and len(set(scores)) == len(scores)
    assert max(scores) < 100


exposures = st.builds(
    Exposure, customers=st.integers(0, 50), weighted_arr=st.floats(0, 5e7), renewing_arr=st.floats(0, 5e7),
    health_risk=st.floats(0, 1), breadth=st.floats(0, 50), strongest_link=st.sampled_from([0.0, 0.3, 0.7, 1.0]))
priorities = st.sampled_from(["Lowest", "Low", "Medium", "High", "Highest", "Blocker", None, "Custom"])


@settings(max_examples=300, deadline=None)
@given(exposures, exposures, priorities, priorities, st.floats(1, 1e7))
def test_more_exposure_or_a_higher_priority_never_lowers_the_score(a, b, p, q, reference):
    # `high` dominates `low` in every respect: more customers, ARR, renewing ARR, risk, breadth, stronger link.
    low = Exposure(min(a.customers, b.customers), min(a.weighted_arr, b.weighted_arr),
                   min(a.renewing_arr, b.renewing_arr), min(a.health_risk, b.health_risk), min(a.breadth, b.breadth),
                   min(a.strongest_link, b.strongest_link))
    high = Exposure(max(a.customers, b.customers), max(a.weighted_arr, b.weighted_arr),
                    max(a.renewing_arr, b.renewing_arr), max(a.health_risk, b.health_risk), max(a.breadth, b.breadth),
                    max(a.strongest_link, b.strongest_link))
    lower_priority, higher_priority = sorted((p, q), key=DEFAULTS.priority_value)
    before = impact(low, lower_priority, resolved=False, settings=DEFAULTS, reference_arr=reference)
    after = impact(high, higher_priority, resolved=False, settings=DEFAULTS, reference_arr=reference)
    assert after.score >= before.score
    assert 0 <= after.score <= 100
    assert after.score == pytest.approx(sum(f.points for f in after.factors), abs=1e-9)


def test_settings_are_validated_with_every_problem_named():
    with pytest.raises(SettingsError) as caught:
        Settings.from_mapping({"weights": {"arr_at_risk": 0.9}, "bands": {"critical": 40, "high": 50, "medium": 10},
                               "link_weights": {"affected": 2}, "renewal_full_days": 30, "renewal_window_days": 10,
                               "arr_reference": -5, "colour": "red"})
    assert set(caught.value.errors) == {"weights", "bands", "link_weights", "renewal_window_days", "arr_reference", "_"}
    assert "add up to 1" in caught.value.errors["weights"]


def test_default_settings_are_valid_and_round_trip():
    assert Settings.from_mapping(DEFAULTS.as_dict()) == DEFAULTS
    assert DEFAULTS.as_dict()["weights"] == DEFAULT_SETTINGS["weights"]


def test_renewal_proximity():
    assert [DEFAULTS.proximity(d) for d in (None, -10, 0, 30, 105, 180, 400)] == [0, 1, 1, 1, 0.5, 0, 0]


def load(**values) -> HealthLoad:
    return HealthLoad(**({"open_by_priority": {}, "open_count": 0, "oldest_open_days": None,
                          "waiting_on_engineering": 0} | values))


def test_nothing_open_is_perfect_health():
    health = issue_health(load())
    assert (health["score"], health["label"], health["load"]) == (100.0, "healthy", 0)


def test_sla_breaches_weigh_on_issue_health():
    calm = issue_health(load(open_by_priority={"High": 1.0}, open_count=1))
    breached = issue_health(load(open_by_priority={"High": 1.0}, open_count=1, sla_breaches=1))
    assert breached["score"] < calm["score"] and breached["factors"][-1]["load"] == 6.0


def test_issue_health_is_smooth_and_does_not_saturate():
    # Twice the open load always scores lower, from one issue to far beyond any real customer.
    previous = None
    for n in (1, 2, 4, 8, 16, 32, 64, 128):
        health = issue_health(load(open_by_priority={"Highest": float(n)}, open_count=n, oldest_open_days=90))
        assert health["score"] > 0
        if previous is not None:
            assert health["score"] < previous
        previous = health["score"]


def test_issue_health_labels_and_factors():
    health = issue_health(load(open_by_priority={"High": 2.0, "Medium": 0.7}, open_count=3, oldest_open_days=60,
                               waiting_on_engineering=1))
    assert [f["name"] for f in health["factors"]] == ["open_issues", "oldest_open_issue", "waiting_on_engineering",
                                                      "sla_breaches"]
    assert [f["load"] for f in health["factors"]] == [27.5, 2.0, 2.0, 0.0]
    assert health["load"] == 31.5 and health["score"] == round(100 * 40 / 71.5, 1) and health["label"] == "at_risk"
    assert [issue_health(load(open_by_priority={"Highest": n}, open_count=1))["label"]
            for n in (0.2, 1.0, 2.0, 4.0)] == ["healthy", "watch", "at_risk", "critical"]


def test_percentile_is_nearest_rank():
    assert percentile([], 0.9) == 0
    assert percentile([5, 1, 3, 2, 4, 6, 7, 8, 9, 10], 0.9) == 9
