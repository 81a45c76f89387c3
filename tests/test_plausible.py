"""Plausible values: Rubin's rules by hand, against R's mice, and pooled HLM/OLS fits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hlmteach as hlm
from hlmteach.design import ModelInputError
from hlmteach.plausible import PooledResult, fit_plausible_values, rubin_pool
from hlmteach.tables import hlm_table, ols_table

FIXTURE = Path(__file__).parent / "fixtures" / "rubin_reference.json"
PVS = [f"pv{k}" for k in range(1, 6)]


# -- rubin_pool: the arithmetic ------------------------------------------------------------------
def test_rubin_pool_by_hand():
    """Two analyses, worked out on paper.

    Q = (1, 3), U = (1, 1.2), M = 2: Q̄ = 2, Ū = 1.1, B = 2, T = 1.1 + 1.5 * 2 = 4.1,
    riv = 3 / 1.1, λ = 3 / 4.1, ν_old = 1 / λ² = 4.1² / 9;
    with ν_com = 10: ν_obs = 11/13 * 10 * (1 - λ) = 110/13 * 1.1/4.1.
    """
    table = rubin_pool([[1.0], [3.0]], [[1.0], [1.2]], df_complete=10)
    row = table.iloc[0]
    lam = 3.0 / 4.1
    nu_old = 4.1**2 / 9.0
    nu_obs = 110.0 / 13.0 * 1.1 / 4.1
    nu = 1.0 / (1.0 / nu_old + 1.0 / nu_obs)
    riv = 3.0 / 1.1
    assert row["estimate"] == pytest.approx(2.0, rel=1e-14)
    assert row["within"] == pytest.approx(1.1, rel=1e-14)
    assert row["between"] == pytest.approx(2.0, rel=1e-14)
    assert row["total"] == pytest.approx(4.1, rel=1e-14)
    assert row["se"] == pytest.approx(np.sqrt(4.1), rel=1e-14)
    assert row["riv"] == pytest.approx(riv, rel=1e-14)
    assert row["lambda"] == pytest.approx(lam, rel=1e-14)
    assert row["df"] == pytest.approx(nu, rel=1e-13)
    assert row["fmi"] == pytest.approx((riv + 2.0 / (nu + 3.0)) / (riv + 1.0), rel=1e-13)
    assert row["t"] == pytest.approx(2.0 / np.sqrt(4.1), rel=1e-14)
    assert table.attrs["m"] == 2
    # An infinite complete-data df leaves Rubin's (1987) df, (M - 1) / λ².
    assert rubin_pool([[1.0], [3.0]], [[1.0], [1.2]])["df"].iloc[0] == pytest.approx(nu_old)


def test_rubin_pool_without_between_variance():
    """Identical estimates: no missing information, T = Ū and df = ν_obs = (ν+1)/(ν+3) ν."""
    table = rubin_pool(np.full((5, 1), 0.3), np.full((5, 1), 0.01), df_complete=100)
    row = table.iloc[0]
    assert row["between"] == 0.0 and row["lambda"] == 0.0
    assert row["se"] == pytest.approx(0.1)
    assert row["df"] == pytest.approx(101.0 / 103.0 * 100.0)


@pytest.mark.parametrize("case", ["five_pvs", "two_imputations", "ten_imputations"])
def test_rubin_pool_matches_mice(case):
    """Every column against mice::pool.scalar (R), to 1e-10 relative."""
    reference = json.loads(FIXTURE.read_text())["cases"][case]
    inputs = reference["inputs"]
    df_complete = [np.inf if v is None else v for v in inputs["df_complete"]]
    table = rubin_pool(inputs["estimates"], inputs["variances"], df_complete)
    for column, expected in reference["mice"].items():
        np.testing.assert_allclose(
            table[column].to_numpy(), expected, rtol=1e-10, err_msg=f"{case}: {column}"
        )


def test_rubin_pool_rejects_bad_input():
    with pytest.raises(ModelInputError, match="at least two"):
        rubin_pool([[1.0, 2.0]], [[1.0, 1.0]])
    with pytest.raises(ModelInputError, match="same shape"):
        rubin_pool([[1.0], [2.0]], [[1.0, 1.0], [1.0, 1.0]])
    with pytest.raises(ModelInputError, match="df_complete"):
        rubin_pool([[1.0], [2.0]], [[1.0], [1.0]], df_complete=0)


# -- pooled fits ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hsb_pv(hsb) -> pd.DataFrame:
    """HSB with five artificial plausible values: mathach plus independent noise."""
    rng = np.random.default_rng(1995)
    frame = hsb.copy()
    for pv in PVS:
        frame[pv] = frame["mathach"] + rng.normal(scale=2.5, size=len(frame))
    return frame


@pytest.fixture(scope="module")
def pooled(hsb_pv) -> PooledResult:
    return fit_plausible_values(hsb_pv, "{pv} ~ cses + sector", PVS, group="school")


def test_pooled_fixed_effects_follow_rubin(pooled):
    est = pooled.per_pv("estimate")
    se = pooled.per_pv("se")
    assert list(est.columns) == PVS
    within = (se**2).mean(axis=1)
    between = est.var(axis=1, ddof=1)
    total = within + 1.2 * between
    np.testing.assert_allclose(pooled.fixed["estimate"], est.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(pooled.fixed["se"], np.sqrt(total), rtol=1e-12)
    # ν_com is each effect's between-within df in one PV's fit: 160 - 2 for the intercept
    # and sector (school level), 7185 - 3 - 158 for cses.
    assert pooled.fixed["df_complete"].tolist() == [158.0, 7024.0, 158.0]
    assert (pooled.fixed["df"] <= pooled.fixed["df_complete"]).all()
    assert (pooled.fixed["se"] > np.sqrt(within)).all()


def test_pooled_covariance_parameters(pooled):
    cov = pooled.covariance
    assert list(cov.index) == ["Var(Intercept)", "Residual"]
    np.testing.assert_allclose(
        cov["estimate"], pooled.per_pv("estimate", "covariance").mean(axis=1), rtol=1e-12
    )
    # Variances get COVTEST's one-sided p, with the Barnard-Rubin df (ν_com = ∞).
    from scipy import stats

    row = cov.loc["Var(Intercept)"]
    assert row["p"] == pytest.approx(stats.t.sf(row["t"], row["df"]))
    assert (cov["n_boundary"] == 0).all()
    assert pooled.sigma2 == pytest.approx(cov.loc["Residual", "estimate"])
    assert pooled.tau.iloc[0, 0] == pytest.approx(cov.loc["Var(Intercept)", "estimate"])
    assert pooled.icc == pytest.approx(
        pooled.tau.iloc[0, 0] / (pooled.tau.iloc[0, 0] + pooled.sigma2)
    )
    assert pooled.warnings == []


def test_comparison_first_pv_against_pooled(pooled):
    table = pooled.comparison()
    assert list(table.columns) == [
        "estimate_first",
        "se_first",
        "estimate_pooled",
        "se_pooled",
        "se_ratio",
        "fmi",
    ]
    assert table.index.names == ["part", "term"]
    assert ("fixed", "cses") in table.index and ("covariance", "Residual") in table.index
    first = pooled.fits["pv1"]
    assert table.loc[("fixed", "cses"), "estimate_first"] == first.fixed.loc["cses", "estimate"]
    assert table.loc[("fixed", "cses"), "se_pooled"] == pooled.fixed.loc["cses", "se"]
    # Noise in the outcome adds between-PV variance: pooled SEs exceed a single PV's.
    assert (table.loc["fixed", "se_ratio"] > 1.0).all()


def test_formula_forms_and_errors(hsb_pv):
    forms = ["{pv} ~ cses", "~ cses", "cses"]
    results = [fit_plausible_values(hsb_pv, f, PVS[:2], model="ols") for f in forms]
    for result in results[1:]:
        pd.testing.assert_frame_equal(result.fixed, results[0].fixed)
    assert results[1].formula == "{pv} ~ cses"
    with pytest.raises(ModelInputError, match=r"\{pv\}"):
        fit_plausible_values(hsb_pv, "mathach ~ cses", PVS, group="school")
    with pytest.raises(ModelInputError, match="at least two"):
        fit_plausible_values(hsb_pv, "~ cses", ["pv1"], group="school")
    with pytest.raises(ModelInputError, match=r"\['nope'\] that the data do not have"):
        fit_plausible_values(hsb_pv, "~ cses", ["pv1", "nope"], group="school")
    with pytest.raises(ModelInputError, match="group='school'"):
        fit_plausible_values(hsb_pv, "~ cses", PVS)
    with pytest.raises(ModelInputError, match="Unknown model"):
        fit_plausible_values(hsb_pv, "~ cses", PVS, model="glm")


def test_rows_missing_a_plausible_value_are_dropped_from_every_fit(hsb_pv):
    frame = hsb_pv.copy()
    frame.loc[frame.index[:3], "pv2"] = np.nan
    result = fit_plausible_values(frame, "~ cses", PVS[:3], group="school")
    assert result.n_dropped == 3
    assert {fit.n_obs for fit in result.fits.values()} == {len(frame) - 3}


def test_by_country_pools_each_level(hsb_pv):
    both = fit_plausible_values(hsb_pv, "~ cses", PVS[:3], group="school", by="sector")
    assert isinstance(both, hlm.ByResults) and list(both) == ["0", "1"]
    catholic = fit_plausible_values(
        hsb_pv[hsb_pv["sector"] == 1], "~ cses", PVS[:3], group="school"
    )
    pd.testing.assert_frame_equal(both["1"].fixed, catholic.fixed)
    # The course's side-by-side table reads pooled results like single fits.
    table = hlm_table(both)
    assert table.loc["N of Schools", ("1", "Coefficient")] == str(catholic.n_groups)
    assert "<table>" in both._repr_html_()


def test_pooled_ols(hsb_pv):
    both = fit_plausible_values(hsb_pv, "~ ses", PVS, model="ols", by="sector")
    public = both["0"]
    assert public.model == "ols"
    assert public.fixed["df_complete"].tolist() == [public.n_obs - 2.0] * 2
    assert public.r2 == pytest.approx(np.mean([fit.r2 for fit in public.fits.values()]))
    assert ols_table(both).loc["Sample Size", ("0", "Coefficient")] == str(public.n_obs)
    with pytest.raises(AttributeError, match="HLM"):
        _ = public.covariance
    assert "OLS fitted to each of 5 plausible values" in str(public)


def test_variance_on_the_boundary_in_some_plausible_values():
    """No true slope variance: it is estimated at zero with two of the five PVs."""
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(30), 8)
    x = rng.normal(size=groups.size)
    y = 0.5 * x + rng.normal(scale=0.5, size=30)[groups] + rng.normal(size=groups.size)
    frame = pd.DataFrame(
        {"school": groups, "x": x, **{pv: y + rng.normal(scale=0.4, size=y.size) for pv in PVS}}
    )
    result = fit_plausible_values(
        frame, "{pv} ~ x", PVS, group="school", random=["x"], covariance="vc"
    )
    row = result.covariance.loc["Var(x)"]
    assert row["n_boundary"] == 2
    assert np.isnan(row["se"]) and np.isnan(row["p"]) and np.isfinite(row["estimate"])
    assert len(result.warnings) == 1 and "pv3, pv5" in result.warnings[0]
    assert "Var(x) is on the boundary" in result.summary()
    assert "Note." in result._repr_html_()


def test_anova_table_accepts_pooled_results():
    import hlmteach as hlm

    pooled = hlm.fit_plausible_values(hlm.load_timss(), "{pv} ~ 1", group="school", by="country")
    table = hlm.tables.anova_table(pooled)
    assert "ICC" in table.index and "-2 Res Log Likelihood" not in table.index


def test_reports_print_no_wald_t_or_p_for_variances(hsb_pv):
    """Review B6: the pooled report tests fixed effects, not variances (notebook 10)."""
    pooled = fit_plausible_values(hsb_pv, "~ cses", PVS, group="school", random=["cses"])
    text = pooled.summary()
    fixed_part, covariance_part = text.split("Pooled covariance parameters")
    assert ["estimate", "se", "df", "t", "p", "fmi"] in [
        line.split() for line in fixed_part.splitlines()
    ]
    header = covariance_part.splitlines()[2].split()
    assert header == ["estimate", "se", "fmi", "n_boundary"]
    assert "likelihood-ratio test" in covariance_part
    html_part = pooled._repr_html_().split("Pooled covariance parameters")[1]
    assert "<th>t</th>" not in html_part and "<th>p</th>" not in html_part
    assert "<th>fmi</th>" in html_part
    # the table itself keeps the Wald columns for whoever wants them
    assert {"t", "p", "df"} <= set(pooled.covariance.columns)
