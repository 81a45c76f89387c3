"""Notebook 03's prose, checked: every number it quotes and every claim it makes about the data.

Each test first finds the sentence in the notebook's markdown with ``says`` (so that a
reworded claim fails here and is checked again), then recomputes the claim from the package
and the shipped data, with a tolerance that matches the printed rounding. Published numbers
are checked against ``hlmteach.published`` (the source's tables as printed); the likelihood-
ratio test against OLS is checked against lm/lme4/lmerTest
(``tests/reference/intercept_only_lme4.R``, fixture ``tests/fixtures/intercept_only_lme4.json``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from prose import says
from scipy import stats

import hlmteach as hlm
from hlmteach.exercises import solution_value
from hlmteach.published import ANOVA_RESULTS, HLM_RESULTS, compare_published, largest_gap

NB = "03_intercept_only.ipynb"
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "intercept_only_lme4.json"
#: The source's intercept-only variances (tau00, sigma2), as printed.
PUBLISHED = {"Korea": (0.06161, 0.9077), "USA": (0.2141, 0.4769)}


@pytest.fixture(scope="module")
def timss() -> pd.DataFrame:
    return hlm.load_timss()


@pytest.fixture(scope="module")
def fits(timss):
    return hlm.fit_hlm(timss, "math ~ 1", group="school", by="country")


@pytest.fixture(scope="module")
def ml_fits(timss):
    return hlm.fit_hlm(timss, "math ~ 1", group="school", by="country", method="ML")


@pytest.fixture(scope="module")
def lr(timss, ml_fits) -> dict[str, float]:
    ols = hlm.fit_ols(timss, "math ~ 1", by="country")
    return {c: -2 * ols[c].statsmodels_result.llf - ml_fits[c].deviance for c in ml_fits}


@pytest.fixture(scope="module")
def school_means(timss) -> pd.Series:
    return timss.groupby(["country", "school"], observed=True)["math"].mean()


def tau(fit) -> float:
    return float(fit.tau.loc["Intercept", "Intercept"])


def icc(tau00: float, sigma2: float) -> float:
    return tau00 / (tau00 + sigma2)


def test_the_grand_mean_is_precision_weighted(timss, fits):
    says(NB, "(0.743, 0.743 and 0.741 in Korea)")
    korea = timss[timss["country"] == "Korea"]
    schools = korea.groupby("school", observed=True)["math"].agg(["mean", "size"])
    fit = fits["Korea"]
    weight = 1 / (tau(fit) + fit.sigma2 / schools["size"])
    weighted = float((weight * schools["mean"]).sum() / weight.sum())
    assert weighted == pytest.approx(fit.fixed.loc["Intercept", "estimate"], abs=1e-8)
    assert round(weighted, 3) == 0.743
    assert round(schools["mean"].mean(), 3) == 0.743
    assert round(korea["math"].mean(), 3) == 0.741


def test_sizes_and_agreement_with_the_published_table(fits):
    says(NB, "All students are used this time (2901 and 6944)")
    assert [fits[c].n_obs for c in fits] == [2901, 6944]
    says(
        NB,
        "The estimates agree within a fraction of a published standard error, and the sizes "
        "exactly. The fit statistics are close but not equal.",
    )
    table = compare_published(fits, ANOVA_RESULTS)
    assert largest_gap(fits, ANOVA_RESULTS) < 1
    for country in fits:
        for row in ("Sample Size", "N of Schools"):
            assert table.loc[row, (country, "ours")] == table.loc[row, (country, "published")]
        published = float(ANOVA_RESULTS[country]["-2 Res Log Likelihood"])
        ours = fits[country].fit_stats["-2 Res Log Likelihood"]
        assert 0.05 < abs(ours - published) < 0.01 * published


def test_the_mapping_table_quotes_the_source(fits):
    says(
        NB,
        "Intercept · Estimate **0.7409**",
        "Intercept · Standard Error **0.02692**",
        "Intercept · DF **149**, t Value 27.52",
        "Intercept (subject IDSCHOOL) · Estimate **0.06161**",
        "Intercept · Standard Error **0.01268**",
        "Intercept · Z Value **4.86**",
        "Residual · Estimate **0.9077**",
        "Residual · Standard Error **0.02448**",
        "Subjects 150; Observations Used 2901",
        "ICC, 7%",
    )
    korea = ANOVA_RESULTS["Korea"]
    assert korea["Intercept"] == ("0.7409", "0.02692") and korea["df(Intercept)"] == "149"
    assert (
        korea["Var(Intercept)"] == ("0.06161", "0.01268") and korea["Z(Var(Intercept))"] == "4.86"
    )
    assert korea["Residual"] == ("0.9077", "0.02448")
    assert round(0.7409 / 0.02692, 2) == 27.52
    says(
        NB,
        "0.01268 rounds to 0.01 and 0.02448 to 0.02. (The US column, (0.02) and (0.01), matches "
        "our fit.)",
    )
    usa = fits["USA"].covariance
    assert round(usa.loc["Var(Intercept)", "se"], 2) == 0.02
    assert round(usa.loc["Residual", "se"], 2) == 0.01


def test_wald_z(fits):
    says(NB, "For Korea's $\\tau_{00}$, $0.06161 / 0.01268 = 4.86$")
    assert round(0.06161 / 0.01268, 2) == 4.86
    says(NB, "gives exactly twice the $Z$: about 9.5 instead of 4.8 for Korea")
    row = fits["Korea"].covariance.loc["Var(Intercept)"]
    sd, sd_se = np.sqrt(row["estimate"]), row["se"] / (2 * np.sqrt(row["estimate"]))
    assert sd / sd_se == pytest.approx(2 * row["z"])
    assert round(row["z"], 1) == 4.8 and round(2 * row["z"], 1) == 9.5
    says(NB, "With $Z$ near 5 (Korea) or 9 (USA) the verdict is not in doubt")
    assert round(row["z"]) == 5
    assert round(fits["USA"].covariance.loc["Var(Intercept)", "z"]) == 9


def test_degrees_of_freedom_and_the_se_of_the_grand_mean(fits):
    says(NB, "$J - 1 = 150 - 1 = 149$ degrees of freedom (182 in the USA)", "$N - 1 = 2900$")
    assert [int(fits[c].fixed.loc["Intercept", "df"]) for c in fits] == [149, 182]
    says(NB, "the honest SE of the grand mean is about three and a half times the naive one")
    usa = fits["USA"]
    naive = np.sqrt((tau(usa) + usa.sigma2) / usa.n_obs)
    assert usa.fixed.loc["Intercept", "se"] / naive == pytest.approx(3.5, abs=0.1)
    says(NB, "The approximation (exact for equal school sizes) is close to the model's SE.")
    for fit in fits.values():
        approx = np.sqrt((tau(fit) + fit.sigma2 / (fit.n_obs / fit.n_groups)) / fit.n_groups)
        assert approx == pytest.approx(fit.fixed.loc["Intercept", "se"], rel=0.02)
    says(NB, "they come out a little below 149 for Korea", "With $t$ above 8 the choice does not")
    satterthwaite = fits["Korea"].fixed_effects("satterthwaite").loc["Intercept", "df"]
    assert 140 < satterthwaite < 149
    assert min(abs(fits[c].fixed.loc["Intercept", "t"]) for c in fits) > 8


def test_ml_against_reml(fits, ml_fits):
    says(
        NB,
        "ML's $\\tau_{00}$ is about 1% smaller than REML's in Korea and less in the USA, while "
        "$\\sigma^2$ and $\\gamma_{00}$ agree to four decimals",
    )
    shortfall = {c: 1 - tau(ml_fits[c]) / tau(fits[c]) for c in fits}
    assert 0.005 < shortfall["Korea"] < 0.015
    assert 0 < shortfall["USA"] < shortfall["Korea"]
    for c in fits:
        assert round(ml_fits[c].sigma2, 4) == round(fits[c].sigma2, 4)
        gamma = [f.fixed.loc["Intercept", "estimate"] for f in (ml_fits[c], fits[c])]
        assert round(gamma[0], 4) == round(gamma[1], 4)


def test_lr_test_against_ols(lr):
    says(NB, "At the 5% level the critical value is 2.71 instead of 3.84.")
    assert round(stats.chi2.ppf(0.90, 1), 2) == 2.71  # the mixture's 5% point
    assert round(stats.chi2.ppf(0.95, 1), 2) == 3.84
    says(NB, "LR is about 66 in Korea and about 2000 in the USA, far beyond 2.71")
    assert round(lr["Korea"]) == 66
    assert lr["USA"] == pytest.approx(2000, rel=0.02)
    says(NB, "LR about 66 (Korea) and 2000 (USA), far beyond the critical 2.71")


def test_lr_test_agrees_with_r():
    """lm + lme4 (ML) and lmerTest::ranova (REML) on the same file, same statistic.

    Tolerance 1e-4 on -2 log L: lme4 at bobyqa's tight tolerances and our engine both reach
    the optimum to about 1e-8, and OLS's likelihood is closed-form in both.
    """
    ref = json.loads(FIXTURE.read_text())["countries"]
    timss = hlm.load_timss()
    for country, r in ref.items():
        data = timss[timss["country"] == country]
        ml = hlm.fit_hlm(data, "math ~ 1", group="school", method="ML")
        reml = hlm.fit_hlm(data, "math ~ 1", group="school")
        ols = hlm.fit_ols(data, "math ~ 1")
        assert -2 * ols.statsmodels_result.llf == pytest.approx(r["ols_minus2loglik_ml"], abs=1e-4)
        assert ml.deviance == pytest.approx(r["ml_deviance"], abs=1e-4)
        assert reml.deviance == pytest.approx(r["reml_criterion"], abs=1e-4)
        lr = -2 * ols.statsmodels_result.llf - ml.deviance
        assert lr == pytest.approx(r["lr_ml"], abs=1e-4)
        assert 0.5 * stats.chi2.sf(lr, 1) == pytest.approx(r["p_mixture_ml"], rel=1e-3, abs=1e-300)
        # The REML version of the same test (ranova): the same verdict.
        assert r["lr_reml_ranova"] == pytest.approx(lr, rel=0.02)
        assert tau(ml) == pytest.approx(r["tau00_ml"], rel=1e-5)
        assert tau(reml) == pytest.approx(r["tau00_reml"], rel=1e-5)


def test_ten_schools_wald_and_lr_part_ways():
    says(NB, "exercise 03.4 puts the two side by side for ten schools")
    lr = solution_value("03.4")
    from hlmteach.exercises import _ten_korean_schools

    z = _ten_korean_schools("REML").covariance.loc["Var(Intercept)", "z"]
    assert stats.norm.sf(z) > 0.05 and 0.5 * stats.chi2.sf(lr, 1) < 0.05
    says(
        NB,
        "LR is about 5.3, above the mixture's critical value 2.71 (and above 3.84, too)",
        "$p \\approx 0.01$ with the mixture",
        "The Wald $Z$ of the REML fit is only about 1.3, one-sided $p \\approx 0.09$",
    )
    assert round(lr, 1) == 5.3 and lr > 3.84
    assert round(0.5 * stats.chi2.sf(lr, 1), 2) == 0.01
    assert round(z, 1) == 1.3 and round(stats.norm.sf(z), 2) == 0.09


def test_ml_shortfall_is_of_the_order_of_one_over_j(fits, ml_fits):
    says(
        NB,
        "so the bias is of the order of $1/J$",
        "ML underestimates $\\tau_{00}$ by a share of the order of $1/J$",
    )
    from hlmteach.exercises import _ten_korean_schools

    pairs = [(ml_fits[c], fits[c]) for c in fits]
    pairs.append((_ten_korean_schools("ML"), _ten_korean_schools("REML")))
    for ml, reml in pairs:
        shortfall = 1 - tau(ml) / tau(reml)
        # "of the order of": within a factor of 2.5 of 1/J (it is about 1/(J * reliability))
        assert 0.4 < shortfall * reml.n_groups < 2.5


def test_exercise_031_ml_shortfall_with_ten_schools(fits, ml_fits):
    says(
        NB,
        "About 0.85: with ten schools ML puts the between-school variance 15% below REML, "
        "against about 1% with 150 schools.",
    )
    ratio = solution_value("03.1")
    assert round(ratio, 2) == 0.85
    assert round(1 - tau(ml_fits["Korea"]) / tau(fits["Korea"]), 2) == 0.01


def test_aic_box_arithmetic(fits):
    says(
        NB,
        "$8081.8 + 2\\cdot2 = 8085.8$",
        "$8081.8 + 2\\ln 150 \\approx 8081.8 + 10 = 8091.8$",
        "the same model gets numbers several points apart",
        "AICC is the same to one decimal because $n^*$ is large",
    )
    assert round(8081.8 + 2 * np.log(150), 1) == 8091.8 and round(2 * np.log(150)) == 10
    for fit in fits.values():
        dev = fit.fit_stats["-2 Res Log Likelihood"]
        assert fit.fit_stats["AIC"] == pytest.approx(dev + 4)
        assert round(fit.fit_stats["AICC"], 1) == round(fit.fit_stats["AIC"], 1)
        assert fit.fit_stats["BIC"] == pytest.approx(dev + 2 * np.log(fit.n_groups))
        r_bic = dev + 3 * np.log(fit.n_obs)
        assert r_bic - fit.fit_stats["BIC"] > 10


def test_icc_section(fits):
    says(
        NB,
        "The source's table prints **7%** for Korea and **45%** for the USA.",
        "From the source's own variances, the ICC is **6.4%** for Korea and **31.0%** for the USA",
        "Our fit agrees with the correct values",
    )
    assert round(100 * icc(*PUBLISHED["Korea"]), 1) == 6.4
    assert round(100 * icc(*PUBLISHED["USA"]), 1) == 31.0
    assert round(100 * PUBLISHED["Korea"][0] / PUBLISHED["Korea"][1]) == 7
    assert round(100 * PUBLISHED["USA"][0] / PUBLISHED["USA"][1]) == 45
    for c, fit in fits.items():
        assert fit.icc == pytest.approx(icc(*PUBLISHED[c]), abs=0.003)
    says(NB, "45% versus 31%: about 1.45 times too large", "(7% versus 6.4%)")
    ratio = (PUBLISHED["USA"][0] / PUBLISHED["USA"][1]) / icc(*PUBLISHED["USA"])
    assert round(ratio, 2) == 1.45
    says(NB, "the design effect grows from about 12 to about 18")
    m = 6944 / 183
    right = hlm.simulation.design_effect(icc(*PUBLISHED["USA"]), m)
    wrong = hlm.simulation.design_effect(PUBLISHED["USA"][0] / PUBLISHED["USA"][1], m)
    assert round(right) == 12 and round(wrong) == 18
    says(NB, "would make US clustering look 40% more costly than it is")
    assert wrong / right == pytest.approx(1.4, abs=0.05)
    says(NB, "prints 30% for the USA, which does fit $\\tau_{00}/(\\tau_{00}+\\sigma^2)$ there")
    assert HLM_RESULTS["USA"]["ICC"] == "30%"
    assert round(100 * icc(0.20, 0.47)) == 30


def test_quick_check_shares(fits):
    says(NB, "about 31%; 0.45 says", "about 69% in the USA")
    assert round(100 * (1 - icc(*PUBLISHED["USA"]))) == 69
    assert round(100 * (1 - fits["USA"].icc)) == 69


def test_two_kinds_of_school_system(fits, school_means):
    says(
        NB,
        "The grand means** differ by about one SD: 0.74 in Korea, -0.31 in the USA",
        "$\\tau_{00}$ is 0.06 in Korea and 0.21 in the USA: the true school means vary more than "
        "three times as much in the USA",
        "about 0.25 and 0.46 SD",
        "$\\sigma^2$ is 0.91 in Korea and 0.48 in the USA",
    )
    for published, ours in [((0.06161, 0.2141), (tau(fits["Korea"]), tau(fits["USA"])))]:
        assert published[1] / published[0] > 3 and ours[1] / ours[0] > 3
    assert [round(x, 2) for x in (0.06161, 0.2141, 0.9077, 0.4769)] == [0.06, 0.21, 0.91, 0.48]
    assert [round(np.sqrt(x), 2) for x in (0.06161, 0.2141)] == [0.25, 0.46]
    assert [round(fits[c].fixed.loc["Intercept", "estimate"], 2) for c in fits] == [0.74, -0.31]
    says(NB, "In Korea about 94% of the variance lies among students of the same school")
    assert round(100 * (1 - fits["Korea"].icc)) == 94
    says(NB, "In the USA nearly a third of the variance lies between schools")
    assert 0.28 < fits["USA"].icc < 1 / 3
    says(NB, "from well below -1 to above the two-country mean. The Korean ones are bunched.")
    assert school_means["USA"].min() < -1.2 and school_means["USA"].max() > 0
    assert school_means["Korea"].std() < 0.75 * school_means["USA"].std()
    says(NB, "in Korea the dots spread *wider* than the black bar")
    korea = fits["Korea"]
    assert school_means["Korea"].std() > np.sqrt(tau(korea))
    centre, half = korea.fixed.loc["Intercept", "estimate"], 1.96 * np.sqrt(tau(korea))
    outside = ((school_means["Korea"] - centre).abs() > half).mean()
    assert outside > 0.1  # 5% if the dots were the true means


def test_reliability(fits, school_means):
    says(
        NB,
        "the reliability averages above 0.9",
        "In Korea it is only a little above one half",
        "which is why their variance is roughly twice $\\tau_{00}$",
        "Korean school means are unreliable (about 0.5), US ones reliable (above 0.9)",
    )
    lam = {c: fits[c].school_reliability["Intercept"].mean() for c in fits}
    assert lam["USA"] > 0.9 and 0.5 < lam["Korea"] < 0.6
    ratio = school_means["Korea"].var() / tau(fits["Korea"])
    assert 1.7 < ratio < 2.3


def test_summary_numbers(fits):
    says(
        NB,
        "grand means 0.74 and -0.31, $\\tau_{00}$ 0.06 and 0.21, $\\sigma^2$ 0.91 and 0.48",
    )
    # The source's values, which ours reproduce to within 0.01.
    quoted = {"Korea": (0.74, 0.06, 0.91), "USA": (-0.31, 0.21, 0.48)}
    for c, (gamma, tau00, sigma2) in quoted.items():
        fit = fits[c]
        assert abs(fit.fixed.loc["Intercept", "estimate"] - gamma) < 0.01
        assert abs(tau(fit) - tau00) < 0.01 and abs(fit.sigma2 - sigma2) < 0.01


def test_exercises_032_and_033(fits):
    says(
        NB,
        "About 0.066, against an ICC of about 0.062 (published: 0.068, printed as 7%, against "
        "6.4%)",
    )
    korea = fits["Korea"]
    assert round(tau(korea) / korea.sigma2, 3) == 0.066 and round(korea.icc, 3) == 0.062
    assert round(0.06161 / 0.9077, 3) == 0.068
    says(NB, "A little above 2 (notebook 01 had 2.17 from the published ICC of 0.064)")
    deff = solution_value("03.3")
    assert 2 < deff < 2.2
    assert round(hlm.simulation.design_effect(0.064, 2901 / 150), 2) == 2.17
    says(NB, "about $\\sqrt{2.1} \\approx 1.45$ times too small", "Compare the USA's design effect")
    assert round(np.sqrt(2.1), 2) == 1.45
