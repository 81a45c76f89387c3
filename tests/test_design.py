"""Bad input gets a clear error that names the problem and the fix; missing rows are counted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import hlmteach as hlm
from hlmteach.design import ModelInputError, build_design, formula_variables


def test_formula_variables_skips_functions_and_namespaces():
    assert formula_variables("y ~ np.log(x) + C(g) + I(z**2) + a:b") == [
        "y",
        "x",
        "g",
        "z",
        "a",
        "b",
    ]


def test_missing_column_is_named(small_panel):
    with pytest.raises(ModelInputError, match=r"\['ses'\].*spelling.*columns are: y, x, school"):
        hlm.fit_hlm(small_panel, "y ~ ses", group="school")


def test_missing_group_column_is_named(small_panel):
    with pytest.raises(ModelInputError, match=r"group argument.*\['schoolid'\]"):
        hlm.fit_hlm(small_panel, "y ~ x", group="schoolid")


def test_missing_random_column_is_named(small_panel):
    with pytest.raises(ModelInputError, match=r"random part.*\['z'\]"):
        hlm.fit_hlm(small_panel, "y ~ x", group="school", random=["z"])


def test_non_numeric_outcome(small_panel):
    data = small_panel.assign(y=small_panel["y"].map(lambda v: f"{v:.2f} points"))
    with pytest.raises(ModelInputError, match=r"outcome 'y' is not numeric.*pd.to_numeric"):
        hlm.fit_hlm(data, "y ~ x", group="school")


def test_constant_outcome(small_panel):
    with pytest.raises(ModelInputError, match=r"outcome 'y' is constant"):
        hlm.fit_hlm(small_panel.assign(y=3.0), "y ~ x", group="school")


def test_infinite_values(small_panel):
    data = small_panel.copy()
    data.loc[3, "x"] = np.inf
    with pytest.raises(ModelInputError, match=r"\['x'\] contain infinite values.*NaN"):
        hlm.fit_hlm(data, "y ~ x", group="school")


def test_single_school(small_panel):
    data = small_panel[small_panel["school"] == 0]
    with pytest.raises(ModelInputError, match=r"Only 1 school.*at least two schools.*OLS"):
        hlm.fit_hlm(data, "y ~ x", group="school")


def test_collinear_predictors_are_named(small_panel):
    data = small_panel.assign(x2=2.0 * small_panel["x"] + 1.0)
    with pytest.raises(ModelInputError, match=r"collinear: 'x2' is an exact linear combination"):
        hlm.fit_hlm(data, "y ~ x + x2", group="school")


def test_all_zero_predictor(small_panel):
    with pytest.raises(ModelInputError, match=r"'z' is zero in every row"):
        hlm.fit_hlm(small_panel.assign(z=0.0), "y ~ 0 + z", group="school")


def test_random_slope_without_within_school_variation(small_panel):
    with pytest.raises(
        ModelInputError, match=r"random slope of 'w'.*does not vary within any school"
    ):
        hlm.fit_hlm(small_panel, "y ~ x + w", group="school", random=["w"])


def test_unknown_method(small_panel):
    with pytest.raises(ModelInputError, match=r"Unknown method 'MLE'.*'REML'.*'ML'"):
        hlm.fit_hlm(small_panel, "y ~ x", group="school", method="MLE")


def test_unknown_covariance_structure(small_panel):
    with pytest.raises(ModelInputError, match=r"Unknown covariance 'ar1'"):
        hlm.fit_hlm(small_panel, "y ~ x", group="school", covariance="ar1")


def test_formula_without_tilde(small_panel):
    with pytest.raises(ModelInputError, match=r"no '~'"):
        hlm.fit_hlm(small_panel, "y x", group="school")


def test_not_a_dataframe():
    with pytest.raises(ModelInputError, match=r"pandas DataFrame, not dict"):
        hlm.fit_hlm({"y": [1, 2]}, "y ~ 1", group="school")


def test_missing_rows_are_dropped_and_counted(small_panel):
    data = small_panel.copy()
    data.loc[[0, 5, 17], "x"] = np.nan
    data.loc[40, "y"] = np.nan
    data.loc[41, "school"] = np.nan
    fit = hlm.fit_hlm(data, "y ~ x", group="school")
    assert fit.n_dropped == 5
    assert fit.n_obs == len(data) - 5
    assert "observations not used (missing values): 5" in fit.summary()
    # The input frame is left untouched: no data are lost.
    assert data["x"].isna().sum() == 3 and len(data) == len(small_panel)


def test_all_rows_missing(small_panel):
    with pytest.raises(ModelInputError, match=r"every row has a missing value"):
        hlm.fit_hlm(small_panel.assign(x=np.nan), "y ~ x", group="school")


def test_random_without_group(small_panel):
    with pytest.raises(ModelInputError, match=r"grouping column"):
        build_design(small_panel, "y ~ x", random=["x"])


def test_design_blocks_school_level_flags(small_panel):
    design = build_design(small_panel, "y ~ x + w", group="school", random=["x"])
    assert design.fixed_names == ["Intercept", "x", "w"]
    assert design.school_level.tolist() == [True, False, True]
    assert design.n_groups == 40 and design.n_obs == 600


def test_by_column_missing(small_panel):
    with pytest.raises(ModelInputError, match=r"by= argument refers to column\(s\) \['country'\]"):
        hlm.fit_ols(small_panel, "y ~ x", by="country")


def test_by_with_missing_levels(small_panel):
    data = small_panel.assign(country=pd.Series(["A", "B"] * 300).where(lambda s: s.index != 7))
    with pytest.raises(ModelInputError, match=r"by= column 'country' has 1 missing value"):
        hlm.fit_ols(data, "y ~ x", by="country")


# -- the direct route for numeric formulas is patsy's matrix, column for column --------------

_NUMERIC = {
    "a": np.array([0.5, -1.0, 2.0, 3.5, -0.25, 1.0]),
    "b": np.array([1, 2, 3, 4, 5, 7]),
    "c": np.array([2.0, 0.0, -1.5, 1.0, 4.0, -3.0]),
}


@given(
    terms=st.lists(
        st.lists(st.sampled_from(sorted(_NUMERIC)), min_size=1, max_size=3, unique=True).map(
            ":".join
        ),
        min_size=0,
        max_size=5,
    ),
    star=st.booleans(),
    intercept=st.sampled_from(["", " - 1", " + 0", " + 1"]),
)
def test_numeric_formulas_give_patsys_matrix(terms: list[str], star: bool, intercept: str):
    import patsy

    from hlmteach.design import _design_matrices

    frame = pd.DataFrame({"y": [1.0, 3.0, 2.0, 5.0, 4.0, 6.0], **_NUMERIC})
    rhs = (" * " if star else " + ").join(terms) or "1"
    formula = f"y ~ {rhs}{intercept}"
    y_df, X_df = patsy.dmatrices(formula, frame, return_type="dataframe")
    y, X, names, columns = _design_matrices(formula, frame)
    assert names == list(X_df.columns)
    np.testing.assert_array_equal(X, X_df.to_numpy(dtype=float))
    np.testing.assert_array_equal(y, y_df.iloc[:, 0].to_numpy())
    # The columns the checks read are X's own (None: the intercept's ones).
    for k, column in enumerate(columns):
        np.testing.assert_array_equal(X[:, k], 1.0 if column is None else column)


def test_non_numeric_factors_take_patsys_route():
    from hlmteach.design import _design_matrices, _model_desc, _numeric_matrix

    frame = pd.DataFrame({"y": [1.0, 2.0], "g": ["a", "b"], "t": [True, False], "x": [1.0, 2.0]})
    for formula in ("y ~ g", "y ~ t", "y ~ C(x)", "y ~ np.log(x)", "y ~ I(x + 1)"):
        assert _numeric_matrix(_model_desc(formula).rhs_termlist, frame) is None, formula
    assert _design_matrices("y ~ t", frame)[2] == ["Intercept", "t[T.True]"]
