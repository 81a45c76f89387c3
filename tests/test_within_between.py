"""Within, between, random-effects estimators, Hausman and Mundlak against R's plm and lme4.

The fixture tests/fixtures/fixed_or_random.json is made by tests/reference/fixed_or_random.R
(plm 2.6.2: within, between, random with Swamy-Arora, phtest; lme4 1.1.31: the Mundlak
model by REML at tight tolerances) on the shipped synthetic TIMSS data and on HSB.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hlmteach as hlm
from hlmteach.validation import ModelInputError
from hlmteach.within_between import (
    between_estimator,
    compare_estimators,
    hausman_test,
    mundlak_model,
    random_effects_estimator,
    random_effects_weights,
    within_estimator,
)

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "fixed_or_random.json").read_text())
CASES = {
    "timss_korea": ("math", ["college", "boy"]),
    "timss_usa": ("math", ["college", "boy"]),
    "hsb": ("mathach", ["ses", "female", "minority"]),
}

# Tolerances. The within, between and random-effects estimators are closed form (least
# squares on the same rows, the same moment equations as plm), so they agree with plm to
# rounding error: 1e-9 relative covers the different order of summation. The Mundlak model
# is an iterative REML fit on both sides (lme4 at rhoend 1e-12); its estimates agree to
# about 1e-9 and its SEs to about 1e-8 relative, so 1e-6 leaves room for a different
# optimiser path without hiding a real difference (a wrong df or variance moves SEs by 1e-3).
CLOSED_FORM = 1e-9
REML = 1e-6


@cache
def _data(case: str) -> pd.DataFrame:
    if case == "hsb":
        return hlm.load_hsb()
    return hlm.load_timss("Korea" if case == "timss_korea" else "USA")


def _term(name: str) -> str:
    return "Intercept" if name == "(Intercept)" else name


def _agree(table: pd.DataFrame, reference: dict, rtol: float) -> None:
    assert [_term(n) for n in reference] == list(table.index)
    for name, ref in reference.items():
        row = table.loc[_term(name)]
        assert row["estimate"] == pytest.approx(ref["estimate"], rel=rtol, abs=1e-12)
        assert row["se"] == pytest.approx(ref["se"], rel=rtol)


@pytest.mark.parametrize("case", CASES)
def test_the_estimators_agree_with_plm(case):
    outcome, predictors = CASES[case]
    ref = FIXTURE["cases"][case]
    data = _data(case)
    within = within_estimator(data, outcome, predictors, "school")
    between = between_estimator(data, outcome, predictors, "school")
    random = random_effects_estimator(data, outcome, predictors, "school")
    assert (within.n_obs, within.n_groups) == (ref["n_obs"], ref["n_groups"])
    _agree(within.table, ref["within"], CLOSED_FORM)
    _agree(within.table, ref["dummies"], CLOSED_FORM)  # lm with a dummy per school
    assert within.df_residual == ref["dummies_df_residual"]
    _agree(between.table, ref["between"], CLOSED_FORM)
    _agree(random.table, ref["random"], CLOSED_FORM)
    components = random.variance_components
    assert components["sigma2"] == pytest.approx(ref["random_sigma2"]["idiosyncratic"], rel=1e-9)
    assert components["tau00"] == pytest.approx(ref["random_sigma2"]["school"], rel=1e-9)
    theta = random.theta
    assert theta.min() == pytest.approx(ref["random_theta"]["min"], rel=1e-9)
    assert theta.max() == pytest.approx(ref["random_theta"]["max"], rel=1e-9)
    per_student = np.repeat(
        theta.to_numpy(),
        np.bincount(
            pd.factorize(data.dropna(subset=[outcome, *predictors])["school"], sort=True)[0]
        ),
    )
    assert per_student.mean() == pytest.approx(ref["random_theta"]["mean_over_students"], rel=1e-9)
    test = hausman_test(within, random)
    assert test.statistic == pytest.approx(ref["hausman"]["statistic"], rel=1e-9)
    assert test.df == ref["hausman"]["df"]
    assert test.p_value == pytest.approx(ref["hausman"]["p_value"], rel=1e-6)


@pytest.mark.parametrize("case", CASES)
def test_the_mundlak_model_agrees_with_lme4(case):
    outcome, predictors = CASES[case]
    ref = FIXTURE["cases"][case]["mundlak"]
    model = mundlak_model(_data(case), outcome, predictors, "school")
    _agree(model.fit.fixed, ref["fixed"], REML)
    assert model.fit.tau.iloc[0, 0] == pytest.approx(ref["tau00"], rel=REML)
    assert model.fit.sigma2 == pytest.approx(ref["sigma2"], rel=REML)
    assert model.fit.deviance <= ref["reml_deviance"] + 1e-6  # never a worse optimum
    assert model.wald.statistic == pytest.approx(ref["wald_means"]["statistic"], rel=REML)
    assert model.wald.df == ref["wald_means"]["df"]
    # the within coefficients are the within estimator's, exactly (Mundlak 1978)
    within = within_estimator(_data(case), outcome, predictors, "school")
    np.testing.assert_allclose(model.effects["within"], within.slopes, rtol=1e-8)
    np.testing.assert_allclose(
        model.effects["between"], model.effects["within"] + model.effects["contextual"]
    )


@pytest.mark.parametrize("case", CASES)
def test_random_effects_are_a_weighted_average_of_within_and_between(case):
    outcome, predictors = CASES[case]
    data = _data(case)
    parts = random_effects_weights(data, outcome, predictors, "school")
    random = random_effects_estimator(data, outcome, predictors, "school")
    np.testing.assert_allclose(parts.random_effects, random.slopes, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        parts.within, within_estimator(data, outcome, predictors, "school").slopes, rtol=1e-12
    )
    # with REML's variances the same average is fit_hlm's GLS slope
    complete = data.dropna(subset=[outcome, *predictors])
    reml = hlm.fit_hlm(complete, f"{outcome} ~ {' + '.join(predictors)}", group="school")
    with_reml = random_effects_weights(data, outcome, predictors, "school", variances=reml)
    np.testing.assert_allclose(
        with_reml.random_effects, reml.fixed.loc[predictors, "estimate"], rtol=1e-8
    )


def test_compare_estimators_collects_the_five_slopes():
    data = _data("timss_usa")
    table = compare_estimators(data, "math", ["college", "boy"], "school")
    ref = FIXTURE["cases"]["timss_usa"]
    assert table.loc["college", "pooled OLS"] == pytest.approx(ref["ols"]["college"]["estimate"])
    assert table.loc["college", "between"] == pytest.approx(ref["between"]["college"]["estimate"])
    assert table.loc["college", "within"] == pytest.approx(ref["within"]["college"]["estimate"])
    assert table.loc["college", "random effects"] == pytest.approx(
        ref["random"]["college"]["estimate"]
    )


def _panel(seed: int, n_schools: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 9, size=n_schools)
    school = np.repeat(np.arange(n_schools), sizes)
    u = rng.normal(size=n_schools)
    x = rng.normal(size=school.size) + 0.8 * u[school]
    z = rng.binomial(1, 0.5, size=school.size).astype(float)
    y = 1.0 + 0.5 * x - 0.3 * z + u[school] + rng.normal(size=school.size)
    return pd.DataFrame({"y": y, "x": x, "z": z, "school": school})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    scale=st.sampled_from([1e-6, 1e-3, 0.5, 7.0, 1e4, 1e8]),
    shift_in_sds=st.floats(-1e4, 1e4),
)
def test_rescaling_and_shifting_a_predictor_maps_the_slopes_exactly(seed, scale, shift_in_sds):
    """x -> a x + b divides x's slope by a and leaves the other slope unchanged.

    The shift is at most 1e4 of x's new SDs: beyond that, float64 itself cannot hold the
    spread of x to 1e-6 (a shift of 3e4 with an SD of 1e-6 keeps only 5 digits of it).
    """
    base = _panel(seed)
    moved = base.assign(x=base["x"] * scale + shift_in_sds * scale)
    for estimator in (within_estimator, between_estimator, random_effects_estimator):
        a = estimator(base, "y", ["x", "z"], "school")
        b = estimator(moved, "y", ["x", "z"], "school")
        assert b.slopes["x"] * scale == pytest.approx(a.slopes["x"], rel=1e-6)
        assert b.slopes["z"] == pytest.approx(a.slopes["z"], rel=1e-6, abs=1e-9)
        assert b.table.loc["x", "t"] == pytest.approx(a.table.loc["x", "t"], rel=1e-6)
    test_a = hausman_test(
        within_estimator(base, "y", ["x", "z"], "school"),
        random_effects_estimator(base, "y", ["x", "z"], "school"),
    )
    test_b = hausman_test(
        within_estimator(moved, "y", ["x", "z"], "school"),
        random_effects_estimator(moved, "y", ["x", "z"], "school"),
    )
    assert test_b.statistic == pytest.approx(test_a.statistic, rel=1e-5)


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000), scale=st.sampled_from([1e-3, 3.0, 1e5]), shift=st.floats(-1e4, 1e4)
)
def test_rescaling_the_outcome_rescales_every_slope(seed, scale, shift):
    base = _panel(seed)
    moved = base.assign(y=base["y"] * scale + shift)
    for estimator in (within_estimator, between_estimator, random_effects_estimator):
        a = estimator(base, "y", ["x", "z"], "school").slopes
        b = estimator(moved, "y", ["x", "z"], "school").slopes
        np.testing.assert_allclose(b / scale, a, rtol=1e-6, atol=1e-9)


def test_school_labels_and_row_order_do_not_matter():
    base = _panel(3)
    shuffled = base.sample(frac=1.0, random_state=1).assign(
        school=lambda d: "s" + (100 - d["school"]).astype(str)
    )
    for estimator in (within_estimator, between_estimator, random_effects_estimator):
        np.testing.assert_allclose(
            estimator(shuffled, "y", ["x", "z"], "school").slopes,
            estimator(base, "y", ["x", "z"], "school").slopes,
            rtol=1e-10,
        )


def test_rows_with_a_missing_value_are_left_out_and_counted():
    data = _panel(5)
    data.loc[[0, 3], "x"] = np.nan
    within = within_estimator(data, "y", ["x", "z"], "school")
    assert within.n_dropped == 2 and within.n_obs == len(data) - 2
    complete = within_estimator(data.dropna(), "y", ["x", "z"], "school")
    np.testing.assert_allclose(within.slopes, complete.slopes)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d: within_estimator(d, "y", ["x", "w"], "school"), "do not vary within any"),
        (lambda d: within_estimator(d, "y", [], "school"), "predictors is empty"),
        (lambda d: within_estimator(d, "y", ["x"], "klass"), "['klass']"),
        (lambda d: within_estimator(d, "y", ["label"], "school"), "is not numeric"),
        (lambda d: within_estimator(d, "y", ["y"], "school"), "named as a predictor"),
        (lambda d: within_estimator(d.iloc[:0], "y", ["x"], "school"), "has no rows"),
        (lambda d: within_estimator(d, "y", "x ~ z", "school"), "formula syntax"),
        (lambda d: between_estimator(d, "y", ["x_cwc"], "school"), "same in every school"),
        (lambda d: between_estimator(d[d["school"] < 2], "y", ["x"], "school"), "at least 3"),
        (lambda d: random_effects_estimator(d, "y", ["x"], ["school"]), "one column"),
        (lambda d: mundlak_model(d, "y", ["w"], "school"), "do not vary within any"),
        (
            lambda d: within_estimator(d.groupby("school").head(1), "y", ["x"], "school"),
            "do not vary within any",
        ),
    ],
)
def test_bad_input_gets_a_clear_error(call, message):
    data = _panel(7).assign(label="a")
    data["w"] = data.groupby("school")["x"].transform("mean")
    data["x_cwc"] = data["x"] - data["w"]
    with pytest.raises(ModelInputError, match=None) as raised:
        call(data)
    assert message in str(raised.value)


def test_hausman_needs_a_within_and_a_random_effects_estimate_of_the_same_model():
    data = _panel(9)
    within = within_estimator(data, "y", ["x", "z"], "school")
    random = random_effects_estimator(data, "y", ["x", "z"], "school")
    with pytest.raises(ModelInputError, match="within estimate first"):
        hausman_test(random, within)
    with pytest.raises(ModelInputError, match="not of the same slopes"):
        hausman_test(within, random_effects_estimator(data, "y", ["x"], "school"))
    with pytest.raises(ModelInputError, match="random-intercept fit"):
        random_effects_weights(data, "y", ["x"], "school", variances=random)


def test_the_within_estimator_equals_ols_with_school_dummies():
    data = _panel(11)
    dummies = hlm.fit_ols(data, "y ~ x + z + C(school)")
    within = within_estimator(data, "y", ["x", "z"], "school")
    np.testing.assert_allclose(within.slopes, dummies.fixed.loc[["x", "z"], "estimate"], rtol=1e-10)
    np.testing.assert_allclose(within.table["se"], dummies.fixed.loc[["x", "z"], "se"], rtol=1e-10)
    assert within.df_residual == dummies.fixed.loc["x", "df"]
