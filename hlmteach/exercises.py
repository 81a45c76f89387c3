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


def _ols_coefficient(country: str, term: str) -> float:
    from .data import load_timss
    from .models import fit_ols

    return float(fit_ols(load_timss(country), "math ~ college + boy").fixed.loc[term, "estimate"])


_ALL: tuple[Exercise, ...] = (
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
        "tau00 = 8.61 and sigma2 = 39.15 in R&B Table 4.2; the ICC is tau00 / (tau00 + sigma2).",
    ),
    Exercise(
        "07.3",
        "HSB random-coefficient model with group-mean-centred SES (R&B Table 4.4): what is "
        "the average within-school SES slope, gamma10? (Published: 2.19.)",
        lambda: 2.19,
        0.006,
        "Centre SES on each school's mean, then fit `mathach ~ cses` with `random=['cses']`.",
    ),
    Exercise(
        "07.4",
        "R&B Table 4.4: what is the variance of the schools' SES slopes, tau11? (Published: 0.69.)",
        lambda: 0.69,
        0.006,
        "Read the cses-by-cses entry of `tau` (or the `Var(cses)` row of `covariance`).",
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
