"""hlmteach.published: the source's tables as printed, and fits set beside them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

import hlmteach as hlm
from hlmteach.published import (
    ANOVA_RESULTS,
    HLM_RESULTS,
    OLS_RESULTS,
    SOURCE,
    compare_published,
    largest_gap,
)
from hlmteach.validation import ModelInputError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def timss() -> pd.DataFrame:
    return hlm.load_timss()


@pytest.fixture(scope="module")
def anova(timss):
    return hlm.fit_hlm(timss, "math ~ 1", group="school", by="country")


def test_rounding_gap_and_missing_cells(anova):
    table = compare_published(anova, ANOVA_RESULTS, labels={"Var(Intercept)": "tau00"})
    korea = anova["Korea"]
    tau, se = korea.covariance.loc["Var(Intercept)", ["estimate", "se"]]
    # Ours rounded to the five decimals the source printed; the gap in published SEs.
    assert table.loc["tau00", ("Korea", "ours")] == f"{tau:.5f} ({se:.5f})"
    gap = (tau - 0.06161) / 0.01268
    assert float(table.loc["tau00", ("Korea", "gap (SEs)")]) == pytest.approx(gap, abs=0.05)
    # The source printed no US df: "-" beside our 182, and no gap for a single number.
    assert table.loc["df(Intercept)", "USA"].tolist() == ["-", "182", ""]
    assert table.loc["Z(Var(Intercept))", ("Korea", "ours")] == (
        f"{korea.covariance.loc['Var(Intercept)', 'z']:.2f}"
    )
    assert table.loc["BIC", ("USA", "ours")] == f"{anova['USA'].fit_stats['BIC']:.1f}"
    assert list(table.index)[:3] == ["Intercept", "df(Intercept)", "tau00"]


def test_stars_only_where_the_source_printed_them(timss):
    ols = hlm.fit_ols(timss, "math ~ college + boy", by="country")
    table = compare_published(ols, OLS_RESULTS)
    assert table.loc["boy", ("USA", "published")] == "0.033 (0.02)"
    p_boy = ols["USA"].fixed.loc["boy", "p"]
    assert table.loc["boy", ("USA", "ours")].endswith(hlm.tables.stars(p_boy) or ")")
    assert table.loc["R2", ("USA", "ours")] == f"{ols['USA'].r2:.3f}"


def test_percentages_and_no_negative_zero(timss):
    fits = hlm.fit_hlm(
        timss,
        "math ~ college + boy",
        group="school",
        random=["college"],
        covariance="vc",
        by="country",
    )
    table = compare_published(fits, HLM_RESULTS)
    assert table.loc["ICC", ("USA", "ours")] == f"{100 * fits['USA'].icc:.0f}%"
    gaps = table.xs("gap (SEs)", axis=1, level=1).to_numpy().ravel()
    assert "-0.0" not in gaps


def test_bad_input_is_explained(anova, timss):
    with pytest.raises(ModelInputError, match=r"names nothing.*fixed effects are \[.Intercept.\]"):
        compare_published(anova, {"Korea": {"college": ("0.5", "0.1")}})
    with pytest.raises(ModelInputError, match="fits have only"):
        compare_published({"Korea": anova["Korea"]}, ANOVA_RESULTS)
    with pytest.raises(ModelInputError, match="mapping of country to fit"):
        compare_published(anova["Korea"], ANOVA_RESULTS)
    ols = hlm.fit_ols(timss, "math ~ college + boy", by="country")
    with pytest.raises(ModelInputError, match="OLSResult"):
        compare_published(ols, ANOVA_RESULTS)


def test_tables_agree_with_the_calibration_script():
    """The same printed numbers as the independent transcription in scripts/calibration_table."""
    spec = importlib.util.spec_from_file_location(
        "calibration_table", ROOT / "scripts" / "calibration_table.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    names = {"Var(Intercept)": "tau00", "Residual": "sigma2", "Var(college)": "tau college"}
    models = {
        "OLS": OLS_RESULTS,
        "intercept-only": ANOVA_RESULTS,
        "random college slope": HLM_RESULTS,
    }
    compared = 0
    for (country, model, row), (estimate, se) in module.PUBLISHED.items():
        printed = {names.get(k, k): v for k, v in models[model][country].items()}
        printed["N"] = printed.get("Sample Size")
        printed["-2 Res Log L"] = printed.get("-2 Res Log Likelihood")
        if row not in printed:
            continue
        value = printed[row]
        assert (value[:2] if isinstance(value, tuple) else value) == (
            (estimate, se) if se is not None else estimate
        ), (country, model, row)
        compared += 1
    assert compared >= 28


def test_the_source_is_named():
    assert "Uekawa" in SOURCE and "estat.us" in SOURCE


def test_largest_gap_is_unrounded(timss):
    ols = hlm.fit_ols(timss, "math ~ college + boy", by="country")
    by_hand = max(
        abs(ols[c].fixed.loc[term, "estimate"] - float(printed[0])) / float(printed[1])
        for c, rows in OLS_RESULTS.items()
        for term, printed in rows.items()
        if isinstance(printed, tuple)
    )
    assert largest_gap(ols, OLS_RESULTS) == pytest.approx(by_hand, rel=1e-12)
    with pytest.raises(ModelInputError, match="fits have only"):
        largest_gap({"USA": ols["USA"]}, OLS_RESULTS)
