"""Power of a cluster-randomised trial against R, simulation and properties; the widget.

The fixture tests/fixtures/power.json is made by tests/reference/power.R in base R, two
independent ways: power.t.test on the school means (J/2 per arm, sd sqrt(rho + (1-rho)/n))
and R's own noncentral t (pt with ncp), for Raudenbush's (1997) formula.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from hlmteach.power import (
    _school_mean_t_tests,
    cluster_trial_noncentrality,
    cluster_trial_power,
    effective_sample_size,
    minimum_detectable_effect,
    power_curve,
    schools_needed,
    simulate_cluster_trial,
)
from hlmteach.power_widget import PowerView, power_view, power_widget
from hlmteach.validation import ModelInputError

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "power.json").read_text())

# R's pt(ncp=) (AS 243) and scipy's nct (Boost) are different algorithms, each accurate to
# about 1e-12 here; 1e-9 absolute on a probability is far below any printed digit and far
# above their disagreement (measured: 9e-13).
PROBABILITY = 1e-9
# The MDES is a root of the power equation solved to 1e-12 by both sides (uniroot, brentq).
ROOT = 1e-8


@pytest.mark.parametrize(
    "row",
    FIXTURE["power"],
    ids=lambda r: (
        f"J{r['n_schools']}n{r['school_size']}rho{r['icc']}d{r['effect_size']}a{r['alpha']}"
    ),
)
def test_power_agrees_with_power_t_test_and_the_noncentral_t(row):
    power = cluster_trial_power(
        row["effect_size"], row["n_schools"], row["school_size"], row["icc"], alpha=row["alpha"]
    )
    assert power == pytest.approx(row["power_t_test"], abs=PROBABILITY)
    assert power == pytest.approx(row["power_noncentral_t"], abs=PROBABILITY)


@pytest.mark.parametrize("row", FIXTURE["covariate"])
def test_power_with_covariates_agrees_with_r(row):
    power = cluster_trial_power(
        row["effect_size"],
        row["n_schools"],
        row["school_size"],
        row["icc"],
        r2_between=row["r2_between"],
        r2_within=row["r2_within"],
        n_covariates=row["n_covariates"],
    )
    assert power == pytest.approx(row["power"], abs=PROBABILITY)


@pytest.mark.parametrize("row", FIXTURE["mdes"])
def test_minimum_detectable_effect_agrees_with_r(row):
    args = (row["n_schools"], row["school_size"], row["icc"])
    exact = minimum_detectable_effect(*args, power=row["power"])
    multiplier = minimum_detectable_effect(*args, power=row["power"], method="multiplier")
    assert exact == pytest.approx(row["mdes_noncentral_t"], abs=ROOT)
    # R's qt and scipy's t.ppf differ by up to about 3e-11 relative for 98 df
    assert multiplier == pytest.approx(row["mdes_multiplier"], rel=1e-9)
    # Bloom's multiplier form is close to the exact root; the docstring promises 0.001 for
    # 10 or more df
    if row["n_schools"] - 2 >= 10:
        assert abs(exact - multiplier) < 0.001


@pytest.mark.parametrize("row", FIXTURE["schools_needed"])
def test_schools_needed_agrees_with_r(row):
    assert schools_needed(row["effect_size"], row["school_size"], row["icc"]) == row["n_schools"]


def test_blooms_multiplier_tends_to_2_8():
    """Bloom (1995): for large samples, MDES = 2.8 standard errors (alpha .05, power .80)."""
    se = np.sqrt(4 * (0.1 + 0.9 / 20) / 10_000)
    assert minimum_detectable_effect(10_000, 20, 0.1, method="multiplier") / se == pytest.approx(
        2.80, abs=0.005
    )


def test_noncentrality_is_the_effect_over_its_standard_error():
    ncp = cluster_trial_noncentrality(0.4, 40, 20, 0.1)
    assert ncp == pytest.approx(0.4 / np.sqrt(4 * (0.1 + 0.9 / 20) / 40))
    # the design effect form: var = 4 / (J n) * deff
    deff = 1 + 19 * 0.1
    assert ncp == pytest.approx(0.4 / np.sqrt(4 * deff / (40 * 20)))
    assert effective_sample_size(40, 20, 0.1) == pytest.approx(800 / deff)


@settings(max_examples=40, deadline=None)
@given(
    effect=st.floats(0.05, 1.0),
    half=st.integers(2, 60),
    n=st.integers(1, 80),
    icc=st.floats(0.0, 0.6),
)
def test_power_grows_with_schools_students_and_effect_and_falls_with_the_icc(effect, half, n, icc):
    J = 2 * half
    base = cluster_trial_power(effect, J, n, icc)
    assert 0.05 - 1e-9 <= base <= 1.0
    assert cluster_trial_power(effect, J + 2, n, icc) >= base - 1e-12
    assert cluster_trial_power(effect, J, n + 1, icc) >= base - 1e-12
    assert cluster_trial_power(effect * 1.1, J, n, icc) >= base - 1e-12
    assert cluster_trial_power(effect, J, n, min(icc + 0.05, 0.95)) <= base + 1e-12 or n == 1
    # the MDES inverts the power
    if 0.06 < base < 0.999:
        assert minimum_detectable_effect(J, n, icc, power=base) == pytest.approx(effect, rel=1e-6)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    scale=st.sampled_from([1e-4, 0.01, 15.0, 1e3, 1e6]),
    shift=st.floats(-1e4, 1e4),
)
def test_the_school_means_test_ignores_the_outcomes_units_and_origin(seed, scale, shift):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=(5, 8, 6)) + np.tile([0.0, 0.4], 4)[None, :, None]
    treated = np.tile([0.0, 1.0], 4)
    a = _school_mean_t_tests(y, treated)
    b = _school_mean_t_tests(y * scale + shift * scale, treated)
    np.testing.assert_allclose(b["p"], a["p"], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(b["estimate"] / scale, a["estimate"], rtol=1e-6, atol=1e-9)


def test_the_simulation_fitted_by_fit_hlm_matches_the_school_means_test_trial_by_trial():
    fitted = simulate_cluster_trial(0.5, 12, 6, 0.2, n_reps=25, seed=5)
    fast = simulate_cluster_trial(0.5, 12, 6, 0.2, n_reps=400, seed=5, method="school means")
    head = fast.trials.iloc[:25]
    np.testing.assert_allclose(fitted.trials["estimate"], head["estimate"], atol=1e-10)
    positive = fitted.trials["tau00"].to_numpy() > 1e-8
    assert positive.sum() >= 15
    np.testing.assert_allclose(fitted.trials["p"][positive], head["p"][positive], rtol=1e-5)
    np.testing.assert_allclose(fitted.trials["tau00"][positive], head["tau00"][positive], rtol=1e-5)


def test_a_large_simulation_agrees_with_the_closed_form():
    """20 000 trials: the share rejecting lies within 3.5 Monte-Carlo SEs of the formula."""
    for design in ((0.3, 20, 10, 0.1), (0.5, 10, 30, 0.25), (0.0, 16, 5, 0.2)):
        sim = simulate_cluster_trial(*design, n_reps=20_000, seed=11, method="school means")
        se = np.sqrt(sim.closed_form * (1 - sim.closed_form) / 20_000)
        assert abs(sim.power - sim.closed_form) < 3.5 * se, design
    assert simulate_cluster_trial(0.0, 16, 5, 0.2, n_reps=10, seed=1).closed_form == (
        pytest.approx(0.05)
    )


def test_the_simulation_is_reproducible_and_reports_its_error():
    a = simulate_cluster_trial(0.4, 10, 5, 0.1, n_reps=300, seed=3, method="school means")
    b = simulate_cluster_trial(0.4, 10, 5, 0.1, n_reps=300, seed=3, method="school means")
    assert a.power == b.power and a.trials.equals(b.trials)
    assert a.monte_carlo_se == pytest.approx(np.sqrt(a.power * (1 - a.power) / 300))


def test_power_curve_matches_single_designs_and_has_the_ceiling():
    over_j = power_curve(0.3, 40, 20, 0.1)
    assert over_j["n_schools"].tolist() == list(range(4, 201, 2))
    for j in (4, 40, 200):
        assert over_j.set_index("n_schools").loc[j, "power"] == pytest.approx(
            cluster_trial_power(0.3, j, 20, 0.1)
        )
    over_n = power_curve(0.3, 40, 20, 0.1, over="school_size", values=[1, 20, 10**6])
    ceiling = over_n["ceiling"].iloc[0]
    df = 38
    crit = stats.t.ppf(0.975, df)
    ncp = 0.3 / np.sqrt(4 * 0.1 / 40)
    assert ceiling == pytest.approx(stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp))
    assert over_n["power"].is_monotonic_increasing and over_n["power"].iloc[-1] < ceiling


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: cluster_trial_power(0.3, 41, 20, 0.1), "must be even"),
        (lambda: cluster_trial_power(0.3, 2, 20, 0.1), "at least 4"),
        (lambda: cluster_trial_power(0.3, 40, 0, 0.1), "school_size must be a whole number"),
        (lambda: cluster_trial_power(0.3, 40, 20.5, 0.1), "whole number"),
        (lambda: cluster_trial_power(0.3, 40, 20, 1.0), "below 1"),
        (lambda: cluster_trial_power(0.3, 40, 20, -0.1), "zero or more"),
        (lambda: cluster_trial_power(-0.3, 40, 20, 0.1), "zero or more"),
        (lambda: cluster_trial_power(0.3, 40, 20, 0.1, alpha=5), "strictly between 0 and 1"),
        (
            lambda: cluster_trial_power(0.3, 40, 20, 0.1, r2_between=0.5, n_covariates=0),
            "needs a school-level covariate",
        ),
        (lambda: cluster_trial_power(0.3, 4, 20, 0.1, n_covariates=2), "degrees of freedom"),
        (lambda: cluster_trial_power("0.3", 40, 20, 0.1), "must be a number"),
        (lambda: minimum_detectable_effect(40, 20, 0.1, power=0.01), "between alpha"),
        (lambda: minimum_detectable_effect(40, 20, 0.1, method="bloom"), "Unknown method"),
        (lambda: schools_needed(0.0, 20, 0.1), "never detected"),
        (lambda: schools_needed(0.01, 20, 0.3, max_schools=100), "do not reach power"),
        (lambda: simulate_cluster_trial(0.3, 10, 5, 0.1, n_reps=0), "n_reps"),
        (lambda: simulate_cluster_trial(0.3, 10, 5, 0.1, seed=-1), "seed"),
        (lambda: simulate_cluster_trial(0.3, 10, 5, 0.1, method="ols"), "Unknown method"),
        (lambda: power_curve(0.3, 40, 20, 0.1, values=[4, 5]), "even"),
        (lambda: power_curve(0.3, 40, 20, 0.1, over="icc"), "Unknown over"),
    ],
)
def test_bad_input_gets_a_clear_error(call, message):
    with pytest.raises(ModelInputError) as raised:
        call()
    assert message in str(raised.value)


def test_power_view_and_its_html_are_deterministic():
    view = power_view(0.3, 40, 20, 0.1)
    assert isinstance(view, PowerView)
    assert view.power == pytest.approx(cluster_trial_power(0.3, 40, 20, 0.1))
    assert view.schools_for_80 == schools_needed(0.3, 20, 0.1)
    assert view.effective_n == pytest.approx(effective_sample_size(40, 20, 0.1))
    html = view.to_html()
    assert html == power_view(0.3, 40, 20, 0.1).to_html()
    assert "<svg" in html and "Power = 0.680" in html
    assert "ceiling" in power_view(0.3, 40, 20, 0.1, over="school_size").to_html()
    assert "no number of schools up to 2000" in power_view(0.05, 4, 1, 0.5).summary()


def test_the_widget_updates_in_well_under_0_2_seconds():
    panel = power_widget()
    assert repr(panel) == "[Interactive: run this cell in JupyterLab to use the power widget.]"
    rows, shown = panel.children
    j_slider, n_slider = rows.children[0].children
    icc_slider, effect_slider = rows.children[1].children
    toggle = rows.children[2]
    before = shown.value
    for control, value in (
        (j_slider, 160),
        (n_slider, 80),
        (icc_slider, 0.4),
        (effect_slider, 0.8),
        (toggle, "school_size"),
    ):
        start = time.perf_counter()
        control.value = value
        assert time.perf_counter() - start < 0.2
        assert shown.value != before
        before = shown.value
    assert "students per school" in shown.value


def test_the_widget_refuses_bad_starting_values():
    with pytest.raises(ModelInputError, match="must be even"):
        power_widget(n_schools=41)


def test_power_of_four_schools_is_exact_where_scipys_far_tail_fails():
    """With J = 4 (2 df) and ncp near 8, scipy's noncentral t gives NaN for the far tail
    P(T < -c) (about 1e-18) at some ncp; the whole power then fell back to the normal
    approximation, 0.952 where the exact power is 0.965, so power fell as n grew (found by
    the monotonicity property). The exact value here is the integral over the chi-square:
    P(T > c) = E_V[Phi(ncp - c sqrt(V / df))]."""
    from scipy import integrate, stats

    critical = stats.t.ppf(0.975, 2)
    powers = []
    for n in range(55, 75):
        ncp = np.sqrt(n)  # effect 1, icc 0, J = 4: Delta = 1 / sqrt(4 (1 / n) / 4)
        exact = integrate.quad(
            lambda v, ncp=ncp: (
                stats.norm.cdf(ncp - critical * np.sqrt(v / 2.0)) * stats.chi2.pdf(v, 2)
            ),
            0.0,
            np.inf,
            epsabs=1e-14,
        )[0]
        power = cluster_trial_power(1.0, 4, n, 0.0)
        assert power == pytest.approx(exact, abs=1e-9)
        powers.append(power)
    assert np.all(np.diff(powers) > 0)
