"""Nothing is silently reinterpreted: other syntaxes, numbers as text, vanishing terms, odd types.

Each case asserts the error type, that the message names the culprit, and that the
user's data frame is left as it was.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import hlmteach as hlm
from hlmteach.validation import ModelInputError


@pytest.fixture(scope="module")
def hsb() -> pd.DataFrame:
    return hlm.load_hsb()


def _refused(call, data: pd.DataFrame, pattern: str) -> None:
    before = data.copy()
    with pytest.raises(ModelInputError, match=pattern):
        call(data)
    pd.testing.assert_frame_equal(data, before)


@pytest.mark.parametrize(
    "formula",
    [
        "mathach ~ ses + (1 | school)",
        "mathach ~ ses + (ses | school)",
        "mathach ~ ses + (1 + ses || school)",
        "mathach ~ 1 | school",
        "mathach ~ ses, re_formula='~ses'",
    ],
)
def test_other_packages_formula_syntax(hsb, formula):
    _refused(
        lambda d: hlm.fit_hlm(d, formula, group="school"),
        hsb,
        r"uses (lme4/nlme's .* random-effect syntax|statsmodels' keyword syntax).*group='school'",
    )


def test_lme4_syntax_in_ols(hsb):
    _refused(lambda d: hlm.fit_ols(d, "mathach ~ ses + (1 | school)"), hsb, r"lme4/nlme")


@pytest.mark.parametrize("random", [["1 | school"], ["ses | school"], ["~ ses"]])
def test_formula_syntax_inside_random(hsb, random):
    _refused(
        lambda d: hlm.fit_hlm(d, "mathach ~ ses", group="school", random=random),
        hsb,
        r"argument random holds .* formula syntax",
    )


@pytest.mark.parametrize("column", ["ses", "female"])
def test_numbers_stored_as_text_as_predictor(hsb, column):
    data = hsb.assign(**{column: hsb[column].astype(str)})
    _refused(
        lambda d: hlm.fit_hlm(d, f"mathach ~ {column}", group="school"),
        data,
        rf"predictor '{column}' holds numbers stored as text.*pd.to_numeric",
    )
    _refused(lambda d: hlm.fit_ols(d, f"mathach ~ {column}"), data, rf"'{column}'")


def test_numbers_as_text_in_a_random_slope(hsb):
    data = hsb.assign(ses_text=hsb["ses"].astype(str))
    _refused(
        lambda d: hlm.fit_hlm(d, "mathach ~ ses", group="school", random=["ses_text"]),
        data,
        r"predictor 'ses_text' holds numbers stored as text",
    )


def test_numbers_as_text_inside_c_are_a_category(hsb):
    """``C(x)`` says "treat as categories": the user asked for dummies."""
    data = hsb.assign(sector_text=hsb["sector"].astype(str))
    fit = hlm.fit_hlm(data, "mathach ~ C(sector_text)", group="school")
    direct = hlm.fit_hlm(hsb, "mathach ~ sector", group="school")
    assert fit.deviance == pytest.approx(direct.deviance, abs=1e-6)


def test_numbers_as_text_outcome(hsb):
    data = hsb.assign(mathach=hsb["mathach"].astype(str))
    _refused(
        lambda d: hlm.fit_hlm(d, "mathach ~ ses", group="school"),
        data,
        r"outcome 'mathach' holds numbers stored as text.*pd.to_numeric",
    )


def test_text_categories_are_still_categories(hsb):
    data = hsb.assign(sector_label=np.where(hsb["sector"] == 1, "catholic", "public"))
    fit = hlm.fit_hlm(data, "mathach ~ sector_label", group="school")
    assert "sector_label[T.public]" in fit.fixed.index


@pytest.mark.parametrize("term", ["C(one)", "one"])
def test_one_level_category_is_not_dropped(hsb, term):
    data = hsb.assign(one="a")
    _refused(
        lambda d: hlm.fit_hlm(d, f"mathach ~ ses + {term}", group="school"),
        data,
        rf"term '{re.escape(term)}' .* only one level",
    )


def test_category_left_with_one_level_after_missing_rows(hsb):
    data = hsb.assign(kind=np.where(hsb.index < 100, "rare", "common"))
    data.loc[data.index < 100, "ses"] = np.nan
    _refused(lambda d: hlm.fit_ols(d, "mathach ~ ses + kind"), data, r"term 'kind'.*only one level")


def test_random_as_a_string_is_one_term(hsb):
    as_string = hlm.fit_hlm(hsb, "mathach ~ ses", group="school", random="ses")
    as_list = hlm.fit_hlm(hsb, "mathach ~ ses", group="school", random=["ses"])
    assert as_string.design.random_names == ["Intercept", "ses"]
    assert as_string.deviance == as_list.deviance


@pytest.mark.parametrize(
    ("random", "pattern"),
    [
        (["ses", "ses"], r"argument random names a term twice"),
        ([""], r"argument random must hold non-empty strings"),
        ([3], r"argument random must hold non-empty strings"),
        (["1"], r"argument random holds '1': the intercept is always random"),
        (5, r"random must be a list"),
        ({"ses": 1}, r"random must be a list"),
    ],
)
def test_bad_random_arguments(hsb, random, pattern):
    _refused(
        lambda d: hlm.fit_hlm(d, "mathach ~ ses", group="school", random=random),
        hsb,
        pattern,
    )


@pytest.mark.parametrize(
    ("formula", "pattern"),
    [
        ("mathach ~ mathach", r"\['mathach'\] on both sides"),
        ("mathach ~ ses + np.log(mathach + 10)", r"\['mathach'\] on both sides"),
        ("mathach ses", r"has no '~'"),
        ("~ ses", r"no outcome before '~'"),
        ("mathach ~ ses ~ female", r"more than one '~'"),
        (42, r"formula must be a string"),
    ],
)
def test_malformed_formulas(hsb, formula, pattern):
    _refused(lambda d: hlm.fit_hlm(d, formula, group="school"), hsb, pattern)
    _refused(lambda d: hlm.fit_ols(d, formula), hsb, pattern)


@pytest.mark.parametrize(
    ("group", "pattern"),
    [
        (["school"], r"argument group must be the name of one column"),
        (None, r"argument group must be the name of one column"),
        ("mathach", r"grouping column 'mathach' is also the outcome"),
        ("sector", r"grouping column 'sector' is also in the fixed part"),
    ],
)
def test_bad_group_arguments(hsb, group, pattern):
    _refused(lambda d: hlm.fit_hlm(d, "mathach ~ ses + sector", group=group), hsb, pattern)


def test_group_listed_as_a_random_slope(hsb):
    _refused(
        lambda d: hlm.fit_hlm(d, "mathach ~ ses", group="school", random=["school"]),
        hsb,
        r"grouping column 'school' is listed in random=",
    )


@pytest.mark.parametrize(
    "ids",
    [
        lambda s: s.where(s % 2 == 0, s.astype(str)),  # 1224 and '1288' side by side
        lambda s: s.astype(object).where(s != s.iloc[0], str(s.iloc[0])),
    ],
)
def test_mixed_kinds_of_school_ids(hsb, ids):
    data = hsb.assign(school=ids(hsb["school"]).astype(object))
    _refused(
        lambda d: hlm.fit_hlm(d, "mathach ~ ses", group="school"),
        data,
        r"grouping column 'school' mixes numbers and text",
    )


def test_school_ids_differing_by_spaces(hsb):
    data = hsb.assign(school=hsb["school"].astype(str))
    data.loc[data.index[:3], "school"] = " " + data.loc[data.index[:3], "school"]
    _refused(
        lambda d: hlm.fit_hlm(d, "mathach ~ ses", group="school"),
        data,
        r"'school' has ids that differ only by spaces",
    )


def test_non_integer_school_ids_are_kept_apart():
    """fit_hlm never truncates ids: 1.5 and 1.7 are two schools."""
    rng = np.random.default_rng(4)
    data = pd.DataFrame({"y": rng.normal(size=40), "school": np.repeat([1.5, 1.7, 2.5, 3.5], 10)})
    fit = hlm.fit_hlm(data, "y ~ 1", group="school")
    assert fit.n_groups == 4
    assert list(fit.design.group_labels) == [1.5, 1.7, 2.5, 3.5]


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"method": "reml2"}, r"Unknown method 'reml2'"),
        ({"method": 1}, r"Unknown method 1"),
        ({"covariance": "ar1"}, r"Unknown covariance 'ar1'"),
        ({"covariance": None}, r"Unknown covariance None"),
        ({"engine": "lme4"}, r"Unknown engine 'lme4'"),
    ],
)
def test_bad_options(hsb, kwargs, pattern):
    _refused(lambda d: hlm.fit_hlm(d, "mathach ~ ses", group="school", **kwargs), hsb, pattern)


def test_interaction_code_is_spelled_out_for_sas(hsb):
    fit = hlm.fit_hlm(hsb, "mathach ~ ses*female", group="school")
    sas = fit.code("sas")
    assert "model mathach = ses female ses*female / solution ddfm=bw;" in sas
    assert "mathach = ses*female /" not in sas


def test_categories_go_to_the_sas_class_statement(hsb):
    fit = hlm.fit_hlm(hsb, "mathach ~ ses + C(sector)", group="school")
    # SAS takes the last level as reference by default; patsy the first.
    assert "class school sector(ref=first);" in fit.code("sas")
    assert "factor(sector)" in fit.code("r")


def test_text_and_categorical_columns_keep_their_reference_level_in_every_language(hsb):
    data = hsb.assign(
        kind=np.where(hsb["sector"] == 1, "catholic", "public"),
        size=pd.Categorical(np.where(hsb["ses"] > 0, "large", "small"), ["small", "large"]),
    )
    fit = hlm.fit_hlm(data, "mathach ~ ses + kind + size", group="school")
    assert "size[T.large]" in fit.fixed.index  # patsy's baseline: the first category
    sas, r = fit.code("sas"), fit.code("r")
    assert "class school kind(ref='catholic') size(ref='small');" in sas
    assert "relevel(factor(kind), ref = 'catholic')" in r
    assert "relevel(factor(size), ref = 'small')" in r
    ols = hlm.fit_ols(data, "mathach ~ kind")
    assert "class kind(ref='catholic');" in ols.code("sas")
    explicit = hlm.fit_hlm(data, "mathach ~ C(kind, Treatment('public'))", group="school")
    assert "kind(ref='public')" in explicit.code("sas")


def test_no_intercept_and_transformations_in_sas(hsb):
    data = hsb.assign(size=np.linspace(100, 2000, len(hsb)))
    fit = hlm.fit_ols(data, "mathach ~ np.log(size) + ses - 1")
    sas = fit.code("sas")
    assert "np_log_size = log(size);" in sas
    assert "noint" in sas
    assert "log(size)" in fit.code("r") and "np.log" not in fit.code("r")


def test_ols_interaction_uses_glm(hsb):
    sas = hlm.fit_ols(hsb, "mathach ~ ses:female + ses").code("sas")
    assert "proc glm" in sas and "model mathach = ses*female ses / solution;" in sas


def test_random_slope_without_a_fixed_effect_is_noted(hsb):
    fit = hlm.fit_hlm(hsb, "mathach ~ ses", group="school", random=["female"])
    assert any("have no fixed effect" in note and "female" in note for note in fit.warnings)
    assert "female" in fit.summary()


@pytest.mark.parametrize("table", ["anova_table", "hlm_table", "ols_table"])
@pytest.mark.parametrize(
    ("fits", "pattern"),
    [
        ({}, r"argument fits must be a fitted model or a non-empty mapping"),
        ([1, 2], r"argument fits must be .* got list"),
        ({"Korea": "a string"}, r"argument fits holds str for 'Korea'"),
    ],
)
def test_tables_refuse_what_they_cannot_show(table, fits, pattern):
    from hlmteach import tables

    with pytest.raises(ModelInputError, match=pattern):
        getattr(tables, table)(fits)


def test_tables_take_one_model_and_check_digits(hsb):
    from hlmteach import tables

    fit = hlm.fit_hlm(hsb, "mathach ~ 1", group="school")
    assert tables.anova_table(fit).loc["N of Schools", ("model", "Coefficient")] == "160"
    with pytest.raises(ModelInputError, match=r"argument fits holds OLSResult"):
        tables.hlm_table({"a": hlm.fit_ols(hsb, "mathach ~ ses")})
    with pytest.raises(ModelInputError, match=r"argument digits must be a whole number"):
        tables.hlm_table(fit, digits=2.5)
    slope_only = hlm.fit_hlm(hsb, "mathach ~ ses - 1", group="school")
    with pytest.raises(ModelInputError, match=r"no fixed intercept"):
        tables.anova_table(slope_only)


@pytest.mark.parametrize(
    ("column", "pattern"),
    [
        (lambda n: pd.date_range("2000-01-01", periods=n), r"predictor 'x' holds dates"),
        (lambda n: pd.to_timedelta(np.arange(n), unit="D"), r"predictor 'x' holds dates"),
        (lambda n: np.arange(n) + 1j, r"predictor 'x' holds complex numbers"),
    ],
)
def test_dates_durations_and_complex_numbers_are_not_numbers(hsb, column, pattern):
    data = hsb.assign(x=column(len(hsb)))
    _refused(lambda d: hlm.fit_hlm(d, "mathach ~ x", group="school"), data, pattern)


def test_complex_outcome(hsb):
    data = hsb.assign(y=hsb["mathach"] + 1j)
    _refused(
        lambda d: hlm.fit_hlm(d, "y ~ ses", group="school"), data, r"outcome 'y' holds complex"
    )


def test_nullable_dtypes_are_read_as_numbers(hsb):
    """Int64, Float64 and boolean columns, with <NA>, fit as their float equivalents."""
    plain = hsb.assign(x=np.where(hsb.index % 3 == 0, np.nan, hsb["ses"]))
    nullable = plain.assign(
        x=pd.array(plain["x"], dtype="Float64"), female=pd.array(hsb["female"], dtype="Int64")
    )
    expected = hlm.fit_hlm(plain, "mathach ~ x + female", group="school")
    fit = hlm.fit_hlm(nullable, "mathach ~ x + female", group="school")
    assert fit.n_dropped == expected.n_dropped == int((hsb.index % 3 == 0).sum())
    assert fit.deviance == pytest.approx(expected.deviance, abs=1e-9)
    flags = hsb.assign(b=pd.array(hsb["female"] == 1, dtype="boolean"))
    as_bool = hlm.fit_hlm(flags, "mathach ~ b", group="school")
    as_number = hlm.fit_hlm(hsb, "mathach ~ female", group="school")
    assert as_bool.deviance == pytest.approx(as_number.deviance, abs=1e-9)


def test_a_categorical_of_numbers_is_a_category(hsb):
    data = hsb.assign(size_band=pd.Categorical(np.where(hsb["ses"] > 0, 2, 1)))
    fit = hlm.fit_hlm(data, "mathach ~ size_band", group="school")
    assert "size_band[T.2]" in fit.fixed.index


def test_collinear_random_effects(hsb):
    data = hsb.assign(ses2=2 * hsb["ses"])
    _refused(
        lambda d: hlm.fit_hlm(d, "mathach ~ ses", group="school", random=["ses", "ses2"]),
        data,
        r"random effects \(random=\) are collinear: 'ses2'",
    )


@pytest.mark.parametrize("column", ["mathach", "ses"])
def test_values_whose_squares_overflow(hsb, column):
    data = hsb.assign(**{column: hsb[column] * 1e300})
    _refused(
        lambda d: hlm.fit_hlm(d, "mathach ~ ses", group="school"),
        data,
        rf"\['{column}'\] have values beyond 1e\+75",
    )
