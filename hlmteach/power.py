"""How many schools? Power and sample size of a two-level cluster-randomised trial.

Whole schools are randomised, half to a treatment and half to control, and every student
of a school gets the same condition. With J schools of n students each, an intraclass
correlation ρ and a standardised effect δ (the difference in means divided by the
outcome's total SD, sqrt(τ00 + σ²)), the treatment effect's t statistic follows a
noncentral t distribution with J − 2 degrees of freedom and noncentrality

    Δ = δ / sqrt(4 (ρ + (1 − ρ)/n) / J)

(Raudenbush 1997, Psychological Methods 2:173–185). A school-level covariate that
explains a share R²_b of the between-school variance (and a student-level one that
explains R²_w of the within-school variance) replaces ρ by ρ(1 − R²_b) and (1 − ρ) by
(1 − ρ)(1 − R²_w), at the cost of one degree of freedom per school-level covariate
(Bloom 2006; the formulas of Optimal Design and PowerUp!).

- :func:`cluster_trial_power`: the closed-form power;
- :func:`minimum_detectable_effect`: the smallest δ found with the given power;
- :func:`schools_needed`: the smallest even J that reaches the given power;
- :func:`power_curve`: power over a range of J or of n, the others held fixed;
- :func:`effective_sample_size`: J n / design effect;
- :func:`simulate_cluster_trial`: a Monte-Carlo check that fits each simulated trial with
  ``hlm.fit_hlm`` (or, for speed, the exactly equivalent t test on the school means).

The closed form agrees with R's ``power.t.test`` on school means and with R's noncentral t
(``tests/reference/power.R``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .validation import (
    ModelInputError,
    require_choice,
    require_integer,
    require_positive,
    require_probability,
    require_seed,
)

__all__ = [
    "PowerSimulation",
    "cluster_trial_noncentrality",
    "cluster_trial_power",
    "effective_sample_size",
    "minimum_detectable_effect",
    "power_curve",
    "schools_needed",
    "simulate_cluster_trial",
]


@dataclass(frozen=True)
class _Design:
    n_schools: int
    school_size: int
    icc: float
    r2_between: float
    r2_within: float
    n_covariates: int
    alpha: float

    @property
    def df(self) -> int:
        return self.n_schools - 2 - self.n_covariates

    @property
    def effect_variance(self) -> float:
        """Variance of the estimated effect, in units of the outcome's total variance."""
        between = self.icc * (1.0 - self.r2_between)
        within = (1.0 - self.icc) * (1.0 - self.r2_within) / self.school_size
        return 4.0 * (between + within) / self.n_schools


def _share(value: object, argument: str) -> float:
    """A share of variance: at least 0 and below 1."""
    share = require_positive(value, argument, allow_zero=True)
    if share >= 1.0:
        raise ModelInputError(
            f"The argument {argument} must be at least 0 and below 1 (a share of variance; "
            f"some of it must remain unexplained), not {value!r}."
        )
    return share


def _covariates(n_covariates: object, r2_between: object) -> int:
    """The school-level covariates: as given, or by default 1 if r2_between > 0, else 0."""
    if n_covariates is None:
        return int(_share(r2_between, "r2_between") > 0)
    return require_integer(n_covariates, "n_covariates", 0)


def _design(
    n_schools: object,
    school_size: object,
    icc: object,
    r2_between: object = 0.0,
    r2_within: object = 0.0,
    n_covariates: object = 0,
    alpha: object = 0.05,
) -> _Design:
    """Check a design's arguments; ``n_covariates=None`` means 1 if r2_between > 0, else 0."""
    n_schools = require_integer(n_schools, "n_schools", 4)
    if n_schools % 2:
        raise ModelInputError(
            f"The argument n_schools must be even (a balanced trial puts half the schools in "
            f"each arm), not {n_schools}; use {n_schools + 1} or {n_schools - 1}."
        )
    school_size = require_integer(school_size, "school_size", 1)
    icc = _share(icc, "icc")
    alpha = require_probability(alpha, "alpha")
    n_covariates = _covariates(n_covariates, r2_between)
    design = _Design(
        n_schools,
        school_size,
        icc,
        _share(r2_between, "r2_between"),
        _share(r2_within, "r2_within"),
        n_covariates,
        alpha,
    )
    if design.df < 1:
        raise ModelInputError(
            f"{n_schools} schools with {n_covariates} school-level covariate(s) leave "
            f"{design.df} degrees of freedom (J - 2 - covariates); use more schools."
        )
    if n_covariates == 0 and design.r2_between > 0:
        raise ModelInputError(
            "r2_between > 0 needs a school-level covariate: pass n_covariates=1 (or more), "
            "which costs one degree of freedom each."
        )
    return design


def _power(design: _Design, effect_size: float) -> float:
    ncp = effect_size / np.sqrt(design.effect_variance)
    critical = stats.t.ppf(1.0 - design.alpha / 2.0, design.df)
    return float(_two_sided(np.array([critical]), np.array([design.df]), np.array([ncp]))[0])


def cluster_trial_noncentrality(
    effect_size: float,
    n_schools: int,
    school_size: int,
    icc: float,
    r2_between: float = 0.0,
    r2_within: float = 0.0,
) -> float:
    """The noncentrality Δ = δ / sqrt(4 (ρ(1 − R²_b) + (1 − ρ)(1 − R²_w)/n) / J).

    Examples
    --------
    >>> round(cluster_trial_noncentrality(0.4, 40, 20, 0.1), 3)
    3.322
    """
    design = _design(n_schools, school_size, icc, r2_between, r2_within, int(r2_between > 0))
    effect_size = _effect(effect_size)
    return float(effect_size / np.sqrt(design.effect_variance))


def _effect(effect_size: object) -> float:
    return require_positive(effect_size, "effect_size", allow_zero=True)


def cluster_trial_power(
    effect_size: float,
    n_schools: int,
    school_size: int,
    icc: float,
    alpha: float = 0.05,
    r2_between: float = 0.0,
    r2_within: float = 0.0,
    n_covariates: int | None = None,
) -> float:
    """Power of the two-sided t test of a balanced two-arm cluster-randomised trial.

    Parameters
    ----------
    effect_size : float
        δ, the difference in means in units of the outcome's total SD (at least 0).
    n_schools : int
        J, the number of schools (even; half are treated).
    school_size : int
        n, students per school.
    icc : float
        ρ = τ00 / (τ00 + σ²), between 0 and 1.
    alpha : float
        Two-sided significance level.
    r2_between, r2_within : float
        Shares of the between-school and within-school variance explained by covariates.
    n_covariates : int, optional
        School-level covariates (each costs a degree of freedom); by default 1 if
        ``r2_between > 0``, else 0.

    Returns
    -------
    float
        The probability of p < alpha: P(|t| > t_crit), the t statistic following a
        noncentral t(J − 2 − covariates, Δ).

    Examples
    --------
    >>> round(cluster_trial_power(0.4, 40, 20, 0.1), 4)
    0.8992
    >>> round(cluster_trial_power(0.4, 40, 20, 0.1, r2_between=0.5), 4)
    0.9791
    >>> cluster_trial_power(0.4, 41, 20, 0.1)
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: The argument n_schools must be even (a balanced trial
    puts half the schools in each arm), not 41; use 42 or 40.
    """
    design = _design(n_schools, school_size, icc, r2_between, r2_within, n_covariates, alpha)
    return _power(design, _effect(effect_size))


def minimum_detectable_effect(
    n_schools: int,
    school_size: int,
    icc: float,
    power: float = 0.8,
    alpha: float = 0.05,
    r2_between: float = 0.0,
    r2_within: float = 0.0,
    n_covariates: int | None = None,
    method: str = "noncentral t",
) -> float:
    """The minimum detectable effect size (MDES): the δ found with the given power.

    Parameters
    ----------
    n_schools, school_size, icc, alpha, r2_between, r2_within, n_covariates
        As for :func:`cluster_trial_power`.
    power : float
        The power wanted (between alpha and 1).
    method : {"noncentral t", "multiplier"}
        ``"noncentral t"`` solves the power equation exactly (as Optimal Design does);
        ``"multiplier"`` uses Bloom's (2006) approximation
        MDES = (t_{1−α/2} + t_{power}) × SE, both t with J − 2 − covariates df
        (PowerUp!'s formula), within about 0.001 of the exact value for 10 or more df.

    Returns
    -------
    float

    Examples
    --------
    >>> round(minimum_detectable_effect(40, 20, 0.1), 4)
    0.3462
    >>> round(minimum_detectable_effect(40, 20, 0.1, method="multiplier"), 4)
    0.3463
    """
    design = _design(n_schools, school_size, icc, r2_between, r2_within, n_covariates, alpha)
    power = require_probability(power, "power")
    if not design.alpha < power < 1:
        raise ModelInputError(
            f"The argument power must lie between alpha ({design.alpha}) and 1, not {power}."
        )
    method = require_choice(method, ("noncentral t", "multiplier"), "method")
    se = np.sqrt(design.effect_variance)
    multiplier = stats.t.ppf(1 - design.alpha / 2, design.df) + stats.t.ppf(power, design.df)
    if method == "multiplier":
        return float(multiplier * se)
    return float(
        optimize.brentq(lambda d: _power(design, d) - power, 0.0, 2 * multiplier * se, xtol=1e-12)
    )


def schools_needed(
    effect_size: float,
    school_size: int,
    icc: float,
    power: float = 0.8,
    alpha: float = 0.05,
    r2_between: float = 0.0,
    r2_within: float = 0.0,
    n_covariates: int | None = None,
    max_schools: int = 10_000,
) -> int:
    """The smallest even number of schools whose trial has at least the given power.

    Examples
    --------
    >>> schools_needed(0.4, 20, 0.1)
    32
    >>> schools_needed(0.4, 1000, 0.1)  # more students per school barely help
    22
    """
    effect = _effect(effect_size)
    if effect == 0:
        raise ModelInputError("An effect_size of 0 is never detected with more than alpha power.")
    power = require_probability(power, "power")
    max_schools = require_integer(max_schools, "max_schools", 4)
    covariates = _covariates(n_covariates, r2_between)
    smallest = max(4, 3 + covariates + (3 + covariates) % 2)  # even, with df >= 1
    first = _design(smallest, school_size, icc, r2_between, r2_within, covariates, alpha)
    if max_schools >= smallest:
        grid = np.arange(smallest, max_schools + 1, 2)
        reached = _power_over_schools(first, effect, grid) >= power
        if reached.any():
            return int(grid[np.argmax(reached)])
    raise ModelInputError(
        f"Even {max_schools} schools do not reach power {power}; the effect is too small for "
        "this design (raise max_schools to search further)."
    )


#: What :func:`power_curve` can vary, and the column it names.
CURVE_OVER = ("n_schools", "school_size")


def power_curve(
    effect_size: float,
    n_schools: int,
    school_size: int,
    icc: float,
    over: str = "n_schools",
    values: object = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Power over a range of numbers of schools (or of school sizes), the rest held fixed.

    Parameters
    ----------
    effect_size, n_schools, school_size, icc, alpha
        As for :func:`cluster_trial_power`; the one named by ``over`` is replaced by ``values``.
    over : {"n_schools", "school_size"}
        What varies.
    values : sequence of int, optional
        Its values; by default even J from 4 to 200, or n from 1 to 100.

    Returns
    -------
    DataFrame
        Columns ``over`` and ``power``; for ``over="school_size"`` also ``ceiling``, the
        power that no school size can exceed (n → ∞: Δ = δ / sqrt(4ρ/J)).

    Examples
    --------
    >>> curve = power_curve(0.4, 40, 20, 0.1, over="school_size", values=[5, 20, 1000])
    >>> curve.round(3).to_dict("list")
    {'school_size': [5, 20, 1000], 'power': [0.644, 0.899, 0.973], 'ceiling': [0.974, 0.974, 0.974]}
    """
    over = require_choice(over, CURVE_OVER, "over")
    if values is None:
        values = np.arange(4, 201, 2) if over == "n_schools" else np.arange(1, 101)
    grid = np.array([require_integer(int(v), over, 1) for v in np.asarray(values).ravel()])
    effect = _effect(effect_size)
    if over == "n_schools":
        for j in {int(grid.min()), int(grid.max())}:
            _design(j, school_size, icc, alpha=alpha)  # checks the range once
        if (grid % 2).any():
            raise ModelInputError("The values of n_schools must all be even (balanced trials).")
        base = _design(int(grid[0]), school_size, icc, alpha=alpha)
        return pd.DataFrame({over: grid, "power": _power_over_schools(base, effect, grid)})
    designs = [_design(n_schools, int(v), icc, alpha=alpha) for v in grid]
    df = float(designs[0].df)
    ncp = effect / np.sqrt([d.effect_variance for d in designs])
    critical = stats.t.ppf(1.0 - designs[0].alpha / 2.0, df)
    table = pd.DataFrame({over: grid, "power": _two_sided(critical, df, ncp)})
    icc = designs[0].icc
    ceiling_ncp = effect / np.sqrt(4 * icc / designs[0].n_schools) if icc > 0 else np.inf
    ceiling = _two_sided(np.array([critical]), np.array([df]), np.array([ceiling_ncp]))
    table["ceiling"] = float(ceiling[0])
    return table


def _power_over_schools(design: _Design, effect: float, n_schools: np.ndarray) -> np.ndarray:
    """Power of ``design`` with each number of schools in ``n_schools``, vectorised."""
    df = n_schools - 2.0 - design.n_covariates
    ncp = effect / np.sqrt(design.effect_variance * design.n_schools / n_schools)
    return _two_sided(stats.t.ppf(1.0 - design.alpha / 2.0, df), df, ncp)


def _two_sided(critical: np.ndarray, df: np.ndarray, ncp: np.ndarray) -> np.ndarray:
    """P(|T| > critical) for T noncentral t(df, ncp).

    Where scipy's noncentral t fails in one tail (NaN: a very large ncp, or the far
    tail of a few df, where P(T < -c) is below 1e-17), the normal approximation
    P(T > c) = Φ((ncp − c) / sqrt(1 + c²/(2 df))) stands in for that tail alone (for the
    far tail, no more than its bound Φ(−ncp)), so that a tail of 1e-18 cannot replace an
    exact power by an approximate one.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        spread = np.sqrt(1.0 + critical**2 / (2.0 * df))
        upper = stats.nct.sf(critical, df, ncp)
        upper = np.where(np.isfinite(upper), upper, stats.norm.cdf((ncp - critical) / spread))
        lower = stats.nct.cdf(-critical, df, ncp)
        # T < -c needs Z + ncp < 0, so Phi(-ncp) bounds that tail (the approximation alone
        # is 1.6e-7 where the tail is 1e-18, with 2 df).
        bound = np.minimum(stats.norm.cdf((-ncp - critical) / spread), stats.norm.cdf(-ncp))
        lower = np.where(np.isfinite(lower), lower, bound)
    power = upper + lower
    return np.clip(np.where(np.isinf(ncp), 1.0, power), 0.0, 1.0)


def effective_sample_size(n_schools: int, school_size: int, icc: float) -> float:
    """J n / (1 + (n − 1) ρ): as many independent students as the trial is worth.

    Examples
    --------
    >>> round(effective_sample_size(40, 20, 0.1), 1)
    275.9
    """
    from .simulation import design_effect

    n_schools = require_integer(n_schools, "n_schools", 1)
    school_size = require_integer(school_size, "school_size", 1)
    icc = _share(icc, "icc")
    return float(n_schools * school_size / design_effect(icc, school_size))


@dataclass(frozen=True)
class PowerSimulation:
    """A Monte-Carlo estimate of a cluster-randomised trial's power.

    Attributes
    ----------
    power : float
        Share of simulated trials with p < alpha.
    monte_carlo_se : float
        sqrt(power (1 − power) / n_reps).
    closed_form : float
        :func:`cluster_trial_power` for the same design.
    trials : DataFrame
        One row per simulated trial: ``estimate``, ``se``, ``p``, ``tau00``.
    method : str
        ``"hlm"`` (each trial fitted by ``hlm.fit_hlm``) or ``"school means"``.
    """

    power: float
    monte_carlo_se: float
    closed_form: float
    trials: pd.DataFrame
    method: str


def simulate_cluster_trial(
    effect_size: float,
    n_schools: int,
    school_size: int,
    icc: float,
    n_reps: int = 100,
    alpha: float = 0.05,
    seed: int | None = 2026,
    method: str = "hlm",
) -> PowerSimulation:
    """Simulate balanced cluster-randomised trials and count how often p < alpha.

    Each trial draws school effects u_j ~ N(0, ρ) and student residuals r_ij ~ N(0, 1 − ρ)
    (total variance 1), adds δ to the treated half of the schools, and tests the treatment
    effect with the random-intercept model ``y ~ treated`` (REML, between-within df J − 2).

    Parameters
    ----------
    effect_size, n_schools, school_size, icc, alpha
        As for :func:`cluster_trial_power`.
    n_reps : int
        Simulated trials.
    seed : int or None
        Seed of the random numbers; the same seed gives the same trials for both methods.
    method : {"hlm", "school means"}
        ``"hlm"`` fits every trial with ``hlm.fit_hlm`` (about 20 ms each).
        ``"school means"`` runs the two-sample t test on the schools' means, vectorised:
        for a balanced design it gives the same estimate and, whenever the REML estimate of
        τ00 is above 0, the same p-value as the random-intercept model. The first k trials
        are the same for every ``n_reps`` of at least k, so a large fast simulation can be
        checked against a small one fitted by ``fit_hlm``.

    Returns
    -------
    PowerSimulation

    Examples
    --------
    >>> sim = simulate_cluster_trial(0.5, 20, 10, 0.1, n_reps=20, seed=1)
    >>> sim.power, round(sim.closed_form, 3)
    (0.75, 0.68)
    >>> fast = simulate_cluster_trial(0.5, 20, 10, 0.1, n_reps=20, seed=1, method="school means")
    >>> bool(np.allclose(fast.trials["estimate"], sim.trials["estimate"]))
    True
    """
    effect = _effect(effect_size)
    design = _design(n_schools, school_size, icc, alpha=alpha)
    n_reps = require_integer(n_reps, "n_reps", 1)
    seed = require_seed(seed)
    method = require_choice(method, ("hlm", "school means"), "method")
    J, n = design.n_schools, design.school_size
    rng = np.random.default_rng(seed)
    treated = np.tile([0.0, 1.0], J // 2)
    # one row of draws per trial, so the first k trials are the same whatever n_reps is
    draws = rng.standard_normal((n_reps, J * (n + 1)))
    u = np.sqrt(design.icc) * draws[:, :J]
    r = np.sqrt(1.0 - design.icc) * draws[:, J:].reshape(n_reps, J, n)
    y = (u + effect * treated)[:, :, None] + r
    test = _fit_trials if method == "hlm" else _school_mean_t_tests
    trials = test(y, treated)
    rejected = trials["p"] < design.alpha
    share = float(rejected.mean())
    return PowerSimulation(
        power=share,
        monte_carlo_se=float(np.sqrt(share * (1 - share) / n_reps)),
        closed_form=_power(design, effect),
        trials=trials,
        method=method,
    )


def _fit_trials(y: np.ndarray, treated: np.ndarray) -> pd.DataFrame:
    from .models import fit_hlm

    n_reps, J, n = y.shape
    frame = pd.DataFrame({"school": np.repeat(np.arange(J), n), "treated": np.repeat(treated, n)})
    rows = []
    for rep in range(n_reps):
        frame["y"] = y[rep].ravel()
        fit = fit_hlm(frame, "y ~ treated", group="school")
        row = fit.fixed.loc["treated"]
        rows.append((row["estimate"], row["se"], row["p"], float(fit.tau.iloc[0, 0])))
    return pd.DataFrame(rows, columns=["estimate", "se", "p", "tau00"])


def _school_mean_t_tests(y: np.ndarray, treated: np.ndarray) -> pd.DataFrame:
    """The pooled-variance two-sample t test on school means, for every trial at once."""
    means = y.mean(axis=2)
    groups = [means[:, treated == arm] for arm in (0.0, 1.0)]
    J = means.shape[1]
    estimate = groups[1].mean(axis=1) - groups[0].mean(axis=1)
    pooled = (groups[0].var(axis=1, ddof=1) + groups[1].var(axis=1, ddof=1)) / 2
    se = np.sqrt(pooled * 4 / J)
    p = 2 * stats.t.sf(np.abs(estimate / se), J - 2)
    within = y.var(axis=2, ddof=1).mean(axis=1)
    tau00 = np.maximum(pooled - within / y.shape[2], 0.0)
    return pd.DataFrame({"estimate": estimate, "se": se, "p": p, "tau00": tau00})
