"""hlmteach.diagnostics (and its figures) against R's HLMdiag, lme4 refits and the definitions.

The reference numbers are in tests/fixtures/diagnostics_hlmdiag.json, written by
tests/reference/diagnostics.R (HLMdiag's one-step cooks.distance / mdffits / covratio /
covtrace with level = "school", its case_delete, tight lme4 refits without each school,
and R&B's H statistic from lm() in each school). See that script for the definitions.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hlmteach as hlm
from hlmteach import diagnostic_plots as dp
from hlmteach import diagnostics as dg
from hlmteach.validation import ModelInputError

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "diagnostics_hlmdiag.json"
REFERENCE = json.loads(FIXTURE.read_text(encoding="utf-8"))
MODELS = REFERENCE["models"]

#: The fixture's models, as hlmteach fits them: (data, formula, random, covariance).
SPECS = {
    "timss_korea": ("Korea", "math ~ college + boy", ["college"], "vc"),
    "timss_usa": ("USA", "math ~ college + boy", ["college"], "vc"),
    "hsb": ("hsb", "mathach ~ ses + sector", ["ses"], "un"),
}
#: lme4's names of the fixed effects and variance components, in hlmteach's spelling.
R_NAMES = {
    "(Intercept)": "Intercept",
    "sigma2": "Residual",
    "var_(Intercept)": "Var(Intercept)",
    "var_college": "Var(college)",
    "var_ses": "Var(ses)",
    "cov_(Intercept)_ses": "Cov(Intercept, ses)",
}


@cache
def _data(name: str) -> pd.DataFrame:
    where = SPECS[name][0]
    if where == "hsb":
        return hlm.load_hsb()
    timss = hlm.load_timss()
    return timss[timss["country"] == where]


@cache
def _fit(name: str):
    _, formula, random, covariance = SPECS[name]
    return hlm.fit_hlm(_data(name), formula, group="school", random=random, covariance=covariance)


@cache
def _one_step(name: str) -> pd.DataFrame:
    return dg.school_influence(_fit(name))


@cache
def _refits(name: str) -> pd.DataFrame:
    return dg.deletion_influence(_fit(name), _data(name))


def _aligned(name: str, table: pd.DataFrame) -> pd.DataFrame:
    """Rows in the fixture's order of schools (R's ids are text)."""
    table = table.copy()
    table.index = table.index.astype(str)
    return table.loc[MODELS[name]["schools"]]


def _fixed_columns(name: str) -> list[str]:
    return [f"change_{R_NAMES.get(n, n)}" for n in MODELS[name]["fixed_names"]]


# -- the fixture --------------------------------------------------------------------------------
def test_fixture_is_for_the_shipped_data():
    for name, model in MODELS.items():
        path = ROOT / model["data"]["file"]
        assert hashlib.md5(path.read_bytes()).hexdigest() == model["data"]["md5"], (
            f"{path.name} changed since tests/fixtures/diagnostics_hlmdiag.json was written: "
            "rerun tests/reference/diagnostics.R (see its header) to refresh the references"
        )
        fit = _fit(name)
        assert (fit.n_obs, fit.n_groups) == (model["data"]["n_obs"], model["data"]["n_groups"])
    assert REFERENCE["provenance"]["packages"]["HLMdiag"]


@pytest.mark.parametrize("name", list(MODELS))
def test_full_fit_matches_lme4(name):
    """The fits the diagnostics start from: fixed effects and variance components.

    Both optimisers stop within about 1e-9 of the REML optimum in the deviance, which
    leaves the estimates agreeing to about 1e-6 relative (the deviance is flat, to second
    order, at the optimum).
    """
    model, fit = MODELS[name], _fit(name)
    ours = fit.fixed["estimate"].loc[[R_NAMES.get(n, n) for n in model["fixed_names"]]]
    np.testing.assert_allclose(ours, model["fixed"], rtol=1e-6)
    covparms = fit.covariance["estimate"]
    ours = [covparms[R_NAMES[n]] for n in model["varcomp_names"]]
    np.testing.assert_allclose(ours, model["varcomp"], rtol=2e-5)
    assert fit.deviance <= model["reml_deviance"] + 1e-7


# -- one-step diagnostics (HLMdiag's cooks.distance etc. with level = "school") -------------------
@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("statistic", ["cooksd", "mdffits", "covratio", "covtrace"])
def test_one_step_matches_hlmdiag(name, statistic):
    """HLMdiag evaluates the one-step formulas at lme4's estimates, we at ours. With the
    variance components fixed the formulas are exact, so the only difference is the full
    fit's variance components (agreeing to about 1e-6, above): the statistics agree to
    1.3e-6 relative at worst (HSB), 2e-7 in TIMSS; 1e-5 leaves room."""
    column = {"cooksd": "cooks_distance"}.get(statistic, statistic)
    ours = _aligned(name, _one_step(name))[column].to_numpy()
    np.testing.assert_allclose(ours, MODELS[name]["one_step"][statistic], rtol=1e-5)


@pytest.mark.parametrize("name", list(MODELS))
def test_one_step_change_in_fixed_effects_matches_hlmdiag(name):
    ours = _aligned(name, _one_step(name))[_fixed_columns(name)].to_numpy()
    reference = np.array(MODELS[name]["one_step"]["change"])
    # Absolute, scaled by each column's largest change: some changes are near 0.
    scale = np.abs(reference).max(axis=0)
    np.testing.assert_allclose(ours / scale, reference / scale, atol=1e-5)


def test_one_step_is_the_exact_change_with_the_variance_components_fixed():
    """Independent of R: GLS without the school, at the full fit's tau and sigma2."""
    fit = _fit("timss_korea")
    design = fit.design
    tau, sigma2 = fit.tau.to_numpy(), fit.sigma2
    beta = fit.fixed["estimate"].to_numpy()
    one_step = _one_step("timss_korea")
    for j in (0, 22, 98):
        keep = design.group_codes != j
        info, score = 0.0, 0.0
        for k in np.unique(design.group_codes[keep]):
            rows = design.group_codes == k
            X, Z, y = design.X[rows], design.Z[rows], design.y[rows]
            Vinv = np.linalg.inv(sigma2 * np.eye(rows.sum()) + Z @ tau @ Z.T)
            info = info + X.T @ Vinv @ X
            score = score + X.T @ Vinv @ y
        deleted_beta = np.linalg.solve(info, score)
        row = one_step.iloc[j]
        np.testing.assert_allclose(
            row[[f"change_{n}" for n in design.fixed_names]].to_numpy(float),
            beta - deleted_beta,
            rtol=1e-9,
            atol=1e-12,
        )


# -- full deletion (refits) ---------------------------------------------------------------------
#: How far apart two converged refits can be, in standard errors of each fixed effect. The
#: refits' REML criterion is flat at its optimum: ours, lme4's bobyqa (rhoend 1e-12) and
#: lme4's nloptwrap (xtol 1e-14) reach the same deviance to 1e-11 (HSB without school 8800,
#: 46388.085296057), yet their fixed effects differ by up to 4e-7 (about 2e-6 SE): the
#: deviance pins the estimates only to about 1e-6 SE. The references agree with us to 4e-6
#: SE at worst (HSB); 1e-5 SE leaves room for another platform's rounding.
REFIT_SE = 1e-5


def _refit_change_bound(name: str, distance: np.ndarray) -> np.ndarray:
    """Largest difference in D_j (or MDFFITS) that a change off by REFIT_SE can make.

    With d the change in standard-error units, D = |d|^2 / p; an error of at most eps in
    each of its p components moves D by at most (2 sqrt(p D) sqrt(p) eps + p eps^2) / p.
    """
    p = len(MODELS[name]["fixed"])
    eps = REFIT_SE
    return (2.0 * np.sqrt(p * distance) * np.sqrt(p) * eps + p * eps**2) / p


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("statistic", ["cooksd", "mdffits"])
def test_refit_distances_match_tight_lme4_refits(name, statistic):
    """Cook's distance and MDFFITS of refits against lme4 refits at rhoend 1e-12 and
    HLMdiag's case_delete definitions, within what REFIT_SE allows (about 1e-5 of D_j
    for the most influential schools)."""
    column = {"cooksd": "cooks_distance"}.get(statistic, statistic)
    ours = _aligned(name, _refits(name))[column].to_numpy()
    reference = np.array(MODELS[name]["full_tight"][statistic])
    # MDFFITS weighs the change by the deleted fit's information, within 10% of the full one.
    bound = 1.1 * _refit_change_bound(name, reference)
    np.testing.assert_array_less(np.abs(ours - reference), bound)
    big = reference > 0.5 * reference.max()
    np.testing.assert_allclose(ours[big], reference[big], rtol=1e-4)


@pytest.mark.parametrize("name", list(MODELS))
def test_refit_covariance_ratios_match_tight_lme4_refits(name):
    """COVRATIO and COVTRACE depend on the refits' variance components only through
    Cov(b_(j)): agreement to 1e-5 relative (COVRATIO, near 1) and 1e-5 absolute (COVTRACE,
    a small difference |tr(...) - p|)."""
    ours = _aligned(name, _refits(name))
    reference = MODELS[name]["full_tight"]
    np.testing.assert_allclose(ours["covratio"], reference["covratio"], rtol=1e-5)
    np.testing.assert_allclose(ours["covtrace"], reference["covtrace"], atol=1e-5)


@pytest.mark.parametrize("name", list(MODELS))
def test_refit_changes_and_rvc_match_tight_lme4_refits(name):
    model = MODELS[name]
    ours = _aligned(name, _refits(name))
    se = np.sqrt(np.diag(np.array(model["vcov"])))
    change = np.array(model["full_tight"]["change"])
    np.testing.assert_allclose(
        ours[_fixed_columns(name)].to_numpy() / se, change / se, atol=REFIT_SE
    )
    rvc = np.array(model["full_tight"]["rvc"])
    for k, r_name in enumerate(model["full_tight"]["rvc_names"]):
        # The same flatness leaves small variances (Korea's tau11 = 0.009) determined to
        # about 1e-5 of themselves: 5e-5 absolute on deleted / full - 1. A variance refitted
        # onto 0 is -1 in both, exactly.
        np.testing.assert_allclose(ours[f"rvc_{R_NAMES[r_name]}"], rvc[:, k], atol=5e-5)
        exact_zero = rvc[:, k] == -1.0
        assert (ours[f"rvc_{R_NAMES[r_name]}"].to_numpy()[exact_zero] == -1.0).all()


@pytest.mark.parametrize("name", list(MODELS))
def test_refits_agree_with_hlmdiag_case_delete(name):
    """HLMdiag's own case_delete refits with lme4's default optimiser settings, which stop
    early: its Cook's distances differ from the tight refits by up to 1.4% (HSB), so 5% of
    D_j for the schools that carry any weight (D_j above 1% of the largest). The tight
    refits (above) are the real check; this one shows that HLMdiag itself agrees."""
    ours = _aligned(name, _refits(name))["cooks_distance"].to_numpy()
    reference = np.array(MODELS[name]["full_hlmdiag"]["cooksd"])
    big = reference > 0.01 * reference.max()
    np.testing.assert_allclose(ours[big], reference[big], rtol=5e-2)


# -- R&B's H statistic --------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(MODELS))
def test_homogeneity_test_matches_r(name):
    """Per-school OLS residual variances (lm) and H: closed-form arithmetic, 1e-9 relative."""
    reference = MODELS[name]["h_statistic"]
    fit = _fit(name)
    table = dg.school_residual_variances(fit)
    table.index = table.index.astype(str)
    table = table.loc[reference["schools"]]
    np.testing.assert_array_equal(table["n_students"], reference["n"])
    np.testing.assert_array_equal(table["df"], reference["f"])
    s2 = np.array([np.nan if v is None else v for v in reference["s2"]], dtype=float)
    np.testing.assert_allclose(table["variance"], s2, rtol=1e-9)
    test = dg.homogeneity_test(fit, min_df=reference["min_df"])
    assert test.n_used == sum(reference["used"]) and test.df == reference["df"]
    assert test.statistic == pytest.approx(reference["H"], rel=1e-9)
    assert test.p_value == pytest.approx(reference["p"], rel=1e-7)


# -- the other tables: checks against the fit itself --------------------------------------------
def test_eblups_fitted_values_and_covariance_agree_with_the_fit():
    fit = _fit("hsb")
    blocks = dg._blocks(fit)
    stored = fit.random_effects["estimate"].unstack("term")[fit.design.random_names]
    np.testing.assert_allclose(blocks.eblups, stored.to_numpy(), atol=1e-10)
    cov_beta = blocks.A @ np.linalg.inv(blocks.information) @ blocks.A.T
    se = np.sqrt(np.diag(cov_beta))
    np.testing.assert_allclose(se, fit.fixed["se"], rtol=1e-9)
    res = dg.level1_residuals(fit)
    np.testing.assert_allclose(res["fitted"] + res["residual"], fit.design.y, rtol=1e-12)
    # The residuals are orthogonal to every column of X (GLS normal equations).
    np.testing.assert_allclose(fit.design.X.T @ res["residual"], 0.0, atol=1e-8)


def test_standardised_eblups_use_the_prediction_standard_errors():
    fit = _fit("timss_usa")
    qq = dg.eblup_qq(fit, "Intercept").sort_index()
    se = fit.random_effects["se"].xs("Intercept", level="term").sort_index()
    sampling_sd = np.sqrt(fit.tau.loc["Intercept", "Intercept"] - se**2)
    np.testing.assert_allclose(qq["standardised"], qq["eblup"] / sampling_sd, rtol=1e-9)
    # R's qqnorm positions: ppoints(n) = (i - 1/2) / n for n > 10.
    n = len(qq)
    expected = np.sort(np.asarray(__import__("scipy").stats.norm.ppf((np.arange(n) + 0.5) / n)))
    np.testing.assert_allclose(np.sort(qq["normal_score"]), expected)


def test_simulated_eblups_are_reproducible_and_shrunk():
    fit, data = _fit("hsb"), _data("hsb")
    first = dg.simulated_eblups(fit, data, n_sim=2, seed=3)
    again = dg.simulated_eblups(fit, data, n_sim=2, seed=3)
    pd.testing.assert_frame_equal(first, again)
    assert len(first) == 2 * fit.n_groups
    spread = first.groupby("sim")[["eblup", "true_effect"]].std()
    assert (spread["eblup"] < spread["true_effect"]).all()


# -- invariance ----------------------------------------------------------------------------------
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exponent=st.integers(min_value=-4, max_value=4), shift=st.sampled_from([0.0, 3.0]))
def test_influence_does_not_depend_on_the_units_of_a_predictor(exponent, shift):
    """Cook's distance, MDFFITS, COVRATIO and COVTRACE are unchanged when ses is measured in
    other units (times 10**exponent) or from another origin; the change in its coefficient
    scales inversely. 1e-6: the fits themselves are invariant to about 1e-8 (exactly, for a
    pure change of units), and the diagnostics are computed in centred, scaled columns."""
    hsb = _data("hsb")
    base = dg.school_influence(
        hlm.fit_hlm(hsb, "mathach ~ ses + sector", group="school", random=["ses"])
    )
    factor = 10.0**exponent
    moved = hsb.assign(ses=hsb["ses"] * factor + shift)
    influence = dg.school_influence(
        hlm.fit_hlm(moved, "mathach ~ ses + sector", group="school", random=["ses"])
    )
    for column in ["cooks_distance", "mdffits", "covratio", "covtrace"]:
        np.testing.assert_allclose(influence[column], base[column], rtol=1e-6, atol=1e-12)
    # The change in the ses coefficient scales inversely; compared on the scale of its
    # largest value, since a shifted ses changes the fit's path to the optimum a little.
    scale = base["change_ses"].abs().max()
    np.testing.assert_allclose(
        influence["change_ses"] * factor / scale, base["change_ses"] / scale, atol=1e-6
    )


# -- figures --------------------------------------------------------------------------------------
def test_figures():
    fit, data = _fit("timss_korea"), _data("timss_korea")
    sims = dg.simulated_eblups(fit, data, "college", n_sim=2, seed=1)
    figures = [
        dp.residual_plot(fit),
        dp.residual_plot(fit, against="fixed_fitted"),
        dp.eblup_qq_plot(fit, "college", simulations=sims),
        dp.residual_variance_plot(fit),
        dp.influence_plot(_one_step("timss_korea"), "covratio", label=0),
    ]
    assert [len(f.axes) for f in figures] == [3, 3, 2, 1, 1]
    assert figures[1].axes[0].get_xlabel() == "fitted value (fixed part)"
    import matplotlib.pyplot as plt

    for figure in figures:
        plt.close(figure)


# -- bad input ------------------------------------------------------------------------------------
def test_bad_input_is_explained():
    fit, data = _fit("hsb"), _data("hsb")
    with pytest.raises(ModelInputError, match="one fitted model"):
        dg.school_influence({"a": fit})
    with pytest.raises(ModelInputError, match="pick one"):
        dg.level1_residuals(hlm.fit_hlm(hlm.load_timss(), "math ~ 1", group="school", by="country"))
    with pytest.raises(ModelInputError, match="random terms"):
        dg.eblup_qq(fit, "sector")
    with pytest.raises(ModelInputError, match="rows are not in it"):
        dg.deletion_influence(fit, data.iloc[:100])
    with pytest.raises(ModelInputError, match="does not match the schools"):
        dg.deletion_influence(
            fit, data.assign(school=data["school"].sample(frac=1, random_state=1).to_numpy())
        )
    with pytest.raises(ModelInputError, match="not schools of this model"):
        dg.deletion_influence(fit, data, schools=[1])
    with pytest.raises(ModelInputError, match="list of school ids"):
        dg.deletion_influence(fit, data, schools="1224")
    with pytest.raises(ModelInputError, match="min_df"):
        dg.homogeneity_test(fit, min_df=500)
    with pytest.raises(ModelInputError, match="n_sim"):
        dg.simulated_eblups(fit, data, n_sim=0)
    with pytest.raises(ModelInputError, match="seed"):
        dg.simulated_eblups(fit, data, seed=-1)
    with pytest.raises(ModelInputError, match="against"):
        dp.residual_plot(fit, against="observed")
    with pytest.raises(ModelInputError, match="statistic must be one of"):
        dp.influence_plot(dg.school_influence(fit), "leverage")
    with pytest.raises(ModelInputError, match="simulations must be"):
        dp.eblup_qq_plot(fit, simulations=pd.DataFrame({"rank": [1]}))


def test_weighted_fits_are_refused():
    pisa = hlm.load_pisa()
    fit = hlm.fit_hlm(
        pisa,
        "pv1math ~ escs",
        group="schoolid",
        method="ML",
        weights="w_fstuwt",
        group_weights="w_fschwt",
    )
    with pytest.raises(ModelInputError, match="pseudo-likelihood"):
        dg.school_influence(fit)


def test_a_transformed_outcome_cannot_be_simulated():
    hsb = _data("hsb")
    fit = hlm.fit_hlm(hsb.assign(m=hsb["mathach"] + 5), "np.log(m) ~ ses", group="school")
    with pytest.raises(ModelInputError, match="transformed outcome"):
        dg.simulated_eblups(fit, hsb.assign(m=hsb["mathach"] + 5), n_sim=1)


def test_a_slope_whose_predictor_never_varies_has_an_eblup_of_exactly_zero():
    """With uncorrelated effects, a school without students with college = 1 has no college
    EBLUP: 0 exactly (not rounding noise of the conditioned columns), and no standardised one."""
    fit, data = _fit("timss_korea"), _data("timss_korea")
    qq = dg.eblup_qq(fit, "college")
    none = data.groupby("school")["college"].max().reindex(qq.index) == 0
    assert none.sum() > 0
    assert (qq.loc[none, "eblup"] == 0.0).all() and qq.loc[none, "standardised"].isna().all()
    assert qq.loc[~none, "standardised"].notna().all()
