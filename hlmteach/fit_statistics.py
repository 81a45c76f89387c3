"""SAS PROC MIXED's fit statistics: -2 log-likelihood, AIC, AICC and BIC."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["fit_statistics"]


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
