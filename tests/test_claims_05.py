"""Claims about the data in the prose of notebook 05, checked on the shipped data.

Each test first finds its sentence in the notebook's markdown (``says``), so that a reworded
claim fails here and is checked again, then recomputes the claim from the package and the
shipped data (or the notebook's seeded simulations), with a tolerance that matches the
printed rounding.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from prose import says
from scipy import stats

import hlmteach as hlm
from hlmteach.simulation import school_sizes_around, simulate_eblup_tests, simulate_school_means

NB = "05_school_effects.ipynb"
FORMULA = "math ~ college + boy"


@pytest.fixture(scope="module")
def timss() -> pd.DataFrame:
    return hlm.load_timss()


@pytest.fixture(scope="module")
def rc(timss: pd.DataFrame):
    return hlm.fit_hlm(
        timss, FORMULA, group="school", random=["college"], covariance="vc", by="country"
    )


@pytest.fixture(scope="module")
def anova(timss: pd.DataFrame):
    return hlm.fit_hlm(timss, "math ~ 1", group="school", by="country")


@pytest.fixture(scope="module")
def simulated() -> dict[float, pd.DataFrame]:
    """The notebook's table: the same calls, the same seed."""
    return {
        tau: simulate_eblup_tests(tau, sigma2=0.9, n_schools=150, school_size=19, seed=2026)
        for tau in (0.0, 0.02, 0.05, 0.2)
    }


def test_05_degrees_of_freedom_of_the_listing(timss, rc) -> None:
    says(
        NB,
        "students minus schools minus the two level-1 predictors, 2900 - 150 - 2 = 2748",
        "The source's listing printed 2898, which is 2901 - 3, students minus fixed effects",
    )
    korea = rc["Korea"]
    assert (korea.n_obs, korea.n_groups) == (2900, 150)
    assert set(korea.random_effects["df"]) == {2748.0}
    assert (timss["country"] == "Korea").sum() == 2901
    assert 2901 - len(korea.fixed) == 2898


def test_05_no_school_is_significant_and_why(rc) -> None:
    says(
        NB,
        "The same arithmetic explains the count above, 0 of 150 and 0 of 183.",
        "The college slopes have average reliabilities of about 0.03 in Korea and 0.21 in the "
        "USA (section 3), so their $t$ values have SDs of about 0.17 and 0.52",
        "the USA's college slopes clearly vary, and yet no single US school's deviation is "
        '"significant"',
    )
    counts = {
        c: int((f.random_effects.xs("college", level="term")["p"] < 0.05).sum())
        for c, f in rc.items()
    }
    assert counts == {"Korea": 0, "USA": 0}
    lam = {c: f.reliability["college"] for c, f in rc.items()}
    assert (round(lam["Korea"], 2), round(lam["USA"], 2)) == (0.03, 0.21)
    sd = {c: np.sqrt(v / (1 - v)) for c, v in lam.items()}
    assert (round(sd["Korea"], 2), round(sd["USA"], 2)) == (0.17, 0.52)


def test_05_simulation_of_eblup_tests(simulated) -> None:
    says(
        NB,
        '**(b).** With $\\tau_{00} = 0$, about 0 of the 150 schools are "significant" (in 200 '
        "data sets, a single school once or not at all). About half of the fits estimate "
        "$\\tau_{00}$ at exactly 0",
        "about 8 of 150 at $\\lambda \\approx 0.5$ (where the SD of $t$ is about 1",
        "and about 50 at $\\lambda \\approx 0.8$",
        "about 95% of the bars contain their school's true effect once $\\tau_{00}$ is well "
        "estimated (a little less, about 93%, when $\\tau_{00}$ is as small as 0.02",
    )
    null = simulated[0.0]
    assert len(null) == 200
    assert null["significant"].sum() <= 1
    assert (null["tau00_hat"] == 0).mean() == pytest.approx(0.5, abs=0.1)
    half, most = simulated[0.05], simulated[0.2]
    assert round(half.attrs["reliability"], 1) == 0.5
    assert round(half["significant"].mean()) == 8
    lam = half.attrs["reliability"]
    assert round(np.sqrt(lam / (1 - lam)), 1) == 1.0
    assert round(most.attrs["reliability"], 1) == 0.8
    assert round(most["significant"].mean(), -1) == 50
    for tau in (0.05, 0.2):
        assert simulated[tau]["coverage"].mean() == pytest.approx(0.95, abs=0.01)
    assert round(simulated[0.02]["coverage"].mean(), 2) == 0.93


def test_05_school_without_college_parents(timss, rc) -> None:
    says(
        NB,
        "With uncorrelated random effects (VC, as here) its EBLUP is then exactly 0",
        "(Under UN it would not be 0",
    )
    students = timss.dropna(subset=["college"])
    korea = students[students["country"] == "Korea"]
    none = korea.groupby("school")["college"].sum().pipe(lambda s: s[s == 0].index)
    assert len(none) > 0
    vc = rc["Korea"].random_effects.xs("college", level="term").loc[none]
    assert (vc["estimate"] == 0).all()
    assert vc["se"].to_numpy() == pytest.approx(np.sqrt(rc["Korea"].tau.loc["college", "college"]))
    usa = students[students["country"] == "USA"]
    un = hlm.fit_hlm(usa, FORMULA, group="school", random=["college"], covariance="un")
    none_us = usa.groupby("school")["college"].sum().pipe(lambda s: s[s == 0].index)
    assert len(none_us) > 0
    eblups = un.random_effects.xs("college", level="term").loc[none_us, "estimate"]
    assert (eblups.abs() > 1e-4).all()


def test_05_eblup_spreads(timss, rc) -> None:
    says(
        NB,
        "The SDs of the EBLUPs are far below $\\sqrt{\\tau_{11}}$ in both countries, and more so "
        "in Korea.",
        "US schools are about twice as large and more mixed",
        "the EBLUP SDs differ by a factor of almost four, while the model's "
        "$\\sqrt{\\tau_{11}}$ differ by a factor of about 1.5.",
        "In Korea, $\\tau_{11}$ itself is not distinguishable from zero",
        "In both countries the schools' coefficients average out at the fixed effect, and the US "
        "ones spread much more widely.",
    )
    sds = {c: f.random_effects["estimate"].xs("college", level="term").std() for c, f in rc.items()}
    roots = {c: np.sqrt(f.tau.loc["college", "college"]) for c, f in rc.items()}
    ratio = {c: sds[c] / roots[c] for c in rc}
    assert ratio["Korea"] < ratio["USA"] < 0.5
    assert 3.4 <= sds["USA"] / sds["Korea"] < 4.0
    assert roots["USA"] / roots["Korea"] == pytest.approx(1.5, abs=0.05)
    size = {c: f.n_obs / f.n_groups for c, f in rc.items()}
    assert size["USA"] / size["Korea"] == pytest.approx(2, abs=0.1)
    fixed_slope = hlm.fit_hlm(timss[timss["country"] == "Korea"], FORMULA, group="school")
    assert hlm.lr_test(fixed_slope, rc["Korea"]).p_value > 0.05
    for f in rc.values():
        coef = f.school_coefficients()["college"]
        assert coef.mean() == pytest.approx(f.fixed.loc["college", "estimate"], abs=0.002)


def test_05_caterpillar_claims(rc) -> None:
    says(
        NB,
        "many bars lie entirely above or below zero (the second colour)",
        "Over 183 schools, about 5% of the true values, some 9 schools",
        "Every bar crosses zero, and the bars are wide compared with the spread of the dots.",
    )
    re = rc["USA"].random_effects

    def excludes(term: str) -> int:
        t = re.xs(term, level="term")
        return int(
            ((t["estimate"] - 1.96 * t["se"] > 0) | (t["estimate"] + 1.96 * t["se"] < 0)).sum()
        )

    assert excludes("Intercept") > 50
    assert excludes("college") == 0
    college = re.xs("college", level="term")
    assert (2 * 1.96 * college["se"]).min() > college["estimate"].std()
    assert round(0.05 * 183) == 9


def test_05_reliability_and_shrinkage_plot(timss, anova) -> None:
    says(
        NB,
        "about 0.25 to 0.75 in Korea and 0.73 to 0.97 in the USA",
        "with an average reliability above 0.9, US school means are barely shrunk",
        "Korean school means keep roughly half of their distance",
        "The smallest schools have $\\lambda_j$ below one half",
        "Korean school means are only moderately reliable",
    )
    rel = {c: f.school_reliability["Intercept"] for c, f in anova.items()}
    assert (round(rel["Korea"].min(), 2), round(rel["Korea"].max(), 2)) == (0.25, 0.75)
    assert (round(rel["USA"].min(), 2), round(rel["USA"].max(), 2)) == (0.73, 0.97)
    assert anova["USA"].reliability["Intercept"] > 0.9
    assert anova["Korea"].reliability["Intercept"] == pytest.approx(0.5, abs=0.1)
    korea = timss[timss["country"] == "Korea"]
    sizes = korea.groupby("school").size()
    assert (rel["Korea"][sizes[sizes == sizes.min()].index] < 0.5).all()


def test_05_shrinkage_demo_example() -> None:
    says(
        NB,
        "its mean squared error is less than half the observed means'",
        "30 Korea-like schools ($\\tau_{00} = 0.05$, $\\sigma^2 = 0.9$) of 5, 10, 19, 30 and 45 "
        "students",
    )
    sim = simulate_school_means(
        tau00=0.05, sigma2=0.9, n_schools=30, school_sizes=(5, 10, 19, 30, 45), seed=2026
    )
    mse_observed = np.mean((sim["observed_mean"] - sim["true_mean"]) ** 2)
    mse_eb = np.mean((sim["eb"] - sim["true_mean"]) ** 2)
    assert mse_eb < mse_observed / 2
    assert np.ptp(sim["eb"]) < np.ptp(sim["observed_mean"])


def test_05_exercise_solutions(timss, rc, anova) -> None:
    says(
        NB,
        "The model puts about 13% of US schools below 0 ($\\gamma_{10} \\approx 0.16$, "
        "$\\sqrt{\\tau_{11}} \\approx 0.14$), while only 1 of the 183 EB coefficients is negative.",
        "(their SD is less than half of $\\sqrt{\\tau_{11}}$, Exercise 05.3)",
        "The smallest US school has 6 students. Its reliability is about 0.73",
        "($1 - \\lambda_j \\approx 0.27$)",
        "Korea's ICC is about a fifth of the US one",
        "In Korea, with a slope reliability of a few percent, they keep only about a fifth.",
        "$\\tau_{00} = \\sigma^2/n = 0.9/19 \\approx 0.047$, close to Korea's own $\\tau_{00}$ of "
        "about 0.06",
    )
    usa = rc["USA"]
    gamma, sd = usa.fixed.loc["college", "estimate"], np.sqrt(usa.tau.loc["college", "college"])
    assert (round(gamma, 2), round(sd, 2)) == (0.16, 0.14)
    assert round(stats.norm.cdf(0, loc=gamma, scale=sd), 2) == 0.13
    assert int((usa.school_coefficients()["college"] < 0).sum()) == 1 and usa.n_groups == 183
    us = timss[timss["country"] == "USA"]
    assert us.groupby("school").size().min() == 6
    lam = anova["USA"].school_reliability["Intercept"].min()
    assert (round(lam, 2), round(1 - lam, 2)) == (0.73, 0.27)
    assert anova["Korea"].icc / anova["USA"].icc == pytest.approx(0.2, abs=0.02)
    korea = rc["Korea"]
    ratio = korea.random_effects["estimate"].xs("college", level="term").std() / np.sqrt(
        korea.tau.loc["college", "college"]
    )
    assert ratio == pytest.approx(0.2, abs=0.02)
    assert korea.reliability["college"] < 0.05
    assert round(0.9 / 19, 3) == 0.047
    assert round(anova["Korea"].tau.iloc[0, 0], 2) == 0.06


def test_05_exercise_05_4_simulation_gives_about_five_per_cent() -> None:
    says(NB, 'sim["significant"].mean()                          # about 7.5 of 150')
    sim = simulate_eblup_tests(0.9 / 19, sigma2=0.9, n_schools=150, school_size=19)
    assert sim["significant"].mean() == pytest.approx(7.5, abs=0.5)


def test_05_rank_uncertainty_of_the_middle_school(rc) -> None:
    says(
        NB,
        "The bar of the school in the middle of the ranking (rank 92 of 183) covers the EBLUPs of "
        "the schools ranked 61 to 134: within its bar, it could sit almost anywhere in the middle "
        "40% of the league table.",
    )
    table = rc["USA"].random_effects.xs("Intercept", level="term")
    order = table.sort_values("estimate", kind="stable")
    middle = order.iloc[len(order) // 2]
    low, high = middle["estimate"] - 1.96 * middle["se"], middle["estimate"] + 1.96 * middle["se"]
    ranks = np.flatnonzero((order["estimate"] >= low) & (order["estimate"] <= high)) + 1
    assert len(order) // 2 + 1 == 92
    assert (ranks.min(), ranks.max()) == (61, 134)
    assert round(100 * len(ranks) / len(order), -1) == 40


def test_05_every_school_lies_between_no_and_total_shrinkage(timss, anova) -> None:
    says(
        NB,
        "Every school lies between it and the horizontal line at $\\hat\\gamma_{00}$",
        "a Korean school of 5 students keeps only about a quarter of its distance from "
        "$\\hat\\gamma_{00}$, a school of 45 about three quarters.",
    )
    korea = timss[timss["country"] == "Korea"]
    fit = anova["Korea"]
    gamma = fit.fixed.loc["Intercept", "estimate"]
    means = korea.groupby("school")["math"].agg(["mean", "size"])
    eb = fit.school_coefficients()["Intercept"]
    own, pulled = means["mean"] - gamma, eb - gamma
    assert ((own * pulled >= 0) & (pulled.abs() <= own.abs())).all()
    lam = fit.school_reliability["Intercept"]
    assert round(lam[means["size"] == 5].mean(), 2) == 0.25
    assert round(lam[means["size"] == 45].mean(), 2) == 0.75


def test_05_check_yourself_eblup_sd(rc) -> None:
    says(
        NB,
        "The US college EBLUPs have an SD of 0.065.",
        "2. 0.14, the model's $\\sqrt{\\tau_{11}}$.",
        "so their SD understates the spread of the true school gaps (here by more than half)",
    )
    usa = rc["USA"]
    sd = usa.random_effects["estimate"].xs("college", level="term").std()
    root = np.sqrt(usa.tau.loc["college", "college"])
    assert (round(sd, 3), round(root, 2)) == (0.065, 0.14)
    assert sd < root / 2


def _widget_schools(monkeypatch, settings: list[dict[str, float]]) -> tuple[list, dict]:
    """The schools the shrinkage widget draws at each setting in turn, and its sliders.

    The widget's figure function is replaced by one that hands back the simulated schools,
    so that every slider setting is checked without drawing a figure.
    """
    import hlmteach.plots as plots
    import hlmteach.widgets as widgets

    drawn: list[pd.DataFrame] = []
    monkeypatch.setattr(plots, "shrinkage_demo", lambda schools: schools)
    monkeypatch.setattr(widgets, "_show_figure", lambda out, draw: drawn.append(draw()))
    panel = widgets.shrinkage_widget()
    sliders = {c.description: c for c in panel.children[0].children}
    shown = []
    for setting in settings:
        for name, value in setting.items():
            sliders[name].value = value
        shown.append(drawn[-1])
    return shown, sliders


def _mse(frame: pd.DataFrame, estimate: str) -> float:
    return float(np.mean((frame[estimate] - frame["true_mean"]) ** 2))


def test_05_the_widget_has_schools_of_five_sizes(monkeypatch) -> None:
    says(
        NB,
        "Its 30 schools come in five sizes, from a quarter of the average you choose to twice it "
        "(for an average of 19: 5, 10, 19, 24 and 38 students)",
        "the schools differ in reliability and colour",
        "The colour bar names, on its left, the school size behind each colour.",
        "(the dark, small ones move furthest)",
    )
    students = "average students per school"
    (korea_like,), sliders = _widget_schools(monkeypatch, [{"τ00": 0.05, "σ²": 0.9, students: 19}])
    assert len(korea_like) == 30
    assert sorted(set(korea_like["n"])) == [5, 10, 19, 24, 38]
    for average in range(sliders[students].min, sliders[students].max + 1):
        sizes = school_sizes_around(average)
        assert len(set(sizes)) >= 4, "the smallest averages still give several sizes"
        assert abs(sizes[0] - max(2, average / 4)) <= 0.5 and sizes[-1] == 2 * average
        assert abs(np.mean(sizes) - average) <= 0.25
    by_size = korea_like.groupby("n")["reliability"].first()
    assert by_size.is_monotonic_increasing and by_size.nunique() == 5
    pull = (korea_like["observed_mean"] - korea_like["eb"]).abs()
    distance = (korea_like["observed_mean"] - korea_like["grand_mean"]).abs()
    share_pulled = (pull / distance).groupby(korea_like["n"]).mean()
    assert share_pulled.is_monotonic_decreasing, "small schools move the furthest"


def test_05_things_to_try_with_the_widget(monkeypatch) -> None:
    says(
        NB,
        "an average of 19 students. The lines lean hard toward the grand mean, with "
        "reliabilities from about 0.2 (5 students) to about 0.7 (38 students).",
        "an average of 38 students. The lines are almost vertical, with reliabilities from 0.8 "
        "to 0.97: little shrinkage, and the EB estimates' mean squared error is only about a "
        "fifth below the observed means'.",
        "Every reliability is 0, whatever the school's size, and every EB estimate sits on the "
        "grand mean",
        "**Move the students slider from 4 to 60**",
        "the colours brighten and the pull toward the grand mean weakens, but at each setting the "
        "smallest schools stay the darkest and are pulled the furthest",
    )
    students = "average students per school"
    settings = [
        {"τ00": 0.05, "σ²": 0.9, students: 19},
        {"τ00": 0.2, "σ²": 0.5, students: 38},
        {"τ00": 0.0},
    ]
    (korea_like, us_like, alike), sliders = _widget_schools(monkeypatch, settings)
    assert (sliders[students].min, sliders[students].max) == (4, 60)
    korea_reliability = korea_like.groupby("n")["reliability"].first()
    assert round(korea_reliability[5], 1) == 0.2 and round(korea_reliability[38], 1) == 0.7
    us_reliability = us_like["reliability"]
    assert round(us_reliability.min(), 2) == 0.8 and round(us_reliability.max(), 2) == 0.97
    ratio = _mse(us_like, "eb") / _mse(us_like, "observed_mean")
    assert 0.75 <= ratio <= 0.85, f"EB's error is {ratio:.2f} of the observed means'"
    assert _mse(korea_like, "eb") < _mse(korea_like, "observed_mean") / 2
    assert (alike["reliability"] == 0).all()
    np.testing.assert_allclose(alike["eb"], alike["grand_mean"])
    averages = range(sliders[students].min, sliders[students].max + 1)
    every_average, _ = _widget_schools(monkeypatch, [{students: a} for a in averages])
    mean_reliability = []
    for schools in every_average:
        by_size = schools.groupby("n")["reliability"].first()
        assert by_size.is_monotonic_increasing and by_size.iloc[0] < by_size.iloc[-1]
        share_pulled = (schools["eb"] - schools["observed_mean"]) / (
            schools["grand_mean"] - schools["observed_mean"]
        )
        np.testing.assert_allclose(share_pulled, 1 - schools["reliability"])
        mean_reliability.append(schools["reliability"].mean())
    assert np.all(np.diff(mean_reliability) > 0), "the colours brighten, the pull weakens"
