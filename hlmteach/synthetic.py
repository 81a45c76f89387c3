"""Seeded generator of the course's SYNTHETIC TIMSS 1995 Korea/USA data set.

TIMSS student records may not be redistributed, so the course ships simulated
students instead. The generator draws, for Korea and the USA, a population of
schools, a sample of schools, classes and students from it with a synthetic
two-stage design and its weights, the students' parents' education, sex and
five plausible values of mathematics, and passes the raw records through
:func:`hlmteach.data.tidy_timss`, exactly as the reader of the real IEA files
does. Its parameters were tuned once, for the default seed, so that the seed
analysis (SAS PROC MIXED, REML, unweighted) fitted to the first plausible value
of the sample reproduces the published numbers; ``data/README.md`` tabulates
published against achieved values, and ``tests/test_synthetic.py`` checks them.
The design and the weights are SYNTHETIC too: they have the form and names of
the IEA 1995 weights, not their values.

**Sampling design.** Each country has a frame of ``pop_schools`` schools whose
grade-8 enrolments (the measure of size) are log-normal. The frame is split into
two explicit strata at its median enrolment, small and large schools, and the
small ones are over-sampled: ``small_stratum_share`` of the drawn schools come
from them although they hold far less than that share of the students. Within a
stratum, schools are drawn by systematic PPS (probability proportional to size)
from the list sorted by enrolment, with a random start; no school is large enough
to be certain. A share of the drawn schools refuse; the remaining
``n_schools`` take part, and the school weight is adjusted for the refusals
within the stratum. In a school, one or two classes are drawn with equal
probability, then (in large classes) a random subsample of students; students
whose parents did not finish college are absent on the test day more often, and
the student non-response adjustment is made within the class, separately for
students with and without a college-educated parent. The IEA weight variables
follow (lower-case raw names)::

    wgtfac1 = stratum enrolment / (drawn schools of the stratum * school enrolment)
    wgtadj1 = stratum's drawn wgtfac1 total / its participating wgtfac1 total
    wgtfac2 = classes of the grade in the school / sampled classes
    wgtadj2 = 1 (no class refused)
    wgtfac3 = class enrolment / students drawn in the class
    wgtadj3 = students drawn / students tested, in the class x college cell
    totwgt  = wgtfac1 * wgtadj1 * wgtfac2 * wgtadj2 * wgtfac3 * wgtadj3
    houwgt  = totwgt scaled to sum to the country's sample size
    senwgt  = totwgt scaled to sum to 500 in each country

and the jackknife variables pair the participating schools in their selection
order (neighbours in stratum and size): ``jkzone`` numbers the pairs, merging
neighbouring pairs when a country has more than 75, and ``jkindic`` marks one
school of each pair (a third, odd school joins the last pair with 0).

The weights are informative: larger schools have higher school means
(``size_effect``) and larger college gaps (``slope_size_effect``), and the
over-sampled small schools, whose students carry smaller weights, score lower;
students without a college-educated parent are under-represented among the tested
and carry larger weights. Weighted and unweighted estimates therefore differ
(``data/README.md`` gives the numbers).

**Scores.** One student's proficiency (in units of the merged z-score) is::

    theta = mean + u0[school] + context * (peer_share[school] - its mean)
            + educ_effect[parent_educ] + u1[school] * college + boy_effect * boy + r

where ``u0`` (school intercept), ``u1`` (school deviation of the college effect)
and ``r`` (student) are normal draws, ``u0`` and ``u1`` with a part that grows
with the log enrolment of the school, and ``peer_share`` is the share of the
school's tested students whose parents finished college. Schools differ a lot in
that share (their logit shares are normal). The contextual term makes schools with
more college-educated parents score higher over and above the students' own
parents' education: about twice as strongly in the USA as in Korea, where schools
differ much less altogether. The boy effect is the same in every school.

**Plausible values** are draws from each student's posterior, as in TIMSS, not
proficiency plus noise. The test gives an observed score ``x = theta + e`` with
measurement error ``e ~ N(0, measurement_sd**2)``. The conditioning model is a
linear regression of ``x`` on the background variables TIMSS conditions on: the
school (a fixed effect per school), parents' education (a level for unknown) and
sex, fitted by least squares in each country; its fitted values are ``mu_c`` and
its residual variance ``s2_x``. With ``s2_theta = s2_x - measurement_sd**2``, the
variance of proficiency given the conditioning variables, and the reliability
``rho = s2_theta / s2_x``, the posterior of ``theta`` is normal with mean
``mu_c + rho * (x - mu_c)`` and variance ``(1 - rho) * s2_theta``; the five
plausible values are independent draws from it. So each plausible value has
(about) the spread of ``theta``, their mean has less, analyses of one plausible
value have standard errors that are too small, and Rubin's rules over the five are
about right (``tests/test_synthetic.py`` checks this by simulation). The
conditioning parameters are estimated but not redrawn per plausible value, so the
draws are approximately, not exactly, proper.

The scores are put on the TIMSS scale and rounded to two decimals like the IEA
files.

Run ``python -m hlmteach.synthetic [PATH]`` to rewrite the shipped CSV file
(default ``data/timss_synthetic.csv`` in the repository).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .data import (
    COUNTRIES,
    DESIGN_WEIGHTS,
    OPTIONAL_DESIGN_WEIGHTS,
    PARENT_EDUCATION_LEVELS,
    PLAUSIBLE_VALUES,
    SYNTHETIC_LABEL,
    tidy_timss,
)

__all__ = [
    "COUNTRY_SPECS",
    "DEFAULT_SEED",
    "CountrySpec",
    "make_synthetic_timss",
    "write_synthetic_timss",
]

#: Seed of the shipped data set; the calibration holds for this seed.
DEFAULT_SEED = 99

#: The TIMSS-scale plausible value is ``SCALE_CENTRE + SCALE_SD * z`` before rounding.
SCALE_CENTRE = 530.0
SCALE_SD = 104.0

#: Decimals of the written plausible values (TIMSS scale) and z-scores.
PV_DECIMALS = 2
Z_DECIMALS = 6

#: Decimals of the written weights and weighting factors.
WEIGHT_DECIMALS = 6

#: Most jackknife zones in a country (TIMSS 1995 used up to 75).
MAX_JK_ZONES = 75

#: Total of the senate weight in each country.
SENATE_TOTAL = 500.0

_Z_COLUMNS = (*(f"math{k}" for k in range(1, len(PLAUSIBLE_VALUES) + 1)), "math")

#: Raw weight variables, in the order of the raw records.
_RAW_WEIGHTS = (
    "totwgt",
    "houwgt",
    "senwgt",
    "wgtfac1",
    "wgtadj1",
    "wgtfac2",
    "wgtadj2",
    "wgtfac3",
    "wgtadj3",
)

#: Tidy weight columns (from :func:`~hlmteach.data.tidy_timss`) written with WEIGHT_DECIMALS:
#: the kept IEA weights and factors, and the two that tidy_timss derives.
_TIDY_WEIGHTS = (
    *DESIGN_WEIGHTS.values(),
    *OPTIONAL_DESIGN_WEIGHTS.values(),
    "school_weight",
    "within_school_weight",
)


@dataclass(frozen=True)
class CountrySpec:
    """Parameters of one country's simulated population, sample and students.

    Sizes are exact; the score parameters are in units of the merged z-score
    (the standardisation of :func:`~hlmteach.data.tidy_timss` changes them a
    little). The simulated school effects ``u0`` and ``u1`` and the student
    deviations ``r`` are centred and scaled to the stated standard deviations in
    the sample, so these parameters are the simulated sample's own values; the
    measurement errors and the posterior draws are left as drawn.

    Attributes
    ----------
    idcntry : int
        IEA country code (410 Korea, 840 USA).
    n_students, n_schools : int
        Numbers of tested students and of participating schools.
    pop_schools : int
        Schools in the country's frame (the synthetic population).
    enrolment_median, enrolment_sdlog : float
        Median and SD of the log of the schools' grade-8 enrolment in the frame.
    small_stratum_share : float
        Share of the drawn schools taken from the stratum of small schools (the
        frame's schools below its median enrolment).
    school_response : float
        Share of the drawn schools that take part.
    class_enrolment : float
        Typical enrolment of a grade-8 class; larger classes are subsampled.
    response_college, response_other : float
        Probability that a drawn student with (without) a college-educated parent
        is tested.
    two_class_share : float
        Share of schools with two sampled classes (the others have one).
    class_size_mean, class_size_sd : float
        Mean and SD of the number of tested students in a class, before the
        sizes are scaled to add up to ``n_students``.
    min_class_size : int
        Fewest tested students in a class.
    college_share : float
        Median school share of parents who finished college (on the logit
        scale, the schools' shares are normal around ``logit(college_share)``).
    college_share_spread : float
        SD of the schools' logit shares: how segregated schools are.
    other_educ_shares : tuple of float
        Shares of middle school, high school and 2-year college among parents
        without a college degree, in a school of median college share.
    other_educ_tilt : float
        How much a school's logit college share moves the other parents from
        middle school towards 2-year college.
    missing_educ : int
        Number of students whose parents' education is unknown.
    boy_share : float
        Probability that a student is a boy.
    mean : float
        Mean proficiency of a girl whose parents finished middle school, in a
        school of average college share and average effect.
    school_sd : float
        SD of the part of the school intercepts ``u0`` unrelated to enrolment.
    size_effect : float
        Change of the school intercept per SD of the log enrolment (in the sample).
    college_slope_sd : float
        SD of the part of the school deviations ``u1`` of the college effect
        unrelated to enrolment.
    slope_size_effect : float
        Change of the school's college effect per SD of the log enrolment.
    context : float
        Effect on the school mean of the share (0 to 1) of the school's tested
        students whose parents finished college.
    educ_effects : tuple of float
        Effects of high school, 2-year college and college against middle school.
    boy_effect : float
        Effect of being a boy, the same in every school.
    student_sd : float
        SD of the students' own deviations ``r``.
    measurement_sd : float
        SD of the measurement error of the observed test score.

    Examples
    --------
    >>> COUNTRY_SPECS[0].n_students, COUNTRY_SPECS[0].n_schools
    (2901, 150)
    """

    idcntry: int
    n_students: int
    n_schools: int
    pop_schools: int
    enrolment_median: float
    enrolment_sdlog: float
    small_stratum_share: float
    school_response: float
    class_enrolment: float
    response_college: float
    response_other: float
    two_class_share: float
    class_size_mean: float
    class_size_sd: float
    min_class_size: int
    college_share: float
    college_share_spread: float
    other_educ_shares: tuple[float, float, float]
    other_educ_tilt: float
    missing_educ: int
    boy_share: float
    mean: float
    school_sd: float
    size_effect: float
    college_slope_sd: float
    slope_size_effect: float
    context: float
    educ_effects: tuple[float, float, float]
    boy_effect: float
    student_sd: float
    measurement_sd: float


#: Korea and the USA, tuned so that the seed analysis reproduces the published results.
COUNTRY_SPECS: tuple[CountrySpec, CountrySpec] = (
    CountrySpec(
        idcntry=410,
        n_students=2901,
        n_schools=150,
        pop_schools=2600,
        enrolment_median=380.0,
        enrolment_sdlog=0.6,
        small_stratum_share=0.5,
        school_response=0.97,
        class_enrolment=45.0,
        response_college=0.96,
        response_other=0.92,
        two_class_share=0.1,
        class_size_mean=17.5,
        class_size_sd=5.0,
        min_class_size=4,
        college_share=0.17,
        college_share_spread=1.3,
        other_educ_shares=(0.44, 0.48, 0.08),
        other_educ_tilt=0.4,
        missing_educ=1,
        boy_share=0.56,
        mean=0.5539,
        school_sd=0.0515,
        size_effect=0.07,
        college_slope_sd=0.0199,
        slope_size_effect=0.03,
        context=0.6564,
        educ_effects=(0.1185, 0.1994, 0.4162),
        boy_effect=0.0753,
        student_sd=0.9315,
        measurement_sd=0.27,
    ),
    CountrySpec(
        idcntry=840,
        n_students=6944,
        n_schools=183,
        pop_schools=15000,
        enrolment_median=150.0,
        enrolment_sdlog=0.8,
        small_stratum_share=0.5,
        school_response=0.85,
        class_enrolment=24.0,
        response_college=0.95,
        response_other=0.85,
        two_class_share=0.6,
        class_size_mean=23.7,
        class_size_sd=8.0,
        min_class_size=4,
        college_share=0.28,
        college_share_spread=0.9,
        other_educ_shares=(0.14, 0.5, 0.36),
        other_educ_tilt=0.4,
        missing_educ=1,
        boy_share=0.51,
        mean=-0.4393,
        school_sd=0.3362,
        size_effect=0.15,
        college_slope_sd=0.1609,
        slope_size_effect=0.06,
        context=1.3343,
        educ_effects=(0.05, 0.0997, 0.2451),
        boy_effect=0.0395,
        student_sd=0.6832,
        measurement_sd=0.24,
    ),
)


def _standardised(
    draws: np.ndarray, sd: float, uncorrelated_with: np.ndarray | None = None
) -> np.ndarray:
    """Centre draws and scale them to the sample SD ``sd`` (N - 1 divisor).

    With ``uncorrelated_with`` (one variable, or one per column), the draws are
    first made exactly uncorrelated with those variables (the residuals of their
    least-squares fit on them).
    """
    centred = draws - draws.mean()
    if uncorrelated_with is not None:
        other = np.asarray(uncorrelated_with, dtype=float).reshape(len(draws), -1)
        other = other - other.mean(axis=0)
        coef, *_ = np.linalg.lstsq(other, centred, rcond=None)
        centred = centred - other @ coef
    return sd * centred / centred.std(ddof=1)


def _student_deviations(
    draws: np.ndarray, school: np.ndarray, college: np.ndarray, classes: np.ndarray, sd: float
) -> np.ndarray:
    """Student deviations with the sample SD ``sd``, school means and college gaps of expected size.

    Two parts of the draws are rescaled so that their sums of squares are their
    expected values, ``sd**2`` per school: their school means (separately in
    schools with one and two sampled classes) and the part that makes the
    college gap differ from school to school (their projection on the
    within-school centred college indicator, school by school). Otherwise their
    chance excess or shortfall would move the estimated school variance, or that
    of the college effect, by about one standard error.
    """
    n_schools = school.max() + 1
    count = np.bincount(school, minlength=n_schools)
    centred = draws - draws.mean()
    means = np.bincount(school, weights=centred, minlength=n_schools) / count
    for k in np.unique(classes):
        members = classes == k
        observed = (count[members] * means[members] ** 2).sum()
        factor = np.sqrt(members.sum() * centred.var(ddof=1) / observed)
        in_group = members[school]
        centred[in_group] += (factor - 1) * means[school][in_group]
    share = np.bincount(school, weights=college, minlength=n_schools) / count
    d = college - share[school]
    dd = np.bincount(school, weights=d * d, minlength=n_schools)
    dr = np.bincount(school, weights=d * centred, minlength=n_schools)
    varies = dd > 0
    coef = np.where(varies, dr / np.where(varies, dd, 1.0), 0.0)
    gap_part = coef[school] * d
    rest = centred - gap_part
    observed = (coef[varies] ** 2 * dd[varies]).sum()
    expected = varies.sum() * rest.var(ddof=1)
    return _standardised(rest + np.sqrt(expected / observed) * gap_part, sd)


def _school_effects(
    draws: np.ndarray, sd: float, classes: np.ndarray, sizes: np.ndarray
) -> np.ndarray:
    """School effects with the sample SD ``sd`` in one-class and two-class schools alike.

    The draws are centred and scaled within each number of sampled classes, so
    that schools with more tested students do not happen to differ more or less,
    and then made exactly uncorrelated with ``sizes`` (see :func:`_standardised`).
    """
    alike = np.empty_like(draws)
    for count in np.unique(classes):
        members = classes == count
        alike[members] = _standardised(draws[members], 1.0) if members.sum() > 2 else 0.0
    return _standardised(alike, sd, sizes)


def _alike_spread(school_means: np.ndarray, tested: np.ndarray) -> np.ndarray:
    """Shifts that give the school means the same spread in small and large samples.

    The deviations of the means from their mean are scaled by ``exp(a * z)``,
    ``z`` the standardised number of tested students, with ``a`` chosen so that
    their variance weighted by the number of tested students equals their
    unweighted variance, and then back to their unweighted variance.
    """
    deviation = school_means - school_means.mean()
    z = (tested - tested.mean()) / tested.std()

    def gap(a: float) -> float:
        scaled = deviation * np.exp(a * z)
        scaled = scaled - scaled.mean()
        return np.average(scaled**2, weights=tested) - np.mean(scaled**2)

    low, high = -1.0, 1.0
    if gap(low) * gap(high) > 0:
        return np.zeros_like(school_means)
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if gap(low) * gap(mid) > 0 else (low, mid)
    scaled = deviation * np.exp((low + high) / 2 * z)
    scaled = scaled - scaled.mean()
    scaled = scaled * deviation.std() / scaled.std()
    return scaled - deviation


def _size_part(school_means: np.ndarray, log_size: np.ndarray, tested: np.ndarray) -> np.ndarray:
    """The part of school means that the number of tested students predicts linearly.

    From the least-squares fit of the means on the log enrolment, the number of
    tested students and its inverse; the part of the last two, centred.
    """
    counts = np.column_stack([tested, 1 / tested])
    design = np.column_stack([np.ones_like(log_size), log_size, counts])
    coef, *_ = np.linalg.lstsq(design, school_means, rcond=None)
    centred = counts - counts.mean(axis=0)
    return centred @ coef[2:]


def _class_sizes(spec: CountrySpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw the sampled classes: the school of each class and its number of tested students."""
    n_classes = 1 + (rng.random(spec.n_schools) < spec.two_class_share).astype(int)
    raw = spec.class_size_mean + spec.class_size_sd * rng.standard_normal(n_classes.sum())
    raw = np.maximum(raw, spec.min_class_size)
    # Scale to the exact total by largest remainders, keeping the minimum size.
    scaled = raw * spec.n_students / raw.sum()
    sizes = np.maximum(np.floor(scaled).astype(int), spec.min_class_size)
    short = spec.n_students - sizes.sum()
    order = np.argsort(-(scaled - np.floor(scaled)), kind="stable")
    if short >= 0:
        sizes[order[:short]] += 1
    else:
        largest = np.argsort(-sizes, kind="stable")
        sizes[largest[:-short]] -= 1
    school_of_class = np.repeat(np.arange(spec.n_schools), n_classes)
    return school_of_class, sizes


def _systematic_pps(sizes: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``n`` units drawn by systematic PPS from the list in its order."""
    interval = sizes.sum() / n
    if sizes.max() >= interval:
        raise ValueError("a school is large enough to be drawn with certainty")
    points = interval * (rng.random() + np.arange(n))
    return np.searchsorted(np.cumsum(sizes), points, side="right")


def _sample_schools(spec: CountrySpec, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw the frame, the PPS sample and the refusals; participating schools in selection order.

    Returns the enrolment, stratum (0 small, 1 large), ``wgtfac1`` and ``wgtadj1``
    of each participating school, in the order of selection (stratum, then size).
    """
    frame = spec.enrolment_median * np.exp(
        spec.enrolment_sdlog * rng.standard_normal(spec.pop_schools)
    )
    frame = np.sort(np.maximum(np.rint(frame), 10.0))
    stratum = (np.arange(spec.pop_schools) >= spec.pop_schools // 2).astype(int)
    n_drawn = round(spec.n_schools / spec.school_response)
    n_small = round(n_drawn * spec.small_stratum_share)
    drawn, factor = [], []
    for h, n_h in enumerate((n_small, n_drawn - n_small)):
        members = np.flatnonzero(stratum == h)
        picked = members[_systematic_pps(frame[members], n_h, rng)]
        drawn.append(picked)
        factor.append(frame[members].sum() / (n_h * frame[picked]))
    drawn_all, factor_all = np.concatenate(drawn), np.concatenate(factor)
    takes_part = np.ones(n_drawn, dtype=bool)
    takes_part[rng.choice(n_drawn, size=n_drawn - spec.n_schools, replace=False)] = False
    stratum_drawn = stratum[drawn_all]
    adjustment = np.empty(n_drawn)
    for h in (0, 1):
        in_h = stratum_drawn == h
        adjustment[in_h] = factor_all[in_h].sum() / factor_all[in_h & takes_part].sum()
    return {
        "enrolment": frame[drawn_all][takes_part],
        "stratum": stratum_drawn[takes_part],
        "wgtfac1": factor_all[takes_part],
        "wgtadj1": adjustment[takes_part],
    }


def _jackknife(n_schools: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Zones and replicate indicators of schools in selection order: pairs of neighbours."""
    n_pairs = n_schools // 2
    pair = np.minimum(np.arange(n_schools) // 2, n_pairs - 1)
    zone = pair * min(n_pairs, MAX_JK_ZONES) // n_pairs + 1
    indicator = np.zeros(n_schools, dtype=int)
    first = rng.random(n_pairs) < 0.5
    indicator[2 * np.arange(n_pairs)] = first
    indicator[2 * np.arange(n_pairs) + 1] = ~first
    return zone, indicator


def _draw_plausible_values(
    x: np.ndarray,
    school: np.ndarray,
    background: np.ndarray,
    measurement_sd: float,
    draws: np.ndarray,
) -> tuple[np.ndarray, float]:
    """Posterior draws of proficiency given the observed score and a conditioning model.

    The conditioning model regresses ``x`` on school fixed effects and the
    ``background`` columns; ``draws`` are standard normal, one column per
    plausible value. Returns the plausible values (one column each) and the
    reliability ``rho`` given the conditioning variables.
    """
    n_schools = school.max() + 1
    count = np.bincount(school, minlength=n_schools).astype(float)

    def within(values: np.ndarray) -> np.ndarray:
        means = np.stack(
            [np.bincount(school, weights=col, minlength=n_schools) / count for col in values.T],
            axis=1,
        )
        return values - means[school]

    z = within(background)
    z = z[:, np.abs(z).sum(axis=0) > 0]
    xd = within(x[:, None])[:, 0]
    beta, *_ = np.linalg.lstsq(z, xd, rcond=None)
    residual = xd - z @ beta
    df = len(x) - n_schools - np.linalg.matrix_rank(z)
    s2_x = residual @ residual / df
    s2_theta = s2_x - measurement_sd**2
    if s2_theta <= 0:
        raise ValueError("the measurement error exceeds the conditional variance of the score")
    rho = s2_theta / s2_x
    conditional_mean = x - residual
    posterior_mean = conditional_mean + rho * residual
    posterior_sd = np.sqrt((1 - rho) * s2_theta)
    return posterior_mean[:, None] + posterior_sd * draws, float(rho)


def _simulate_country(spec: CountrySpec, rng: np.random.Generator) -> pd.DataFrame:
    """Simulate one country's raw records; the scores are z-scores, not yet on the TIMSS scale."""
    n, n_schools = spec.n_students, spec.n_schools
    # -- the design: frame, schools, classes, students (no score parameter is used here,
    #    so that tuning the scores leaves the sample and the weights as they are)
    schools = _sample_schools(spec, rng)
    zone_in_order, indicator_in_order = _jackknife(n_schools, rng)
    # School ids in random order, so that idschool does not encode the stratum or size.
    id_of_order = rng.permutation(n_schools)
    order_of_id = np.argsort(id_of_order)
    enrolment = schools["enrolment"][order_of_id]
    school_factor = {k: schools[k][order_of_id] for k in ("wgtfac1", "wgtadj1")}
    zone, indicator = zone_in_order[order_of_id], indicator_in_order[order_of_id]

    school_of_class, class_sizes = _class_sizes(spec, rng)
    class_of_student = np.repeat(np.arange(len(class_sizes)), class_sizes)
    school = school_of_class[class_of_student]
    first_class = np.r_[True, school_of_class[1:] != school_of_class[:-1]]
    class_number = np.where(first_class, 1, 2)[class_of_student]
    class_start = np.r_[0, np.cumsum(class_sizes)[:-1]]
    seat = np.arange(n) - class_start[class_of_student] + 1
    idschool = school + 1
    idstud = idschool * 10000 + class_number * 100 + seat

    # Parents' education: schools differ in their share of college-educated parents.
    # School effects are made exactly uncorrelated with the school's enrolment and its
    # number of tested students, except for the stated effects of enrolment.
    log_size = _standardised(np.log(enrolment), 1.0)
    tested = np.bincount(school, minlength=n_schools).astype(float)
    sizes = np.column_stack([log_size, tested])
    logit_share = np.log(spec.college_share / (1 - spec.college_share))
    sampled_classes = np.bincount(school_of_class, minlength=n_schools)
    school_logit = _school_effects(
        rng.standard_normal(n_schools), spec.college_share_spread, sampled_classes, sizes
    )
    share = 1 / (1 + np.exp(-(logit_share + school_logit)))
    college = rng.random(n) < share[school]
    tilt = spec.other_educ_tilt * school_logit[school]
    weights = np.asarray(spec.other_educ_shares)[None, :] * np.exp(np.outer(tilt, [-1.0, 0.0, 1.0]))
    cumulative = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    other = (rng.random(n)[:, None] > cumulative[:, :2]).sum(axis=1)
    level = np.where(college, 3, other)
    boy = (rng.random(n) < spec.boy_share).astype(float)
    missing = rng.choice(n, size=spec.missing_educ, replace=False)

    # Weights of the classes and students. Absent students by class x college cell.
    n_cells = 2 * len(class_sizes)
    cell = 2 * class_of_student + college
    tested_in_cell = np.bincount(cell, minlength=n_cells)
    response = np.tile([spec.response_other, spec.response_college], len(class_sizes))
    absent = rng.negative_binomial(np.maximum(tested_in_cell, 1), response)
    absent = np.where(tested_in_cell > 0, absent, 0)
    drawn_in_cell = tested_in_cell + absent
    drawn_in_class = drawn_in_cell.reshape(-1, 2).sum(axis=1)
    class_enrolment = np.maximum(
        drawn_in_class,
        np.rint(spec.class_enrolment * np.exp(0.15 * rng.standard_normal(len(class_sizes)))),
    )
    mean_enrolment = (
        np.bincount(school_of_class, weights=class_enrolment, minlength=n_schools) / sampled_classes
    )
    classes_in_grade = np.maximum(sampled_classes, np.rint(enrolment / mean_enrolment))
    wgtfac1 = school_factor["wgtfac1"][school]
    wgtadj1 = school_factor["wgtadj1"][school]
    wgtfac2 = (classes_in_grade / sampled_classes)[school]
    wgtadj2 = np.ones(n)
    wgtfac3 = (class_enrolment / drawn_in_class)[class_of_student]
    wgtadj3 = (drawn_in_cell / np.maximum(tested_in_cell, 1))[cell]

    # -- the scores, in z units
    u0 = _school_effects(rng.standard_normal(n_schools), spec.school_sd, sampled_classes, sizes)
    u0 = u0 + spec.size_effect * log_size
    u1 = _school_effects(
        rng.standard_normal(n_schools), spec.college_slope_sd, sampled_classes, sizes
    )
    u1 = u1 + spec.slope_size_effect * log_size
    r = _student_deviations(
        rng.standard_normal(n), school, college, sampled_classes, spec.student_sd
    )
    error = rng.standard_normal(n)
    posterior_draws = rng.standard_normal((n, len(PLAUSIBLE_VALUES)))
    educ = np.r_[0.0, spec.educ_effects][level]
    peer_share = np.bincount(school, weights=college, minlength=n_schools) / tested
    theta = (
        spec.mean
        + spec.context * (peer_share - peer_share.mean())[school]
        + educ
        + u1[school] * college
        + spec.boy_effect * boy
        + r
    )
    # The school means are made uncorrelated with the number of tested students (and
    # its inverse), so that the mean of the students and the GLS mean of the schools
    # agree as they do on average; the stated effect of enrolment is kept.
    r_means = np.bincount(school, weights=r, minlength=n_schools) / tested
    signal = np.bincount(school, weights=theta, minlength=n_schools) / tested - r_means
    u0 = u0 + _alike_spread(signal + u0, tested)
    u0 = u0 - _size_part(signal + r_means + u0, log_size, tested)
    theta = theta + u0[school]
    observed = theta + spec.measurement_sd * error
    # Conditioning variables: parents' education as reported (unknown is a level), sex.
    reported = level.copy()
    reported[missing] = 4
    background = np.column_stack([reported == k for k in (1, 2, 3, 4)] + [boy]).astype(float)
    pv_values, _ = _draw_plausible_values(
        observed, school, background, spec.measurement_sd, posterior_draws
    )
    pvs = {pv: pv_values[:, k] for k, pv in enumerate(PLAUSIBLE_VALUES)}

    labels = np.asarray(PARENT_EDUCATION_LEVELS, dtype=object)[level]
    labels[missing] = None
    raw = pd.DataFrame(
        {
            "idcntry": spec.idcntry,
            "idschool": idschool,
            "idstud": idstud,
            "boy": boy,
            "parent_educ": labels,
            **pvs,
        }
    )
    factors = {
        "wgtfac1": wgtfac1,
        "wgtadj1": wgtadj1,
        "wgtfac2": wgtfac2,
        "wgtadj2": wgtadj2,
        "wgtfac3": wgtfac3,
        "wgtadj3": wgtadj3,
    }
    rounded = {k: _round_array(v, WEIGHT_DECIMALS) for k, v in factors.items()}
    total = _round_array(np.prod(np.column_stack(list(rounded.values())), axis=1), WEIGHT_DECIMALS)
    raw["totwgt"] = total
    raw["houwgt"] = _round_array(total * n / total.sum(), WEIGHT_DECIMALS)
    raw["senwgt"] = _round_array(total * SENATE_TOTAL / total.sum(), WEIGHT_DECIMALS)
    for name, values in rounded.items():
        raw[name] = values
    raw["jkzone"] = zone[school]
    raw["jkindic"] = indicator[school]
    # Not IEA variables and not kept by tidy_timss: the school's enrolment (its measure
    # of size) and explicit stratum, for the tests of the design.
    raw["enrolment"] = enrolment[school]
    raw["stratum"] = schools["stratum"][order_of_id][school]
    return raw


def _simulate_raw(seed: int, specs: tuple[CountrySpec, ...] = COUNTRY_SPECS) -> pd.DataFrame:
    """Simulate the raw records of all countries, plausible values on the TIMSS scale."""
    rng = np.random.default_rng(seed)
    # One independent stream per country, drawn first, so that the countries do
    # not share random numbers and changing one country leaves the other as it is.
    streams = [np.random.default_rng(s) for s in rng.integers(0, 2**63 - 1, size=len(specs))]
    raw = pd.concat(
        [_simulate_country(spec, stream) for spec, stream in zip(specs, streams, strict=True)],
        ignore_index=True,
    )
    for pv in PLAUSIBLE_VALUES:
        raw[pv] = _round_like_csv(SCALE_CENTRE + SCALE_SD * raw[pv], PV_DECIMALS)
    return raw


def _round_like_csv(values: pd.Series, decimals: int) -> pd.Series:
    """Round floats exactly as writing them with ``decimals`` decimals and reading back."""
    text = values.map(lambda v: f"{v:.{decimals}f}")
    return text.astype(float)


def _round_array(values: np.ndarray, decimals: int) -> np.ndarray:
    """:func:`_round_like_csv` for an array."""
    return _round_like_csv(pd.Series(values), decimals).to_numpy()


def make_synthetic_timss(seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """Simulate the course's synthetic TIMSS 1995 Korea/USA data set.

    Parameters
    ----------
    seed : int, default :data:`DEFAULT_SEED`
        Seed of :func:`numpy.random.default_rng`. The same seed always gives the
        same frame; only the default seed is the calibrated, shipped data set.

    Returns
    -------
    DataFrame
        The tidy frame of :func:`~hlmteach.data.tidy_timss`: 2901 Korean students
        in 150 schools and 6944 US students in 183 schools, one of each with
        unknown parents' education. Plausible values are rounded to 2 decimals and
        z-scores to 6 decimals, as in the shipped CSV file, so that
        ``make_synthetic_timss()`` equals ``hlmteach.load_timss()``.
        ``attrs["label"]`` says the data are synthetic.

    Examples
    --------
    >>> timss = make_synthetic_timss()
    >>> timss.groupby("country", observed=True)["school"].nunique().to_dict()
    {'Korea': 150, 'USA': 183}
    >>> len(timss), int(timss["college"].isna().sum())
    (9845, 2)
    >>> timss.attrs["label"].startswith("SYNTHETIC")
    True
    """
    tidy = tidy_timss(_simulate_raw(seed))
    for column in _Z_COLUMNS:
        tidy[column] = _round_like_csv(tidy[column], Z_DECIMALS)
    for column in _TIDY_WEIGHTS:
        tidy[column] = _round_like_csv(tidy[column], WEIGHT_DECIMALS)
    tidy.attrs["label"] = SYNTHETIC_LABEL
    return tidy


def write_synthetic_timss(path: str | Path, seed: int = DEFAULT_SEED) -> Path:
    """Write the synthetic TIMSS data set as the CSV file that the package ships.

    Parameters
    ----------
    path : str or Path
        The file to write (the package reads ``data/timss_synthetic.csv``).
    seed : int, default :data:`DEFAULT_SEED`
        Seed passed to :func:`make_synthetic_timss`.

    Returns
    -------
    Path
        The written file. Columns are in the order of
        :func:`~hlmteach.data.tidy_timss`; ``country`` and ``parent_educ`` are
        text (empty if unknown), plausible values have 2 decimals, z-scores 6,
        ``boy`` and ``college`` 1 decimal, weights and weighting factors 6; lines
        end with ``\\n``.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     written = write_synthetic_timss(Path(folder) / "timss.csv")
    ...     pd.read_csv(written).shape
    (9845, 32)
    """
    frame = make_synthetic_timss(seed)
    text = frame.astype({"country": str, "parent_educ": object}).copy()
    for column in ("boy", "college"):
        text[column] = frame[column].map(lambda v: "" if np.isnan(v) else f"{v:.1f}")
    for pv in PLAUSIBLE_VALUES:
        text[pv] = frame[pv].map(lambda v: f"{v:.{PV_DECIMALS}f}")
    for column in _Z_COLUMNS:
        text[column] = frame[column].map(lambda v: f"{v:.{Z_DECIMALS}f}")
    for column in _TIDY_WEIGHTS:
        text[column] = frame[column].map(lambda v: f"{v:.{WEIGHT_DECIMALS}f}")
    path = Path(path)
    text.to_csv(path, index=False, lineterminator="\n")
    return path


def _main(argv: list[str]) -> int:
    """Write the CSV file to the path given, or to ``data/`` of the repository."""
    if argv:
        target = Path(argv[0])
    else:
        data_folder = Path(__file__).resolve().parent.parent / "data"
        if not data_folder.is_dir():
            print(f"No folder {data_folder}: give the path of the CSV file to write.")
            return 1
        target = data_folder / "timss_synthetic.csv"
    written = write_synthetic_timss(target)
    print(f"wrote {written} ({', '.join(COUNTRIES.values())}, seed {DEFAULT_SEED})")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
