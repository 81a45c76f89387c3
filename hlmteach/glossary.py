"""One model, five vocabularies: where each HLM quantity appears in SAS, HLM 8, lme4, statsmodels.

Raudenbush & Bryk's symbols (γ, τ, σ², u, β, λ) are the course's common
language; each program prints the same numbers under its own labels.
:func:`glossary` lines them up, so a learner who reads one output can find the
number in the others.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["glossary"]

_COLUMNS = ("symbol", "meaning", "SAS PROC MIXED", "HLM 8", "lme4 (R)", "statsmodels", "hlmteach")

# For the entries below, the model is y_ij = β_0j + β_1j x_ij + r_ij with
# β_0j = γ00 + u_0j and β_1j = γ10 + u_1j; "fit" is an HLMResult, "res" a
# statsmodels MixedLMResults and, in R, "fit" an lmer fit with (x | school).
_ROWS: tuple[tuple[str, ...], ...] = (
    (
        "γ (γ00, γ10, …)",
        "fixed effects: the average school's intercept and slopes",
        "Solution for Fixed Effects (MODEL / SOLUTION; ODS table SolutionF)",
        "Final estimation of fixed effects: INTRCPT2, G00 for INTRCPT1, B0; "
        "INTRCPT2, G10 for X slope, B1",
        "fixef(fit); summary(fit)$coefficients",
        "res.fe_params (SE: res.bse_fe)",
        "fit.fixed",
    ),
    (
        "τ00",
        "variance of the school intercepts u_0j",
        "Covariance Parameter Estimates: UN(1,1) school (TYPE=UN) or Intercept school (TYPE=VC)",
        "Tau: INTRCPT1,B0; Final estimation of variance components: INTRCPT1, u0",
        "VarCorr(fit)$school[1, 1]",
        "res.cov_re.iloc[0, 0]",
        "fit.tau.iloc[0, 0]",
    ),
    (
        "τ11",
        "variance of the school slopes u_1j",
        "Covariance Parameter Estimates: UN(2,2) school (TYPE=UN) or x school (TYPE=VC)",
        "Tau: X slope,B1 (diagonal); variance components table: X slope, u1",
        "VarCorr(fit)$school[2, 2]",
        "res.cov_re.iloc[1, 1]",
        "fit.tau.iloc[1, 1]",
    ),
    (
        "τ01",
        "covariance of school intercepts and slopes",
        "Covariance Parameter Estimates: UN(2,1) school (TYPE=UN only; TYPE=VC fixes it at 0)",
        "Tau (off-diagonal); Tau (as correlations) gives the correlation",
        "VarCorr(fit)$school[1, 2]",
        "res.cov_re.iloc[1, 0]",
        "fit.tau.iloc[1, 0]",
    ),
    (
        "σ²",
        "level-1 (student) residual variance",
        "Covariance Parameter Estimates: Residual",
        "sigma^2 (Sigma_squared in older versions); variance components table: level-1, r",
        "sigma(fit)^2",
        "res.scale",
        "fit.sigma2",
    ),
    (
        "u_0j, u_1j",
        "a school's random effects (empirical Bayes residuals, EBLUPs)",
        "Solution for Random Effects (RANDOM / SOLUTION; ODS table SolutionR)",
        "Level-2 residual file: EB residuals (ebintrcp, eb<x>)",
        "ranef(fit)$school",
        "res.random_effects (a dict: school -> Series)",
        "fit.random_effects",
    ),
    (
        "β_0j, β_1j",
        "a school's own intercept and slopes: γ + u_j",
        "not printed: add Solution for Fixed Effects and SolutionR",
        "Level-2 residual file: EB estimates of the coefficients (fitted value + EB residual)",
        "coef(fit)$school",
        "not provided: res.fe_params + res.random_effects[j]",
        "fit.school_coefficients()",
    ),
    (
        "λ_j",
        "reliability of school j's OLS coefficient, τ_qq / (τ_qq + σ² [(X_j'X_j)^-1]_qq)",
        "not printed: compute from the covariance parameters and each school's design",
        "Random level-1 coefficient / Reliability estimate (the mean over schools)",
        "not provided: compute from VarCorr(fit), sigma(fit) and the school sizes",
        "not provided",
        "fit.school_reliability",
    ),
    (
        "ICC (ρ)",
        "intraclass correlation τ00 / (τ00 + σ²), from the intercept-only model",
        "not printed: compute from Covariance Parameter Estimates",
        "not printed: compute from Tau and sigma^2 of the null model",
        "not in lme4: VarCorr by hand (or performance::icc)",
        "not provided: res.cov_re.iloc[0, 0] / (res.cov_re.iloc[0, 0] + res.scale)",
        "fit.icc",
    ),
    (
        "-2LL (deviance)",
        "minus twice the (restricted) log-likelihood, for likelihood-ratio tests",
        "Fit Statistics: -2 Res Log Likelihood (REML) or -2 Log Likelihood (ML)",
        "Deviance (Statistics for current covariance components model)",
        "REMLcrit(fit) (REML); deviance(fit) (ML)",
        "-2 * res.llf",
        "fit.deviance",
    ),
    (
        "w_j, w_i|j",
        "survey weights: the school's weight and the student's conditional weight within "
        "the school; a weighted fit (fit_hlm(..., weights=, group_weights=)) maximises a "
        "pseudo-likelihood and reports sandwich SEs",
        "none in PROC MIXED; PROC GLIMMIX: MODEL / OBSWEIGHT=w_i|j, RANDOM / SUBJECT=school "
        "WEIGHT=w_j, with EMPIRICAL=CLASSICAL",
        "level-1 and level-2 weighting variables (HLM normalises them, a related but different "
        "model)",
        'none in lme4: WeMix::mix(..., weights = c("w_ij", "w_j"))',
        "not provided (MixedLM has no weights)",
        "fit.weighted",
    ),
)


def glossary() -> pd.DataFrame:
    """The symbols of Raudenbush & Bryk next to their names in each program's output.

    Returns
    -------
    DataFrame
        One row per quantity (γ, τ00, τ11, τ01, σ², u_j, β_j, λ_j, ICC, -2LL,
        survey weights)
        with the columns ``symbol``, ``meaning``, ``SAS PROC MIXED``,
        ``HLM 8``, ``lme4 (R)``, ``statsmodels`` and ``hlmteach``. In the code
        columns ``fit`` is the fitted model (an ``HLMResult`` in hlmteach, an
        ``lmer`` fit with ``(x | school)`` in R) and ``res`` a statsmodels
        ``MixedLMResults``; slopes are in the second row and column of τ.

    Examples
    --------
    >>> table = glossary()
    >>> table.set_index("symbol").loc["σ²", ["lme4 (R)", "statsmodels", "hlmteach"]].tolist()
    ['sigma(fit)^2', 'res.scale', 'fit.sigma2']
    """
    return pd.DataFrame(list(_ROWS), columns=list(_COLUMNS))
