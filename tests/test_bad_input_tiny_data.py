"""Tiny and degenerate data: a clear error or a defined result, never a library's exception.

Every refusal is a ModelInputError naming the problem; every accepted fit can be
printed, shown as HTML and asked for its tables without an exception or a warning.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import hlmteach as hlm
from hlmteach.validation import ModelInputError


def _show_everything(fit) -> None:
    """Every view of a result a learner can ask for."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        str(fit)
        fit._repr_html_()
        fit.fixed_effects("satterthwaite")
        assert fit.random_effects.shape[0] == fit.n_groups * len(fit.design.random_names)
        assert fit.school_reliability.shape[0] == fit.n_groups
        fit.school_coefficients()
        fit.code()
        fit.equations()


def _frame(y, g, **columns) -> pd.DataFrame:
    return pd.DataFrame({"y": np.asarray(y, dtype=float), "g": g, **columns})


def test_two_schools_of_two_students_print():
    fit = hlm.fit_hlm(_frame([1, 2, 3, 5], [1, 1, 2, 2]), "y ~ 1", group="g")
    _show_everything(fit)
    assert np.isnan(fit.fit_stats["AICC"])
    assert any("AICC is not defined" in note for note in fit.warnings)
    assert "AICC is not defined" in str(fit)


def test_aicc_is_defined_when_it_can_be():
    fit = hlm.fit_hlm(_frame([1, 2, 3, 5, 4, 4], [1, 1, 1, 2, 2, 2]), "y ~ 1", group="g")
    n_star, d = 6 - 1, 2
    expected = fit.deviance + 2 * d * n_star / (n_star - d - 1)
    assert fit.fit_stats["AICC"] == pytest.approx(expected)


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_as_many_fixed_effects_as_students(method):
    data = _frame([1, 2, 3, 5], [1, 1, 2, 2], x=[0, 1, 0, 1], z=[0, 0, 1, 3], w=[1, 0, 0, 0])
    with pytest.raises(ModelInputError, match=r"4 fixed effects but only 4 rows"):
        hlm.fit_hlm(data, "y ~ x + z + w", group="g", method=method)
    with pytest.raises(ModelInputError, match=r"4 fixed effects but only 4 rows"):
        hlm.fit_ols(data, "y ~ x + z + w")


@pytest.mark.parametrize("n_schools", [2, 5, 50])
def test_one_student_per_school(n_schools):
    rng = np.random.default_rng(n_schools)
    data = _frame(rng.normal(size=n_schools), np.arange(n_schools))
    with pytest.raises(ModelInputError, match=r"Every g has one row.*cannot be told apart"):
        hlm.fit_hlm(data, "y ~ 1", group="g")


def test_one_student_per_school_after_missing_rows():
    data = _frame([1, 2, 4, 4, 5, 6], [1, 1, 2, 2, 3, 3], x=[0, np.nan, 1, np.nan, 2, np.nan])
    with pytest.raises(ModelInputError, match=r"Every g has one row with complete data"):
        hlm.fit_hlm(data, "y ~ x", group="g")


def test_random_slope_with_as_many_effects_as_students():
    data = _frame([1, 2, 3, 5, 4, 4], [1, 1, 2, 2, 3, 3], x=[0, 1, 0, 1, 1, 0])
    with pytest.raises(ModelInputError, match=r"No g has more rows than random effects \(2\)"):
        hlm.fit_hlm(data, "y ~ x", group="g", random=["x"])


def test_school_dummies_and_a_random_intercept():
    hsb = hlm.load_hsb()
    with pytest.raises(ModelInputError, match=r"grouping column 'school' is also in the fixed"):
        hlm.fit_hlm(hsb, "mathach ~ C(school)", group="school")
    relabelled = hsb.assign(id_copy=hsb["school"].astype(str))
    with pytest.raises(ModelInputError, match=r"one per school, so no school-to-school variance"):
        hlm.fit_hlm(relabelled, "mathach ~ C(id_copy)", group="school")


def test_school_level_predictors_exhausting_the_schools():
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(3), 4)
    data = _frame(rng.normal(size=12), g, a=np.array([0.0, 1, 0])[g], b=np.array([0.0, 0, 1])[g])
    with pytest.raises(ModelInputError, match=r"3 g-level parameters for 3 g units"):
        hlm.fit_hlm(data, "y ~ a + b", group="g")


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        (pd.DataFrame({"y": [], "g": []}), r"argument data has no rows"),
        (_frame([1.0, np.nan, 3.0], [1, 2, 1]), r"Only 1 school \(g = 1\)"),
        (_frame([np.nan, np.nan], [1, 2]), r"No row has all of the model's variables"),
        (_frame([1, 2, 3], [1, 1, 1]), r"Only 1 school.*distinct values of 'g'"),
        (_frame([2, 2, 2, 2], [1, 1, 2, 2]), r"outcome 'y' is constant"),
        (pd.DataFrame([[1.0, 1], [2, 2]], columns=["y", "y"]), r"duplicated column names"),
        ([[1, 2], [3, 4]], r"must be a pandas DataFrame, not list"),
    ],
)
def test_degenerate_frames(data, pattern):
    with pytest.raises(ModelInputError, match=pattern):
        hlm.fit_hlm(data, "y ~ 1", group="g")


@pytest.mark.parametrize(
    ("formula", "pattern"),
    [
        ("np.log(y) ~ 1", r"outcome 'np.log\(y\)' has 1 value\(s\) that are not finite"),
        ("y ~ np.log(x)", r"predictor\(s\) \['np.log\(x\)'\].*not finite"),
    ],
)
def test_transformations_that_give_infinities(formula, pattern):
    data = _frame([0, 2, 3, 5, 4, 4], [1, 1, 1, 2, 2, 2], x=[0, 1, 2, 1, 2, 3])
    with pytest.raises(ModelInputError, match=pattern):
        hlm.fit_hlm(data, formula, group="g")


def test_ols_on_a_single_row_group_is_fine():
    fit = hlm.fit_ols(_frame([1, 2, 4], [1, 2, 3], x=[0, 1, 2]), "y ~ x")
    assert fit.n_obs == 3 and fit.fixed.loc["x", "estimate"] == pytest.approx(1.5)


def test_ols_with_no_residual_df():
    with pytest.raises(ModelInputError, match=r"2 fixed effects but only 2 rows"):
        hlm.fit_ols(_frame([1, 2], [1, 2], x=[0, 1]), "y ~ x")


@pytest.mark.parametrize("seed", range(12))
def test_small_random_data_sets_print(seed):
    """Small random designs (2-4 schools of 1-4 students): defined results or clear errors."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 5, size=rng.integers(2, 5))
    g = np.repeat(np.arange(sizes.size), sizes)
    data = _frame(rng.normal(size=g.size), g, x=rng.normal(size=g.size))
    for random in ([], ["x"]):
        for method in ("REML", "ML"):
            try:
                fit = hlm.fit_hlm(data, "y ~ x", group="g", random=random, method=method)
            except ModelInputError as error:
                assert str(error)
                continue
            _show_everything(fit)
            assert np.isfinite(fit.deviance)


def test_slope_without_variation_within_schools():
    g = np.repeat(np.arange(4), 3)
    data = _frame(np.arange(12.0) % 5, g, x=g * 1.0)
    with pytest.raises(ModelInputError, match=r"random slope of 'x' cannot be estimated.*any g"):
        hlm.fit_hlm(data, "y ~ x", group="g", random=["x"])


def test_a_model_that_reproduces_every_observation_is_refused():
    # Three fixed effects and two school intercepts for four students: ML drives sigma2 to 0.
    data = _frame([1, 2, 4, 3], [1, 1, 1, 2], x0=[0, 1, 3, 0.5], x1=[1, 0, 2, 1])
    with pytest.raises(ModelInputError, match=r"reproduces every observation.*4 students"):
        hlm.fit_hlm(data, "y ~ x0 + x1", group="g", method="ML")


@pytest.mark.parametrize("seed", range(5))
def test_a_random_slope_in_two_schools_is_reported_as_not_identified(seed):
    """Three covariance parameters from two schools: a ridge of equally good optima."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=6)
    data = _frame(rng.normal(size=6) + x, [1, 1, 1, 1, 1, 2], x=x)
    fit = hlm.fit_hlm(data, "y ~ x", group="g", random=["x"])
    assert fit.converged
    assert fit.engine_fit.flat_directions >= 1
    assert any(note.startswith("Not identified") and "2 gs" in note for note in fit.warnings)
    _show_everything(fit)


def test_a_well_determined_fit_has_no_flat_direction():
    fit = hlm.fit_hlm(hlm.load_hsb(), "mathach ~ ses", group="school", random=["ses"])
    assert fit.engine_fit.flat_directions == 0
    assert not any(note.startswith("Not identified") for note in fit.warnings)


def test_a_model_that_could_reproduce_the_data_is_refused_before_fitting():
    # Five students, three fixed effects and an intercept and slope in each of two schools:
    # REML's optimiser would chase sigma2 towards zero without end.
    data = _frame([1, 2, 4, 3, 0], [1, 1, 1, 2, 2], x0=[0, 1, 3, 0.5, 2], x1=[1, 0, 2, 1, 4])
    with pytest.raises(ModelInputError, match=r"reproduces every observation.*5 students"):
        hlm.fit_hlm(data, "y ~ x0 + x1", group="g", random=["x0"])
