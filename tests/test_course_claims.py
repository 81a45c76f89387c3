"""Claims about the data in the prose of notebooks 03, 04, 05 and 08, checked on the shipped data.

These are the sentences revised after the synthetic data were regenerated (plausible values
as posterior draws, and a sampling design). Each test first finds the sentence in the
notebook's markdown, so that a reworded claim fails here and is checked again, then
recomputes the claim from the package and the shipped data. A regeneration that falsifies
a sentence fails the suite.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from prose import says

import hlmteach as hlm

PVS = [f"math{k}" for k in range(1, 6)]


@pytest.fixture(scope="module")
def timss() -> pd.DataFrame:
    return hlm.load_timss()


@pytest.fixture(scope="module")
def rc(timss: pd.DataFrame):
    return hlm.fit_hlm(
        timss,
        "math ~ college + boy",
        group="school",
        random=["college"],
        covariance="vc",
        by="country",
    )


@pytest.fixture(scope="module")
def pooled_rc(timss: pd.DataFrame):
    return hlm.fit_plausible_values(
        timss,
        "{pv} ~ college + boy",
        outcomes=PVS,
        group="school",
        random=["college"],
        covariance="vc",
        by="country",
    )


# -- 08: plausible values -------------------------------------------------------------------


def test_08_noise_share_is_about_seven_per_cent(timss: pd.DataFrame) -> None:
    says(
        "08_plausible_values.ipynb",
        "about 7% of the variance of a plausible value is measurement noise",
    )
    for _, part in timss.groupby("country", observed=True):
        share = part[PVS].var(axis=1).mean() / part["math1"].var()
        assert 0.065 <= share < 0.08


def test_08_plausible_values_behave_as_posterior_draws(timss: pd.DataFrame) -> None:
    says(
        "08_plausible_values.ipynb",
        "each is a random draw from the student's posterior distribution",
    )
    for _, part in timss.groupby("country", observed=True):
        # Draws from a posterior: their mean has less spread than any one of them.
        assert part[PVS].mean(axis=1).var() < part[PVS].var().min()


def test_08_us_college_estimates_differ_by_up_to_half_an_se(pooled_rc) -> None:
    says("08_plausible_values.ipynb", "differ from one another by up to half a standard error")
    usa = pooled_rc["USA"]
    estimates = usa.per_pv("estimate").loc["college"]
    spread = (estimates.max() - estimates.min()) / usa.per_pv("se").loc["college"].mean()
    assert 0.3 < spread <= 0.55


def test_08_ols_pooled_estimates_within_half_an_se(timss: pd.DataFrame) -> None:
    says(
        "08_plausible_values.ipynb",
        "The pooled estimates differ from the first-PV estimates by less than half a standard "
        "error",
        "The pooled SEs are larger, by a few per cent up to about 10%.",
    )
    ols = hlm.fit_plausible_values(
        timss, "{pv} ~ college + boy", outcomes=PVS, model="ols", by="country"
    )
    for result in ols.values():
        table = result.comparison()
        moved = (table["estimate_pooled"] - table["estimate_first"]).abs() / table["se_first"]
        assert (moved < 0.5).all()
        assert (table["se_ratio"] > 1).all() and (table["se_ratio"] < 1.11).all()


def test_08_intercept_only_claims(timss: pd.DataFrame) -> None:
    says(
        "08_plausible_values.ipynb",
        "has the largest FMI of the table in both countries",
        "Its SE still grows by only a few per cent",
        "an `se_ratio` of about 1",
    )
    anova = hlm.fit_plausible_values(timss, "{pv} ~ 1", outcomes=PVS, group="school", by="country")
    for result in anova.values():
        table = result.comparison()
        assert table["fmi"].idxmax() == ("covariance", "Residual")
        assert 1.0 <= table.loc[("covariance", "Residual"), "se_ratio"] < 1.06
        assert table.loc[("fixed", "Intercept"), "se_ratio"] == pytest.approx(1.0, abs=0.02)


def test_08_random_coefficient_claims(pooled_rc) -> None:
    says(
        "08_plausible_values.ipynb",
        "In Korea, the **college effect**'s SE grows most, by about 10%, and it has the largest "
        "FMI of the fixed effects; in the USA its SE grows by several per cent.",
        "In the USA, the **variance of the college slopes**, $\\tau_{11}$, gains most: its SE "
        "grows by about a tenth.",
    )
    korea = pooled_rc["Korea"].comparison().loc["fixed"]
    assert korea["se_ratio"].idxmax() == "college"
    assert korea["fmi"].idxmax() == "college"
    assert 1.07 <= korea.loc["college", "se_ratio"] <= 1.13
    usa = pooled_rc["USA"].comparison()
    assert 1.03 <= usa.loc[("fixed", "college"), "se_ratio"] <= 1.09
    assert usa["se_ratio"].idxmax() == ("covariance", "Var(college)")
    assert 1.07 <= usa.loc[("covariance", "Var(college)"), "se_ratio"] <= 1.15
    # "there is none here": no plausible value puts a variance at zero
    assert not pooled_rc["Korea"].warnings


def test_08_exercise_solutions(timss: pd.DataFrame, pooled_rc) -> None:
    says(
        "08_plausible_values.ipynb",
        "about 6–7% of the information about the US college effect is lost",
        "The pooled SE is about 2.8 points",
        "(`se_ratio` about 1.00)",
    )
    assert 0.055 <= pooled_rc["USA"].fixed.loc["college", "fmi"] < 0.075
    korea = timss[timss["country"] == "Korea"]
    scale = hlm.fit_plausible_values(
        korea, "{pv} ~ 1", outcomes=[f"bsmpv0{k}" for k in range(1, 6)], group="school"
    )
    assert scale.fixed.loc["Intercept", "se"] == pytest.approx(2.8, abs=0.05)
    assert scale.comparison().loc[("fixed", "Intercept"), "se_ratio"] == pytest.approx(
        1.0, abs=0.01
    )


# -- 03 and 04 ------------------------------------------------------------------------------


def test_03_exercise_ratio_and_icc(timss: pd.DataFrame) -> None:
    says("03_intercept_only.ipynb", "About 0.066, against an ICC of about 0.062")
    korea = hlm.fit_hlm(timss[timss["country"] == "Korea"], "math ~ 1", group="school")
    assert korea.tau.iloc[0, 0] / korea.sigma2 == pytest.approx(0.066, abs=0.0005)
    assert korea.icc == pytest.approx(0.062, abs=0.0005)


def test_04_korea_college_and_variances(timss: pd.DataFrame, rc) -> None:
    says(
        "04_random_coefficients.ipynb",
        "from about 0.52 under OLS to about 0.46; the source: 0.53 to 0.49",
        "($\\tau_{00}$ about 0.025 against $\\sigma^2$ about 0.89)",
    )
    ols = hlm.fit_ols(timss[timss["country"] == "Korea"], "math ~ college + boy")
    assert round(ols.fixed.loc["college", "estimate"], 2) == 0.52
    korea = rc["Korea"]
    assert round(korea.fixed.loc["college", "estimate"], 2) == 0.46
    assert korea.tau.loc["Intercept", "Intercept"] == pytest.approx(0.025, abs=0.0015)
    assert round(korea.sigma2, 2) == 0.89


def test_04_correlated_effects(timss: pd.DataFrame, rc) -> None:
    says(
        "04_random_coefficients.ipynb",
        "clearly correlated (about 0.6)",
        "The likelihood-ratio test below rejects $\\tau_{01} = 0$, and AIC",
        "In **Korea** the estimated correlation is 1.00",
        "So in the US data the source's VC choice is not supported",
    )
    un = hlm.fit_hlm(
        timss,
        "math ~ college + boy",
        group="school",
        random=["college"],
        covariance="un",
        by="country",
    )
    usa = un["USA"].tau
    assert usa.iloc[0, 1] / np.sqrt(usa.iloc[0, 0] * usa.iloc[1, 1]) == pytest.approx(0.6, abs=0.05)
    assert hlm.lr_test(rc["USA"], un["USA"]).p_value < 0.01
    assert un["USA"].fit_stats["AIC"] < rc["USA"].fit_stats["AIC"]
    korea = un["Korea"].tau
    assert korea.iloc[0, 1] / np.sqrt(korea.iloc[0, 0] * korea.iloc[1, 1]) > 0.995
    assert any("perfectly correlated" in note for note in un["Korea"].warnings)
    assert hlm.lr_test(rc["Korea"], un["Korea"]).p_value > 0.3


def test_04_and_06_boy_slope_variance_is_zero_in_both_countries(timss: pd.DataFrame) -> None:
    says(
        "04_random_coefficients.ipynb",
        "In **Korea** the boy-slope variance is estimated at zero too.",
        "has its variance estimated at zero in both countries",
        "The statistic is 0: the variance is estimated at exactly zero",
    )
    says("06_explorer.ipynb", "the variance of the boy slopes is estimated at zero")
    boy = hlm.fit_hlm(
        timss,
        "math ~ college + boy",
        group="school",
        random=["college", "boy"],
        covariance="vc",
        by="country",
    )
    for fit in boy.values():
        assert fit.tau.loc["boy", "boy"] == 0.0
        assert fit.covariance.loc["Var(boy)", "boundary"]


# -- 05 -------------------------------------------------------------------------------------


def test_05_shrinkage_contrast_and_smallest_school(timss: pd.DataFrame, rc) -> None:
    says(
        "05_school_effects.ipynb",
        "the EBLUP SDs differ by a factor of almost four, while the model's "
        "$\\sqrt{\\tau_{11}}$ differ by a factor of about 1.5.",
        "Its reliability is about 0.73",
    )
    sds = {c: f.random_effects["estimate"].unstack("term")["college"].std() for c, f in rc.items()}
    roots = {c: np.sqrt(f.tau.loc["college", "college"]) for c, f in rc.items()}
    assert 3.4 <= sds["USA"] / sds["Korea"] < 4.0
    assert roots["USA"] / roots["Korea"] == pytest.approx(1.5, abs=0.05)
    usa = timss[timss["country"] == "USA"]
    anova = hlm.fit_hlm(usa, "math ~ 1", group="school")
    smallest = usa.groupby("school").size().min()
    tau00 = anova.tau.iloc[0, 0]
    assert tau00 / (tau00 + anova.sigma2 / smallest) == pytest.approx(0.73, abs=0.005)
