"""Centring, school means, their records, and the contextual effect against lme4."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hlmteach as hlm
from hlmteach.centering import (
    CenteringSpec,
    center,
    contextual_effect,
    describe_centering,
    school_mean,
)
from hlmteach.design import ModelInputError

FIXTURE = Path(__file__).parent / "fixtures" / "contextual_lme4.json"


@pytest.fixture()
def panel() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "school": [1, 1, 1, 2, 2, 3, 3],
            "country": ["A", "A", "A", "A", "A", "B", "B"],
            "ses": [1.0, 2.0, np.nan, 4.0, 6.0, 0.0, 1.0],
            "label": list("abcdefg"),
        }
    )


def test_group_mean_centring(panel):
    out = center(panel, "ses", group="school", kind="group")
    assert "ses_cwc" not in panel.columns and "centering" not in panel.attrs
    np.testing.assert_allclose(out["ses_cwc"], [-0.5, 0.5, np.nan, -1.0, 1.0, -0.5, 0.5])
    assert out.groupby("school")["ses_cwc"].mean().abs().max() == 0.0
    assert out.attrs["centering"] == {
        "ses_cwc": "ses centred around its school mean (group-mean centring by school)"
    }


def test_grand_mean_centring_overall_and_within_country(panel):
    overall = center(panel, "ses")
    assert overall["ses_cgm"].mean() == pytest.approx(0.0, abs=1e-15)
    assert np.isnan(overall.loc[2, "ses_cgm"])
    by_country = center(panel, "ses", by="country", name="ses_c")
    assert by_country.groupby("country")["ses_c"].mean().abs().max() == pytest.approx(0.0)
    assert by_country.attrs["centering"]["ses_c"] == (
        "ses centred around its grand mean within each country (grand-mean centring)"
    )


def test_school_mean_and_records_accumulate(panel):
    out = school_mean(center(panel, "ses", group="school", kind="group"), "ses", "school")
    np.testing.assert_allclose(out["ses_mean"], [1.5, 1.5, 1.5, 5.0, 5.0, 0.5, 0.5])
    assert list(out.attrs["centering"]) == ["ses_cwc", "ses_mean"]
    table = describe_centering(out, ["ses_cwc", "ses_mean", "label"])
    assert list(table.columns) == ["variable", "centring"]
    assert table["centring"].tolist() == [
        "ses centred around its school mean (group-mean centring by school)",
        "school mean of ses (mean over the students of each school)",
        "uncentred (as in the data)",
    ]
    # The record travels with the rows a model is fitted to (subsets, splits by country).
    subset = out[out["country"] == "A"]
    assert describe_centering(subset).equals(describe_centering(out))
    assert all("ses_cwc" in part.attrs["centering"] for _, part in out.groupby("country"))


def test_inplace(panel):
    returned = center(panel, "ses", group="school", kind="group", inplace=True)
    assert returned is panel and "ses_cwc" in panel.columns
    school_mean(panel, "ses", "school", name="mses", inplace=True)
    assert set(panel.attrs["centering"]) == {"ses_cwc", "mses"}


def test_spec_descriptions():
    assert (
        CenteringSpec("x", "grand").describe()
        == "x centred around its grand mean (grand-mean centring)"
    )


def test_centring_errors(panel):
    with pytest.raises(ModelInputError, match="Unknown centring kind"):
        center(panel, "ses", kind="within")
    with pytest.raises(ModelInputError, match="group='school'"):
        center(panel, "ses", kind="group")
    with pytest.raises(ModelInputError, match="not numeric"):
        center(panel, "label")
    with pytest.raises(ModelInputError, match=r"\['sex'\]"):
        center(panel, "sex")
    with pytest.raises(ModelInputError, match="grand-mean centring only"):
        center(panel, "ses", group="school", kind="group", by="country")
    with pytest.raises(ModelInputError, match="DataFrame"):
        center(panel.to_numpy(), "ses")


# -- the contextual effect ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads(FIXTURE.read_text())["models"]


@pytest.mark.parametrize(
    ("case", "options"),
    [
        ("ri_group", {}),
        ("ri_meanses", {"mean_column": "meanses"}),
        ("rs_group", {"random_slope": True}),
        ("ri_sector", {"covariates": ["sector"]}),
    ],
)
def test_contextual_effect_matches_lme4(hsb, reference, case, options):
    """Within, between and contextual effects and their SEs, as lme4 (REML) gives them.

    Both fits are converged to far better than the tolerance: estimates agree to ~1e-8
    and standard errors (which depend on the variance estimates) to ~1e-7.
    """
    ref = reference[case]
    ce = contextual_effect(hsb.drop(columns="cses"), "mathach", "ses", "school", **options)
    within, between = ref["vcov_names"][1], ref["vcov_names"][2]
    table = ce.table
    assert list(table.index) == ["within", "between", "contextual"]
    for row, name in (("within", within), ("between", between)):
        assert table.loc[row, "estimate"] == pytest.approx(ref["fixed"][name]["estimate"], rel=1e-6)
        assert table.loc[row, "se"] == pytest.approx(ref["fixed"][name]["se"], rel=1e-5)
    assert table.loc["contextual", "estimate"] == pytest.approx(
        ref["contextual"]["estimate"], rel=1e-6
    )
    assert table.loc["contextual", "se"] == pytest.approx(ref["contextual"]["se"], rel=1e-5)
    assert ce.fit.sigma2 == pytest.approx(ref["sigma2"], rel=1e-5)
    # The contextual effect's df: the smaller (between-school) df.
    assert table.loc["contextual", "df"] == table.loc["between", "df"]


def test_contextual_effect_reproduces_raudenbush_bryk(hsb, reference):
    published = json.loads(FIXTURE.read_text())["published_rb2002_ch5"]
    ce = contextual_effect(hsb.drop(columns="cses"), "mathach", "ses", "school")
    assert ce.table["estimate"].round(3).tolist() == [
        published["within"],
        published["between"],
        published["contextual"],
    ]


def test_grand_mean_centring_gives_the_contextual_effect_directly(hsb, reference):
    """With grand-mean centred SES, the school mean's slope *is* γ01 − γ10 (same model)."""
    frame = school_mean(center(hsb, "ses"), "ses", "school")
    fit = hlm.fit_hlm(frame, "mathach ~ ses_cgm + ses_mean", group="school")
    ce = contextual_effect(hsb.drop(columns="cses"), "mathach", "ses", "school")
    assert fit.fixed.loc["ses_mean", "estimate"] == pytest.approx(
        ce.table.loc["contextual", "estimate"], rel=1e-7
    )
    assert fit.fixed.loc["ses_mean", "se"] == pytest.approx(
        ce.table.loc["contextual", "se"], rel=1e-6
    )
    ref = reference["ri_grand"]
    assert fit.fixed.loc["ses_mean", "estimate"] == pytest.approx(
        ref["fixed"]["mses"]["estimate"], rel=1e-6
    )


def test_contextual_effect_errors_and_display(hsb):
    with pytest.raises(ModelInputError, match="already have a column 'ses_mean'"):
        contextual_effect(hsb.assign(ses_mean=0.0).drop(columns="cses"), "mathach", "ses", "school")
    ce = contextual_effect(hsb.drop(columns="cses"), "mathach", "ses", "school")
    assert "contextual" in str(ce) and "<table" in ce._repr_html_()
    assert (ce.within_term, ce.between_term) == ("ses_cwc", "ses_mean")
