"""Degrees of freedom for the fixed effects: between-within and Satterthwaite.

The definitions follow SAS PROC MIXED, which the course's source analysis uses:
between-within degrees of freedom (``DDFM=BW``) and Satterthwaite degrees of
freedom (SAS ``DDFM=SAT``, R's lmerTest, in lmerTest's parameterisation).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .engine import central_differences, fixed_effect_covariance, theta_sigma_gradient

if TYPE_CHECKING:
    from .engine import EngineFit

__all__ = ["between_within_df", "satterthwaite_df"]


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
    unit_free = fit.standardised or fit  # the df do not depend on units; precision does
    cp, structure, reml = unit_free.cross_products, unit_free.structure, unit_free.reml
    p = cp.n_fixed
    point = np.r_[unit_free.theta, np.sqrt(unit_free.sigma2)]

    def gradient(varpar: np.ndarray) -> np.ndarray:
        return theta_sigma_gradient(varpar, cp, structure, reml)

    # The fixed effects as reported are F @ beta' (times the outcome's scale, which the
    # df do not depend on): their variances are the diagonal of F cov(beta') F'.
    F = unit_free.cross_products.standardisation.fixed_map if fit.standardised else np.eye(p)

    def variances(varpar: np.ndarray) -> np.ndarray:
        cov = fixed_effect_covariance(varpar, cp, structure)
        return np.einsum("ij,jk,ik->i", F, cov, F)

    every = np.arange(point.size)
    steps = 1e-4 * np.maximum(np.abs(point), 1e-2)
    hessian = central_differences(gradient, point, every, steps)
    jacobian = central_differences(variances, point, every, steps)
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
