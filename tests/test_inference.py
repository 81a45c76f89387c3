"""Degrees of freedom, fit statistics and likelihood-ratio tests by their published definitions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import hlmteach as hlm
from hlmteach.degrees_of_freedom import between_within_df
from hlmteach.design import ModelInputError
from hlmteach.fit_statistics import fit_statistics
from hlmteach.inference import lr_test

# The seed's SAS PROC MIXED "Fit Statistics" (intercept-only model, REML, 2 covariance
# parameters): shared/seed tutorial, "HLM Anova models" table.
SEED_FIT_STATISTICS = {
    "Korea": dict(n_obs=2901, n_groups=150, m2rll=8081.8, aic=8085.8, aicc=8085.8, bic=8091.8),
    "USA": dict(n_obs=6944, n_groups=183, m2rll=15088.5, aic=15092.5, aicc=15092.5, bic=15098.9),
}


@pytest.mark.parametrize("country", ["Korea", "USA"])
def test_fit_statistics_reproduce_sas_published_values(country):
    s = SEED_FIT_STATISTICS[country]
    got = fit_statistics(s["m2rll"], True, 2, 1, s["n_obs"], s["n_groups"])
    # SAS prints one decimal; our inputs carry SAS's rounding of -2RLL, so allow 0.05 + 0.05.
    assert got["AIC"] == pytest.approx(s["aic"], abs=0.1)
    assert got["AICC"] == pytest.approx(s["aicc"], abs=0.1)
    assert got["BIC"] == pytest.approx(s["bic"], abs=0.1)


def test_ml_fit_statistics_count_fixed_effects():
    got = fit_statistics(100.0, False, 2, 3, 50, 10)
    assert got.index[0] == "-2 Log Likelihood"
    assert got["AIC"] == pytest.approx(110.0)
    assert got["AICC"] == pytest.approx(100.0 + 10 * 50 / 44)
    assert got["BIC"] == pytest.approx(100.0 + 5 * np.log(10))


def test_between_within_df_splits_residual_df():
    groups = np.repeat(np.arange(10), 5)
    rng = np.random.default_rng(0)
    school_x = rng.normal(size=10)[groups]
    student_x = rng.normal(size=50)
    X = np.c_[np.ones(50), school_x, student_x]
    df = between_within_df(X, groups)
    # Between: J - rank(intercept, school_x) = 8; within: N - rank(X) - 8 = 39.
    assert df.tolist() == [8.0, 8.0, 39.0]
    assert df[0] + df[2] + 2 == 50 - 1  # the two parts add up to N - rank(X) + (rank(X_b) - 1)


def test_lr_test_uses_boundary_mixture_for_one_added_random_slope(small_panel):
    small = hlm.fit_hlm(small_panel, "y ~ x", group="school")
    large = hlm.fit_hlm(small_panel, "y ~ x", group="school", random=["x"])
    test = lr_test(small, large)
    statistic = small.deviance - large.deviance
    assert test.statistic == pytest.approx(statistic)
    assert test.df == 2 and test.mixture
    expected = 0.5 * stats.chi2.sf(statistic, 1) + 0.5 * stats.chi2.sf(statistic, 2)
    assert test.p_value == pytest.approx(expected)
    assert test.p_value < test.p_value_naive
    assert "mixture of chi2(1) and chi2(2)" in str(test)


def test_lr_test_of_a_single_variance_is_half_chi2_1(small_panel):
    small = hlm.fit_hlm(small_panel, "y ~ x", group="school")
    large = hlm.fit_hlm(small_panel, "y ~ x", group="school", random=["x"], covariance="vc")
    test = lr_test(small, large)
    assert test.df == 1
    assert test.p_value == pytest.approx(0.5 * stats.chi2.sf(test.statistic, 1))


def test_lr_test_refuses_reml_comparison_of_fixed_effects(small_panel):
    small = hlm.fit_hlm(small_panel, "y ~ 1", group="school")
    large = hlm.fit_hlm(small_panel, "y ~ x", group="school")
    with pytest.raises(ModelInputError, match="method='ML'"):
        lr_test(small, large)
    ml = lr_test(
        hlm.fit_hlm(small_panel, "y ~ 1", group="school", method="ML"),
        hlm.fit_hlm(small_panel, "y ~ x", group="school", method="ML"),
    )
    assert ml.df == 1 and not ml.mixture
    assert ml.p_value == pytest.approx(stats.chi2.sf(ml.statistic, 1))


def test_lr_test_refuses_wrong_order_and_mixed_methods(small_panel):
    small = hlm.fit_hlm(small_panel, "y ~ x", group="school")
    large = hlm.fit_hlm(small_panel, "y ~ x", group="school", random=["x"])
    with pytest.raises(ModelInputError, match="smaller model first"):
        lr_test(large, small)
    with pytest.raises(ModelInputError, match="same method"):
        lr_test(small, hlm.fit_hlm(small_panel, "y ~ x", group="school", method="ML"))
