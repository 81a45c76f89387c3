"""Notebook 02's prose, checked: every number it quotes and every claim it makes about the data.

Each test first finds the sentence in the notebook's markdown with ``says`` (a reworded claim
fails here and is checked again), then recomputes the claim from the package and the shipped
data, with a tolerance that matches the printed rounding. Published numbers are checked
against ``hlmteach.published`` (the source's tables as printed).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from prose import says

import hlmteach as hlm
from hlmteach.exercises import solution_value
from hlmteach.published import HLM_RESULTS, OLS_RESULTS, largest_gap

NB = "02_ols_by_country.ipynb"


@pytest.fixture(scope="module")
def timss() -> pd.DataFrame:
    return hlm.load_timss()


@pytest.fixture(scope="module")
def ols(timss):
    return hlm.fit_ols(timss, "math ~ college + boy", by="country")


@pytest.fixture(scope="module")
def complete(timss) -> dict[str, pd.DataFrame]:
    return {c: d for c, d in timss.dropna(subset=["college"]).groupby("country", observed=True)}


@pytest.fixture(scope="module")
def robust(complete):
    return {
        c: smf.ols("math ~ college + boy", data=d).fit(
            cov_type="cluster", cov_kwds={"groups": d["school"]}
        )
        for c, d in complete.items()
    }


def test_country_means_and_the_dropped_students(timss):
    says(
        NB,
        "The average Korean student scores about three quarters of an SD above the two-country "
        "mean and the average US student about a third of an SD below it: the countries are "
        "about one SD apart.",
        "(In the published analysis the two grand means are 0.74 and -0.31",
    )
    means = timss.groupby("country", observed=True)["math"].mean()
    assert means["Korea"] == pytest.approx(0.75, abs=0.03)
    assert means["USA"] == pytest.approx(-1 / 3, abs=0.04)
    assert means["Korea"] - means["USA"] == pytest.approx(1.0, abs=0.1)
    says(NB, "2901 - 1 = **2900** Korean and 6944 - 1 = **6943** US students")
    missing = timss.groupby("country", observed=True)["college"].apply(lambda s: s.isna().sum())
    assert missing.tolist() == [1, 1]
    sizes = timss.groupby("country", observed=True).size()
    assert sizes.tolist() == [2901, 6944]
    assert [OLS_RESULTS[c]["Sample Size"] for c in ("Korea", "USA")] == ["2900", "6943"]


def test_the_published_table_is_reproduced(ols):
    says(
        NB,
        "the sample sizes exactly, the $R^2$ within a few thousandths, and every coefficient "
        "within a fraction of a published standard error",
    )
    assert largest_gap(ols, OLS_RESULTS) < 1
    for country in ols:
        assert str(ols[country].n_obs) == OLS_RESULTS[country]["Sample Size"]
        assert abs(ols[country].r2 - float(OLS_RESULTS[country]["R2"])) < 0.005


def test_the_borderline_us_boy_coefficient(ols):
    says(
        NB,
        "Its $t$ statistic is close to 2, right at the 5% line",
        "the source's 0.033 with SE 0.02 gives $t \\approx 1.65$, no star",
    )
    assert ols["USA"].fixed.loc["boy", "t"] == pytest.approx(2, abs=0.15)
    assert round(0.033 / 0.02, 2) == 1.65
    assert OLS_RESULTS["USA"]["boy"] == ("0.033", "0.02", "")


def test_what_the_coefficients_say(ols):
    says(
        NB,
        "about 0.55 SD above the two-country mean; a US girl in the same situation about 0.44 SD "
        "below it",
        "about half an SD (0.53) higher",
        "about a third of an SD (0.357)",
        "Korean boys score about 0.13 SD above Korean girls",
        "the gap is small (0.033 published) and only borderline significant",
        "explain only about 5% of the variance in Korea and 4% in the USA",
    )
    korea, usa = OLS_RESULTS["Korea"], OLS_RESULTS["USA"]
    assert korea["Intercept"][0] == "0.55" and float(usa["Intercept"][0]) == pytest.approx(
        -0.44, abs=0.0051
    )
    assert round(ols["USA"].fixed.loc["Intercept", "estimate"], 2) == -0.44
    assert korea["college"][0] == "0.53" and usa["college"][0] == "0.357"
    assert korea["boy"][0] == "0.13"
    assert [round(100 * ols[c].r2) for c in ols] == [5, 4]
    says(NB, "(Their difference, about 0.1 SD, is a little over two of its standard errors.)")
    k, u = ols["Korea"].fixed.loc["boy"], ols["USA"].fixed.loc["boy"]
    difference = k["estimate"] - u["estimate"]
    z = difference / np.hypot(k["se"], u["se"])
    assert round(difference, 1) == 0.1 and 2 < z < 2.5


def test_share_of_college_goes_with_the_school_mean(timss):
    says(NB, "The link is strong in both countries.")
    schools = timss.groupby(["country", "school"], observed=True).agg(
        share=("college", "mean"), mean=("math", "mean")
    )
    for _, s in schools.groupby("country", observed=True):
        assert s["share"].corr(s["mean"]) > 0.5


def test_the_gap_between_classmates_is_smaller_in_both_countries(complete):
    says(
        NB,
        "taking each school's mean out of every variable before the regression (which gives the "
        "same coefficients as a dummy per school",
        "the college gap shrinks in **both** countries",
        "in both countries OLS's gap is about 0.2 SD larger than the gap between classmates",
    )
    columns = ["math", "college", "boy"]
    for country, d in complete.items():
        pooled = smf.ols("math ~ college + boy", data=d).fit().params["college"]
        centred = d[columns] - d.groupby("school", observed=True)[columns].transform("mean")
        within = smf.ols("math ~ college + boy - 1", data=centred).fit().params["college"]
        assert pooled - within == pytest.approx(0.2, abs=0.03)
        if country == "Korea":  # the same as school dummies (Frisch-Waugh-Lovell)
            dummies = smf.ols("math ~ college + boy + C(school)", data=d).fit()
            assert dummies.params["college"] == pytest.approx(within, abs=1e-10)


def test_cluster_robust_standard_errors(ols, robust):
    says(
        NB,
        "In the **USA**, the SEs of the intercept and of `college` are more than twice what OLS "
        "reports.",
        "In **Korea** the ratios are close to 1",
        "The SE of `boy` does not grow in either country (in Korea it even shrinks a little, to "
        "0.87 of OLS's).",
    )
    ratio = {c: robust[c].bse / ols[c].fixed["se"] for c in ols}
    assert ratio["USA"]["Intercept"] > 2 and ratio["USA"]["college"] > 2
    assert all(abs(ratio["Korea"] - 1) < 0.15)
    assert all(r["boy"] < 1 for r in ratio.values())
    assert round(ratio["Korea"]["boy"], 2) == 0.87
    says(NB, "In the USA, cluster-robust SEs of the intercept and of `college` are more than twice")


def test_previews_of_notebooks_03_and_04():
    says(
        NB,
        "about 6% of the variance lies between schools in Korea, and about 31% in the USA",
        "the US college effect drops from 0.357 to 0.16 once schools are modelled, while Korea's "
        "moves only from 0.53 to 0.49",
    )
    assert round(100 * 0.06161 / (0.06161 + 0.9077)) == 6
    assert round(100 * 0.2141 / (0.2141 + 0.4769)) == 31
    assert (
        HLM_RESULTS["USA"]["college"][0] == "0.16" and HLM_RESULTS["Korea"]["college"][0] == "0.49"
    )


def test_summary(ols):
    says(
        NB,
        "a college gap of about half an SD in Korea and a third in the USA; a sex gap of about "
        "0.13 SD in Korea and a borderline one in the USA; $R^2$ of 4–5%",
    )
    fixed = {c: ols[c].fixed["estimate"] for c in ols}
    assert fixed["Korea"]["college"] == pytest.approx(0.5, abs=0.05)
    assert fixed["USA"]["college"] == pytest.approx(1 / 3, abs=0.05)
    assert round(fixed["Korea"]["boy"], 2) == 0.13
    assert min(ols[c].r2 for c in ols) > 0.035 and max(ols[c].r2 for c in ols) < 0.055


def test_exercise_solutions(ols):
    says(NB, "About 0.61 SD, clearly more than the `college` coefficient (about 0.52).")
    assert round(solution_value("02.1"), 2) == 0.61
    assert round(ols["Korea"].fixed.loc["college", "estimate"], 2) == 0.52
    says(
        NB,
        "$-0.435 + 0.357 + 0.033 = -0.045$; our synthetic fit gives a value close to it",
        "below Korea's reference group (girls whose parents did not finish college, 0.55)",
    )
    assert round(-0.435 + 0.357 + 0.033, 3) == -0.045
    assert solution_value("02.2") == pytest.approx(-0.045, abs=0.01)
    assert solution_value("02.2") < ols["Korea"].fixed.loc["Intercept", "estimate"]
    says(NB, "About 2.0, with $p$ right at 0.05: the cluster-robust SE of `boy` is almost the same")
    t = solution_value("02.3")
    assert round(t, 1) == 2.0
    from scipy import stats

    assert 2 * stats.norm.sf(t) == pytest.approx(0.05, abs=0.005)


def test_the_raw_gaps_in_the_figure(timss, ols):
    says(
        NB,
        "The lines rise by about the college coefficient in each country (the raw gaps also "
        "include the small differences in the share of boys).",
    )
    for country, d in timss.dropna(subset=["college"]).groupby("country", observed=True):
        means = d.groupby("college")["math"].mean()
        raw_gap = means[1.0] - means[0.0]
        assert raw_gap == pytest.approx(ols[country].fixed.loc["college", "estimate"], abs=0.03)
