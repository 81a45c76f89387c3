"""Survey-weighted (pseudo-maximum likelihood) two-level fits.

Checked against:
- the published WeMix vignette Table 1 on PISA 2012 USA (WeMix, Stata, SAS, GLLAMM
  and Mplus agree on it), to its printed precision;
- R lme4's ML fits of the data replicated by integer weights (the replication
  identity; tests/fixtures/weighted_replication_lme4.json, made by
  tests/reference/weighted_lme4.R);
- a direct, dense implementation of each school's pseudo-log-likelihood written
  here (the Laplace form, exact for the linear model), differentiated numerically,
  for the sandwich standard errors.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hlmteach as hlm
from hlmteach.validation import ModelInputError

FIXTURES = Path(__file__).parent / "fixtures"
REPLICATION = json.loads((FIXTURES / "weighted_replication_lme4.json").read_text())

TABLE1_FORMULA = (
    "pv1math ~ C(st29q03, Treatment('Strongly agree')) + C(sc14q02, Treatment('Not at all'))"
    " + C(st04q01, Treatment('Female')) + escs"
)
# WeMix vignette Table 1 (WeMix column), printed digits; keys are the hlmteach term names.
TABLE1_FIXED = {
    "Intercept": (486.80, 7.7780),
    "C(st29q03, Treatment('Strongly agree'))[T.Agree]": (-11.108, 5.6998),
    "C(st29q03, Treatment('Strongly agree'))[T.Strongly disagree]": (-41.542, 6.8643),
    "C(st29q03, Treatment('Strongly agree'))[T.Disagree]": (-19.255, 5.4556),
    "C(sc14q02, Treatment('Not at all'))[T.A lot]": (-26.913, 7.6573),
    "C(sc14q02, Treatment('Not at all'))[T.To some extent]": (-11.782, 12.821),
    "C(sc14q02, Treatment('Not at all'))[T.Very little]": (-21.340, 17.060),
    "C(st04q01, Treatment('Female'))[T.Male]": (9.5077, 2.9860),
    "escs": (25.568, 2.1175),
}


def _half_unit(printed: float) -> float:
    """Half a unit in the last printed digit of a number as the table prints it."""
    text = f"{printed}"
    decimals = len(text.split(".")[1]) if "." in text else 0
    return 0.5 * 10.0**-decimals


@pytest.fixture(scope="module")
def pisa() -> pd.DataFrame:
    return hlm.load_pisa()


@pytest.fixture(scope="module")
def table1(pisa: pd.DataFrame) -> hlm.HLMResult:
    return hlm.fit_hlm(
        pisa,
        TABLE1_FORMULA,
        group="schoolid",
        method="ML",
        weights="w_fstuwt",
        group_weights="w_fschwt",
        conditional_weights=False,
        weight_scaling="none",
    )


# -- the published reference ---------------------------------------------------------------


def test_table1_log_likelihood_and_variances(table1: hlm.HLMResult) -> None:
    assert table1.converged
    # Printed -12789992.0 (WeMix, SAS, Mplus) and -12789991.9 (Stata): one decimal.
    assert abs(-table1.deviance / 2 - (-12789992.0)) <= 0.05 + 0.05
    cov = table1.covariance["estimate"]
    assert abs(cov["Var(Intercept)"] - 1413.81) <= _half_unit(1413.81)
    assert abs(cov["Residual"] - 5264.80) <= _half_unit(5264.80)


def test_table1_fixed_effects_and_sandwich_ses(table1: hlm.HLMResult) -> None:
    for term, (estimate, se) in TABLE1_FIXED.items():
        row = table1.fixed.loc[term]
        assert abs(row["estimate"] - estimate) <= _half_unit(estimate), term
        assert abs(row["se"] - se) <= _half_unit(se), term
    # z tests: infinite df and normal p-values, as WeMix and Stata report.
    assert np.isinf(table1.fixed["df"]).all()


def test_table1_variance_ses_match_stata(table1: hlm.HLMResult) -> None:
    # The packages' variance SEs differ by up to 12 %. Stata mixed (340.75, 152.58) uses
    # the sandwich of the ML scores in G and sigma2, as here; its point estimates differ
    # from WeMix's by 3e-5 relative, so agreement is tested to 0.1 %.
    se = table1.covariance["se"]
    assert se["Var(Intercept)"] == pytest.approx(340.75, rel=1e-3)
    assert se["Residual"] == pytest.approx(152.58, rel=1e-3)


def test_conditional_and_total_weights_give_the_same_fit(
    pisa: pd.DataFrame, table1: hlm.HLMResult
) -> None:
    conditional = hlm.fit_hlm(
        pisa,
        TABLE1_FORMULA,
        group="schoolid",
        method="ML",
        weights="pwt1",
        group_weights="w_fschwt",
        conditional_weights=True,
    )
    assert conditional.deviance == pytest.approx(table1.deviance, rel=1e-12)
    np.testing.assert_allclose(conditional.fixed, table1.fixed, rtol=1e-7)
    np.testing.assert_allclose(
        conditional.covariance[["estimate", "se"]], table1.covariance[["estimate", "se"]], rtol=1e-6
    )


# -- the replication identity against lme4 --------------------------------------------------


def _replication_case(pisa: pd.DataFrame, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The weighted subset and the data replicated by its weights, built as the fixture says."""
    case = REPLICATION["cases"][name]
    first, n_schools = case["subset"]["first_sorted_position"], case["subset"]["n_schools"]
    k_cycle, m_cycle = case["subset"]["K"], case["subset"]["M"]
    schools = sorted(pisa["schoolid"].unique())[first - 1 : first - 1 + n_schools]
    s = pisa[pisa["schoolid"].isin(schools)].sort_values(["schoolid", "student"]).copy()
    s["k"] = 1 + s["schoolid"].map({sid: j for j, sid in enumerate(schools)}) % k_cycle
    s["m"] = 1 + s.groupby("schoolid").cumcount() % m_cycle
    s["mk"] = s["m"] * s["k"]
    s["male"] = (s["st04q01"] == "Male").astype(float)
    s = s.reset_index(drop=True)
    copies = []
    for sid, rows in s.groupby("schoolid", sort=True):
        repeated = rows.loc[rows.index.repeat(rows["m"])]
        for c in range(1, int(rows["k"].iloc[0]) + 1):
            copies.append(repeated.assign(school_copy=f"{sid}#{c}"))
    replicated = pd.concat(copies, ignore_index=True)
    assert len(replicated) == case["n_rows_replicated"]
    assert replicated["school_copy"].nunique() == case["n_school_copies"]
    return s, replicated


_MODELS = {"ri": ([], "un"), "un": (["escs"], "un"), "vc": (["escs"], "vc")}


def _formula(case: dict) -> str:
    predictors = case["predictors"]
    terms = predictors if isinstance(predictors, list) else [predictors]
    return f"{case['outcome']} ~ {' + '.join(terms)}"


def _g_elements(fit: hlm.HLMResult) -> dict[str, float]:
    tau = fit.tau
    out = {"(Intercept)": tau.iloc[0, 0]}
    if len(tau) > 1:
        out["escs"] = tau.iloc[1, 1]
        if fit.covariance_structure == "un":
            out["(Intercept):escs"] = tau.iloc[0, 1]
    return out


@pytest.mark.parametrize(
    ("name", "model"),
    [(c, m) for c in REPLICATION["cases"] for m in REPLICATION["cases"][c]["models"]],
)
@pytest.mark.parametrize("form", ["conditional", "total"])
def test_replication_identity_against_lme4(
    pisa: pd.DataFrame, name: str, model: str, form: str
) -> None:
    case = REPLICATION["cases"][name]
    reference = case["results"]["replicated"][model]
    subset, _ = _replication_case(pisa, name)
    random, covariance = _MODELS[model]
    weights = {"conditional": ("m", True), "total": ("mk", False)}[form]
    fit = hlm.fit_hlm(
        subset,
        _formula(case),
        group="schoolid",
        random=random,
        covariance=covariance,
        method="ML",
        weights=weights[0],
        group_weights="k",
        conditional_weights=weights[1],
    )
    assert fit.converged
    # lme4 was driven to a verified optimum (gradient ~1e-9): the log-likelihoods agree to
    # rounding, the estimates to the optimisers' tolerance.
    assert fit.deviance == pytest.approx(reference["deviance"], abs=1e-6)
    fixed = dict(zip(["(Intercept)", *fit.fixed.index[1:]], fit.fixed["estimate"], strict=True))
    for term, value in reference["fixed"].items():
        assert fixed[term] == pytest.approx(value, rel=1e-5, abs=1e-6), term
    for term, value in reference["G"].items():
        assert _g_elements(fit)[term] == pytest.approx(value, rel=1e-5, abs=1e-4), term
    assert fit.sigma2 == pytest.approx(reference["sigma2"], rel=1e-6)


@pytest.mark.parametrize("model", ["ri", "un"])
def test_weighted_fit_equals_our_own_fit_of_the_replicated_rows(
    pisa: pd.DataFrame, model: str
) -> None:
    case = REPLICATION["cases"]["rep12"]
    subset, replicated = _replication_case(pisa, "rep12")
    random, covariance = _MODELS[model]
    common = {"random": random, "covariance": covariance, "method": "ML"}
    weighted = hlm.fit_hlm(
        subset,
        _formula(case),
        group="schoolid",
        weights="m",
        group_weights="k",
        conditional_weights=True,
        **common,
    )
    plain = hlm.fit_hlm(replicated, _formula(case), group="school_copy", **common)
    assert weighted.deviance == pytest.approx(plain.deviance, abs=1e-7)
    np.testing.assert_allclose(weighted.fixed["estimate"], plain.fixed["estimate"], rtol=1e-6)
    np.testing.assert_allclose(weighted.tau, plain.tau, rtol=1e-5)


@pytest.mark.parametrize("model", ["ri", "un"])
def test_unit_weights_reproduce_the_unweighted_ml_fit(pisa: pd.DataFrame, model: str) -> None:
    case = REPLICATION["cases"]["rep12"]
    subset, _ = _replication_case(pisa, "rep12")
    subset["one"] = 1.0
    random, covariance = _MODELS[model]
    common = {"random": random, "covariance": covariance, "method": "ML"}
    weighted = hlm.fit_hlm(
        subset, _formula(case), group="schoolid", weights="one", group_weights="one", **common
    )
    plain = hlm.fit_hlm(subset, _formula(case), group="schoolid", **common)
    assert weighted.deviance == pytest.approx(plain.deviance, rel=1e-13)
    np.testing.assert_allclose(weighted.fixed["estimate"], plain.fixed["estimate"], rtol=1e-9)
    np.testing.assert_allclose(weighted.tau, plain.tau, rtol=1e-7)
    assert weighted.sigma2 == pytest.approx(plain.sigma2, rel=1e-9)
    # and lme4's unweighted ML fit of the same rows
    reference = case["results"]["unweighted"][model]
    assert weighted.deviance == pytest.approx(reference["deviance"], abs=1e-6)


# -- scaling --------------------------------------------------------------------------------


@pytest.mark.parametrize("scaling", ["size", "effective"])
def test_scaling_equals_raw_fit_with_hand_rescaled_weights(
    pisa: pd.DataFrame, scaling: str
) -> None:
    data = pisa.copy()
    within = data["w_fstuwt"] / data["w_fschwt"]
    by_school = within.groupby(data["schoolid"])
    if scaling == "size":
        data["w_hand"] = within * by_school.transform("size") / by_school.transform("sum")
    else:
        data["w_hand"] = (
            within
            * by_school.transform("sum")
            / (within**2).groupby(data["schoolid"]).transform("sum")
        )
    common = {"group": "schoolid", "method": "ML", "group_weights": "w_fschwt"}
    scaled = hlm.fit_hlm(data, TABLE1_FORMULA, weights="w_fstuwt", weight_scaling=scaling, **common)
    by_hand = hlm.fit_hlm(
        data, TABLE1_FORMULA, weights="w_hand", conditional_weights=True, **common
    )
    assert scaled.deviance == pytest.approx(by_hand.deviance, rel=1e-12)
    np.testing.assert_allclose(scaled.fixed, by_hand.fixed, rtol=1e-7)
    np.testing.assert_allclose(
        scaled.covariance[["estimate", "se"]], by_hand.covariance[["estimate", "se"]], rtol=1e-6
    )
    words = {"size": "number of students", "effective": "effective sample size"}[scaling]
    assert words in scaled.summary() and words in scaled._repr_html_()


# -- sandwich SEs against a direct computation ----------------------------------------------


def _school_pseudo_loglik(
    y: np.ndarray,
    X: np.ndarray,
    Z: np.ndarray,
    w: np.ndarray,
    school_weight: float,
    beta: np.ndarray,
    G: np.ndarray,
    sigma2: float,
) -> float:
    """w_j log of the integral of prod_i f(y_i | u)^w_i phi(u; 0, G), by its exact Laplace form."""
    r = y - X @ beta
    H = Z.T @ (w[:, None] * Z) / sigma2 + np.linalg.inv(G)
    u = np.linalg.solve(H, Z.T @ (w * r) / sigma2)
    e = r - Z @ u
    q = G.shape[0]
    log_f = -0.5 * np.sum(w * (np.log(2 * np.pi * sigma2) + e**2 / sigma2))
    log_phi = -0.5 * (q * np.log(2 * np.pi) + np.linalg.slogdet(G)[1] + u @ np.linalg.solve(G, u))
    log_integral = log_f + log_phi + 0.5 * q * np.log(2 * np.pi) - 0.5 * np.linalg.slogdet(H)[1]
    return school_weight * log_integral


def _direct_sandwich(fit: hlm.HLMResult, weights: np.ndarray, school_w: np.ndarray):
    """Sandwich covariances by numerical derivatives of the direct per-school terms.

    Fixed effects: the beta block, ``H_bb^-1 J_b H_bb^-1`` at the estimated variances (as
    WeMix and Stata ``mixed``). Variances: the scores in (G, sigma2) at the estimated beta,
    with the information of the pseudo-likelihood profiled over beta (GLS beta for each
    variance), which reproduces Stata ``mixed``'s variance SEs on the published table.
    """
    d = fit.design
    schools = [np.flatnonzero(d.group_codes == j) for j in range(d.n_groups)]
    q = d.Z.shape[1]
    rows, cols = np.tril_indices(q) if fit.covariance_structure == "un" else (np.arange(q),) * 2
    beta0 = fit.fixed["estimate"].to_numpy()
    theta0 = np.r_[fit.tau.to_numpy()[rows, cols], fit.sigma2]

    def split(theta: np.ndarray) -> tuple[np.ndarray, float]:
        G = np.zeros((q, q))
        G[rows, cols] = theta[:-1]
        G[cols, rows] = theta[:-1]
        return G, theta[-1]

    def per_school(beta: np.ndarray, theta: np.ndarray) -> np.ndarray:
        G, sigma2 = split(theta)
        return np.array(
            [
                _school_pseudo_loglik(
                    d.y[i], d.X[i], d.Z[i], weights[i], school_w[j], beta, G, sigma2
                )
                for j, i in enumerate(schools)
            ]
        )

    def gls_beta(theta: np.ndarray) -> np.ndarray:
        G, sigma2 = split(theta)
        lhs, rhs = 0.0, 0.0
        for j, i in enumerate(schools):
            V = d.Z[i] @ G @ d.Z[i].T + np.diag(sigma2 / weights[i])
            XtVi = np.linalg.solve(V, d.X[i]).T
            lhs = lhs + school_w[j] * XtVi @ d.X[i]
            rhs = rhs + school_w[j] * XtVi @ d.y[i]
        return np.linalg.solve(lhs, rhs)

    def steps(point: np.ndarray) -> np.ndarray:
        # Relative steps of 1e-3: truncation error ~1e-6, and second differences of a
        # criterion of size ~1e4 stay well above its rounding (smaller steps are noise).
        return 1e-3 * np.maximum(np.abs(point), 1.0)

    def scores(total, point: np.ndarray) -> np.ndarray:
        h = steps(point)
        out = np.empty((d.n_groups, point.size))
        for a in range(point.size):
            up, down = point.copy(), point.copy()
            up[a] += h[a]
            down[a] -= h[a]
            out[:, a] = (total(up) - total(down)) / (2 * h[a])
        return out

    def hessian(total, point: np.ndarray) -> np.ndarray:
        h = steps(point)
        out = np.empty((point.size, point.size))
        for a in range(point.size):
            for b in range(point.size):
                value = 0.0
                for sa, sb in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                    moved = point.copy()
                    moved[a] += sa * h[a]
                    moved[b] += sb * h[b]
                    value += sa * sb * float(np.sum(total(moved)))
                out[a, b] = value / (4 * h[a] * h[b])
        return out

    def sandwich(meat_scores: np.ndarray, information: np.ndarray) -> np.ndarray:
        bread = np.linalg.inv(information)
        n = meat_scores.shape[0]
        return bread @ (n / (n - 1) * meat_scores.T @ meat_scores) @ bread

    in_beta = lambda b: per_school(b, theta0)  # noqa: E731
    in_theta = lambda t: per_school(beta0, t)  # noqa: E731
    profiled = lambda t: per_school(gls_beta(t), t)  # noqa: E731
    fixed = sandwich(scores(in_beta, beta0), -hessian(in_beta, beta0))
    covariance = sandwich(scores(in_theta, theta0), -hessian(profiled, theta0))
    return fixed, covariance


@pytest.mark.parametrize("model", ["ri", "un"])
def test_sandwich_ses_match_a_direct_computation(pisa: pd.DataFrame, model: str) -> None:
    case = REPLICATION["cases"]["rep30"]
    subset, _ = _replication_case(pisa, "rep30")
    random, covariance = _MODELS[model]
    fit = hlm.fit_hlm(
        subset,
        _formula(case),
        group="schoolid",
        random=random,
        covariance=covariance,
        method="ML",
        weights="m",
        group_weights="k",
        conditional_weights=True,
    )
    weights = subset.loc[fit.design.rows, "m"].to_numpy(float)
    order = np.unique(fit.design.group_codes, return_index=True)[1]
    school_w = subset.loc[fit.design.rows, "k"].to_numpy(float)[order]
    fixed, cov = _direct_sandwich(fit, weights, school_w)
    np.testing.assert_allclose(fit.fixed["se"], np.sqrt(np.diag(fixed)), rtol=1e-5)
    np.testing.assert_allclose(fit.covariance["se"], np.sqrt(np.diag(cov)), rtol=1e-4)


# -- invariance -----------------------------------------------------------------------------


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    school_factor=st.floats(1e-3, 1e3),
    student_factor=st.floats(1e-3, 1e3),
    outcome_scale=st.floats(1e-3, 1e3),
    outcome_shift=st.floats(-1e4, 1e4),
)
def test_fit_is_invariant_to_weight_units_and_outcome_units(
    pisa: pd.DataFrame,
    school_factor: float,
    student_factor: float,
    outcome_scale: float,
    outcome_shift: float,
) -> None:
    """School weights in any units scale -2 log PL and change nothing else; size-scaled
    conditional weights do not depend on the units of the student weights; the outcome's
    units and origin move the estimates exactly."""
    subset, _ = _replication_case(pisa, "rep30")
    common = {
        "group": "schoolid",
        "random": ["escs"],
        "method": "ML",
        "weight_scaling": "size",
        "conditional_weights": True,
    }
    base = hlm.fit_hlm(subset, "pv1math ~ escs", weights="m", group_weights="k", **common)
    moved = subset.assign(
        y=subset["pv1math"] * outcome_scale + outcome_shift,
        m2=subset["m"] * student_factor,
        k2=subset["k"] * school_factor,
    )
    other = hlm.fit_hlm(moved, "y ~ escs", weights="m2", group_weights="k2", **common)
    shift = np.array([outcome_shift, 0.0])
    np.testing.assert_allclose(
        other.fixed["estimate"],
        base.fixed["estimate"] * outcome_scale + shift,
        rtol=1e-5,
        atol=1e-6 * outcome_scale * 100,
    )
    np.testing.assert_allclose(other.fixed["se"], base.fixed["se"] * outcome_scale, rtol=1e-4)
    np.testing.assert_allclose(other.tau, base.tau * outcome_scale**2, rtol=1e-4)
    assert other.sigma2 == pytest.approx(base.sigma2 * outcome_scale**2, rel=1e-6)
    # -2 log PL = K * (N_w log(2 pi sigma2) + ...): the school weights multiply it and the
    # outcome's units add K * N_w * log(scale**2).
    by_school = subset.groupby("schoolid")
    total = float((by_school["k"].first() * by_school.size()).sum())  # N_w with size scaling
    expected = school_factor * (base.deviance + total * np.log(outcome_scale**2))
    assert other.deviance == pytest.approx(expected, rel=1e-7)


# -- reports, code and refusals -------------------------------------------------------------


def test_reports_and_code_state_the_weighting(table1: hlm.HLMResult) -> None:
    text, page = table1.summary(), table1._repr_html_()
    for shown in (text, page):
        assert "survey weights" in shown
        assert "w_fstuwt" in shown and "w_fschwt" in shown
        assert "raw conditional weights" in shown
    code = table1.code()
    assert "pweight(w_fschwt)" in code and "[pweight = w_within]" in code
    assert 'weights = c("w_within", "w_fschwt"), cWeights = TRUE' in code
    assert "data$w_within <- data$w_fstuwt / data$w_fschwt" in code
    assert "obsweight=w_within" in code and "weight=w_fschwt" in code
    assert "relevel(factor(st29q03), ref = 'Strongly agree')" in code
    assert "weights='w_fstuwt', group_weights='w_fschwt'" in code
    assert np.isnan(table1.fit_stats[["AIC", "AICC", "BIC"]]).all()
    assert "-2 Log Pseudo-Likelihood" in table1.fit_stats.index


def test_scaled_code_rescales_in_every_language(pisa: pd.DataFrame) -> None:
    fit = hlm.fit_hlm(
        pisa,
        "pv1math ~ escs",
        group="schoolid",
        method="ML",
        weights="w_fstuwt",
        group_weights="w_fschwt",
        weight_scaling="effective",
    )
    code = fit.code()
    assert "pwscale(effective)" in code
    assert "ave(data$w_within^2, data$schoolid, FUN = sum)" in code
    assert "sum(w_within) / sum(w_within**2)" in code and "obsweight=w_scaled" in code


def test_weighted_plausible_values_pool_over_the_five_pvs(pisa: pd.DataFrame) -> None:
    pooled = hlm.fit_plausible_values(
        pisa,
        "~ escs",
        [f"pv{k}math" for k in range(1, 6)],
        group="schoolid",
        method="ML",
        weights="w_fstuwt",
        group_weights="w_fschwt",
    )
    singles = [
        hlm.fit_hlm(
            pisa,
            f"pv{k}math ~ escs",
            group="schoolid",
            method="ML",
            weights="w_fstuwt",
            group_weights="w_fschwt",
        )
        for k in range(1, 6)
    ]
    estimates = np.array([s.fixed.loc["escs", "estimate"] for s in singles])
    variances = np.array([s.fixed.loc["escs", "se"] ** 2 for s in singles])
    expected_total = variances.mean() + (1 + 1 / 5) * estimates.var(ddof=1)
    assert pooled.fixed.loc["escs", "estimate"] == pytest.approx(estimates.mean(), rel=1e-12)
    assert pooled.fixed.loc["escs", "se"] == pytest.approx(np.sqrt(expected_total), rel=1e-10)
    assert all(fit.weighted for fit in pooled.fits.values())


@pytest.mark.parametrize(
    ("change", "arguments", "message"),
    [
        (None, {"weights": "nope"}, "'nope' is not in the data"),
        (lambda d: d.assign(w=0.0), {"weights": "w"}, "zero in 3136"),
        (lambda d: d.assign(w=-1.0), {"weights": "w"}, "negative in 3136"),
        (
            lambda d: d.assign(w=np.where(d.index < 3, np.nan, 1.0)),
            {"weights": "w"},
            "missing (NaN) in 3",
        ),
        (
            lambda d: d.assign(w=np.where(d.index < 2, np.inf, 1.0)),
            {"weights": "w"},
            "infinite in 2",
        ),
        (
            lambda d: d.assign(w=d["w_fstuwt"].astype(str)),
            {"weights": "w"},
            "numbers stored as text",
        ),
        (None, {"group_weights": "w_fstuwt"}, "varies within schoolid"),
        (lambda d: d.set_axis([0] * len(d)), {"weights": "w_fstuwt"}, "repeated row labels"),
    ],
)
def test_bad_weights_get_errors_that_name_the_column(
    pisa: pd.DataFrame, change, arguments: dict, message: str
) -> None:
    data = pisa if change is None else change(pisa.copy())
    with pytest.raises(ModelInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        hlm.fit_hlm(data, "pv1math ~ escs", group="schoolid", method="ML", **arguments)


def test_weighted_fits_refuse_what_needs_a_likelihood(pisa: pd.DataFrame, table1) -> None:
    with pytest.raises(ModelInputError, match="pass method='ML'"):
        hlm.fit_hlm(pisa, "pv1math ~ escs", group="schoolid", weights="w_fstuwt")
    with pytest.raises(ModelInputError, match="no survey weights"):
        hlm.fit_hlm(
            pisa,
            "pv1math ~ escs",
            group="schoolid",
            method="ML",
            weights="w_fstuwt",
            engine="statsmodels",
        )
    with pytest.raises(ModelInputError, match="no weights were given"):
        hlm.fit_hlm(pisa, "pv1math ~ escs", group="schoolid", weight_scaling="size")
    with pytest.raises(ModelInputError, match="weight_scaling"):
        hlm.fit_hlm(
            pisa,
            "pv1math ~ escs",
            group="schoolid",
            method="ML",
            weights="w_fstuwt",
            weight_scaling="normalised",
        )
    with pytest.raises(ModelInputError, match="Satterthwaite df are not defined"):
        table1.fixed_effects("satterthwaite")
    other = hlm.fit_hlm(
        pisa,
        TABLE1_FORMULA + " - escs",
        group="schoolid",
        method="ML",
        weights="w_fstuwt",
        group_weights="w_fschwt",
    )
    with pytest.raises(ModelInputError, match="pseudo-likelihood"):
        hlm.lr_test(other, table1)
    with pytest.raises(ModelInputError, match="two-level models"):
        hlm.fit_plausible_values(
            pisa, "~ escs", ["pv1math", "pv2math"], model="ols", weights="w_fstuwt"
        )


def test_by_passes_the_weights_on(pisa: pd.DataFrame) -> None:
    schools = sorted(pisa["schoolid"].unique())
    data = pisa.assign(half=np.where(pisa["schoolid"] < schools[len(schools) // 2], "a", "b"))
    fits = hlm.fit_hlm(
        data,
        "pv1math ~ escs",
        group="schoolid",
        method="ML",
        by="half",
        weights="w_fstuwt",
        group_weights="w_fschwt",
    )
    for level, fit in fits.items():
        alone = hlm.fit_hlm(
            data[data["half"] == level],
            "pv1math ~ escs",
            group="schoolid",
            method="ML",
            weights="w_fstuwt",
            group_weights="w_fschwt",
        )
        assert fit.weighted and fit.deviance == pytest.approx(alone.deviance, rel=1e-12)


# -- WeMix's fits and an independent optimum of the same pseudo-likelihood (R) -------------

WEMIX = json.loads((FIXTURES / "weighted_wemix.json").read_text())
_WEMIX_FITS = {
    "table1_uncond": ({"weights": "w_fstuwt"}, []),
    "table1_cond": ({"weights": "pwt1", "conditional_weights": True}, []),
    "table2_uncond": ({"weights": "w_fstuwt"}, ["escs"]),
    "table1_scaled_size": ({"weights": "w_fstuwt", "weight_scaling": "size"}, []),
    "table1_scaled_effective": ({"weights": "w_fstuwt", "weight_scaling": "effective"}, []),
}


@pytest.mark.parametrize("name", list(_WEMIX_FITS))
def test_against_wemix_and_a_direct_optimum(pisa: pd.DataFrame, name: str) -> None:
    reference = WEMIX["fits"][name]
    direct = reference["direct_fit"]
    arguments, random = _WEMIX_FITS[name]
    fit = hlm.fit_hlm(
        pisa,
        TABLE1_FORMULA,
        group="schoolid",
        random=random,
        covariance="vc",
        method="ML",
        group_weights="w_fschwt",
        **arguments,
    )
    assert fit.converged
    # R's direct optimum was polished by Newton steps to 4e-7 SE: a tight reference.
    assert fit.deviance == pytest.approx(direct["deviance"], rel=1e-12)
    names = WEMIX["coefficient_names"]
    for r_name, value in direct["fixed"].items():
        assert fit.fixed.loc[names[r_name], "estimate"] == pytest.approx(value, rel=1e-6), r_name
    assert fit.tau.iloc[0, 0] == pytest.approx(direct["G"]["(Intercept)"], rel=1e-5)
    if random:
        assert fit.tau.iloc[1, 1] == pytest.approx(direct["G"]["escs"], rel=1e-5)
    assert fit.sigma2 == pytest.approx(direct["sigma2"], rel=1e-6)
    # Fixed-effect sandwich SEs: R's closed-form I^-1 J I^-1 at WeMix's estimates, which
    # differ from the optimum by ~2e-7 relative; 1e-5 covers that.
    for r_name, se in reference["sandwich_check"]["se_closed_form"].items():
        assert fit.fixed.loc[names[r_name], "se"] == pytest.approx(se, rel=1e-5), r_name
