"""The fitting API: the contract that notebooks, widgets and outside checks rely on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hlmteach as hlm


@pytest.fixture(scope="module")
def rc_fit(hsb):
    return hlm.fit_hlm(hsb, "mathach ~ cses", group="school", random=["cses"])


def test_result_contract(rc_fit):
    assert list(rc_fit.fixed.columns) == ["estimate", "se", "df", "t", "p"]
    assert list(rc_fit.fixed.index) == ["Intercept", "cses"]
    assert list(rc_fit.tau.index) == list(rc_fit.tau.columns) == ["Intercept", "cses"]
    assert isinstance(rc_fit.sigma2, float)
    assert list(rc_fit.covariance.index) == [
        "Var(Intercept)",
        "Cov(Intercept, cses)",
        "Var(cses)",
        "Residual",
    ]
    assert list(rc_fit.covariance.columns) == ["estimate", "se", "z", "p", "boundary"]
    assert list(rc_fit.fit_stats.index) == ["-2 Res Log Likelihood", "AIC", "AICC", "BIC"]
    assert rc_fit.random_effects.index.names == ["school", "term"]
    assert list(rc_fit.random_effects.columns) == ["estimate", "se", "cond_sd", "df", "t", "p"]
    assert rc_fit.icc == pytest.approx(
        rc_fit.tau.iloc[0, 0] / (rc_fit.tau.iloc[0, 0] + rc_fit.sigma2)
    )
    assert rc_fit.converged and rc_fit.warnings == []


def test_covtest_p_values_are_one_sided_for_variances(rc_fit):
    cov = rc_fit.covariance
    from scipy import stats

    assert cov.loc["Var(cses)", "p"] == pytest.approx(stats.norm.sf(cov.loc["Var(cses)", "z"]))
    z = cov.loc["Cov(Intercept, cses)", "z"]
    assert cov.loc["Cov(Intercept, cses)", "p"] == pytest.approx(2 * stats.norm.sf(abs(z)))


def test_tau_and_covariance_agree(rc_fit):
    cov = rc_fit.covariance["estimate"]
    assert rc_fit.tau.loc["cses", "Intercept"] == pytest.approx(cov["Cov(Intercept, cses)"])
    assert rc_fit.tau.loc["cses", "cses"] == pytest.approx(cov["Var(cses)"])
    assert rc_fit.sigma2 == pytest.approx(cov["Residual"])


def test_school_coefficients_add_fixed_and_random(rc_fit):
    coef = rc_fit.school_coefficients()
    eblup = rc_fit.random_effects["estimate"].unstack("term")
    np.testing.assert_allclose(
        coef["cses"], rc_fit.fixed.loc["cses", "estimate"] + eblup["cses"], rtol=1e-12
    )
    assert coef.shape == (160, 2)


def test_eblups_sum_to_zero_and_shrink(rc_fit, hsb):
    # With an intercept in X, the REML/GLS normal equations make the EBLUP intercepts
    # sum (weighted) to about zero; each is shrunk toward zero relative to OLS deviations.
    eblup = rc_fit.random_effects.xs("Intercept", level="term")["estimate"]
    school_means = (
        hsb.groupby("school")["mathach"].mean() - rc_fit.fixed.loc["Intercept", "estimate"]
    )
    assert np.all(np.abs(eblup) <= np.abs(school_means.loc[eblup.index]) + 1e-9)


def test_prediction_se_includes_fixed_effect_uncertainty(rc_fit):
    re = rc_fit.random_effects
    assert np.all(re["se"] >= re["cond_sd"] - 1e-12)


def test_reliability_intercept_only_matches_hand_formula(hsb):
    m = hlm.fit_hlm(hsb, "mathach ~ 1", group="school")
    n = hsb.groupby("school").size()
    tau, sigma2 = m.tau.iloc[0, 0], m.sigma2
    expected = (tau / (tau + sigma2 / n)).mean()
    assert m.reliability["Intercept"] == pytest.approx(expected, rel=1e-10)


def test_satterthwaite_table(rc_fit):
    table = rc_fit.fixed_effects("satterthwaite")
    assert table["df"].tolist() == pytest.approx(rc_fit.satterthwaite.tolist())
    with pytest.raises(hlm.ModelInputError, match="Unknown ddf 'kr'"):
        rc_fit.fixed_effects("kr")


def test_ml_labels_fit_statistics(hsb):
    m = hlm.fit_hlm(hsb, "mathach ~ 1", group="school", method="ml")
    assert m.method == "ML"
    assert m.fit_stats.index[0] == "-2 Log Likelihood"


def test_boundary_fit_is_reported_in_plain_words(small_panel):
    rng = np.random.default_rng(9)
    data = small_panel.assign(z=rng.normal(size=len(small_panel)))
    data["y"] = data["y"] + 0.2 * data["z"]
    m = hlm.fit_hlm(data, "y ~ x + z", group="school", random=["x", "z"], covariance="vc")
    assert m.covariance.loc["Var(z)", "boundary"]
    assert np.isnan(m.covariance.loc["Var(z)", "se"])
    assert any("variance of the school slopes of z is estimated at zero" in w for w in m.warnings)
    assert "estimated at zero" in m._repr_html_()
    assert "estimated at zero" in m.summary()
    # SAS counts only the covariance parameters off the boundary in AIC.
    assert m.fit_stats["AIC"] == pytest.approx(m.deviance + 2 * 3)


def test_by_fits_each_level_separately(small_panel):
    data = small_panel.assign(country=np.where(small_panel["school"] < 20, "A", "B"))
    fits = hlm.fit_hlm(data, "y ~ x", group="school", by="country")
    assert list(fits) == ["A", "B"] and len(fits) == 2
    alone = hlm.fit_hlm(data[data["country"] == "B"], "y ~ x", group="school")
    assert fits["B"].deviance == pytest.approx(alone.deviance)
    assert "<table>" in fits._repr_html_()
    assert "ByResults(by='country'" in repr(fits)


def test_categorical_predictor_through_formula(small_panel):
    data = small_panel.assign(
        level=pd.Categorical(np.array(["lo", "mid", "hi"])[np.arange(600) % 3])
    )
    m = hlm.fit_hlm(data, "y ~ x + C(level, Treatment('lo'))", group="school")
    assert m.fixed.shape[0] == 4
    assert m.fixed.index[2].startswith("C(level")


def test_statsmodels_engine_returns_second_opinion(hsb):
    sm = hlm.fit_hlm(hsb, "mathach ~ 1", group="school", engine="statsmodels")
    ours = hlm.fit_hlm(hsb, "mathach ~ 1", group="school")
    assert -2 * sm.llf == pytest.approx(ours.deviance, abs=1e-3)
    with pytest.raises(hlm.ModelInputError, match="Unknown engine 'lme4'"):
        hlm.fit_hlm(hsb, "mathach ~ 1", group="school", engine="lme4")


def test_equations_and_code(rc_fit):
    assert r"\beta_{1j} = \gamma_{10} + u_{1j}" in rc_fit.equations()
    assert "random intercept cses / subject=school type=un solution;" in rc_fit.code("sas")


def test_ols_result(hsb):
    import statsmodels.formula.api as smf

    ols = hlm.fit_ols(hsb, "mathach ~ ses + sector")
    ref = smf.ols("mathach ~ ses + sector", hsb).fit()
    np.testing.assert_allclose(ols.fixed["estimate"], ref.params, rtol=1e-12)
    np.testing.assert_allclose(ols.fixed["se"], ref.bse, rtol=1e-12)
    assert ols.r2 == pytest.approx(ref.rsquared)
    assert "R²" in ols._repr_html_()
