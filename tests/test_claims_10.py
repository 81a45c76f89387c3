"""Claims about the data in the prose of notebook 10 (testing variance components).

Each test first finds its sentence in the notebook's markdown with ``says`` (a reworded
claim fails here and must be checked again), then recomputes the claim from the package
and the shipped data. Tolerances follow the printed rounding.
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

NB = "10_testing_variances.ipynb"
FORMULA = "math ~ college + boy"
MIXTURE_FIXTURE = Path(__file__).parent / "fixtures" / "mixture_bootstrap_lme4.json"


@pytest.fixture(scope="module")
def timss() -> pd.DataFrame:
    return hlm.load_timss()


def _fit(data: pd.DataFrame, random=(), **kwargs):
    return hlm.fit_hlm(
        data, FORMULA, group="school", random=list(random), covariance="vc", **kwargs
    )


@pytest.fixture(scope="module")
def korea(timss):
    data = timss[timss["country"] == "Korea"]
    return {"data": data, "null": _fit(data), "alt": _fit(data, ["college"])}


@pytest.fixture(scope="module")
def usa(timss):
    data = timss[timss["country"] == "USA"]
    return {"data": data, "null": _fit(data), "alt": _fit(data, ["college"])}


@pytest.fixture(scope="module")
def boot(korea):
    return hlm.bootstrap_lr_test(
        korea["data"],
        FORMULA,
        group="school",
        random_alt=["college"],
        covariance="vc",
        n_boot=200,
        seed=2024,
        progress=False,
    )


def test_why_our_se_is_not_the_original_one(korea):
    says(
        NB,
        "matches the original analysis's 0.01, but its standard error does not: ours is about "
        "0.023, the original printed 0.01",
        "estimated from only about 19 students",
        "its sampling variance is σ²/(19/4) ≈ 0.19",
        "no better than about √(2/150) × (0.01 + 0.19) ≈ 0.023",
        "the Wald Z would look twice as convincing as the data allow",
    )
    alt, data = korea["alt"], korea["data"]
    row = alt.covariance.loc["Var(college)"]
    assert round(row["estimate"], 2) == 0.01
    assert row["se"] == pytest.approx(0.023, abs=0.0005)
    assert data.groupby("school").size().median() == 19
    noise = alt.sigma2 / (19 / 4)
    assert round(noise, 2) == 0.19
    bound = np.sqrt(2 / alt.n_groups) * (0.01 + 0.19)
    assert alt.n_groups == 150 and round(bound, 3) == 0.023
    assert row["se"] == pytest.approx(bound, abs=0.002)  # "the synthetic data give about that"
    assert 1.8 < row["se"] / 0.01 < 2.6  # Z with the original SE, relative to ours


def test_covtest_and_information(korea):
    says(
        NB,
        "For `Var(college)` the SE is larger than the estimate itself, so Z is well below 1",
        "only about one student in five has a college-educated parent",
        "the median school has only a handful of such students",
        "the Wald 95% interval, estimate ± 1.96 SE, reaches well below zero",
    )
    row = korea["alt"].covariance.loc["Var(college)"]
    assert row["se"] > row["estimate"] and row["z"] < 0.5
    data = korea["data"]
    assert data["college"].mean() == pytest.approx(0.2, abs=0.04)
    assert data.groupby("school")["college"].sum().median() <= 5
    assert row["estimate"] - 1.96 * row["se"] < -0.03


def test_mixture_and_bootstrap(korea, boot):
    says(
        NB,
        "The naive p-value is twice the mixture p-value for any LR > 0",
        "About half of the simulated statistics are exactly 0",
        "uncertain by about ±3.5 percentage points (one standard error, √(0.5 × 0.5 / 200))",
        'anything between about 43% and 57% is "half"',
        "With 1000 replicates the error would shrink to ±1.6 points",
        "The bootstrap p-value and the mixture p-value agree closely; the naive one is twice as "
        "large",
    )
    test = hlm.boundary_lr_test(korea["null"], korea["alt"])
    assert test.p_value_naive == pytest.approx(2 * test.p_value)
    lr_star = boot.boot_statistics[np.isfinite(boot.boot_statistics)]
    assert lr_star.size == 200
    assert 0.43 <= np.mean(lr_star == 0) <= 0.57
    assert round(100 * np.sqrt(0.25 / 200), 1) == 3.5
    assert round(100 * np.sqrt(0.25 / 1000), 1) == 1.6
    assert abs(boot.p_value - test.p_value) < 0.035  # one Monte-Carlo SE of a p near 0.35
    assert boot.p_value_naive / boot.p_value > 1.8


def test_several_variances_at_once(korea):
    says(
        NB,
        "found 0, 1 and 2 positive slope variances in 26%, 50% and 24% of the null data sets",
        "a bootstrap p-value of 0.56, close to the mixture's 0.57 and far from χ²(2)'s 0.92",
        "Korea's boy-slope variance is estimated at exactly 0 in `both_kr`",
        "the same as that of the college-slope test alone (0.17)",
        "it gives p = 0.57 instead of 0.34",
    )
    reference = json.loads(MIXTURE_FIXTURE.read_text())
    counts = reference["positive_variances"]
    shares = [round(100 * counts[k] / reference["nsim"]) for k in ("0", "1", "2")]
    assert shares == [26, 50, 24]
    assert round(reference["p_value"], 2) == 0.56
    both = _fit(korea["data"], ["college", "boy"])
    assert both.covariance.loc["Var(boy)", "estimate"] == 0.0
    test = hlm.boundary_lr_test(korea["null"], both)
    single = hlm.boundary_lr_test(korea["null"], korea["alt"])
    assert round(test.p_value, 2) == 0.57 and round(test.p_value_naive, 2) == 0.92
    assert round(single.p_value, 2) == 0.34
    assert round(test.statistic, 2) == round(single.statistic, 2) == 0.17


def test_profile_intervals(korea):
    says(
        NB,
        "the profile interval starts at exactly 0 (`reaches_zero` is True)",
        "Its upper end lies above the Wald upper end",
        "the profile interval reaches further above the estimate than below",
        "its profile and Wald intervals nearly coincide",
        "runs from 0 to about 0.068",
        "a variance as large as about 0.07 (a school-to-school SD of the college gap of about "
        "0.26)",
    )
    prof = hlm.profile_intervals(korea["alt"])
    college, intercept, residual = (
        prof.loc[k] for k in ("Var(college)", "Var(Intercept)", "Residual")
    )
    assert college["lower"] == 0 and college["reaches_zero"]
    assert college["upper"] > college["wald_upper"]
    assert round(college["upper"], 3) == 0.068
    assert round(np.sqrt(college["upper"]), 2) == 0.26
    assert intercept["upper"] - intercept["estimate"] > intercept["estimate"] - intercept["lower"]
    assert abs(residual["lower"] - residual["wald_lower"]) < 0.005
    assert abs(residual["upper"] - residual["wald_upper"]) < 0.005


def test_usa_and_the_side_by_side_table(korea, usa, boot):
    says(
        NB,
        "the average reliability of a US school's college slope is several times Korea's",
        "the Wald p-value is several times the mixture p-value",
        "The mixture and the bootstrap give nearly the same p-value; the naive χ²(1) doubles it",
        "The profile interval runs from 0 to a value several times the estimate",
        "The Wald Z p-value is the weakest, the mixture p-value the strongest; the profile "
        "interval stays away from zero",
        "In both countries the Wald interval is shifted down relative to the profile interval; "
        "in Korea it goes below zero",
    )
    kr, us = korea["alt"], usa["alt"]
    assert us.reliability["college"] / kr.reliability["college"] > 3
    us_test = hlm.boundary_lr_test(usa["null"], us)
    wald_p = us.covariance.loc["Var(college)", "p"]
    assert wald_p / us_test.p_value > 2.5
    assert wald_p > us_test.p_value_naive > us_test.p_value
    kr_prof = hlm.profile_intervals(kr).loc["Var(college)"]
    us_prof = hlm.profile_intervals(us).loc["Var(college)"]
    assert kr_prof["upper"] / kr_prof["estimate"] > 3
    assert us_prof["lower"] > 0
    for row in (kr_prof, us_prof):
        assert row["wald_lower"] < row["lower"] and row["wald_upper"] < row["upper"]
    assert kr_prof["wald_lower"] < 0


def test_all_five_plausible_values(korea, usa):
    says(
        NB,
        "The conclusion is the same on all five plausible values: in Korea no evidence of "
        "varying college slopes (mixture p between 0.2 and 0.4), in the USA clear evidence "
        "(p below 0.01)",
        "In the USA the first plausible value happens to give the weakest evidence of the five",
        "clearly non-zero by every method, on every plausible value",
    )
    p = {}
    for country, fits in (("Korea", korea), ("USA", usa)):
        for k in range(1, 6):
            data = fits["data"].assign(math=fits["data"][f"math{k}"])
            p[country, k] = hlm.boundary_lr_test(_fit(data), _fit(data, ["college"])).p_value
    assert all(0.2 < p["Korea", k] < 0.4 for k in range(1, 6))
    assert all(p["USA", k] < 0.01 for k in range(1, 6))
    assert max(range(1, 6), key=lambda k: p["USA", k]) == 1


def test_exercise_solutions(korea, usa):
    says(
        NB,
        "The mixture p-value is $\\tfrac12 P(\\chi^2_1 \\ge 3.1) = 0.039$",
        "The naive χ²(1) test gives 0.078",
        "The LR statistic is about as small as with `type=vc`",
        "The interval runs from exactly 0 to about 0.056",
        "The chi-bar-square p-value is about 0.017 (the plain χ²(2) would say 0.042)",
        "whose own test gave p = 0.006",
        "Testing both together *weakened* the evidence (0.017 against 0.006)",
    )
    assert round(0.5 * stats.chi2.sf(3.1, 1), 3) == 0.039
    assert round(stats.chi2.sf(3.1, 1), 3) == 0.078
    data = korea["data"]
    un = hlm.boundary_lr_test(
        hlm.fit_hlm(data, FORMULA, group="school"),
        hlm.fit_hlm(data, FORMULA, group="school", random=["college"]),
    )
    vc = hlm.boundary_lr_test(korea["null"], korea["alt"])
    assert un.statistic < 1.0 and abs(un.statistic - vc.statistic) < 0.5 and un.p_value > 0.05
    assert un.p_value_naive > un.p_value
    upper90 = hlm.profile_ci(korea["alt"], "Var(college)", level=0.90)
    assert upper90.lower == 0 and round(upper90.upper, 3) == 0.056
    both = _fit(usa["data"], ["college", "boy"])
    test = hlm.boundary_lr_test(usa["null"], both)
    assert round(test.p_value, 3) == 0.017 and round(test.p_value_naive, 3) == 0.042
    assert both.covariance.loc["Var(boy)", "estimate"] == 0.0
    assert both.deviance == pytest.approx(usa["alt"].deviance, abs=1e-4)
    assert round(hlm.boundary_lr_test(usa["null"], usa["alt"]).p_value, 3) == 0.006
    assert hlm.check("10.4", test.p_value).correct
    for wrong in (test.p_value_naive, 0.006, 0.012):  # chi2(2); college alone, mixture and chi2(1)
        assert not hlm.check("10.4", wrong).correct
