"""What a fit returns: the result objects of OLS and two-level HLM fits.

:class:`HLMResult` holds what SAS PROC MIXED and HLM 8 print: fixed effects with
between-within and Satterthwaite df, covariance parameters with Wald Z (SAS
``COVTEST``), fit statistics, EBLUPs (SAS ``solutionR``), the ICC and the
reliability of each school's coefficients. :class:`OLSResult` is an OLS fit and
:class:`ByResults` one fit per level of a ``by=`` column. The fitting functions
(:mod:`hlmteach.models`), the tests (:mod:`hlmteach.inference`) and the tables
(:mod:`hlmteach.tables`) read these objects; this module imports none of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from .degrees_of_freedom import between_within_df, satterthwaite_df
from .design import Design, formula_variables, random_without_fixed_mean
from .engine import EngineFit
from .fit_statistics import fit_statistics
from .survey_weights import SurveyWeights
from .validation import ModelInputError

#: Under VC, a slope's predictor whose mean is further from zero than this many SDs
#: gets a note that the fit depends on its origin.
_FAR_FROM_ZERO = 3.0

__all__ = ["ByResults", "HLMResult", "OLSResult"]


def _p_two_sided_t(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    return 2.0 * stats.t.sf(np.abs(t), df)


def _covparm_label(names: list[str], index: tuple[int, int] | None) -> str:
    if index is None:
        return "Residual"
    r, c = index
    return f"Var({names[r]})" if r == c else f"Cov({names[c]}, {names[r]})"


@dataclass
class HLMResult:
    """A fitted two-level model: plain data that tables, plots and widgets read.

    Attributes
    ----------
    fixed : DataFrame
        Fixed effects: estimate, se, df (between-within, SAS ``DDFM=BW``), t, p.
    tau : DataFrame
        The random-effect covariance matrix, rows and columns named by term.
    sigma2 : float
        The level-1 (residual) variance.
    covariance : DataFrame
        One row per covariance parameter: estimate, se, z, p (SAS ``COVTEST``:
        one-sided p for variances) and whether it is on the boundary.
    fit_stats : Series
        -2 (Res) Log Likelihood, AIC, AICC and BIC by SAS's definitions.
    icc : float
        tau00 / (tau00 + sigma2) of this model.
    n_obs, n_groups, n_dropped : int
        Students and schools used, and rows not used for missing values.
    converged : bool
        True only for a verified optimum.
    warnings : list of str
        Plain-words notes on boundary (singular) fits and convergence.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> m = hlm.fit_hlm(hlm.load_hsb(), "mathach ~ 1", group="school")
    >>> m.fixed.loc["Intercept", ["estimate", "se", "df"]].round(3).tolist()
    [12.637, 0.244, 159.0]
    """

    #: The side-by-side tables this result can appear in (read by hlmteach.tables).
    table_kinds: ClassVar[tuple[str, ...]] = ("hlm",)

    formula: str
    group: str
    random_terms: list[str]
    method: str
    covariance_structure: str
    design: Design = field(repr=False)
    engine_fit: EngineFit = field(repr=False)
    label: str = ""
    centering: dict[str, str] = field(default_factory=dict)
    survey_weights: SurveyWeights | None = None
    categories: dict[str, str] = field(default_factory=dict)

    @property
    def weighted(self) -> bool:
        """Whether this is a survey-weighted (pseudo-likelihood) fit."""
        return self.survey_weights is not None

    # -- sizes -------------------------------------------------------------------------------
    @property
    def n_obs(self) -> int:
        """Students used."""
        return self.design.n_obs

    @property
    def n_groups(self) -> int:
        """Schools used."""
        return self.design.n_groups

    @property
    def n_dropped(self) -> int:
        """Rows not used because a model variable was missing (SAS "Observations Not Used")."""
        return self.design.n_dropped

    @property
    def converged(self) -> bool:
        """True only when the optimum passed the gradient and boundary checks."""
        return self.engine_fit.converged

    @property
    def deviance(self) -> float:
        """-2 log-likelihood (REML or ML) at the optimum; -2 log pseudo-likelihood if weighted."""
        return self.engine_fit.deviance

    # -- fixed part --------------------------------------------------------------------------
    @cached_property
    def _bw_df(self) -> np.ndarray:
        return between_within_df(self.design.X, self.design.group_codes)

    @cached_property
    def satterthwaite(self) -> pd.Series:
        """Satterthwaite df of each fixed effect (SAS ``DDFM=SAT``; R lmerTest)."""
        if self.weighted:
            raise ModelInputError(
                "Satterthwaite df are not defined for a survey-weighted (pseudo-likelihood) fit; "
                "its fixed effects are tested with cluster-robust z tests (m.fixed), as WeMix and "
                "Stata do."
            )
        return pd.Series(satterthwaite_df(self.engine_fit), index=self.design.fixed_names)

    def fixed_effects(self, ddf: str = "bw") -> pd.DataFrame:
        """Fixed effects with between-within (``"bw"``) or ``"satterthwaite"`` df.

        A survey-weighted fit has cluster-robust (sandwich) SEs and z tests: its df
        column is infinite, and ``ddf`` must be left at its default.
        """
        fit = self.engine_fit
        se = np.sqrt(np.diag(fit.cov_beta))
        if self.weighted and ddf == "bw":
            df = np.full(se.shape, np.inf)
        elif ddf == "bw":
            df = self._bw_df
        elif ddf in ("satterthwaite", "sat"):
            df = self.satterthwaite.to_numpy()
        else:
            raise ModelInputError(f"Unknown ddf {ddf!r}; use 'bw' or 'satterthwaite'.")
        t = fit.beta / se
        return pd.DataFrame(
            {"estimate": fit.beta, "se": se, "df": df, "t": t, "p": _p_two_sided_t(t, df)},
            index=pd.Index(self.design.fixed_names, name="term"),
        )

    @cached_property
    def fixed(self) -> pd.DataFrame:
        """Fixed effects with between-within df (SAS ``DDFM=BW``, as the source analysis)."""
        return self.fixed_effects("bw")

    # -- covariance part ---------------------------------------------------------------------
    @cached_property
    def tau(self) -> pd.DataFrame:
        """Random-effect covariance matrix (HLM's tau; SAS's G)."""
        names = self.design.random_names
        return pd.DataFrame(self.engine_fit.G, index=names, columns=names)

    @property
    def sigma2(self) -> float:
        """Level-1 residual variance."""
        return float(self.engine_fit.sigma2)

    @cached_property
    def covariance(self) -> pd.DataFrame:
        """Covariance parameters as SAS ``COVTEST`` prints them."""
        fit = self.engine_fit
        names = self.design.random_names
        labels = [_covparm_label(names, i) for i in fit.covparm_index]
        est = fit.covparm_estimates
        # A variance estimate with no positive information has no standard error (NaN).
        variance = np.diag(fit.covparm_cov)
        se = np.sqrt(np.where(variance > 0, variance, np.nan))
        z = est / se
        is_variance = np.array([i is None or i[0] == i[1] for i in fit.covparm_index])
        p = np.where(is_variance, stats.norm.sf(z), 2.0 * stats.norm.sf(np.abs(z)))
        return pd.DataFrame(
            {"estimate": est, "se": se, "z": z, "p": p, "boundary": fit.on_boundary},
            index=pd.Index(labels, name="parameter"),
        )

    @cached_property
    def fit_stats(self) -> pd.Series:
        """-2 (Res) Log Likelihood, AIC, AICC and BIC by SAS PROC MIXED's definitions."""
        fit = self.engine_fit
        stats_table = fit_statistics(
            fit.deviance,
            fit.reml,
            int((~fit.on_boundary).sum()),
            len(self.design.fixed_names),
            self.n_obs,
            self.n_groups,
        )
        if self.weighted:  # information criteria need a likelihood, not a pseudo-likelihood
            stats_table = stats_table.rename({"-2 Log Likelihood": "-2 Log Pseudo-Likelihood"})
            stats_table[["AIC", "AICC", "BIC"]] = np.nan
        return stats_table

    @property
    def icc(self) -> float:
        """Intraclass correlation tau00 / (tau00 + sigma2); with random slopes, at x = 0."""
        tau00 = float(self.engine_fit.G[0, 0])
        return tau00 / (tau00 + self.sigma2)

    @cached_property
    def warnings(self) -> list[str]:
        """Plain-words notes: boundary (singular) fits and convergence problems."""
        notes: list[str] = []
        fit = self.engine_fit
        names = self.design.random_names
        if not fit.converged:
            notes.append(f"Not converged: {fit.message}")
        if fit.flat_directions:
            notes.append(
                f"Not identified: the likelihood is flat at the optimum in "
                f"{fit.flat_directions} direction(s), so other covariance estimates fit the "
                f"data exactly as well and these are one of many. The random part asks more "
                f"than {self.n_groups} {self.group}s can tell; remove a random slope or use "
                f"covariance='vc'."
            )
        # Judged on the engine's standardised scale, so that the units of a column do not
        # decide whether its variance looks like zero.
        unit_free = fit.standardised or fit
        lam_diag = np.diag(unit_free.structure.factor(unit_free.theta))
        for k, name in enumerate(names):
            if lam_diag[k] >= 1e-4:
                continue
            variance = unit_free.G[k, k]
            what = "intercepts" if name == "Intercept" else f"slopes of {name}"
            group = self.group  # as the user called the level-2 units
            if variance < 1e-8 * max(unit_free.sigma2, 1e-300) or k == 0:
                advice = (
                    "OLS (hlm.fit_ols) then describes these data as well as this model"
                    if name == "Intercept"
                    else f"Consider fixing this effect (removing {name!r} from random=)"
                )
                notes.append(
                    f"Boundary fit: the variance of the {group} {what} is estimated at zero. "
                    f"The data show no {group}-to-{group} variation in these {what} beyond "
                    f"chance; the estimate sits on the edge of what a variance can be, so its "
                    f"Wald test is not valid. {advice}."
                )
            else:
                notes.append(
                    f"Boundary fit: the {group} {what} are perfectly correlated with the other "
                    f"random effects (the covariance matrix is singular). The model asks for "
                    f"more random variation than the data support; consider a simpler "
                    f"covariance structure (covariance='vc') or fixing {name!r}."
                )
        notes.extend(self._other_notes())
        return notes

    def _other_notes(self) -> list[str]:
        """Notes on what the report cannot show as usual: missing SEs, AICC, slopes' means."""
        notes: list[str] = []
        covariance = self.covariance
        no_se = covariance.index[~covariance["boundary"] & ~np.isfinite(covariance["se"])]
        if len(no_se):
            notes.append(
                f"No standard error for {', '.join(no_se)}: the information matrix of the "
                "covariance parameters is singular here, so their Wald tests are not available. "
                "Use a likelihood-ratio test (hlm.boundary_lr_test) instead."
            )
        if self.weighted:
            notes.append(self.survey_weights.describe())
            notes.append(
                "AIC, AICC, BIC and likelihood-ratio tests need a likelihood; a weighted fit "
                "maximises a pseudo-likelihood, so they are not reported. Test fixed effects by "
                "their z tests, and compare models by Wald tests."
            )
        elif not np.isfinite(self.fit_stats["AICC"]):
            notes.append(
                "AICC is not defined: the model has as many parameters as (or more than) the "
                "observations it uses, minus one. Compare models by AIC or BIC."
            )
        no_mean = random_without_fixed_mean(self.design)
        if no_mean:
            notes.append(
                f"The random slope(s) of {no_mean} have no fixed effect in the formula, so their "
                f"average across {self.group} units is fixed at 0. Add them to the formula to "
                "estimate it."
            )
        far = self._slopes_far_from_zero()
        if far:
            notes.append(
                f"Uncorrelated random effects (covariance='vc') with the slope(s) of {far} on "
                f"predictors whose mean is more than {_FAR_FROM_ZERO:g} SDs from zero: such a "
                "model changes with the predictor's origin (a shift of the predictor makes the "
                "intercepts and slopes correlated, which 'vc' forbids). Centre the predictor "
                "where zero means something, or use covariance='un', which does not depend on it."
            )
        if self.n_dropped:
            total, one = self.n_dropped + self.n_obs, self.n_dropped == 1
            notes.append(
                f"{self.n_dropped} of {total} rows {'has' if one else 'have'} a missing value in "
                f"a variable of the model and {'was' if one else 'were'} not used; the fit "
                f"describes the other {self.n_obs}."
            )
        return notes

    def _slopes_far_from_zero(self) -> list[str]:
        """Under VC, the random slopes whose predictor's mean is far from zero in its SDs."""
        if self.covariance_structure != "vc":
            return []
        Z, names = self.design.Z, self.design.random_names
        mean, sd = Z.mean(axis=0), Z.std(axis=0)
        return [
            name
            for name, m, s in zip(names, mean, sd, strict=True)
            if name != "Intercept" and abs(m) > _FAR_FROM_ZERO * s
        ]

    # -- school level ------------------------------------------------------------------------
    @cached_property
    def random_effects(self) -> pd.DataFrame:
        """EBLUPs of each school's random effects, as SAS ``solutionR``.

        Columns: estimate, se (SAS "StdErr Pred": includes the uncertainty of the
        fixed effects), cond_sd (lme4's conditional SD, which does not), df
        (within-school df), t and p.
        """
        fit = self.engine_fit
        cp = fit.cross_products
        C = fit.shrinkage_kernel
        z = cp.Zty - cp.ZtX @ fit.beta
        estimate = np.einsum("jab,jb->ja", C, z)
        CZX = C @ cp.ZtX
        pred_var = fit.sigma2 * C + CZX @ fit.cov_beta @ np.swapaxes(CZX, 1, 2)
        se = np.sqrt(np.clip(np.diagonal(pred_var, axis1=1, axis2=2), 0.0, None))
        cond_sd = np.sqrt(np.clip(fit.sigma2 * np.diagonal(C, axis1=1, axis2=2), 0.0, None))
        df = float(self._bw_df.max())
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(se > 0, estimate / se, np.nan)
        index = pd.MultiIndex.from_product(
            [self.design.group_labels, self.design.random_names], names=[self.group, "term"]
        )
        return pd.DataFrame(
            {
                "estimate": estimate.ravel(),
                "se": se.ravel(),
                "cond_sd": cond_sd.ravel(),
                "df": df,
                "t": t.ravel(),
                "p": _p_two_sided_t(t.ravel(), df),
            },
            index=index,
        )

    def school_coefficients(self) -> pd.DataFrame:
        """Each school's own coefficients: fixed effect plus the school's EBLUP.

        Terms without a random effect get the fixed effect for every school.
        """
        wide = self.random_effects["estimate"].unstack("term")
        out = pd.DataFrame(
            np.tile(self.engine_fit.beta, (self.n_groups, 1)),
            index=wide.index,
            columns=self.design.fixed_names,
        )
        for term in wide.columns:
            if term in out.columns:
                out[term] = out[term] + wide[term]
        return out

    @cached_property
    def school_reliability(self) -> pd.DataFrame:
        """Reliability of each school's OLS coefficient, as HLM 8 reports.

        ``lambda_qj = tau_qq / (tau_qq + sigma2 [(Z_j'Z_j)^-1]_qq)``; schools
        whose ``Z_j'Z_j`` is singular (too few students to estimate their own
        coefficients) are NaN, as HLM excludes them.
        """
        cp = self.engine_fit.cross_products
        ZtZ = cp.ZtZ
        det = np.linalg.det(ZtZ)
        ok = det > 1e-10 * np.prod(np.diagonal(ZtZ, axis1=1, axis2=2), axis=1)
        inv_diag = np.full((cp.n_groups, cp.n_random), np.nan)
        inv_diag[ok] = np.diagonal(np.linalg.inv(ZtZ[ok]), axis1=1, axis2=2)
        tau = np.diag(self.engine_fit.G)
        rel = tau / (tau + self.sigma2 * inv_diag)
        return pd.DataFrame(
            rel,
            index=pd.Index(self.design.group_labels, name=self.group),
            columns=self.design.random_names,
        )

    @property
    def reliability(self) -> pd.Series:
        """Average reliability of the schools' coefficients (HLM 8's "Reliability estimates")."""
        return self.school_reliability.mean().rename("reliability")

    # -- presentation ------------------------------------------------------------------------
    def equations(self) -> str:
        """The model's level-1, level-2 and combined equations as LaTeX."""
        from .syntax import model_equations

        school_level = [
            n
            for n, between in zip(self.design.fixed_names, self.design.school_level, strict=True)
            if between and n != "Intercept"
        ]
        return model_equations(
            self.design.outcome,
            self.design.fixed_names,
            self.design.random_names,
            school_level,
            self.covariance_structure,
        )

    def code(self, language: str = "all") -> str:
        """The same model in SAS PROC MIXED, R lme4 and Python statsmodels."""
        from .syntax import model_code, weighted_model_code

        if self.weighted:
            return weighted_model_code(
                self.formula,
                self.group,
                self.random_terms,
                self.covariance_structure,
                self.survey_weights,
                language,
                categories=self.categories,
                complete_cases=self._rows_the_code_must_keep(),
            )
        return model_code(
            self.formula,
            self.group,
            self.random_terms,
            self.method,
            self.covariance_structure,
            language,
            categories=self.categories,
            complete_cases=self._rows_the_code_must_keep(),
        )

    def _rows_the_code_must_keep(self) -> list[str]:
        """The columns whose complete rows the code for other programs keeps first, or [].

        Only when rows were dropped for missing values and the other program would
        otherwise compute on them: a variable centred or standardised inside the
        formula (:func:`hlmteach.syntax.model_code`), or survey weights rescaled
        school by school (:func:`hlmteach.syntax.weighted_model_code`).
        """
        from .syntax import centres_in_formula

        model = " + ".join([self.formula, *self.random_terms])
        survey = self.survey_weights
        rescaled = survey is not None and survey.scaling != "none"
        if not self.n_dropped or not (centres_in_formula(model) or rescaled):
            return []
        weights = [] if survey is None else [survey.weights, survey.group_weights]
        columns = [*formula_variables(model), self.group, *filter(None, weights)]
        return list(dict.fromkeys(columns))

    def summary(self) -> str:
        """A plain-text report in the order SAS prints it."""
        from .tables import hlm_text_report

        return hlm_text_report(self)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        from .tables import hlm_html_report

        return hlm_html_report(self)


@dataclass
class OLSResult:
    """An OLS fit with the numbers the course's OLS table shows.

    Attributes
    ----------
    fixed : DataFrame
        estimate, se, df, t, p per term.
    r2 : float
        R squared.
    n_obs, n_dropped : int
        Rows used and rows dropped for missing values.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> ols = hlm.fit_ols(hlm.load_hsb(), "mathach ~ ses")
    >>> round(float(ols.fixed.loc["ses", "estimate"]), 3), ols.n_obs
    (3.184, 7185)
    """

    #: The side-by-side tables this result can appear in (read by hlmteach.tables).
    table_kinds: ClassVar[tuple[str, ...]] = ("ols",)

    formula: str
    design: Design = field(repr=False)
    statsmodels_result: Any = field(repr=False)
    label: str = ""
    column_scale: np.ndarray | None = field(default=None, repr=False)
    categories: dict[str, str] = field(default_factory=dict)

    @property
    def n_obs(self) -> int:
        """Rows used."""
        return self.design.n_obs

    @property
    def n_dropped(self) -> int:
        """Rows not used because a variable was missing."""
        return self.design.n_dropped

    @property
    def r2(self) -> float:
        """R squared."""
        return float(self.statsmodels_result.rsquared)

    @cached_property
    def fixed(self) -> pd.DataFrame:
        """Coefficients with their OLS standard errors, df, t and p."""
        res = self.statsmodels_result
        df = float(res.df_resid)
        # statsmodels fitted the columns divided by their scale: map back exactly.
        scale = 1.0 if self.column_scale is None else self.column_scale
        return pd.DataFrame(
            {
                "estimate": np.asarray(res.params) / scale,
                "se": np.asarray(res.bse) / scale,
                "df": df,
                "t": np.asarray(res.tvalues),
                "p": np.asarray(res.pvalues),
            },
            index=pd.Index(self.design.fixed_names, name="term"),
        )

    def equations(self) -> str:
        """The OLS model as a LaTeX equation."""
        from .syntax import _latex_name

        terms = [r"\beta_0"] + [
            rf"\beta_{{{k}}}\,{_latex_name(n)}_i"
            for k, n in enumerate(self.design.fixed_names[1:], start=1)
        ]
        return (
            f"{_latex_name(self.design.outcome)}_i = "
            + " + ".join(terms)
            + r" + e_i,\quad e_i \sim N(0, \sigma^2)\ \text{independent}"
        )

    def code(self, language: str = "all") -> str:
        """The same OLS model in SAS PROC REG, R and Python."""
        from .syntax import ols_code

        return ols_code(self.formula, language, categories=self.categories)

    def _repr_html_(self) -> str:
        from .tables import ols_html_report

        return ols_html_report(self)


class ByResults(Mapping[str, Any]):
    """Results of one model fitted separately within each level of a column (SAS ``BY``).

    Behaves as a read-only dict from level to result, and shows the levels side by side.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> fits = hlm.fit_ols(hlm.load_timss(), "math ~ college + boy", by="country")
    >>> list(fits)
    ['Korea', 'USA']
    """

    def __init__(self, by: str, results: dict[str, Any]) -> None:
        self.by = by
        self._results = results

    def __getitem__(self, key: str) -> Any:
        return self._results[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._results)

    def __len__(self) -> int:
        return len(self._results)

    def __repr__(self) -> str:
        return f"ByResults(by={self.by!r}, levels={list(self._results)})"

    def _repr_html_(self) -> str:
        from .tables import side_by_side_html

        return side_by_side_html(self)
