"""Notebook 01's prose, checked: every number it quotes and every claim it makes.

Each test first finds the sentence in the notebook's markdown with ``says`` (a reworded claim
fails here and is checked again), then recomputes it: from the design-effect formula, from
the notebook's own simulation (same settings and seed), or from High School and Beyond.
The TIMSS numbers in 01 are the source's published ones, checked against
``hlmteach.published``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from prose import says

import hlmteach as hlm
from hlmteach.exercises import solution_value
from hlmteach.published import ANOVA_RESULTS

NB = "01_why_multilevel.ipynb"
deff = hlm.simulation.design_effect


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    """The notebook's simulation, with its settings and seed."""
    return hlm.simulation.simulate_false_positives(
        iccs=(0.0, 0.1, 0.2, 0.3),
        school_sizes=(5, 20, 50),
        n_schools=40,
        n_reps=100,
        seed=1995,
        progress=False,
    ).set_index(["icc", "school_size"])


@pytest.fixture(scope="module")
def hsb() -> pd.DataFrame:
    return hlm.load_hsb()


def published_icc(country: str) -> float:
    tau00, sigma2 = (float(ANOVA_RESULTS[country][k][0]) for k in ("Var(Intercept)", "Residual"))
    return tau00 / (tau00 + sigma2)


def test_published_iccs():
    says(NB, "the ICC of mathematics is about **0.06 in Korea** and **0.31 in the USA**")
    assert round(published_icc("Korea"), 2) == 0.06 and round(published_icc("USA"), 2) == 0.31


def test_design_effect_table_sentences():
    says(
        NB,
        "With an ICC of 0.05 and 5 students per school, clustering costs little: 1000 students "
        "are worth 833 independent ones.",
        "With 50 students per school the same small ICC gives a design effect of 3.45, and the "
        "1000 students are worth only 290.",
        "At an ICC of 0.3 and 50 per school, they are worth 64, and an OLS standard error is "
        "about 4 times too small.",
    )
    assert round(1000 / deff(0.05, 5)) == 833
    assert round(deff(0.05, 50), 2) == 3.45 and round(1000 / deff(0.05, 50)) == 290
    assert round(1000 / deff(0.3, 50)) == 64 and round(np.sqrt(deff(0.3, 50))) == 4


def test_quick_check_answer():
    says(
        NB,
        "Its design effect is $1 + 99 \\times 0.05 = 5.95$, against $1 + 4 \\times 0.2 = 1.8$ for "
        "(a): the 2000 students of (b) are worth about 336 independent ones, those of (a) about "
        "1111.",
    )
    assert deff(0.05, 100) == pytest.approx(5.95) and deff(0.2, 5) == pytest.approx(1.8)
    assert round(2000 / 5.95) == 336 and round(2000 / 1.8) == 1111


def test_the_us_design_effect():
    says(
        NB,
        "6944 students in 183 schools, about 38 per school, with an ICC of 0.31",
        "hold about as much information as 560 independent students, and OLS standard errors "
        "would be about 3.5 times too small",
    )
    assert ANOVA_RESULTS["USA"]["Sample Size"] == "6944"
    assert ANOVA_RESULTS["USA"]["N of Schools"] == "183"
    assert round(6944 / 183) == 38
    d = deff(published_icc("USA"), 6944 / 183)
    assert 6944 / d == pytest.approx(560, abs=5) and np.sqrt(d) == pytest.approx(3.5, abs=0.05)


def test_simulation_design():
    says(
        NB,
        "$J - 2 = 38$ degrees of freedom",
        "We run 100 data sets for each of 4 ICCs and 3 school sizes, 1200 in all",
        "with 100 data sets, a rate estimated near 5% is uncertain by about ±4 percentage points",
        "an SD estimated from 100 data sets is uncertain by about ±7%",
    )
    assert 40 - 2 == 38 and 100 * 4 * 3 == 1200
    assert 1.96 * np.sqrt(0.05 * 0.95 / 100) == pytest.approx(0.04, abs=0.003)
    assert 1 / np.sqrt(2 * 99) == pytest.approx(0.07, abs=0.003)  # relative SE of an SD


def test_simulation_results(sim):
    says(NB, "At ICC = 0 both methods sit near 5%: without clustering, OLS is right.")
    at_zero = sim.xs(0.0, level="icc")
    assert (at_zero["ols_rate"] - 0.05).abs().max() <= 0.02 + 1e-9
    assert (at_zero["hlm_rate"] - 0.05).abs().max() <= 0.03 + 1e-9
    says(NB, "As the ICC grows, OLS's rate climbs far above 5%, and it climbs faster in larger")
    for icc in (0.1, 0.2, 0.3):
        rates = sim.xs(icc, level="icc")["ols_rate"]
        assert rates.loc[50] > rates.loc[5] and rates.loc[50] > 0.3
    says(
        NB,
        "With 50 students per school and an ICC of 0.2 or 0.3, OLS declares the useless predictor "
        '"significant" in more than half of the data sets.',
        "OLS called a useless school-level predictor significant in up to 57% of data sets",
    )
    assert sim.loc[(0.2, 50), "ols_rate"] > 0.5 and sim.loc[(0.3, 50), "ols_rate"] > 0.5
    assert round(sim["ols_rate"].max(), 2) == 0.57
    says(NB, "(The small dip at ICC 0.2 with 20 students per school is Monte-Carlo noise")
    assert sim.loc[(0.2, 20), "ols_rate"] < sim.loc[(0.1, 20), "ols_rate"]
    says(
        NB,
        "HLM stays near 5% everywhere: its rates, 2% to 6%, all lie within the Monte-Carlo noise "
        "of 5%.",
        "its estimate of $\\tau_{00}$ cannot fall below the true 0, so its SE is, if anything, "
        "too large.)",
        "the random-intercept model stayed near 5%",
    )
    rates = sim["hlm_rate"].round(2)
    assert rates.min() == 0.02 and rates.max() == 0.06
    # within the +-1.96 Monte-Carlo SE of a 5% rate with 100 data sets (+-0.043)
    assert (sim["hlm_rate"] - 0.05).abs().max() <= 1.96 * np.sqrt(0.05 * 0.95 / 100)
    # the conservative SE at ICC = 0: HLM's SE is larger than OLS's in every setting there
    assert (at_zero["hlm_se_ratio"] > 1).all()


def test_simulated_se_ratios(sim):
    says(NB, "The simulated SE ratio follows $\\sqrt{\\text{deff}}$")
    relative = sim["se_ratio"] / sim["sqrt_design_effect"]
    assert relative.between(0.75, 1.1).all()
    assert np.corrcoef(sim["se_ratio"], sim["sqrt_design_effect"])[0, 1] > 0.95
    says(
        NB,
        "The random-intercept model's SE is larger than OLS's by close to $\\sqrt{\\text{deff}}$ "
        "(a little more at ICC = 0",
    )
    assert (sim["hlm_se_ratio"] / sim["sqrt_design_effect"]).between(0.97, 1.06).all()
    assert (sim.xs(0.0, level="icc")["hlm_se_ratio"] > 1).all()
    says(NB, "With $\\sqrt{\\text{deff}} \\approx 3.3$, OLS's $t$ statistics are about 3.3 times")
    assert round(np.sqrt(deff(0.2, 50)), 1) == 3.3 and round(0.6 * 3.3, 1) == 2.0


def test_hsb_sector(hsb):
    says(
        NB,
        "High School and Beyond has 7185 students in 160 US high schools, about 45 per school.",
        "Catholic-school students score about 2.8 points higher",
        "OLS claims ±0.16 and 7183 degrees of freedom; the random-intercept model says ±0.44 and "
        "158 (160 schools minus 2)",
        "The ratio of the two SEs, 2.76, is close to what the design effect predicts, 2.72.",
        "(The ICC here, 0.146,",
        "Here the sector effect survives the correction ($t = 6.4$).",
        "OLS would report $t \\approx 5.9$, overwhelming evidence, while the random-intercept "
        "model would give $t \\approx 2.1$",
    )
    assert len(hsb) == 7185 and hsb["school"].nunique() == 160
    assert round(len(hsb) / 160) == 45
    ols = hlm.fit_ols(hsb, "mathach ~ sector").fixed.loc["sector"]
    ri_fit = hlm.fit_hlm(hsb, "mathach ~ sector", group="school")
    ri = ri_fit.fixed.loc["sector"]
    assert round(ols["estimate"], 1) == round(ri["estimate"], 1) == 2.8
    assert round(ols["se"], 2) == 0.16 and int(ols["df"]) == 7183
    assert round(ri["se"], 2) == 0.44 and int(ri["df"]) == 158
    assert round(ri["se"] / ols["se"], 2) == 2.76
    assert round(ri_fit.icc, 3) == 0.146
    assert round(np.sqrt(deff(ri_fit.icc, len(hsb) / 160)), 2) == 2.72
    assert round(ri["t"], 1) == 6.4
    third = ri["estimate"] / 3
    assert round(third, 1) == 0.9
    assert round(third / ols["se"], 1) == 5.9 and round(third / ri["se"], 1) == 2.1


def test_exercise_solutions(hsb):
    says(NB, "the ICC of mathematics is 0.064", "$\\text{deff} = 1 + (19.34 - 1) \\times 0.064")
    assert round(published_icc("Korea"), 3) == 0.064
    assert round(solution_value("01.1"), 2) == 2.17
    says(NB, "Korea's design effect is far smaller than the USA's (12.4)")
    assert round(deff(published_icc("USA"), 6944 / 183), 1) == 12.4
    says(NB, "$N/\\text{deff} = 2901 / 2.174 \\approx 1335$", "the USA's 558 out of 6944")
    assert round(solution_value("01.2")) == 1335
    assert round(6944 / deff(published_icc("USA"), 6944 / 183)) == 558
    says(
        NB,
        "OLS's false-positive rate is **0.395**, eight times the nominal 5%; HLM's is 0.04.",
        "$\\sqrt{5.95} \\approx 2.4$",
    )
    small = hlm.simulation.simulate_false_positives(
        iccs=[0.05], school_sizes=[100], n_schools=20, n_reps=200, seed=1, progress=False
    )
    assert small.loc[0, "ols_rate"] == pytest.approx(0.395) and round(0.395 / 0.05) == 8
    assert round(small.loc[0, "hlm_rate"], 2) == 0.04
    says(
        NB,
        "The ratio for `minority` is about 1.21. The four ratios run about 2.76 (`sector`), 1.96 "
        "(`meanses`), 1.21 (`minority`) and 1.06 (`female`).",
    )
    assert round(solution_value("01.4"), 2) == 1.21
    ratios = {}
    for x in ("sector", "meanses", "minority", "female"):
        ols_se = hlm.fit_ols(hsb, f"mathach ~ {x}").fixed.loc[x, "se"]
        ratios[x] = hlm.fit_hlm(hsb, f"mathach ~ {x}", group="school").fixed.loc[x, "se"] / ols_se
    assert [round(r, 2) for r in ratios.values()] == [2.76, 1.96, 1.21, 1.06]
