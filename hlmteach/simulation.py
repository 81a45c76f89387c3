"""Teaching simulations: why clustered data need a multilevel model, and what shrinkage does.

:func:`simulate_false_positives` shows the price of ignoring schools. Students
are simulated in schools whose intercepts vary (the ICC), with a school-level
predictor that has **no** effect. OLS treats the students as independent, its
standard error of the school-level slope is too small by about the square root
of the design effect ``1 + (m - 1) ICC`` (:func:`design_effect`), and it
declares the useless predictor "significant" far more often than ``alpha``.
The random-intercept model, fitted with the package's own engine on arrays
(:mod:`hlmteach.engine`), keeps the false-positive rate near ``alpha``.

:func:`simulate_school_means` draws schools with known true means and shows
the empirical Bayes (EB) estimate that the known variance components imply:
each observed school mean is pulled toward the grand mean by its reliability.

:func:`simulate_eblup_tests` asks what SAS's per-school t-tests of EBLUPs and their
±1.96·StdErr Pred bars mean: how many schools look "significant" when schools
differ by ``tau00`` (none when they do not differ at all), and how often the bars
cover the schools' true effects.

All are seeded and fast enough to rerun in a notebook or a widget.
"""

from __future__ import annotations

import numbers
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .engine import CovarianceStructure, CrossProducts, fit_mixed_model
from .validation import (
    ModelInputError,
    require_flag,
    require_integer,
    require_positive,
    require_probability,
    require_seed,
)

__all__ = [
    "design_effect",
    "school_sizes_around",
    "simulate_eblup_tests",
    "simulate_false_positives",
    "simulate_school_means",
]


def design_effect(icc: float | np.ndarray, cluster_size: float | np.ndarray) -> float | np.ndarray:
    """Kish's design effect of cluster sampling, ``1 + (m - 1) ICC``.

    The factor by which clustering inflates the sampling variance of a mean (and
    of the slope of a cluster-level predictor) compared with a simple random
    sample of the same number of students. Its square root is how many times
    too small the naive OLS standard error is.

    Parameters
    ----------
    icc : float or array_like
        Intraclass correlation(s), between 0 and 1.
    cluster_size : float or array_like
        Students per school, at least 1. Broadcast against ``icc``.

    Returns
    -------
    float or ndarray
        A float for scalar input, else an array of the broadcast shape.

    Raises
    ------
    ModelInputError
        If an ICC is not a number in [0, 1] or a cluster size is below 1.

    Examples
    --------
    >>> design_effect(0.2, 50)
    10.8
    >>> design_effect(np.array([0.0, 0.1, 0.3]), 21).tolist()
    [1.0, 3.0, 7.0]
    """
    icc_arr = _real_array(icc, "icc")
    size_arr = _real_array(cluster_size, "cluster_size")
    if np.any((icc_arr < 0) | (icc_arr > 1)):
        raise ModelInputError(
            f"The argument icc is a proportion of variance: it must lie in [0, 1], got {icc}."
        )
    if np.any(size_arr < 1):
        raise ModelInputError(
            f"The argument cluster_size must be at least 1 (students per school), got "
            f"{cluster_size}."
        )
    try:
        icc_arr, size_arr = np.broadcast_arrays(icc_arr, size_arr)
    except ValueError as exc:
        raise ModelInputError(
            f"icc (shape {icc_arr.shape}) and cluster_size (shape {size_arr.shape}) cannot be "
            "broadcast together; give one of them as a single number, or arrays that line up."
        ) from exc
    deff = 1.0 + (size_arr - 1.0) * icc_arr
    return float(deff) if deff.ndim == 0 else deff


def _real_array(value: object, argument: str) -> np.ndarray:
    """Finite real numbers (a number or an array of them); text, booleans and NaN are refused."""
    try:
        array = np.asarray(value)
    except ValueError:  # ragged nested lists
        array = np.asarray(None)
    if array.dtype == bool or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise ModelInputError(
            f"The argument {argument} must be a number or an array of numbers, not "
            f"{type(value).__name__} ({value!r})."
        )
    array = array.astype(float)
    if not np.isfinite(array).all():
        raise ModelInputError(f"The argument {argument} must be finite numbers, got {value!r}.")
    return array


def _check_sizes(school_sizes: object, minimum: int) -> np.ndarray:
    sizes = np.atleast_1d(np.asarray(school_sizes))
    if (
        sizes.size == 0
        or sizes.dtype == bool
        or not np.issubdtype(sizes.dtype, np.integer)
        or np.any(sizes < minimum)
    ):
        raise ModelInputError(
            f"The argument school_sizes must be whole numbers of students, each at least "
            f"{minimum}, got {school_sizes}."
        )
    return sizes.astype(int)


def _check_false_positive_args(
    iccs: Sequence[float],
    school_sizes: Sequence[int],
    n_schools: int,
    n_reps: int,
    alpha: float,
) -> tuple[np.ndarray, np.ndarray]:
    icc_arr = np.atleast_1d(_real_array(iccs, "iccs"))
    if icc_arr.ndim != 1 or icc_arr.size == 0 or np.any((icc_arr < 0) | (icc_arr >= 1)):
        raise ModelInputError(
            f"The argument iccs must be a non-empty list of values in [0, 1), got {iccs}; an "
            "ICC of 1 would leave no variation within schools."
        )
    size_arr = _check_sizes(school_sizes, 2)
    if (
        isinstance(n_schools, numbers.Integral)
        and not isinstance(n_schools, bool)
        and n_schools < 4
    ):
        raise ModelInputError(
            f"The argument n_schools must be at least 4 (the school-level test has "
            f"n_schools - 2 df), got {n_schools}."
        )
    require_integer(n_schools, "n_schools", 4)
    require_integer(n_reps, "n_reps", 1)
    require_probability(alpha, "alpha")
    return icc_arr, size_arr


def _one_cell(
    rng: np.random.Generator,
    icc: float,
    school_size: int,
    n_schools: int,
    n_reps: int,
    alpha: float,
    bar: Any,
) -> dict[str, float | int]:
    """Simulate one (ICC, school size) cell and summarise its replications."""
    J, m = n_schools, school_size
    n = J * m
    groups = np.repeat(np.arange(J), m)
    Z = np.ones((n, 1))
    structure = CovarianceStructure("un", 1)
    t_ols = stats.t.ppf(1 - alpha / 2, n - 2)
    t_hlm = stats.t.ppf(1 - alpha / 2, J - 2)  # between-within df of a school-level predictor
    tau_sd, sigma_sd = np.sqrt(icc), np.sqrt(1.0 - icc)

    ols_estimate = np.empty(n_reps)
    ols_se = np.empty(n_reps)
    hlm_estimate = np.empty(n_reps)
    hlm_se = np.empty(n_reps)
    icc_hat = np.empty(n_reps)
    converged = np.empty(n_reps, dtype=bool)
    for r in range(n_reps):
        w = rng.standard_normal(J)  # the school-level predictor, with no effect on y
        y = tau_sd * rng.standard_normal(J)[groups] + sigma_sd * rng.standard_normal(n)
        X = np.column_stack([np.ones(n), w[groups]])
        # OLS with its naive (independent-students) standard error.
        XtX_inv = np.linalg.inv(X.T @ X)
        beta = XtX_inv @ (X.T @ y)
        resid = y - X @ beta
        ols_estimate[r] = beta[1]
        ols_se[r] = np.sqrt(resid @ resid / (n - 2) * XtX_inv[1, 1])
        # The random-intercept model, straight from the engine.
        fit = fit_mixed_model(CrossProducts.from_arrays(y, X, Z, groups), structure)
        hlm_estimate[r] = fit.beta[1]
        hlm_se[r] = np.sqrt(fit.cov_beta[1, 1])
        icc_hat[r] = fit.G[0, 0] / (fit.G[0, 0] + fit.sigma2)
        converged[r] = fit.converged
        bar.update(1)
    ols_rate = float(np.mean(np.abs(ols_estimate / ols_se) > t_ols))
    hlm_rate = float(np.mean(np.abs(hlm_estimate / hlm_se) > t_hlm))
    deff = float(design_effect(icc, m))
    mean_ols_se = float(ols_se.mean())
    empirical_sd = float(ols_estimate.std(ddof=1)) if n_reps > 1 else float("nan")
    return {
        "icc": float(icc),
        "school_size": int(m),
        "n_schools": int(J),
        "n_students": int(n),
        "n_reps": int(n_reps),
        "design_effect": deff,
        "ols_rate": ols_rate,
        "ols_mcse": float(np.sqrt(ols_rate * (1 - ols_rate) / n_reps)),
        "hlm_rate": hlm_rate,
        "hlm_mcse": float(np.sqrt(hlm_rate * (1 - hlm_rate) / n_reps)),
        "ols_se": mean_ols_se,
        "hlm_se": float(hlm_se.mean()),
        "empirical_sd": empirical_sd,
        "se_ratio": empirical_sd / mean_ols_se,
        "sqrt_design_effect": float(np.sqrt(deff)),
        "hlm_se_ratio": float(hlm_se.mean()) / mean_ols_se,
        "mean_icc_estimate": float(icc_hat.mean()),
        "hlm_not_converged": int((~converged).sum()),
    }


def simulate_false_positives(
    iccs: Sequence[float] = (0.0, 0.1, 0.2, 0.3),
    school_sizes: Sequence[int] = (5, 20, 50),
    n_schools: int = 40,
    n_reps: int = 100,
    alpha: float = 0.05,
    seed: int | None = 1995,
    progress: bool = True,
) -> pd.DataFrame:
    """How often OLS and HLM call a useless school-level predictor "significant".

    For every combination of ICC and school size, ``n_reps`` data sets are
    simulated: ``n_schools`` schools of equal size ``m``, school intercepts
    ``u_j ~ N(0, ICC)``, student residuals ``e_ij ~ N(0, 1 - ICC)`` (total
    variance 1) and a school-level predictor ``w_j ~ N(0, 1)`` whose true
    effect is zero. Each data set is analysed twice:

    - OLS of ``y`` on ``w``, with the naive standard error that treats the
      students as independent and ``N - 2`` df;
    - the random-intercept model ``y ~ w`` with random school intercepts (REML,
      the package's engine), whose t-test of the school-level ``w`` has the
      between-within df ``J - 2`` (SAS ``DDFM=BW``).

    A test rejects when its two-sided p-value is below ``alpha``; the true
    effect is zero, so every rejection is a false positive.

    Parameters
    ----------
    iccs : sequence of float
        Intraclass correlations to simulate, each in [0, 1).
    school_sizes : sequence of int
        Students per school, ``m`` (each at least 2).
    n_schools : int
        Schools per data set, ``J`` (at least 4).
    n_reps : int
        Simulated data sets per cell. The Monte-Carlo SE of a rate near
        ``alpha = 0.05`` is ``sqrt(0.05 * 0.95 / n_reps)``: 0.022 with the
        default 100, 0.015 with 200.
    alpha : float
        Nominal level of the tests.
    seed : int or None
        Seed of ``np.random.default_rng``. Each cell gets its own child generator
        spawned from it (by the cell's position in the grid, ICCs outermost), so
        the same seed and grid always give the same table.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    DataFrame
        One row per cell, with columns:

        - ``icc``, ``school_size``, ``n_schools``, ``n_students``, ``n_reps``;
        - ``design_effect``: ``1 + (m - 1) ICC`` (:func:`design_effect`);
        - ``ols_rate``, ``hlm_rate``: share of data sets with p < alpha;
        - ``ols_mcse``, ``hlm_mcse``: their Monte-Carlo standard errors,
          ``sqrt(rate (1 - rate) / n_reps)``;
        - ``ols_se``, ``hlm_se``: mean standard error of the slope of ``w``;
        - ``empirical_sd``: SD of the OLS slope over the data sets, its true
          sampling SD (OLS and GLS slopes coincide in this balanced design);
        - ``se_ratio``: ``empirical_sd / ols_se``, how many times too small the
          naive OLS SE is, to compare with ``sqrt_design_effect``;
        - ``hlm_se_ratio``: ``hlm_se / ols_se``, the inflation HLM applies;
        - ``mean_icc_estimate``: mean REML estimate of the ICC;
        - ``hlm_not_converged``: HLM fits that failed the engine's checks.

        ``attrs`` holds ``alpha``, ``seed`` and the run time in ``seconds``.

    Notes
    -----
    With the defaults (12 cells of 100 data sets, 1200 REML fits) the run takes
    about 4 seconds. At ICC = 0 the HLM test is slightly conservative (a rate
    somewhat below ``alpha``): the REML estimate of tau00 is often positive
    although the true value is zero, and the test uses only ``J - 2`` df.

    Examples
    --------
    >>> res = simulate_false_positives(iccs=(0.0, 0.3), school_sizes=(20,), n_schools=20,
    ...                                n_reps=40, seed=1, progress=False)
    >>> res[["icc", "school_size", "design_effect"]].values.tolist()
    [[0.0, 20.0, 1.0], [0.3, 20.0, 6.7]]
    >>> bool(res.loc[1, "ols_rate"] > res.loc[1, "hlm_rate"])
    True
    """
    from tqdm.auto import tqdm

    icc_arr, size_arr = _check_false_positive_args(iccs, school_sizes, n_schools, n_reps, alpha)
    seed = require_seed(seed)
    require_flag(progress, "progress")
    cells = [(float(icc), int(m)) for icc in icc_arr for m in size_arr]
    children = np.random.SeedSequence(seed).spawn(len(cells))
    start = time.perf_counter()
    rows = []
    with tqdm(
        total=len(cells) * int(n_reps), disable=not progress, desc="simulated data sets"
    ) as bar:
        for (icc, m), child in zip(cells, children, strict=True):
            rng = np.random.default_rng(child)
            rows.append(_one_cell(rng, icc, m, int(n_schools), int(n_reps), alpha, bar))
    frame = pd.DataFrame(rows)
    frame.attrs.update(
        {"alpha": float(alpha), "seed": seed, "seconds": time.perf_counter() - start}
    )
    return frame


def _school_sizes(school_sizes: int | Sequence[int], n_schools: int) -> np.ndarray:
    return np.resize(_check_sizes(school_sizes, 1), n_schools)


_SIZE_SPREAD = (0.25, 0.5, 1.0, 1.25, 2.0)  # multiples of the average size; their mean is 1


def school_sizes_around(average_size: int) -> tuple[int, ...]:
    """Five school sizes, from a quarter to twice ``average_size``, that average about it.

    The sizes are ``average_size`` times 0.25, 0.5, 1, 1.25 and 2 (multiples whose
    mean is 1), rounded half up and at least 2 students. Schools of different
    sizes have different reliabilities, so in :func:`simulate_school_means` (and
    the shrinkage widget) the small schools are pulled further toward the grand
    mean than the large ones. The rounding and the floor of 2 move the average a
    little, most for very small averages (4 gives a mean of 4.2).

    Parameters
    ----------
    average_size : int
        The average number of students per school (at least 2).

    Returns
    -------
    tuple of int
        Five sizes, smallest first; pass them as ``school_sizes``.

    Examples
    --------
    >>> school_sizes_around(19)
    (5, 10, 19, 24, 38)
    >>> school_sizes_around(4)
    (2, 2, 4, 5, 8)
    >>> school_sizes_around(1)
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: The argument average_size must be a whole number of at
    least 2, not 1.
    """
    average_size = require_integer(average_size, "average_size", 2)
    return tuple(max(2, int(np.floor(average_size * f + 0.5))) for f in _SIZE_SPREAD)


def simulate_school_means(
    tau00: float,
    sigma2: float,
    n_schools: int = 30,
    school_sizes: int | Sequence[int] = (2, 5, 10, 25, 50),
    gamma00: float = 0.0,
    seed: int | None = 1995,
) -> pd.DataFrame:
    """Schools with known true means, their observed means and their EB estimates.

    Each school ``j`` has a true mean ``gamma00 + u_j`` with ``u_j ~ N(0, tau00)``
    and ``n_j`` students scoring ``N(true mean, sigma2)``; its observed (OLS)
    mean is the average of its students. With the variance components known,
    the empirical Bayes estimate pulls the observed mean toward the grand mean
    by the school's reliability:

    ``lambda_j = tau00 / (tau00 + sigma2 / n_j)``,
    ``EB_j = lambda_j * mean_j + (1 - lambda_j) * grand mean``,

    where the grand mean is the precision-weighted mean of the school means,
    ``sum(mean_j / (tau00 + sigma2 / n_j)) / sum(1 / (tau00 + sigma2 / n_j))``
    (the GLS estimate of ``gamma00`` given tau00 and sigma2).

    Parameters
    ----------
    tau00 : float
        Between-school variance of the true means (0 or more).
    sigma2 : float
        Within-school variance of students' scores (more than 0).
    n_schools : int
        Number of schools.
    school_sizes : int or sequence of int
        Students per school: one size for all, or sizes assigned to the schools in
        turn (school 1 gets the first, school 2 the second, ... and round again).
    gamma00 : float
        The true grand mean.
    seed : int or None
        Seed of ``np.random.default_rng``.

    Returns
    -------
    DataFrame
        One row per school: ``school`` (1..J), ``n``, ``true_mean``,
        ``observed_mean``, ``reliability`` (lambda_j), ``grand_mean`` and ``eb``.
        ``attrs`` holds ``tau00``, ``sigma2``, ``icc``, ``gamma00`` and ``grand_mean``.

    Examples
    --------
    >>> sim = simulate_school_means(tau00=0.2, sigma2=0.8, n_schools=5, school_sizes=(4, 40))
    >>> sim["n"].tolist(), sim["reliability"].round(3).tolist()
    ([4, 40, 4, 40, 4], [0.5, 0.909, 0.5, 0.909, 0.5])
    >>> sim.attrs["icc"]
    0.2
    """
    tau00 = require_positive(tau00, "tau00 (a variance)", allow_zero=True)
    sigma2 = require_positive(sigma2, "sigma2 (a variance)")
    n_schools = require_integer(n_schools, "n_schools", 2)
    gamma00 = _real_array(gamma00, "gamma00")
    if gamma00.ndim != 0:
        raise ModelInputError(f"The argument gamma00 must be one number, got {gamma00.tolist()}.")
    gamma00 = float(gamma00)
    seed = require_seed(seed)
    n = _school_sizes(school_sizes, n_schools)
    rng = np.random.default_rng(seed)
    true_mean = gamma00 + np.sqrt(tau00) * rng.standard_normal(n.size)
    scores = np.repeat(true_mean, n) + np.sqrt(sigma2) * rng.standard_normal(int(n.sum()))
    observed = np.add.reduceat(scores, np.r_[0, np.cumsum(n)[:-1]]) / n
    sampling_var = sigma2 / n
    precision = 1.0 / (tau00 + sampling_var)
    grand_mean = float(np.sum(precision * observed) / np.sum(precision))
    reliability = tau00 / (tau00 + sampling_var)
    frame = pd.DataFrame(
        {
            "school": np.arange(1, n.size + 1),
            "n": n,
            "true_mean": true_mean,
            "observed_mean": observed,
            "reliability": reliability,
            "grand_mean": grand_mean,
            "eb": reliability * observed + (1.0 - reliability) * grand_mean,
        }
    )
    frame.attrs.update(
        {
            "tau00": float(tau00),
            "sigma2": float(sigma2),
            "icc": float(tau00 / (tau00 + sigma2)),
            "gamma00": float(gamma00),
            "grand_mean": grand_mean,
        }
    )
    return frame


def simulate_eblup_tests(
    tau00: float,
    sigma2: float = 0.9,
    n_schools: int = 150,
    school_size: int = 19,
    n_reps: int = 200,
    z: float = 1.96,
    seed: int | None = 1995,
) -> pd.DataFrame:
    """Per-school tests and prediction intervals of EBLUPs, in simulated balanced schools.

    Each replicate draws ``n_schools`` schools of ``school_size`` students,
    ``y_ij = u_j + r_ij`` with ``u_j ~ N(0, tau00)`` and ``r_ij ~ N(0, sigma2)``,
    and fits the random-intercept model by REML. For balanced schools REML has a
    closed form (the one-way ANOVA estimator, set to 0 when it is negative, with
    ``sigma2`` then estimated from all students), so every replicate is fitted at
    once, without an optimiser. From the estimates come each school's EBLUP
    ``u_hat_j = lambda_hat (ybar_j - ybar)`` and its prediction standard error (SAS's
    StdErr Pred, including the uncertainty of the estimated mean),
    ``sqrt(tau_hat (1 - lambda_hat) + lambda_hat tau_hat / n_schools)``.

    A school counts as "significant" when ``|u_hat_j| > z * StdErr Pred`` (SAS's
    t-test of the EBLUP, with ``z`` for the t quantile); an interval covers when
    ``|u_hat_j - u_j| <= z * StdErr Pred``. When ``tau_hat = 0`` every EBLUP and
    every StdErr Pred is 0: no school is significant.

    Parameters
    ----------
    tau00 : float
        True between-school variance (0 or more).
    sigma2 : float
        True within-school variance (more than 0).
    n_schools : int
        Schools per replicate (at least 2).
    school_size : int
        Students per school (at least 2).
    n_reps : int
        Number of simulated data sets (at least 1).
    z : float
        Half-width of the intervals and critical value of the tests (1.96: 95%).
    seed : int or None
        Seed of ``np.random.default_rng``.

    Returns
    -------
    DataFrame
        One row per replicate: ``tau00_hat``, ``sigma2_hat``, ``reliability``
        (the estimated lambda, the same for every school), ``significant`` (the
        number of schools with ``|t| > z``) and ``coverage`` (the share of schools
        whose true ``u_j`` lies inside ``u_hat_j ± z * StdErr Pred``). ``attrs``
        holds the arguments and the true ``reliability``
        ``tau00 / (tau00 + sigma2 / school_size)``.

    Examples
    --------
    >>> sim = simulate_eblup_tests(tau00=0.0, n_reps=50, seed=1995)
    >>> int(sim["significant"].sum())  # schools that do not differ: none is "significant"
    0
    >>> sim = simulate_eblup_tests(tau00=0.2, n_reps=50, seed=1)
    >>> round(sim.attrs["reliability"], 2), bool(abs(sim["coverage"].mean() - 0.95) < 0.01)
    (0.81, True)
    """
    tau00 = require_positive(tau00, "tau00 (a variance)", allow_zero=True)
    sigma2 = require_positive(sigma2, "sigma2 (a variance)")
    n_schools = require_integer(n_schools, "n_schools", 2)
    school_size = require_integer(school_size, "school_size", 2)
    n_reps = require_integer(n_reps, "n_reps", 1)
    z = require_positive(z, "z")
    seed = require_seed(seed)
    rng = np.random.default_rng(seed)
    J, n = n_schools, school_size
    u = np.sqrt(tau00) * rng.standard_normal((n_reps, J))
    scores = u[:, :, None] + np.sqrt(sigma2) * rng.standard_normal((n_reps, J, n))
    school_means = scores.mean(axis=2)
    grand_mean = school_means.mean(axis=1, keepdims=True)
    ss_within = ((scores - school_means[:, :, None]) ** 2).sum(axis=(1, 2))
    ss_between = n * ((school_means - grand_mean) ** 2).sum(axis=1)
    ms_within = ss_within / (J * (n - 1))
    tau_hat = np.maximum((ss_between / (J - 1) - ms_within) / n, 0.0)
    sigma2_hat = np.where(tau_hat > 0, ms_within, (ss_within + ss_between) / (J * n - 1))
    reliability = tau_hat / (tau_hat + sigma2_hat / n)
    eblup = reliability[:, None] * (school_means - grand_mean)
    se = np.sqrt(tau_hat * (1.0 - reliability) + reliability * tau_hat / J)[:, None]
    frame = pd.DataFrame(
        {
            "tau00_hat": tau_hat,
            "sigma2_hat": sigma2_hat,
            "reliability": reliability,
            "significant": (np.abs(eblup) > z * se).sum(axis=1),
            "coverage": (np.abs(eblup - u) <= z * se).mean(axis=1),
        }
    )
    frame.attrs.update(
        {
            "tau00": float(tau00),
            "sigma2": float(sigma2),
            "n_schools": n_schools,
            "school_size": school_size,
            "z": float(z),
            "reliability": float(tau00 / (tau00 + sigma2 / school_size)),
        }
    )
    return frame
