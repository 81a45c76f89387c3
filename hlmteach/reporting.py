"""Reporting a fitted HLM: the tables and facts a paper's methods and results sections state.

Each function reads a fitted :class:`~hlmteach.models.HLMResult` and returns a plain
table, so that a write-up can take every number from code:

- :func:`sample_description`: students, schools, school sizes and rows not used;
- :func:`methods_facts`: estimation method, software, covariance structure, df
  method, centring, missing data and weights, in words;
- :func:`fixed_effects_table`: estimates with SEs, df, t, p and confidence intervals;
- :func:`variance_components_table`: variances with standard deviations and
  profile-likelihood intervals (not estimate ± 1.96 SE, which can cross zero).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from .validation import ModelInputError, require_choice, require_probability, require_result

if TYPE_CHECKING:
    from .models import HLMResult

__all__ = [
    "fixed_effects_table",
    "methods_facts",
    "sample_description",
    "variance_components_table",
]

_DDF = {"satterthwaite": "satterthwaite", "sat": "satterthwaite", "bw": "bw"}
_DDF_WORDS = {
    "satterthwaite": "Satterthwaite (SAS DDFM=SATTERTHWAITE; R lmerTest)",
    "bw": "between-within (SAS DDFM=BW)",
}


def _require_fit(fit: object) -> HLMResult:
    from .models import HLMResult

    require_result(fit, [HLMResult], "fit")
    return fit


def _school_sizes(fit: HLMResult) -> np.ndarray:
    return np.bincount(fit.design.group_codes, minlength=fit.n_groups)


def sample_description(fit: HLMResult) -> pd.Series:
    """Students, schools and school sizes of the rows a fit used.

    Parameters
    ----------
    fit : HLMResult
        One fitted model.

    Returns
    -------
    Series
        ``students`` (N), ``schools`` (J), ``rows_not_used`` (missing values),
        and the school sizes' ``size_min``, ``size_median``, ``size_mean``,
        ``size_max``.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> m = hlm.fit_hlm(hlm.load_hsb(), "mathach ~ ses", group="school")
    >>> sample_description(m)[["students", "schools", "size_min", "size_max"]].tolist()
    [7185.0, 160.0, 14.0, 67.0]
    """
    fit = _require_fit(fit)
    sizes = _school_sizes(fit)
    return pd.Series(
        {
            "students": float(fit.n_obs),
            "schools": float(fit.n_groups),
            "rows_not_used": float(fit.n_dropped),
            "size_min": float(sizes.min()),
            "size_median": float(np.median(sizes)),
            "size_mean": float(sizes.mean()),
            "size_max": float(sizes.max()),
        },
        name="sample",
    )


def fixed_effects_table(
    fit: HLMResult, ddf: str = "satterthwaite", level: float = 0.95
) -> pd.DataFrame:
    """Fixed effects as a results table reports them: estimate, SE, df, t, p and a CI.

    Parameters
    ----------
    fit : HLMResult
        One fitted model.
    ddf : {"satterthwaite", "bw"}
        Denominator degrees of freedom: Satterthwaite (the default, as lmerTest) or
        SAS's between-within. A survey-weighted fit has z tests (infinite df) and
        takes only ``"bw"``.
    level : float
        Confidence level of the interval ``estimate ± t(df) SE``.

    Returns
    -------
    DataFrame
        ``estimate``, ``se``, ``df``, ``t``, ``p``, ``lower``, ``upper`` per term.

    Raises
    ------
    ModelInputError
        For an unknown ``ddf``, a ``level`` outside (0, 1), or Satterthwaite df
        asked of a weighted fit.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> m = hlm.fit_hlm(hlm.load_hsb(), "mathach ~ ses", group="school")
    >>> fixed_effects_table(m).loc["ses", ["estimate", "lower", "upper"]].round(3).tolist()
    [2.39, 2.183, 2.597]
    """
    fit = _require_fit(fit)
    kind = _DDF[require_choice(ddf, _DDF, "ddf", normalise=str.lower)]
    level = require_probability(level, "level")
    if fit.weighted and kind == "satterthwaite":
        raise ModelInputError(
            "A survey-weighted fit has cluster-robust z tests, not Satterthwaite df: pass "
            "ddf='bw' (its df are infinite)."
        )
    table = fit.fixed_effects(kind).copy()
    half = stats.t.ppf(0.5 + level / 2.0, table["df"]) * table["se"]
    table["lower"] = table["estimate"] - half
    table["upper"] = table["estimate"] + half
    return table


def variance_components_table(fit: HLMResult, level: float = 0.95) -> pd.DataFrame:
    """Variance components with standard deviations and profile-likelihood intervals.

    Parameters
    ----------
    fit : HLMResult
        One converged, unweighted fit.
    level : float
        Confidence level.

    Returns
    -------
    DataFrame
        Per covariance parameter: ``estimate``, ``sd`` (its square root, for a
        variance), ``lower`` and ``upper`` (profile likelihood of the fit's own
        criterion, REML or ML) and ``reaches_zero``.

    Raises
    ------
    ModelInputError
        For a survey-weighted fit (no likelihood to profile) or one that did not converge.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> m = hlm.fit_hlm(hlm.load_hsb(), "mathach ~ 1", group="school")
    >>> variance_components_table(m)[["estimate", "lower", "upper"]].round(2)
                    estimate  lower  upper
    parameter
    Var(Intercept)      8.61   6.78  11.08
    Residual           39.15  37.88  40.47
    """
    from .variance_tests import profile_intervals

    fit = _require_fit(fit)
    if fit.weighted:
        raise ModelInputError(
            "A survey-weighted fit maximises a pseudo-likelihood, which has no profile "
            "interval: report the estimates with their cluster-robust SEs (fit.covariance)."
        )
    profile = profile_intervals(fit, level=level)
    is_variance = ~profile.index.str.startswith("Cov(")
    sd = np.where(is_variance, np.sqrt(np.clip(profile["estimate"], 0.0, None)), np.nan)
    table = pd.DataFrame(
        {
            "estimate": profile["estimate"],
            "sd": sd,
            "lower": profile["lower"],
            "upper": profile["upper"],
            "reaches_zero": profile["reaches_zero"],
        }
    )
    return table


def methods_facts(fit: HLMResult, ddf: str = "satterthwaite") -> pd.Series:
    """What a methods section states about a fit, in words, read from the fit itself.

    Parameters
    ----------
    fit : HLMResult
        One fitted model.
    ddf : {"satterthwaite", "bw"}
        The df method the results table uses (see :func:`fixed_effects_table`).

    Returns
    -------
    Series of str
        ``outcome``, ``levels``, ``fixed_part``, ``random_part``, ``covariance``,
        ``estimation``, ``software``, ``df_method``, ``centring``, ``missing_data``
        and ``weights``.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> m = hlm.fit_hlm(hlm.load_hsb(), "mathach ~ ses", group="school")
    >>> methods_facts(m)["estimation"]
    'restricted maximum likelihood (REML)'
    """
    import importlib.metadata

    fit = _require_fit(fit)
    kind = _DDF[require_choice(ddf, _DDF, "ddf", normalise=str.lower)]
    design = fit.design
    slopes = design.random_names[1:]
    covariance = {
        "un": "unstructured (intercept and slope variances and their covariance; SAS TYPE=UN)",
        "vc": "variance components (variances only, no covariance; SAS TYPE=VC)",
    }[fit.covariance_structure]
    if not slopes:
        covariance = "a random intercept only (one variance, tau00)"
    estimation = {
        "REML": "restricted maximum likelihood (REML)",
        "ML": "full maximum likelihood (ML)",
    }[fit.method]
    if fit.weighted:
        estimation = "pseudo-maximum likelihood with survey weights"
    centring = (
        ", ".join(f"{k}: {v}" for k, v in fit.centering.items())
        if fit.centering
        else "none (every predictor in its original metric)"
    )
    missing = (
        f"{fit.n_dropped} row(s) with a missing model variable not used (listwise deletion)"
        if fit.n_dropped
        else "no missing values in the model variables"
    )
    weights = fit.survey_weights.describe() if fit.weighted else "unweighted"
    version = importlib.metadata.version("hlmteach")
    return pd.Series(
        {
            "outcome": design.outcome,
            "levels": f"{fit.n_obs} level-1 units in {fit.n_groups} level-2 units "
            f"(grouped by {fit.group!r})",
            "fixed_part": " + ".join(design.fixed_names),
            "random_part": " + ".join(design.random_names) + f" varying across {fit.group}",
            "covariance": covariance,
            "estimation": estimation,
            "software": f"Python package hlmteach {version} (fit_hlm)",
            "df_method": "z tests (cluster-robust SEs)" if fit.weighted else _DDF_WORDS[kind],
            "centring": centring,
            "missing_data": missing,
            "weights": weights,
        },
        name="methods",
    )
