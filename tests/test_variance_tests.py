"""Tests of variance components: boundary LR test, parametric bootstrap, profile intervals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import hlmteach as hlm
from hlmteach.design import ModelInputError
from hlmteach.inference import lr_test
from hlmteach.variance_tests import (
    BoundaryLRTest,
    _Profile,
    _reference_words,
    bootstrap_lr_test,
    boundary_lr_test,
    boundary_mixture_p_value,
    chi_bar_square_weights,
    profile_ci,
    profile_intervals,
)

FIXTURE = Path(__file__).parent / "fixtures" / "profile_lme4.json"
MIXTURE_FIXTURE = Path(__file__).parent / "fixtures" / "mixture_bootstrap_lme4.json"
MODELS = {
    "anova": ("mathach ~ 1", []),
    "random_coefficient": ("mathach ~ cses", ["cses"]),
}


def _null_panel(seed: int, n_schools: int, size: int, slope_sd: float = 0.0) -> pd.DataFrame:
    """Students in schools with random intercepts and (by default) no slope variance."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_schools), size)
    x = rng.normal(size=groups.size)
    y = (
        1.0
        + 0.4 * x
        + rng.normal(scale=0.6, size=n_schools)[groups]
        + rng.normal(scale=slope_sd, size=n_schools)[groups] * x
        + rng.normal(size=groups.size)
    )
    return pd.DataFrame({"school": groups, "x": x, "y": y})


# -- the boundary LR test is inference.lr_test ---------------------------------------------------
def test_boundary_lr_test_is_the_inference_lr_test(hsb):
    small = hlm.fit_hlm(hsb, "mathach ~ cses", group="school")
    large = hlm.fit_hlm(hsb, "mathach ~ cses", group="school", random=["cses"])
    assert boundary_lr_test(small, large) == lr_test(small, large)


# -- several variances at once: the chi-bar-square mixture ----------------------------------------
def test_chi_bar_square_weights_are_binomial():
    assert chi_bar_square_weights(1).tolist() == [0.5, 0.5]
    assert chi_bar_square_weights(2).tolist() == [0.25, 0.5, 0.25]
    assert chi_bar_square_weights(3).tolist() == [0.125, 0.375, 0.375, 0.125]
    with pytest.raises(ModelInputError, match="n_variances"):
        chi_bar_square_weights(0)


def test_mixture_p_value_by_hand_and_as_lr_test():
    lr = 4.0
    expected = 0.25 * 0 + 0.5 * stats.chi2.sf(lr, 1) + 0.25 * stats.chi2.sf(lr, 2)
    assert boundary_mixture_p_value(lr, 2, 2) == pytest.approx(expected, rel=1e-12)
    # One variance with one covariance (type=un): lr_test's 50:50 chi2(1):chi2(2).
    assert boundary_mixture_p_value(lr, 2, 1) == pytest.approx(
        0.5 * stats.chi2.sf(lr, 1) + 0.5 * stats.chi2.sf(lr, 2), rel=1e-12
    )
    assert boundary_mixture_p_value(0.0, 2, 2) == 1.0
    with pytest.raises(ModelInputError, match="cannot exceed df"):
        boundary_mixture_p_value(lr, 1, 2)
    with pytest.raises(ModelInputError, match="at least 0"):
        boundary_mixture_p_value(-1.0, 1, 1)


@pytest.fixture(scope="module")
def korea_two_slopes():
    korea = hlm.load_timss("Korea")
    formula = "math ~ college + boy"
    kwargs = {"group": "school"}
    return (
        hlm.fit_hlm(korea, formula, **kwargs, covariance="vc"),
        hlm.fit_hlm(korea, formula, **kwargs, random=["college", "boy"], covariance="vc"),
        hlm.fit_hlm(korea, formula, **kwargs),
        hlm.fit_hlm(korea, formula, **kwargs, random=["college", "boy"]),
    )


def test_two_uncorrelated_variances_use_the_chi_bar_square(korea_two_slopes):
    null, alt, _, _ = korea_two_slopes
    test = boundary_lr_test(null, alt)
    assert isinstance(test, BoundaryLRTest) and test.mixture
    assert test.weights == (0.25, 0.5, 0.25) and test.components == (0, 1, 2)
    assert test.p_value == pytest.approx(boundary_mixture_p_value(test.statistic, 2, 2))
    assert test.p_value_naive == pytest.approx(stats.chi2.sf(test.statistic, 2))
    assert test.p_value < test.p_value_naive
    assert "0.25 chi2(0) + 0.5 chi2(1) + 0.25 chi2(2)" in str(test)
    # inference.lr_test alone still falls back to the plain chi2(2).
    assert not lr_test(null, alt).mixture
    # The bootstrap's printout names the reference it compares with.
    assert _reference_words(test) == "chi-bar-square mixture 0.25/0.5/0.25"
    assert _reference_words(lr_test(null, alt)) == "plain chi2(2), no mixture,"


def test_two_correlated_random_effects_say_that_chi2_is_conservative(korea_two_slopes):
    _, _, null, alt = korea_two_slopes
    test = boundary_lr_test(null, alt)
    assert not isinstance(test, BoundaryLRTest)
    assert test.p_value == test.p_value_naive
    assert any("bootstrap_lr_test" in note and "conservative" in note for note in test.notes)


def test_chi_bar_square_agrees_with_an_lme4_parametric_bootstrap(korea_two_slopes):
    """lme4's simulate/refit bootstrap (1000 replicates, tests/reference/mixture_bootstrap_lme4.R)
    under the null of no slope variances.

    Tolerances are three Monte-Carlo standard errors of a share estimated from 1000 replicates,
    3 * sqrt(p (1 - p) / 1000): 0.041 for a share near 1/4, 0.047 near 1/2. The chi-bar-square
    weights are asymptotic and assume independent variance estimates, which is why the check is
    against an outside simulation and not an identity.
    """
    reference = json.loads(MIXTURE_FIXTURE.read_text())
    null, alt, _, _ = korea_two_slopes
    test = boundary_lr_test(null, alt)
    assert test.statistic == pytest.approx(reference["observed_lr"], abs=1e-4)
    n = reference["nsim"]
    counts = reference["positive_variances"]
    for positive, weight in zip(("0", "1", "2"), test.weights, strict=True):
        share = counts[positive] / n
        assert share == pytest.approx(weight, abs=3 * np.sqrt(weight * (1 - weight) / n))
    lr_star = np.asarray(reference["lr"])
    for c in (0.5, 1.5, 2.71, 4.0):
        tail = boundary_mixture_p_value(c, 2, 2)
        assert np.mean(lr_star >= c) == pytest.approx(tail, abs=3 * np.sqrt(tail * (1 - tail) / n))
    p = test.p_value
    assert reference["p_value"] == pytest.approx(p, abs=3 * np.sqrt(p * (1 - p) / n))
    # The plain chi2(2) p-value is far outside the bootstrap's Monte-Carlo error.
    assert abs(reference["p_value"] - test.p_value_naive) > 0.3


# -- parametric bootstrap -------------------------------------------------------------------------
def test_bootstrap_is_reproducible_and_counts_correctly():
    data = _null_panel(11, 40, 8, slope_sd=0.3)
    args = ("y ~ x", "school")
    kwargs = {"random_alt": ["x"], "covariance": "vc", "n_boot": 15, "progress": False}
    first = bootstrap_lr_test(data, *args, seed=5, **kwargs)
    again = bootstrap_lr_test(data, *args, seed=5, **kwargs)
    other = bootstrap_lr_test(data, *args, seed=6, **kwargs)
    np.testing.assert_array_equal(first.boot_statistics, again.boot_statistics)
    assert first.p_value == again.p_value
    assert not np.array_equal(first.boot_statistics, other.boot_statistics)
    boot = first.boot_statistics
    assert first.n_boot + first.n_failed == 15
    expected = (1 + np.sum(boot[np.isfinite(boot)] >= first.statistic)) / (first.n_boot + 1)
    assert first.p_value == pytest.approx(expected)
    # The observed statistic and the asymptotic p-values are those of lr_test.
    alt = hlm.fit_hlm(data, "y ~ x", "school", random=["x"], covariance="vc")
    null = hlm.fit_hlm(data, "y ~ x", "school", covariance="vc")
    test = lr_test(null, alt)
    assert first.statistic == pytest.approx(test.statistic, abs=1e-6)
    assert first.p_value_mixture == test.p_value and first.df == test.df == 1
    assert "Parametric bootstrap" in str(first)


def test_bootstrap_p_values_under_the_null_are_not_small():
    """Data simulated without slope variance: bootstrap p-values spread over (0, 1]."""
    p_values = [
        bootstrap_lr_test(
            _null_panel(seed, 40, 8),
            "y ~ x",
            "school",
            random_alt=["x"],
            covariance="vc",
            n_boot=19,
            seed=seed,
            progress=False,
        ).p_value
        for seed in range(6)
    ]
    assert np.mean(p_values) > 0.3
    assert sum(p <= 0.05 for p in p_values) <= 1


def test_bootstrap_distribution_follows_the_mixture_with_many_schools():
    """With 150 schools the 50:50 mixture of chi2(0) and chi2(1) should hold (loosely).

    Under the null half the simulated LR statistics are exactly zero and the upper tail
    is half a chi2(1) tail. With 200 draws each proportion has a binomial SD of at most
    0.035; we allow four SDs.
    """
    test = bootstrap_lr_test(
        _null_panel(7, 150, 12),
        "y ~ x",
        "school",
        random_alt=["x"],
        covariance="vc",
        n_boot=200,
        seed=3,
        progress=True,
    )
    boot = test.boot_statistics[np.isfinite(test.boot_statistics)]
    assert boot.size >= 195

    def allowed(p: float) -> float:
        return 4.0 * np.sqrt(p * (1.0 - p) / boot.size)

    assert abs(np.mean(boot == 0.0) - 0.5) < allowed(0.5)
    for c in (0.5, 1.0, 2.0, 2.706):
        theory = 0.5 * stats.chi2.sf(c, 1)
        assert abs(np.mean(boot > c) - theory) < allowed(theory), c


def test_bootstrap_input_errors():
    data = _null_panel(1, 10, 5)
    with pytest.raises(ModelInputError, match="subset"):
        bootstrap_lr_test(data, "y ~ x", "school", random_null=["x"], random_alt=[])
    with pytest.raises(ModelInputError, match="n_boot"):
        bootstrap_lr_test(data, "y ~ x", "school", random_alt=["x"], n_boot=0)


# -- profile-likelihood intervals -----------------------------------------------------------------
@pytest.fixture(scope="module")
def profile_reference() -> dict:
    return json.loads(FIXTURE.read_text())["models"]


@pytest.fixture(scope="module")
def intervals(hsb) -> dict[tuple[str, str], pd.DataFrame]:
    out = {}
    for name, (formula, random) in MODELS.items():
        for method in ("REML", "ML"):
            fit = hlm.fit_hlm(hsb, formula, group="school", random=random, method=method)
            out[name, method] = profile_intervals(fit)
    return out


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("method", ["REML", "ML"])
def test_profile_intervals_match_exact_r_profiles(intervals, profile_reference, name, method):
    """Against profiles computed in R by root finding on lme4's own deviance functions.

    Both sides solve the same equation to ~1e-10, so the bounds agree to 1e-6 relative.
    """
    exact = profile_reference[name][method.lower()]["exact"]
    table = intervals[name, method]
    for parameter, ref in exact.items():
        assert table.loc[parameter, "lower"] == pytest.approx(ref["lower"], rel=1e-6), parameter
        assert table.loc[parameter, "upper"] == pytest.approx(ref["upper"], rel=1e-6), parameter


@pytest.mark.parametrize("name", list(MODELS))
def test_ml_profile_intervals_match_lme4_confint(intervals, profile_reference, name):
    """Against lme4's ``confint(fit, method = "profile", oldNames = FALSE)``.

    lme4 profiles the ML deviance whatever the fit's method (it calls refitML first),
    so the comparison is with hlmteach's ML intervals. lme4 profiles on the SD scale;
    squaring its SD bounds gives the variance bounds (a monotone map, with the other
    parameters profiled out either way). Its bounds interpolate a spline through a grid
    of profile points: against the exact ML profile (computed in the same R script) they
    are off by up to 2.8e-5 relative, and by 1e-8 on an 8 times finer grid. So 1e-4
    relative is lme4's own accuracy with a margin (tighter than the 1e-3 first planned).
    The covariance is compared with lme4's profile on the variance-covariance scale
    (``prof.scale = "varcov"``), where its bounds are directly comparable; that profile
    is coarser (its variance bounds are up to 1.6e-4 off the exact ones), so there the
    tolerance is 1e-3.
    """
    ml = profile_reference[name]["ml"]
    accuracy = profile_reference[name]["accuracy"]
    table = intervals[name, "ML"]
    assert accuracy["lme4_default_vs_exact_max_rel"] < 1e-4
    assert accuracy["lme4_varcov_vs_exact_max_rel"] < 1e-3
    for scale, rel in (("lme4_confint", 1e-4), ("lme4_confint_varcov", 1e-3)):
        for parameter, ref in ml[scale].items():
            assert table.loc[parameter, "lower"] == pytest.approx(ref["lower"], rel=rel), parameter
            assert table.loc[parameter, "upper"] == pytest.approx(ref["upper"], rel=rel), parameter


def test_profile_table_layout_and_wald_columns(intervals, hsb):
    table = intervals["random_coefficient", "REML"]
    assert list(table.index) == ["Var(Intercept)", "Cov(Intercept, cses)", "Var(cses)", "Residual"]
    assert list(table.columns) == [
        "estimate",
        "lower",
        "upper",
        "wald_lower",
        "wald_upper",
        "reaches_zero",
    ]
    assert (table["lower"] < table["estimate"]).all() and (table["estimate"] < table["upper"]).all()
    assert not table["reaches_zero"].any()
    # The profile interval of a variance is skewed to the right; the Wald one is symmetric.
    row = table.loc["Var(cses)"]
    assert row["upper"] - row["estimate"] > row["estimate"] - row["lower"]
    assert row["wald_upper"] - row["estimate"] == pytest.approx(row["estimate"] - row["wald_lower"])


def test_the_deviance_rises_by_the_cutoff_at_both_bounds(hsb):
    fit = hlm.fit_hlm(hsb, "mathach ~ cses", group="school", random=["cses"])
    cutoff = stats.chi2.ppf(0.90, 1)
    labels = list(fit.covariance.index)
    for parameter in ("Cov(Intercept, cses)", "Var(cses)"):
        ci = profile_ci(fit, parameter, level=0.90)
        profile = _Profile(fit.engine_fit, labels.index(parameter))
        assert profile.excess(ci.lower) == pytest.approx(cutoff, abs=1e-6)
        assert profile.excess(ci.upper) == pytest.approx(cutoff, abs=1e-6)
        assert profile.excess(ci.estimate) == pytest.approx(0.0, abs=1e-8)
        assert ci.level == 0.90


def test_variance_at_zero_gets_lower_bound_zero():
    data = _null_panel(2, 30, 8)
    fit = hlm.fit_hlm(data, "y ~ x", group="school", random=["x"], covariance="vc")
    assert fit.covariance.loc["Var(x)", "boundary"]
    ci = profile_ci(fit, "Var(x)")
    assert ci.lower == 0.0 and ci.reaches_zero and ci.upper > 0.0
    profile = _Profile(fit.engine_fit, list(fit.covariance.index).index("Var(x)"))
    assert profile.excess(ci.upper) == pytest.approx(stats.chi2.ppf(0.95, 1), abs=1e-6)


def test_profile_input_errors(hsb):
    fit = hlm.fit_hlm(hsb, "mathach ~ 1", group="school")
    with pytest.raises(ModelInputError, match=r"Var\(Intercept\)"):
        profile_ci(fit, "tau00")
    with pytest.raises(ModelInputError, match="level"):
        profile_ci(fit, "Residual", level=95)


def test_a_conservative_chi2_note_from_lr_test_is_not_repeated(korea_two_slopes, monkeypatch):
    """If inference.lr_test warns that chi2(df) is conservative (pointing here), the mixture
    result drops that note: it no longer uses chi2(df)."""
    from dataclasses import replace

    import hlmteach.variance_tests as vt

    real = vt.lr_test

    def noting(a, b):
        return replace(real(a, b), notes=("chi2(df) is conservative; see hlm.boundary_lr_test",))

    monkeypatch.setattr(vt, "lr_test", noting)
    null, alt, null_un, alt_un = korea_two_slopes
    assert boundary_lr_test(null, alt).notes == ()
    notes = boundary_lr_test(null_un, alt_un).notes
    assert len(notes) == 1 and "bootstrap_lr_test" in notes[0]
