"""Checking a fitted two-level model: residuals, EBLUP Q–Q data, level-1 variances, influence.

Four checks, each a function that returns a table (the figures are in
:mod:`hlmteach.diagnostic_plots`):

- :func:`level1_residuals`: each student's conditional residual
  ``y - X b - Z u`` with the fitted value and the predictors, to plot against
  each other (the level-1 model's linearity and equal variance);
- :func:`eblup_qq` and :func:`simulated_eblups`: normal Q–Q data of the
  schools' EBLUPs, raw and standardised, and the same from data simulated from
  the fitted model, to see how shrinkage bends a Q–Q plot even when the model
  is right;
- :func:`school_residual_variances` and :func:`homogeneity_test`: each school's
  own OLS residual variance, and Raudenbush & Bryk's (2002, ch. 9) H test that
  the level-1 variance is the same in every school;
- :func:`school_influence` (one-step) and :func:`deletion_influence` (refits):
  what deleting a school does to the fixed effects, as R's HLMdiag computes it
  (Cook's distance, MDFFITS, COVRATIO, COVTRACE, the change in each fixed effect,
  and, for refits, the relative change in each variance component, RVC).

All of them read only what a fit stores (its design, ``fixed``, ``tau`` and
``sigma2``); the refits call :func:`hlmteach.models.fit_hlm` on the data without
one school. Survey-weighted fits are refused: these diagnostics assume the
model's likelihood.

Examples
--------
>>> import hlmteach as hlm
>>> fit = hlm.fit_hlm(hlm.load_hsb(), "mathach ~ ses", group="school")
>>> infl = school_influence(fit)
>>> int(infl["cooks_distance"].idxmax()), round(float(infl["cooks_distance"].max()), 3)
(2277, 0.05)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .models import HLMResult
from .validation import (
    ModelInputError,
    require_frame,
    require_integer,
    require_result,
    require_seed,
)

__all__ = [
    "HomogeneityTest",
    "deletion_influence",
    "eblup_qq",
    "homogeneity_test",
    "level1_residuals",
    "school_influence",
    "school_residual_variances",
    "simulated_eblups",
]

_INFLUENCE = ["cooks_distance", "mdffits", "covratio", "covtrace"]


# -- checks of the arguments --------------------------------------------------------------------
def _check_fit(fit: object) -> HLMResult:
    require_result(fit, [HLMResult], "fit")
    assert isinstance(fit, HLMResult)
    if fit.weighted:
        raise ModelInputError(
            "These diagnostics assume the model's likelihood; a survey-weighted fit maximises a "
            "pseudo-likelihood, for which Cook's distance and the Q-Q reference are not defined. "
            "Check the unweighted model (drop weights= and group_weights=)."
        )
    return fit


def _check_term(fit: HLMResult, term: object) -> str:
    names = fit.design.random_names
    if not isinstance(term, str) or term not in names:
        raise ModelInputError(
            f"term must be one of the model's random terms {names}, not {term!r}."
        )
    return term


def _check_data(fit: HLMResult, data: object) -> pd.DataFrame:
    """The data the fit was made from: every row it used, with the same schools."""
    frame = require_frame(data)
    rows = fit.design.rows
    missing = rows.difference(frame.index)
    if len(missing) or fit.group not in frame.columns:
        raise ModelInputError(
            "data must be the data frame the model was fitted to (the same rows and its "
            f"{fit.group!r} column); {len(missing)} of the fit's {len(rows)} rows are not in it. "
            "Pass the frame you gave fit_hlm (for by= fits, that level's rows)."
        )
    labels = frame.loc[rows, fit.group].astype(str).to_numpy()
    expected = fit.design.group_labels.astype(str)[fit.design.group_codes]
    if not np.array_equal(labels, expected):
        raise ModelInputError(
            f"data's {fit.group!r} column does not match the schools the model was fitted to; "
            "pass the frame you gave fit_hlm, unchanged."
        )
    return frame


# -- per-school blocks ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Blocks:
    """Per-school pieces of the GLS algebra at the fit's variance components.

    They are computed for the well-conditioned columns ``X A`` and ``Z B`` (centred on
    the intercept and scaled, :func:`_conditioning`), so that a predictor in odd units
    or far from 0 loses no precision; every diagnostic is invariant to such a change of
    columns, and ``A`` and ``B`` map coefficients and EBLUPs back.
    """

    XtVinvX: np.ndarray  # (J, p, p): A' X_j' V_j^-1 X_j A
    XtVinve: np.ndarray  # (J, p): A' X_j' V_j^-1 e_j, e = y - X b (marginal residuals)
    kernel: np.ndarray  # (J, q, q): K_j = (I + T Z_j'Z_j)^-1 T in the columns Z B
    ZtX: np.ndarray  # (J, q, p): B' Z_j' X_j A
    Zte: np.ndarray  # (J, q): B' Z_j' e_j
    sizes: np.ndarray  # (J,)
    A: np.ndarray  # (p, p): coefficients b = A b~
    B: np.ndarray  # (q, q): random effects u = B u~
    exact_zero: np.ndarray  # (J, q): EBLUPs that are 0 exactly, tau Z_j' = 0 in that row

    @property
    def information(self) -> np.ndarray:
        """X'V^-1X in the conditioned columns, the inverse of Cov(b~)."""
        return self.XtVinvX.sum(axis=0)

    @property
    def eblups(self) -> np.ndarray:
        """(J, q) BLUPs u_j = B K_j Z~_j' e_j, in the fit's own columns."""
        eblups = np.einsum("jab,jb->ja", self.kernel, self.Zte) @ self.B.T
        return np.where(self.exact_zero, 0.0, eblups)

    def original(self, coefficients: np.ndarray) -> np.ndarray:
        """Coefficient vectors (..., p) of the conditioned columns, in the fit's columns."""
        return coefficients @ self.A.T


def _school_sums(values: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum the rows of ``values`` (n, ...) within each school (every school has a row)."""
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(n_groups))
    return np.add.reduceat(values[order], starts, axis=0)


def _conditioning(M: np.ndarray) -> np.ndarray:
    """A matrix C with ``M C`` centred on the intercept column and scaled to unit spread.

    The engine's own map (:attr:`hlmteach.engine.Standardisation.fixed_map`): with a
    constant column, every other column is centred at its mean; each is then divided by
    its root mean square (and nearly collinear columns are orthonormalised).
    """
    from .engine import Standardisation

    return Standardisation.of(np.zeros(M.shape[0]), M, M[:, :1]).fixed_map


def _blocks(fit: HLMResult, A: np.ndarray | None = None, B: np.ndarray | None = None) -> _Blocks:
    """The blocks of ``fit``; pass ``A`` and ``B`` of another fit to share its columns."""
    design = fit.design
    codes, J = design.group_codes, design.n_groups
    A = _conditioning(design.X) if A is None else A
    B = _conditioning(design.Z) if B is None else B
    X, Z = design.X @ A, design.Z @ B
    e = design.y - design.X @ fit.fixed["estimate"].to_numpy()
    B_inv = np.linalg.inv(B)
    T = B_inv @ fit.tau.to_numpy() @ B_inv.T / fit.sigma2
    ZtZ = _school_sums(Z[:, :, None] * Z[:, None, :], codes, J)
    ZtX = _school_sums(Z[:, :, None] * X[:, None, :], codes, J)
    XtX = _school_sums(X[:, :, None] * X[:, None, :], codes, J)
    Zte = _school_sums(Z * e[:, None], codes, J)
    Xte = _school_sums(X * e[:, None], codes, J)
    q = T.shape[0]
    # V_j = sigma2 (I + Z_j T Z_j'), so V_j^-1 = (I - Z_j K_j Z_j') / sigma2 (Woodbury), and
    # K_j = T (I + Z_j'Z_j T)^-1 = (I + T Z_j'Z_j)^-1 T stays defined when T is singular.
    kernel = np.linalg.solve(np.eye(q) + T @ ZtZ, np.broadcast_to(T, ZtZ.shape))
    KZtX = kernel @ ZtX
    XtVinvX = (XtX - np.swapaxes(ZtX, 1, 2) @ KZtX) / fit.sigma2
    XtVinve = (Xte - np.einsum("jqp,jq->jp", KZtX, Zte)) / fit.sigma2
    sizes = np.bincount(codes, minlength=J)
    # u_jk = [tau Z_j' V_j^-1 e_j]_k is 0 exactly when row k of tau Z_j' is 0 (e.g. a slope
    # in a school where its predictor is always 0, with uncorrelated effects); rounding in
    # the conditioned columns must not make it 1e-17.
    TZt_norms = _school_sums((design.Z @ fit.tau.to_numpy()) ** 2, codes, J)
    return _Blocks(XtVinvX, XtVinve, kernel, ZtX, Zte, sizes, A, B, TZt_norms == 0)


# -- level-1 residuals ----------------------------------------------------------------------------
def level1_residuals(fit: HLMResult) -> pd.DataFrame:
    """Each student's fitted value and conditional (level-1) residual.

    The fitted value is the school's own regression, ``X b + Z u_j`` with the
    school's EBLUPs; the residual is the outcome minus it, an estimate of
    ``r_ij``. Plot it against the fitted values and each predictor: a curve
    says the level-1 model misses a nonlinearity, a fan says the variance is
    not constant.

    Unlike OLS residuals, these residuals are correlated with the fitted values
    ``X b + Z u_j`` even when the model is right: a student's own score pulls
    the school's EBLUP, and so the fitted value, up with the residual (their
    covariance is ``sigma2 [V^-1 Z tau Z']_ii > 0``, largest where the EBLUPs
    are shrunk most). With the fixed part alone, ``X b`` (``fixed_fitted``),
    there is no such tilt: the residuals equal ``sigma2 V^-1 (y - X b)``, which
    the GLS normal equations make orthogonal to every column of ``X``. So their
    mean is exactly 0 at each value of a 0/1 predictor, and against ``X b`` or
    a predictor only a curve or a fan can show.

    Parameters
    ----------
    fit : HLMResult
        An unweighted fit.

    Returns
    -------
    DataFrame
        Indexed like the rows of the data the model used, with the school, the
        level-1 and level-2 predictors of the fixed part, ``fitted``,
        ``fixed_fitted`` (``X b``), ``residual`` and ``standardised`` (the
        residual divided by sigma), and
        ``marginal_residual``, ``y - X b``, which still contains the school's
        random effects.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> fit = hlm.fit_hlm(hlm.load_hsb(), "mathach ~ ses", group="school", random=["ses"])
    >>> res = level1_residuals(fit)
    >>> list(res.columns)
    ['school', 'ses', 'fitted', 'fixed_fitted', 'residual', 'standardised', 'marginal_residual']
    >>> bool(abs(res["residual"].mean()) < 1e-10)  # orthogonal to the intercept
    True
    """
    fit = _check_fit(fit)
    design = fit.design
    blocks = _blocks(fit)
    marginal_fit = design.X @ fit.fixed["estimate"].to_numpy()
    school_part = np.einsum("nq,nq->n", design.Z, blocks.eblups[design.group_codes])
    fitted = marginal_fit + school_part
    residual = design.y - fitted
    out = pd.DataFrame(index=design.rows)
    out[fit.group] = design.group_labels[design.group_codes]
    for k, name in enumerate(design.fixed_names):
        if name != "Intercept":
            out[name] = design.X[:, k]
    out["fitted"] = fitted
    out["fixed_fitted"] = marginal_fit
    out["residual"] = residual
    out["standardised"] = residual / np.sqrt(fit.sigma2)
    out["marginal_residual"] = design.y - marginal_fit
    return out


# -- EBLUPs and their Q-Q plot --------------------------------------------------------------------
def _normal_scores(n: int) -> np.ndarray:
    """Expected normal order statistics as R's ``qqnorm`` places them (``ppoints``)."""
    a = 3.0 / 8.0 if n <= 10 else 0.5
    return stats.norm.ppf((np.arange(1, n + 1) - a) / (n + 1 - 2 * a))


def _eblup_table(fit: HLMResult, blocks: _Blocks, term: str) -> pd.DataFrame:
    k = fit.design.random_names.index(term)
    cov_beta = np.linalg.inv(blocks.information)
    KZtX = blocks.kernel @ blocks.ZtX
    # Prediction error variance of u_j (SAS "StdErr Pred" squared), and Var(u_j hat) = tau - PEV.
    pev = fit.sigma2 * blocks.kernel + KZtX @ cov_beta @ np.swapaxes(KZtX, 1, 2)
    pev = blocks.B @ pev @ blocks.B.T
    tau_kk = fit.tau.to_numpy()[k, k]
    sampling_var = tau_kk - pev[:, k, k]
    # No sampling variance (tau at 0, or a school in which the slope's predictor does not
    # vary): up to rounding, which must not turn 0 / 0 into a number.
    has_variance = sampling_var > 1e-9 * tau_kk
    estimate = blocks.eblups[:, k]
    with np.errstate(divide="ignore", invalid="ignore"):
        standardised = np.where(has_variance, estimate / np.sqrt(sampling_var), np.nan)
    return pd.DataFrame(
        {"n_students": blocks.sizes, "eblup": estimate, "standardised": standardised},
        index=pd.Index(fit.design.group_labels, name=fit.group),
    )


def eblup_qq(fit: HLMResult, term: str = "Intercept") -> pd.DataFrame:
    """Normal Q–Q data of the schools' EBLUPs of one random term.

    The model says the true school effects ``u_j`` are N(0, tau). Their EBLUPs
    are not: each is shrunk toward 0 by its own reliability, so they are
    narrower than N(0, tau), and, as small and large schools are shrunk by
    different amounts, a mixture of normals of different widths rather than
    one normal. Divided by its own sampling SD, ``sqrt(tau - PEV_j)`` (PEV the
    squared prediction standard error, SAS's "StdErr Pred"), each EBLUP is
    N(0, 1) under the model: the ``standardised`` column is the one to judge
    normality by.

    Parameters
    ----------
    fit : HLMResult
        An unweighted fit.
    term : str
        A random term, ``"Intercept"`` (default) or a random slope.

    Returns
    -------
    DataFrame
        One row per school, sorted by ``eblup``: ``n_students``, ``eblup``,
        ``normal_score`` (the expected standard normal order statistic of its
        rank, as R's ``qqnorm``), ``model_quantile`` (``normal_score`` times
        ``sqrt(tau)``: where the true effects would lie), and ``standardised``
        with its own ``standardised_score``.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> fit = hlm.fit_hlm(hlm.load_hsb(), "mathach ~ ses", group="school")
    >>> qq = eblup_qq(fit)
    >>> bool(qq["eblup"].std() < qq["model_quantile"].std())  # narrower than N(0, tau)
    True
    >>> round(float(qq["standardised"].std()), 1)
    1.0
    """
    fit = _check_fit(fit)
    term = _check_term(fit, term)
    table = _eblup_table(fit, _blocks(fit), term).sort_values("eblup", kind="stable")
    scores = _normal_scores(len(table))
    table["normal_score"] = scores
    table["model_quantile"] = scores * np.sqrt(fit.tau.loc[term, term])
    standardised_rank = table["standardised"].rank(method="first").to_numpy()
    ok = np.isfinite(standardised_rank)
    table["standardised_score"] = np.nan
    table.loc[ok, "standardised_score"] = _normal_scores(int(ok.sum()))[
        standardised_rank[ok].astype(int) - 1
    ]
    columns = ["n_students", "eblup", "normal_score", "model_quantile"]
    return table[[*columns, "standardised", "standardised_score"]]


def simulated_eblups(
    fit: HLMResult,
    data: pd.DataFrame,
    term: str = "Intercept",
    n_sim: int = 19,
    seed: int | None = 0,
) -> pd.DataFrame:
    """EBLUPs of one term from data simulated from the fitted model, refitted.

    Each simulation draws new school effects ``u_j ~ N(0, tau)`` and residuals
    ``r_ij ~ N(0, sigma2)`` around the fitted fixed part, for the same students
    and schools, refits the same model with :func:`~hlmteach.models.fit_hlm` and
    keeps its EBLUPs. The model is then right by construction, so the spread of
    the simulated Q–Q curves shows what shrinkage alone does to a Q–Q plot: the
    observed EBLUPs' curve should lie among them.

    Parameters
    ----------
    fit : HLMResult
        An unweighted fit.
    data : DataFrame
        The data the model was fitted to.
    term : str
        A random term, ``"Intercept"`` (default) or a random slope.
    n_sim : int
        Number of simulated data sets (19 gives a pointwise 90% envelope).
    seed : int or None
        Seed of the random numbers; None for different ones each time.

    Returns
    -------
    DataFrame
        One row per simulation and rank: ``sim``, ``rank``, ``normal_score``,
        ``true_effect`` (the simulated ``u_j``, sorted), ``eblup`` (sorted) and
        ``standardised`` (sorted, its NaN last: schools whose EBLUP has no
        sampling variance, and every school of a simulation whose refit put
        ``tau`` at 0).

    Examples
    --------
    >>> import hlmteach as hlm
    >>> hsb = hlm.load_hsb()
    >>> fit = hlm.fit_hlm(hsb, "mathach ~ ses", group="school")
    >>> sims = simulated_eblups(fit, hsb, n_sim=2, seed=1)
    >>> sims.groupby("sim")["eblup"].std().lt(sims.groupby("sim")["true_effect"].std()).all()
    np.True_
    """
    fit = _check_fit(fit)
    term = _check_term(fit, term)
    frame = _check_data(fit, data)
    n_sim = require_integer(n_sim, "n_sim")
    rng = np.random.default_rng(require_seed(seed))
    design = fit.design
    if design.outcome not in frame.columns:
        raise ModelInputError(
            f"The outcome {design.outcome!r} is not a column of data (a transformed outcome "
            "cannot be simulated): add it as a column and fit the model to that column."
        )
    from .models import fit_hlm

    k = design.random_names.index(term)
    tau = fit.tau.to_numpy()
    mean = design.X @ fit.fixed["estimate"].to_numpy()
    simulated = frame.loc[design.rows].copy()
    scores = _normal_scores(design.n_groups)
    parts = []
    for sim in range(n_sim):
        u = rng.multivariate_normal(np.zeros(tau.shape[0]), tau, size=design.n_groups)
        r = rng.normal(0.0, np.sqrt(fit.sigma2), size=design.n_obs)
        simulated[design.outcome] = (
            mean + np.einsum("nq,nq->n", design.Z, u[design.group_codes]) + r
        )
        refit = fit_hlm(
            simulated,
            fit.formula,
            group=fit.group,
            random=fit.random_terms,
            method=fit.method,
            covariance=fit.covariance_structure,
        )
        table = _eblup_table(refit, _blocks(refit), term)
        parts.append(
            pd.DataFrame(
                {
                    "sim": sim,
                    "rank": np.arange(1, design.n_groups + 1),
                    "normal_score": scores,
                    "true_effect": np.sort(u[:, k]),
                    "eblup": np.sort(table["eblup"].to_numpy()),
                    # NaN (no sampling variance: no students with the slope's predictor, or
                    # tau estimated at 0) sort last, so the finite values keep ranks 1..m.
                    "standardised": np.sort(table["standardised"].to_numpy()),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


# -- heteroscedasticity across schools ------------------------------------------------------------
def school_residual_variances(fit: HLMResult) -> pd.DataFrame:
    """Each school's own OLS residual variance of the level-1 model.

    For each school, the outcome is regressed by OLS on the intercept and the
    fixed part's level-1 predictors (those that vary within some school), in
    that school's students alone. Unlike the conditional residuals, these do not
    depend on shrinkage. Columns that are constant within the school are
    dropped from its regression, as R's ``lm`` does.

    Parameters
    ----------
    fit : HLMResult
        An unweighted fit.

    Returns
    -------
    DataFrame
        One row per school: ``n_students``, ``df`` (residual degrees of freedom
        ``f_j = n_j - rank``) and ``variance`` (residual sum of squares over
        ``f_j``; NaN when ``f_j = 0``).

    Examples
    --------
    >>> import hlmteach as hlm
    >>> fit = hlm.fit_hlm(hlm.load_hsb(), "mathach ~ ses", group="school")
    >>> table = school_residual_variances(fit)
    >>> table.loc[1224].round(3).tolist()
    [47.0, 45.0, 56.4]
    """
    fit = _check_fit(fit)
    design = fit.design
    level1 = [k for k, within in enumerate(~design.school_level) if within]
    X = np.column_stack([np.ones(design.n_obs), design.X[:, level1]])
    order = np.argsort(design.group_codes, kind="stable")
    bounds = np.cumsum(np.bincount(design.group_codes, minlength=design.n_groups))[:-1]
    rows = []
    for idx in np.split(order, bounds):
        Xj, yj = X[idx], design.y[idx]
        coef, _, rank, _ = np.linalg.lstsq(Xj, yj, rcond=None)
        df = len(idx) - rank
        rss = float(np.sum((yj - Xj @ coef) ** 2))
        rows.append((len(idx), df, rss / df if df > 0 else np.nan))
    return pd.DataFrame(
        rows,
        columns=["n_students", "df", "variance"],
        index=pd.Index(design.group_labels, name=fit.group),
    )


@dataclass(frozen=True)
class HomogeneityTest:
    """Raudenbush & Bryk's H test of a level-1 variance common to all schools.

    The course writes the statistic ``H_sigma`` (``H`` is Hausman's in notebook 15).

    Attributes
    ----------
    statistic : float
        H_sigma, the sum of the schools' squared ``d_j``.
    df : int
        Schools used minus 1: the chi-squared reference distribution's df.
    p_value : float
        Upper tail of chi-squared(df) at H.
    n_used, n_schools : int
        Schools with at least ``min_df`` residual df, and all schools.
    min_df : int
        The smallest residual df a school needs to be used.
    table : DataFrame
        The schools used: ``n_students``, ``df``, ``variance`` and ``d``.
    """

    statistic: float
    df: int
    p_value: float
    n_used: int
    n_schools: int
    min_df: int
    table: pd.DataFrame

    def __str__(self) -> str:
        return (
            f"H_sigma = {self.statistic:.1f} on {self.df} df (chi-squared), "
            f"p = {self.p_value:.3g}; "
            f"{self.n_used} of {self.n_schools} schools with at least {self.min_df} residual df."
        )

    __repr__ = __str__


def homogeneity_test(fit: HLMResult, min_df: int = 10) -> HomogeneityTest:
    """Test that the level-1 variance sigma2 is the same in every school (R&B 2002, ch. 9).

    From each school's own OLS residual variance ``s_j^2`` on ``f_j`` df
    (:func:`school_residual_variances`),

    ``d_j = (ln s_j^2 - sum_j f_j ln s_j^2 / sum_j f_j) / sqrt(2 / f_j)``

    and ``H_sigma = sum_j d_j^2``, which under homogeneity (and normal residuals) is
    approximately chi-squared with (schools used - 1) df: ``ln s_j^2`` is then
    approximately normal with variance ``2 / f_j``. That approximation needs a
    few df per school, so schools with fewer than ``min_df`` residual df are
    left out. The test is sensitive to non-normal residuals as well as to
    unequal variances.

    Parameters
    ----------
    fit : HLMResult
        An unweighted fit.
    min_df : int
        Smallest residual df for a school to be used (default 10).

    Returns
    -------
    HomogeneityTest

    Raises
    ------
    ModelInputError
        If fewer than two schools have ``min_df`` residual df.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> fit = hlm.fit_hlm(hlm.load_hsb(), "mathach ~ ses", group="school")
    >>> test = homogeneity_test(fit)
    >>> test.df, round(test.statistic, 1)
    (159, 246.1)
    """
    fit = _check_fit(fit)
    min_df = require_integer(min_df, "min_df")
    table = school_residual_variances(fit)
    used = table[(table["df"] >= min_df) & (table["variance"] > 0)].copy()
    if len(used) < 2:
        raise ModelInputError(
            f"Only {len(used)} school(s) have at least min_df={min_df} residual df; the test "
            "compares schools, so it needs two or more. Lower min_df (the chi-squared "
            "approximation gets worse) or use larger schools."
        )
    f = used["df"].to_numpy(float)
    log_var = np.log(used["variance"].to_numpy())
    pooled = np.sum(f * log_var) / np.sum(f)
    used["d"] = (log_var - pooled) / np.sqrt(2.0 / f)
    statistic = float(np.sum(used["d"] ** 2))
    df = len(used) - 1
    return HomogeneityTest(
        statistic=statistic,
        df=df,
        p_value=float(stats.chi2.sf(statistic, df)),
        n_used=len(used),
        n_schools=len(table),
        min_df=min_df,
        table=used,
    )


# -- influence of schools -------------------------------------------------------------------------
def _influence_frame(
    fit: HLMResult,
    schools: np.ndarray,
    sizes: np.ndarray,
    statistics: np.ndarray,
    change: np.ndarray,
) -> pd.DataFrame:
    out = pd.DataFrame(statistics, columns=_INFLUENCE, index=pd.Index(schools, name=fit.group))
    out.insert(0, "n_students", sizes)
    for k, name in enumerate(fit.design.fixed_names):
        out[f"change_{name}"] = change[:, k]
    return out


def _deletion_statistics(
    information: np.ndarray, deleted_information: np.ndarray, change: np.ndarray
) -> np.ndarray:
    """Cook's distance, MDFFITS, COVRATIO and COVTRACE from the two information matrices.

    ``information`` is X'V^-1X of the full fit (p, p), ``deleted_information``
    the same without each school (J, p, p), ``change`` b - b_(j) (J, p).
    """
    p = information.shape[0]
    cooks = np.einsum("ja,ab,jb->j", change, information, change) / p
    mdffits = np.einsum("ja,jab,jb->j", change, deleted_information, change) / p
    covratio = np.exp(np.linalg.slogdet(information)[1] - np.linalg.slogdet(deleted_information)[1])
    ratio = np.linalg.solve(
        deleted_information, np.broadcast_to(information, deleted_information.shape)
    )
    covtrace = np.abs(np.trace(ratio, axis1=1, axis2=2) - p)
    return np.column_stack([cooks, mdffits, covratio, covtrace])


def school_influence(fit: HLMResult) -> pd.DataFrame:
    """How much deleting each school moves the fixed effects: one-step approximations.

    With the variance components held at their full-data estimates, deleting
    school ``j`` changes the GLS fixed effects by exactly

    ``b - b_(j) = (X'V^-1X - X_j'V_j^-1X_j)^-1 X_j'V_j^-1 (y_j - X_j b)``

    (Christensen, Pearson & Johnson 1992), the "one-step" values that R's
    HLMdiag (``cooks.distance``, ``mdffits``, ``covratio``, ``covtrace`` with
    ``level = "school"``) reports, without refitting. From it:

    - **Cook's distance** ``D_j = (b - b_(j))' X'V^-1X (b - b_(j)) / p``: the
      change in the fixed effects measured in their own standard errors;
    - **MDFFITS**: the same with the deleted data's information matrix;
    - **COVRATIO** ``det(cov b_(j)) / det(cov b)``: above 1, the school makes
      the fixed effects more precise;
    - **COVTRACE** ``|tr(cov(b)^-1 cov(b_(j))) - p|``.

    A full refit (:func:`deletion_influence`) also re-estimates the variance
    components; for a school that moves them, the two can differ.

    Parameters
    ----------
    fit : HLMResult
        An unweighted fit.

    Returns
    -------
    DataFrame
        One row per school: ``n_students``, ``cooks_distance``, ``mdffits``,
        ``covratio``, ``covtrace`` and ``change_<term>`` (``b - b_(j)``) for
        each fixed effect.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> fit = hlm.fit_hlm(hlm.load_hsb(), "mathach ~ ses", group="school")
    >>> infl = school_influence(fit)
    >>> infl.sort_values("cooks_distance").iloc[-1, :3].round(4).tolist()
    [61.0, 0.0504, 0.05]
    """
    fit = _check_fit(fit)
    blocks = _blocks(fit)
    information = blocks.information
    deleted = information - blocks.XtVinvX
    change = np.linalg.solve(deleted, blocks.XtVinve[:, :, None])[:, :, 0]
    return _influence_frame(
        fit,
        fit.design.group_labels,
        blocks.sizes,
        _deletion_statistics(information, deleted, change),
        blocks.original(change),
    )


def _covariance_labels(fit: HLMResult) -> list[str]:
    return list(fit.covariance.index)


def deletion_influence(
    fit: HLMResult, data: pd.DataFrame, schools: Sequence[object] | None = None
) -> pd.DataFrame:
    """Delete each school (or the ones named), refit, and measure the change.

    The refits re-estimate the variance components too: this is HLMdiag's
    ``case_delete(model, level = "school")`` followed by its
    ``cooks.distance``, ``mdffits``, ``covratio``, ``covtrace`` and ``rvc``
    methods. Cook's distance uses the full fit's covariance matrix of the fixed
    effects, MDFFITS the deleted fit's. Each refit costs a whole fit, so for
    many schools compute :func:`school_influence` first and refit the few at
    the top.

    Parameters
    ----------
    fit : HLMResult
        An unweighted fit.
    data : DataFrame
        The data the model was fitted to.
    schools : sequence, optional
        School ids to delete, one at a time; all schools by default.

    Returns
    -------
    DataFrame
        One row per deleted school: the columns of :func:`school_influence`
        from the refit, then ``rvc_<parameter>`` (the relative change in each
        covariance parameter, deleted / full - 1, named as in
        ``fit.covariance``).

    Raises
    ------
    ModelInputError
        If ``data`` is not the data of the fit, or a school id is not one of its schools.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> hsb = hlm.load_hsb()
    >>> fit = hlm.fit_hlm(hsb, "mathach ~ ses", group="school")
    >>> full = deletion_influence(fit, hsb, schools=[2277])
    >>> full[["cooks_distance", "rvc_Var(Intercept)"]].round(3).values.tolist()
    [[0.052, -0.004]]
    """
    fit = _check_fit(fit)
    frame = _check_data(fit, data)
    labels = fit.design.group_labels
    by_text = {str(label): k for k, label in enumerate(labels)}
    if schools is None:
        positions = list(range(len(labels)))
    else:
        if isinstance(schools, (str, bytes)) or not isinstance(schools, Sequence):
            raise ModelInputError(
                f"schools must be a list of school ids, such as schools=['{labels[0]}'], not "
                f"{schools!r}."
            )
        unknown = [s for s in schools if str(s) not in by_text]
        if unknown:
            raise ModelInputError(
                f"{unknown} are not schools of this model; its schools are ids such as "
                f"{list(labels[:3])}."
            )
        positions = [by_text[str(s)] for s in schools]
    from .models import fit_hlm

    used = frame.loc[fit.design.rows]
    school_of_row = used[fit.group].astype(str).to_numpy()
    full = _blocks(fit)
    information = full.information
    beta = fit.fixed["estimate"].to_numpy()
    covparms = fit.covariance["estimate"].to_numpy()
    changes, deleted_info, rvc = [], [], []
    for k in positions:
        refit = fit_hlm(
            used[school_of_row != str(labels[k])],
            fit.formula,
            group=fit.group,
            random=fit.random_terms,
            method=fit.method,
            covariance=fit.covariance_structure,
        )
        changes.append(beta - refit.fixed["estimate"].to_numpy())
        deleted_info.append(_blocks(refit, full.A, full.B).information)
        with np.errstate(divide="ignore", invalid="ignore"):
            rvc.append(refit.covariance["estimate"].to_numpy() / covparms - 1.0)
    change = np.array(changes)
    conditioned_change = np.linalg.solve(full.A, change.T).T  # b~ = A^-1 b
    out = _influence_frame(
        fit,
        labels[positions],
        full.sizes[positions],
        _deletion_statistics(information, np.array(deleted_info), conditioned_change),
        change,
    )
    for j, name in enumerate(_covariance_labels(fit)):
        out[f"rvc_{name}"] = np.array(rvc)[:, j]
    return out
