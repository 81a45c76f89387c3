"""Claims about the data in the prose of notebooks 03, 04 and 05, checked on the shipped data.

(Notebook 08's claims are in tests/test_claims_08.py.)

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


# -- 03 and 04 ------------------------------------------------------------------------------


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
