"""Absurd output: inputs that would give a meaningless number get a clear error instead.

A school-level predictor has no within-school effect (it was reported as -1.85e16),
negative variances make no pooled standard error, and every argument of the
variance tests, the simulations and the self-checks is checked before any work.
No numpy RuntimeWarning reaches the user.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from frames import raw_timss

import hlmteach as hlm
from hlmteach.data import tidy_timss
from hlmteach.validation import ModelInputError


@pytest.fixture(scope="module")
def hsb() -> pd.DataFrame:
    return hlm.load_hsb()


@pytest.fixture(scope="module")
def anova(hsb):
    return hlm.fit_hlm(hsb, "mathach ~ 1", group="school")


# -- contextual effects that do not exist -------------------------------------------------------
@pytest.mark.parametrize("predictor", ["meanses", "sector", "himinty", "size", "pracad", "disclim"])
def test_school_level_predictor_has_no_within_effect(hsb, predictor):
    data = hsb.copy()
    before = data.copy()
    with pytest.raises(ModelInputError, match=f"'{predictor}' does not vary within schools"):
        hlm.contextual_effect(data, "mathach", predictor, "school")
    pd.testing.assert_frame_equal(data, before)


def _schools(x, y=(1.0, 2.0, 4.0, 3.0, 2.0, 6.0)) -> pd.DataFrame:
    return pd.DataFrame({"s": [1, 1, 2, 2, 3, 3], "x": x, "y": y})


@pytest.mark.parametrize(
    ("x", "message"),
    [
        ([0.1, 0.1, 0.7, 0.7, 0.3, 0.3], "does not vary within schools"),  # noisy school means
        ([1 / 3] * 2 + [2 / 3] * 2 + [0.1] * 2, "does not vary within schools"),
        ([0.0, 1.0, 1.0, 0.0, 0.0, 1.0], "same mean of 'x'"),
        ([0.1, 0.3, 0.3, 0.1, 0.25, 0.15], "same mean of 'x'"),
        ([2.0] * 6, "takes one value"),
    ],
)
def test_predictor_without_within_or_between_variation(x, message):
    data = _schools(x)
    before = data.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ModelInputError, match=message):
            hlm.contextual_effect(data, "y", "x", "s")
    pd.testing.assert_frame_equal(data, before)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ({"predictor": "mathach"}, "same column twice"),
        ({"predictor": "school"}, "same column twice"),
        ({"mean_column": "ses"}, "same column twice"),
        ({"mean_column": "female"}, "mean_column 'female' varies within schools"),
        ({"covariates": ["ses"]}, r"repeat \['ses'\]"),
        ({"covariates": ["nope"]}, r"\['nope'\] that the data do not have"),
        ({"covariates": [3]}, "covariates must hold non-empty strings"),
        ({"random_slope": "yes"}, "random_slope must be True or False"),
        ({"predictor": "ses_text"}, "'ses_text' holds numbers stored as text"),
        ({"outcome": ["mathach"]}, "argument outcome must be the name of one column"),
    ],
)
def test_contextual_effect_bad_arguments(hsb, call, message):
    data = hsb.head(400).assign(ses_text=lambda d: d["ses"].astype(str))
    before = data.copy()
    arguments = {"outcome": "mathach", "predictor": "ses", "group": "school", **call}
    with pytest.raises(ModelInputError, match=message):
        hlm.contextual_effect(data, **arguments)
    pd.testing.assert_frame_equal(data, before)


def test_contextual_effect_covariates_as_one_string_is_one_term(hsb):
    as_string = hlm.contextual_effect(hsb, "mathach", "ses", "school", covariates="sector")
    as_list = hlm.contextual_effect(hsb, "mathach", "ses", "school", covariates=["sector"])
    pd.testing.assert_frame_equal(as_string.table, as_list.table)
    assert as_string.table.loc["contextual", "estimate"] == pytest.approx(3.14509, abs=5e-5)


def test_contextual_effect_on_small_data_warns_nothing():
    data = _schools([0.0, 1.0, 2.0, 4.0, 1.0, 0.5], [1.0, 2.0, 4.0, 3.5, 2.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ce = hlm.contextual_effect(data, "y", "x", "s")
        str(ce)
        ce._repr_html_()
    assert list(ce.table.index) == ["within", "between", "contextual"]


# -- Rubin's rules need variances that are variances ------------------------------------------
GOOD_Q = [[1.0, 2.0], [3.0, 2.5], [2.0, 2.2]]
GOOD_U = [[1.0, 0.5], [1.0, 0.5], [1.0, 0.5]]


@pytest.mark.parametrize(
    ("estimates", "variances", "message"),
    [
        ([[1.0], [3.0]], [[1.0], [-3.0]], "variances must be positive.*-3.0"),
        (GOOD_Q, [[1.0, 0.5], [1.0, -0.5], [1.0, 0.5]], "variances must be positive"),
        (GOOD_Q, [[1.0, 0.5], [1.0, np.nan], [1.0, 0.5]], "variances must be positive.*nan"),
        (GOOD_Q, [[1.0, 0.5], [np.inf, 0.5], [1.0, 0.5]], "variances must be positive.*inf"),
        (GOOD_Q, [[1.0, 0.5], [0.0, 0.5], [1.0, 0.5]], "variances must be positive"),
        ([[1.0, np.nan], [3.0, 2.0]], [[1.0, 1.0], [1.0, 1.0]], "estimates holds a value"),
        (GOOD_Q, GOOD_U[:2], "same shape"),
        (GOOD_Q, [[1.0], [1.0], [1.0]], "same shape"),
        ([[1.0, 2.0]], [[1.0, 1.0]], "at least two"),
        ([1.0], [1.0], "at least two"),
        ([[1.0], [2.0, 3.0]], [[1.0], [1.0]], "estimates must be numbers"),
        ([["a"], ["b"]], [[1.0], [1.0]], "estimates must be numbers"),
        (np.ones((2, 2, 2)), np.ones((2, 2, 2)), "3 dimensions"),
    ],
)
def test_rubin_pool_refuses_impossible_input(estimates, variances, message):
    with pytest.raises(ModelInputError, match=message):
        hlm.rubin_pool(estimates, variances)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"df_complete": -5}, "df_complete must be positive"),
        ({"df_complete": [10.0, 20.0, 30.0]}, "one number or one per parameter"),
        ({"df_complete": "many"}, "one number or one per parameter"),
        ({"names": ["a", "b", "c"]}, "3 names given for 2 parameters"),
    ],
)
def test_rubin_pool_options(options, message):
    with pytest.raises(ModelInputError, match=message):
        hlm.rubin_pool(GOOD_Q, GOOD_U, **options)


def test_rubin_pool_defined_results():
    table = hlm.rubin_pool([[1.0], [3.0]], [[1.0], [1.0]], names="x")
    assert list(table.index) == ["x"]
    assert table.loc["x", "total"] == pytest.approx(4.0)
    same = hlm.rubin_pool([[2.0], [2.0]], [[1.0], [1.0]])  # no between variance
    assert same["between"].iloc[0] == 0 and same["lambda"].iloc[0] == 0
    assert same["se"].iloc[0] == pytest.approx(1.0)


# -- variance tests: the arguments are checked before any refit -----------------------------
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_boot": 0}, "n_boot must be a whole number of at least 1"),
        ({"n_boot": -5}, "n_boot must be a whole number"),
        ({"n_boot": 2.5}, "n_boot must be a whole number"),
        ({"n_boot": True}, "n_boot must be a whole number"),
        ({"n_boot": "100"}, "n_boot must be a whole number"),
        ({"seed": -1}, "seed must be a whole number"),
        ({"seed": 1.5}, "seed must be a whole number"),
        ({"seed": "x"}, "seed must be a whole number"),
        ({"progress": "no"}, "progress must be True or False"),
        ({"random_null": ["ses"], "random_alt": []}, "subset"),
        ({"random_alt": "ses | school"}, "random_alt holds 'ses | school'"),
    ],
)
def test_bootstrap_lr_test_arguments(hsb, options, message):
    arguments = {"random_alt": ["ses"], "n_boot": 2, "progress": False, **options}
    with pytest.raises(ModelInputError, match=message):
        hlm.bootstrap_lr_test(hsb, "mathach ~ ses", "school", **arguments)


def test_bootstrap_lr_test_data_must_be_a_frame(hsb):
    with pytest.raises(ModelInputError, match="argument data must be a pandas DataFrame"):
        hlm.bootstrap_lr_test(hsb.to_numpy(), "mathach ~ ses", "school", random_alt=["ses"])


@pytest.mark.parametrize("level", [0, 1, 95, -0.5, np.nan, "0.95", None, True])
def test_profile_levels(anova, level):
    with pytest.raises(ModelInputError, match="argument level"):
        hlm.profile_ci(anova, "Var(Intercept)", level=level)
    with pytest.raises(ModelInputError, match="argument level"):
        hlm.profile_intervals(anova, level=level)


@pytest.mark.parametrize("parameter", ["Var(ses)", "tau00", "var(intercept)", 0, None])
def test_profile_unknown_parameter(anova, parameter):
    with pytest.raises(ModelInputError, match=r"Unknown covariance parameter.*Var\(Intercept\)"):
        hlm.profile_ci(anova, parameter)


@pytest.fixture(scope="module")
def not_one_fit(hsb):
    return {
        "by": hlm.fit_hlm(hsb, "mathach ~ 1", group="school", by="sector"),
        "ols": hlm.fit_ols(hsb, "mathach ~ ses"),
        "dict": {"a": 1},
        "none": None,
    }


@pytest.mark.parametrize("kind", ["by", "ols", "dict", "none"])
def test_variance_tests_need_one_fitted_model(anova, not_one_fit, kind):
    wrong = not_one_fit[kind]
    with pytest.raises(ModelInputError, match="argument fit must be one fitted model"):
        hlm.profile_ci(wrong, "Var(Intercept)")
    with pytest.raises(ModelInputError, match="argument fit must be one fitted model"):
        hlm.profile_intervals(wrong)
    with pytest.raises(ModelInputError, match="argument fit_without must be one fitted"):
        hlm.boundary_lr_test(wrong, anova)
    with pytest.raises(ModelInputError, match="argument fit_with must be one fitted"):
        hlm.boundary_lr_test(anova, wrong)


def test_by_results_get_the_pick_one_hint(anova, not_one_fit):
    with pytest.raises(ModelInputError, match=r"pick one, for example fits\['USA'\]"):
        hlm.boundary_lr_test(not_one_fit["by"], anova)


# -- simulations ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("icc", "size", "message"),
    [
        ("0.2", 10, "argument icc must be a number"),
        (True, 10, "argument icc must be a number"),
        (np.nan, 10, "icc must be finite"),
        (1.5, 10, "icc is a proportion"),
        (0.2, np.inf, "cluster_size must be finite"),
        (0.2, 0.5, "cluster_size must be at least 1"),
        ([0.1, 0.2], [10, 20, 30], "cannot be broadcast"),
        (None, 10, "argument icc must be a number"),
    ],
)
def test_design_effect_arguments(icc, size, message):
    with pytest.raises(ModelInputError, match=message):
        hlm.simulation.design_effect(icc, size)


SMALL = {"iccs": (0.1,), "school_sizes": (5,), "n_schools": 6, "n_reps": 2, "progress": False}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"n_schools": 4.7}, "n_schools must be a whole number"),
        ({"n_schools": 3}, "n_schools must be at least 4"),
        ({"n_reps": 2.5}, "n_reps must be a whole number"),
        ({"n_reps": "10"}, "n_reps must be a whole number"),
        ({"alpha": 0}, "alpha must lie strictly between 0 and 1"),
        ({"alpha": 5}, "alpha must lie strictly between 0 and 1"),
        ({"iccs": (np.nan,)}, "iccs must be finite"),
        ({"iccs": ("a",)}, "iccs must be a number"),
        ({"iccs": (1.0,)}, r"iccs must be a non-empty list of values in \[0, 1\)"),
        ({"school_sizes": (5.5,)}, "school_sizes must be whole numbers"),
        ({"school_sizes": (True,)}, "school_sizes must be whole numbers"),
        ({"seed": "x"}, "seed must be a whole number"),
        ({"progress": "no"}, "progress must be True or False"),
    ],
)
def test_false_positive_arguments(bad, message):
    with pytest.raises(ModelInputError, match=message):
        hlm.simulation.simulate_false_positives(**{**SMALL, **bad})


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"tau00": -0.1}, "tau00"),
        ({"tau00": np.nan}, "tau00"),
        ({"sigma2": 0}, "sigma2"),
        ({"sigma2": "1"}, "sigma2"),
        ({"n_schools": 2.5}, "n_schools must be a whole number"),
        ({"n_schools": 1}, "n_schools must be a whole number of at least 2"),
        ({"gamma00": np.nan}, "gamma00 must be finite"),
        ({"gamma00": [1.0, 2.0]}, "gamma00 must be one number"),
        ({"school_sizes": (0,)}, "school_sizes must be whole numbers"),
        ({"seed": 2.0}, "seed must be a whole number"),
    ],
)
def test_school_means_arguments(bad, message):
    with pytest.raises(ModelInputError, match=message):
        hlm.simulation.simulate_school_means(**{"tau00": 0.2, "sigma2": 0.8, **bad})


# -- self-checks --------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["99.9", 3.1, "3.1", None, ""])
def test_check_unknown_exercise(key):
    with pytest.raises(ModelInputError, match="There is no exercise"):
        hlm.check(key, 1.0)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("0.33", "is the text '0.33'.*without quotes"),
        ("about a third", "not the text 'about a third'"),
        (float("nan"), "not a finite number"),
        (np.inf, "not a finite number"),
        (True, "not the truth value True"),
        ([0.3, 0.4], "must be a number, not list"),
        (np.array([0.3, 0.4]), "not a ndarray of 2 value"),
        (pd.Series([0.3]), "not a Series of 1 value"),
    ],
)
def test_check_bad_answers(answer, message):
    with pytest.raises(ModelInputError, match=message):
        hlm.check("07.1", answer)


@pytest.mark.parametrize("answer", [12.64, np.float64(12.64), np.array(12.64), 13])
def test_check_numbers_of_any_kind(answer):
    assert hlm.check("07.1", answer).correct == (answer != 13)


def test_check_placeholder_is_a_request_not_an_error():
    result = hlm.check("07.1", None)
    assert not result.correct and "Please give a number" in result.message


# -- tidy_timss: nothing standardised by zero, nothing misread ----------------------------------
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"bsmpv01": [500.0] * 4}, "'bsmpv01' has 4 value.*all equal"),
        ({"bsmpv02": [np.nan, np.nan, np.nan, 500.0]}, "'bsmpv02' has 1 value"),
        ({"bsmpv03": [np.nan] * 4}, "'bsmpv03' has 0 value"),
        ({"bsmpv04": ["600", "500", "520", "480"]}, "'bsmpv04' holds numbers stored as text"),
        ({"bsmpv05": [600.0, np.inf, 520.0, 480.0]}, "'bsmpv05' contains infinite values"),
        ({"boy": [1, 2, 1, 2]}, r"'boy' holds \['2'\]"),
        ({"boy": ["1", "0", "1", "0"]}, "'boy' holds numbers stored as text"),
        ({"parent_educ": ["college", "PhD", None, None]}, r"\['PhD'\]"),
        ({"idcntry": [410, 410, 840, 250]}, r"\['250'\]"),
    ],
)
def test_tidy_timss_refuses_what_it_would_misread(changes, message):
    raw = raw_timss(**changes)
    before = raw.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ModelInputError, match=message):
            tidy_timss(raw)
    pd.testing.assert_frame_equal(raw, before)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: hlm.load_timss("France"), "Unknown country 'France'"),
        (lambda: hlm.load_timss(410), "Unknown country 410"),
        (lambda: hlm.codebook("pirls"), "Unknown data set 'pirls'"),
        (lambda: tidy_timss([1, 2]), "argument raw must be a pandas DataFrame"),
    ],
)
def test_data_loaders_name_the_bad_argument(call, message):
    with pytest.raises(ModelInputError, match=message):
        call()


def test_contextual_effect_of_complex_numbers_is_refused():
    hsb = hlm.load_hsb()
    data = hsb.assign(x=hsb["ses"] + 1j)
    with pytest.raises(ModelInputError, match=r"'x' holds complex numbers"):
        hlm.contextual_effect(data, "mathach", "x", group="school")


def test_centring_dates_is_refused():
    hsb = hlm.load_hsb()
    data = hsb.assign(d=pd.date_range("2000-01-01", periods=len(hsb)))
    with pytest.raises(ModelInputError, match=r"'d' holds dates or durations"):
        hlm.center(data, "d", kind="grand")


@pytest.mark.parametrize("variables", [["nope"], "nope", [1]])
def test_describe_centering_of_columns_that_do_not_exist(variables):
    with pytest.raises(ModelInputError, match=r"variables"):
        hlm.describe_centering(hlm.load_hsb(), variables)
