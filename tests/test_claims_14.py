"""Notebook 14's prose, checked: every number it quotes and every claim it makes about the data.

Each test first finds the sentence in the notebook's markdown with ``says`` (a reworded
claim fails here and must be checked again), then recomputes the claim from the package
and the shipped data; claims about R are checked against the committed R fixtures.
Tolerances match the printed rounding.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from prose import says

import hlmteach as hlm
from hlmteach.exercises import solution_value
from hlmteach.variance_explained import (
    nakagawa_r2,
    proportional_reduction,
    rights_sterba,
    snijders_bosker_r2,
)

NB = "14_variance_explained.ipynb"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
LME4 = json.loads((FIXTURES / "variance_explained_lme4.json").read_text(encoding="utf-8"))


def rounds_to(value: float, printed: str) -> bool:
    """Whether ``value`` prints as ``printed`` with as many decimals as it shows."""
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return f"{value:.{decimals}f}" == printed


@cache
def hsb() -> pd.DataFrame:
    data = hlm.load_hsb()
    return hlm.center(data, "ses", group="school", kind="group", name="cses")


@cache
def fit(formula: str, random: tuple[str, ...] = ()):
    data = hsb()
    if "ses_plus_2" in formula:
        data = data.assign(ses_plus_2=data["ses"] + 2)
    return hlm.fit_hlm(data, formula, group="school", random=list(random))


def anova():
    return fit("mathach ~ 1")


def slope():
    return fit("mathach ~ ses + meanses", ("ses",))


def slope_shifted():
    return fit("mathach ~ ses_plus_2 + meanses", ("ses_plus_2",))


def centred():
    return fit("mathach ~ cses + meanses", ("cses",))


@cache
def us_model():
    return hlm.fit_hlm(
        hlm.load_timss("USA"),
        "math ~ college + boy",
        group="school",
        random=["college"],
        covariance="vc",
    )


def test_the_anova_numbers():
    says(NB, r"$\tau_{00} = 8.61$ between schools and $\sigma^2 = 39.15$ within them (ICC 0.18)")
    assert rounds_to(anova().tau.iloc[0, 0], "8.61")
    assert rounds_to(anova().sigma2, "39.15") and rounds_to(anova().icc, "0.18")


def test_what_each_kind_of_predictor_can_explain():
    says(NB, "its school means are all zero", "can explain only differences *between* schools")
    means = hsb().groupby("school")["cses"].mean()
    assert np.abs(means).max() < 1e-12
    assert abs(proportional_reduction(anova(), fit("mathach ~ meanses"))["Residual"]) < 0.001


def test_proportional_reductions_of_meanses_and_cses():
    says(
        NB,
        r"`meanses` accounts for 69% of $\tau_{00}$ and none of $\sigma^2$ (the tiny negative "
        "value, -0.0002, is estimation noise). `cses` accounts for 5.5% of $\\sigma^2$, and its "
        r"proportion for $\tau_{00}$ is **negative**: $\tau_{00}$ *grew*, from 8.61 to 8.67.",
    )
    means = proportional_reduction(anova(), fit("mathach ~ meanses"))
    cses = proportional_reduction(anova(), fit("mathach ~ cses"))
    assert rounds_to(100 * means["Var(Intercept)"], "69")
    assert rounds_to(means["Residual"], "-0.0002")
    assert rounds_to(100 * cses["Residual"], "5.5")
    assert cses["Var(Intercept)"] < 0
    assert rounds_to(fit("mathach ~ cses").tau.iloc[0, 0], "8.67")


def test_shifting_ses_changes_tau00_but_not_the_model():
    says(
        NB,
        r"Same deviance, so the same model; but $\tau_{00}$ doubles (2.70 against 5.44), and "
        r'the "proportion of $\tau_{00}$ explained" falls from 0.69 to 0.37. Schools differ '
        "more at low SES than at the average",
        "shifting SES by 2 doubled it",
    )
    says(NB, "with `ses` as it is (0 is about the average student)")
    assert abs(hsb()["ses"].mean()) < 0.05 * hsb()["ses"].std()
    assert slope().deviance == pytest.approx(slope_shifted().deviance, abs=1e-6)
    tau, tau_shifted = slope().tau.iloc[0, 0], slope_shifted().tau.iloc[0, 0]
    assert rounds_to(tau, "2.70") and rounds_to(tau_shifted, "5.44")
    assert 1.9 < tau_shifted / tau < 2.1
    assert rounds_to(proportional_reduction(anova(), slope())["Var(Intercept)"], "0.69")
    assert rounds_to(proportional_reduction(anova(), slope_shifted())["Var(Intercept)"], "0.37")


def test_snijders_bosker_numbers():
    says(
        NB,
        "`ses` and `meanses` together reduce the error of predicting a student's score by 17% "
        "($R^2_1 = 0.169$) and that of predicting a school's mean by 62% ($R^2_2 = 0.624$)",
        "`cses` alone has $R^2_2 = -0.001$",
        "`snijders_bosker_r2` uses the harmonic mean of the school sizes",
    )
    sb = snijders_bosker_r2(anova(), fit("mathach ~ ses + meanses"))
    assert rounds_to(sb["R2_1"], "0.169") and rounds_to(100 * sb["R2_1"], "17")
    assert rounds_to(sb["R2_2"], "0.624") and rounds_to(100 * sb["R2_2"], "62")
    assert rounds_to(snijders_bosker_r2(anova(), fit("mathach ~ cses"))["R2_2"], "-0.001")
    says(NB, "adding `ses` to `meanses` lowers $R^2_2$ from 0.625 to 0.624")
    alone = snijders_bosker_r2(anova(), fit("mathach ~ meanses"))["R2_2"]
    assert rounds_to(alone, "0.625") and alone > sb["R2_2"]
    sizes = hsb().groupby("school").size().to_numpy()
    assert sb["cluster_size"] == pytest.approx(len(sizes) / np.sum(1 / sizes), rel=1e-12)


def test_snijders_bosker_refuse_random_slopes():
    says(NB, "the function refuses a random-slope fit and says so")
    with pytest.raises(hlm.ModelInputError, match="refit without random="):
        snijders_bosker_r2(anova(), slope())


def test_nakagawa_is_the_same_for_both_zeros_of_ses():
    says(
        NB,
        "They are identical: the fixed part explains 17.1% of the variance of `mathach` "
        "(marginal R² 0.171), and the fixed part and the schools together 23.3% "
        "(conditional R² 0.233).",
    )
    plain, shifted = nakagawa_r2(slope()), nakagawa_r2(slope_shifted())
    np.testing.assert_allclose(
        plain[["marginal", "conditional"]], shifted[["marginal", "conditional"]], rtol=1e-6
    )
    assert rounds_to(plain["marginal"], "0.171") and rounds_to(100 * plain["marginal"], "17.1")
    assert rounds_to(plain["conditional"], "0.233")


def test_nakagawa_agrees_with_performance_to_six_decimals():
    says(NB, "against R's `performance` package (version 0.10.2) to at least six decimals")
    assert LME4["provenance"]["packages"]["performance"] == "0.10.2"
    ref = LME4["models"]["hsb_ses_meanses_rs"]["nakagawa"]
    ours = nakagawa_r2(slope())
    for key in ("marginal", "conditional"):
        assert abs(ours[key] - ref[key]) < 5e-7


def test_performance_drops_the_uncorrelated_slope():
    says(
        NB,
        "`performance` 0.10.2 leaves the slope variance out of $\\text{var}_r$, and its "
        "conditional R² for the course's US model (below) comes out 0.299 instead of 0.305",
    )
    r_value = LME4["models"]["usa_rc"]["nakagawa"]["conditional"]
    assert rounds_to(r_value, "0.299")
    assert rounds_to(nakagawa_r2(us_model())["conditional"], "0.305")


def test_the_hsb_decomposition():
    says(
        NB,
        "the fixed effects explain 4.4% (within, `f1`) plus 12.5% (between, `f2`) of all the "
        "variance of `mathach`; random slopes 0.6%, random intercepts 5.6%, and 76.9% is "
        "residual.",
        "`cses` explains 5.4% of the differences among students of the same school, and the "
        "schools' different SES slopes another 0.8%; 93.9% is left unexplained.",
        "`meanses` explains 68.8% of the differences between schools; 31.2% remains",
    )
    shares = 100 * rights_sterba(centred()).shares
    expected = {
        ("f1", "total"): "4.4",
        ("f2", "total"): "12.5",
        ("v", "total"): "0.6",
        ("m", "total"): "5.6",
        ("sigma2", "total"): "76.9",
        ("f1", "within"): "5.4",
        ("v", "within"): "0.8",
        ("sigma2", "within"): "93.9",
        ("f2", "between"): "68.8",
        ("m", "between"): "31.2",
    }
    for (row, column), printed in expected.items():
        assert rounds_to(shares.at[row, column], printed), (row, column)


def test_the_links_between_the_measures():
    says(
        NB,
        "Nakagawa's two R² are the framework's total shares (to the fourth decimal). The PRVs "
        "come close to their within and between shares (0.062 against 0.061, and 0.687 against "
        "0.688)",
    )
    r2 = rights_sterba(centred()).r2
    nk = nakagawa_r2(centred())
    assert f"{nk['marginal']:.4f}" == f"{r2.at['f', 'total']:.4f}"
    assert f"{nk['conditional']:.4f}" == f"{r2.at['fvm', 'total']:.4f}"
    prv = proportional_reduction(anova(), centred())
    assert rounds_to(prv["Residual"], "0.062") and rounds_to(r2.at["fv", "within"], "0.061")
    assert rounds_to(prv["Var(Intercept)"], "0.687")
    assert rounds_to(r2.at["f2", "between"], "0.688")


def test_the_us_model():
    says(
        NB,
        "The fixed effects explain less than 1% of the variance of `math` (`f` = 0.0088), far "
        "below the OLS R² of 0.039 of notebook 02: the HLM's college coefficient (0.16) is "
        "mostly the within-school effect, while OLS's (0.35) also carries",
        "the random intercepts take 29.0% of the variance (`m`), the college slopes 0.6% (`v`), "
        "so the conditional R² (`fvm`) is 0.305",
        "0/1 indicators that are not centred within schools",
    )
    parts = rights_sterba(us_model())
    assert not parts.centred
    r2 = parts.r2["total"]
    assert rounds_to(r2["f"], "0.0088") and r2["f"] < 0.01
    ols = hlm.fit_ols(hlm.load_timss("USA"), "math ~ college + boy")
    assert rounds_to(ols.r2, "0.039")
    assert rounds_to(us_model().fixed.loc["college", "estimate"], "0.16")
    assert rounds_to(ols.fixed.loc["college", "estimate"], "0.35")
    # "mostly the within-school effect": nearer the within coefficient of the centred model
    # (exercise 3) than its between coefficient (within + contextual)
    within, between = _us_centred_coefficients()
    hlm_college = us_model().fixed.loc["college", "estimate"]
    assert abs(hlm_college - within) < abs(hlm_college - between) / 10
    assert rounds_to(100 * r2["m"], "29.0") and rounds_to(100 * r2["v"], "0.6")
    assert rounds_to(r2["fvm"], "0.305")
    assert set(np.unique(hlm.load_timss("USA")[["college", "boy"]].dropna())) == {0, 1}


@cache
def _us_centred():
    us = hlm.load_timss("USA").dropna(subset=["college", "boy"])
    for column in ("college", "boy"):
        us = hlm.center(us, column, group="school", kind="group")
        us = hlm.school_mean(us, column, "school")
    model = hlm.fit_hlm(
        us,
        "math ~ college_cwc + boy_cwc + college_mean + boy_mean",
        group="school",
        random=["college_cwc"],
        covariance="vc",
    )
    return us, model


def _us_centred_coefficients() -> tuple[float, float]:
    gamma = _us_centred()[1].fixed["estimate"]
    return gamma["college_cwc"], gamma["college_cwc"] + gamma["college_mean"]


def test_different_samples():
    says(NB, "the one-way ANOVA uses 6944 students and the model 6943")
    usa = hlm.load_timss("USA")
    assert hlm.fit_hlm(usa, "math ~ 1", group="school").n_obs == 6944
    assert us_model().n_obs == 6943
    with pytest.raises(hlm.ModelInputError, match="different students"):
        proportional_reduction(hlm.fit_hlm(usa, "math ~ 1", group="school"), us_model())


def test_refusals_named_in_the_traps():
    says(NB, "the functions refuse a REML baseline with an ML model")
    ml = hlm.fit_hlm(hsb(), "mathach ~ meanses", group="school", method="ML")
    with pytest.raises(hlm.ModelInputError, match="same method"):
        proportional_reduction(anova(), ml)


def test_summary():
    says(
        NB,
        r"On HSB, `meanses` accounts for 69% of $\tau_{00}$, and `cses` for 5.5% of $\sigma^2$ "
        r"while $\tau_{00}$ *grows*",
        "predicts a student (0.169 for `ses` + `meanses`) and a school's mean (0.624)",
    )


def test_exercise_14_1_solution():
    says(
        NB,
        "proportional_reduction(anova, both)     # Var(Intercept) 0.731, Residual -0.0003",
        "account for 73% of the between-school variance of the one-way ANOVA, 4 points more "
        "than `meanses` alone (69%)",
        "$\\sigma^2$ does not change (-0.0003 is noise)",
    )
    both = proportional_reduction(anova(), fit("mathach ~ meanses + sector"))
    alone = proportional_reduction(anova(), fit("mathach ~ meanses"))
    assert rounds_to(both["Var(Intercept)"], "0.731")
    assert rounds_to(both["Residual"], "-0.0003")
    assert rounds_to(100 * both["Var(Intercept)"], "73")
    assert rounds_to(100 * (both["Var(Intercept)"] - alone["Var(Intercept)"]), "4")
    assert solution_value("14.1") == pytest.approx(both["Var(Intercept)"])


def test_exercise_14_2_solution():
    says(
        NB,
        "nakagawa_r2(kr)     # marginal 0.043, conditional 0.071",
        "In Korea the conditional R² is 0.071, against 0.305 in the USA, although the marginal "
        "R² is higher (0.043 against 0.009). Korean schools differ little (their ICC is about "
        "0.06)",
        "Compare it with the USA's 0.305",
    )
    korea = hlm.load_timss("Korea")
    kr = hlm.fit_hlm(
        korea, "math ~ college + boy", group="school", random=["college"], covariance="vc"
    )
    nk = nakagawa_r2(kr)
    assert rounds_to(nk["marginal"], "0.043") and rounds_to(nk["conditional"], "0.071")
    assert rounds_to(nakagawa_r2(us_model())["marginal"], "0.009")
    assert rounds_to(hlm.fit_hlm(korea, "math ~ 1", group="school").icc, "0.06")
    assert solution_value("14.2") == pytest.approx(nk["conditional"])


def test_exercise_14_3_solution():
    says(
        NB,
        "parts.r2                # between f2 = 0.314; total f = 0.104",
        "explain 31% of the differences between US schools (almost all of it through "
        "`college_mean`), and the fixed part now explains 10% of all the variance, against less "
        "than 1% in the course's model",
        "Within schools the two predictors explain 0.9%.",
    )
    us, model = _us_centred()
    parts = rights_sterba(model)
    assert parts.centred
    r2 = parts.r2
    assert rounds_to(r2.at["f2", "between"], "0.314") and rounds_to(r2.at["f", "total"], "0.104")
    assert rounds_to(100 * r2.at["f2", "between"], "31")
    assert rounds_to(100 * r2.at["f", "total"], "10")
    assert rounds_to(100 * r2.at["f1", "within"], "0.9")
    # "almost all of it through college_mean": its part alone is over 90% of f2
    gamma = model.fixed["estimate"]
    college_part = gamma["college_mean"] ** 2 * us["college_mean"].var(ddof=1)
    assert college_part / parts.components["f2"] > 0.9
    assert solution_value("14.3") == pytest.approx(r2.at["f2", "between"])


def test_a_school_level_predictor_moves_f2_and_m_only():
    says(
        NB,
        "(b). A school-level predictor is constant within each school, so it enters `f2` and "
        "takes its share from `m`",
        "(they move only a little, through re-estimation)",
    )
    before = rights_sterba(centred()).components
    after = rights_sterba(fit("mathach ~ cses + meanses + sector", ("cses",))).components
    assert after["f2"] > before["f2"] and after["m"] < before["m"]
    for part in ("f1", "v", "sigma2"):  # within-school parts: under 3% relative change
        assert abs(after[part] / before[part] - 1) < 0.03


def test_v_and_m_with_uncentred_predictors():
    says(
        NB,
        "These formulas for `v` and `m` assume that the predictors with random slopes are "
        "centred within schools.",
        "With uncentred ones, `v` uses their total covariance matrix, and `m` is the variance "
        "of the schools' random effects at the predictors' means, not $\\tau_{00}$ alone: for "
        "the US model below, $\\tau_{00} + \\tau_{11} \\times (\\text{mean of college})^2 = "
        "0.1963$ against $\\tau_{00} = 0.1944$.",
    )
    # centred (HSB, cses): m is tau00 and v is tau11 times the variance of cses
    hsb_fit = centred()
    hsb_parts = rights_sterba(hsb_fit).components
    assert hsb_parts["m"] == pytest.approx(hsb_fit.tau.loc["Intercept", "Intercept"], rel=1e-6)
    cses_variance = hsb()["cses"].var(ddof=0)
    assert hsb_parts["v"] == pytest.approx(
        hsb_fit.tau.loc["cses", "cses"] * cses_variance, rel=1e-3
    )
    # uncentred (the US model, covariance "vc"): m and v at the predictor's mean and total spread
    model = us_model()
    college = hlm.load_timss("USA").dropna(subset=["college", "boy"])["college"]
    tau00, tau11 = model.tau.loc["Intercept", "Intercept"], model.tau.loc["college", "college"]
    parts = rights_sterba(model).components
    assert parts["m"] == pytest.approx(tau00 + tau11 * college.mean() ** 2, rel=1e-6)
    assert parts["v"] == pytest.approx(tau11 * college.var(ddof=0), rel=1e-3)
    assert rounds_to(tau00 + tau11 * college.mean() ** 2, "0.1963") and rounds_to(tau00, "0.1944")
