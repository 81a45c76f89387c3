"""Inference for fitted models: degrees of freedom, information criteria and likelihood-ratio tests.

The definitions follow SAS PROC MIXED, which the course's source analysis uses:
between-within degrees of freedom (``DDFM=BW``), Satterthwaite degrees of
freedom (as SAS ``DDFM=SAT`` and R's lmerTest), the fit statistics of the
"Fit Statistics" table, and the likelihood-ratio test of a variance component
with the 50:50 chi-square mixture that its boundary calls for
(Self & Liang 1987; Stram & Lee 1994).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from .validation import ModelInputError, require_result

if TYPE_CHECKING:
    from .engine import EngineFit
    from .models import HLMResult

__all__ = [
    "LikelihoodRatioTest",
    "between_within_df",
    "fit_statistics",
    "lr_test",
    "satterthwaite_df",
]


def between_within_df(X: np.ndarray, group_codes: np.ndarray) -> np.ndarray:
    """Between-within denominator degrees of freedom, as SAS ``DDFM=BW``.

    The residual degrees of freedom are split into a between-school part,
    ``J - rank(X_between)``, given to effects that never change within a
    school (the intercept and school-level predictors), and a within-school
    part, ``N - rank(X) - (J - rank(X_between))``, given to the others.

    Parameters
    ----------
    X : ndarray
        Fixed-effect design (N, p).
    group_codes : ndarray
        School of each row, 0..J-1.

    Returns
    -------
    ndarray
        One df per column of X.

    Examples
    --------
    >>> groups = np.repeat(np.arange(4), 3)
    >>> X = np.c_[np.ones(12), np.arange(12.0)]
    >>> between_within_df(X, groups).tolist()
    [3.0, 7.0]
    """
    from .design import varies_within_groups

    n, J = X.shape[0], int(group_codes.max()) + 1
    between = ~varies_within_groups(X, group_codes)
    rank_between = np.linalg.matrix_rank(X[:, between]) if between.any() else 0
    df_between = J - rank_between
    df_within = n - np.linalg.matrix_rank(X) - df_between
    return np.where(between, float(df_between), float(df_within))


def satterthwaite_df(fit: EngineFit) -> np.ndarray:
    """Satterthwaite degrees of freedom for each fixed effect (SAS ``DDFM=SAT``, lmerTest).

    ``df_k = 2 v_k^2 / (g_k' A g_k)``, where ``v_k`` is the variance of the k-th
    estimate, ``g_k`` its gradient over the variance parameters and ``A`` their
    asymptotic covariance, twice the (Moore-Penrose) inverse of the Hessian of
    -2 log L. As in lmerTest (Kuznetsova et al. 2017), the variance parameters are
    the relative covariance factor ``theta`` and the residual SD ``sigma``: there a
    variance on the boundary is an ordinary point (the criterion is smooth and even
    in ``theta``), so singular fits get the same df as lmerTest's, where a
    parameterisation in the variances themselves breaks down.

    Parameters
    ----------
    fit : EngineFit
        A converged fit from :func:`hlmteach.engine.fit_mixed_model`.

    Returns
    -------
    ndarray
        One df per fixed effect, between 0 and the number of observations (infinite
        where the variance parameters carry no information about an estimate's
        variance, as lmerTest reports).

    Examples
    --------
    >>> import hlmteach as hlm
    >>> m = hlm.fit_hlm(hlm.load_hsb(), "mathach ~ 1", group="school")
    >>> round(float(satterthwaite_df(m.engine_fit)[0]), 1)
    156.6
    """
    from .engine import _central_differences, _chol_solve, _gradient_g_sigma2, _solve

    unit_free = fit.standardised or fit  # the df do not depend on units; precision does
    cp, structure, reml = unit_free.cross_products, unit_free.structure, unit_free.reml
    p = cp.n_fixed
    point = np.r_[unit_free.theta, np.sqrt(unit_free.sigma2)]

    def factor_and_sigma(varpar: np.ndarray) -> tuple[np.ndarray, float]:
        return structure.factor(varpar[:-1]), float(varpar[-1])

    def gradient(varpar: np.ndarray) -> np.ndarray:
        """Exact gradient of -2 log L (beta profiled) in (theta, sigma)."""
        lam, sigma = factor_and_sigma(varpar)
        T = lam @ lam.T
        sol = _solve(cp, T)
        if sol is None:
            return np.full(varpar.shape, np.nan)
        D, d_sigma2 = _gradient_g_sigma2(cp, sol, sigma**2, reml)
        d_theta = 2.0 * sigma**2 * (D @ lam)[structure.rows, structure.cols]
        return np.r_[d_theta, 2.0 * sigma * (d_sigma2 + float(np.sum(D * T)))]

    # The fixed effects as reported are F @ beta' (times the outcome's scale, which the
    # df do not depend on): their variances are the diagonal of F cov(beta') F'.
    F = unit_free.cross_products.standardisation.fixed_map if fit.standardised else np.eye(p)

    def variances(varpar: np.ndarray) -> np.ndarray:
        lam, sigma = factor_and_sigma(varpar)
        sol = _solve(cp, lam @ lam.T)
        if sol is None:
            return np.full(p, np.nan)
        cov = sigma**2 * _chol_solve(sol.A_chol, np.eye(p))
        return np.einsum("ij,jk,ik->i", F, cov, F)

    every = np.arange(point.size)
    steps = 1e-4 * np.maximum(np.abs(point), 1e-2)
    hessian = _central_differences(gradient, point, every, steps)
    jacobian = _central_differences(variances, point, every, steps)
    hessian = 0.5 * (hessian + hessian.T)
    if not np.all(np.isfinite(hessian)):
        return np.full(p, np.nan)
    values, vectors = np.linalg.eigh(hessian)
    positive = values > 1e-8  # lmerTest's tolerance for its generalised inverse
    acov = 2.0 * (vectors[:, positive] / values[positive]) @ vectors[:, positive].T
    v = variances(point)
    denom = np.einsum("kp,kl,lp->p", jacobian, acov, jacobian)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = np.where(denom > 0, 2.0 * v**2 / denom, np.inf)
    return np.minimum(df, float(cp.n_obs))


def fit_statistics(
    deviance: float,
    reml: bool,
    n_covparms: int,
    n_fixed: int,
    n_obs: int,
    n_groups: int,
) -> pd.Series:
    """SAS PROC MIXED's "Fit Statistics" table.

    With REML, ``AIC = -2RLL + 2q``, ``AICC = -2RLL + 2q n*/(n* - q - 1)`` with
    ``n* = N - rank(X)``, and ``BIC = -2RLL + q ln(J)``; ``q`` counts the
    covariance parameters that are not on the boundary and ``J`` the schools.
    With ML the fixed effects count too (``d = q + p``) and ``n* = N``.

    Parameters
    ----------
    deviance : float
        -2 (restricted) log-likelihood.
    reml : bool
        Which likelihood ``deviance`` is.
    n_covparms, n_fixed, n_obs, n_groups : int
        q, rank(X), N and J.

    Returns
    -------
    Series
        Indexed by SAS's row labels.

    Examples
    --------
    >>> fit_statistics(8081.8, True, 2, 1, 2901, 150).round(1).to_dict()
    {'-2 Res Log Likelihood': 8081.8, 'AIC': 8085.8, 'AICC': 8085.8, 'BIC': 8091.8}
    """
    d = n_covparms if reml else n_covparms + n_fixed
    n_star = n_obs - n_fixed if reml else n_obs
    label = "-2 Res Log Likelihood" if reml else "-2 Log Likelihood"
    return pd.Series(
        {
            label: deviance,
            "AIC": deviance + 2 * d,
            # With no more observations than parameters (plus one), AICC is not defined.
            "AICC": deviance + 2 * d * n_star / (n_star - d - 1) if n_star > d + 1 else np.nan,
            "BIC": deviance + d * np.log(n_groups),
        },
        name="fit statistics",
    )


@dataclass(frozen=True)
class LikelihoodRatioTest:
    """A likelihood-ratio test of two nested models.

    Attributes
    ----------
    statistic : float
        Difference of -2 log-likelihoods (restricted minus full).
    df : int
        Number of extra parameters in the full model.
    p_value : float
        From the 50:50 mixture of chi-square(df - 1) and chi-square(df) when the
        full model adds one variance (tested on its boundary), else chi-square(df).
    p_value_naive : float
        The plain chi-square(df) p-value, which is too large (conservative) on the boundary.
    mixture : bool
        Whether the boundary mixture was used.
    method : str
        "REML" or "ML".
    notes : tuple of str
        Plain-words cautions, such as a model that is not a verified optimum.
    """

    statistic: float
    df: int
    p_value: float
    p_value_naive: float
    mixture: bool
    method: str
    notes: tuple[str, ...] = ()

    def __str__(self) -> str:
        ref = (
            f"50:50 mixture of chi2({self.df - 1}) and chi2({self.df})"
            if self.mixture
            else f"chi2({self.df})"
        )
        text = (
            f"Likelihood-ratio test ({self.method}): chi2 = {self.statistic:.3f}, "
            f"reference {ref}, p = {self.p_value:.4g}"
        )
        return "\n".join([text, *(f"Note: {n}" for n in self.notes)])

    def _repr_html_(self) -> str:
        import html

        return "".join(f"<p>{html.escape(line)}</p>" for line in str(self).split("\n"))


def _mixture_p(statistic: float, df: int) -> float:
    upper = stats.chi2.sf(statistic, df)
    lower = stats.chi2.sf(statistic, df - 1) if df > 1 else float(statistic <= 0)
    return float(0.5 * upper + 0.5 * lower)


def lr_test(restricted: HLMResult, full: HLMResult) -> LikelihoodRatioTest:
    """Compare two nested models fitted to the same students.

    When the full model adds one random effect (its variance and its covariances
    with the other random effects), the variance is tested on the boundary of
    its parameter space, so the statistic follows a 50:50 mixture of
    chi-square(df - 1) and chi-square(df) (Stram & Lee 1994), not chi-square(df).

    Parameters
    ----------
    restricted, full : HLMResult
        The smaller and the larger model, with the same method. With REML they
        must have the same fixed effects.

    Returns
    -------
    LikelihoodRatioTest

    Examples
    --------
    >>> import hlmteach as hlm
    >>> hsb = hlm.load_hsb()
    >>> small = hlm.fit_hlm(hsb, "mathach ~ ses", group="school")
    >>> large = hlm.fit_hlm(hsb, "mathach ~ ses", group="school", random=["ses"])
    >>> test = lr_test(small, large)
    >>> test.df, test.mixture
    (2, True)
    """
    _check_comparable(restricted, full)
    same_fixed = list(restricted.fixed.index) == list(full.fixed.index)
    if full.method == "REML" and not same_fixed:
        raise ModelInputError(
            "REML likelihoods of models with different fixed effects cannot be compared; "
            "refit both with method='ML' to test fixed effects."
        )
    extra = (len(full.fixed) + len(full.covariance)) - (
        len(restricted.fixed) + len(restricted.covariance)
    )
    if extra <= 0:
        raise ModelInputError(
            "The second model must have more parameters than the first: pass the smaller model "
            "first and the larger second."
        )
    _check_nested(restricted, full)
    statistic = restricted.deviance - full.deviance
    if statistic < -1e-4:
        raise ModelInputError(
            f"The larger model fits worse than the smaller one (-2 log L {full.deviance:.4f} "
            f"against {restricted.deviance:.4f}), which is impossible if the smaller model is "
            "nested in it. Check that it is (same data, a subset of the random effects and of the "
            "fixed effects), and that both fits converged."
        )
    # Both optimisers stop within ~1e-8 of their optimum: a smaller difference is zero.
    statistic = 0.0 if statistic < 1e-6 else statistic
    added_random = len(full.design.random_names) - len(restricted.design.random_names)
    mixture = same_fixed and added_random == 1
    naive = float(stats.chi2.sf(statistic, extra))
    p = _mixture_p(statistic, extra) if mixture else naive
    notes = tuple(
        f"The {which} model is not a verified optimum ({fit.engine_fit.message}), so this test "
        "may be wrong; simplify that model or check its data."
        for which, fit in (("smaller", restricted), ("larger", full))
        if not fit.converged
    )
    return LikelihoodRatioTest(statistic, extra, p, naive, mixture, full.method, notes)


def _check_comparable(restricted: HLMResult, full: HLMResult) -> None:
    """Both are single two-level fits, by the same method, of the same outcome, rows and schools."""
    from .models import HLMResult

    require_result(restricted, [HLMResult], "restricted")
    require_result(full, [HLMResult], "full")
    if restricted.weighted or full.weighted:
        raise ModelInputError(
            "A likelihood-ratio test needs likelihoods, and a survey-weighted fit maximises a "
            "pseudo-likelihood, whose ratio does not follow a chi-square distribution. Test a "
            "fixed effect by its z test in m.fixed (cluster-robust), or compare the unweighted "
            "models."
        )
    if restricted.method != full.method:
        raise ModelInputError(
            f"Both models must be fitted with the same method to compare them (restricted: "
            f"{restricted.method}, full: {full.method}); refit one of them."
        )
    a, b = restricted.design, full.design
    if a.outcome != b.outcome:
        raise ModelInputError(
            f"The models have different outcomes ({a.outcome!r} and {b.outcome!r}); a "
            "likelihood-ratio test compares two models of the same outcome."
        )
    if a.n_obs != b.n_obs or not a.rows.equals(b.rows):
        raise ModelInputError(
            f"The models use different rows ({a.n_obs} and {b.n_obs} rows, or other row labels): "
            "a likelihood-ratio test needs the same students. Drop the rows with a missing value "
            "in any variable of either model, then fit both to that data."
        )
    if not np.array_equal(a.y, b.y):
        raise ModelInputError(
            f"The models were fitted to different values of the outcome {a.outcome!r} (the same "
            "number of rows, but other data): fit both models to the same data frame."
        )
    if restricted.group != full.group or not np.array_equal(a.group_codes, b.group_codes):
        raise ModelInputError(
            f"The models group the students differently (group={restricted.group!r} and "
            f"group={full.group!r}): a likelihood-ratio test needs the same grouping."
        )


def _within_span(columns: np.ndarray, basis: np.ndarray) -> bool:
    """Whether every column of ``columns`` is a linear combination of the columns of ``basis``."""
    coef, *_ = np.linalg.lstsq(basis, columns, rcond=None)
    residual = columns - basis @ coef
    scale = np.maximum(np.abs(columns).max(axis=0), 1e-300)
    return bool(np.all(np.abs(residual).max(axis=0) <= 1e-8 * scale))


def _check_nested(restricted: HLMResult, full: HLMResult) -> None:
    """The smaller model must be a special case of the larger one."""
    a, b = restricted.design, full.design
    if not _within_span(a.X, b.X):
        raise ModelInputError(
            f"The models are not nested: the fixed part of the smaller model ({a.fixed_names}) is "
            f"not contained in that of the larger one ({b.fixed_names}). A likelihood-ratio test "
            "needs the smaller model to be a special case; compare non-nested models by AIC/BIC."
        )
    if not _within_span(a.Z, b.Z):
        raise ModelInputError(
            f"The models are not nested: the random part of the smaller model "
            f"({a.random_names}) is not contained in that of the larger one ({b.random_names}). "
            "Compare non-nested models by AIC or BIC instead."
        )
    if (
        restricted.covariance_structure == "un"
        and full.covariance_structure == "vc"
        and len(a.random_names) > 1
    ):
        raise ModelInputError(
            "The models are not nested: the smaller model has correlated random effects "
            "(covariance='un') and the larger uncorrelated ones (covariance='vc'). Fit the "
            "smaller model with covariance='vc', or the larger with 'un'."
        )
