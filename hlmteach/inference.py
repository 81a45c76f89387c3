"""Likelihood-ratio tests of nested fitted models.

The test of a variance component uses the chi-square mixture that its boundary
calls for (Self & Liang 1987; Stram & Lee 1994), as SAS PROC MIXED users are
taught. The degrees of freedom of the fixed effects are in
:mod:`hlmteach.degrees_of_freedom`, the fit statistics in
:mod:`hlmteach.fit_statistics`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from .results import HLMResult
from .validation import ModelInputError, require_result

__all__ = [
    "LikelihoodRatioTest",
    "lr_test",
]


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
    if same_fixed and added_random > 1:
        notes += (
            f"{added_random} random effects are added at once, so this chi2({extra}) p-value "
            "is too large (conservative): hlm.boundary_lr_test gives the boundary mixture, "
            "hlm.bootstrap_lr_test a simulation.",
        )
    return LikelihoodRatioTest(statistic, extra, p, naive, mixture, full.method, notes)


def _check_comparable(restricted: HLMResult, full: HLMResult) -> None:
    """Both are single two-level fits, by the same method, of the same outcome, rows and schools."""
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
