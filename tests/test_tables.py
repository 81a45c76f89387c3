"""Side-by-side tables in the seed's shapes, and reports."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hlmteach as hlm
from hlmteach.tables import anova_table, hlm_table, ols_table, stars


def test_stars_thresholds():
    assert [stars(p) for p in (0.0009, 0.001, 0.0099, 0.01, 0.049, 0.05, np.nan)] == [
        "***",
        "**",
        "**",
        "*",
        "*",
        "",
        "",
    ]


@pytest.fixture(scope="module")
def two_groups(hsb):
    return hsb.assign(group=np.where(hsb["sector"] == 1, "Catholic", "Public"))


def test_ols_table_shape(two_groups):
    fits = hlm.fit_ols(two_groups, "mathach ~ ses", by="group")
    table = ols_table(fits)
    assert list(table.columns.get_level_values(0).unique()) == ["Catholic", "Public"]
    assert list(table.index) == ["Intercept", "ses", "Sample Size", "R2"]
    n = int((two_groups["group"] == "Public").sum())
    assert table.loc["Sample Size", ("Public", "Coefficient")] == str(n)
    est = fits["Public"].fixed.loc["ses", "estimate"]
    assert table.loc["ses", ("Public", "Coefficient")] == f"{est:.3f}"


def test_anova_table_shape(two_groups):
    fits = hlm.fit_hlm(two_groups, "mathach ~ 1", group="school", by="group")
    table = anova_table(fits)
    assert "ICC" in table.index and "N of Schools" in table.index
    assert "-2 Res Log Likelihood" in table.index and "BIC" in table.index
    icc = fits["Catholic"].icc
    assert table.loc["ICC", ("Catholic", "Coefficient")] == f"{100 * icc:.1f}%"
    tau = fits["Catholic"].tau.iloc[0, 0]
    assert table.loc["Intercept", ("Catholic", "Variance")] == f"{tau:.4f}"


def test_hlm_table_marks_fixed_slopes(two_groups):
    fits = hlm.fit_hlm(
        two_groups,
        "mathach ~ cses + female",
        group="school",
        random=["cses"],
        covariance="vc",
        by="group",
    )
    table = hlm_table(fits)
    assert table.loc["female", ("Public", "Variance")] == "FIXED"
    assert table.loc["cses", ("Public", "Variance")] != "FIXED"
    assert isinstance(table, pd.DataFrame)


def test_text_report_orders_like_sas(hsb):
    text = hlm.fit_hlm(hsb, "mathach ~ 1", group="school").summary()
    order = [
        text.index(h)
        for h in ("Covariance Parameter Estimates", "Fit Statistics", "Solution for Fixed Effects")
    ]
    assert order == sorted(order)
    assert "observations not used (missing values): 0" in text


def test_reports_state_each_variables_centring(hsb):
    data = hlm.center(hlm.load_hsb(), "ses", group="school", kind="group")
    fit = hlm.fit_hlm(data, "mathach ~ ses_cwc", group="school", random=["ses_cwc"])
    line = "ses_cwc: ses centred around its school mean (group-mean centring by school)"
    assert line in fit.summary()
    assert line in fit._repr_html_()
