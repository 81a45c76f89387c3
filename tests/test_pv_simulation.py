"""The plausible-value coverage simulation of notebook 08 (hlmteach.pv_simulation)."""

from __future__ import annotations

import pandas as pd
import pytest
import statsmodels.formula.api as smf

import hlmteach as hlm
from hlmteach.pv_simulation import (
    ANALYSES,
    _within_fit,
    simulate_pv_coverage,
    simulate_pv_sample,
)
from hlmteach.validation import ModelInputError

TRUE, FIRST, AVERAGE, POOLED = ANALYSES


@pytest.fixture(scope="module")
def short_test():
    return simulate_pv_coverage(reliability=0.6)


def _closed_form(sample, outcome):
    """The module's within-school fit of one sample, from its array code."""
    shape = (1, sample["school"].nunique(), -1)
    college = sample["college"].to_numpy().reshape(shape)
    within = college - college.mean(axis=-1, keepdims=True)
    s_cc = (within**2).sum(axis=(1, 2))
    df = len(sample) - shape[1] - 1
    slope, se, sigma2 = _within_fit(sample[outcome].to_numpy().reshape(shape), within, s_cc, df)
    return float(slope[0]), float(se[0]), float(sigma2[0])


def test_within_fit_is_the_school_dummies_ols_fit_of_statsmodels() -> None:
    """Outside implementation: OLS with one dummy per school (the fixed-effects estimator)."""
    sample = simulate_pv_sample(n_schools=12, n_students=8, seed=11)
    for outcome in ("theta", "pv1"):
        slope, se, sigma2 = _closed_form(sample, outcome)
        ols = smf.ols(f"{outcome} ~ C(school) + college", sample).fit()
        assert slope == pytest.approx(ols.params["college"], rel=1e-10)
        assert se == pytest.approx(ols.bse["college"], rel=1e-10)
        assert sigma2 == pytest.approx(ols.scale, rel=1e-10)


def test_within_fit_is_the_reml_contextual_model_with_equal_school_sizes() -> None:
    """The docstring's claim: with equal school sizes the closed form is the REML fit of
    y ~ college_cwc + college_mean with a random intercept (notebook 09's model)."""
    sample = simulate_pv_sample(n_schools=30, n_students=10, seed=4)
    slope, se, sigma2 = _closed_form(sample, "pv2")
    fit = hlm.contextual_effect(sample, "pv2", "college", "school")
    assert slope == pytest.approx(fit.table.loc["within", "estimate"], rel=1e-6)
    assert se == pytest.approx(fit.table.loc["within", "se"], rel=1e-5)
    assert sigma2 == pytest.approx(fit.fit.sigma2, rel=1e-6)


def test_plausible_values_are_posterior_draws() -> None:
    """Between-draw variance (1 - rho) sigma2; each draw has the spread of proficiency."""
    sample = simulate_pv_sample(reliability=0.6, n_schools=200, n_students=20, seed=8)
    pvs = sample[[f"pv{k}" for k in range(1, 6)]]
    assert pvs.var(axis=1).mean() == pytest.approx(0.4 * 0.45, rel=0.05)
    # one draw has about the variance of proficiency; the mean of the draws less
    assert pvs["pv1"].var() == pytest.approx(sample["theta"].var(), rel=0.06)
    assert pvs.mean(axis=1).var() < 0.9 * sample["theta"].var()


def test_short_test_lesson(short_test) -> None:
    """Reliability 0.6: one PV's and the average's SEs too small, Rubin's about right.

    1000 replications: the SE ratio has a Monte-Carlo SE of about 2%, a coverage
    about 0.7 percentage points; the bounds are 3 or more of those away.
    """
    table = short_test.table
    assert table.loc[TRUE, "se_ratio"] == pytest.approx(1.0, abs=0.07)
    assert table.loc[TRUE, "coverage"] == pytest.approx(0.95, abs=0.02)
    assert 0.6 <= table.loc[FIRST, "se_ratio"] <= 0.72
    assert 0.55 <= table.loc[AVERAGE, "se_ratio"] < table.loc[FIRST, "se_ratio"]
    assert table.loc[POOLED, "se_ratio"] == pytest.approx(1.0, abs=0.07)
    assert table.loc[POOLED, "coverage"] == pytest.approx(0.95, abs=0.02)
    assert table.loc[FIRST, "coverage"] < 0.86 and table.loc[AVERAGE, "coverage"] < 0.8
    # every analysis is unbiased for the effect; only the average's sigma2 is too small
    assert (table["mean_estimate"] - 0.15).abs().max() < 0.005
    assert table.loc[AVERAGE, "mean_sigma2"] < 0.75 * 0.45
    assert table.loc[POOLED, "mean_sigma2"] == pytest.approx(0.45, rel=0.02)


def test_reliable_test_lesson_is_smaller() -> None:
    table = simulate_pv_coverage(reliability=0.9).table
    assert 0.85 <= table.loc[FIRST, "se_ratio"] <= 0.95
    assert table.loc[POOLED, "se_ratio"] == pytest.approx(1.0, abs=0.07)


def test_conditioning_without_schools_biases_the_within_effect() -> None:
    table = simulate_pv_coverage(reliability=0.6, conditioning="none").table
    assert table.loc[POOLED, "mean_estimate"] > 0.18  # true 0.15
    assert table.loc[POOLED, "coverage"] < 0.93


def test_seeded_and_deterministic() -> None:
    one = simulate_pv_coverage(replications=40, seed=5).table
    two = simulate_pv_coverage(replications=40, seed=5).table
    other = simulate_pv_coverage(replications=40, seed=6).table
    assert one.equals(two) and not one.equals(other)
    assert "reliability 0.6" in str(simulate_pv_coverage(replications=40, seed=5))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reliability": 1.0}, "strictly between 0 and 1"),
        ({"reliability": -0.2}, "reliability"),
        ({"n_schools": 2}, "n_schools"),
        ({"replications": 5}, "replications"),
        ({"m": 1}, "m"),
        ({"conditioning": "class"}, "conditioning"),
        ({"replications": 100000}, "memory"),
    ],
)
def test_bad_input(kwargs, message) -> None:
    with pytest.raises(ModelInputError, match=message):
        simulate_pv_coverage(**kwargs)


def test_intervals_give_the_coverage(short_test) -> None:
    truth = short_test.true_effect
    covered = (short_test.lower <= truth) & (truth <= short_test.upper)
    pd.testing.assert_series_equal(covered.mean(), short_test.table["coverage"], check_names=False)
    assert (
        (short_test.lower < short_test.estimates) & (short_test.estimates < short_test.upper)
    ).all(axis=None)
