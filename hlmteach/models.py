"""Fitting models: OLS and two-level HLMs, one country at a time or all at once.

:func:`fit_hlm` fits a two-level model with the package's own exact REML/ML
engine (:mod:`hlmteach.engine`) and returns an :class:`HLMResult` holding what
SAS PROC MIXED and HLM 8 print: fixed effects with between-within and
Satterthwaite df, covariance parameters with Wald Z (SAS ``COVTEST``), fit
statistics, EBLUPs (SAS ``solutionR``), the ICC and the reliability of each
school's coefficients (:mod:`hlmteach.results`). :func:`fit_ols` fits OLS with
statsmodels. Both take
``by=`` to fit each country separately, as SAS's ``BY`` statement does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .design import build_design, category_references
from .engine import CovarianceStructure, CrossProducts, fit_mixed_model
from .results import ByResults, HLMResult, OLSResult
from .survey_weights import SurveyWeights
from .validation import (
    ModelInputError,
    as_term_list,
    check_by_levels,
    require_choice,
    require_column_name,
    require_columns,
    require_frame,
)

__all__ = ["fit_hlm", "fit_ols"]

_METHODS = ("REML", "ML")
_STRUCTURES = {"un": "un", "unstructured": "un", "vc": "vc", "diagonal": "vc"}


def _check_method(method: str) -> str:
    upper = method.upper() if isinstance(method, str) else method
    if upper not in _METHODS:
        raise ModelInputError(
            f"Unknown method {method!r}; use 'REML' (the default, as SAS and HLM 8) or 'ML' "
            "(needed to compare models with different fixed effects)."
        )
    return upper


def _split_by(data: pd.DataFrame, by: str) -> dict[str, pd.DataFrame]:
    require_frame(data)
    require_column_name(by, "by", "by='country'")
    require_columns(data, [by], "by= argument")
    check_by_levels(data[by], by)
    return {
        str(level): part for level, part in data.groupby(by, observed=True, sort=True) if len(part)
    }


def _fit_each(
    data: pd.DataFrame, by: str, fit_one: Callable[[pd.DataFrame], Any]
) -> dict[str, Any]:
    """``fit_one`` of each level of ``by``; a level that cannot be fitted is named.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> frame = pd.DataFrame({"country": ["A", "B"], "x": [1.0, 2.0]})
    >>> _fit_each(frame, "country", lambda part: hlm.fit_ols(part, "x ~ 1"))
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: For country='A' (fitted separately, by='country'): The
    outcome 'x' is constant (1) in every row used: there is no variation to model. Check that
    you chose the right column. To fit the other levels, leave this level's rows out of the data.
    """
    fits = {}
    for level, part in _split_by(data, by).items():
        try:
            fits[level] = fit_one(part)
        except ModelInputError as exc:
            raise ModelInputError(
                f"For {by}={level!r} (fitted separately, by={by!r}): {exc} To fit the other "
                "levels, leave this level's rows out of the data."
            ) from exc
    return fits


def fit_ols(data: pd.DataFrame, formula: str, by: str | None = None) -> OLSResult | ByResults:
    """Fit ordinary least squares, optionally separately within each level of ``by``.

    Parameters
    ----------
    data : DataFrame
        One row per student.
    formula : str
        A patsy formula, e.g. ``"math ~ college + boy"``.
    by : str, optional
        Fit each level of this column separately (SAS ``BY``), e.g. ``"country"``.

    Returns
    -------
    OLSResult or ByResults

    Examples
    --------
    >>> import hlmteach as hlm
    >>> ols = hlm.fit_ols(hlm.load_timss(), "math ~ college + boy", by="country")
    >>> ols["Korea"].n_obs, ols["USA"].n_obs
    (2900, 6943)
    """
    if by is not None:
        return ByResults(by, _fit_each(data, by, lambda part: fit_ols(part, formula)))
    import statsmodels.api as sm

    design = build_design(data, formula)
    # Columns in any units (1e-45 or 1e12) are fitted on a common scale, so the answer
    # does not depend on them; the estimates are mapped back in OLSResult.fixed.
    scale = np.sqrt(np.mean(design.X**2, axis=0))
    # build_design has checked that X has full rank, so QR gives pinv's answer, faster.
    result = sm.OLS(design.y, design.X / scale).fit(method="qr")
    return OLSResult(
        formula,
        design,
        result,
        label=str(data.attrs.get("label", "")),
        column_scale=scale,
        categories=category_references(data, formula, rows=design.rows),
    )


def fit_hlm(
    data: pd.DataFrame,
    formula: str,
    group: str,
    random: Sequence[str] = (),
    method: str = "REML",
    covariance: str = "un",
    by: str | None = None,
    engine: str = "hlmteach",
    weights: str | None = None,
    group_weights: str | None = None,
    conditional_weights: bool = False,
    weight_scaling: str = "none",
) -> HLMResult | ByResults | Any:
    """Fit a two-level hierarchical linear model.

    Parameters
    ----------
    data : DataFrame
        One row per student.
    formula : str
        The fixed part, ``"outcome ~ predictors"`` (patsy; ``C(x)`` for categories).
    group : str
        The column of school ids.
    random : sequence of str
        Level-1 predictors whose slopes vary across schools; the intercept is always random.
    method : {"REML", "ML"}
        Restricted (default, as SAS and HLM 8) or full maximum likelihood.
    covariance : {"un", "vc"}
        Random-effect covariance: unstructured (default, as HLM 8 and lme4; SAS
        ``TYPE=UN``) or uncorrelated variance components (SAS's default ``TYPE=VC``).
    by : str, optional
        Fit each level of this column separately (SAS ``BY``), e.g. ``"country"``.
    engine : {"hlmteach", "statsmodels"}
        ``"statsmodels"`` returns statsmodels' ``MixedLM`` result, for a second opinion.
    weights : str, optional
        Column of the students' survey weights (level 1). With ``weights`` or
        ``group_weights`` the fit is pseudo-maximum likelihood (Rabe-Hesketh &
        Skrondal 2006; see :mod:`hlmteach.survey_weights`): ``method`` must be
        ``"ML"``, and the standard errors are cluster-robust (sandwich) over schools.
    group_weights : str, optional
        Column of the schools' survey weights (level 2), constant within each school.
    conditional_weights : bool
        False (default, as WeMix's ``cWeights = FALSE``): ``weights`` is the
        student's total weight (TIMSS ``TOTWGT``, PISA ``W_FSTUWT``) and is divided
        by the school weight. True: it is already the weight within the school.
    weight_scaling : {"none", "size", "effective"}
        Rescaling of the conditional weights within each school: raw (default,
        as WeMix and Stata), to the school's size, or to its effective size.

    Returns
    -------
    HLMResult or ByResults
        (or a statsmodels ``MixedLMResults`` with ``engine="statsmodels"``).

    Raises
    ------
    ModelInputError
        For data or specifications that cannot be fitted, with the fix in the message.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> fits = hlm.fit_hlm(hlm.load_timss(), "math ~ 1", group="school", by="country")
    >>> int(fits["Korea"].fixed.loc["Intercept", "df"])
    149
    """
    method = _check_method(method)
    kind = require_choice(covariance, _STRUCTURES, "covariance", normalise=str.lower)
    kind = _STRUCTURES[kind]
    require_choice(engine, ("hlmteach", "statsmodels"), "engine")
    random = as_term_list(random, "random")
    require_column_name(group, "group", "group='school'")
    survey = SurveyWeights.from_arguments(
        weights, group_weights, conditional_weights, weight_scaling
    )
    if survey is not None and method == "REML":
        raise ModelInputError(
            "REML is not defined for survey-weighted fits in the standard references (Rabe-"
            "Hesketh & Skrondal 2006; WeMix, Stata and Mplus use ML): pass method='ML'."
        )
    if survey is not None and engine == "statsmodels":
        raise ModelInputError(
            "statsmodels' MixedLM has no survey weights: use engine='hlmteach' for a weighted "
            "fit, or drop weights= and group_weights= for an unweighted second opinion."
        )
    if by is not None:
        return ByResults(
            by,
            _fit_each(
                data,
                by,
                lambda part: fit_hlm(
                    part,
                    formula,
                    group,
                    random,
                    method,
                    covariance,
                    None,
                    engine,
                    weights,
                    group_weights,
                    conditional_weights,
                    weight_scaling,
                ),
            ),
        )
    design = build_design(data, formula, group=group, random=random)
    if engine == "statsmodels":
        from .statsmodels_bridge import fit_with_statsmodels

        return fit_with_statsmodels(design, method, kind)
    student_w = school_w = None
    if survey is not None:
        student_w, school_w = survey.arrays(data, design.rows, design.group_codes, group)
    cp = CrossProducts.from_arrays(
        design.y,
        design.X,
        design.Z,
        design.group_codes,
        student_w,
        school_w,
        standardise=True,
        centre_random=kind == "un",
    )
    fit = fit_mixed_model(cp, CovarianceStructure(kind, cp.n_random), reml=method == "REML")
    return HLMResult(
        formula=formula,
        group=group,
        random_terms=list(random),
        method=method,
        covariance_structure=kind,
        design=design,
        engine_fit=fit,
        label=str(data.attrs.get("label", "")),
        centering=dict(data.attrs.get("centering", {})),
        survey_weights=survey,
        categories=category_references(data, formula, rows=design.rows),
    )
