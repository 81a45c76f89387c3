"""Claims in the prose of notebook 08 (plausible values), checked on the shipped data.

Each test first finds its sentence in the notebook's markdown (``says``), so that a
reworded claim fails here and is checked again, then recomputes the claim from the
package and the shipped data, with a tolerance that matches the printed rounding.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from prose import says

import hlmteach as hlm
from hlmteach.pv_simulation import ANALYSES, simulate_pv_coverage

NB = "08_plausible_values.ipynb"
PVS = [f"math{k}" for k in range(1, 6)]
TRUE, FIRST, AVERAGE, POOLED = ANALYSES


@pytest.fixture(scope="module")
def timss() -> pd.DataFrame:
    return hlm.load_timss()


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


@pytest.fixture(scope="module")
def pooled_anova(timss: pd.DataFrame):
    return hlm.fit_plausible_values(timss, "{pv} ~ 1", outcomes=PVS, group="school", by="country")


@pytest.fixture(scope="module")
def pooled_ols(timss: pd.DataFrame):
    return hlm.fit_plausible_values(
        timss, "{pv} ~ college + boy", outcomes=PVS, model="ols", by="country"
    )


@pytest.fixture(scope="module")
def coverage_runs() -> dict:
    """The notebook's two simulation runs (same calls, same seeds)."""
    return {r: simulate_pv_coverage(reliability=r) for r in (0.9, 0.6)}


@pytest.fixture(scope="module")
def coverage(coverage_runs) -> dict[float, pd.DataFrame]:
    return {r: run.table for r, run in coverage_runs.items()}


def _within_school(frame: pd.DataFrame, school: np.ndarray) -> np.ndarray:
    """Deviations from the school means (the school fixed effects of a conditioning model)."""
    return (frame - frame.groupby(school).transform("mean")).to_numpy()


def agrees_with_lme4(ours: pd.DataFrame, country: str, model: str) -> None:
    """Pooled fixed effects against tests/fixtures/pv_pool_lme4.json (tolerances: see
    test_pooled_fit_agrees_with_lme4_and_mice)."""
    fixture = json.loads(
        (Path(__file__).parent / "fixtures" / "pv_pool_lme4.json").read_text(encoding="utf-8")
    )
    for row in fixture["countries"][country][model]:
        term = "Intercept" if row["term"] == "(Intercept)" else row["term"]
        assert ours.loc[term, "df_complete"] == row["df_complete"]
        assert ours.loc[term, "estimate"] == pytest.approx(row["estimate"], abs=1e-5)
        assert ours.loc[term, "se"] == pytest.approx(row["se"], rel=1e-4)
        assert ours.loc[term, "df"] == pytest.approx(row["df"], rel=1e-3)
        assert ours.loc[term, "fmi"] == pytest.approx(row["fmi"], abs=1e-3)


# -- section 1 --------------------------------------------------------------------------------


def test_noise_share_is_about_seven_per_cent(timss: pd.DataFrame) -> None:
    says(NB, "about 7% of the variance of a plausible value is measurement noise")
    for _, part in timss.groupby("country", observed=True):
        share = part[PVS].var(axis=1).mean() / part["math1"].var()
        assert 0.065 <= share < 0.08


def test_plausible_values_behave_as_posterior_draws(timss: pd.DataFrame) -> None:
    says(NB, "each is a random draw from the student's posterior distribution")
    for _, part in timss.groupby("country", observed=True):
        # Draws from a posterior: their mean has less spread than any one of them.
        assert part[PVS].mean(axis=1).var() < part[PVS].var().min()


def test_the_generator_conditions_on_the_school() -> None:
    """The notebook says the course's conditioning model includes the school."""
    says(NB, "The course's generator conditions on the school, parents' education and sex")
    readme = (Path(__file__).parents[1] / "data" / "README.md").read_text(encoding="utf-8")
    assert "the school (a fixed effect" in readme and "parents' education" in readme


# -- section 2 --------------------------------------------------------------------------------


def test_us_college_estimates_differ_by_up_to_half_an_se(pooled_rc) -> None:
    says(NB, "differ from one another by up to half a standard error")
    usa = pooled_rc["USA"]
    estimates = usa.per_pv("estimate").loc["college"]
    spread = (estimates.max() - estimates.min()) / usa.per_pv("se").loc["college"].mean()
    assert 0.3 < spread <= 0.55


def test_three_ways_on_the_us_model(timss: pd.DataFrame, pooled_rc) -> None:
    says(
        NB,
        "The averaged score gives a visibly smaller $\\sigma^2$ than either a single plausible "
        "value or the pooled analysis",
        "Both shortcuts give a smaller standard error for the college effect than the pooled "
        "analysis does.",
        "The average gives the smallest $\\sigma^2$",
        "The pooled analysis gives the largest standard error",
    )
    usa = timss[timss["country"] == "USA"].assign(math_avg=lambda d: d[PVS].mean(axis=1))
    averaged = hlm.fit_hlm(
        usa, "math_avg ~ college + boy", group="school", random=["college"], covariance="vc"
    )
    pooled = pooled_rc["USA"]
    # "visibly": more than 5% below both
    assert averaged.sigma2 < 0.95 * min(pooled.first.sigma2, pooled.sigma2)
    se = pooled.fixed.loc["college", "se"]
    assert averaged.fixed.loc["college", "se"] < se
    assert pooled.first.fixed.loc["college", "se"] < se


# -- section 3 --------------------------------------------------------------------------------


def test_pooled_df_are_far_fewer_than_one_analysis(pooled_rc) -> None:
    says(NB, "far fewer than the thousands of one analysis")
    row = pooled_rc["USA"].fixed.loc["college"]
    assert row["df_complete"] > 5000 and row["df"] < row["df_complete"] / 5


# -- section 4: the simulation ----------------------------------------------------------------


def test_simulation_setting_matches_the_course_data(timss: pd.DataFrame) -> None:
    """'reliability of 0.9 ... about as in the course's data': 1 - (between-PV variance) /
    (variance of one PV given school, parents' education and sex)."""
    says(
        NB,
        "whose true within-school college effect is 0.15 and whose within-school variance "
        "$\\sigma^2$ is 0.45, close to the US values",
        "We run it twice: with a reliability of 0.9",
        "about as in the course's data",
    )
    for _, part in timss.groupby("country", observed=True):
        background = pd.get_dummies(part["parent_educ"].astype(str)).astype(float)
        background["boy"] = part["boy"].astype(float)
        school = part["school"].to_numpy()
        z = _within_school(background, school)
        y = _within_school(part[["math1"]], school)[:, 0]
        beta, *_ = np.linalg.lstsq(z, y, rcond=None)
        residual = y - z @ beta
        s2 = residual @ residual / (len(y) - part["school"].nunique() - np.linalg.matrix_rank(z))
        reliability = 1 - part[PVS].var(axis=1).mean() / s2
        assert 0.86 <= reliability <= 0.94
    usa = hlm.fit_hlm(
        timss[timss["country"] == "USA"],
        "math ~ college + boy",
        group="school",
        random=["college"],
        covariance="vc",
    )
    assert usa.fixed.loc["college", "estimate"] == pytest.approx(0.15, abs=0.02)
    assert usa.sigma2 == pytest.approx(0.45, abs=0.03)


def test_simulation_lessons(coverage) -> None:
    says(
        NB,
        "About 80%: the reported SE is about two thirds of the real one",
        "its reported SEs are honest (`se_ratio` 1.00) and 95% of its intervals contain the truth",
        "All four analyses are unbiased for the effect (`mean_estimate` 0.15 in every row)",
        "With reliability 0.6, its reported SE is about two thirds of the real spread, and only "
        'about 81% of its "95%" intervals contain the truth. With reliability 0.9 its SE is '
        "about 10% too small and its intervals cover 92%.",
        "with reliability 0.6 its SE is about 60% of the real spread, about three quarters of "
        "its intervals cover the truth, and its $\\sigma^2$ is about 0.31 instead of 0.45",
        "(a ratio of about 0.97–0.99) and coverage is close to 95% at both reliabilities; "
        "$\\sigma^2$ is right too",
    )
    short, reliable = coverage[0.6], coverage[0.9]
    for table in (short, reliable):
        assert round(table.loc[TRUE, "se_ratio"], 2) == 1.00
        assert table.loc[TRUE, "coverage"] == pytest.approx(0.95, abs=0.01)
        assert (table["mean_estimate"].round(2) == 0.15).all()
        assert 0.965 <= table.loc[POOLED, "se_ratio"] < 0.995
        assert table.loc[POOLED, "coverage"] == pytest.approx(0.95, abs=0.01)
        assert table.loc[POOLED, "mean_sigma2"] == pytest.approx(0.45, abs=0.005)
    assert 0.63 <= short.loc[FIRST, "se_ratio"] <= 0.70  # "about two thirds"
    assert 0.80 <= short.loc[FIRST, "coverage"] < 0.82  # "about 81%"
    assert 0.57 <= short.loc[AVERAGE, "se_ratio"] <= 0.63  # "about 60%"
    assert 0.72 <= short.loc[AVERAGE, "coverage"] <= 0.78  # "about three quarters"
    assert round(short.loc[AVERAGE, "mean_sigma2"], 2) == 0.31
    assert 0.87 <= reliable.loc[FIRST, "se_ratio"] <= 0.93  # "about 10% too small"
    assert round(reliable.loc[FIRST, "coverage"], 2) == 0.92


def test_course_data_are_like_the_reliable_test(pooled_rc) -> None:
    says(NB, "there, pooling changes standard errors by up to about a tenth (section 5)")
    ratios = pd.concat([r.comparison()["se_ratio"] for r in pooled_rc.values()])
    assert 1.08 <= ratios.max() <= 1.15 and ratios.min() >= 0.95


def test_incongruent_conditioning_model() -> None:
    says(
        NB,
        "Every analysis of the plausible values now overestimates the within-school effect, at "
        "about 0.2 against the true 0.15, and Rubin's rules cannot repair that: their intervals "
        "contain the truth only about 90% of the time.",
    )
    table = simulate_pv_coverage(reliability=0.6, conditioning="none").table
    for analysis in (FIRST, AVERAGE, POOLED):
        assert round(table.loc[analysis, "mean_estimate"], 1) == 0.2
    assert round(table.loc[TRUE, "mean_estimate"], 2) == 0.15
    assert table.loc[POOLED, "coverage"] == pytest.approx(0.90, abs=0.015)


# -- section 5: the source's models, pooled ---------------------------------------------------


def test_ols_pooled_estimates_within_half_an_se(pooled_ols) -> None:
    says(
        NB,
        "The pooled estimates differ from the first-PV estimates by less than half a standard "
        "error",
        "The pooled SEs are larger, by 2% to 8%.",
    )
    ratios = []
    for result in pooled_ols.values():
        table = result.comparison()
        moved = (table["estimate_pooled"] - table["estimate_first"]).abs() / table["se_first"]
        assert (moved < 0.5).all()
        ratios.extend(table["se_ratio"])
    assert round(100 * (min(ratios) - 1)) == 2 and round(100 * (max(ratios) - 1)) == 8


def test_intercept_only_claims(pooled_anova) -> None:
    says(
        NB,
        "has the largest FMI of the table in both countries",
        "Its SE still grows by only a few per cent",
        "an `se_ratio` of about 1",
        "The ICCs change little, in the second decimal at most",
    )
    for result in pooled_anova.values():
        table = result.comparison()
        assert table["fmi"].idxmax() == ("covariance", "Residual")
        assert 1.0 <= table.loc[("covariance", "Residual"), "se_ratio"] < 1.06
        assert table.loc[("fixed", "Intercept"), "se_ratio"] == pytest.approx(1.0, abs=0.02)
        assert abs(result.icc - result.first.icc) < 0.005


def test_random_coefficient_claims(pooled_rc) -> None:
    says(
        NB,
        "In Korea, the **college effect**'s SE grows most, by about 10%, and it has the largest "
        "FMI of the fixed effects; in the USA its SE grows by several per cent.",
        "Conclusions do not flip here: with samples this large, every effect the source called "
        "significant still is.",
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
    for result in pooled_rc.values():  # every fixed effect significant, first PV and pooled
        assert (result.fixed["p"] < 0.05).all() and (result.first.fixed["p"] < 0.05).all()
    # "there is none here": no plausible value puts a variance at zero
    assert not pooled_rc["Korea"].warnings


def test_summary_claims(pooled_rc, pooled_anova, pooled_ols) -> None:
    says(
        NB,
        "the pooled SEs range from about the same as the first-PV SEs to about an eighth larger; "
        "Korea's college effect and the US variance of the college slopes gain most. "
        "$\\sigma^2$ has the largest FMI of the intercept-only model, but its SE hardly grows.",
    )
    tables = {
        (model, country): result.comparison()
        for model, results in (("rc", pooled_rc), ("anova", pooled_anova), ("ols", pooled_ols))
        for country, result in results.items()
    }
    ratios = pd.concat(tables, names=["model", "country"])["se_ratio"]
    assert ratios.min() >= 0.97 and 1.1 <= ratios.max() <= 1.15  # an eighth: 1.125
    top_two = ratios.sort_values(ascending=False).index[:2]
    assert set(top_two) == {
        ("rc", "Korea", "fixed", "college"),
        ("rc", "USA", "covariance", "Var(college)"),
    }
    for country in ("Korea", "USA"):
        residual = tables[("anova", country)].loc[("covariance", "Residual")]
        assert residual["se_ratio"] < 1.03


# -- exercises --------------------------------------------------------------------------------


def test_exercise_solutions(timss: pd.DataFrame, pooled_rc) -> None:
    says(
        NB,
        'fmi = ri.fixed.loc["college", "fmi"]     # about 0.20',
        "# about 0.19 with the random college slope",
        "about 20 plausible values",
        "a little more than in the random-coefficient model",
        "$(1 + 0.20/5)^{-1} = 0.96$: the pooled SE is about 2% larger",
        "The pooled SE is about 2.8 points",
        "(`se_ratio` about 1.00)",
    )
    korea = timss[timss["country"] == "Korea"]
    ri = hlm.fit_plausible_values(korea, "{pv} ~ college + boy", outcomes=PVS, group="school")
    fmi = ri.fixed.loc["college", "fmi"]
    assert round(fmi, 2) == 0.20
    assert round(pooled_rc["Korea"].fixed.loc["college", "fmi"], 2) == 0.19
    assert fmi > pooled_rc["Korea"].fixed.loc["college", "fmi"]
    assert round(99 * fmi) == 20
    assert round(1 / (1 + fmi / 5), 2) == 0.96 and round(np.sqrt(1 + fmi / 5), 2) == 1.02
    assert hlm.check("08.1", round(fmi, 2)).correct
    scale = hlm.fit_plausible_values(
        korea, "{pv} ~ 1", outcomes=[f"bsmpv0{k}" for k in range(1, 6)], group="school"
    )
    assert scale.fixed.loc["Intercept", "se"] == pytest.approx(2.8, abs=0.05)
    assert scale.comparison().loc[("fixed", "Intercept"), "se_ratio"] == pytest.approx(
        1.0, abs=0.01
    )


def test_sas_edf_values_are_the_python_complete_data_df(pooled_rc) -> None:
    says(
        NB,
        "proc mianalyze parms=fixed edf=6758;",
        "proc mianalyze parms=fixed edf=182;",
        "Korea: 2748 and 149",
    )
    usa = pooled_rc["USA"].fixed["df_complete"]
    korea = pooled_rc["Korea"].fixed["df_complete"]
    assert (usa["college"], usa["boy"], usa["Intercept"]) == (6758, 6758, 182)
    assert (korea["college"], korea["Intercept"]) == (2748, 149)


def test_pooled_fit_agrees_with_lme4_and_mice(pooled_rc) -> None:
    """Outside implementation: the notebook's R code (lme4 + mice::pool.scalar, complete-data
    df as ddfm=bw) run by tests/reference/pv_pool_lme4.R on the shipped file.

    Tolerances: lme4 and hlmteach agree on REML estimates to about 1e-6 and on SEs to about
    1e-5 (tests/test_lme4_battery.py uses 1e-5 and 1e-4). B is the variance of five estimates
    about 0.01 apart, so such differences move B, the df (1 / omega**2) and the FMI by about
    1e-4 relative; 1e-3 leaves room and still catches a wrong df rule (Rubin's 1987 df or the
    wrong nu_com change the df by far more than 1%).
    """
    says(
        NB,
        "This gives the Python's estimates, SEs, df and FMI (run for this course on the "
        "shipped data by `tests/reference/pv_pool_lme4.R`).",
    )
    for country, result in pooled_rc.items():
        agrees_with_lme4(result.fixed, country, "rc")


def test_picture_pooled_intervals_are_wider(pooled_rc) -> None:
    from scipy import stats

    says(
        NB,
        "The diamonds scatter by a visible fraction of the interval",
        "The pooled interval is wider than the first-PV interval",
    )
    for result in pooled_rc.values():
        for term in ("college", "boy"):
            one, both = result.first.fixed.loc[term], result.fixed.loc[term]
            first_half = stats.t.ppf(0.975, one["df"]) * one["se"]
            pooled_half = stats.t.ppf(0.975, both["df"]) * both["se"]
            assert pooled_half > first_half
            # "a visible fraction": the five estimates span a tenth of the interval or more
            estimates = result.per_pv("estimate").loc[term]
            assert (estimates.max() - estimates.min()) / (2 * pooled_half) > 0.1


def test_coverage_picture(coverage_runs) -> None:
    says(
        NB,
        "the 95% intervals of the first 60 simulated samples of the short test",
        "Intervals drawn in orange miss it.",
    )
    short = coverage_runs[0.6]
    misses = {}
    for analysis in (FIRST, POOLED):
        low, high = short.lower[analysis].iloc[:60], short.upper[analysis].iloc[:60]
        misses[analysis] = int(((low > 0.15) | (high < 0.15)).sum())
    assert misses[FIRST] > 2 * misses[POOLED]


def test_lr_tests_are_not_pooled(timss: pd.DataFrame) -> None:
    says(NB, "`hlm.lr_test` accepts single fits only, not pooled ones")
    usa = timss[timss["country"] == "USA"]
    small = hlm.fit_plausible_values(usa, "{pv} ~ college + boy", outcomes=PVS, group="school")
    large = hlm.fit_plausible_values(
        usa,
        "{pv} ~ college + boy",
        outcomes=PVS,
        group="school",
        random=["college"],
        covariance="vc",
    )
    with pytest.raises(hlm.ModelInputError, match="one fitted model"):
        hlm.lr_test(small, large)


def test_ols_complete_data_df_are_the_residual_df(pooled_ols) -> None:
    says(NB, "the residual df `df.residual(fit)` (students - 3), as the Python does")
    for result in pooled_ols.values():
        assert (result.fixed["df_complete"] == result.n_obs - 3).all()


def test_summary_simulation_sentence(coverage) -> None:
    says(
        NB,
        "the first-PV and averaged analyses report SEs that are too small (two thirds of the "
        "real spread or less for a short test, about 10% too small at the reliability of the "
        "course's data), and their 95% intervals miss the truth too often; Rubin's rules get "
        "the SEs and the coverage about right.",
    )
    short, reliable = coverage[0.6], coverage[0.9]
    for analysis in (FIRST, AVERAGE):
        assert short.loc[analysis, "se_ratio"] <= 0.70  # two thirds or less
        assert 0.86 <= reliable.loc[analysis, "se_ratio"] <= 0.93  # about 10% too small
        assert reliable.loc[analysis, "coverage"] < 0.93 and short.loc[analysis, "coverage"] < 0.9
    for table in (short, reliable):
        assert 0.965 <= table.loc[POOLED, "se_ratio"] < 1.0
        assert table.loc[POOLED, "coverage"] == pytest.approx(0.95, abs=0.01)


def test_the_source_iccs_quoted_in_section_5() -> None:
    """'the source printed 7% and 45%, but those are tau00/sigma2; ... 6.4% and 31.0%'."""
    from hlmteach.published import ANOVA_RESULTS

    says(
        NB,
        "the source printed 7% and 45%, but those are $\\tau_{00}/\\sigma^2$; the ICC "
        "$\\tau_{00}/(\\tau_{00}+\\sigma^2)$ of its numbers is 6.4% and 31.0%",
    )
    for country, ratio, icc in (("Korea", 7, 6.4), ("USA", 45, 31.0)):
        tau00 = float(ANOVA_RESULTS[country]["Var(Intercept)"][0])
        sigma2 = float(ANOVA_RESULTS[country]["Residual"][0])
        assert round(100 * tau00 / sigma2) == ratio
        assert round(100 * tau00 / (tau00 + sigma2), 1) == icc
