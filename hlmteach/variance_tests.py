"""Honest tests and intervals for variance components.

A variance cannot be negative, so "no school-to-school variation" sits on the
*boundary* of the parameter space. The usual large-sample tools then fail:

- the **Wald z** of a variance (SAS ``COVTEST``; already in ``fit.covariance``)
  assumes a symmetric, normal sampling distribution, which a variance near
  zero does not have;
- the **likelihood-ratio test** against chi-square(df) is too conservative; the
  right reference for one added random effect is a 50:50 mixture of chi-squares
  (Stram & Lee 1994), and for several uncorrelated variances added at once a
  chi-bar-square mixture with binomial weights (:func:`chi_bar_square_weights`):
  :func:`boundary_lr_test`;
- when even the mixture is doubtful (few schools, several variances at once),
  :func:`bootstrap_lr_test` simulates the LR statistic's distribution under the
  null model (a parametric bootstrap);
- **profile-likelihood intervals** (:func:`profile_ci`,
  :func:`profile_intervals`) are not symmetric and stop at zero, unlike
  estimate ± 1.96 SE.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from math import comb
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .engine import (
    CovarianceStructure,
    CrossProducts,
    EngineFit,
    SingleThreadedBlas,
    fit_mixed_model,
    full_deviance,
    full_deviance_gradient,
)
from .inference import LikelihoodRatioTest, lr_test
from .validation import (
    ModelInputError,
    as_term_list,
    require_flag,
    require_frame,
    require_integer,
    require_probability,
    require_result,
    require_seed,
)

if TYPE_CHECKING:
    from .models import HLMResult

__all__ = [
    "BootstrapLRTest",
    "BoundaryLRTest",
    "ProfileInterval",
    "bootstrap_lr_test",
    "boundary_lr_test",
    "boundary_mixture_p_value",
    "chi_bar_square_weights",
    "profile_ci",
    "profile_intervals",
]

# LR statistics below this are optimiser noise around zero and count as zero.
_LR_ZERO = 1e-6


def chi_bar_square_weights(n_variances: int) -> np.ndarray:
    """Weights of the chi-bar-square mixture for ``n_variances`` variances tested at zero.

    When ``k`` variances whose estimates are asymptotically independent are all
    zero under the null, each of them is estimated as exactly 0 in half of the
    samples, independently of the others. The number of positive estimates is
    then binomial(k, 1/2), and the LR statistic follows
    ``sum_i C(k, i) / 2**k * chi2(i)`` (Self & Liang 1987, case 6; Stram & Lee
    1994). For k = 1 this is the 50:50 mixture of chi2(0) and chi2(1); for
    k = 2 the weights are 1/4, 1/2 and 1/4.

    Parameters
    ----------
    n_variances : int
        Number of variances on the boundary under the null (at least 1).

    Returns
    -------
    ndarray
        ``k + 1`` weights, for 0, 1, ..., k positive variances; they sum to 1.

    Examples
    --------
    >>> chi_bar_square_weights(2).tolist()
    [0.25, 0.5, 0.25]
    """
    k = require_integer(n_variances, "n_variances", 1)
    return np.array([comb(k, i) for i in range(k + 1)], dtype=float) / 2.0**k


def boundary_mixture_p_value(statistic: float, df: int, n_variances: int) -> float:
    """p-value of an LR statistic from the chi-bar-square boundary mixture.

    ``df`` parameters are added; ``n_variances`` of them are variances on the
    boundary (zero) under the null, the other ``df - n_variances`` (covariances,
    fixed effects) are interior. The reference is
    ``sum_i w_i chi2(df - n_variances + i)`` with the binomial weights of
    :func:`chi_bar_square_weights`; chi2(0) is a point mass at 0, so it adds
    nothing to the p-value of a positive statistic.

    Parameters
    ----------
    statistic : float
        The LR statistic (drop in -2 log L), at least 0.
    df : int
        Parameters added by the larger model.
    n_variances : int
        How many of them are variances tested at zero (1 to ``df``).

    Returns
    -------
    float

    Examples
    --------
    One added variance: half the chi2(1) p-value.

    >>> round(boundary_mixture_p_value(3.1, 1, 1), 4)
    0.0391

    Two uncorrelated variances added at once: 1/4 chi2(0) + 1/2 chi2(1) + 1/4 chi2(2).

    >>> round(boundary_mixture_p_value(4.0, 2, 2), 4)
    0.0566
    """
    df = require_integer(df, "df", 1)
    weights = chi_bar_square_weights(n_variances)
    k = weights.size - 1
    if k > df:
        raise ModelInputError(
            f"n_variances ({k}) cannot exceed df ({df}): the variances tested at zero are "
            "among the parameters the larger model adds."
        )
    statistic = float(statistic)
    if not np.isfinite(statistic) or statistic < 0:
        raise ModelInputError(
            f"The LR statistic must be a number at least 0 (got {statistic}); it is "
            "-2 log L of the smaller model minus that of the larger one."
        )
    tails = [
        stats.chi2.sf(statistic, df - k + i) if df - k + i > 0 else float(statistic <= 0)
        for i in range(k + 1)
    ]
    return float(np.dot(weights, tails))


@dataclass(frozen=True)
class BoundaryLRTest(LikelihoodRatioTest):
    """A likelihood-ratio test whose reference is a chi-bar-square mixture.

    Returned by :func:`boundary_lr_test` when several uncorrelated variances are
    added at once. Besides the attributes of
    :class:`hlmteach.inference.LikelihoodRatioTest`:

    Attributes
    ----------
    weights : tuple of float
        The mixture weights, C(k, i) / 2**k.
    components : tuple of int
        The degrees of freedom of the chi-square components, in the same order.
    """

    weights: tuple[float, ...] = ()
    components: tuple[int, ...] = ()

    def __str__(self) -> str:
        mixture = " + ".join(
            f"{w:g} chi2({d})" for w, d in zip(self.weights, self.components, strict=True)
        )
        text = (
            f"Likelihood-ratio test ({self.method}): chi2 = {self.statistic:.3f}, reference "
            f"{mixture} (chi-bar-square: {len(self.weights) - 1} variances tested at 0, "
            f"their estimates treated as independent), p = {self.p_value:.4g}; plain "
            f"chi2({self.df}) p = {self.p_value_naive:.4g}, too large"
        )
        return "\n".join([text, *(f"Note: {n}" for n in self.notes)])


_SEVERAL_CORRELATED = (
    "Several random effects are added at once with correlated effects (covariance='un'): "
    "no simple mixture applies, and the plain chi2({df}) p-value printed is too large "
    "(conservative). Use bootstrap_lr_test for an honest p-value."
)


def boundary_lr_test(fit_without: HLMResult, fit_with: HLMResult) -> LikelihoodRatioTest:
    """Likelihood-ratio test of variance components, with the boundary mixture.

    - One random effect added (its variance and any covariances with the
      others): the 50:50 mixture of chi-square(df - 1) and chi-square(df) (Self &
      Liang 1987; Stram & Lee 1994), exactly as
      :func:`hlmteach.inference.lr_test`.
    - Several uncorrelated random effects (``covariance="vc"``) added at once:
      the chi-bar-square mixture of :func:`boundary_mixture_p_value`, e.g.
      1/4 chi2(0) + 1/2 chi2(1) + 1/4 chi2(2) for two. Its binomial weights
      assume that the added variances' estimates are asymptotically
      independent; correlated predictors move the weights a little, and
      :func:`bootstrap_lr_test` needs no such assumption.
    - Several correlated random effects (``covariance="un"``) added at once:
      no simple mixture applies; the result keeps the plain chi-square(df)
      p-value, which is too large, and says so in its notes.

    Parameters
    ----------
    fit_without, fit_with : HLMResult
        The model without and with the random effects, same fixed effects, same
        method and the same students.

    Returns
    -------
    LikelihoodRatioTest
        A :class:`BoundaryLRTest` when the chi-bar-square mixture is used.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> hsb = hlm.load_hsb()
    >>> small = hlm.fit_hlm(hsb, "mathach ~ ses", group="school")
    >>> large = hlm.fit_hlm(hsb, "mathach ~ ses", group="school", random=["ses"])
    >>> test = boundary_lr_test(small, large)
    >>> test.mixture, test.p_value < test.p_value_naive
    (True, True)

    Two variances at once, a random slope of ``ses`` and of ``female``, uncorrelated:

    >>> both = hlm.fit_hlm(hsb, "mathach ~ ses + female", group="school",
    ...                    random=["ses", "female"], covariance="vc")
    >>> none = hlm.fit_hlm(hsb, "mathach ~ ses + female", group="school", covariance="vc")
    >>> boundary_lr_test(none, both).weights
    (0.25, 0.5, 0.25)
    """
    _require_fit(fit_without, "fit_without")
    _require_fit(fit_with, "fit_with")
    test = lr_test(fit_without, fit_with)
    added = len(fit_with.design.random_names) - len(fit_without.design.random_names)
    same_fixed = list(fit_without.fixed.index) == list(fit_with.fixed.index)
    if test.mixture or added < 2 or not same_fixed:
        return test
    # lr_test may already warn that chi2(df) is conservative here; keep one note, ours.
    notes = tuple(n for n in test.notes if "boundary_lr_test" not in n)
    if fit_with.covariance_structure != "vc":
        return replace(test, notes=(*notes, _SEVERAL_CORRELATED.format(df=test.df)))
    weights = chi_bar_square_weights(added)
    components = tuple(test.df - added + i for i in range(added + 1))
    return BoundaryLRTest(
        statistic=test.statistic,
        df=test.df,
        p_value=boundary_mixture_p_value(test.statistic, test.df, added),
        p_value_naive=test.p_value_naive,
        mixture=True,
        method=test.method,
        notes=notes,
        weights=tuple(float(w) for w in weights),
        components=components,
    )


def _require_fit(fit: object, argument: str) -> None:
    """One fitted two-level model (not a by= set, an OLS fit or a pooled result)."""
    from .models import HLMResult

    require_result(fit, [HLMResult], argument)


# ---------------------------------------------------------------------------------------------
# Parametric bootstrap of the LR statistic
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BootstrapLRTest:
    """A parametric-bootstrap likelihood-ratio test of nested random-effect structures.

    Attributes
    ----------
    statistic : float
        The observed LR statistic, -2 log L(null) − (-2 log L(alternative)).
    p_value : float
        ``(1 + #{LR* ≥ LR}) / (B + 1)`` over the ``B`` usable bootstrap replicates.
    boot_statistics : ndarray
        The LR statistics of the replicates simulated under the null model
        (NaN where a refit did not converge).
    n_boot : int
        Replicates used (converged).
    n_failed : int
        Replicates dropped because a refit did not converge.
    p_value_mixture, p_value_naive : float
        The asymptotic p-values of :func:`boundary_lr_test` (its boundary mixture,
        or chi-square(df) when no mixture applies) and of chi-square(df), for comparison.
    df : int
        Parameters added by the alternative.
    method : str
        "REML" or "ML".
    seed : int or None
        The seed of the simulation.
    seconds : float
        Time spent refitting.
    reference : str
        The asymptotic reference of ``p_value_mixture``, in words.
    """

    statistic: float
    p_value: float
    boot_statistics: np.ndarray = field(repr=False)
    n_boot: int
    n_failed: int
    p_value_mixture: float
    p_value_naive: float
    df: int
    method: str
    seed: int | None
    seconds: float
    reference: str = "50:50 mixture"

    def __str__(self) -> str:
        return (
            f"Parametric bootstrap LR test ({self.method}): LR = {self.statistic:.3f}, "
            f"p = {self.p_value:.4g} from {self.n_boot} simulations under the null "
            f"({self.n_failed} failed); {self.reference} p = {self.p_value_mixture:.4g}, "
            f"chi2({self.df}) p = {self.p_value_naive:.4g}"
        )

    def _repr_html_(self) -> str:
        return f"<p>{self}</p>"


def _sorted_blocks(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    return order, starts


def _with_outcome(
    cp: CrossProducts, y_sorted: np.ndarray, X_sorted: np.ndarray, Z_sorted: np.ndarray, starts
) -> CrossProducts:
    """The blocks for a new outcome: only Z'y, X'y and y'y change."""
    Zty = np.add.reduceat(Z_sorted * y_sorted[:, None], starts, axis=0)
    return CrossProducts(
        cp.ZtZ,
        cp.ZtX,
        Zty,
        cp.XtX,
        X_sorted.T @ y_sorted,
        float(y_sorted @ y_sorted),
        cp.group_sizes,
    )


def _psd_root(G: np.ndarray) -> np.ndarray:
    """A matrix R with R R' = G for a positive semi-definite G (zero variances allowed)."""
    values, vectors = np.linalg.eigh(0.5 * (G + G.T))
    return vectors * np.sqrt(np.clip(values, 0.0, None))


def bootstrap_lr_test(
    data: pd.DataFrame,
    formula: str,
    group: str,
    random_null: Sequence[str] = (),
    random_alt: Sequence[str] = (),
    covariance: str = "un",
    covariance_null: str | None = None,
    method: str = "REML",
    n_boot: int = 200,
    seed: int | None = 20240601,
    progress: bool = True,
) -> BootstrapLRTest:
    """Parametric-bootstrap likelihood-ratio test of a random-effect structure.

    Fits the null model (random slopes ``random_null``) and the alternative
    (``random_alt``), then ``n_boot`` times simulates new outcomes from the
    fitted null model -- its fixed effects, school effects drawn from its
    ``tau`` and residuals from its ``sigma2`` -- refits both models to each
    and records the LR statistic. The p-value is the share of simulated
    statistics at least as large as the observed one,
    ``(1 + #{LR* ≥ LR}) / (n_boot + 1)``. It needs no boundary theory, so it
    also works with few schools or when several variances are tested at once.

    Parameters
    ----------
    data : DataFrame
        One row per student.
    formula : str
        The fixed part, the same in both models.
    group : str
        The school column.
    random_null, random_alt : sequence of str
        Random slopes of the null and alternative models (the intercept is
        always random); the null's must be a subset of the alternative's.
    covariance : {"un", "vc"}
        Covariance structure of the alternative model.
    covariance_null : {"un", "vc"}, optional
        Of the null model; by default the same as ``covariance``.
    method : {"REML", "ML"}
        Estimation method of both models.
    n_boot : int
        Number of simulated data sets. 200 is enough to tell p = 0.01 from
        p = 0.2; for a p-value near 0.05 use 1000 or more.
    seed : int, optional
        Seed of the random numbers; the same seed gives the same p-value.
    progress : bool
        Show a progress bar.

    Returns
    -------
    BootstrapLRTest

    Examples
    --------
    Does the within-school SES slope vary across HSB schools?

    >>> import hlmteach as hlm
    >>> hsb = hlm.load_hsb()
    >>> hsb["cses"] = hsb["ses"] - hsb.groupby("school")["ses"].transform("mean")
    >>> test = bootstrap_lr_test(hsb, "mathach ~ cses", "school", random_alt=["cses"],
    ...                          n_boot=19, seed=1, progress=False)
    >>> round(test.statistic, 2), test.p_value  # none of 19 simulated LRs reached 9.76
    (9.76, 0.05)
    """
    from tqdm.auto import tqdm

    from .models import fit_hlm

    data = require_frame(data)
    n_boot = require_integer(n_boot, "n_boot", 1)
    seed = require_seed(seed)
    require_flag(progress, "progress")
    random_null = as_term_list(random_null, "random_null")
    random_alt = as_term_list(random_alt, "random_alt")
    missing = set(random_null) - set(random_alt)
    if missing:
        raise ModelInputError(
            f"The null model's random slopes {sorted(missing)} are not in the alternative: "
            "the null must be the smaller model (random_null a subset of random_alt)."
        )
    covariance_null = covariance if covariance_null is None else covariance_null
    alt = fit_hlm(data, formula, group, random_alt, method=method, covariance=covariance)
    # The null model on exactly the alternative's students.
    null = fit_hlm(
        data.loc[alt.design.rows],
        formula,
        group,
        random_null,
        method=method,
        covariance=covariance_null,
    )
    test = boundary_lr_test(null, alt)
    observed = test.statistic if test.statistic >= _LR_ZERO else 0.0

    d0, d1 = null.design, alt.design
    ef0, ef1 = null.engine_fit, alt.engine_fit
    reml = method.upper() == "REML"
    order, starts = _sorted_blocks(d0.group_codes)
    X_sorted = d0.X[order]
    Z0_sorted, Z1_sorted = d0.Z[order], d1.Z[order]
    codes_sorted = d0.group_codes[order]
    mean_sorted = X_sorted @ ef0.beta
    root = _psd_root(ef0.G)
    sd = float(np.sqrt(ef0.sigma2))
    J, q0 = ef0.cross_products.n_groups, ef0.cross_products.n_random
    n = d0.n_obs
    rng = np.random.default_rng(seed)

    boot = np.full(n_boot, np.nan)
    started = time.perf_counter()
    with SingleThreadedBlas():
        for b in tqdm(range(n_boot), disable=not progress, desc="bootstrap"):
            u = rng.standard_normal((J, q0)) @ root.T
            y = (
                mean_sorted
                + np.einsum("nq,nq->n", Z0_sorted, u[codes_sorted])
                + sd * rng.standard_normal(n)
            )
            fit0 = fit_mixed_model(
                _with_outcome(ef0.cross_products, y, X_sorted, Z0_sorted, starts),
                ef0.structure,
                reml,
                start=ef0.theta,
            )
            fit1 = fit_mixed_model(
                _with_outcome(ef1.cross_products, y, X_sorted, Z1_sorted, starts),
                ef1.structure,
                reml,
                start=ef1.theta,
            )
            if fit0.converged and fit1.converged:
                lr = fit0.deviance - fit1.deviance
                boot[b] = lr if lr >= _LR_ZERO else 0.0
    seconds = time.perf_counter() - started
    usable = boot[np.isfinite(boot)]
    if usable.size == 0:
        raise ModelInputError(
            "No bootstrap refit converged; the models are too complex for these data. "
            "Simplify the random part (fewer random slopes or covariance='vc')."
        )
    p = (1.0 + float(np.sum(usable >= observed))) / (usable.size + 1.0)
    return BootstrapLRTest(
        statistic=observed,
        p_value=p,
        boot_statistics=boot,
        n_boot=int(usable.size),
        n_failed=int(n_boot - usable.size),
        p_value_mixture=test.p_value,
        p_value_naive=test.p_value_naive,
        df=test.df,
        method=test.method,
        seed=seed,
        seconds=seconds,
        reference=_reference_words(test),
    )


def _reference_words(test: LikelihoodRatioTest) -> str:
    """How a test's asymptotic p-value was obtained, in a few words."""
    if isinstance(test, BoundaryLRTest):
        return "chi-bar-square mixture " + "/".join(f"{w:g}" for w in test.weights)
    return "50:50 mixture" if test.mixture else f"plain chi2({test.df}), no mixture,"


# ---------------------------------------------------------------------------------------------
# Profile-likelihood confidence intervals
# ---------------------------------------------------------------------------------------------
class _Profile:
    """The (RE)ML deviance profiled over all covariance parameters but one.

    Parameters are the free elements of G and sigma2. For a fixed value of the
    profiled parameter the others are written through a Cholesky factor of G
    whose rows and columns are permuted so that the profiled element comes
    first: fixing a variance fixes ``L[0, 0]``, fixing a covariance fixes
    ``L[1, 0] L[0, 0]``, and the rest of ``L`` (diagonal >= 0) and
    ``log sigma2`` are free, which keeps G positive semi-definite without
    constraints. The minimisation uses the engine's exact gradient.
    """

    def __init__(self, fit: EngineFit, index: int) -> None:
        self.cp = fit.cross_products
        self.structure: CovarianceStructure = fit.structure
        self.reml = fit.reml
        self.q = self.structure.q
        self.index = index
        self.estimates = fit.covparm_estimates.copy()
        self.evaluations = 0
        self.min_excess = 0.0
        target = fit.covparm_index[index]
        if target is None:
            self.kind, first = "sigma2", []
        elif target[0] == target[1]:
            self.kind, first = "variance", [target[0]]
        else:
            self.kind, first = "covariance", [target[1], target[0]]
        self.perm = np.array(first + [k for k in range(self.q) if k not in first])
        rows, cols = np.tril_indices(self.q)
        if self.structure.kind == "vc":
            rows, cols = np.arange(self.q), np.arange(self.q)
        pattern = list(zip(rows.tolist(), cols.tolist(), strict=True))
        fixed = {"variance": [(0, 0)], "covariance": [(1, 0)], "sigma2": []}[self.kind]
        self.free = [rc for rc in pattern if rc not in fixed]
        self.free_rows = np.array([r for r, _ in self.free], dtype=int)
        self.free_cols = np.array([c for _, c in self.free], dtype=int)
        self.n_free_L = len(self.free)
        self.off = self.structure.rows != self.structure.cols
        self.scale = float(np.sqrt(fit.sigma2))
        self.deviance_hat = self.full_deviance(self.estimates)
        self.solutions: list[tuple[float, np.ndarray]] = [(self.estimates[index], self._start())]

    # -- the unprofiled deviance in (G free elements, sigma2) ---------------------------------
    def full_deviance(self, params: np.ndarray) -> float:
        return full_deviance(params, self.cp, self.structure, self.reml)

    def _start(self) -> np.ndarray:
        """Nuisance parameters at the estimates."""
        G = self.structure.unpack(self.estimates[:-1])[np.ix_(self.perm, self.perm)]
        jitter = 1e-10 * max(float(np.max(np.diag(G))), self.scale**2)
        L = np.linalg.cholesky(G + jitter * np.eye(self.q))
        phi = L[self.free_rows, self.free_cols]
        if self.kind != "sigma2":
            phi = np.r_[phi, np.log(self.estimates[-1])]
        return phi

    def _params(self, phi: np.ndarray, value: float) -> tuple[np.ndarray, np.ndarray, float]:
        L = np.zeros((self.q, self.q))
        L[self.free_rows, self.free_cols] = phi[: self.n_free_L]
        if self.kind == "variance":
            L[0, 0] = np.sqrt(max(value, 0.0))
        elif self.kind == "covariance":
            L[1, 0] = value / L[0, 0]
        sigma2 = value if self.kind == "sigma2" else float(np.exp(phi[-1]))
        Gp = L @ L.T
        G = np.empty_like(Gp)
        G[np.ix_(self.perm, self.perm)] = Gp
        return np.r_[self.structure.pack(G), sigma2], L, sigma2

    def _objective(self, phi: np.ndarray, value: float) -> tuple[float, np.ndarray]:
        self.evaluations += 1
        params, L, sigma2 = self._params(phi, value)
        dev = self.full_deviance(params)
        if not np.isfinite(dev):
            return 1e300, np.zeros_like(phi)
        g = full_deviance_gradient(params, self.cp, self.structure, self.reml)
        S = self.structure.unpack(np.where(self.off, 0.5, 1.0) * g[:-1])
        Sp = S[np.ix_(self.perm, self.perm)]
        dL = 2.0 * Sp @ L  # d deviance / d L, since dG = dL L' + L dL'
        grad = dL[self.free_rows, self.free_cols]
        if self.kind == "covariance":  # L[1, 0] = value / L[0, 0] moves with L[0, 0]
            k = self.free.index((0, 0))
            grad[k] -= dL[1, 0] * value / L[0, 0] ** 2
        if self.kind != "sigma2":
            grad = np.r_[grad, g[-1] * sigma2]
        return dev, grad

    def profiled(self, value: float) -> float:
        """min over the other parameters of the deviance, with the profiled one at ``value``."""
        start = min(self.solutions, key=lambda s: abs(s[0] - value))[1].copy()
        bounds = [(0.0, None) if r == c else (None, None) for r, c in self.free]
        if self.kind != "sigma2":
            bounds.append((None, None))
        if self.kind == "covariance":
            k = self.free.index((0, 0))
            bounds[k] = (1e-8 * self.scale, None)
            start[k] = max(start[k], np.sqrt(abs(value)) * 1e-2, 1e-6 * self.scale)
        result = optimize.minimize(
            self._objective,
            start,
            args=(value,),
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 5000, "maxls": 50},
        )
        self.solutions.append((value, result.x))
        return float(result.fun)

    def excess(self, value: float) -> float:
        """Rise of the profiled deviance above its minimum."""
        rise = self.profiled(value) - self.deviance_hat
        self.min_excess = min(self.min_excess, rise)
        return rise


def _bound(
    profile: _Profile, side: int, cutoff: float, se: float, estimate: float
) -> tuple[float, bool]:
    """One end of the interval: (value, reaches_zero). Works on the SD scale for variances."""
    positive = profile.kind in ("variance", "sigma2")

    def to_value(x: float) -> float:
        return x * x if positive else x

    x_hat = np.sqrt(max(estimate, 0.0)) if positive else estimate
    if positive:
        step = se / (2.0 * x_hat) if x_hat > 0 and np.isfinite(se) else np.nan
        if not np.isfinite(step) or step <= 0:
            step = 0.1 * profile.scale
    else:
        step = se if np.isfinite(se) and se > 0 else 0.1 * profile.scale**2
    step *= stats.norm.ppf(0.5 + 0.5 * stats.chi2.cdf(cutoff, 1))  # ~1.96 for 95%

    def h(x: float) -> float:
        return profile.excess(to_value(x)) - cutoff

    inside = x_hat  # a point inside the interval (h < 0)
    if side < 0 and profile.kind == "variance" and (x_hat <= 0 or h(0.0) <= 0):
        return 0.0, True
    x = x_hat + side * step
    for _ in range(60):
        if positive and x <= 0:
            x = inside / 4.0 if profile.kind == "sigma2" else 0.0
        hx = h(x)
        if hx > 0:
            break
        inside = x
        step *= 2.0
        x = inside + side * step
    else:  # pragma: no cover - the deviance always rises far from the estimate
        raise ModelInputError("The profile likelihood does not rise; the interval is unbounded.")
    lo, hi = sorted((inside, x))
    root = optimize.brentq(h, lo, hi, xtol=1e-10 * max(abs(x_hat), profile.scale), rtol=1e-12)
    return to_value(root), False


class ProfileInterval(NamedTuple):
    """A profile-likelihood confidence interval of one covariance parameter."""

    parameter: str
    estimate: float
    lower: float
    upper: float
    reaches_zero: bool
    level: float


def profile_ci(fit: HLMResult, parameter: str, level: float = 0.95) -> ProfileInterval:
    """Profile-likelihood confidence interval of one covariance parameter.

    The interval holds the values ``v`` at which the (RE)ML deviance, minimised
    over all other covariance parameters with the parameter held at ``v``,
    rises at most ``chi2_1(level)`` (3.84 for 95%) above its minimum. Unlike
    estimate ± 1.96 SE it is not symmetric, and a variance's interval stops
    at zero: a lower bound of exactly 0 (``reaches_zero``) means the data are
    consistent with no variation between schools.

    Parameters
    ----------
    fit : HLMResult
        A converged fit.
    parameter : str
        A row label of ``fit.covariance``, e.g. ``"Var(Intercept)"``,
        ``"Cov(Intercept, ses)"`` or ``"Residual"``.
    level : float
        Confidence level.

    Returns
    -------
    ProfileInterval
        ``parameter``, ``estimate``, ``lower``, ``upper``, ``reaches_zero``
        (True when a variance's interval reaches 0, its lower bound) and ``level``.

    Notes
    -----
    The deviance is the fit's own: REML for a REML fit. R's
    ``confint(fit, method = "profile")`` profiles the ML deviance even for a
    REML fit (lme4 refits by ML first), so its intervals match those of
    ``method="ML"`` here, not of REML.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> m = hlm.fit_hlm(hlm.load_hsb(), "mathach ~ 1", group="school")
    >>> ci = profile_ci(m, "Var(Intercept)")
    >>> round(ci.estimate, 3), round(ci.lower, 3), round(ci.upper, 3)
    (8.614, 6.777, 11.08)
    """
    _require_fit(fit, "fit")
    labels = list(fit.covariance.index)
    if not isinstance(parameter, str) or parameter not in labels:
        raise ModelInputError(
            f"Unknown covariance parameter {parameter!r} (argument parameter); this model has "
            f"{labels}."
        )
    level = require_probability(level, "level")
    if not fit.converged:
        raise ModelInputError(
            "The fit did not converge, so its likelihood has no verified maximum to profile "
            "from. Simplify the model first (see fit.warnings)."
        )
    index = labels.index(parameter)
    cutoff = float(stats.chi2.ppf(level, 1))
    estimate = float(fit.covariance["estimate"].iloc[index])
    se = float(fit.covariance["se"].iloc[index])
    with SingleThreadedBlas():
        profile = _Profile(fit.engine_fit, index)
        lower, at_zero = _bound(profile, -1, cutoff, se, estimate)
        upper, _ = _bound(profile, +1, cutoff, se, estimate)
    if profile.min_excess < -1e-6:
        warnings.warn(
            f"Profiling {parameter} found a deviance {-profile.min_excess:.3g} below the fit's: "
            "the fit is not at the maximum likelihood, so this interval is unreliable. "
            "Refit the model (or simplify it) and profile again.",
            stacklevel=2,
        )
    return ProfileInterval(parameter, estimate, float(lower), float(upper), bool(at_zero), level)


def profile_intervals(fit: HLMResult, level: float = 0.95) -> pd.DataFrame:
    """Profile-likelihood intervals of every covariance parameter, next to Wald intervals.

    Parameters
    ----------
    fit : HLMResult
        A converged fit.
    level : float
        Confidence level.

    Returns
    -------
    DataFrame
        One row per parameter of ``fit.covariance``: ``estimate``, ``lower``,
        ``upper`` (profile likelihood), ``wald_lower``, ``wald_upper``
        (estimate ± z SE, which can go below zero for a variance) and
        ``reaches_zero`` (the profile interval of a variance includes 0).

    Examples
    --------
    >>> import hlmteach as hlm
    >>> m = hlm.fit_hlm(hlm.load_hsb(), "mathach ~ 1", group="school")
    >>> profile_intervals(m)[["lower", "upper"]].round(2)
                    lower  upper
    parameter
    Var(Intercept)   6.78  11.08
    Residual        37.88  40.47
    """
    _require_fit(fit, "fit")
    level = require_probability(level, "level")
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    rows = [profile_ci(fit, name, level) for name in fit.covariance.index]
    table = pd.DataFrame(rows).drop(columns="level").set_index("parameter")
    se = fit.covariance["se"].to_numpy()
    table["wald_lower"] = table["estimate"] - z * se
    table["wald_upper"] = table["estimate"] + z * se
    return table[["estimate", "lower", "upper", "wald_lower", "wald_upper", "reaches_zero"]]
