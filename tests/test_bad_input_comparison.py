"""Model comparison checks what it compares: rows, outcome, grouping, method and nesting.

Each refusal is a ModelInputError whose message names what differs; each accepted
comparison gives the statistic that the two deviances imply.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hlmteach as hlm
from hlmteach.validation import ModelInputError


@pytest.fixture(scope="module")
def hsb() -> pd.DataFrame:
    return hlm.load_hsb()


@pytest.fixture(scope="module")
def fits(hsb):
    def fit(formula="mathach ~ ses", random=(), data=None, group="school", **kw):
        return hlm.fit_hlm(hsb if data is None else data, formula, group=group, random=random, **kw)

    return fit


def test_different_data_with_the_same_row_count(hsb, fits):
    shuffled = hsb.assign(mathach=hsb["mathach"].sample(frac=1, random_state=1).to_numpy())
    small = fits()
    large = fits(random=["ses"], data=shuffled)
    with pytest.raises(ModelInputError, match=r"different values of the outcome 'mathach'"):
        hlm.lr_test(small, large)


def test_different_outcomes(hsb, fits):
    other = hsb.assign(score=hsb["mathach"] * 2)
    with pytest.raises(ModelInputError, match=r"different outcomes \('mathach' and 'score'\)"):
        hlm.lr_test(fits(), fits("score ~ ses", random=["ses"], data=other))


@pytest.mark.parametrize("missing_in", ["small", "large"])
def test_different_rows(hsb, fits, missing_in):
    holed = hsb.copy()
    holed.loc[holed.index[:5], "ses"] = np.nan
    small = fits(data=holed if missing_in == "small" else hsb)
    large = fits(random=["ses"], data=hsb if missing_in == "small" else holed)
    with pytest.raises(ModelInputError, match=r"different rows \(7180 and 7185|7185 and 7180"):
        hlm.lr_test(small, large)


def test_same_count_but_other_rows(hsb, fits):
    """Each model lost five different students: the counts agree, the students do not."""
    a, b = hsb.copy(), hsb.copy()
    a.loc[a.index[:5], "ses"] = np.nan
    b.loc[b.index[-5:], "ses"] = np.nan
    with pytest.raises(ModelInputError, match=r"different rows"):
        hlm.lr_test(fits(data=a), fits(random=["ses"], data=b))


def test_different_grouping_columns(hsb, fits):
    regrouped = hsb.assign(school2=hsb["school"].sample(frac=1, random_state=2).to_numpy())
    small = fits()
    large = fits(random=["ses"], data=regrouped, group="school2")
    with pytest.raises(ModelInputError, match=r"group='school' and group='school2'"):
        hlm.lr_test(small, large)


def test_same_grouping_name_other_schools(hsb, fits):
    regrouped = hsb.assign(school=hsb["school"].sample(frac=1, random_state=3).to_numpy())
    with pytest.raises(ModelInputError, match=r"group the students differently"):
        hlm.lr_test(fits(), fits(random=["ses"], data=regrouped))


def test_non_nested_random_parts(fits):
    a = fits(random=["ses"])
    b = fits(random=["female", "minority"])
    pattern = r"not nested: the random part.*\['Intercept', 'ses'\]"
    with pytest.raises(ModelInputError, match=pattern):
        hlm.lr_test(a, b)


def test_non_nested_fixed_parts(fits):
    a = fits("mathach ~ ses + female", method="ML")
    b = fits("mathach ~ ses + minority + sector", method="ML")
    with pytest.raises(ModelInputError, match=r"not nested: the fixed part.*'female'"):
        hlm.lr_test(a, b)


def test_transformed_predictor_is_not_nested(hsb, fits):
    data = hsb.assign(ses_cubed=hsb["ses"] ** 3)
    a = fits("mathach ~ ses", method="ML", data=data)
    b = fits("mathach ~ ses_cubed + female", method="ML", data=data)
    with pytest.raises(ModelInputError, match=r"not nested"):
        hlm.lr_test(a, b)


def test_reparameterised_fixed_part_is_nested(hsb, fits):
    """A centred predictor spans the same space: nesting is about columns, not names."""
    data = hsb.assign(ses_c=hsb["ses"] - hsb["ses"].mean())
    a = fits("mathach ~ ses_c", method="ML", data=data)
    b = fits("mathach ~ ses + female", method="ML", data=data)
    test = hlm.lr_test(a, b)
    assert test.df == 1
    assert test.statistic == pytest.approx(a.deviance - b.deviance, abs=1e-6)


def test_un_inside_vc_is_not_nested(fits):
    a = fits(random=["ses"], covariance="un")
    b = fits(random=["ses", "female", "minority"], covariance="vc")
    with pytest.raises(ModelInputError, match=r"covariance='un'.*covariance='vc'"):
        hlm.lr_test(a, b)


def test_vc_inside_un_is_nested(fits):
    a = fits(random=["ses"], covariance="vc")
    b = fits(random=["ses"], covariance="un")
    test = hlm.lr_test(a, b)
    assert test.df == 1
    assert not test.mixture  # a covariance, not a variance on its boundary


@pytest.mark.parametrize(
    ("first", "second", "pattern"),
    [
        ({"method": "ML"}, {"method": "REML", "random": ["ses"]}, r"same method.*ML.*REML"),
        ({}, {"formula": "mathach ~ ses + female", "random": ["ses"]}, r"REML likelihoods"),
        ({"random": ["ses"]}, {}, r"more parameters than the first"),
        ({}, {}, r"more parameters than the first"),
    ],
)
def test_method_order_and_fixed_parts(fits, first, second, pattern):
    with pytest.raises(ModelInputError, match=pattern):
        hlm.lr_test(fits(**first), fits(**second))


@pytest.mark.parametrize("argument", ["restricted", "full"])
def test_results_that_are_not_one_model(hsb, fits, argument):
    timss = hlm.load_timss()
    by = hlm.fit_hlm(timss, "math ~ 1", group="school", by="country")
    ols = hlm.fit_ols(hsb, "mathach ~ ses")
    for wrong in (by, ols, "model", None):
        args = (wrong, fits(random=["ses"])) if argument == "restricted" else (fits(), wrong)
        with pytest.raises(ModelInputError, match=rf"argument {argument} must be one fitted"):
            hlm.lr_test(*args)


def test_by_results_get_a_hint(fits):
    by = hlm.fit_hlm(hlm.load_timss(), "math ~ 1", group="school", by="country")
    with pytest.raises(ModelInputError, match=r"pick one, for example fits\['USA'\]"):
        hlm.lr_test(by, fits())


def test_boundary_lr_test_checks_the_same(hsb, fits):
    regrouped = hsb.assign(school2=hsb["school"].sample(frac=1, random_state=2).to_numpy())
    with pytest.raises(ModelInputError, match=r"group='school' and group='school2'"):
        hlm.boundary_lr_test(fits(), fits(random=["ses"], data=regrouped, group="school2"))


def test_valid_comparison_is_unchanged(fits):
    small, large = fits(), fits(random=["ses"])
    test = hlm.lr_test(small, large)
    assert (test.df, test.mixture, test.notes) == (2, True, ())
    assert test.statistic == pytest.approx(small.deviance - large.deviance, abs=1e-9)


def test_rows_left_out_by_both_models_alike_are_fine(hsb, fits):
    holed = hsb.copy()
    holed.loc[holed.index[:7], "ses"] = np.nan
    small, large = fits(data=holed), fits(random=["ses"], data=holed)
    assert small.n_dropped == large.n_dropped == 7
    assert hlm.lr_test(small, large).df == 2
