"""Claims about the data in the prose of notebook 04, checked on the shipped data.

Each test first finds its sentence in the notebook's markdown (``says``), so that a reworded
claim fails here and is checked again, then recomputes the claim from the package and the
shipped data, with a tolerance that matches the printed rounding. (The claim that the
boy-slope variance is zero in both countries, shared with notebook 06, is checked in
tests/test_course_claims.py.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from prose import says

import hlmteach as hlm

NB = "04_random_coefficients.ipynb"
FORMULA = "math ~ college + boy"


@pytest.fixture(scope="module")
def timss() -> pd.DataFrame:
    return hlm.load_timss()


@pytest.fixture(scope="module")
def students(timss: pd.DataFrame) -> pd.DataFrame:
    return timss.dropna(subset=["college"])


@pytest.fixture(scope="module")
def rc(timss: pd.DataFrame):
    return hlm.fit_hlm(
        timss, FORMULA, group="school", random=["college"], covariance="vc", by="country"
    )


@pytest.fixture(scope="module")
def ols(timss: pd.DataFrame):
    return hlm.fit_ols(timss, FORMULA, by="country")


@pytest.fixture(scope="module")
def anova(timss: pd.DataFrame):
    return hlm.fit_hlm(timss, "math ~ 1", group="school", by="country")


@pytest.fixture(scope="module")
def context(students: pd.DataFrame):
    with_share = hlm.school_mean(students, "college", "school", name="college_share")
    return hlm.fit_hlm(
        with_share,
        "math ~ college + boy + college_share",
        group="school",
        random=["college"],
        covariance="vc",
        by="country",
    )


def _within_by_dummies(d: pd.DataFrame) -> float:
    """College slope of OLS with one dummy per school (the literal C(school) regression)."""
    dummies = pd.get_dummies(d["school"], dtype=float).to_numpy()
    X = np.column_stack([d[["college", "boy"]].to_numpy(float), dummies])
    coef, *_ = np.linalg.lstsq(X, d["math"].to_numpy(float), rcond=None)
    return float(coef[0])


def test_04_korea_college_and_variances(ols, rc) -> None:
    says(
        NB,
        "from about 0.52 under OLS to about 0.46; the source: 0.53 to 0.49",
        "the boy effect stays about 0.13",
        "($\\tau_{00}$ about 0.025 against $\\sigma^2$ about 0.89)",
    )
    korea = rc["Korea"]
    assert round(ols["Korea"].fixed.loc["college", "estimate"], 2) == 0.52
    assert round(korea.fixed.loc["college", "estimate"], 2) == 0.46
    for fit in (ols["Korea"], korea):
        assert round(fit.fixed.loc["boy", "estimate"], 2) == 0.13
    assert korea.tau.loc["Intercept", "Intercept"] == pytest.approx(0.025, abs=0.0015)
    assert round(korea.sigma2, 2) == 0.89


def test_04_us_intercept_se_doubles_and_college_effect_halves(ols, rc) -> None:
    says(
        NB,
        "The intercept's standard error more than doubles, and the college effect falls by more "
        "than half, from about 0.35 to about 0.16.",
        "The boy effect hardly moves.",
    )
    o, h = ols["USA"].fixed, rc["USA"].fixed
    assert h.loc["Intercept", "se"] > 2 * o.loc["Intercept", "se"]
    assert h.loc["college", "estimate"] < o.loc["college", "estimate"] / 2
    assert round(o.loc["college", "estimate"], 2) == 0.35
    assert round(h.loc["college", "estimate"], 2) == 0.16
    assert abs(h.loc["boy", "estimate"] - o.loc["boy", "estimate"]) < 0.01


def test_04_korean_tau11_se_is_set_by_the_information(rc) -> None:
    says(
        NB,
        "about 0.02 against the published 0.01",
        "$\\sigma^2/(19/4) \\approx 0.19$",
        "$\\sqrt{2/150}\\,(0.01 + 0.19) \\approx 0.023$, which is what we get",
    )
    korea = rc["Korea"]
    se = korea.covariance.loc["Var(college)", "se"]
    assert round(se, 2) == 0.02
    assert se == pytest.approx(0.023, abs=0.0015)
    assert korea.sigma2 / (19 / 4) == pytest.approx(0.19, abs=0.005)
    assert round(korea.n_obs / korea.n_groups) == 19
    assert np.sqrt(2 / 150) * (0.01 + 0.19) == pytest.approx(0.023, abs=0.0005)


def test_04_school_lines(rc) -> None:
    says(
        NB,
        "The Korean lines are steeper (an average gap of 0.46 against 0.16) and lie close "
        "together; the US lines are spread far apart in level ($\\hat\\tau_{00}$ about 0.19 "
        "against 0.025) and fan out more in slope.",
    )
    k, u = rc["Korea"], rc["USA"]
    assert round(k.fixed.loc["college", "estimate"], 2) == 0.46
    assert round(u.fixed.loc["college", "estimate"], 2) == 0.16
    assert round(u.tau.loc["Intercept", "Intercept"], 2) == 0.19
    assert k.tau.loc["Intercept", "Intercept"] == pytest.approx(0.025, abs=0.0015)
    ck, cu = k.school_coefficients(), u.school_coefficients()
    assert cu["Intercept"].std() > 3 * ck["Intercept"].std()
    assert cu["college"].std() > ck["college"].std()


def test_04_design_effect_and_the_reference_group(students, ols, rc) -> None:
    says(
        NB,
        "the SE of a between-school quantity is about 3.4 times what OLS reports; its sampling "
        "variance, the inverse of its precision, is about 12 times larger",
        "The intercept's SE grows by less, about 2.3 times",
        "about a third of the students, some 13 per US school",
        "$\\sqrt{1 + 12 \\times 0.29} \\approx 2.1$, close to the 2.3 observed",
        "In Korea, with an ICC near 0.03, there is little to correct.",
        "(2.3 times OLS's; the design effect of its reference group, about 13 girls without a "
        "college-educated parent per school, predicts about 2.1)",
    )
    usa = rc["USA"]
    deff = hlm.simulation.design_effect(usa.icc, usa.n_obs / usa.n_groups)
    assert round(deff**0.5, 1) == 3.4
    assert round(deff) == 12
    ratio = usa.fixed.loc["Intercept", "se"] / ols["USA"].fixed.loc["Intercept", "se"]
    assert round(ratio, 1) == 2.3
    us = students[students["country"] == "USA"]
    reference = (us["college"] == 0) & (us["boy"] == 0)
    assert reference.mean() == pytest.approx(1 / 3, abs=0.03)
    per_school = reference.groupby(us["school"]).sum().mean()
    assert round(per_school) == 13
    assert round(usa.icc, 2) == 0.29
    assert round(np.sqrt(1 + (per_school - 1) * usa.icc), 1) == 2.1
    assert round(rc["Korea"].icc, 2) == 0.03


def test_04_boy_se_shrinks_with_the_school_part_removed(students, ols, rc) -> None:
    says(
        NB,
        "$\\sigma^2$ (about 0.47 in the USA) instead of OLS's residual variance, which still "
        "contains the between-school variance (about 0.66)",
        "Its SE barely changes in Korea and even *shrinks* in the USA.",
        "why the boy coefficient's does not grow (in the USA it even shrinks)",
    )
    us = students[students["country"] == "USA"]
    X = np.column_stack([np.ones(len(us)), us[["college", "boy"]].to_numpy(float)])
    resid = us["math"].to_numpy() - X @ np.linalg.lstsq(X, us["math"].to_numpy(), rcond=None)[0]
    assert round(resid @ resid / (len(us) - 3), 2) == 0.66
    assert round(rc["USA"].sigma2, 2) == 0.47
    ratio = {c: rc[c].fixed.loc["boy", "se"] / ols[c].fixed.loc["boy", "se"] for c in rc}
    assert ratio["Korea"] == pytest.approx(1.0, abs=0.02)
    assert ratio["USA"] < 0.9


def test_04_satterthwaite_df_of_the_random_slope(rc) -> None:
    says(
        NB,
        "For `college` the between-within rule counts students (2748 in Korea, 6758 in the "
        "USA); Satterthwaite finds about 113 and 132",
        "(128 Korean and 179 US schools have students with and without a college-educated parent)",
        "For `boy`, whose slope is fixed, both rules give thousands.",
        "between-within counts schools (149, 182); Satterthwaite gives more (about 418 and 208), "
        "most in Korea",
        "Here it changes nothing, since $t$ is 7 to 10",
        "Satterthwaite gives it about 113 (Korea) and 132 (USA) df",
    )
    bw = {c: f.fixed["df"] for c, f in rc.items()}
    satt = {c: f.fixed_effects("satterthwaite")["df"] for c, f in rc.items()}
    assert (bw["Korea"]["college"], bw["USA"]["college"]) == (2748, 6758)
    assert (round(satt["Korea"]["college"]), round(satt["USA"]["college"])) == (113, 132)
    both_kinds = {c: int(f.school_reliability["college"].notna().sum()) for c, f in rc.items()}
    assert both_kinds == {"Korea": 128, "USA": 179}
    for c in rc:
        assert bw[c]["boy"] > 1000 and satt[c]["boy"] > 1000
    assert (bw["Korea"]["Intercept"], bw["USA"]["Intercept"]) == (149, 182)
    assert (round(satt["Korea"]["Intercept"]), round(satt["USA"]["Intercept"])) == (418, 208)
    says(NB, "where schools differ as little as in Korea, the within-school part weighs more")
    # the within-school share of the intercept's sampling variance is larger in Korea
    share = {}
    for c, f in rc.items():
        m = f.n_obs / f.n_groups
        tau00 = f.tau.loc["Intercept", "Intercept"]
        share[c] = (f.sigma2 / m) / (tau00 + f.sigma2 / m)
    assert share["Korea"] > 0.5 > share["USA"]
    t = sorted(abs(f.fixed.loc["college", "t"]) for f in rc.values())
    assert t[0] >= 7 and t[1] < 10.5


def test_04_composition_and_the_contextual_model(ols, rc, context) -> None:
    says(
        NB,
        "OLS says a US student with a college-educated parent scores about 0.35 SD higher; HLM "
        "says about 0.16",
        "higher by more than half an SD in Korea and by more than one SD in the USA",
        "moved the college effect only a little, from about 0.52 to about 0.46",
    )
    share = {c: f.fixed.loc["college_share", "estimate"] for c, f in context.items()}
    assert 0.5 < share["Korea"] < 1.0 < share["USA"]
    assert round(ols["USA"].fixed.loc["college", "estimate"], 2) == 0.35
    assert round(rc["USA"].fixed.loc["college", "estimate"], 2) == 0.16


def test_04_school_dummies_give_the_within_estimate(students, ols, rc, context) -> None:
    says(
        NB,
        "The school-dummy estimate, about 0.34 in Korea and 0.15 in the USA, is close to the "
        "HLM + share estimate",
        "HLM alone is close to it in the USA",
        "but not in Korea, where it lies between OLS and the within estimate",
        "Adding a dummy per school gives exactly the same slopes as subtracting each school's "
        "mean from every variable",
    )
    for country, d in students.groupby("country", observed=True):
        columns = ["math", "college", "boy"]
        demeaned = d[columns] - d.groupby("school")[columns].transform("mean")
        slopes, *_ = np.linalg.lstsq(demeaned[["college", "boy"]], demeaned["math"], rcond=None)
        within = _within_by_dummies(d)
        assert slopes[0] == pytest.approx(within, abs=1e-10), "demeaning = dummies (FWL)"
        assert round(within, 2) == {"Korea": 0.34, "USA": 0.15}[country]
        assert abs(context[country].fixed.loc["college", "estimate"] - within) < 0.01
        hlm_alone = rc[country].fixed.loc["college", "estimate"]
        if country == "USA":
            assert abs(hlm_alone - within) < 0.02
        else:
            assert within + 0.1 < hlm_alone < ols[country].fixed.loc["college", "estimate"]


def test_04_conditional_icc_and_variance_explained(timss, anova, rc) -> None:
    says(
        NB,
        "In both countries the conditional ICC at college = 0 is below the intercept-only ICC.",
        "(our synthetic fit's conditional ICC also rounds to 3%)",
        "explain only about 2% of the within-school variance in Korea, but more than half of "
        "the between-school variance",
        'In the random-slope model the "reduction" of $\\tau_{00}$ is a little larger again',
    )
    for c in rc:
        assert rc[c].icc < anova[c].icc
    assert round(100 * rc["Korea"].icc) == 3
    korea_ri = hlm.fit_hlm(timss[timss["country"] == "Korea"], FORMULA, group="school")
    null = anova["Korea"]
    tau = lambda f: f.tau.loc["Intercept", "Intercept"]  # noqa: E731
    for fit in (korea_ri, rc["Korea"]):
        assert round(100 * (1 - fit.sigma2 / null.sigma2)) == 2
        assert 1 - tau(fit) / tau(null) > 0.5
    assert tau(rc["Korea"]) < tau(korea_ri)


def test_04_correlated_effects(timss: pd.DataFrame, rc) -> None:
    says(
        NB,
        "clearly correlated (about 0.6)",
        "The likelihood-ratio test below rejects $\\tau_{01} = 0$, and AIC",
        "In **Korea** the estimated correlation is 1.00",
        "So in the US data the source's VC choice is not supported",
        "In both countries the fixed effects and their standard errors barely change.",
        "AIC looks better for UN only because SAS's rule",
    )
    un = hlm.fit_hlm(
        timss, FORMULA, group="school", random=["college"], covariance="un", by="country"
    )
    usa = un["USA"].tau
    assert usa.iloc[0, 1] / np.sqrt(usa.iloc[0, 0] * usa.iloc[1, 1]) == pytest.approx(0.6, abs=0.05)
    assert hlm.lr_test(rc["USA"], un["USA"]).p_value < 0.01
    assert un["USA"].fit_stats["AIC"] < rc["USA"].fit_stats["AIC"]
    korea = un["Korea"].tau
    assert korea.iloc[0, 1] / np.sqrt(korea.iloc[0, 0] * korea.iloc[1, 1]) > 0.995
    assert any("perfectly correlated" in note for note in un["Korea"].warnings)
    assert hlm.lr_test(rc["Korea"], un["Korea"]).p_value > 0.3
    assert un["Korea"].fit_stats["AIC"] < rc["Korea"].fit_stats["AIC"]  # "AIC looks better"
    for c in rc:
        diff = (un[c].fixed["estimate"] - rc[c].fixed["estimate"]).abs()
        assert diff.max() < 0.01


def test_04_mixture_depends_on_the_covariance(timss: pd.DataFrame) -> None:
    says(
        NB,
        "Add a random slope *with* its covariance, as under UN (the package's default), and the "
        "reference becomes the 50:50 mixture of $\\chi^2(1)$ and $\\chi^2(2)$",
        "50:50 $\\chi^2(1)$:$\\chi^2(2)$ when it comes with a covariance (UN)",
    )
    usa = timss[timss["country"] == "USA"]
    intercept_only = hlm.fit_hlm(usa, FORMULA, group="school")
    test_un = hlm.lr_test(
        intercept_only, hlm.fit_hlm(usa, FORMULA, group="school", random=["college"])
    )
    assert test_un.mixture and test_un.df == 2
    vc = hlm.fit_hlm(usa, FORMULA, group="school", random=["college"], covariance="vc")
    test_vc = hlm.lr_test(intercept_only, vc)
    assert test_vc.mixture and test_vc.df == 1


def test_04_exercise_solutions(anova, rc) -> None:
    says(
        NB,
        "About 1.6%, even less than Korea's 2%",
        "It comes to about 0.31, a little above the ICC at college = 0 (about 0.29).",
    )
    share = {c: 100 * (1 - rc[c].sigma2 / anova[c].sigma2) for c in rc}
    assert round(share["USA"], 1) == 1.6
    assert share["USA"] < share["Korea"]
    assert hlm.check("04.1", share["USA"]).correct
    usa = rc["USA"]
    between = usa.tau.loc["Intercept", "Intercept"] + usa.tau.loc["college", "college"]
    assert round(between / (between + usa.sigma2), 2) == 0.31
    assert round(usa.icc, 2) == 0.29


def test_04_formative_check_answers(ols, rc) -> None:
    says(
        NB,
        "The **intercept's** SE grows most in the USA, about 2.3 times; college's grows a little, "
        "and **boy's shrinks** (a ratio below 1).",
    )
    ratio = {
        t: rc["USA"].fixed.loc[t, "se"] / ols["USA"].fixed.loc[t, "se"]
        for t in rc["USA"].fixed.index
    }
    assert max(ratio, key=ratio.get) == "Intercept"
    assert round(ratio["Intercept"], 1) == 2.3
    assert 1.0 < ratio["college"] < 1.2
    assert ratio["boy"] < 1.0


#: The source's "HLM Results" table, (estimate, SE), as notebook 04 quotes it.
PUBLISHED = {
    "Korea": {
        ("fixed", "Intercept"): (0.56, 0.03),
        ("fixed", "college"): (0.49, 0.05),
        ("fixed", "boy"): (0.14, 0.04),
        ("cov", "Var(Intercept)"): (0.02, 0.01),
        ("cov", "Var(college)"): (0.01, 0.01),
        ("cov", "Residual"): (0.88, 0.02),
    },
    "USA": {
        ("fixed", "Intercept"): (-0.38, 0.04),
        ("fixed", "college"): (0.16, 0.02),
        ("fixed", "boy"): (0.05, 0.02),
        ("cov", "Var(Intercept)"): (0.20, 0.02),
        ("cov", "Var(college)"): (0.02, 0.01),
        ("cov", "Residual"): (0.47, 0.01),
    },
}


def test_04_every_estimate_within_about_one_published_se(rc) -> None:
    says(
        NB,
        "Every estimate lands within about one published standard error of the source's",
        'it reproduces the source\'s "HLM Results" table within about one published SE',
    )
    for country, rows in PUBLISHED.items():
        fit = rc[country]
        for (kind, name), (estimate, se) in rows.items():
            ours = (
                fit.fixed.loc[name, "estimate"]
                if kind == "fixed"
                else fit.covariance.loc[name, "estimate"]
            )
            assert abs(ours - estimate) / se <= 1.0, (country, name)


def test_04_school_composition_scatter(students) -> None:
    says(
        NB,
        "In both countries the schools with more college-educated parents have higher means, and "
        "the share varies a lot between schools.",
        "the vertical spread is much larger in the USA",
    )
    schools = students.groupby(["country", "school"], observed=True).agg(
        share=("college", "mean"), mean_math=("math", "mean")
    )
    for country in ("Korea", "USA"):
        d = schools.loc[country]
        assert d["share"].corr(d["mean_math"]) > 0.5
        assert d["share"].std() > 0.15
    assert schools.loc["USA", "mean_math"].std() > 1.3 * schools.loc["Korea", "mean_math"].std()


def test_04_schools_without_a_line(students) -> None:
    says(
        NB,
        "so the 21 Korean schools where no student has a college-educated parent have no "
        "visible line",
    )
    korea = students[students["country"] == "Korea"]
    assert int((korea.groupby("school")["college"].max() == 0).sum()) == 21


@pytest.fixture(scope="module")
def boy_random(timss: pd.DataFrame):
    return hlm.fit_hlm(
        timss, FORMULA, group="school", random=["college", "boy"], covariance="vc", by="country"
    )


def test_04_section_8_the_boy_slope_on_the_boundary(rc, boy_random) -> None:
    """Section 8 and exercise 04.3; lme4 agrees for Korea (REML, ``||``: boy SD 1.3e-5, a
    singular fit, and a REML criterion equal to the fixed-boy model's to 1e-8)."""
    says(
        NB,
        "In the **USA** the variance of the boy slopes is estimated at exactly zero, flagged "
        "`boundary`, with no standard error",
        "a model with $\\tau_{22} = 0$ *is* the model with boy fixed: the other estimates are "
        "unchanged",
        "In the USA the statistic is 0: adding the variance does not improve the fit at all.",
        "In the USA a random boy slope has its variance estimated at zero",
        "The statistic is 0: the variance is estimated at exactly zero",
        "the p-value is 1 with either reference",
    )
    for country, fit in boy_random.items():
        assert fit.tau.loc["boy", "boy"] == 0.0
        cov = fit.covariance
        assert cov.loc["Var(boy)", "boundary"] and np.isnan(cov.loc["Var(boy)", "se"])
        assert any("boy" in note and "zero" in note for note in fit.warnings)
        for term in ("Var(Intercept)", "Var(college)", "Residual"):
            assert cov.loc[term, "estimate"] == pytest.approx(
                rc[country].covariance.loc[term, "estimate"], abs=5e-5
            )
        test = hlm.lr_test(rc[country], fit)
        assert test.mixture and test.df == 1
        assert test.statistic == pytest.approx(0, abs=1e-4)
        assert test.p_value == pytest.approx(1) and test.p_value_naive == pytest.approx(1, abs=1e-2)
    assert hlm.check("04.3", hlm.lr_test(rc["Korea"], boy_random["Korea"]).statistic).correct
    says(NB, "Had the statistic been, say, 1.6, the 50:50 mixture", "would give p = 0.10 and the")
    from scipy import stats

    assert round(0.5 * stats.chi2.sf(1.6, 1), 2) == 0.10 and round(stats.chi2.sf(1.6, 1), 2) == 0.21


def test_04_us_intercepts_and_slopes_correlate_with_enrolment(timss: pd.DataFrame) -> None:
    """Larger schools (by enrolment) have higher means and larger college gaps. The school
    weight is inversely related to enrolment (wgtfac1 x enrolment is constant in a stratum,
    data/README.md), so the EBLUPs fall with the weight."""
    says(
        NB,
        "larger US schools, larger by enrolment rather than by the number of students tested, "
        "tend to have both a higher mean and a larger college gap",
    )
    from scipy import stats

    usa = timss[timss["country"] == "USA"]
    un = hlm.fit_hlm(usa, FORMULA, group="school", random=["college"], covariance="un")
    eblups = un.random_effects["estimate"].unstack("term")
    weight = usa.groupby("school", observed=True)["school_weight"].first().loc[eblups.index]
    for term in ("Intercept", "college"):
        rho, p = stats.spearmanr(weight, eblups[term])
        assert rho < -0.1 and p < 0.05
    tested = usa.dropna(subset=["college"]).groupby("school", observed=True).size()
    # not by the number tested: no such relation
    assert abs(stats.spearmanr(tested.loc[eblups.index], eblups["Intercept"])[0]) < 0.1


def test_04_the_published_iccs_fit_the_right_formula(rc) -> None:
    from hlmteach.published import HLM_RESULTS

    says(
        NB,
        "The source's HLM table prints an ICC of 3% for Korea and 30% for the USA.",
        "The US 30% matches $\\tau_{00}/(\\tau_{00}+\\sigma^2)$, and $\\tau_{00}/\\sigma^2$ would "
        "give 43%. For Korea the rounded inputs give 2.2%; the printed 3% fits an unrounded "
        "$\\tau_{00}$ a little above 0.02 (our synthetic fit's conditional ICC also rounds to 3%).",
    )
    assert HLM_RESULTS["Korea"]["ICC"] == "3%" and HLM_RESULTS["USA"]["ICC"] == "30%"
    tau = {c: float(HLM_RESULTS[c]["Var(Intercept)"][0]) for c in HLM_RESULTS}
    sigma2 = {c: float(HLM_RESULTS[c]["Residual"][0]) for c in HLM_RESULTS}
    assert round(100 * tau["USA"] / (tau["USA"] + sigma2["USA"])) == 30
    assert round(100 * tau["USA"] / sigma2["USA"]) == 43
    assert round(100 * tau["Korea"] / (tau["Korea"] + sigma2["Korea"]), 1) == 2.2
    # the smallest tau00 that gives an ICC rounding to 3% with sigma2 = 0.88 still rounds to 0.02
    smallest = 0.025 * sigma2["Korea"] / (1 - 0.025)
    assert 0.02 < smallest < 0.025
    assert round(100 * rc["Korea"].icc) == 3
