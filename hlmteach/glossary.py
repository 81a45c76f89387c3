"""Every term and symbol of the course, with its name in SAS, HLM 8, lme4 and statsmodels.

Raudenbush & Bryk's symbols (γ, τ, σ², u, β, λ) are the course's common
language; each program prints the same numbers under its own labels.
:func:`glossary` lines them up, so a learner who reads one output can find the
number in the others. Each symbol has one meaning in the whole course; where
the literature uses a letter for two things (λ for reliability and for Rubin's
share of missing information, B for bootstrap replicates and for Rubin's
between-imputation variance), the course keeps the letter for one meaning and
writes the other differently, and the row says so.
"""

from __future__ import annotations

import sys
import types
from typing import NamedTuple

import pandas as pd

from .validation import ModelInputError

__all__ = ["TOPICS", "glossary"]

_COLUMNS = (
    "symbol",
    "term",
    "meaning",
    "SAS PROC MIXED",
    "HLM 8",
    "lme4 (R)",
    "statsmodels",
    "hlmteach",
    "notebooks",
    "topic",
)

#: The topics of the glossary, in the order of the course.
TOPICS: tuple[str, ...] = (
    "the model",
    "the school level",
    "estimation and fit",
    "testing fixed effects",
    "testing variances",
    "plausible values",
    "centring and contextual effects",
    "survey weights",
    "model checking",
    "variance explained",
    "fixed or random school effects",
    "design and power",
)


class _Entry(NamedTuple):
    symbol: str  # "" for a term without a symbol
    term: str
    meaning: str
    sas: str
    hlm8: str
    lme4: str
    statsmodels: str
    hlmteach: str
    notebooks: str
    topic: str


_NOT = "not provided"

# In the code columns "fit" is the fitted model (an HLMResult in hlmteach, an lmer fit in R),
# "res" a statsmodels MixedLMResults, "pooled" a PooledResult of hlm.fit_plausible_values and
# "m0", "m1" a smaller and a larger model. Slopes are in the second row and column of τ.
# The model: y_ij = β_0j + β_1j x_ij + r_ij, β_0j = γ00 + γ01 w_j + u_0j, β_1j = γ10 + u_1j.
_ENTRIES: tuple[_Entry, ...] = (
    # -- the model -------------------------------------------------------------------------------
    _Entry(
        "",
        "the source analysis",
        "the original SAS tutorial the course reproduces and corrects: Kazuaki Uekawa, "
        "Hierarchical Linear Model using SAS (http://www.estat.us/HLM/index.htm, SAS output "
        "dated December 2003), on TIMSS 1995 Korea and USA",
        "its PROC MIXED programs and output",
        "not used by it",
        "not used by it",
        "not used by it",
        "hlmteach.published.SOURCE; hlmteach.published.HLM_RESULTS",
        "00, 02, 03, 04",
        "the model",
    ),
    _Entry(
        "i, j",
        "student and school index",
        "student i in school j; every symbol with subscript j belongs to one school",
        "SUBJECT=school on the RANDOM statement names j",
        "level-1 and level-2 units of the MDM file",
        "the grouping factor after | in (1 | school)",
        "groups= in smf.mixedlm",
        "fit_hlm(..., group='school')",
        "00, 03, 04",
        "the model",
    ),
    _Entry(
        "n_j, n, N, J",
        "sample sizes",
        "n_j students in school j (n: students per school in a balanced design, or the "
        "representative school size of R²₂); N students in all; J schools (level-2 units)",
        "Dimensions: Subjects (J), Observations Used (N)",
        "number of level-1 and level-2 units in the MDM summary",
        "ngrps(fit) (J); nobs(fit) (N); table(school) (n_j)",
        "res.model.n_groups (J); res.nobs (N); res.model.group_labels (schools)",
        "fit.n_groups (J); fit.n_obs (N)",
        "01, 03, 05, 17",
        "the model",
    ),
    _Entry(
        "y_ij",
        "outcome",
        "the outcome of student i in school j (here the maths score, or mathach in HSB)",
        "MODEL y = ...",
        "the outcome variable of the level-1 equation",
        "the left side of the lmer formula",
        "endog; the left side of the formula",
        "the left side of the formula; fit.design.outcome",
        "00, 03, 04",
        "the model",
    ),
    _Entry(
        "β_0j, β_1j",
        "school coefficients",
        "school j's own intercept and slopes in the level-1 equation: γ + u_j",
        "not printed: add Solution for Fixed Effects and SolutionR",
        "level-2 residual file: EB estimates of the coefficients (fitted value + EB residual)",
        "coef(fit)$school",
        "not provided: res.fe_params + res.random_effects[j]",
        "fit.school_coefficients()",
        "04, 05, 07",
        "the model",
    ),
    _Entry(
        "γ (γ00, γ01, γ10, …)",
        "fixed effects",
        "coefficients of the level-2 equations: γ_q0 is the average school's level-1 coefficient "
        "q, γ_qs the effect of level-2 predictor s on it (γ01: of a school variable on the "
        "intercept; γ11: a cross-level interaction)",
        "Solution for Fixed Effects (MODEL / SOLUTION; ODS table SolutionF)",
        "Final estimation of fixed effects: INTRCPT2, G00 for INTRCPT1, B0; "
        "INTRCPT2, G10 for X slope, B1",
        "fixef(fit); summary(fit)$coefficients",
        "res.fe_params (SE: res.bse_fe)",
        "fit.fixed",
        "03, 04, 07, 09",
        "the model",
    ),
    _Entry(
        "u_0j, u_1j",
        "random effects",
        "school j's deviations from the average school's intercept and slopes; their estimates "
        "are the EBLUPs",
        "Solution for Random Effects (RANDOM / SOLUTION; ODS table SolutionR)",
        "Level-2 residual file: EB residuals (ebintrcp, eb<x>)",
        "ranef(fit)$school",
        "res.random_effects (a dict: school -> Series)",
        "fit.random_effects",
        "04, 05",
        "the model",
    ),
    _Entry(
        "r_ij",
        "level-1 residual",
        "student i's deviation from school j's line, r_ij ~ N(0, σ²)",
        "MODEL / OUTP= data set: Resid (conditional residual)",
        "level-1 residual file: l1resid",
        "residuals(fit)",
        "res.resid",
        "hlmteach.diagnostics.level1_residuals(fit)",
        "03, 04, 13",
        "the model",
    ),
    _Entry(
        "e_i, σ_e²",
        "OLS residual and its variance",
        "the residual of a single-level OLS regression, assumed independent across students",
        "PROC REG: Root MSE squared",
        "not applicable (single-level)",
        "sigma(lm(...))^2",
        "ols_res.scale",
        "hlm.fit_ols(...)",
        "01, 02",
        "the model",
    ),
    _Entry(
        "",
        "synthetic data",
        "the course's simulated TIMSS students, generated so that the source analysis's models "
        "reproduce its published results; use them to learn methods, never for claims about "
        "real schools",
        "not applicable",
        "not applicable",
        "not applicable",
        "not applicable",
        "hlm.load_timss() (frame.attrs['label']); hlm.make_synthetic_timss",
        "00, 02, 08",
        "the model",
    ),
    _Entry(
        "",
        "reference group (dummy coding)",
        "the category a 0/1 predictor compares against: college = 0 (no parent finished "
        "college), boy = 0 (girls); the intercept is the expected outcome of that group",
        "CLASS x / REF= (or a 0/1 variable)",
        "0/1 variables in the MDM file",
        "relevel(factor(x), ref = ...)",
        "C(x, Treatment(reference=...))",
        "0/1 columns of hlm.load_timss(); C(x) in the formula",
        "02",
        "the model",
    ),
    _Entry(
        "",
        "cluster-robust standard error of OLS",
        "OLS standard errors that allow any correlation among the students of a school: the "
        "quick fix for nested data when only the fixed effects matter",
        "PROC SURVEYREG; CLUSTER school",
        "not applicable",
        "sandwich::vcovCL(fit, cluster = ~school)",
        "fit(cov_type='cluster', cov_kwds={'groups': school})",
        "statsmodels through hlm.fit_ols(...).statsmodels_result",
        "02",
        "the model",
    ),
    _Entry(
        "OLS, R²",
        "ordinary least squares; its R²",
        "single-level regression that treats every student as independent; R² is the share of "
        "the outcome's variance its predictors explain",
        "PROC REG (R-Square)",
        "not applicable (single-level)",
        "lm(); summary(lm())$r.squared",
        "smf.ols(...).fit(); .rsquared",
        "hlm.fit_ols(...); .r2",
        "01, 02, 09",
        "the model",
    ),
    _Entry(
        "SD",
        "standard deviation",
        "the square root of a variance: lme4 prints random effects as SDs (and correlations), "
        "SAS, HLM 8 and statsmodels as variances (and covariances)",
        "not printed for random effects: take the square root",
        "Standard deviation column of the variance-components table",
        "print(VarCorr(fit)) (Std.Dev.)",
        "not printed: take the square root of res.cov_re",
        "not printed: fit.tau ** 0.5",
        "03, 11",
        "the model",
    ),
    _Entry(
        "",
        "one-way ANOVA with random effects (intercept-only, null model)",
        "y_ij = γ00 + u_0j + r_ij: no predictors; gives τ00, σ² and the ICC, and is the baseline "
        "for explained variance",
        "MODEL y = ; RANDOM intercept / SUBJECT=school",
        "the model without predictors",
        "lmer(y ~ 1 + (1 | school))",
        "smf.mixedlm('y ~ 1', data, groups=data['school'])",
        "hlm.fit_hlm(data, 'y ~ 1', group='school')",
        "03, 07, 14",
        "the model",
    ),
    _Entry(
        "τ00",
        "intercept variance",
        "variance of the school intercepts u_0j (the between-school variance in the "
        "intercept-only model)",
        "Covariance Parameter Estimates: UN(1,1) school (TYPE=UN) or Intercept school (TYPE=VC)",
        "Tau: INTRCPT1,B0; Final estimation of variance components: INTRCPT1, u0",
        "VarCorr(fit)$school[1, 1]",
        "res.cov_re.iloc[0, 0]",
        "fit.tau.iloc[0, 0]",
        "03, 04, 07",
        "the model",
    ),
    _Entry(
        "τ11",
        "slope variance",
        "variance of the school slopes u_1j (τ22 for a second random slope; also written "
        "τ_college)",
        "Covariance Parameter Estimates: UN(2,2) school (TYPE=UN) or x school (TYPE=VC)",
        "Tau: X slope,B1 (diagonal); variance components table: X slope, u1",
        "VarCorr(fit)$school[2, 2]",
        "res.cov_re.iloc[1, 1]",
        "fit.tau.iloc[1, 1]",
        "04, 06, 10",
        "the model",
    ),
    _Entry(
        "τ01",
        "intercept-slope covariance",
        "covariance of the school intercepts and slopes",
        "Covariance Parameter Estimates: UN(2,1) school (TYPE=UN only; TYPE=VC fixes it at 0)",
        "Tau (off-diagonal); Tau (as correlations) gives the correlation",
        "VarCorr(fit)$school[1, 2]",
        "res.cov_re.iloc[1, 0]",
        "fit.tau.iloc[1, 0]",
        "04, 07",
        "the model",
    ),
    _Entry(
        "𝐓 (bold T), G",
        "covariance matrix of the random effects",
        "the matrix of all τs: variances on the diagonal, covariances off it (R&B's bold 𝐓, "
        "SAS's G; plain T is Rubin's total variance)",
        "RANDOM / G option prints it (Estimated G Matrix)",
        "Tau",
        "VarCorr(fit)$school",
        "res.cov_re",
        "fit.tau",
        "04, 11",
        "the model",
    ),
    _Entry(
        "σ²",
        "level-1 variance",
        "level-1 (student) residual variance: the spread of students around their school's line",
        "Covariance Parameter Estimates: Residual",
        "sigma^2 (Sigma_squared in older versions); variance components table: level-1, r",
        "sigma(fit)^2",
        "res.scale",
        "fit.sigma2",
        "03, 04, 07",
        "the model",
    ),
    _Entry(
        "VC, UN",
        "covariance structure",
        "VC: uncorrelated random effects (τ01 = 0); UN: unstructured, all variances and "
        "covariances free",
        "RANDOM ... / TYPE=VC or TYPE=UN",
        "UN by default; 'Diagonalize Tau' in the estimation settings gives VC",
        "(1 + x || school) for VC; (1 + x | school) for UN",
        "vc_formula= for VC; re_formula='~x' for UN",
        "fit_hlm(..., covariance='vc') or covariance='un'",
        "04, 10",
        "the model",
    ),
    _Entry(
        "",
        "level-1 and level-2 equations; combined model",
        "the model written as one equation per level (R&B, HLM 8) or substituted into one "
        "equation (SAS, lme4, statsmodels)",
        "one MODEL statement: the combined equation",
        "typed level by level in the model window",
        "one formula: the combined equation",
        "one formula: the combined equation",
        "fit.equations()",
        "04, 07",
        "the model",
    ),
    _Entry(
        "",
        "cross-level interaction",
        "a level-2 predictor in a slope's equation (γ11 w_j x_ij): the slope depends on the school",
        "MODEL y = x w x*w",
        "the level-2 predictor added to the slope's equation",
        "y ~ x * w + (x | school)",
        "'y ~ x * w'",
        "fit_hlm(data, 'y ~ x * w', ...)",
        "07",
        "the model",
    ),
    # -- the school level --------------------------------------------------------------------
    _Entry(
        "ρ, ICC",
        "intraclass correlation",
        "τ00 / (τ00 + σ²) from the intercept-only model: the share of the variance that lies "
        "between schools, and the correlation of two students of one school (not τ00/σ²)",
        "not printed: compute from Covariance Parameter Estimates",
        "not printed: compute from Tau and sigma^2 of the null model",
        "performance::icc(fit), or VarCorr by hand",
        "not provided: res.cov_re.iloc[0, 0] / (res.cov_re.iloc[0, 0] + res.scale)",
        "fit.icc",
        "01, 03, 05",
        "the school level",
    ),
    _Entry(
        "ρ_0, ρ_1",
        "conditional (residual) ICC",
        "the ICC after predictors, for students at given values of a random-slope predictor: "
        "ρ_0 at x = 0 is τ00 / (τ00 + σ²); with a random slope it changes with x",
        "not printed",
        "not printed",
        "performance::icc(fit) gives an adjusted ICC (a different average)",
        _NOT,
        "fit.icc (at predictors = 0)",
        "04",
        "the school level",
    ),
    _Entry(
        "deff, m, m̄",
        "design effect (Kish)",
        "deff = 1 + (m − 1) ρ, with m students per school (m̄ the average): how many times "
        "larger the variance of a mean is under cluster sampling than under simple random "
        "sampling (the variance inflation; √deff is the standard-error inflation)",
        "not printed (PROC SURVEYMEANS prints DEFF for a survey design)",
        "not printed",
        "not provided: 1 + (m - 1) * icc",
        _NOT,
        "not provided: 1 + (m - 1) * fit.icc",
        "01, 03, 17",
        "the school level",
    ),
    _Entry(
        "N_eff",
        "effective sample size",
        "N / deff: the number of independent students that carry the same information",
        "not printed",
        "not printed",
        "not provided: N / deff",
        _NOT,
        "hlmteach.power.effective_sample_size",
        "01, 17",
        "the school level",
    ),
    _Entry(
        "",
        "precision weight of a school mean",
        "1 / (τ00 + σ²/n_j): how much school j's mean counts in the estimate of γ00 (GLS); "
        "small noisy schools count less",
        "not printed",
        "not printed",
        "not provided",
        _NOT,
        "not provided: 1 / (fit.tau.iloc[0, 0] + fit.sigma2 / n_j)",
        "03",
        "the school level",
    ),
    _Entry(
        "λ_j",
        "reliability",
        "reliability of school j's own OLS estimate of a coefficient: for the intercept of a "
        "model without predictors τ00 / (τ00 + σ²/n_j); for coefficient k, "
        "τ_kk / (τ_kk + σ²[(X_j'X_j)^-1]_kk). λ̄ is its mean over schools. λ means nothing "
        "else in the course",
        "not printed: compute from the covariance parameters and each school's design",
        "Random level-1 coefficient / Reliability estimate (the mean over schools)",
        "not provided: compute from VarCorr(fit), sigma(fit) and the school sizes",
        _NOT,
        "fit.school_reliability (each school); fit.reliability (the mean)",
        "05, 07",
        "the school level",
    ),
    _Entry(
        "β̂_j (OLS)",
        "school's own OLS estimate",
        "the coefficients of a separate OLS regression in school j alone",
        "PROC REG with BY school",
        "level-2 residual file: OLS estimates (schools with enough data)",
        "lmList(y ~ x | school)",
        "not provided: smf.ols per school",
        "hlm.fit_ols(data, ..., by='school')",
        "05",
        "the school level",
    ),
    _Entry(
        "û_j, EBLUP, EB",
        "EBLUP (empirical Bayes estimate)",
        "the estimated random effect of school j: its OLS deviation pulled toward 0 in "
        "proportion 1 − λ_j (shrinkage). Also called the conditional mode, or EB residual",
        "SolutionR (RANDOM / SOLUTION)",
        "EB residuals in the level-2 residual file",
        "ranef(fit) (condVar = TRUE for their variances)",
        "res.random_effects",
        "fit.random_effects",
        "05, 13",
        "the school level",
    ),
    _Entry(
        "PEV",
        "prediction error variance of an EBLUP",
        "the squared prediction SE of a school's EBLUP (SAS's StdErr Pred squared); the "
        "standardised EBLUP divides û_j by its own sampling SD, √(τ − PEV_j), and is N(0, 1) "
        "under the model. lme4's condVar gives the conditional SD, which treats γ as known; "
        "û ± 1.96 √PEV covers the true u_j for about 95% of schools on average (coverage, not "
        "a test per school)",
        "SolutionR: StdErr Pred (square it)",
        "not printed",
        "attr(ranef(fit, condVar = TRUE)$school, 'postVar')",
        _NOT,
        "fit.random_effects (se column, squared); hlmteach.diagnostics.eblup_qq(fit)",
        "05, 13",
        "the school level",
    ),
    _Entry(
        "",
        "shrinkage",
        "the pull of a school's estimate toward the average school: EB = λ_j × own OLS estimate "
        "+ (1 − λ_j) × fixed part; strongest for small, unreliable schools",
        "compare SolutionR with BY-school OLS",
        "compare EB and OLS columns of the residual file",
        "compare ranef(fit) with lmList",
        "compare res.random_effects with OLS per school",
        "hlm.plots.shrinkage(fit)",
        "05, 07",
        "the school level",
    ),
    _Entry(
        "√τ",
        "model SD of the school slopes or intercepts",
        "the square root of a variance component: the spread of the true school coefficients "
        "the model implies; the EBLUPs spread less (shrinkage), as the explorer's slope "
        "distribution and school lines show",
        "the square root of a Covariance Parameter Estimate",
        "Final estimation of variance components: Standard deviation",
        "VarCorr(fit) (Std.Dev.)",
        "res.cov_re ** 0.5",
        "fit.tau ** 0.5; hlmteach.widgets.explorer_figure",
        "05, 06",
        "the school level",
    ),
    _Entry(
        "",
        "caterpillar plot",
        "the schools' EBLUPs in order with intervals; coverage, not a test per school",
        "ODS graphics of SolutionR (by hand)",
        "not printed",
        "lattice::dotplot(ranef(fit, condVar = TRUE))",
        _NOT,
        "hlm.plots.caterpillar(fit)",
        "05",
        "the school level",
    ),
    # -- estimation and fit ------------------------------------------------------------------
    _Entry(
        "REML, ML",
        "restricted and full maximum likelihood",
        "restricted (residual) and full maximum likelihood. REML corrects the variances for the "
        "estimated fixed effects (the default everywhere); ML is needed to compare models with "
        "different fixed parts",
        "PROC MIXED METHOD=REML (default) or METHOD=ML",
        "restricted ML (default for HLM2) or full ML",
        "lmer(..., REML = TRUE) (default) or REML = FALSE",
        "res = model.fit(reml=True) (default) or reml=False",
        "fit_hlm(..., method='REML') (default) or method='ML'",
        "03, 06, 10",
        "estimation and fit",
    ),
    _Entry(
        "−2LL, −2RLL, RLL",
        "deviance",
        "minus twice the (restricted) log-likelihood at the estimates: smaller fits better; "
        "differences of nested models give LR tests",
        "Fit Statistics: -2 Res Log Likelihood (REML) or -2 Log Likelihood (ML)",
        "Deviance (Statistics for current covariance components model)",
        "REMLcrit(fit) (REML); deviance(fit) (ML); -2 * logLik(fit)",
        "-2 * res.llf",
        "fit.deviance",
        "03, 10, 11",
        "estimation and fit",
    ),
    _Entry(
        "AIC, AICC, BIC, CAIC, n*",
        "information criteria",
        "−2LL plus a penalty for the number of parameters (AICC: corrected for small samples, "
        "with n* = N − p under REML; CAIC: SPSS's consistent AIC); "
        "each program counts parameters and observations its own way, so compare them only "
        "within one program",
        "Fit Statistics: AIC, AICC, BIC (REML: covariance parameters q; BIC uses J)",
        "not printed: compute from the deviance and the number of estimated parameters",
        "AIC(fit), BIC(fit) (p + q parameters; BIC uses N)",
        "res.aic, res.bic (nan under REML)",
        "fit.fit_stats",
        "03, 11",
        "estimation and fit",
    ),
    _Entry(
        "p, q",
        "numbers of parameters",
        "p fixed effects and q covariance parameters (variances, covariances and σ²); a p "
        "printed beside a test is, as everywhere, its p-value",
        "Dimensions: Columns in X (p), Covariance Parameters (q)",
        "number of estimated parameters (p + q under full ML, q under REML)",
        "length(fixef(fit)); length(getME(fit, 'theta')) + 1",
        "len(res.fe_params); res.cov_re.size",
        "len(fit.fixed); len(fit.covariance)",
        "11",
        "estimation and fit",
    ),
    _Entry(
        "",
        "boundary (singular) fit",
        "a variance estimated as exactly 0, or a correlation of ±1: the estimate sits on the "
        "edge of the parameter space; it has no Wald SE, and its test needs the boundary mixture",
        "NOTE: Estimated G matrix is not positive definite; the parameter has no SE",
        "a variance estimate of (nearly) 0; a warning about a non-positive-definite tau",
        "isSingular(fit); 'boundary (singular) fit: see help(isSingular)'",
        "ConvergenceWarning: the MLE may be on the boundary of the parameter space",
        "fit.covariance['boundary']; fit.warnings",
        "04, 06, 10",
        "estimation and fit",
    ),
    _Entry(
        "",
        "listwise deletion",
        "students with a missing value in any model variable are left out of the fit; state "
        "how many in a report",
        "Number of Observations Not Used",
        "missing data: delete (when making the MDM)",
        "na.action = na.omit (the default)",
        "missing='drop'",
        "fit.n_dropped; hlmteach.reporting.sample_description(fit)",
        "03, 16",
        "estimation and fit",
    ),
    _Entry(
        "",
        "convergence",
        "whether the optimiser reached the maximum of the (restricted) likelihood",
        "Convergence criteria met",
        "the iterations converged (or: the maximum number of iterations was reached)",
        "fit@optinfo$conv; convergence warnings",
        "res.converged",
        "fit.converged",
        "03, 04",
        "estimation and fit",
    ),
    # -- testing fixed effects ---------------------------------------------------------------
    _Entry(
        "SE, t, z",
        "standard error and t ratio of a fixed effect",
        "SE from the inverse information of the fixed effects; t = estimate / SE, tested "
        "against a t distribution with the df below",
        "Solution for Fixed Effects: Standard Error, t Value, Pr > |t|",
        "Final estimation of fixed effects: Standard error, t-ratio, p-value",
        "summary(fit)$coefficients (lmerTest adds df and p)",
        "res.bse_fe; res.tvalues (z tests)",
        "fit.fixed['se'], fit.fixed['t']",
        "04, 07",
        "testing fixed effects",
    ),
    _Entry(
        "",
        "denominator degrees of freedom (between-within, Satterthwaite, Kenward–Roger)",
        "the df of a fixed effect's t test. Between-within: J − (school-level terms) for "
        "school-level effects, N − J − … for student-level ones; Satterthwaite and "
        "Kenward–Roger approximate them from the variances (fewer df for a random slope)",
        "MODEL / DDFM=BW, DDFM=SATTERTHWAITE or DDFM=KR",
        "df = J − S − 1 for the γs of a level-2 equation with S predictors",
        "lmerTest: summary(fit) (Satterthwaite), summary(fit, ddf = 'Kenward-Roger')",
        "not provided: z tests (infinite df)",
        "fit.fixed (between-within); fit.fixed_effects(ddf='satterthwaite'); fit.satterthwaite",
        "04, 07",
        "testing fixed effects",
    ),
    _Entry(
        "α",
        "significance level",
        "the false-positive (type I error) rate a test allows, here 0.05; OLS on nested data "
        "has a real false-positive rate far above it for school-level predictors (notebook 01)",
        "ALPHA= option",
        "not set: p-values are printed",
        "the threshold you compare p-values with",
        "alpha= in conf_int",
        "the threshold you compare p-values with",
        "01, 17",
        "testing fixed effects",
    ),
    # -- testing variances -------------------------------------------------------------------
    _Entry(
        "H_0, H_1",
        "null and alternative hypotheses",
        "for a variance: H_0 τ11 = 0 against the one-sided H_1 τ11 > 0",
        "not printed",
        "not printed",
        "not printed",
        "not printed",
        "not printed",
        "10",
        "testing variances",
    ),
    _Entry(
        "Z",
        "Wald Z of a variance",
        "estimate / SE of a covariance parameter, with a one-sided normal p-value; misleading "
        "for small variances, few schools and on the boundary",
        "PROC MIXED COVTEST: Covariance Parameter Estimates, Z Value, Pr > Z",
        "not printed (HLM prints a χ² test of each variance instead)",
        "not printed (lme4 gives no SE of a variance)",
        "res.summary(): an SE beside 'Group Var' that is not the SE of τ on the variance scale",
        "fit.covariance (columns se, z, p)",
        "03, 06, 10",
        "testing variances",
    ),
    _Entry(
        "LR, χ²(df), df",
        "likelihood-ratio statistic and its chi-square reference",
        "LR = −2LL(smaller) − (−2LL(larger)): the deviance difference of nested models; away "
        "from a boundary it follows χ²(df), df = number of added parameters",
        "by hand from two Fit Statistics tables",
        "'Test against another model' in the hypothesis-testing settings (plain χ²)",
        "anova(m0, m1) (refits by ML unless refit = FALSE)",
        _NOT,
        "hlm.lr_test(m0, m1)",
        "04, 06, 07, 10",
        "testing variances",
    ),
    _Entry(
        "χ̄²",
        "boundary (chi-bar-square) mixture",
        "the null distribution of LR when variances are tested at 0: for one added variance a "
        "50:50 mixture of χ²(df − 1) and χ²(df) (halve the naive p-value); for k uncorrelated "
        "variances at once, binomial weights C(k, i)/2^k on χ²(0), …, χ²(k)",
        "by hand: 0.5 * (1 - probchi(LR, 1)); PROC GLIMMIX COVTEST does it",
        "by hand: halve the p-value of the deviance test",
        "by hand: anova(m0, m1, refit = FALSE) p-value / 2; lmerTest::ranova(fit) prints "
        "naive p-values (halve them)",
        _NOT,
        "hlm.boundary_lr_test(m0, m1) (p_value; p_value_naive is the plain χ²)",
        "04, 06, 07, 10",
        "testing variances",
    ),
    _Entry(
        "LR*",
        "parametric bootstrap LR test",
        "LR statistics simulated from the fitted null model and refitted; p = (1 + #{LR* ≥ "
        "LR}) / (number of replicates + 1). Needs no boundary theory",
        "not built in: simulate in a DATA step, refit BY replicate",
        "not provided",
        "pbkrtest::PBrefdist(m1, m0) (p by hand); RLRsim::exactRLRT for one variance",
        _NOT,
        "hlm.bootstrap_lr_test(data, formula, group, random_alt=[...])",
        "10",
        "testing variances",
    ),
    _Entry(
        "",
        "profile-likelihood interval",
        "the values of one parameter at which the deviance, re-minimised over all the others, "
        "rises at most χ²₁(level) (3.84 for 95%) above its minimum; asymmetric, and stops at 0 "
        "for a variance",
        "PROC GLIMMIX: COVTEST / CL(TYPE=PLR); PROC MIXED CL gives Satterthwaite intervals",
        "not provided",
        "confint(fit, method = 'profile') (profiles ML; SDs: square them)",
        "res.profile_re(0, 're') gives the profile on a grid; read the interval by hand",
        "hlm.profile_intervals(fit); hlm.profile_ci(fit, 'Var(college)')",
        "10",
        "testing variances",
    ),
    _Entry(
        "",
        "HLM 8's χ² test of a variance",
        "a χ² statistic from the schools' own OLS estimates, over the schools with enough data "
        "(R&B 2002, ch. 3)",
        "not provided",
        "Final estimation of variance components: Chi-square, d.f., P-value",
        _NOT,
        _NOT,
        _NOT,
        "10",
        "testing variances",
    ),
    # -- plausible values --------------------------------------------------------------------
    _Entry(
        "PV",
        "plausible values",
        "random draws from each student's posterior distribution of proficiency given the test "
        "answers and the conditioning model; analyse each, then pool by Rubin's rules",
        "one PROC MIXED run BY plausible value (ODS output), then PROC MIANALYZE",
        "the plausible-values option: one outcome per PV, pooled in the output",
        "mitml::testEstimates or mice::pool over a list of fits",
        _NOT,
        "hlm.fit_plausible_values(data, formula, outcomes=[...])",
        "08",
        "plausible values",
    ),
    _Entry(
        "θ",
        "proficiency",
        "a student's true (latent) proficiency, of which the test score is a noisy measure and "
        "the PVs are draws given the answers",
        "not available (the PVs stand for it)",
        "not available",
        "not available",
        "not available",
        "not available",
        "08",
        "plausible values",
    ),
    _Entry(
        "M, Q_m, U_m",
        "analyses and their results",
        "M plausible values (5 in TIMSS); Q_m the estimate and U_m its squared SE from the "
        "analysis of PV m",
        "MIANALYZE input: one row per _Imputation_",
        "the estimates of each PV run",
        "lapply over the PVs; coef and vcov of each fit",
        "a list of results",
        "pooled.per_pv('estimate'), pooled.per_pv('se')",
        "08",
        "plausible values",
    ),
    _Entry(
        "Q̄",
        "pooled estimate",
        "the mean of the M estimates, Q̄ = Σ Q_m / M",
        "PROC MIANALYZE Parameter Estimates: Estimate",
        "the averaged estimate in the PV output",
        "mice::pool(fits)$pooled$estimate",
        _NOT,
        "pooled.fixed['estimate']; hlm.rubin_pool(...)['estimate']",
        "08",
        "plausible values",
    ),
    _Entry(
        "Ū",
        "within-imputation variance",
        "the mean of the M squared SEs, Ū = Σ U_m / M",
        "Variance Information: Within",
        "not printed separately",
        "mice::pool(fits)$pooled$ubar",
        _NOT,
        "hlm.rubin_pool(...)['within']",
        "08",
        "plausible values",
    ),
    _Entry(
        "B",
        "between-imputation variance",
        "the variance of the M estimates, Σ (Q_m − Q̄)² / (M − 1): the measurement uncertainty. "
        "B means nothing else in the course (notebook 10 counts bootstrap replicates in words)",
        "Variance Information: Between",
        "not printed separately",
        "mice::pool(fits)$pooled$b",
        _NOT,
        "hlm.rubin_pool(...)['between']",
        "08",
        "plausible values",
    ),
    _Entry(
        "T",
        "total variance (Rubin)",
        "T = Ū + (1 + 1/M) B; the pooled SE is √T",
        "Variance Information: Total; Parameter Estimates: Std Error = √T",
        "the pooled standard error",
        "mice::pool(fits)$pooled$t",
        _NOT,
        "hlm.rubin_pool(...)['total']; pooled.fixed['se']",
        "08",
        "plausible values",
    ),
    _Entry(
        "r",
        "relative increase in variance (RIV)",
        "r = (1 + 1/M) B / Ū: how much the measurement uncertainty adds to the variance",
        "Variance Information: Relative Increase in Variance",
        "not printed",
        "mice::pool(fits)$pooled$riv",
        _NOT,
        "hlm.rubin_pool(...)['riv']",
        "08",
        "plausible values",
    ),
    _Entry(
        "ω",
        "share of the total variance due to missing information",
        "ω = (1 + 1/M) B / T (mice calls it lambda; the course writes ω because λ is the "
        "reliability)",
        "not printed",
        "not printed",
        "mice::pool(fits)$pooled$lambda",
        _NOT,
        "hlm.rubin_pool(...)['lambda']",
        "08",
        "plausible values",
    ),
    _Entry(
        "FMI",
        "fraction of missing information",
        "(r + 2/(ν + 3)) / (r + 1): roughly ω, corrected for the few PVs",
        "Variance Information: Fraction Missing Information",
        "not printed",
        "mice::pool(fits)$pooled$fmi",
        _NOT,
        "pooled.fixed['fmi']; pooled.comparison()['fmi']",
        "08",
        "plausible values",
    ),
    _Entry(
        "ν, ν_com, ν_old, ν_obs",
        "Barnard–Rubin degrees of freedom",
        "the df of the pooled t test: ν = (1/ν_old + 1/ν_obs)^-1 with ν_old = (M − 1)/ω² "
        "(Rubin 1987) and ν_obs from ν_com, the df of one complete-data analysis",
        "PROC MIANALYZE EDF=ν_com: Parameter Estimates, DF",
        "not printed",
        "mice::pool(fits, dfcom = ν_com)$pooled$df",
        _NOT,
        "hlm.rubin_pool(..., df_complete=ν_com)['df']",
        "08",
        "plausible values",
    ),
    _Entry(
        "",
        "relative efficiency",
        "(1 + FMI/M)^-1: the precision of M plausible values relative to infinitely many",
        "Variance Information: Relative Efficiency",
        "not printed",
        "by hand from mice::pool(fits)$pooled$fmi",
        _NOT,
        "by hand: 1 / (1 + pooled.fixed['fmi'] / pooled.m)",
        "08",
        "plausible values",
    ),
    _Entry(
        "",
        "conditioning model",
        "the background regression behind the PV posteriors; PVs are plausible only for "
        "analyses congenial with it (a multilevel analysis needs school membership in it)",
        "not applicable",
        "not applicable",
        "not applicable",
        "not applicable",
        "hlmteach.pv_simulation.simulate_pv_coverage",
        "08",
        "plausible values",
    ),
    _Entry(
        "D_2, D_3",
        "pooled likelihood-ratio and Wald tests over PVs",
        "ways to combine test statistics (not estimates) over the M analyses: D_2 from the M χ² "
        "statistics (Li et al. 1991), D_3 from likelihood ratios (Meng & Rubin 1992)",
        "PROC MIANALYZE MULT for D_1; D_2 and D_3 not built in",
        "not provided",
        "mitml::testModels(fits1, fits0, method = 'D3') (or 'D2')",
        _NOT,
        _NOT,
        "08, 10",
        "plausible values",
    ),
    # -- centring and contextual effects -----------------------------------------------------
    _Entry(
        "",
        "grand-mean centring (CGM)",
        "a predictor minus its overall mean: moves the intercept to the average student, changes "
        "no slope of a random-intercept model",
        "a DATA step (or PROC STANDARD MEAN=0)",
        "'grand centered' in the model window",
        "x - mean(x)",
        "x - x.mean()",
        "hlm.center(data, 'x', kind='grand') (suffix _cgm)",
        "09",
        "centring and contextual effects",
    ),
    _Entry(
        "",
        "group-mean centring (CWC)",
        "a predictor minus its school's mean (centring within cluster): its slope is the pure "
        "within-school effect. Needed for level-1 and cross-level interactions",
        "PROC MEANS BY school, then merge and subtract",
        "'group centered' in the model window",
        "x - ave(x, school)",
        "x - x.groupby(school).transform('mean')",
        "hlm.center(data, 'x', group='school', kind='group') (suffix _cwc)",
        "07, 09",
        "centring and contextual effects",
    ),
    _Entry(
        "x̄_j, c̄_j",
        "school mean of a predictor",
        "the mean of a student-level predictor in school j (c̄_j: the share of students with a "
        "college-educated parent); x̄ without j is the grand mean. It is an observed, fallible "
        "measure of the school's composition",
        "PROC MEANS BY school",
        "aggregated to level 2 when the MDM file is made",
        "ave(x, school)",
        "x.groupby(school).transform('mean')",
        "hlm.school_mean(data, 'x', 'school')",
        "09",
        "centring and contextual effects",
    ),
    _Entry(
        "",
        "within, between and contextual effects",
        "within: the effect of x inside a school (γ10 with CWC x); between: of the school mean "
        "(γ01 with CWC x); contextual: γ01 − γ10, the school mean's effect for students with the "
        "same x (γ01 when x is not group-centred)",
        "ESTIMATE 'contextual' xbar 1 xcwc -1;",
        "by hand from the fixed effects",
        "fixef(fit); contrast by hand or multcomp::glht",
        "res.t_test('xbar - xcwc = 0')",
        "hlm.contextual_effect(data, 'y', 'x', 'school')",
        "09",
        "centring and contextual effects",
    ),
    _Entry(
        "",
        "manifest and latent covariate",
        "the observed school mean of a predictor (manifest) against the school's true "
        "composition (latent); from few students per school the manifest mean biases the "
        "between and contextual effects, not the within effect (Lüdtke et al. 2008)",
        "not provided",
        "not provided",
        "not provided (Mplus models the latent mean)",
        _NOT,
        "hlm.fit_hlm(data, 'x ~ 1', group='school').reliability (the school means' reliability)",
        "09",
        "centring and contextual effects",
    ),
    _Entry(
        "η²",
        "share of a predictor's variance between schools",
        "the between-school share of a student-level predictor's variance; the OLS slope mixes "
        "within and between effects, b_OLS ≈ (1 − η²) γ10 + η² γ01",
        "not printed",
        "not printed",
        "not provided",
        _NOT,
        "hlm.describe_centering(...)",
        "09",
        "centring and contextual effects",
    ),
    _Entry(
        "w, Ω",
        "precision weight of the between-school comparison",
        "the share of the information about a slope that comes from the school means in a "
        "random-intercept model: b_HLM ≈ (1 − w) γ10 + w γ01 (a weight of evidence, not a survey "
        "weight); with several predictors the matrix Ω = (I_W + I_B)^-1 I_B",
        "not printed",
        "not printed",
        "not provided",
        _NOT,
        "hlmteach.within_between.random_effects_weights",
        "09, 15",
        "centring and contextual effects",
    ),
    _Entry(
        "b_OLS, b_HLM",
        "single-level and multilevel slope of an uncentred predictor",
        "the slope from OLS ignoring schools and from the random-intercept model with the raw "
        "predictor; both mix the within and between effects, with weights η² and w",
        "PROC REG; PROC MIXED with the raw predictor",
        "an uncentred predictor",
        "coef(lm(...)); fixef(lmer(...))",
        "smf.ols(...).fit().params; res.fe_params",
        "hlm.fit_ols(...).fixed; hlm.fit_hlm(...).fixed",
        "09",
        "centring and contextual effects",
    ),
    # -- survey weights ----------------------------------------------------------------------
    _Entry(
        "w_j, w_i|j, w_ij",
        "survey weights",
        "w_j the school's weight, w_i|j the student's conditional weight within the school and "
        "w_ij = w_j w_i|j the total weight; a weighted fit maximises a pseudo-likelihood and "
        "reports sandwich SEs",
        "none in PROC MIXED; PROC GLIMMIX: MODEL / OBSWEIGHT=w_i|j, RANDOM / SUBJECT=school "
        "WEIGHT=w_j, with EMPIRICAL=CLASSICAL",
        "level-1 and level-2 weighting variables (HLM normalises them, a related but different "
        "model)",
        'none in lme4: WeMix::mix(..., weights = c("w_ij", "w_j"))',
        "not provided (MixedLM has no weights)",
        "fit_hlm(..., weights='w_ij', group_weights='w_j'); fit.weighted",
        "12",
        "survey weights",
    ),
    _Entry(
        "PL",
        "pseudo-likelihood",
        "the likelihood with each student's and school's contribution raised to its weight; its "
        "ratio is not χ², so no LR tests or AIC/BIC from weighted fits",
        "PROC GLIMMIX METHOD=QUAD with weights",
        "the weighted likelihood of a weighted run",
        "WeMix::mix(...)$lnl",
        _NOT,
        "fit.fit_stats['-2 Log Pseudo-Likelihood']",
        "12",
        "survey weights",
    ),
    _Entry(
        "I, S, ψ̂",
        "sandwich (cluster-robust) standard error",
        "a variance estimate 'bread⁻¹ × meat × bread⁻¹' from the curvature of the "
        "(pseudo-)likelihood and the spread of the schools' score contributions; valid when the "
        "model's variance assumptions are not",
        "PROC GLIMMIX EMPIRICAL=CLASSICAL; PROC MIXED EMPIRICAL",
        "'with robust standard errors' in the fixed-effects output",
        "clubSandwich::vcovCR(fit, type = 'CR0'); WeMix reports them",
        "not provided for MixedLM",
        "the SEs of a weighted fit: fit.fixed['se']",
        "12",
        "survey weights",
    ),
    _Entry(
        "",
        "weight scaling",
        "rescaling the conditional weights within each school to sum to n_j ('size', method A) "
        "or to the effective sample size ('effective', method B)",
        "by hand in a DATA step",
        "normalised automatically",
        "WeMix::mix(..., cWeights = TRUE) and scaling by hand",
        _NOT,
        "fit_hlm(..., weight_scaling='size') or 'effective'",
        "12",
        "survey weights",
    ),
    _Entry(
        "PPS",
        "probability proportional to size",
        "a sampling design that draws schools with probabilities proportional to their "
        "enrolment, so that large schools are drawn more often and get smaller weights",
        "PROC SURVEYSELECT METHOD=PPS",
        "not used",
        "sampling::UPsystematic",
        _NOT,
        "the synthetic design of hlm.load_timss() (data/README.md)",
        "12",
        "survey weights",
    ),
    _Entry(
        "",
        "informative weights; non-response adjustment",
        "weights are informative when the selection probabilities are related to the outcome "
        "given the model, so weighted and unweighted estimates differ; a non-response "
        "adjustment raises the weights of those who took part to stand in for those who did not",
        "WEIGHT in PROC SURVEY procedures",
        "weighting variables",
        "WeMix::mix weights; survey::svydesign",
        _NOT,
        "the weight columns of hlm.load_timss() and hlm.load_pisa()",
        "12",
        "survey weights",
    ),
    _Entry(
        "",
        "jackknife zones and replicates",
        "pairs of schools (JKZONE) and the school of each pair that is dropped or doubled "
        "(JKINDIC/JKREP) to estimate sampling variances of survey statistics",
        "PROC SURVEYMEANS VARMETHOD=JACKKNIFE",
        "not used",
        "EdSurvey, intsvy",
        _NOT,
        "the columns jk_zone and jk_replicate of hlm.load_timss()",
        "12",
        "survey weights",
    ),
    # -- model checking ----------------------------------------------------------------------
    _Entry(
        "",
        "simulation envelope",
        "the band of Q–Q curves of data simulated from the fitted model: a bent Q–Q plot of "
        "EBLUPs inside it is what shrinkage does to a correct model",
        "not provided",
        "not provided",
        "simulate(fit) and refits",
        _NOT,
        "hlmteach.diagnostics.simulated_eblups",
        "13",
        "model checking",
    ),
    _Entry(
        "",
        "conditional and marginal residuals; fitted values",
        "conditional: y minus fixed part minus the school's EBLUPs (estimates r_ij); marginal: "
        "y minus the fixed part only",
        "MODEL / OUTP= (conditional) and OUTPM= (marginal); RESIDUAL option",
        "level-1 residual file (l1resid, fitval)",
        "residuals(fit); fitted(fit); HLMdiag::hlm_resid(fit)",
        "res.resid; res.fittedvalues",
        "hlmteach.diagnostics.level1_residuals(fit)",
        "13",
        "model checking",
    ),
    _Entry(
        "",
        "normal Q–Q plot of EBLUPs",
        "ordered EBLUPs against normal quantiles; shrinkage makes them less spread and can hide "
        "or fake non-normality",
        "ODS graphics from the SolutionR data set",
        "by hand from the level-2 residual file",
        "qqnorm(ranef(fit)$school[, 1]); lattice::qqmath(ranef(fit))",
        "statsmodels.api.qqplot(...)",
        "hlmteach.diagnostics.eblup_qq(fit); hlmteach.diagnostic_plots.eblup_qq_plot",
        "13",
        "model checking",
    ),
    _Entry(
        "H_σ, d_j, s_j², f_j",
        "heteroscedasticity across schools; R&B's homogeneity test",
        "level-1 residual variances that differ between schools, against the model's one σ². "
        "s_j² is school j's own OLS residual variance on f_j df; R&B's (ch. 9) statistic "
        "H_σ = Σ d_j², d_j = (ln s_j² − pooled mean of ln s²) / √(2/f_j), is χ² with one df "
        "fewer than the schools used",
        "REPEATED / GROUP= school for separate variances",
        "test of homogeneity of level-1 variance (Other settings)",
        "nlme::lme(..., weights = nlme::varIdent(form = ~ 1 | school))",
        _NOT,
        "hlmteach.diagnostics.school_residual_variances(fit); "
        "hlmteach.diagnostics.homogeneity_test(fit)",
        "13",
        "model checking",
    ),
    _Entry(
        "D_j, γ̂_(j)",
        "Cook's distance of a school",
        "how far the fixed effects move when school j is deleted: (γ̂ − γ̂_(j))' Cov(γ̂)^-1 "
        "(γ̂ − γ̂_(j)) / p, with γ̂_(j) the fixed effects without school j; one-step (τ and σ² "
        "held at the full-data values) or refitted. 4/J is a rule of thumb for a look, not a "
        "test",
        "MODEL / INFLUENCE(EFFECT=school ITER=5)",
        "not provided",
        "HLMdiag::hlm_influence(fit, level = 'school'); cooks.distance(fit, level = 'school')",
        _NOT,
        "hlmteach.diagnostics.school_influence(fit) (one-step); "
        "hlmteach.diagnostics.deletion_influence (refits)",
        "13",
        "model checking",
    ),
    _Entry(
        "MDFFITS, COVRATIO, COVTRACE, RVC",
        "other school-deletion diagnostics",
        "MDFFITS: Cook's distance with the deleted fit's covariance matrix; COVRATIO: the ratio "
        "of the determinants of the fixed effects' covariance matrices without and with the "
        "school (below 1: deleting it makes them more precise); COVTRACE: how far that ratio "
        "is from the identity in trace; RVC: relative change of each variance component",
        "MODEL / INFLUENCE(EFFECT=school ITER=5)",
        "not provided",
        "HLMdiag::mdffits, covratio, covtrace, rvc",
        _NOT,
        "hlmteach.diagnostics.school_influence(fit); hlmteach.diagnostics.deletion_influence",
        "13",
        "model checking",
    ),
    # -- variance explained ------------------------------------------------------------------
    _Entry(
        "PRV",
        "proportional reduction in variance (Raudenbush–Bryk)",
        "(τ00 of the null model − τ00 of the model with predictors) / τ00 of the null model, and "
        "the same for σ²: the share of each level's variance 'explained'; can be negative",
        "by hand from two Covariance Parameter Estimates tables",
        "by hand from two variance-components tables",
        "by hand from two VarCorr()",
        "by hand from two res.cov_re and res.scale",
        "hlmteach.variance_explained.proportional_reduction(null, fit)",
        "07, 14",
        "variance explained",
    ),
    _Entry(
        "R²₁, R²₂",
        "Snijders–Bosker R²",
        "the proportional reduction of the error of predicting a student's outcome (R²₁) and a "
        "school's mean (R²₂) for schools of a given size; never negative in the population",
        "by hand",
        "by hand",
        "by hand from VarCorr()",
        _NOT,
        "hlmteach.variance_explained.snijders_bosker_r2(null, fit)",
        "14",
        "variance explained",
    ),
    _Entry(
        "R²_m, R²_c",
        "Nakagawa marginal and conditional R²",
        "R²_m (marginal): the fixed part's share var_f / (var_f + var_r + σ²), with var_f the "
        "variance of the fixed-part predictions and var_r the random-effect variance (with "
        "random slopes the mean of z_i' 𝐓 z_i); R²_c (conditional): (var_f + var_r) / total",
        "by hand",
        "by hand",
        "performance::r2_nakagawa(fit)",
        _NOT,
        "hlmteach.variance_explained.nakagawa_r2(fit)",
        "14",
        "variance explained",
    ),
    _Entry(
        "Φ_w, Φ_b, Σ",
        "Rights–Sterba decomposition (parts f1, f2, v, m)",
        "the outcome variance split into f1 (fixed effects of the level-1 predictors centred "
        "within schools, γ_w' Φ_w γ_w with Φ_w their covariance matrix), f2 (fixed effects of "
        "the school-level parts, γ_b' Φ_b γ_b), v (random slopes, tr(𝐓 Σ) with Σ the "
        "covariance matrix of the random-slope predictors; not the summation sign), m (random "
        "intercepts, τ00) and σ²; shares in total, within (f1 + v + σ²) and between (f2 + m) "
        "schools",
        "by hand",
        "by hand",
        "r2mlm::r2mlm(fit)",
        _NOT,
        "hlmteach.variance_explained.rights_sterba(fit)",
        "14",
        "variance explained",
    ),
    # -- fixed or random ---------------------------------------------------------------------
    _Entry(
        "",
        "school dummies (fixed-effects, within estimator)",
        "OLS with one dummy per school (equivalently, on school-demeaned data): the slopes use "
        "only within-school variation; no school-level predictor can be estimated",
        "PROC GLM with CLASS school; or PROC PANEL",
        "not provided",
        "lm(y ~ x + factor(school)); plm::plm(..., model = 'within')",
        "smf.ols('y ~ x + C(school)')",
        "hlmteach.within_between.within_estimator",
        "09, 15",
        "fixed or random school effects",
    ),
    _Entry(
        "",
        "between estimator",
        "OLS of the school means of y on the school means of x: only between-school variation",
        "PROC MEANS BY school, then PROC REG",
        "not provided",
        "plm::plm(..., model = 'between')",
        "smf.ols on the school means",
        "hlmteach.within_between.between_estimator",
        "15",
        "fixed or random school effects",
    ),
    _Entry(
        "b_W, b_B, b_RE",
        "within, between and random-effects estimates of a slope",
        "the slope from the school-dummy (within), the school-means (between) and the "
        "random-intercept (random-effects, GLS) estimators; b_RE is a precision-weighted mix of "
        "b_W and b_B",
        "PROC GLM with CLASS school; PROC REG on school means; PROC MIXED",
        "not provided",
        "plm::plm(..., model = 'within' / 'between' / 'random')",
        "smf.ols with C(school); smf.ols on means; smf.mixedlm",
        "hlmteach.within_between.compare_estimators",
        "15",
        "fixed or random school effects",
    ),
    _Entry(
        "κ_j",
        "quasi-demeaning share",
        "the random-effects estimator is OLS after subtracting from every variable the share "
        "κ_j = 1 − √(σ² / (σ² + n_j τ00)) of its school mean: 0 gives pooled OLS, 1 the within "
        "estimator (econometrics and plm call it theta; θ is proficiency here)",
        "not printed",
        "not provided",
        "plm::ercomp(...) (theta)",
        _NOT,
        "hlmteach.within_between.random_effects_estimator (its theta)",
        "15",
        "fixed or random school effects",
    ),
    _Entry(
        "I_W, I_B",
        "within- and between-school information",
        "the information about a slope from comparisons within schools (cross-products of the "
        "centred predictors over σ²) and between schools (school means weighted by "
        "1/(τ00 + σ²/n_j)); b_RE = (I_W + I_B)^-1 (I_W b_W + I_B b_B)",
        "not printed",
        "not printed",
        "not provided",
        _NOT,
        "hlmteach.within_between.random_effects_weights",
        "15",
        "fixed or random school effects",
    ),
    _Entry(
        "a_j, b_0, b_1, b_2",
        "school-dummy model coefficients",
        "a_j: school j's own intercept in the school-dummy (fixed-effects) model, one free "
        "number per school; b_1, b_2: its common slopes (b_0 an overall intercept)",
        "PROC GLM; CLASS school; MODEL y = school x / SOLUTION",
        "not provided",
        "coef(lm(y ~ x + factor(school)))",
        "smf.ols('y ~ x + C(school)').fit().params",
        "hlm.fit_ols(data, 'y ~ x + C(school)')",
        "15",
        "fixed or random school effects",
    ),
    _Entry(
        "V_W, V_RE",
        "covariance matrices of the within and random-effects estimates",
        "the estimated sampling covariance matrices of b_W and b_RE, whose difference the "
        "Hausman statistic uses",
        "PROC PANEL (COVB)",
        "not provided",
        "vcov(plm::plm(...))",
        "res.cov_params()",
        "hlmteach.within_between.hausman_test",
        "15",
        "fixed or random school effects",
    ),
    _Entry(
        "",
        "random-effects (GLS) estimator",
        "the random-intercept model's estimate: a precision-weighted mix of the within and "
        "between estimators",
        "PROC MIXED with RANDOM intercept",
        "the random-intercept model",
        "lmer(y ~ x + (1 | school)); plm::plm(..., model = 'random')",
        "smf.mixedlm(...)",
        "hlmteach.within_between.random_effects_estimator",
        "15",
        "fixed or random school effects",
    ),
    _Entry(
        "γ_W, γ_C",
        "Mundlak (hybrid) model",
        "the random-intercept model with the school mean of each student predictor added (or "
        "with CWC predictors and their means): its within coefficient γ_W equals the school-"
        "dummy slope, γ_C is the contextual coefficient; a Wald test that all school-mean "
        "coefficients are 0 is the regression form of the Hausman test",
        "MODEL y = x xbar",
        "group-centred x plus its mean at level 2",
        "lmer(y ~ x + xbar + (1 | school))",
        "smf.mixedlm('y ~ x + xbar', ...)",
        "hlmteach.within_between.mundlak_model",
        "09, 15",
        "fixed or random school effects",
    ),
    _Entry(
        "H, K",
        "Hausman statistic",
        "compares the within (school-dummy) and random-effects estimates: a large H says the "
        "school effects are correlated with the predictors, so the random-intercept slope mixes "
        "within and between effects",
        "PROC PANEL: Hausman test; or by hand",
        "not provided",
        "plm::phtest(within, random)",
        _NOT,
        "hlmteach.within_between.hausman_test (K: the number of slopes compared, its df); "
        "hlmteach.within_between.mundlak_model (the Wald form)",
        "15",
        "fixed or random school effects",
    ),
    # -- design and power --------------------------------------------------------------------
    _Entry(
        "",
        "power",
        "the probability that a test rejects H_0 when a given effect is real (written in words: "
        "β is R&B's school coefficient). In a cluster-randomised trial more students per "
        "school cannot push it past a ceiling set by J and ρ; more schools can",
        "PROC POWER (single-level); simulation for two-level designs",
        "not provided (Optimal Design, a companion program, does it)",
        "simr::powerSim; PowerUpR",
        "statsmodels.stats.power (single-level only)",
        "hlmteach.power.cluster_trial_power; hlmteach.power.schools_needed",
        "17",
        "design and power",
    ),
    _Entry(
        "δ, MDES",
        "standardised effect size; minimum detectable effect size",
        "δ: a treatment effect in SDs of the outcome, √(τ00 + σ²); MDES: the smallest δ a "
        "design detects with the stated power at level α, about 2.8 standard errors of the "
        "effect for large J (the multiplier, Bloom 1995)",
        "PROC POWER (single-level)",
        "not provided (Optimal Design)",
        "PowerUpR::mdes.cra2()",
        _NOT,
        "hlmteach.power.minimum_detectable_effect",
        "17",
        "design and power",
    ),
    _Entry(
        "Δ",
        "noncentrality of the trial's t statistic",
        "δ / √(4 (ρ + (1 − ρ)/n) / J) for J schools of n students, half of them treated; "
        "the t statistic follows a noncentral t with J − 2 df and this noncentrality, which "
        "gives the power (Raudenbush 1997). A school-level covariate multiplies ρ by "
        "(1 − its share of the between-school variance)",
        "PROC POWER (single-level)",
        "not provided (Optimal Design)",
        "pt(q, df, ncp) (the ncp argument)",
        "scipy.stats.nct",
        "hlmteach.power.cluster_trial_noncentrality",
        "17",
        "design and power",
    ),
    _Entry(
        "",
        "cluster-randomised trial",
        "schools, not students, are assigned to treatment: the effect is a school-level γ01 and "
        "its precision depends mostly on J (Raudenbush 1997)",
        "PROC MIXED with the treatment as a school-level predictor",
        "a level-2 predictor",
        "lmer(y ~ treat + (1 | school))",
        "smf.mixedlm('y ~ treat', ...)",
        "hlm.fit_hlm(data, 'y ~ treat', group='school')",
        "17",
        "design and power",
    ),
    _Entry(
        "R²_b, R²_w, g",
        "variance explained by covariates in a power analysis",
        "the shares of the between-school and within-school variance that covariates explain "
        "(PowerUp!'s R²₂, R²₁; Optimal Design's R²_L2, R²_L1); a school-level covariate "
        "multiplies ρ by (1 − R²_b) and costs one df each (g of them)",
        "not provided",
        "Optimal Design: R²_L2, R²_L1",
        "PowerUpR::mdes.cra2(r21 =, r22 =)",
        _NOT,
        "hlmteach.power.cluster_trial_power(..., r2_between=, r2_within=)",
        "17",
        "design and power",
    ),
    _Entry(
        "",
        "Monte-Carlo standard error",
        "the simulation error of a share estimated from R replicates, √(p(1 − p)/R): ±3.5 "
        "points for a share near one half from 200 replicates",
        "not printed",
        "not provided",
        "by hand: sqrt(p * (1 - p) / R)",
        _NOT,
        "hlmteach.power.PowerSimulation (monte_carlo_se)",
        "10, 17",
        "design and power",
    ),
    _Entry(
        "",
        "number of schools needed",
        "the smallest (even) J that reaches the stated power for a given δ, n and ρ",
        "PROC POWER (single-level) or a simulation",
        "not provided (Optimal Design)",
        "PowerUpR::mrss.cra2()",
        _NOT,
        "hlmteach.power.schools_needed",
        "17",
        "design and power",
    ),
)

_FIELDS = _Entry._fields


def glossary(topic: str | None = None, search: str | None = None) -> pd.DataFrame:
    """Every term and symbol of the course next to its name in each program's output.

    Parameters
    ----------
    topic : str, optional
        Keep one topic of :data:`TOPICS` (e.g. ``"plausible values"``).
    search : str, optional
        Keep the rows whose symbol, term or meaning contains this text
        (case-insensitive), e.g. ``"FMI"`` or ``"shrink"``.

    Returns
    -------
    DataFrame
        One row per quantity or term, with the columns ``symbol`` (empty for a
        term without one), ``term``, ``meaning``, ``SAS PROC MIXED``, ``HLM 8``,
        ``lme4 (R)``, ``statsmodels``, ``hlmteach``, ``notebooks`` (where the
        course teaches it) and ``topic``. In the code columns ``fit`` is the
        fitted model (an ``HLMResult`` in hlmteach, an ``lmer`` fit in R),
        ``res`` a statsmodels ``MixedLMResults``, ``pooled`` the result of
        ``hlm.fit_plausible_values`` and ``m0``, ``m1`` a smaller and a larger
        model; slopes are in the second row and column of τ.

    Examples
    --------
    >>> table = glossary()
    >>> table.set_index("symbol").loc["σ²", ["lme4 (R)", "statsmodels", "hlmteach"]].tolist()
    ['sigma(fit)^2', 'res.scale', 'fit.sigma2']
    >>> glossary(search="fraction of missing")["symbol"].tolist()
    ['FMI']
    """
    table = pd.DataFrame([list(e) for e in _ENTRIES], columns=list(_COLUMNS))
    if topic is not None:
        if topic not in TOPICS:
            raise ModelInputError(f"Unknown topic {topic!r}; choose one of {list(TOPICS)}.")
        table = table[table["topic"] == topic]
    if search is not None:
        if not isinstance(search, str) or not search.strip():
            raise ModelInputError("search must be a non-empty text, e.g. search='ICC'.")
        needle = search.strip().lower()
        hit = (
            table[["symbol", "term", "meaning"]]
            .apply(lambda column: column.str.lower().str.contains(needle, regex=False))
            .any(axis=1)
        )
        table = table[hit]
    return table.reset_index(drop=True)


class _GlossaryModule(types.ModuleType):
    """This module, callable as :func:`glossary`.

    ``hlm.glossary`` is the function; importing ``hlmteach.glossary`` (for example
    ``from hlmteach.glossary import TOPICS``) makes Python bind the package's attribute
    to this module instead. Calling the module calls the function, so ``hlm.glossary()``
    works either way.
    """

    def __call__(self, topic: str | None = None, search: str | None = None) -> pd.DataFrame:
        return glossary(topic, search)


sys.modules[__name__].__class__ = _GlossaryModule
