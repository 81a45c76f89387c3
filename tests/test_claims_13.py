"""Notebook 13's prose, checked: every number it quotes and every claim it makes about the data.

Each test first finds the sentence in the notebook's markdown with :func:`prose.says` (so a
reworded claim fails here and is checked again), then recomputes the claim from the package
and the shipped data. Tolerances match the printed rounding.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from prose import says
from scipy import stats

import hlmteach as hlm
from hlmteach import diagnostics as dg
from hlmteach.exercises import solution_value

NB = "13_model_checking.ipynb"
FORMULA = "math ~ college + boy"


def _fit(frame: pd.DataFrame):
    return hlm.fit_hlm(frame, FORMULA, group="school", random=["college"], covariance="vc")


@pytest.fixture(scope="module")
def timss() -> pd.DataFrame:
    return hlm.load_timss()


@pytest.fixture(scope="module")
def data(timss) -> dict[str, pd.DataFrame]:
    return {c: timss[timss["country"] == c] for c in ("Korea", "USA")}


@pytest.fixture(scope="module")
def fits(data):
    return {c: _fit(frame) for c, frame in data.items()}


@pytest.fixture(scope="module")
def residuals(fits):
    return {c: dg.level1_residuals(fit) for c, fit in fits.items()}


@pytest.fixture(scope="module")
def sims(fits, data):
    # The notebook's simulation, with the notebook's arguments.
    return dg.simulated_eblups(fits["Korea"], data["Korea"], "college", n_sim=19, seed=13)


@pytest.fixture(scope="module")
def korea_one_step(fits):
    return dg.school_influence(fits["Korea"]).sort_values("cooks_distance", ascending=False)


@pytest.fixture(scope="module")
def korea_refits(fits, data):
    return dg.deletion_influence(fits["Korea"], data["Korea"])


def _slope(x, y) -> float:
    return float(np.polyfit(x, y, 1)[0])


# -- section 2: level-1 residuals ------------------------------------------------------------------
def test_no_fan_against_the_predictors(residuals):
    says(
        NB,
        "The cloud has about the same height at every fitted value, and the boxes for "
        "college = 0 and 1, and for girls and boys, are about equally tall: no fan",
    )
    res = residuals["Korea"]
    for column in ("college", "boy"):
        sd = res.groupby(column)["residual"].std()
        assert sd.max() / sd.min() < 1.1, (column, sd)
    by_fifth = res.groupby(pd.qcut(res["fitted"], 5), observed=True)["residual"].std()
    assert by_fifth.max() / by_fifth.min() < 1.2, by_fifth


def test_the_tilt_in_numbers(residuals):
    says(
        NB,
        "The slope is 0.28 in Korea and 0.07 in the USA against the school regression, "
        "and 0.00 against the fixed part in both.",
    )
    says(
        NB, "it is steep in Korea, where school means are not very reliable, and slight in the USA"
    )
    says(
        NB,
        "tilt upward against the school regression's fitted values when the EBLUPs are "
        "strongly shrunk (slope 0.28 in Korea)",
    )
    assert round(_slope(residuals["Korea"]["fitted"], residuals["Korea"]["residual"]), 2) == 0.28
    assert round(_slope(residuals["USA"]["fitted"], residuals["USA"]["residual"]), 2) == 0.07
    for res in residuals.values():
        assert abs(_slope(res["fixed_fitted"], res["residual"])) < 0.005


def test_korean_school_means_are_less_reliable(fits):
    says(NB, "Korea, where school means are not very reliable")
    assert (
        fits["Korea"].reliability["Intercept"] < 0.5 < 0.85 < fits["USA"].reliability["Intercept"]
    )


def test_the_tilt_is_built_in(fits, data):
    """A correct model, simulated, shows the same tilt: it is not a misfit."""
    says(NB, "That is not a misfit: it is built in.")
    fit, frame = fits["Korea"], data["Korea"].loc[fits["Korea"].design.rows].copy()
    design = fit.design
    rng = np.random.default_rng(5)
    slopes = []
    for _ in range(3):
        u = rng.normal(0.0, np.sqrt(np.diag(fit.tau.to_numpy())), size=(design.n_groups, 2))
        frame["math"] = (
            design.X @ fit.fixed["estimate"].to_numpy()
            + np.einsum("nq,nq->n", design.Z, u[design.group_codes])
            + rng.normal(0.0, np.sqrt(fit.sigma2), design.n_obs)
        )
        res = dg.level1_residuals(_fit(frame))
        slopes.append(_slope(res["fitted"], res["residual"]))
    assert min(slopes) > 0.1, slopes


def test_four_fitted_values_per_school(residuals):
    says(
        NB,
        "each school has only four fitted values (girls and boys, with and without a "
        "college-educated parent)",
    )
    distinct = residuals["Korea"].groupby("school")["fitted"].apply(lambda v: v.round(12).nunique())
    assert distinct.max() == 4


def test_residual_means_are_exactly_zero_by_predictor(residuals):
    says(NB, "so their mean is exactly 0 for each value of college and of boy")
    for res in residuals.values():
        for column in ("college", "boy"):
            assert res.groupby(column)["residual"].mean().abs().max() < 1e-10


# -- section 3: EBLUPs -------------------------------------------------------------------------
def test_korean_college_reliability(fits):
    says(NB, "Korea's college slopes have a reliability of about 0.03 (notebook 05)")
    assert round(fits["Korea"].reliability["college"], 2) == 0.03


def test_spread_kept_by_the_eblups(fits):
    says(
        NB,
        "US intercepts, with a reliability of about 0.9, keep almost all of their spread "
        "(ratio 0.96); Korea's college slopes keep less than a fifth (0.19). The standardised "
        "EBLUPs have an SD of about 1 everywhere",
    )
    says(NB, "Korea's college EBLUPs keep less than a fifth of $\\sqrt{\\tau_{11}}$")

    def ratio(country, term):
        qq = dg.eblup_qq(fits[country], term)
        return qq["eblup"].std() / np.sqrt(fits[country].tau.loc[term, term])

    assert round(fits["USA"].reliability["Intercept"], 1) == 0.9
    assert round(ratio("USA", "Intercept"), 2) == 0.96
    assert ratio("Korea", "college") < 0.2 and round(ratio("Korea", "college"), 2) == 0.19
    for fit in fits.values():
        for term in ("Intercept", "college"):
            assert abs(dg.eblup_qq(fit, term)["standardised"].std() - 1) < 0.06


def test_simulation_numbers(fits, sims):
    says(
        NB,
        "excess kurtosis about 1.8 in the median simulation, while the true effects drawn "
        "for them had about 0.1), and 143 of the 150 observed points lie inside it",
    )
    says(NB, "**The 5 simulations out of 19** in which $\\hat\\tau_{11}$ was 0")
    qq = dg.eblup_qq(fits["Korea"], "college")
    band = sims.groupby("rank")["eblup"].agg(["min", "max"])
    observed = qq["eblup"].to_numpy()
    inside = (observed >= band["min"].to_numpy()) & (observed <= band["max"].to_numpy())
    assert inside.sum() == 143 and len(qq) == 150
    spread = sims.groupby("sim")["eblup"].std()
    assert int((spread == 0).sum()) == 5
    kept = sims[sims["sim"].isin(spread.index[spread > 0])].groupby("sim")
    assert round(kept["eblup"].apply(stats.kurtosis).median(), 1) == 1.8
    assert round(kept["true_effect"].apply(stats.kurtosis).median(), 1) == 0.1


def test_observed_eblups_are_bent(fits):
    says(NB, "Their curve is also bent: flat in the middle, with long tails.")
    assert stats.kurtosis(dg.eblup_qq(fits["Korea"], "college")["eblup"]) > 3


def test_standardised_eblups_lose_the_tails(fits, sims):
    says(
        NB,
        "The standardised EBLUPs lie close to the 45° line: once each school's own shrinkage is "
        "divided out, the long tails are gone (excess kurtosis 0.4).",
    )
    says(
        NB,
        "In the middle, where the simulated band is narrow, a run of observed points lies just "
        "below it: their mean is -0.08 rather than 0, a small shift rather than a bend.",
    )
    qq = dg.eblup_qq(fits["Korea"], "college")
    values = np.sort(qq["standardised"].dropna().to_numpy())
    assert round(stats.kurtosis(values), 1) == 0.4
    scores = qq["standardised_score"].dropna().sort_values().to_numpy()
    assert np.corrcoef(scores, values)[0, 1] > 0.99
    assert round(values.mean(), 2) == -0.08
    band = sims[sims["rank"] <= values.size].groupby("rank")["standardised"].agg(["min", "max"])
    below = values < band["min"].to_numpy()
    above = values > band["max"].to_numpy()
    middle = np.abs(scores) < 1
    assert below[middle].sum() >= 10 and below[middle].sum() > 3 * above[middle].sum()
    width = (band["max"] - band["min"]).to_numpy()
    assert np.median(width[middle]) < np.median(width[~middle])


def test_only_schools_with_college_students_are_standardised(fits, data):
    says(
        NB,
        "Only schools with at least one student with a college-educated parent have a "
        "college EBLUP to standardise",
    )
    qq = dg.eblup_qq(fits["Korea"], "college")
    has_college = data["Korea"].groupby("school")["college"].max() > 0
    assert (qq["standardised"].notna() == has_college.reindex(qq.index)).all()


def test_the_band_is_wide_because_tau_varies(sims):
    says(
        NB, "because $\\hat\\tau_{11}$ itself changes a lot from one simulated data set to the next"
    )
    spread = sims.groupby("sim")["eblup"].std()
    assert spread.min() == 0 and spread.max() > 5 * spread[spread > 0].min()


# -- section 4: level-1 variances ------------------------------------------------------------------
def test_us_school_sds_mostly_in_the_band(fits):
    says(NB, "mostly inside the grey band, which is where 95% of them should fall")
    table = dg.school_residual_variances(fits["USA"]).dropna()
    f = table["df"].to_numpy()
    ratio = table["variance"].to_numpy() / fits["USA"].sigma2
    inside = (ratio >= stats.chi2.ppf(0.025, f) / f) & (ratio <= stats.chi2.ppf(0.975, f) / f)
    assert inside.mean() > 0.9


def test_h_tests_of_the_two_countries(fits):
    says(
        NB,
        "Neither country gives evidence against a common $\\sigma^2$: $p$ = 0.55 in Korea "
        "and 0.75 in the USA, with $H_\\sigma$ close to its degrees of freedom",
    )
    says(NB, "15 of the 150 have fewer than 10 residual degrees of freedom and are left out")
    says(NB, "No evidence in either TIMSS country; clear evidence in HSB.")
    korea, usa = dg.homogeneity_test(fits["Korea"]), dg.homogeneity_test(fits["USA"])
    assert round(korea.p_value, 2) == 0.55 and round(usa.p_value, 2) == 0.75
    for test in (korea, usa):
        assert abs(test.statistic / test.df - 1) < 0.1
    assert korea.n_schools - korea.n_used == 15 and korea.n_schools == 150


def test_hsb_heterogeneity():
    says(NB, "Here $H_\\sigma$ = 246.1 on 159 df, $p$ about 0.00001")
    says(NB, "the median public school's residual SD is 6.37, the median Catholic school's 5.64")
    hsb = hlm.load_hsb()
    fit = hlm.fit_hlm(hsb, "mathach ~ ses + sector", group="school", random=["ses"])
    test = dg.homogeneity_test(fit)
    assert round(test.statistic, 1) == 246.1 and test.df == 159
    assert 0.5e-5 < test.p_value < 2e-5
    sd = np.sqrt(dg.school_residual_variances(fit)["variance"])
    median = sd.groupby(hsb.groupby("school")["sector"].first()).median().round(2)
    assert median.to_dict() == {0: 6.37, 1: 5.64}


# -- section 5: influence -------------------------------------------------------------------------
def test_three_korean_schools_stand_apart(korea_one_step, fits):
    says(
        NB,
        "Three schools stand apart from the rest, with Cook's distances of about 0.04 to "
        "0.05, above the dashed line of a common rule of thumb, $D_j > 4/J$ (here 0.027)",
    )
    d = korea_one_step["cooks_distance"].to_numpy()
    assert d[2] >= 0.035 and d[0] <= 0.055 and d[3] < 0.03
    assert round(4 / fits["Korea"].n_groups, 3) == 0.027
    assert int((d > 4 / fits["Korea"].n_groups).sum()) == 3


def test_top_school_moves_college_by_a_third_of_its_se(korea_one_step, fits):
    says(
        NB,
        "deleting school 4100023 changes the college effect by 0.015, a third of its "
        "standard error (0.046)",
    )
    top = korea_one_step.iloc[0]
    assert korea_one_step.index[0] == 4100023
    se = fits["Korea"].fixed.loc["college", "se"]
    assert round(top["change_college"], 3) == 0.015 and round(se, 3) == 0.046
    assert abs(top["change_college"] / se - 1 / 3) < 0.02


def test_refits_of_the_top_five(korea_one_step, korea_refits, fits):
    says(NB, "**RVC $\\tau_{11}$ = -1** for the top three")
    says(NB, "by more than a quarter for each of the five (0.051 against 0.028 for 4100023)")
    says(NB, "The largest change in the college effect is 0.018, under half of its standard error.")
    top = korea_one_step.head(5)
    refit = korea_refits.loc[top.index]
    assert (refit["rvc_Var(college)"].iloc[:3] == -1.0).all()
    assert (refit["rvc_Var(college)"].iloc[3:] > -1.0).all()
    assert (abs(refit["cooks_distance"] / top["cooks_distance"] - 1) > 0.25).all()
    assert round(top.loc[4100023, "cooks_distance"], 3) == 0.051
    assert round(refit.loc[4100023, "cooks_distance"], 3) == 0.028
    largest = refit["change_college"].abs().max()
    assert round(largest, 3) == 0.018
    assert largest < 0.5 * fits["Korea"].fixed.loc["college", "se"]


def test_no_korean_school_moves_a_fixed_effect_by_04_se(korea_refits, fits):
    says(
        NB,
        'Over all 150 refits (`dg.deletion_influence(korea, data["Korea"])`, a few seconds), '
        "no school moves any Korean "
        "fixed effect by more than 0.4 of its standard error.",
    )
    says(
        NB,
        "In Korea, no school moves a fixed effect by more than 0.4 of its standard error, "
        "but deleting any one of three schools sets $\\hat\\tau_{11}$ to 0",
    )
    se = fits["Korea"].fixed["se"]
    for term in se.index:
        assert (korea_refits[f"change_{term}"].abs() / se[term]).max() < 0.4
    assert len(korea_refits) == 150
    assert int((korea_refits["rvc_Var(college)"] == -1.0).sum()) == 3


def test_us_influence(fits, data):
    says(
        NB,
        "In the USA no school has a Cook's distance above 0.03, and only one exceeds $4/J$: "
        "with 183 schools of about 38 students",
    )
    usa = fits["USA"]
    d = dg.school_influence(usa)["cooks_distance"]
    assert d.max() < 0.03 and int((d > 4 / usa.n_groups).sum()) == 1 and usa.n_groups == 183
    assert round(usa.n_obs / usa.n_groups) == 38
    full = dg.deletion_influence(usa, data["USA"], schools=list(d.nlargest(5).index))
    assert full["cooks_distance"].max() < 0.03


# -- exercises' solutions --------------------------------------------------------------------------
def test_exercise_1_solution():
    says(NB, "The college effect moves by about a sixth of its standard error")
    assert abs(solution_value("13.1") - 1 / 6) < 0.03


def test_exercise_2_solution():
    says(
        NB,
        "$H_\\sigma$ falls only slightly, and stays far above its 159 degrees of freedom ($p$ well "
        "below 0.001)",
    )
    hsb = hlm.load_hsb()
    fit = hlm.fit_hlm(
        hsb, "mathach ~ ses + minority + female + sector", group="school", random=["ses"]
    )
    test = dg.homogeneity_test(fit)
    assert test.statistic == pytest.approx(solution_value("13.2"))
    assert 240 < test.statistic < 246.1 and test.df == 159 and test.p_value < 0.001


def test_exercise_3_solution():
    says(
        NB,
        "Five percent of 183 is about 9, and the binomial SD of that count is about 3: the "
        "observed count is well within what a correct model produces.",
    )
    count = solution_value("13.3")
    assert abs(count - 0.05 * 183) < 2 * np.sqrt(183 * 0.05 * 0.95)
    assert round(np.sqrt(183 * 0.05 * 0.95)) == 3


def test_eblup_variance_is_about_reliability_times_tau(fits):
    says(NB, "their variance is about $\\bar\\lambda\\,\\tau$, not $\\tau$")
    for fit in fits.values():
        for term in ("Intercept", "college"):
            qq = dg.eblup_qq(fit, term)
            share = qq["eblup"].var() / fit.tau.loc[term, term]
            assert 0.75 < share / fit.reliability[term] < 1.35, (term, share)


def test_summary_sentences(residuals, fits):
    says(NB, "their mean at each value of a predictor in the model is exactly 0")
    says(NB, "the EBLUPs are narrower than $N(0, \\tau)$")
    says(NB, "and heavier-tailed than normal, because each school is shrunk by its own reliability")
    for res in residuals.values():
        assert res.groupby("college")["residual"].mean().abs().max() < 1e-10
    qq = dg.eblup_qq(fits["Korea"], "college")
    assert qq["eblup"].std() < np.sqrt(fits["Korea"].tau.loc["college", "college"])
    assert stats.kurtosis(qq["eblup"]) > 1


def test_level2_variance_function(fits, residuals, data):
    says(
        NB,
        "The students with a college-educated parent vary more (0.740 against 0.626). The VC "
        "model implies almost no difference (0.684 against 0.665); the UN model implies more of "
        "it (0.723 against 0.651), through its positive covariance $\\tau_{01}$: schools with "
        "higher intercepts also have larger college gaps.",
    )
    usa = fits["USA"]
    un = hlm.fit_hlm(data["USA"], FORMULA, group="school", random=["college"], covariance="un")
    res = residuals["USA"]
    observed = res.groupby("college")["marginal_residual"].var().round(3)
    assert observed.to_dict() == {0.0: 0.626, 1.0: 0.740}

    def implied(fit, x):
        tau = fit.tau.to_numpy()
        return round(tau[0, 0] + 2 * tau[0, 1] * x + tau[1, 1] * x**2 + fit.sigma2, 3)

    assert (implied(usa, 1), implied(usa, 0)) == (0.684, 0.665)
    assert (implied(un, 1), implied(un, 0)) == (0.723, 0.651)
    assert un.tau.loc["Intercept", "college"] > 0


def test_school_residual_df(fits):
    says(
        NB,
        "$f_j = n_j - 3$ degrees of freedom ($n_j - 2$ in a school where college or boy does not "
        "vary",
    )
    for fit in fits.values():
        table = dg.school_residual_variances(fit)
        lost = table["n_students"] - table["df"]
        assert set(lost) <= {2, 3} and (lost == 3).mean() > 0.5
