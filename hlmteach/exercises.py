"""Exercises with self-checks: the learner computes a number, ``hlm.check`` says if it is right.

Each exercise has a key such as ``"03.1"`` (notebook 03, exercise 1), the
question, how to compute the right answer from the course data (or the
published value it must match), a tolerance that accepts sensible rounding,
and a hint that points toward the method without giving the answer away.
A wrong answer gets the hint; a right one gets a confirmation with the
reference value.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

__all__ = ["EXERCISES", "CheckResult", "Exercise", "check", "solution_value"]


@dataclass(frozen=True)
class Exercise:
    """One self-checked exercise.

    Attributes
    ----------
    key : str
        Notebook number and exercise number, e.g. ``"03.1"``.
    question : str
        What the learner is asked to compute.
    answer : callable
        Returns the right answer (computed from the course data, or a published value).
    tolerance : float
        Largest absolute difference accepted (covers rounding to the printed digits).
    hint : str
        Shown after a wrong answer.
    """

    key: str
    question: str
    answer: Callable[[], float]
    tolerance: float
    hint: str


@dataclass(frozen=True)
class CheckResult:
    """The verdict of :func:`check`; true when the answer is right."""

    correct: bool
    message: str

    def __bool__(self) -> bool:
        return self.correct

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return self.message

    def _repr_html_(self) -> str:
        colour = "#1b7837" if self.correct else "#a6611a"
        mark = "✔" if self.correct else "✘"
        return f"<p style='color:{colour}'><b>{mark}</b> {html.escape(self.message)}</p>"


def _timss_fit(country: str, formula: str, random: tuple[str, ...] = (), covariance: str = "vc"):
    return _cached_fit(country, formula, random, covariance)


@cache
def _cached_fit(country: str, formula: str, random: tuple[str, ...], covariance: str):
    from .data import load_timss
    from .models import fit_hlm

    return fit_hlm(
        load_timss(country), formula, group="school", random=list(random), covariance=covariance
    )


@cache
def _hsb_fit(formula: str, random: tuple[str, ...] = (), method: str = "REML"):
    from .data import load_hsb
    from .models import fit_hlm

    hsb = load_hsb()
    hsb["cses"] = hsb["ses"] - hsb.groupby("school")["ses"].transform("mean")
    return fit_hlm(hsb, formula, group="school", random=list(random), method=method)


#: R&B Table 4.5: meanses and sector predict both the intercept and the cses slope.
_HSB_SLOPES_AS_OUTCOMES = "mathach ~ meanses + sector + cses + meanses:cses + sector:cses"


def _hsb_tau(formula: str, random: tuple[str, ...], term: str) -> float:
    return float(_hsb_fit(formula, random).tau.loc[term, term])


def _hsb_gamma(formula: str, random: tuple[str, ...], term: str) -> float:
    return float(_hsb_fit(formula, random).fixed.loc[term, "estimate"])


def _hsb_tau00_explained_by_meanses() -> float:
    anova = _hsb_tau("mathach ~ 1", (), "Intercept")
    return (anova - _hsb_tau("mathach ~ meanses", (), "Intercept")) / anova


def _hsb_slope_variance_lr() -> float:
    from .inference import lr_test

    fixed_slope = _hsb_fit("mathach ~ cses")
    return float(lr_test(fixed_slope, _hsb_fit("mathach ~ cses", ("cses",))).statistic)


def _ols_coefficient(country: str, term: str) -> float:
    from .data import load_timss
    from .models import fit_ols

    return float(fit_ols(load_timss(country), "math ~ college + boy").fixed.loc[term, "estimate"])


# Exercise 01 uses the published variance components of Korea's intercept-only model
# (tau00 = 0.06161, sigma2 = 0.9077, so ICC = 0.064) and its 2901 students in 150 schools.
_KOREA_ICC, _KOREA_STUDENTS, _KOREA_SCHOOLS = 0.064, 2901, 150


def _korea_design_effect() -> float:
    from .simulation import design_effect

    return float(design_effect(_KOREA_ICC, _KOREA_STUDENTS / _KOREA_SCHOOLS))


@cache
def _small_icc_ols_rate() -> float:
    from .simulation import simulate_false_positives

    result = simulate_false_positives(
        iccs=(0.05,), school_sizes=(100,), n_schools=20, n_reps=200, seed=1, progress=False
    )
    return float(result.loc[0, "ols_rate"])


_ALL: tuple[Exercise, ...] = (
    # Tolerance 0.01: a design effect rounded to two decimals (or computed with the
    # average school size rounded to 19.3) stays within it.
    Exercise(
        "01.1",
        "Korea's 2901 students sit in 150 schools, and the ICC of mathematics is 0.064. "
        "Using the average school size, what is the design effect?",
        _korea_design_effect,
        0.01,
        "The design effect is 1 + (m - 1) * ICC, where m is the number of students per school; "
        "here m is the average, students divided by schools.",
    ),
    # Tolerance 5 students: rounding the design effect to two decimals before dividing
    # moves the answer by up to about 3 students.
    Exercise(
        "01.2",
        "How many independent students are Korea's 2901 students worth for estimating the "
        "effect of a school-level predictor (the effective sample size)?",
        lambda: _KOREA_STUDENTS / _korea_design_effect(),
        5.0,
        "Divide the number of students by the design effect of exercise 01.1; "
        "the answer is a number of students, well below 2901.",
    ),
    # The rate is a multiple of 1/200; tolerance 0.006 accepts it rounded to two decimals.
    Exercise(
        "01.3",
        "ICC 0.05, 20 schools of 100 students: in what share of 200 simulated data sets "
        "(seed 1) does OLS call a useless school-level predictor significant?",
        _small_icc_ols_rate,
        0.006,
        "Run hlm.simulation.simulate_false_positives with iccs=[0.05], school_sizes=[100], "
        "n_schools=20, n_reps=200 and seed=1, and read the ols_rate column: a proportion "
        "between 0 and 1, not a percentage.",
    ),
    Exercise(
        "02.1",
        "By how many standard deviations do Korean students with a college-educated parent "
        "outscore the others, holding sex constant (OLS)? Give the coefficient.",
        lambda: _ols_coefficient("Korea", "college"),
        0.006,
        "Fit `hlm.fit_ols(timss, 'math ~ college + boy', by='country')` and read the college "
        "row of Korea's `fixed` table.",
    ),
    Exercise(
        "03.1",
        "What is the intraclass correlation of mathematics scores in US schools "
        "(intercept-only model)? Give it as a proportion, e.g. 0.25.",
        lambda: _timss_fit("USA", "math ~ 1").icc,
        0.006,
        "The ICC is tau00 / (tau00 + sigma2), the share of the total variance that lies "
        "between schools; not tau00 / sigma2.",
    ),
    Exercise(
        "03.2",
        "What does the seed's formula tau00 / sigma2 give for Korea? Compare with the ICC.",
        lambda: (lambda m: m.tau.iloc[0, 0] / m.sigma2)(_timss_fit("Korea", "math ~ 1")),
        0.006,
        "Divide the school-level variance by the student-level variance of Korea's "
        "intercept-only model.",
    ),
    Exercise(
        "04.1",
        "In the US random-coefficient model (random intercept and college slope, boy fixed, "
        "uncorrelated random effects), what is the fixed college effect?",
        lambda: float(
            _timss_fit("USA", "math ~ college + boy", ("college",)).fixed.loc["college", "estimate"]
        ),
        0.006,
        "Fit with `random=['college'], covariance='vc'` for the USA and read `fixed`.",
    ),
    Exercise(
        "05.1",
        "What is the standard deviation of the US schools' college slopes implied by the "
        "random-coefficient model (the square root of tau for college)?",
        lambda: float(
            np.sqrt(
                _timss_fit("USA", "math ~ college + boy", ("college",)).tau.loc[
                    "college", "college"
                ]
            )
        ),
        0.006,
        "Take the college-by-college entry of the fitted `tau` matrix and its square root.",
    ),
    # HSB (R&B ch. 4). 07.1-07.3 are the two-decimal values R&B print, to which converged
    # fits (ours, lme4, SPSS) round; the other answers are computed from the data. Tolerance
    # 0.006 accepts a value rounded to two decimals, or any more precise one.
    Exercise(
        "07.1",
        "HSB one-way ANOVA (R&B Table 4.2): what is the grand mean of mathematics "
        "achievement, gamma00? (Published: 12.64.)",
        lambda: 12.64,
        0.006,
        "Fit `mathach ~ 1` with `group='school'` and read the intercept.",
    ),
    Exercise(
        "07.2",
        "HSB one-way ANOVA: what share of the variance in mathematics achievement lies "
        "between schools (the ICC)? (Published: 0.18.)",
        lambda: 0.18,
        0.006,
        "The ICC is tau00 / (tau00 + sigma2): the between-school variance over the total "
        "variance, not over sigma2. Take tau00 from `fit.tau` and sigma2 from `fit.sigma2`, "
        "or read `fit.icc`.",
    ),
    Exercise(
        "07.3",
        "HSB random-coefficient model with group-mean-centred SES (R&B Table 4.4): what is "
        "the average within-school SES slope, gamma10? (Published: 2.19.)",
        lambda: 2.19,
        0.006,
        "Centre SES on each school's mean, then fit `mathach ~ cses` with `random=['cses']`.",
    ),
    # R&B print 0.68, from HLM's iterations, which stop on a small change in the likelihood;
    # the converged REML estimate is 0.694 (lme4 with tight tolerances: 0.69399). Tolerance
    # 0.015 accepts both and 0.69; it is 5% of tau11's standard error (0.28).
    Exercise(
        "07.4",
        "HSB random-coefficient model (R&B Table 4.4): what is the variance of the schools' "
        "SES slopes, tau11? (R&B print 0.68; the fully converged REML estimate rounds to 0.69.)",
        lambda: _hsb_tau("mathach ~ cses", ("cses",), "cses"),
        0.015,
        "Read the cses-by-cses entry of `tau` (or the `Var(cses)` row of `covariance`).",
    ),
    # Tolerance 0.006: the share computed from R&B's or SAS's printed tau00s (8.61 and 2.64;
    # 8.6097 and 2.6357) is 0.693-0.694, and the two-decimal 0.69 is accepted.
    Exercise(
        "07.5",
        "HSB means-as-outcomes model (R&B Table 4.3): what proportion of the between-school "
        "variance tau00 of the one-way ANOVA does the school's mean SES account for? "
        "(Published: 0.69.)",
        _hsb_tau00_explained_by_meanses,
        0.006,
        "Fit `mathach ~ meanses` with a random intercept. Subtract its tau00 from the one-way "
        "ANOVA's tau00 and divide the difference by the one-way ANOVA's tau00.",
    ),
    # Tolerance 0.1: the difference of two -2 Res Log Likelihoods printed with one decimal
    # each is off by at most 0.1.
    Exercise(
        "07.6",
        "HSB random-coefficient model: what is the likelihood-ratio statistic for the "
        "variance of the SES slopes (against the same model with a fixed cses slope)?",
        _hsb_slope_variance_lr,
        0.1,
        "Fit `mathach ~ cses` twice, with and without `random=['cses']`, and pass both to "
        "`hlm.lr_test(smaller, larger)`; the statistic is the difference of their "
        "-2 Res Log Likelihoods.",
    ),
    Exercise(
        "07.7",
        "HSB intercepts- and slopes-as-outcomes model (R&B Table 4.5): by how much is the "
        "SES slope of a Catholic school flatter or steeper than that of a public school with "
        "the same mean SES (the sector-by-cses coefficient, gamma12)? (Published: -1.64.)",
        lambda: _hsb_gamma(_HSB_SLOPES_AS_OUTCOMES, ("cses",), "sector:cses"),
        0.006,
        "Put meanses and sector in the formula, and their interactions with cses "
        "(`meanses:cses`, `sector:cses`), with `random=['cses']`; read the `sector:cses` row "
        "of `fixed`. Mind the sign.",
    ),
    # HLM prints 0.901 for this reliability; tolerance 0.006 accepts two or three decimals.
    Exercise(
        "07.8",
        "HSB one-way ANOVA: what is the average reliability of the schools' sample means "
        "as estimates of their true means? (HLM prints 0.901.)",
        lambda: float(_hsb_fit("mathach ~ 1").reliability["Intercept"]),
        0.006,
        "Each school's reliability is tau00 / (tau00 + sigma2 / n_j) for its n_j students; "
        "`fit.reliability` averages it over the schools.",
    ),
    # Tolerance 0.012: the sum of two coefficients each rounded to two decimals is off by
    # at most 0.01.
    Exercise(
        "07.9",
        "HSB intercepts- and slopes-as-outcomes model: what is the average SES slope in a "
        "Catholic school whose mean SES is 0?",
        lambda: (
            _hsb_gamma(_HSB_SLOPES_AS_OUTCOMES, ("cses",), "cses")
            + _hsb_gamma(_HSB_SLOPES_AS_OUTCOMES, ("cses",), "sector:cses")
        ),
        0.012,
        "Write out the level-2 equation of the slope, beta1j = gamma10 + gamma11 meanses_j + "
        "gamma12 sector_j, and put in sector = 1 and meanses = 0.",
    ),
)

#: Every exercise of the course, by key.
EXERCISES: dict[str, Exercise] = {e.key: e for e in _ALL}


def solution_value(key: str) -> float:
    """The right answer of an exercise (for solutions and tests).

    Examples
    --------
    >>> solution_value("07.1")
    12.64
    """
    return float(_exercise(key).answer())


def _exercise(key: str) -> Exercise:
    if key not in EXERCISES:
        raise KeyError(f"There is no exercise {key!r}; the exercises are {sorted(EXERCISES)}.")
    return EXERCISES[key]


def check(key: str, value: float) -> CheckResult:
    """Check a learner's answer to exercise ``key``.

    Parameters
    ----------
    key : str
        The exercise, e.g. ``"03.1"``.
    value : float
        The learner's answer.

    Returns
    -------
    CheckResult
        Right: a confirmation. Wrong: the hint. Not a number: what to pass.

    Examples
    --------
    >>> check("07.1", 12.64).correct
    True
    >>> check("07.1", 13.5).message.startswith("Not yet: 13.5 is not right. Hint: Fit")
    True
    """
    exercise = _exercise(key)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return CheckResult(False, f"Please give a number (you gave {value!r}).")
    if not np.isfinite(number):
        return CheckResult(False, f"Please give a finite number (you gave {value!r}).")
    right = exercise.answer()
    if abs(number - right) <= exercise.tolerance:
        return CheckResult(True, f"Right: {number:g} (reference value {right:.4g}).")
    return CheckResult(False, f"Not yet: {number:g} is not right. Hint: {exercise.hint}")
