"""Every number and claim about the data in notebook 15's prose, recomputed.

Each test finds its sentence with ``says`` (a reworded claim fails and must be checked
again) and recomputes the claim from the package and the shipped data, with a tolerance
that matches the printed rounding.
"""

from __future__ import annotations

import ast
import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from prose import says

import hlmteach as hlm
from hlmteach.within_between import (
    between_estimator,
    hausman_test,
    mundlak_model,
    random_effects_estimator,
    random_effects_weights,
    within_estimator,
)

NB = "15_fixed_or_random.ipynb"
X = ["college", "boy"]
COUNTRIES = ("Korea", "USA")
ROOT = Path(__file__).resolve().parents[1]
FIXTURE = json.loads((ROOT / "tests" / "fixtures" / "fixed_or_random.json").read_text())


@cache
def part(country: str) -> pd.DataFrame:
    return hlm.load_timss(country).dropna(subset=["college"])


@cache
def within(country: str):
    return within_estimator(part(country), "math", X, "school")


@cache
def between(country: str):
    return between_estimator(part(country), "math", X, "school")


@cache
def random(country: str):
    return random_effects_estimator(part(country), "math", X, "school")


@cache
def reml(country: str):
    return hlm.fit_hlm(part(country), "math ~ college + boy", group="school")


@cache
def weights(country: str, variances: str):
    fit = reml(country) if variances == "REML" else None
    return random_effects_weights(part(country), "math", X, "school", variances=fit)


@cache
def mundlak(country: str):
    return mundlak_model(part(country), "math", X, "school")


@cache
def ols(country: str) -> pd.Series:
    return hlm.fit_ols(part(country), "math ~ college + boy").fixed["estimate"]


@cache
def contextual_09(country: str):
    """Notebook 09's contextual-effect model (college within and between; boy as it is)."""
    data = hlm.load_timss(country)
    return hlm.contextual_effect(data, "math", "college", "school", covariates=["boy"]).table


@cache
def hsb() -> pd.DataFrame:
    return hlm.load_hsb()


def test_the_notebook_09_numbers_it_starts_from():
    says(
        NB,
        "Notebook 09 found a within-school college effect of 0.148 in the USA and an OLS "
        "effect of 0.353.",
    )
    assert f"{contextual_09('USA').loc['within', 'estimate']:.3f}" == "0.148"
    assert f"{ols('USA')['college']:.3f}" == "0.353"
    says(NB, "A regression with 183 US school dummies")
    assert within("USA").n_groups == 183


def test_dummies_and_within_estimator_are_the_same_numbers():
    says(
        NB,
        "The two are the same numbers, estimate, standard error and degrees of freedom "
        "(students - schools - slopes).",
    )
    usa = part("USA")
    ten = usa[usa["school"].isin(sorted(usa["school"].unique())[:10])]
    dummies = hlm.fit_ols(ten, "math ~ college + boy + C(school)").fixed.loc[X]
    centred = within_estimator(ten, "math", X, "school")
    np.testing.assert_allclose(centred.table["estimate"], dummies["estimate"], rtol=1e-9)
    np.testing.assert_allclose(centred.table["se"], dummies["se"], rtol=1e-9)
    assert (dummies["df"] == centred.df_residual).all()
    assert centred.df_residual == len(ten) - ten["school"].nunique() - 2


def test_within_slopes_are_09s_within_effects_and_below_ols():
    says(
        NB,
        "The within college slopes are 0.343 in Korea and 0.148 in the USA: to within "
        "0.001, the **within-school effects** of notebook 09's contextual-effect model "
        "(0.344 and 0.148 there). In both countries OLS is far above them",
    )
    assert f"{within('Korea').slopes['college']:.3f}" == "0.343"
    assert f"{within('USA').slopes['college']:.3f}" == "0.148"
    for country, printed in (("Korea", "0.344"), ("USA", "0.148")):
        nine = contextual_09(country).loc["within", "estimate"]
        assert f"{nine:.3f}" == printed
        assert abs(nine - within(country).slopes["college"]) < 0.001
        assert ols(country)["college"] > 1.5 * within(country).slopes["college"]


def test_boy_slopes_hardly_move():
    says(NB, "The boy slopes hardly move")
    for country in COUNTRIES:
        assert abs(ols(country)["boy"] - within(country).slopes["boy"]) < 0.02


def test_a_school_level_predictor_cannot_be_estimated_with_dummies():
    says(NB, "has no within-school variation left, and cannot be estimated")
    shares = hlm.school_mean(part("USA"), "college", "school", name="college_share")
    with pytest.raises(hlm.ModelInputError, match="do not vary within any school"):
        within_estimator(shares, "math", ["college", "boy", "college_share"], "school")
    says(NB, "the same problem shows as exact collinearity")
    with pytest.raises(hlm.ModelInputError, match="collinear"):
        hlm.fit_ols(
            shares[shares["school"].isin(sorted(shares["school"].unique())[:10])],
            "math ~ college + boy + college_share + C(school)",
        )


def test_between_slopes():
    says(
        NB,
        "The between college slope is several times the within slope in both countries "
        "(0.943 against 0.343 in Korea, 1.392 against 0.148 in the USA)",
    )
    assert f"{between('Korea').slopes['college']:.3f}" == "0.943"
    assert f"{between('USA').slopes['college']:.3f}" == "1.392"
    for country in COUNTRIES:
        assert between(country).slopes["college"] > 2.5 * within(country).slopes["college"]
        # 09's precision-weighted between effect differs "a little"
        nine = contextual_09(country).loc["between", "estimate"]
        assert 0 < abs(nine - between(country).slopes["college"]) < 0.05
    says(NB, "there are only 150 or 183 observations, the schools")
    assert (between("Korea").n_groups, between("USA").n_groups) == (150, 183)
    says(NB, "The US between slope of `boy` is negative with a standard error larger than itself")
    row = between("USA").table.loc["boy"]
    assert row["estimate"] < 0 and row["se"] > abs(row["estimate"])


def test_random_effects_weights():
    says(
        NB,
        "**USA**: the between part gets about 1% of the weight, and $\\kappa_j$ is about "
        "0.7 in a typical school",
    )
    for variances in ("REML", "Swamy-Arora"):
        assert 0.005 < weights("USA", variances).weight.loc["college", "college"] < 0.02
    assert round(random("USA").theta.median(), 1) == 0.7
    says(
        NB,
        "**Korea**: the between part keeps about a fifth of the weight (with REML's "
        "variances; a little more with Swamy–Arora's), $\\kappa_j$ is small, and the "
        "random-effects slope lies between the within and the between slope, closer to "
        "OLS.",
    )
    remlw = weights("Korea", "REML").weight.loc["college", "college"]
    saw = weights("Korea", "Swamy-Arora").weight.loc["college", "college"]
    assert 0.17 < remlw < 0.23 and remlw < saw < remlw + 0.06
    assert random("Korea").theta.max() < 0.25
    for slope in (
        random("Korea").slopes["college"],
        reml("Korea").fixed.loc["college", "estimate"],
    ):
        assert within("Korea").slopes["college"] < slope < between("Korea").slopes["college"]
        assert abs(slope - ols("Korea")["college"]) < abs(slope - within("Korea").slopes["college"])
    says(NB, "The weighted average reproduces `fit_hlm`'s college slope to every digit shown.")
    for country in COUNTRIES:
        average = weights(country, "REML").random_effects["college"]
        assert f"{average:.4f}" == f"{reml(country).fixed.loc['college', 'estimate']:.4f}"
    says(NB, "the between slopes are several times the within slopes")


def test_quick_check_on_the_design():
    """The quick check's reasons: (b) is the USA, (a) is Korea."""
    says(
        NB,
        "With large $n_j$ and large $\\tau_{00}$, $\\kappa_j$ is close to 1 and the between "
        "part's weight close to 0, as in the USA.",
        "In (a) $\\tau_{00}$ is small compared with $\\sigma^2/n_j$, so a school's mean carries "
        "little of its own $u_{0j}$: the model treats the school means almost as OLS does, and "
        "the between part keeps much weight, as in Korea.",
    )
    typical = {c: part(c).groupby("school").size().median() for c in COUNTRIES}
    korea, usa = reml("Korea"), reml("USA")
    assert korea.tau.iloc[0, 0] < korea.sigma2 / typical["Korea"]
    assert usa.tau.iloc[0, 0] > 5 * usa.sigma2 / typical["USA"]
    assert random("USA").theta.median() > 0.5 > random("Korea").theta.max()
    weight = {c: weights(c, "REML").weight.loc["college", "college"] for c in COUNTRIES}
    assert weight["Korea"] > 10 * weight["USA"]


def test_hausman():
    says(NB, "in both countries $p < 0.0001$")
    for country in COUNTRIES:
        assert hausman_test(within(country), random(country)).p_value < 1e-4
    says(
        NB, "In the USA, $\\widehat V_{\\text{W}} - \\widehat V_{\\text{RE}}$ is negative for `boy`"
    )
    diff = within("USA").covariance.loc["boy", "boy"] - random("USA").covariance.loc["boy", "boy"]
    assert diff < 0
    assert np.isnan(
        hausman_test(within("USA"), random("USA")).difference.loc["boy", "se of difference"]
    )


def test_predict_the_mundlak_slope():
    says(
        NB,
        "Will the Mundlak model's college slope equal the dummy model's within slope (0.148 in "
        "the USA), the random-effects slope (0.168), or lie between them?",
    )
    assert f"{within('USA').slopes['college']:.3f}" == "0.148"
    assert f"{random('USA').slopes['college']:.3f}" == "0.168"


def test_mundlak_effects():
    says(NB, "the Mundlak model's college and boy slopes are the dummy model's, to six decimals")
    for country in COUNTRIES:
        np.testing.assert_allclose(
            mundlak(country).effects["within"], within(country).slopes, atol=5e-7
        )
    says(
        NB,
        "the college between effect (0.962 in Korea, 1.393 in the USA) and the contextual "
        "effect (0.618 and 1.245) are, within 0.003, notebook 09's numbers (09's model had "
        "no school mean of `boy`). The boy contextual effects are smaller than their "
        "standard errors in both countries.",
    )
    printed = {"Korea": ("0.962", "0.618"), "USA": ("1.393", "1.245")}
    for country, (b, c) in printed.items():
        effects = mundlak(country).effects
        assert f"{effects.loc['college', 'between']:.3f}" == b
        assert f"{effects.loc['college', 'contextual']:.3f}" == c
        nine = contextual_09(country)
        assert abs(nine.loc["between", "estimate"] - effects.loc["college", "between"]) < 0.003
        assert (
            abs(nine.loc["contextual", "estimate"] - effects.loc["college", "contextual"]) < 0.003
        )
        assert abs(effects.loc["boy", "contextual"]) < effects.loc["boy", "se contextual"]


def test_mundlak_wald_and_hausman():
    says(
        NB,
        "**The Wald test** rejects, as Hausman's did, but it says *which* school means "
        "matter and by how much (the college share, by a large contextual effect; not the "
        "share of boys). In the USA its statistic (61) is far below Hausman's (155)",
    )
    for country in COUNTRIES:
        wald = mundlak(country).wald
        assert wald.p_value < 1e-4
        z = wald.difference["contextual"] / wald.difference["se"]
        assert abs(z["college_mean"]) > 5 and abs(z["boy_mean"]) < 1
    assert round(mundlak("USA").wald.statistic) == 61
    assert round(hausman_test(within("USA"), random("USA")).statistic) == 155
    says(
        NB,
        "the two tests agree only approximately, and mainly near the null hypothesis: they use "
        "different variance estimates (REML here, Swamy–Arora's there), the schools differ in "
        "size, and Hausman's leans on the fragile variance difference of section 4.",
    )
    assert mundlak("USA").fit.method == "REML"
    swamy_arora, reml_tau = random("USA").variance_components["tau00"], mundlak("USA").fit.tau
    assert abs(swamy_arora - reml_tau.iloc[0, 0]) > 1e-3
    sizes = part("USA").groupby("school").size()
    assert sizes.min() < sizes.max() / 5


def test_school_variance_falls_with_the_means_and_swamy_arora_is_close_to_mundlak():
    says(
        NB,
        "The school variance of the Mundlak model is smaller than that of the "
        "random-intercept model without the means",
    )
    says(NB, "The Swamy–Arora $\\tau_{00}$ is close to the Mundlak one, not to REML's")
    for country in COUNTRIES:
        plain = reml(country).tau.iloc[0, 0]
        with_means = mundlak(country).fit.tau.iloc[0, 0]
        swamy_arora = random(country).variance_components["tau00"]
        assert with_means < plain
        assert abs(swamy_arora - with_means) < abs(swamy_arora - plain) / 3


def test_hsb_sector():
    says(NB, "In HSB, Catholic schools have higher mean SES and higher achievement")
    data = hsb()
    by_sector = data.groupby("sector")[["ses", "mathach"]].mean()
    assert (by_sector.loc[1] > by_sector.loc[0]).all()  # sector 1 = Catholic
    model = mundlak_model(data, "mathach", ["ses"], "school", school_level=["sector"])
    fixed = model.fit.fixed
    says(
        NB,
        "The SES slope is the within effect of the dummy model (2.191, R&B's number from "
        "notebook 09)",
    )
    assert f"{fixed.loc['ses', 'estimate']:.3f}" == "2.191"
    assert fixed.loc["ses", "estimate"] == pytest.approx(
        within_estimator(data, "mathach", ["ses"], "school").slopes["ses"], abs=1e-7
    )
    says(
        NB,
        "(157: 160 schools minus 3 school-level coefficients). Catholic schools score "
        "about 1.2 points higher than public schools with the same mean SES",
    )
    assert fixed.loc["sector", "df"] == 157 and model.fit.n_groups == 160
    assert round(fixed.loc["sector", "estimate"], 1) == 1.2


def test_r_check_numbers_match_the_fixture():
    says(NB, "(plm 2.6.2, lme4 1.1.31)")
    assert FIXTURE["provenance"]["packages"]["plm"] == "2.6.2"
    assert FIXTURE["provenance"]["packages"]["lme4"] == "1.1.31"
    says(NB, "Every number agrees to the digits shown")
    ref = FIXTURE["cases"]["timss_usa"]
    expected = {
        "within: college": ref["within"]["college"]["estimate"],
        "within: SE of college": ref["within"]["college"]["se"],
        "between: college": ref["between"]["college"]["estimate"],
        "random effects: college": ref["random"]["college"]["estimate"],
        "random effects: SE of college": ref["random"]["college"]["se"],
        "Swamy-Arora sigma2": ref["random_sigma2"]["idiosyncratic"],
        "Swamy-Arora tau00": ref["random_sigma2"]["school"],
        "Hausman chi-square": ref["hausman"]["statistic"],
        "Mundlak: college_mean": ref["mundlak"]["fixed"]["college_mean"]["estimate"],
        "Mundlak: SE of college_mean": ref["mundlak"]["fixed"]["college_mean"]["se"],
        "Mundlak Wald chi-square": ref["mundlak"]["wald_means"]["statistic"],
    }
    cells = json.loads((ROOT / "notebooks" / NB).read_text())["cells"]
    source = next("".join(c["source"]) for c in cells if "r_printed = [" in "".join(c["source"]))
    listing = source[source.index("r_printed = [") + len("r_printed = ") :]
    listing = listing[: listing.index("]\n") + 1]
    printed = {}
    for item in ast.parse(listing, mode="eval").body.elts:
        quantity, value = item.elts[0].value, item.elts[2].value
        printed[quantity] = value
    assert set(printed) == set(expected)
    for quantity, value in printed.items():
        decimals = len(value.split(".")[1])
        assert value == f"{expected[quantity]:.{decimals}f}", quantity


def test_summary():
    says(
        NB,
        "In the USA it is almost the within slope; in Korea the between part keeps about "
        "a fifth of the weight.",
    )
    says(NB, "its variance difference can even be negative")
    # both recomputed in test_random_effects_weights and test_hausman


@cache
def hsb_two():
    data = hsb()
    return (
        within_estimator(data, "mathach", ["ses", "minority"], "school"),
        random_effects_estimator(data, "mathach", ["ses", "minority"], "school"),
    )


def test_exercise_solutions():
    fe, re = hsb_two()
    says(NB, 'fe.slopes["ses"], re_hsb.slopes["ses"]       # about 1.95 and 2.19')
    says(NB, "The within slope, about 1.95, is below the random-effects slope, about 2.19.")
    assert round(fe.slopes["ses"], 2) == 1.95 and round(re.slopes["ses"], 2) == 2.19
    says(NB, "changes the within SES slope a little (from 2.19 without it)")
    alone = within_estimator(hsb(), "mathach", ["ses"], "school").slopes["ses"]
    assert round(alone, 2) == 2.19
    says(NB, "a contextual effect of about 3.7")
    assert round(contextual_for_hsb(), 1) == 3.7
    says(NB, "The Hausman statistic is about 78 on 2 df, $p < 0.0001$.")
    test = hausman_test(fe, re)
    assert round(test.statistic) == 78 and test.df == 2 and test.p_value < 1e-4
    says(
        NB,
        "the contextual effect of mean SES is large (about 3.4, eight standard errors from "
        "0), while that of the school's share of minority students (about 1.4) is barely "
        "more than two standard errors from 0.",
    )
    effects = mundlak_model(hsb(), "mathach", ["ses", "minority"], "school").effects
    z = effects["contextual"] / effects["se contextual"]
    assert round(effects.loc["ses", "contextual"], 1) == 3.4 and round(z["ses"]) == 8
    assert round(effects.loc["minority", "contextual"], 1) == 1.4 and 2 < z["minority"] < 2.5
    says(NB, "The sector coefficient is about 1.7 (compared with 1.2 with SES alone)")
    three = mundlak_model(
        hsb(), "mathach", ["ses", "female", "minority"], "school", school_level=["sector"]
    )
    assert round(three.fit.fixed.loc["sector", "estimate"], 1) == 1.7


def contextual_for_hsb() -> float:
    return hlm.contextual_effect(hsb(), "mathach", "ses", "school").table.loc[
        "contextual", "estimate"
    ]


@pytest.mark.parametrize("key", ["15.1", "15.2", "15.3"])
def test_exercise_answers_are_the_notebook_solutions(key):
    fe, re = hsb_two()
    expected = {
        "15.1": fe.slopes["ses"],
        "15.2": hausman_test(fe, re).statistic,
        "15.3": mundlak_model(
            hsb(), "mathach", ["ses", "female", "minority"], "school", school_level=["sector"]
        ).fit.fixed.loc["sector", "estimate"],
    }[key]
    assert hlm.check(key, expected).correct
    assert hlm.exercises.solution_value(key) == pytest.approx(expected)
