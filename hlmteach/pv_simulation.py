"""Why plausible values must be pooled: a coverage simulation with known truth.

:func:`simulate_pv_coverage` draws many small TIMSS-like samples (students in
schools, a 0/1 background variable such as ``college``) in which the true
within-school effect is known. Each student's proficiency is measured with
error, and five plausible values are drawn from each student's posterior
distribution, as TIMSS makes them: a conditioning model (the school and the
background variable) is fitted to the observed scores, and for every
plausible value its parameters are drawn from their posterior before the
proficiencies are (a *proper* imputation, Rubin 1987).

Each sample is then analysed four ways: with the true proficiency (which no
analyst has), with the first plausible value only, with the average of the
plausible values, and with all of them pooled by Rubin's rules
(:func:`hlmteach.plausible.rubin_pool`). Over the replications, the table
compares each way's average reported standard error with the real spread of
its estimates and counts how often its 95% interval covers the true effect.

The analysis model is the random-intercept model with the group-mean centred
predictor and its school mean (notebook 09). With equal school sizes its REML
estimate of the within-school effect is the school-dummies (fixed-effects)
OLS estimate, and its SE uses the within-school residual variance: both have
closed forms, so every replication is a few array operations and the whole
study runs in well under a second.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .plausible import _pool
from .validation import (
    ModelInputError,
    require_choice,
    require_integer,
    require_positive,
    require_seed,
)

__all__ = ["PVCoverage", "simulate_pv_coverage", "simulate_pv_sample"]

#: The analyses compared, in the order of the table.
ANALYSES: tuple[str, ...] = (
    "true proficiency (not available)",
    "first plausible value only",
    "average of the plausible values",
    "all plausible values, Rubin's rules",
)


@dataclass
class PVCoverage:
    """The result of :func:`simulate_pv_coverage`.

    Attributes
    ----------
    table : DataFrame
        One row per analysis (:data:`ANALYSES`); columns ``mean_estimate``,
        ``mean_se`` (the average reported SE), ``empirical_sd`` (the SD of the
        estimates over the replications), ``se_ratio`` (``mean_se /
        empirical_sd``: 1 when the reported SEs are right, below 1 when they are
        too small), ``coverage`` (the share of 95% intervals that contain the
        true effect) and ``mean_sigma2`` (the average estimate of the
        within-school residual variance of proficiency).
    true_effect, true_sigma2 : float
        The true within-school effect and residual variance.
    settings : dict
        The arguments of the call.
    estimates, lower, upper : DataFrame
        Each replication's estimate and the ends of its 95% interval (rows) by
        analysis (columns).
    """

    table: pd.DataFrame
    true_effect: float
    true_sigma2: float
    settings: dict = field(default_factory=dict)
    estimates: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    lower: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    upper: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    def __str__(self) -> str:
        s = self.settings
        head = (
            f"{s['replications']} simulated samples of {s['n_schools']} schools x "
            f"{s['n_students']} students, reliability {s['reliability']:g} given the "
            f"conditioning model ({s['conditioning']}), {s['m']} plausible values; true "
            f"within-school effect {self.true_effect:g}, true sigma2 {self.true_sigma2:g}"
        )
        return head + "\n" + self.table.to_string(float_format=lambda v: f"{v:.3f}")


def _check_arguments(
    reliability: object,
    n_schools: object,
    n_students: object,
    replications: object,
    m: object,
    conditioning: object,
) -> tuple[float, int, int, int, int, str]:
    rel = require_positive(reliability, "reliability")
    if not rel < 1:
        raise ModelInputError(
            f"reliability must lie strictly between 0 and 1 (the share of the score's "
            f"conditional variance that is proficiency); got {reliability!r}. Use e.g. 0.6 "
            "for a short test, 0.9 for a long one."
        )
    schools = require_integer(n_schools, "n_schools", minimum=4)
    students = require_integer(n_students, "n_students", minimum=2)
    reps = require_integer(replications, "replications", minimum=20)
    pvs = require_integer(m, "m", minimum=2)
    cond = require_choice(conditioning, ("school", "none"), "conditioning")
    if reps * schools * students * pvs > 5e7:
        raise ModelInputError(
            f"{reps} replications of {schools} x {students} students with {pvs} plausible "
            "values would need several GB of memory; use fewer replications or smaller "
            "samples (the defaults run in well under a second)."
        )
    return rel, schools, students, reps, pvs, cond


def _school_means(values: np.ndarray) -> np.ndarray:
    """Means over the last axis (students), kept as an axis for broadcasting."""
    return values.mean(axis=-1, keepdims=True)


def _within_fit(y: np.ndarray, c_within: np.ndarray, s_cc: np.ndarray, df: int):
    """Within-school slope, its SE and the residual variance, per replication.

    ``y`` has shape (R, J, n) or (M, R, J, n); ``c_within`` (R, J, n) is the
    group-mean centred predictor and ``s_cc`` (R,) its sum of squares. Computed
    from sums (``c_within`` sums to zero in every school, so ``y`` need not be
    centred for the cross-product), without temporary arrays of the data's size.
    """
    lead = "m" if y.ndim == 4 else ""
    cross = np.einsum(f"{lead}rjn,rjn->{lead}r", y, c_within)
    squares = np.einsum(f"{lead}rjn,{lead}rjn->{lead}r", y, y)
    school_sums = y.sum(axis=-1)
    between = np.einsum(f"{lead}rj,{lead}rj->{lead}r", school_sums, school_sums) / y.shape[-1]
    slope = cross / s_cc
    sigma2 = (squares - between - slope * cross) / df
    return slope, np.sqrt(sigma2 / s_cc), sigma2


def _draw_plausible_values(
    rng: np.random.Generator,
    score: np.ndarray,
    college: np.ndarray,
    error_variance: float,
    m: int,
    conditioning: str,
) -> np.ndarray:
    """M proper posterior draws of proficiency given the observed score, shape (M, R, J, n).

    The conditioning model regresses the score on the school (fixed effects) and
    college (``conditioning="school"``), or on college only (``"none"``). For each
    plausible value its residual variance and coefficients are drawn from their
    posterior (flat prior), then proficiency from its normal posterior given the
    score, as in TIMSS's scaling but with a linear, normal measurement model.
    """
    reps, n_schools, n_students = score.shape
    if conditioning == "school":
        c_within = college - _school_means(college)
        s_cc = (c_within**2).sum(axis=(1, 2))
        slope, _, s2 = _within_fit(score, c_within, s_cc, score[0].size - n_schools - 1)
        df = score[0].size - n_schools - 1
    else:
        flat_c, flat_x = college.reshape(reps, -1), score.reshape(reps, -1)
        c_dev = flat_c - flat_c.mean(axis=1, keepdims=True)
        s_cc = (c_dev**2).sum(axis=1)
        slope = (c_dev * flat_x).sum(axis=1) / s_cc
        residual = flat_x - flat_x.mean(axis=1, keepdims=True) - slope[:, None] * c_dev
        df = flat_x.shape[1] - 2
        s2 = (residual**2).sum(axis=1) / df
    s2_draw = s2 * df / rng.chisquare(df, size=(m, reps))
    # the posterior variance of proficiency must stay positive; a draw below the
    # measurement variance (vanishingly rare for these sample sizes) is floored
    theta_var = np.maximum(s2_draw - error_variance, 1e-3 * s2_draw)
    rho = theta_var / s2_draw
    slope_draw = slope + np.sqrt(s2_draw / s_cc) * rng.standard_normal((m, reps))
    if conditioning == "school":
        # given the slope, each school's intercept: its mean score minus the slope times
        # its mean college, with variance s2 / n
        intercept = (
            _school_means(score)[..., 0] - slope_draw[..., None] * _school_means(college)[..., 0]
        ) + np.sqrt(s2_draw[..., None] / n_students) * rng.standard_normal((m, reps, n_schools))
    else:
        # the line's height at the mean of college, variance s2 / N; one intercept for all
        n = score[0].size
        centre = score.reshape(reps, -1).mean(axis=1) + np.sqrt(s2_draw / n) * rng.standard_normal(
            (m, reps)
        )
        mean_c = college.reshape(reps, -1).mean(axis=1)
        intercept = (centre - slope_draw * mean_c)[..., None]
    # posterior mean rho * score + (1 - rho) * (intercept_j + slope * college), plus a normal
    # draw; built in place, one plausible value at a time, so that no temporary array of the
    # full (M, R, J, n) size is made
    draws = rng.standard_normal((m, *score.shape))
    for k in range(m):
        rho_k = rho[k][:, None, None]
        draws[k] *= np.sqrt((1 - rho_k) * theta_var[k][:, None, None])
        draws[k] += rho_k * score
        draws[k] += ((1 - rho[k])[:, None] * intercept[k])[..., None]
        draws[k] += ((1 - rho[k]) * slope_draw[k])[:, None, None] * college
    return draws


def _simulate_arrays(
    rng: np.random.Generator,
    reps: int,
    n_schools: int,
    n_students: int,
    within_effect: float,
    between_effect: float,
    tau00: float,
    sigma2: float,
    error_variance: float,
):
    """College (0/1), proficiency and observed score, each of shape (R, J, n)."""
    share = rng.uniform(0.05, 0.65, size=(reps, n_schools, 1))
    college = (rng.random((reps, n_schools, n_students)) < share).astype(float)
    school_share = _school_means(college)
    school_effect = np.sqrt(tau00) * rng.standard_normal((reps, n_schools, 1))
    theta = (
        within_effect * (college - school_share)
        + between_effect * school_share
        + school_effect
        + np.sqrt(sigma2) * rng.standard_normal(college.shape)
    )
    score = theta + np.sqrt(error_variance) * rng.standard_normal(college.shape)
    return college, theta, score


def simulate_pv_sample(
    reliability: float = 0.6,
    n_schools: int = 50,
    n_students: int = 20,
    m: int = 5,
    conditioning: str = "school",
    seed: int | None = 1995,
) -> pd.DataFrame:
    """One simulated sample of :func:`simulate_pv_coverage`, as a data frame.

    Columns ``school``, ``college``, ``theta`` (the true proficiency), ``score``
    (observed with error) and ``pv1`` .. ``pvM``. Useful to fit the analysis
    model with :func:`hlmteach.fit_hlm` or any other program.

    Examples
    --------
    >>> sample = simulate_pv_sample(n_schools=10, n_students=5, seed=1)
    >>> sample.shape, list(sample.columns[:4])
    ((50, 9), ['school', 'college', 'theta', 'score'])
    """
    rel, schools, students, _, pvs, cond = _check_arguments(
        reliability, n_schools, n_students, 20, m, conditioning
    )
    rng = np.random.default_rng(require_seed(seed))
    college, theta, score, pv = _simulate(rng, 1, schools, students, pvs, rel, cond)
    frame = pd.DataFrame(
        {
            "school": np.repeat(np.arange(1, schools + 1), students),
            "college": college.ravel(),
            "theta": theta.ravel(),
            "score": score.ravel(),
        }
    )
    for k in range(pvs):
        frame[f"pv{k + 1}"] = pv[k].ravel()
    return frame


#: The data-generating values (z-score units, close to the course's US data).
WITHIN_EFFECT, BETWEEN_EFFECT, TAU00, SIGMA2 = 0.15, 1.2, 0.2, 0.45


def _simulate(rng, reps, schools, students, pvs, rel, cond):
    error_variance = SIGMA2 * (1 - rel) / rel
    college, theta, score = _simulate_arrays(
        rng, reps, schools, students, WITHIN_EFFECT, BETWEEN_EFFECT, TAU00, SIGMA2, error_variance
    )
    pv = _draw_plausible_values(rng, score, college, error_variance, pvs, cond)
    return college, theta, score, pv


def simulate_pv_coverage(
    reliability: float = 0.6,
    n_schools: int = 50,
    n_students: int = 20,
    replications: int = 1000,
    m: int = 5,
    conditioning: str = "school",
    seed: int | None = 1995,
) -> PVCoverage:
    """Coverage of first-PV, averaged-PV and Rubin-pooled analyses, with known truth.

    In each replication, ``n_schools`` schools of ``n_students`` students are
    drawn; each school has its own share of students with a college-educated
    parent. Proficiency (z-score units, like the course's ``math``) is

    ``theta = 0.15 (college - school share) + 1.2 school share + u_j + r_ij``,

    with ``Var(u_j) = 0.2`` and ``Var(r_ij) = 0.45``: a within-school effect of
    0.15 and a contextual effect, as in the course's US data. The observed score
    adds measurement error whose variance makes ``reliability`` the share of the
    score's variance *given the conditioning model* that is proficiency
    (``0.45 / (0.45 + error variance)``). The ``m`` plausible values are proper
    posterior draws (see the module docstring).

    Parameters
    ----------
    reliability : float
        Between 0 and 1: about 0.9 for the course's synthetic TIMSS data, 0.6
        for a short test (a booklet with few items).
    n_schools, n_students : int
        Schools per sample and students per school (equal sizes).
    replications : int
        Number of simulated samples (at least 20).
    m : int
        Number of plausible values.
    conditioning : {"school", "none"}
        The conditioning model: the school (fixed effects) and college, as TIMSS
        and the course's generator condition; or college only, ignoring the
        schools (to see what an incongruent conditioning model does).
    seed : int or None
        Seed of the random numbers.

    Returns
    -------
    PVCoverage

    Raises
    ------
    ModelInputError
        For a reliability outside (0, 1), too few schools, students, plausible
        values or replications, an unknown conditioning, or a study too large
        for memory.

    Examples
    --------
    >>> result = simulate_pv_coverage(replications=200, seed=3)
    >>> table = result.table
    >>> bool(table.loc["first plausible value only", "se_ratio"] < 0.8)
    True
    >>> bool(abs(table.loc["all plausible values, Rubin's rules", "se_ratio"] - 1) < 0.15)
    True
    """
    rel, schools, students, reps, pvs, cond = _check_arguments(
        reliability, n_schools, n_students, replications, m, conditioning
    )
    rng = np.random.default_rng(require_seed(seed))
    college, theta, _, pv = _simulate(rng, reps, schools, students, pvs, rel, cond)

    c_within = college - _school_means(college)
    s_cc = (c_within**2).sum(axis=(1, 2))
    df = schools * students - schools - 1
    critical = stats.t.ppf(0.975, df)

    fits = {
        ANALYSES[0]: _within_fit(theta, c_within, s_cc, df),
        ANALYSES[2]: _within_fit(pv.mean(axis=0), c_within, s_cc, df),
    }
    pv_slope, pv_se, pv_sigma2 = _within_fit(pv, c_within, s_cc, df)
    fits[ANALYSES[1]] = (pv_slope[0], pv_se[0], pv_sigma2[0])
    pooled = _pool(pv_slope, pv_se**2, np.full(reps, float(df)), None)
    half_widths = {name: critical * se for name, (_, se, _) in fits.items()}
    fits[ANALYSES[3]] = (
        pooled["estimate"].to_numpy(),
        pooled["se"].to_numpy(),
        pv_sigma2.mean(axis=0),
    )
    half_widths[ANALYSES[3]] = stats.t.ppf(0.975, pooled["df"].to_numpy()) * fits[ANALYSES[3]][1]

    rows = {}
    for name in ANALYSES:
        estimate, se, sigma2 = fits[name]
        spread = estimate.std(ddof=1)
        rows[name] = {
            "mean_estimate": estimate.mean(),
            "mean_se": se.mean(),
            "empirical_sd": spread,
            "se_ratio": se.mean() / spread,
            "coverage": np.mean(np.abs(estimate - WITHIN_EFFECT) <= half_widths[name]),
            "mean_sigma2": sigma2.mean(),
        }
    table = pd.DataFrame(rows).T
    table.index.name = "analysis"
    return PVCoverage(
        table=table,
        true_effect=WITHIN_EFFECT,
        true_sigma2=SIGMA2,
        settings={
            "reliability": rel,
            "n_schools": schools,
            "n_students": students,
            "replications": reps,
            "m": pvs,
            "conditioning": cond,
            "seed": seed,
        },
        estimates=pd.DataFrame({name: fits[name][0] for name in ANALYSES}),
        lower=pd.DataFrame({name: fits[name][0] - half_widths[name] for name in ANALYSES}),
        upper=pd.DataFrame({name: fits[name][0] + half_widths[name] for name in ANALYSES}),
    )
