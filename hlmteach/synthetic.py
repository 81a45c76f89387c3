"""Seeded generator of the course's SYNTHETIC TIMSS 1995 Korea/USA data set.

TIMSS student records may not be redistributed, so the course ships simulated
students instead. The generator draws schools, classes, students, parents'
education, sex and five plausible values of mathematics for Korea and the USA,
and passes the raw records through :func:`hlmteach.data.tidy_timss`, exactly as
the reader of the real IEA files does. Its parameters were tuned once, for the
default seed, so that the seed analysis (SAS PROC MIXED, REML) fitted to the
first plausible value reproduces the published numbers; ``data/README.md``
tabulates published against achieved values, and ``tests/test_synthetic.py``
checks them.

The model behind one student's score (in units of the merged z-score) is::

    theta = mean + u0[school] + context * (peer_share[school] - its mean)
            + educ_effect[parent_educ] + u1[school] * college + boy_effect * boy + r
    PV_k  = theta + e_k,  k = 1..5

where ``u0`` (school intercept), ``u1`` (school deviation of the college
effect), ``r`` (student) and ``e_k`` (imputation noise of plausible value k)
are independent normal draws, and ``peer_share`` is the share of the school's
tested students whose parents finished college. Schools differ a lot in that
share (their logit shares are normal). The contextual term makes schools with
more college-educated parents score higher over and above the students' own
parents' education: about twice as strongly in the USA as in Korea, where
schools differ much less altogether. The boy effect is the same in every
school. The scores are put on the TIMSS scale and rounded to two decimals like
the IEA files.

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

_Z_COLUMNS = (*(f"math{k}" for k in range(1, len(PLAUSIBLE_VALUES) + 1)), "math")


@dataclass(frozen=True)
class CountrySpec:
    """Parameters of one country's simulated students.

    Sizes are exact; the score parameters are in units of the merged z-score
    (the standardisation of :func:`~hlmteach.data.tidy_timss` changes them a
    little). The simulated school effects ``u0`` and ``u1`` and the student
    deviations ``r`` are centred and scaled to the stated standard deviations,
    so these parameters are the simulated sample's own values; the imputation
    noise is left as drawn.

    Attributes
    ----------
    idcntry : int
        IEA country code (410 Korea, 840 USA).
    n_students, n_schools : int
        Numbers of students and schools.
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
        Mean score of a girl whose parents finished middle school, in a school
        of average college share and average effect.
    school_sd : float
        SD of the school intercepts ``u0``, which are uncorrelated with school size.
    size_effect : float
        Change of the school mean per SD of school size (students tested).
    college_slope_sd : float
        SD of the school deviations ``u1`` of the college effect.
    context : float
        Effect on the school mean of the share (0 to 1) of the school's tested
        students whose parents finished college.
    educ_effects : tuple of float
        Effects of high school, 2-year college and college against middle school.
    boy_effect : float
        Effect of being a boy, the same in every school.
    student_sd : float
        SD of the students' own deviations ``r``.
    pv_sd : float
        SD of the imputation noise of each plausible value.

    Examples
    --------
    >>> COUNTRY_SPECS[0].n_students, COUNTRY_SPECS[0].n_schools
    (2901, 150)
    """

    idcntry: int
    n_students: int
    n_schools: int
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
    context: float
    educ_effects: tuple[float, float, float]
    boy_effect: float
    student_sd: float
    pv_sd: float


#: Korea and the USA, tuned so that the seed analysis reproduces the published results.
COUNTRY_SPECS: tuple[CountrySpec, CountrySpec] = (
    CountrySpec(
        idcntry=410,
        n_students=2901,
        n_schools=150,
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
        mean=0.5114,
        school_sd=0.0904,
        size_effect=0.0,
        college_slope_sd=0.1109,
        context=0.5801,
        educ_effects=(0.12, 0.2, 0.387),
        boy_effect=0.1423,
        student_sd=0.9072,
        pv_sd=0.25,
    ),
    CountrySpec(
        idcntry=840,
        n_students=6944,
        n_schools=183,
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
        mean=-0.4299,
        school_sd=0.3963,
        size_effect=-0.0116,
        college_slope_sd=0.1167,
        context=1.031,
        educ_effects=(0.05, 0.1, 0.1925),
        boy_effect=0.0403,
        student_sd=0.6514,
        pv_sd=0.21,
    ),
)


def _standardised(
    draws: np.ndarray, sd: float, uncorrelated_with: np.ndarray | None = None
) -> np.ndarray:
    """Centre draws and scale them to the sample SD ``sd`` (N - 1 divisor).

    With ``uncorrelated_with``, the draws are first made exactly uncorrelated
    with that variable (the residuals of their least-squares line on it).
    """
    centred = draws - draws.mean()
    if uncorrelated_with is not None:
        other = uncorrelated_with - uncorrelated_with.mean()
        centred = centred - other * (other @ centred) / (other @ other)
    return sd * centred / centred.std(ddof=1)


def _class_sizes(spec: CountrySpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw the sampled classes: the school of each class and its number of students."""
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


def _simulate_country(spec: CountrySpec, rng: np.random.Generator) -> pd.DataFrame:
    """Simulate one country's raw records; the scores are z-scores, not yet on the TIMSS scale."""
    school_of_class, class_sizes = _class_sizes(spec, rng)
    n, n_schools = spec.n_students, spec.n_schools
    class_of_student = np.repeat(np.arange(len(class_sizes)), class_sizes)
    school = school_of_class[class_of_student]
    first_class = np.r_[True, school_of_class[1:] != school_of_class[:-1]]
    class_number = np.where(first_class, 1, 2)[class_of_student]
    class_start = np.r_[0, np.cumsum(class_sizes)[:-1]]
    seat = np.arange(n) - class_start[class_of_student] + 1
    idschool = school + 1
    idstud = idschool * 10000 + class_number * 100 + seat

    # Parents' education: schools differ in their share of college-educated parents.
    logit_share = np.log(spec.college_share / (1 - spec.college_share))
    # School effects are made exactly uncorrelated with the school's size, so that
    # the large and the small schools are alike and sample weights do not matter.
    school_size = np.bincount(school, minlength=n_schools).astype(float)
    school_logit = _standardised(
        rng.standard_normal(n_schools), spec.college_share_spread, school_size
    )
    share = 1 / (1 + np.exp(-(logit_share + school_logit)))
    college = rng.random(n) < share[school]
    tilt = spec.other_educ_tilt * school_logit[school]
    weights = np.asarray(spec.other_educ_shares)[None, :] * np.exp(np.outer(tilt, [-1.0, 0.0, 1.0]))
    cumulative = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    other = (rng.random(n)[:, None] > cumulative[:, :2]).sum(axis=1)
    level = np.where(college, 3, other)
    boy = (rng.random(n) < spec.boy_share).astype(float)

    # Scores in z units.
    u0 = _standardised(rng.standard_normal(n_schools), spec.school_sd, school_size)
    u0 = u0 + spec.size_effect * _standardised(school_size, 1.0)
    u1 = _standardised(rng.standard_normal(n_schools), spec.college_slope_sd, school_size)
    r = _standardised(rng.standard_normal(n), spec.student_sd)
    educ = np.r_[0.0, spec.educ_effects][level]
    peer_share = np.bincount(school, weights=college, minlength=n_schools) / school_size
    theta = (
        spec.mean
        + u0[school]
        + spec.context * (peer_share - peer_share.mean())[school]
        + educ
        + u1[school] * college
        + spec.boy_effect * boy
        + r
    )
    # The imputation noise is left as drawn, so that the plausible values differ
    # in their means too, as real ones do.
    noise = spec.pv_sd * rng.standard_normal((n, len(PLAUSIBLE_VALUES)))
    pvs = {pv: theta + noise[:, k] for k, pv in enumerate(PLAUSIBLE_VALUES)}

    labels = np.asarray(PARENT_EDUCATION_LEVELS, dtype=object)[level]
    missing = rng.choice(n, size=spec.missing_educ, replace=False)
    labels[missing] = None
    return pd.DataFrame(
        {
            "idcntry": spec.idcntry,
            "idschool": idschool,
            "idstud": idstud,
            "boy": boy,
            "parent_educ": labels,
            **pvs,
        }
    )


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
        ``boy`` and ``college`` 1 decimal; lines end with ``\\n``.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     written = write_synthetic_timss(Path(folder) / "timss.csv")
    ...     pd.read_csv(written).shape
    (9845, 19)
    """
    frame = make_synthetic_timss(seed)
    text = frame.astype({"country": str, "parent_educ": object}).copy()
    for column in ("boy", "college"):
        text[column] = frame[column].map(lambda v: "" if np.isnan(v) else f"{v:.1f}")
    for pv in PLAUSIBLE_VALUES:
        text[pv] = frame[pv].map(lambda v: f"{v:.{PV_DECIMALS}f}")
    for column in _Z_COLUMNS:
        text[column] = frame[column].map(lambda v: f"{v:.{Z_DECIMALS}f}")
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
