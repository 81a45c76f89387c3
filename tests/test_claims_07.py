"""Claims in the prose of notebook 07 (HSB, R&B chapter 4), checked on the shipped data.

Each test first finds its sentence in the notebook's markdown (``says``), so that a
reworded claim fails here and is checked again, then recomputes the claim from the
package and the shipped data, with a tolerance that matches the printed rounding. (The
published SAS, SPSS, HLM and lme4 values beside ours are compared by the notebook's
tables, which nbval checks, and by tests/test_hsb_reference.py.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from prose import says
from scipy import stats

import hlmteach as hlm

NB = "07_practice_hsb.ipynb"
FULL = "mathach ~ meanses + sector + cses + meanses:cses + sector:cses"


@pytest.fixture(scope="module")
def hsb() -> pd.DataFrame:
    data = hlm.load_hsb()
    data["cses"] = data["ses"] - data.groupby("school")["ses"].transform("mean")
    return data


@pytest.fixture(scope="module")
def anova(hsb):
    return hlm.fit_hlm(hsb, "mathach ~ 1", group="school")


@pytest.fixture(scope="module")
def means(hsb):
    return hlm.fit_hlm(hsb, "mathach ~ meanses", group="school")


@pytest.fixture(scope="module")
def rc(hsb):
    return hlm.fit_hlm(hsb, "mathach ~ cses", group="school", random=["cses"])


@pytest.fixture(scope="module")
def full(hsb):
    return hlm.fit_hlm(hsb, FULL, group="school", random=["cses"])


def test_the_data(hsb) -> None:
    says(NB, "7185 students in 160 US high schools, 90 public and 70 Catholic")
    schools = hsb.groupby("school")["sector"].first()
    assert len(hsb) == 7185 and len(schools) == 160
    assert (schools == 0).sum() == 90 and (schools == 1).sum() == 70


def test_step_1_solution(hsb, anova) -> None:
    says(
        NB,
        "gamma00 = 12.637, SE 0.244",
        "tau00 = 8.614, sigma2 = 39.148",
        "8.614 / (8.614 + 39.148) = 0.180",
        "The true school means have a standard deviation of $\\sqrt{8.61} = 2.93$ points",
        "roughly 6.9 to 18.4 points",
        "Dividing $\\tau_{00}$ by $\\sigma^2$ instead gives 0.22",
        "with about 45 students per school",
        "with its standard error and 159 degrees of freedom",
    )
    gamma00, se = anova.fixed.loc["Intercept", ["estimate", "se"]]
    tau00, sigma2 = anova.tau.iloc[0, 0], anova.sigma2
    assert (round(gamma00, 3), round(se, 3)) == (12.637, 0.244)
    assert (round(tau00, 3), round(sigma2, 3)) == (8.614, 39.148)
    assert round(anova.icc, 3) == 0.180 and round(tau00 / sigma2, 2) == 0.22
    assert round(np.sqrt(tau00), 2) == 2.93
    low, high = gamma00 - 1.96 * np.sqrt(tau00), gamma00 + 1.96 * np.sqrt(tau00)
    assert (round(low, 1), round(high, 1)) == (6.9, 18.4)
    assert round(len(hsb) / 160) == 45
    assert anova.fixed.loc["Intercept", "df"] == 159


def test_shrinkage_colour_scale(anova) -> None:
    says(NB, "from about 0.75 to 0.94")
    reliability = anova.school_reliability["Intercept"]
    assert (round(reliability.min(), 2), round(reliability.max(), 2)) in {
        (0.75, 0.94),
        (0.76, 0.94),
    }
    fig = hlm.plots.shrinkage(anova)
    assert fig.axes[0].collections[0].get_clim() == pytest.approx(
        (reliability.min(), reliability.max())
    )


def test_sas_and_hlm_stop_short(anova) -> None:
    says(
        NB,
        "SAS prints 47116.8; HLM's is higher by less than 0.00001",
        "Again SAS's $\\tau_{00}$ stops short of the optimum (2.6357 against 2.6387)",
    )
    assert round(anova.deviance, 1) == 47116.8


def test_step_2_solution(hsb, anova, means) -> None:
    says(
        NB,
        "gamma01 = 5.86 (SE 0.36)",
        "# 2.639",
        "# 0.694",
        "School mean SES has a standard deviation of 0.41 across the 160 schools, so schools one "
        "standard deviation apart differ by about 2.4 points",
        "`meanses` accounts for 69% of the variance between school means",
        "$\\tau_{00} = 2.64$ (a standard deviation of 1.6 points)",
        "$\\sigma^2$ hardly moves (39.15 to 39.16)",
        "The reliability of the school means drops from 0.90 to 0.74.",
        "The df of `meanses` are 158",
    )
    gamma01, se01 = means.fixed.loc["meanses", ["estimate", "se"]]
    assert (round(gamma01, 2), round(se01, 2)) == (5.86, 0.36)
    tau00 = means.tau.iloc[0, 0]
    assert round(tau00, 3) == 2.639 and round(np.sqrt(tau00), 1) == 1.6
    explained = (anova.tau.iloc[0, 0] - tau00) / anova.tau.iloc[0, 0]
    assert round(explained, 3) == 0.694
    sd_meanses = hsb.groupby("school")["meanses"].first().std()
    assert round(sd_meanses, 2) == 0.41 and round(gamma01 * sd_meanses, 1) == 2.4
    assert (round(anova.sigma2, 2), round(means.sigma2, 2)) == (39.15, 39.16)
    assert round(anova.reliability["Intercept"], 2) == 0.90
    assert round(means.reliability["Intercept"], 2) == 0.74
    assert means.fixed.loc["meanses", "df"] == 158


def test_meanses_offset(hsb) -> None:
    says(NB, "it exceeds the mean of each school's students' `ses` by about 0.006")
    offset = hsb.groupby("school")["meanses"].first() - hsb.groupby("school")["ses"].mean()
    assert offset.min() > 0.005 and offset.max() < 0.007


def test_step_3_solution(hsb, anova, rc) -> None:
    says(
        NB,
        "gamma10 = 2.19 (SE 0.128)",
        "tau00 = 8.68, tau01 = 0.05, tau11 = 0.694",
        "chi2 = 9.76; mixture p = 0.0047",
        "$\\tau_{11} = 0.69$, a standard deviation of 0.83",
        "roughly 0.56 to 3.83",
        "With the 50:50 mixture, $p = 0.005$; the plain $\\chi^2_2$ would give 0.008",
        "The Wald test of `Var(cses)` ($z = 2.47$)",
        "a correlation of only 0.02",
        "$\\tau_{00}$ rises a little, from 8.61 to 8.68",
        "$\\sigma^2$ falls from 39.15 to 36.70, so SES accounts for about 6% of the variance "
        "within schools",
        "mixture p-value (0.005) *smaller* than the plain $\\chi^2_2$ p-value (0.008) for the "
        "same statistic 9.76",
    )
    gamma10, se10 = rc.fixed.loc["cses", ["estimate", "se"]]
    assert (round(gamma10, 2), round(se10, 3)) == (2.19, 0.128)
    tau = rc.tau
    assert round(tau.loc["Intercept", "Intercept"], 2) == 8.68
    assert round(tau.loc["Intercept", "cses"], 2) == 0.05
    assert round(tau.loc["cses", "cses"], 3) == 0.694
    sd = np.sqrt(tau.loc["cses", "cses"])
    assert round(sd, 2) == 0.83
    assert (round(gamma10 - 1.96 * sd, 2), round(gamma10 + 1.96 * sd, 2)) == (0.56, 3.83)
    correlation = tau.loc["Intercept", "cses"] / np.sqrt(
        tau.loc["Intercept", "Intercept"] * tau.loc["cses", "cses"]
    )
    assert round(correlation, 2) == 0.02
    lr = hlm.lr_test(hlm.fit_hlm(hsb, "mathach ~ cses", group="school"), rc)
    assert round(lr.statistic, 2) == 9.76 and round(lr.p_value, 4) == 0.0047
    assert round(stats.chi2.sf(lr.statistic, 2), 3) == 0.008
    assert round(rc.covariance.loc["Var(cses)", "z"], 2) == 2.47
    assert round(rc.sigma2, 2) == 36.70
    assert round((anova.sigma2 - rc.sigma2) / anova.sigma2, 2) == 0.06


def test_step_3_degrees_of_freedom(rc) -> None:
    says(NB, "`ddfm=bw` gives 7024", "HLM uses 159", "gives 155")
    assert rc.fixed.loc["cses", "df"] == 7024
    assert round(rc.satterthwaite["cses"]) == 155


def test_step_4_solution(rc, full) -> None:
    says(
        NB,
        "gamma12 = sector:cses = -1.64 (SE 0.24)",
        "tau00 = 2.38, tau11 = 0.10",
        "# 0.85",
        "$\\gamma_{00} = 12.10$",
        "$\\gamma_{02} = 1.23$",
        "$\\gamma_{01} = 5.33$",
        "$\\gamma_{10} = 2.94$",
        "$\\gamma_{11} = 1.04$",
        "$2.94 - 1.64 = 1.30$",
        "$(0.694 - 0.101) / 0.694 = 85\\%$",
        "$(8.68 - 2.38) / 8.68 = 73\\%$",
        "`ddfm=bw` gives the three slope terms 7022 df",
        "HLM gives it 157 df",
        "gives 139 to 161",
        "`Var(cses)` has fallen to 0.10 with a Wald z of 0.47",
    )
    g, se = full.fixed["estimate"], full.fixed["se"]
    assert (round(g["sector:cses"], 2), round(se["sector:cses"], 2)) == (-1.64, 0.24)
    assert round(g["Intercept"], 2) == 12.10 and round(g["sector"], 2) == 1.23
    assert round(g["meanses"], 2) == 5.33 and round(g["cses"], 2) == 2.94
    assert round(g["meanses:cses"], 2) == 1.04
    assert round(g["cses"] + g["sector:cses"], 2) == 1.30
    tau11, tau11_rc = full.tau.loc["cses", "cses"], rc.tau.loc["cses", "cses"]
    tau00, tau00_rc = full.tau.loc["Intercept", "Intercept"], rc.tau.loc["Intercept", "Intercept"]
    assert round(tau11, 3) == 0.101 and round(tau00, 2) == 2.38
    assert round((tau11_rc - tau11) / tau11_rc, 2) == 0.85
    assert round((tau00_rc - tau00) / tau00_rc, 2) == 0.73
    assert (full.fixed.loc[["cses", "meanses:cses", "sector:cses"], "df"] == 7022).all()
    assert (full.fixed.loc[["Intercept", "meanses", "sector"], "df"] == 157).all()
    satterthwaite = full.satterthwaite
    assert (round(satterthwaite.min()), round(satterthwaite.max())) == (139, 161)
    assert round(full.covariance.loc["Var(cses)", "z"], 2) == 0.47


def test_exercise_solutions(hsb, anova, full) -> None:
    says(
        NB,
        "anova.reliability                                  # 0.901",
        "rel.min()                            # 0.755",
        "# 14 students",
        "$8.61 / (8.61 + 39.15 / 14) = 0.755$",
        "chi2 = 1.13, mixture p = 0.43",
        "γ12 = −1.64 either way".replace("−", "-"),
    )
    assert round(anova.reliability["Intercept"], 3) == 0.901
    reliability = anova.school_reliability["Intercept"]
    assert round(reliability.min(), 3) == 0.755
    assert hsb.groupby("school").size()[reliability.idxmin()] == 14
    no_slope = hlm.fit_hlm(hsb, FULL, group="school")
    lr = hlm.lr_test(no_slope, full)
    assert round(lr.statistic, 2) == 1.13 and round(lr.p_value, 2) == 0.43
    assert round(no_slope.fixed.loc["sector:cses", "estimate"], 2) == -1.64
    # "the standard errors of the slope terms shrink a little"
    slope_terms = ["cses", "meanses:cses", "sector:cses"]
    assert (no_slope.fixed.loc[slope_terms, "se"] < full.fixed.loc[slope_terms, "se"]).all()


def test_summary(anova, means, rc, full) -> None:
    says(
        NB,
        "The grand mean is 12.64 points; $\\tau_{00} = 8.61$ and $\\sigma^2 = 39.15$, so 18% of "
        "the variance lies between schools (ICC 0.18)",
        "School mean SES predicts school mean achievement (5.86 points per unit) and accounts "
        "for 69% of $\\tau_{00}$",
        "The average slope is 2.19. The slopes vary ($\\tau_{11} \\approx 0.69$); the "
        "likelihood-ratio test with the 50:50 mixture gives $\\chi^2 = 9.76$, $p = 0.005$.",
        "(+1.04 per unit of `meanses`) and flatter in Catholic schools (−1.64). Together they "
        "account for 85% of the slope variance.".replace("−", "-"),
    )
    assert round(anova.fixed.loc["Intercept", "estimate"], 2) == 12.64
    assert round(anova.icc, 2) == 0.18
    assert round(means.fixed.loc["meanses", "estimate"], 2) == 5.86
    assert round(rc.fixed.loc["cses", "estimate"], 2) == 2.19
    assert round(rc.tau.loc["cses", "cses"], 2) == 0.69
    assert round(full.fixed.loc["meanses:cses", "estimate"], 2) == 1.04


def test_step_1_shares_of_the_variance(anova) -> None:
    says(
        NB,
        "The ICC is 0.18: 18% of the variance in mathematics achievement lies between schools "
        "and 82% among students of the same school.",
    )
    assert round(100 * anova.icc) == 18 and round(100 * (1 - anova.icc)) == 82


def test_07_exercise_solutions_8_and_9() -> None:
    """The least reliable school (14 students, 0.755) and where the sector gap closes (0.75)."""
    says(
        "07_practice_hsb.ipynb",
        "The least reliable school has only 14 students (the average reliability is 0.90)",
        "$8.61 / (8.61 + 39.15 / 14) = 0.755$",
        "The gap is zero at cses = 0.75",
        "(2.94 - 1.64 = 1.30 against 2.94 in a public school)",
    )
    hsb = hlm.load_hsb()
    anova = hlm.fit_hlm(hsb, "mathach ~ 1", group="school")
    reliability = anova.school_reliability["Intercept"]
    assert hsb.groupby("school").size()[reliability.idxmin()] == 14
    assert hsb.groupby("school").size().min() == 14
    assert round(reliability.min(), 3) == 0.755 and round(anova.reliability["Intercept"], 2) == 0.90
    hsb["cses"] = hsb["ses"] - hsb.groupby("school")["ses"].transform("mean")
    full = hlm.fit_hlm(
        hsb,
        "mathach ~ meanses + sector + cses + meanses:cses + sector:cses",
        group="school",
        random=["cses"],
    )
    g = full.fixed["estimate"]
    assert round(g["sector"] / -g["sector:cses"], 2) == 0.75
    assert (round(g["sector"], 2), round(g["sector:cses"], 2)) == (1.23, -1.64)
    assert (round(g["cses"], 2), round(g["cses"] + g["sector:cses"], 2)) == (2.94, 1.30)
