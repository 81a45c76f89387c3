"""A second opinion: the same model fitted by statsmodels' ``MixedLM``.

The course uses it to show that two independent implementations agree where
statsmodels converges, and to show where it does not (DESIGN.md §4).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .design import Design

__all__ = ["fit_with_statsmodels"]


def fit_with_statsmodels(design: Design, method: str = "REML", covariance: str = "un") -> Any:
    """Fit a checked design with statsmodels ``MixedLM``.

    Parameters
    ----------
    design : Design
        From :func:`hlmteach.design.build_design`.
    method : {"REML", "ML"}
        Estimation method.
    covariance : {"un", "vc"}
        Unstructured or uncorrelated random effects.

    Returns
    -------
    statsmodels.regression.mixed_linear_model.MixedLMResults
        statsmodels' own result; its warnings are kept on ``result.fit_warnings``.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> from hlmteach.design import build_design
    >>> d = build_design(hlm.load_hsb(), "mathach ~ 1", group="school")
    >>> round(float(fit_with_statsmodels(d).params["Intercept"]), 3)
    12.637
    """
    import pandas as pd
    from statsmodels.regression.mixed_linear_model import MixedLM

    exog = pd.DataFrame(design.X, columns=design.fixed_names)
    groups = design.group_codes
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if covariance == "un":
            exog_re = pd.DataFrame(design.Z, columns=design.random_names)
            model = MixedLM(design.y, exog, groups=groups, exog_re=exog_re)
        else:
            exog_re = pd.DataFrame(design.Z[:, :1], columns=design.random_names[:1])
            exog_vc = {
                name: {g: design.Z[groups == g, k : k + 1] for g in np.unique(groups)}
                for k, name in enumerate(design.random_names)
                if k > 0
            }
            model = MixedLM(design.y, exog, groups=groups, exog_re=exog_re, exog_vc=exog_vc)
        result = model.fit(reml=method == "REML")
    result.fit_warnings = [str(w.message) for w in caught]
    return result
