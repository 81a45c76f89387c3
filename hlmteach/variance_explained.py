"""How much variance do the predictors explain? R-squared measures for two-level models.

OLS has one variance and one R². A two-level model has a variance within schools
(σ²) and one or more between schools (τ), so "variance explained" can mean several
things. This module computes the four families the literature uses, each from a
fitted :class:`~hlmteach.models.HLMResult`:

- :func:`proportional_reduction`: Raudenbush & Bryk's (2002, ch. 4) proportional
  reduction in each variance component between a baseline and a fuller model
  (it can be negative, and a random-intercept variance changes meaning when slopes
  are random);
- :func:`snijders_bosker_r2`: Snijders & Bosker's (1994; 2012, ch. 7) R²₁ and R²₂,
  the proportional reduction in the error of predicting a student's score and a
  school's mean;
- :func:`nakagawa_r2`: Nakagawa & Schielzeth's (2013) marginal and conditional R²,
  with Johnson's (2014) extension to random slopes, as R's ``performance::r2_nakagawa``
  computes them;
- :func:`rights_sterba`: Rights & Sterba's (2019) full decomposition of the
  model-implied variance into fixed within-school (f1), fixed between-school (f2),
  random-slope (v), random-intercept (m) and residual (σ²) parts, with total,
  within and between shares and the stacked-bar figure of R's ``r2mlm``.

Sample moments of the predictors use the n − 1 denominator, as R's ``var`` does in
``performance`` and ``r2mlm``. None of these measures is defined here for a
survey-weighted (pseudo-likelihood) fit: each function refuses one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .validation import ModelInputError, require_result

if TYPE_CHECKING:
    from .models import HLMResult

__all__ = [
    "VarianceDecomposition",
    "nakagawa_r2",
    "proportional_reduction",
    "rights_sterba",
    "snijders_bosker_r2",
]


def _require_unweighted_fit(fit: object, argument: str) -> HLMResult:
    """Return ``fit`` if it is one unweighted HLMResult; raise a plain-words error otherwise."""
    from .models import HLMResult

    require_result(fit, [HLMResult], argument)
    if fit.weighted:
        raise ModelInputError(
            f"The argument {argument} is a survey-weighted (pseudo-likelihood) fit. The R² "
            "measures of this module are defined for unweighted fits (none of their references "
            "gives a weighted version): refit without weights= and group_weights= to describe "
            "the sample."
        )
    return fit


def _require_same_sample(baseline: HLMResult, fitted: HLMResult) -> None:
    """Both fits must use the same students, outcome and estimation method."""
    if baseline.design.outcome != fitted.design.outcome:
        raise ModelInputError(
            f"The two fits have different outcomes ({baseline.design.outcome!r} and "
            f"{fitted.design.outcome!r}); variance explained compares models of one outcome."
        )
    if baseline.group != fitted.group:
        raise ModelInputError(
            f"The two fits group by different columns ({baseline.group!r} and "
            f"{fitted.group!r}); fit both with the same group=."
        )
    if baseline.n_obs != fitted.n_obs or not baseline.design.rows.equals(fitted.design.rows):
        raise ModelInputError(
            f"The two fits use different students (baseline {baseline.n_obs}, fitted "
            f"{fitted.n_obs}): a predictor of the fuller model is missing for some rows, so its "
            "variances describe another sample. Fit the baseline on the rows the fuller model "
            "uses, e.g. data.dropna(subset=[...its predictors...])."
        )
    if baseline.method != fitted.method:
        raise ModelInputError(
            f"The baseline was fitted by {baseline.method} and the fuller model by "
            f"{fitted.method}; fit both by the same method (method=)."
        )


def proportional_reduction(baseline: HLMResult, fitted: HLMResult) -> pd.Series:
    """Raudenbush & Bryk's proportional reduction in each variance component.

    For each variance of the baseline that the fuller model also has,
    ``(baseline - fitted) / baseline``: the share of that variance which the
    predictors added to the fuller model account for. For σ² it is the level-1
    ("pseudo-R² within schools"), for τ00 the level-2 proportion.

    Parameters
    ----------
    baseline : HLMResult
        The model without the predictors, e.g. the one-way ANOVA ``"y ~ 1"``.
    fitted : HLMResult
        The model with them, on the same students, outcome and method.

    Returns
    -------
    Series
        One value per shared variance, indexed as ``fit.covariance`` labels them
        (``"Residual"``, ``"Var(Intercept)"``, ``"Var(cses)"``, ...). NaN where the
        baseline variance is zero (nothing to reduce).

    Raises
    ------
    ModelInputError
        For fits on different students, outcomes, groupings or methods, for
        survey-weighted fits, or when the fits share no variance.

    Notes
    -----
    The proportions are not R² in the OLS sense: they can be negative. Adding a
    level-1 predictor whose school means differ can raise τ00 (the variance of the
    school means *adjusted* for it), and sampling error alone can raise a variance.
    With a random slope, τ00 is the intercept variance where that predictor is 0, so
    it changes with the predictor's centring: compare intercept variances only
    between models whose random part and centring are the same (Raudenbush & Bryk
    2002, ch. 4; Snijders & Bosker 2012, ch. 7).

    Examples
    --------
    >>> import hlmteach as hlm
    >>> hsb = hlm.load_hsb()
    >>> anova = hlm.fit_hlm(hsb, "mathach ~ 1", group="school")
    >>> means = hlm.fit_hlm(hsb, "mathach ~ meanses", group="school")
    >>> proportional_reduction(anova, means).round(4)
    parameter
    Var(Intercept)    0.6937
    Residual         -0.0002
    Name: proportional_reduction, dtype: float64
    """
    baseline = _require_unweighted_fit(baseline, "baseline")
    fitted = _require_unweighted_fit(fitted, "fitted")
    _require_same_sample(baseline, fitted)
    before = _variances(baseline)
    after = _variances(fitted)
    shared = [name for name in before.index if name in after.index]
    if not shared:
        raise ModelInputError("The two fits share no variance component to compare.")
    base = before[shared]
    with np.errstate(divide="ignore", invalid="ignore"):
        reduction = np.where(base > 0, (base - after[shared]) / base, np.nan)
    return pd.Series(reduction, index=pd.Index(shared, name="parameter"), name=_PRV_NAME)


_PRV_NAME = "proportional_reduction"


def _variances(fit: HLMResult) -> pd.Series:
    """The variances (not covariances) of ``fit.covariance``, by label."""
    table = fit.covariance["estimate"]
    keep = [label for label in table.index if not label.startswith("Cov(")]
    return table[keep].astype(float)


def _school_sizes(fit: HLMResult) -> np.ndarray:
    return np.bincount(fit.design.group_codes, minlength=fit.n_groups).astype(float)


def _only_random_intercept(fit: HLMResult, argument: str) -> float:
    if fit.design.random_names != ["Intercept"]:
        raise ModelInputError(
            f"The argument {argument} has random slopes ({fit.design.random_names[1:]}). "
            "Snijders & Bosker's R²₁ and R²₂ are defined for random-intercept models; they "
            "advise computing them from the same fixed part with a random intercept only, "
            "whose fixed effects are nearly the same: refit without random=."
        )
    return float(fit.tau.iloc[0, 0])


def snijders_bosker_r2(
    baseline: HLMResult, fitted: HLMResult, cluster_size: float | None = None
) -> pd.Series:
    """Snijders & Bosker's R²₁ (students) and R²₂ (school means).

    ``R²₁ = 1 - (σ²_f + τ00_f) / (σ²_0 + τ00_0)`` is the proportional reduction in
    the error of predicting one student's score, ``R²₂ = 1 - (σ²_f / n + τ00_f) /
    (σ²_0 / n + τ00_0)`` that of predicting the mean of a school of ``n`` students;
    subscript 0 is the empty model, f the fitted one.

    Parameters
    ----------
    baseline : HLMResult
        The empty model ``"y ~ 1"`` with a random intercept.
    fitted : HLMResult
        A random-intercept model of the same outcome on the same students.
    cluster_size : float, optional
        The school size ``n`` of R²₂. Default: the harmonic mean of the schools'
        sizes (a representative size for unbalanced data; the arithmetic mean
        ``N / J`` is the other common choice).

    Returns
    -------
    Series
        ``R2_1``, ``R2_2`` and the ``cluster_size`` used.

    Raises
    ------
    ModelInputError
        If the baseline is not the empty model, a fit has random slopes (refit with
        a random intercept only, as Snijders & Bosker advise), the fits use different
        students, or a fit is survey-weighted.

    Notes
    -----
    In the population, adding a predictor can never make R²₁ or R²₂ fall; in a
    sample they can, slightly, and a clearly negative value signals a misspecified
    model (Snijders & Bosker 2012, ch. 7).

    Examples
    --------
    >>> import hlmteach as hlm
    >>> hsb = hlm.load_hsb()
    >>> empty = hlm.fit_hlm(hsb, "mathach ~ 1", group="school")
    >>> ses = hlm.fit_hlm(hsb, "mathach ~ ses + meanses", group="school")
    >>> snijders_bosker_r2(empty, ses).round(3)
    R2_1             0.169
    R2_2             0.624
    cluster_size    41.059
    dtype: float64
    """
    baseline = _require_unweighted_fit(baseline, "baseline")
    fitted = _require_unweighted_fit(fitted, "fitted")
    _require_same_sample(baseline, fitted)
    if baseline.design.fixed_names != ["Intercept"]:
        raise ModelInputError(
            f"The baseline has predictors ({baseline.design.fixed_names[1:]}); R²₁ and R²₂ "
            "compare with the empty model: fit 'outcome ~ 1' with a random intercept."
        )
    tau0 = _only_random_intercept(baseline, "baseline")
    tau1 = _only_random_intercept(fitted, "fitted")
    if cluster_size is None:
        sizes = _school_sizes(fitted)
        n = float(len(sizes) / np.sum(1.0 / sizes))
    else:
        n = float(cluster_size)
        if not np.isfinite(n) or n <= 0:
            raise ModelInputError(
                f"cluster_size must be a positive number of students, not {cluster_size!r}."
            )
    s0, s1 = baseline.sigma2, fitted.sigma2
    r2_1 = 1.0 - (s1 + tau1) / (s0 + tau0)
    r2_2 = 1.0 - (s1 / n + tau1) / (s0 / n + tau0)
    return pd.Series({"R2_1": r2_1, "R2_2": r2_2, "cluster_size": n})


def _fixed_coefficients(fit: HLMResult) -> np.ndarray:
    """The fixed effects in the order of the design's columns (public attributes only)."""
    return fit.fixed["estimate"].reindex(fit.design.fixed_names).to_numpy(dtype=float)


def _fixed_linear_predictor(fit: HLMResult) -> np.ndarray:
    return fit.design.X @ _fixed_coefficients(fit)


def nakagawa_r2(fit: HLMResult) -> pd.Series:
    """Nakagawa & Schielzeth's marginal and conditional R², with Johnson's random slopes.

    ``marginal = var_fixed / total`` is the share of the variance the fixed effects
    predict; ``conditional = (var_fixed + var_random) / total`` adds what the schools'
    random effects predict; ``total = var_fixed + var_random + σ²``.
    ``var_fixed`` is the sample variance of the fixed part ``Xγ``; ``var_random`` is the
    average over students of ``z_i' T z_i`` (Johnson 2014), which for a random intercept
    only is τ00.

    Parameters
    ----------
    fit : HLMResult
        An unweighted fit.

    Returns
    -------
    Series
        ``marginal``, ``conditional``, ``var_fixed``, ``var_random``, ``var_residual``.

    Raises
    ------
    ModelInputError
        For a survey-weighted fit, or anything but one fitted model.

    Notes
    -----
    This is what R's ``performance::r2_nakagawa`` (with ``insight::get_variance``)
    returns for a Gaussian ``lmer`` fit. With random slopes, ``var_random`` averages the
    variance between schools over the students' own values of the slope predictors, so
    shifting a predictor (a different zero) leaves it, and both R², unchanged, whereas
    τ00 changes. (insight 0.19.0 leaves out a slope variance written as a second,
    uncorrelated term of the same grouping factor, as lme4's ``||`` writes it; this
    function counts it, as Johnson's formula does.)

    Examples
    --------
    >>> import hlmteach as hlm
    >>> hsb = hlm.load_hsb()
    >>> m = hlm.fit_hlm(hsb, "mathach ~ ses + meanses", group="school", random=["ses"])
    >>> nakagawa_r2(m)[["marginal", "conditional"]].round(3)
    marginal       0.171
    conditional    0.233
    dtype: float64
    """
    fit = _require_unweighted_fit(fit, "fit")
    var_fixed = float(np.var(_fixed_linear_predictor(fit), ddof=1))
    Z = fit.design.Z
    var_random = float(np.mean(np.einsum("ia,ab,ib->i", Z, fit.tau.to_numpy(), Z)))
    total = var_fixed + var_random + fit.sigma2
    return pd.Series(
        {
            "marginal": var_fixed / total,
            "conditional": (var_fixed + var_random) / total,
            "var_fixed": var_fixed,
            "var_random": var_random,
            "var_residual": fit.sigma2,
        }
    )


#: Components of the decomposition and what each is, in r2mlm's words.
COMPONENT_LABELS = {
    "f1": "fixed slopes (within)",
    "f2": "fixed slopes (between)",
    "f": "fixed slopes",
    "v": "slope variation",
    "m": "intercept variation",
    "sigma2": "residual",
}


@dataclass(frozen=True)
class VarianceDecomposition:
    """Rights & Sterba's decomposition of the model-implied variance of the outcome.

    Attributes
    ----------
    components : Series
        Variances: ``f1`` (fixed within-school part), ``f2`` (fixed between-school
        part), ``v`` (random slopes), ``m`` (random intercepts), ``sigma2``
        (residual); when a level-1 predictor is not centred within schools, ``f``
        replaces ``f1`` and ``f2`` (they cannot be separated).
    centred : bool
        Whether every level-1 predictor is centred on its school's mean, so that
        the within/between split exists.
    shares : DataFrame
        Each component's share of the total, within-school and between-school
        variance (rows as ``components``; columns ``total``, ``within``, ``between``;
        NaN where a component is not part of that variance), as r2mlm's
        ``Decompositions``.
    r2 : DataFrame
        The R² measures of the framework (rows ``f1``, ``f2``, ``v``, ``m``, ``f``,
        ``fv``, ``fvm``; columns ``total``, ``within``, ``between``), as r2mlm's ``R2s``.
    """

    components: pd.Series
    centred: bool

    @property
    def shares(self) -> pd.DataFrame:
        """Shares of the total, within and between variance (r2mlm's ``Decompositions``)."""
        c = self.components
        total = pd.Series(c / c.sum(), name="total")
        if not self.centred:
            return total.to_frame()
        within_parts = ["f1", "v", "sigma2"]
        between_parts = ["f2", "m"]
        within = c[within_parts] / c[within_parts].sum()
        between = c[between_parts] / c[between_parts].sum()
        return pd.DataFrame(
            {"total": total, "within": within.reindex(c.index), "between": between.reindex(c.index)}
        )

    @property
    def r2(self) -> pd.DataFrame:
        """The framework's R² measures (r2mlm's ``R2s``): sums of shares."""
        s = self.shares
        t = s["total"]
        fixed = t["f1"] + t["f2"] if self.centred else t["f"]
        rows = {"f": fixed, "v": t["v"], "m": t["m"]}
        rows.update({"fv": fixed + t["v"], "fvm": fixed + t["v"] + t["m"]})
        if not self.centred:
            return pd.Series(rows, name="total").to_frame()
        rows = {"f1": t["f1"], "f2": t["f2"], **rows}
        within = {"f1": s.at["f1", "within"], "v": s.at["v", "within"]}
        within["fv"] = within["f1"] + within["v"]
        between = {"f2": s.at["f2", "between"], "m": s.at["m", "between"]}
        order = ["f1", "f2", "v", "m", "f", "fv", "fvm"]
        return pd.DataFrame(
            {"total": pd.Series(rows), "within": pd.Series(within), "between": pd.Series(between)}
        ).reindex(order)

    def plot(self, ax: Any = None, title: str = "Decomposition of the outcome's variance") -> Any:
        """Stacked bars of the shares (total, within, between), as r2mlm draws them.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure if omitted.
        title : str
            The axes' title.

        Returns
        -------
        matplotlib Figure
        """
        import matplotlib.pyplot as plt

        if ax is None:
            fig, ax = plt.subplots(figsize=(6.5, 4.5), layout="constrained")
        else:
            fig = ax.figure
        shares = self.shares.fillna(0.0)
        style = {  # r2mlm's colours, with hatching for the random parts
            "f1": ("darkred", ""),
            "f2": ("steelblue", ""),
            "f": ("darkblue", ""),
            "v": ("darkred", "///"),
            "m": ("midnightblue", "\\\\\\"),
            "sigma2": ("white", ""),
        }
        positions = np.arange(shares.shape[1])
        bottom = np.zeros(shares.shape[1])
        for name in shares.index:
            colour, hatch = style[name]
            filled = hatch == ""
            ax.bar(
                positions,
                shares.loc[name].to_numpy(),
                bottom=bottom,
                width=0.6,
                color=colour if filled else "white",
                edgecolor=colour if not filled else "black",
                hatch=hatch,
                linewidth=0.8,
                label=f"{COMPONENT_LABELS[name]} ({name})",
            )
            bottom = bottom + shares.loc[name].to_numpy()
        ax.set_xticks(positions, list(shares.columns))
        ax.set_ylim(0, 1)
        ax.set_ylabel("proportion of variance")
        ax.set_title(title)
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9, frameon=False)
        return fig


def _centred_within_schools(values: np.ndarray, codes: np.ndarray, n_groups: int) -> bool:
    """Whether every column's mean in every school is zero (to rounding)."""
    if values.shape[1] == 0:
        return True
    sizes = np.bincount(codes, minlength=n_groups)
    means = np.stack([np.bincount(codes, weights=col, minlength=n_groups) for col in values.T], 1)
    means /= sizes[:, None]
    scale = np.max(np.abs(values), axis=0)
    return bool(np.all(np.abs(means) <= 1e-9 * np.where(scale > 0, scale, 1.0)))


def rights_sterba(fit: HLMResult) -> VarianceDecomposition:
    """Rights & Sterba's (2019) decomposition of the outcome's variance, and their R² measures.

    The model-implied variance of the outcome is split into five parts:

    - ``f1 = γ_w' Φ_w γ_w``: the fixed effects of the level-1 predictors (centred
      within schools), Φ_w their covariance;
    - ``f2 = γ_b' Φ_b γ_b``: the fixed effects of the level-2 predictors (constant
      within schools, e.g. school means);
    - ``v = tr(T Σ)``: the random slopes, Σ the covariance of their predictors;
    - ``m = μ' T μ``: the random intercepts (τ00 when the slope predictors are centred),
      μ the means of the random-effect predictors;
    - ``σ²``: the residual.

    The within-school variance is ``f1 + v + σ²``, the between-school variance
    ``f2 + m``. Level-2 predictors are the columns of the fixed part that are constant
    within every school; all others are level-1.

    Parameters
    ----------
    fit : HLMResult
        An unweighted fit.

    Returns
    -------
    VarianceDecomposition
        ``components``, ``shares``, ``r2`` and ``plot()``. If some level-1 predictor
        is not centred within schools, only the total decomposition exists (``f``,
        ``v``, ``m``, ``σ²``), as in R's ``r2mlm``.

    Raises
    ------
    ModelInputError
        For a survey-weighted fit, or anything but one fitted model.

    Notes
    -----
    Covariances of the predictors use the n − 1 denominator, as r2mlm does.
    ``shares["total"]`` of ``f`` (or ``f1 + f2``) is R²_t^(f), which equals Nakagawa's
    marginal R² up to the n − 1 denominators; ``r2.loc["fvm", "total"]`` is the
    conditional R². Under cluster-mean centring, R&B's level-1 proportional reduction
    estimates R²_w^(fv) and their level-2 one R²_b^(f2), if the total variance is
    the empty model's (Rights & Sterba 2019).

    Examples
    --------
    >>> import hlmteach as hlm
    >>> hsb = hlm.load_hsb()
    >>> hsb["cses"] = hsb["ses"] - hsb.groupby("school")["ses"].transform("mean")
    >>> m = hlm.fit_hlm(hsb, "mathach ~ cses + meanses", group="school", random=["cses"])
    >>> rights_sterba(m).shares.round(3)
            total  within  between
    f1      0.044   0.054      NaN
    f2      0.125     NaN    0.688
    v       0.006   0.008      NaN
    m       0.056     NaN    0.312
    sigma2  0.769   0.939      NaN
    """
    fit = _require_unweighted_fit(fit, "fit")
    design = fit.design
    X, Z, codes = design.X, design.Z, design.group_codes
    beta = _fixed_coefficients(fit)
    G = fit.tau.to_numpy()
    between = design.school_level  # constant within every school; the intercept included
    slopes = Z[:, 1:]
    centred = _centred_within_schools(
        np.column_stack([X[:, ~between], slopes]), codes, fit.n_groups
    )

    def quadratic(columns: np.ndarray, coefficients: np.ndarray) -> float:
        if columns.shape[1] == 0:
            return 0.0
        phi = np.atleast_2d(np.cov(columns, rowvar=False, ddof=1))
        return float(coefficients @ phi @ coefficients)

    sigma_z = np.atleast_2d(np.cov(Z, rowvar=False, ddof=1))
    mean_z = Z.mean(axis=0)
    parts: dict[str, float] = {}
    if centred:
        parts["f1"] = quadratic(X[:, ~between], beta[~between])
        parts["f2"] = quadratic(X[:, between], beta[between])
    else:
        parts["f"] = quadratic(X, beta)
    parts["v"] = float(np.trace(G @ sigma_z))
    parts["m"] = float(mean_z @ G @ mean_z)
    parts["sigma2"] = fit.sigma2
    return VarianceDecomposition(pd.Series(parts, name="variance"), centred)
