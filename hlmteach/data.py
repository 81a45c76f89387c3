"""The course's data sets: synthetic TIMSS 1995, High School and Beyond, PISA 2012 USA.

All three travel inside the package (``hlmteach.datasets``) and load by name, with
no network access. :func:`tidy_timss` is the single place where raw TIMSS-like
records become the course's tidy frame, so the synthetic generator and the
reader of real IEA files give exactly the same variables, recodes,
standardisation and sampling-design variables.

TIMSS 1995 sampling design
--------------------------
TIMSS 1995 sampled schools with probability proportional to size, then one or
two intact classes per grade, then (rarely) students within a class. The IEA
student files carry the resulting weights and jackknife variables; in the raw
records that :func:`tidy_timss` reads they have IEA's names in lower case:

=========== ===================== ===================================================
raw name    tidy name             meaning (IEA 1995 codebook label)
=========== ===================== ===================================================
``totwgt``  ``total_weight``      total student weight, "STUDENT WEIGHT": the inverse
                                  of the student's overall selection probability,
                                  adjusted for non-response; sums to the population
``houwgt``  ``house_weight``      "HOUSE WEIGHT": ``totwgt`` rescaled to sum to the
                                  sample size of the country
``senwgt``  ``senate_weight``     "SENATE WEIGHT": ``totwgt`` rescaled to the same
                                  total in every country
``wgtfac1`` ``wgtfac1``           "WEIGHTING FACTOR I (SCHOOL)": inverse of the
                                  school's selection probability
``wgtadj1`` ``wgtadj1``           "WEIGHTING ADJUSTMENT I (SCHOOL)": school
                                  non-response adjustment
``wgtfac2`` ``wgtfac2``           "WEIGHTING FACTOR II (CLASS)": inverse of the
                                  class's selection probability within the school
``wgtadj2`` ``wgtadj2``           class non-response adjustment: **not** in the 1995
                                  files (one class per grade needed none); TIMSS 2003
                                  and later have it. Optional; kept when present
``wgtfac3`` ``wgtfac3``           "WEIGHTING FACTOR III (STUDENT)": inverse of the
                                  student's selection probability within the class
``wgtadj3`` ``wgtadj3``           "WEIGHTING ADJUSTMENT III (STUDENT)": student
                                  non-response adjustment
``jkzone``  ``jk_zone``           jackknife (JRR) sampling zone of the student's school
``jkindic`` ``jk_replicate``      jackknife replicate indicator, 0 or 1: which half of
                                  the zone has its weight doubled. ``JKINDIC`` in the
                                  1997 User Guide; ``jkrep`` (``JKREP``, IEA's 2001
                                  re-release and later cycles) is read as well
=========== ===================== ===================================================

Two weights are derived for two-level models:

* ``school_weight = wgtfac1 * wgtadj1``, the school's weight adjusted for
  non-participation, as IEA's weighting notes define it. IEA's school files
  carry these two factors next to a "school level weight" ``SCHWGT``, which
  EdSurvey's ``mixed.sdf`` uses at level 2 for TIMSS; that ``SCHWGT`` equals
  this product was not checked on IEA's data;
* ``within_school_weight = total_weight / school_weight``, the conditional
  weight of the student given the school (in principle
  ``wgtfac2 * wgtfac3 * wgtadj3``), the level-1 weight of pseudo-maximum
  likelihood (Pfeffermann et al. 1998; Rabe-Hesketh & Skrondal 2006).

Sources: the IEA Data Processing Center codebooks of the TIMSS 1995
Population 2 student background file ("Codebook DATE 29.05.2001
File:Bsgcbkm1.sdb", variables 343-352: ``TOTWGT``, ``HOUWGT``, ``SENWGT``,
``WGTFAC1``, ``WGTADJ1``, ``WGTFAC2``, ``WGTFAC3``, ``WGTADJ3``, ``JKZONE``,
``JKREP``; no ``WGTADJ2``), of the school file (``Bcgcbkm1``: ``WGTFAC1``
"1ST STAGE WEIGHT (SCHOOL WEIGHT)", ``WGTADJ1`` "ADJUSTMENT FACTOR 1 (SCHOOL
WEIGHT)", ``SCHWGT`` "SCHOOL LEVEL WEIGHT") and of the TIMSS 2003 student file
(``BSGtmsm3``, which adds ``WGTADJ2`` "CLASS WEIGHT ADJUSTMENT"), as stored in
the public GitHub repository ``Jayecon/master`` (``TIMSS/codebooks/``, commit
``aac38f8``), a third-party copy of IEA's codebooks; E. J. Gonzalez and
T. A. Smith (eds.), *User Guide for the TIMSS International Database: Primary
and Middle School Years, 1995 Assessment*, TIMSS International Study Center,
Boston College, 1997, chapter 3 (the weight variables of the student and
school files) and chapter 8 (``JKZONE``, ``JKINDIC``), read in third-party
copies (yumpu.com); the description of the TIMSS student weights reproduced by
DataFirst (https://datafirst.uct.ac.za/dataportal/index.php/catalog/543, which
cycle's User Guide it quotes was not checked): "Multiplying WGTFAC1 by WGTADJ1
gives the sampling weight for the school, adjusted for non-participation", and
one class per grade left "no need to compute an adjustment factor for the
classroom weight"; the R package
EdSurvey (github.com/American-Institutes-for-Research/EdSurvey, ``R/mixed.sdf.R``:
default weights ``c("totwgt", "schwgt")`` for TIMSS; ``R/readTIMSS.R``: jackknife
replicates from ``JKZONE`` and ``JKREP``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .validation import (
    ModelInputError,
    check_integer_ids,
    require_frame,
    require_numeric_column,
)

__all__ = [
    "COUNTRIES",
    "DESIGN_WEIGHTS",
    "JK_REPLICATE_NAMES",
    "OPTIONAL_DESIGN_WEIGHTS",
    "PARENT_EDUCATION_LEVELS",
    "PISA_CATEGORIES",
    "PLAUSIBLE_VALUES",
    "codebook",
    "load_hsb",
    "load_pisa",
    "load_timss",
    "sampling_design",
    "tidy_timss",
]

#: IEA country codes of the two countries in the course, and their names.
COUNTRIES: dict[int, str] = {410: "Korea", 840: "USA"}

#: Parents' highest education, lowest first; "middle school" is the baseline.
PARENT_EDUCATION_LEVELS: tuple[str, ...] = (
    "middle school",
    "high school",
    "2-year college",
    "college",
)

#: TIMSS 1995 names of the five plausible values of mathematics (8th grade).
PLAUSIBLE_VALUES: tuple[str, ...] = tuple(f"bsmpv0{k}" for k in range(1, 6))

SYNTHETIC_LABEL = (
    "SYNTHETIC data: simulated to reproduce the published TIMSS 1995 Korea/USA results; "
    "these are not real students."
)

_TIMSS_FILE = "timss_synthetic.csv"
_HSB_FILE = "hsb.csv"
_PISA_FILE = "pisa2012_usa.csv"

#: Levels of the categorical PISA 2012 variables, the reference level (that of
#: the WeMix vignette's models) first. The two questionnaire items are ordered.
PISA_CATEGORIES: dict[str, tuple[str, ...]] = {
    "st29q03": ("Strongly agree", "Agree", "Disagree", "Strongly disagree"),
    "sc14q02": ("Not at all", "Very little", "To some extent", "A lot"),
    "st04q01": ("Female", "Male"),
}

PISA_LABEL = (
    "PISA 2012, United States sample: real data, 3136 students in 157 schools. Source and "
    "copyright owner: OECD, PISA 2012 Database (https://www.oecd.org/pisa/); extract as "
    "distributed in the R package MLMusingR 0.4.0 (F. Huang), data set pisa2012. "
    "See data/pisa2012_usa.md."
)

_RAW_COLUMNS = ("idcntry", "idschool", "idstud", "boy", "parent_educ", *PLAUSIBLE_VALUES)

#: Raw (lower-case IEA) names of the TIMSS 1995 weights and weighting factors that
#: :func:`tidy_timss` keeps, with their tidy names. Every one must be positive.
DESIGN_WEIGHTS: dict[str, str] = {
    "totwgt": "total_weight",
    "houwgt": "house_weight",
    "senwgt": "senate_weight",
    "wgtfac1": "wgtfac1",
    "wgtadj1": "wgtadj1",
    "wgtfac2": "wgtfac2",
    "wgtfac3": "wgtfac3",
    "wgtadj3": "wgtadj3",
}

#: Weighting factors of later TIMSS cycles, absent from the 1995 files; kept if present.
OPTIONAL_DESIGN_WEIGHTS: dict[str, str] = {"wgtadj2": "wgtadj2"}

#: Raw names of the jackknife replicate indicator: ``jkindic`` (the 1997 User Guide's
#: name) or ``jkrep`` (IEA's 2001 re-release of the 1995 files and later cycles).
JK_REPLICATE_NAMES: tuple[str, ...] = ("jkindic", "jkrep")

_JK_ZONE = "jkzone"

#: Relative spread of the school weight within one school that counts as "constant".
_SCHOOL_WEIGHT_RTOL = 1e-9


def tidy_timss(raw: pd.DataFrame) -> pd.DataFrame:
    """Turn raw TIMSS-like student records into the course's tidy frame.

    Parameters
    ----------
    raw : DataFrame
        One row per student with the columns ``idcntry`` (410 or 840), ``idschool``,
        ``idstud``, ``boy`` (1 boy, 0 girl, NaN unknown), ``parent_educ`` (one of
        :data:`PARENT_EDUCATION_LEVELS` or missing) and the five plausible values
        ``bsmpv01`` to ``bsmpv05`` on the TIMSS scale. Optionally, the TIMSS
        sampling design (see the module's documentation): the weights
        :data:`DESIGN_WEIGHTS` (``totwgt``, ``houwgt``, ``senwgt``, ``wgtfac1``,
        ``wgtadj1``, ``wgtfac2``, ``wgtfac3``, ``wgtadj3``), ``jkzone`` and one
        replicate indicator of :data:`JK_REPLICATE_NAMES` (``jkindic`` or
        ``jkrep``), plus ``wgtadj2`` if the release has it. Either all of them
        or none.

    Returns
    -------
    DataFrame
        The columns ``country``, ``idcntry``, ``school`` (unique across countries:
        ``idcntry * 10000 + idschool``), ``idschool``, ``idstud``, ``boy``,
        ``parent_educ`` (ordered categorical, baseline first), ``college``
        (1 if a parent finished college, NaN if unknown), ``bsmpv01``..``bsmpv05``,
        ``math1``..``math5`` (each plausible value as a z-score standardised after
        merging both countries, SD with N - 1 as SAS PROC STANDARD does) and
        ``math`` (= ``math1``), sorted by country, school and student.

        With the sampling design, also ``total_weight``, ``house_weight``,
        ``senate_weight``, ``school_weight`` (``wgtfac1 * wgtadj1``),
        ``within_school_weight`` (``total_weight / school_weight``), the raw
        factors ``wgtfac1``, ``wgtadj1``, ``wgtfac2``, (``wgtadj2``),
        ``wgtfac3``, ``wgtadj3``, and ``jk_zone`` and ``jk_replicate``
        (integers). Without it, these columns are absent (not filled with
        NaN): such a frame supports unweighted analyses only.
        ``attrs["design_variables"]`` maps each tidy design column to the raw
        variable it came from, and is empty without a design.

    Raises
    ------
    ModelInputError
        (a ``ValueError``) If a column is missing, an id is missing or not a
        whole number (1.5 and 1.7 would otherwise merge into school 1), a
        country code is not 410 or 840, ``boy`` is not 0/1, a parents'
        education label is unknown, or a plausible value is text or constant;
        or if only some of the sampling-design variables are present (or they
        are in upper case), a weight is missing, zero, negative or infinite, a
        jackknife variable is not a whole number (``jk_replicate`` not 0 or 1),
        or the school weight varies within a school.

    Examples
    --------
    >>> raw = pd.DataFrame({"idcntry": [410, 840], "idschool": [1, 1], "idstud": [1, 2],
    ...     "boy": [1, 0], "parent_educ": ["college", "high school"],
    ...     **{pv: [600.0, 500.0] for pv in PLAUSIBLE_VALUES}})
    >>> tidy_timss(raw)[["country", "school", "college", "math"]].round(3)
      country    school  college   math
    0   Korea   4100001      1.0  0.707
    1     USA   8400001      0.0 -0.707

    With the sampling design, the school and within-school weights are derived:

    >>> design = raw.assign(totwgt=[120.0, 900.0], houwgt=1.0, senwgt=[500.0, 500.0],
    ...     wgtfac1=[20.0, 150.0], wgtadj1=[1.5, 2.0], wgtfac2=1.0, wgtfac3=1.0,
    ...     wgtadj3=[4.0, 3.0], jkzone=[1, 1], jkindic=[0, 1])
    >>> tidy = tidy_timss(design)
    >>> tidy[["country", "total_weight", "school_weight", "within_school_weight"]]
      country  total_weight  school_weight  within_school_weight
    0   Korea         120.0           30.0                   4.0
    1     USA         900.0          300.0                   3.0
    >>> tidy.attrs["design_variables"]["jk_replicate"]
    'jkindic'
    """
    raw = require_frame(raw, "raw")
    missing = [c for c in _RAW_COLUMNS if c not in raw.columns]
    if missing:
        raise ModelInputError(
            f"TIMSS records lack the column(s) {missing}; expected the columns "
            f"{list(_RAW_COLUMNS)}."
        )
    ids = {name: _whole_ids(raw[name], name) for name in ("idcntry", "idschool", "idstud")}
    codes = ids["idcntry"]
    unknown = sorted(set(codes[~codes.isin(list(COUNTRIES))].astype(str)))
    if unknown:
        raise ModelInputError(
            f"Unknown IEA country code(s) {unknown} in 'idcntry'; the course uses "
            f"{COUNTRIES} only. Keep only Korean and US students."
        )
    educ = raw["parent_educ"].astype("string")
    bad_labels = sorted(set(educ.dropna()) - set(PARENT_EDUCATION_LEVELS))
    if bad_labels:
        raise ModelInputError(
            f"Unknown parents' education label(s) {bad_labels}; expected one of "
            f"{list(PARENT_EDUCATION_LEVELS)} or a missing value."
        )
    boy = require_numeric_column(raw, "boy", "TIMSS variable").astype(float)
    other = sorted({f"{v:g}" for v in boy.dropna().unique()} - {"0", "1"})
    if other:
        raise ModelInputError(
            f"The column 'boy' holds {other}; it must be 1 (boy), 0 (girl) or missing. IEA's "
            "ITSEX codes girls 1 and boys 2: read IEA's files with read_timss_files, or recode "
            "with raw['boy'] = raw['ITSEX'].map({1: 0, 2: 1})."
        )
    out = pd.DataFrame(
        {
            "country": pd.Categorical(codes.map(COUNTRIES), categories=list(COUNTRIES.values())),
            "idcntry": codes,
            "school": codes * 10000 + ids["idschool"],
            "idschool": ids["idschool"],
            "idstud": ids["idstud"],
            "boy": boy,
            "parent_educ": pd.Categorical(
                educ.to_numpy(dtype=object, na_value=None),
                categories=list(PARENT_EDUCATION_LEVELS),
                ordered=True,
            ),
        }
    )
    out["college"] = np.where(
        out["parent_educ"].isna(), np.nan, (out["parent_educ"] == "college").astype(float)
    )
    for k, pv in enumerate(PLAUSIBLE_VALUES, start=1):
        values = require_numeric_column(raw, pv, "plausible value").to_numpy(dtype=float)
        present = values[~np.isnan(values)]
        if present.size < 2 or np.ptp(present) == 0:
            raise ModelInputError(
                f"The plausible value {pv!r} has {present.size} value(s)"
                + (" that are all equal" if present.size >= 2 else "")
                + ": it cannot be standardised to a z-score. Pass the students' plausible values."
            )
        out[pv] = values
        out[f"math{k}"] = (values - np.nanmean(values)) / np.nanstd(values, ddof=1)
    out["math"] = out["math1"]
    design, sources = sampling_design(raw)
    for name, values in design.items():
        out[name] = values
    out = out.sort_values(["idcntry", "idschool", "idstud"], kind="stable")
    out = out.reset_index(drop=True)
    out.attrs["design_variables"] = sources
    return out


def sampling_design(raw: pd.DataFrame) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Check and derive the tidy sampling-design columns of raw TIMSS records.

    The one place that validates the TIMSS weights and jackknife variables, used
    by :func:`tidy_timss` and, file by file, by :func:`hlmteach.read_timss_files`.

    Parameters
    ----------
    raw : DataFrame
        Raw records as described in :func:`tidy_timss`, in their own row order.

    Returns
    -------
    columns : dict of str to ndarray
        The tidy design columns in order (``total_weight`` ... ``jk_replicate``),
        aligned with the rows of ``raw``; empty if ``raw`` has no design variables.
    sources : dict of str to str
        The raw variable each tidy column came from (derived columns name their
        formula).

    Raises
    ------
    ModelInputError
        As listed in :func:`tidy_timss`.

    Examples
    --------
    >>> raw = pd.DataFrame({"idcntry": [410, 410], "idschool": [1, 1], "idstud": [1, 2],
    ...     "totwgt": [60.0, 80.0], "houwgt": 1.0, "senwgt": 1.0, "wgtfac1": 10.0,
    ...     "wgtadj1": 2.0, "wgtfac2": 1.0, "wgtfac3": 1.0, "wgtadj3": [3.0, 4.0],
    ...     "jkzone": 7, "jkrep": [0, 1]})
    >>> columns, sources = sampling_design(raw)
    >>> columns["within_school_weight"].tolist(), sources["jk_replicate"]
    ([3.0, 4.0], 'jkrep')
    """
    replicate_names = [name for name in JK_REPLICATE_NAMES if name in raw.columns]
    every = [*DESIGN_WEIGHTS, *OPTIONAL_DESIGN_WEIGHTS, _JK_ZONE, *JK_REPLICATE_NAMES]
    present = [name for name in every if name in raw.columns]
    upper = [name.upper() for name in every if name.upper() in raw.columns]
    if upper and not present:
        raise ModelInputError(
            f"The TIMSS records hold the sampling-design variable(s) {upper} in upper case; "
            "tidy_timss reads raw records with IEA's names in lower case, as for 'idcntry' "
            "and 'bsmpv01'. Rename them first: raw = raw.rename(columns=str.lower)."
        )
    if not present:
        return {}, {}
    required = [*DESIGN_WEIGHTS, _JK_ZONE]
    missing = [name for name in required if name not in raw.columns]
    if not replicate_names:
        missing.append(" or ".join(repr(name) for name in JK_REPLICATE_NAMES))
    if missing:
        shown = ", ".join(name if name.startswith("'") else repr(name) for name in missing)
        raise ModelInputError(
            f"The TIMSS records hold the sampling-design variable(s) {present} but lack "
            f"{shown}. Pass all of {required} and one replicate indicator of "
            f"{list(JK_REPLICATE_NAMES)} (plus 'wgtadj2' if your release has it), or none "
            "of them for an unweighted frame."
        )
    if len(replicate_names) > 1:
        raise ModelInputError(
            f"The TIMSS records hold both {replicate_names[0]!r} and {replicate_names[1]!r}, "
            "two names of the jackknife replicate indicator; keep one of them."
        )
    weights = {**DESIGN_WEIGHTS, **{k: v for k, v in OPTIONAL_DESIGN_WEIGHTS.items() if k in raw}}
    values = {name: _positive_weight(raw, name) for name in weights}
    school = values["wgtfac1"] * values["wgtadj1"]
    _check_constant_within_schools(raw, school)
    columns = {
        "total_weight": values["totwgt"],
        "house_weight": values["houwgt"],
        "senate_weight": values["senwgt"],
        "school_weight": school,
        "within_school_weight": values["totwgt"] / school,
    }
    sources = {
        "total_weight": "totwgt",
        "house_weight": "houwgt",
        "senate_weight": "senwgt",
        "school_weight": "wgtfac1 * wgtadj1",
        "within_school_weight": "totwgt / (wgtfac1 * wgtadj1)",
    }
    for raw_name in ("wgtfac1", "wgtadj1", "wgtfac2", "wgtadj2", "wgtfac3", "wgtadj3"):
        if raw_name in values:
            columns[weights[raw_name]] = values[raw_name]
            sources[weights[raw_name]] = raw_name
    columns["jk_zone"] = _jackknife(raw, _JK_ZONE, minimum=1)
    columns["jk_replicate"] = _jackknife(raw, replicate_names[0], minimum=0, maximum=1)
    sources |= {"jk_zone": _JK_ZONE, "jk_replicate": replicate_names[0]}
    return columns, sources


def _first_rows(raw: pd.DataFrame, bad: np.ndarray) -> str:
    """Name up to three students of ``raw`` (country, school, student) for a message."""
    rows = raw.loc[bad, ["idcntry", "idschool", "idstud"]].head(3)
    return "; ".join(
        f"IDCNTRY {c}, IDSCHOOL {s}, IDSTUD {i}" for c, s, i in rows.itertuples(index=False)
    )


def _positive_weight(raw: pd.DataFrame, name: str) -> np.ndarray:
    """A weight column as floats; missing, zero, negative or infinite weights are refused."""
    values = require_numeric_column(raw, name, "TIMSS sampling weight").to_numpy(dtype=float)
    bad = ~(np.isfinite(values) & (values > 0))
    if bad.any():
        found = "missing" if np.isnan(values[bad]).all() else "missing, zero or negative"
        raise ModelInputError(
            f"The sampling weight {name!r} (IEA {name.upper()}) is {found} for "
            f"{int(bad.sum())} student(s) (such as {_first_rows(raw, bad)}); every TIMSS "
            "weight and weighting factor is positive. Pass IEA's original values, or drop "
            "those students before weighting."
        )
    return values


def _check_constant_within_schools(raw: pd.DataFrame, school_weight: np.ndarray) -> None:
    """The school weight (wgtfac1 * wgtadj1) must be one number per school."""
    frame = pd.DataFrame(
        {"idcntry": raw["idcntry"].to_numpy(), "idschool": raw["idschool"].to_numpy()}
    ).assign(weight=school_weight)
    spread = frame.groupby(["idcntry", "idschool"], sort=True)["weight"].agg(["min", "max"])
    varies = spread[spread["max"] - spread["min"] > _SCHOOL_WEIGHT_RTOL * spread["max"]]
    if not varies.empty:
        shown = "; ".join(
            f"{COUNTRIES.get(c, c)} IDSCHOOL {s} (from {low:g} to {high:g})"
            for (c, s), low, high in varies[["min", "max"]].head(3).itertuples(name=None)
        )
        raise ModelInputError(
            f"The school weight wgtfac1 * wgtadj1 varies within {len(varies)} school(s): "
            f"{shown}. It is the weight of the school, so it must be the same for every "
            "student of a school; check that IDSCHOOL, WGTFAC1 and WGTADJ1 come from the same "
            "IEA file and that no two schools share an IDSCHOOL."
        )


def _jackknife(
    raw: pd.DataFrame, name: str, *, minimum: int, maximum: int | None = None
) -> np.ndarray:
    """A jackknife zone or replicate indicator as integers within its range."""
    numbers = require_numeric_column(raw, name, "TIMSS jackknife variable").to_numpy(
        dtype=float, na_value=np.nan
    )
    bad = ~np.isfinite(numbers) | (numbers != np.round(numbers)) | (numbers < minimum)
    if maximum is not None:
        bad |= numbers > maximum
    if bad.any():
        allowed = f"{minimum} or {maximum}" if maximum == minimum + 1 else f">= {minimum}"
        raise ModelInputError(
            f"The jackknife variable {name!r} (IEA {name.upper()}) is missing, fractional or "
            f"out of range for {int(bad.sum())} student(s) (such as {_first_rows(raw, bad)}); "
            f"it must be a whole number {allowed}. Pass IEA's original values."
        )
    return numbers.astype(np.int64)


def _whole_ids(values: pd.Series, name: str) -> pd.Series:
    """Integer ids; a missing or fractional id (1.5 would merge with 1.7 as 1) is refused."""
    ids = check_integer_ids(values, name)
    if ids.isna().any():
        raise ModelInputError(
            f"The id column {name!r} is missing for {int(ids.isna().sum())} student(s); every "
            "TIMSS record has a country, school and student id. Drop or fix those rows."
        )
    return ids.astype(np.int64)


def _shipped_file(name: str) -> Any:
    """A shipped data file, from the installed package or, failing that, the source tree.

    Python started in the repository's root imports the source folder ``hlmteach/``
    rather than the installed package, and that folder has no ``datasets``
    sub-package (its files live in the top-level ``data/``): read them there.
    """
    try:
        return resources.files("hlmteach.datasets").joinpath(name)
    except ModuleNotFoundError:
        checkout = Path(__file__).resolve().parent.parent / "data" / name
        if checkout.is_file():
            return checkout
        raise ModelInputError(
            f"The course's data file {name!r} is missing: neither the installed package "
            "(hlmteach.datasets) nor a source checkout's data/ folder has it. Reinstall the "
            "package with 'pip install .' from the repository, or run from another folder."
        ) from None


def _read_shipped_csv(name: str, **options: Any) -> pd.DataFrame:
    """Read a shipped CSV file; ``options`` go to :func:`pandas.read_csv`."""
    source = _shipped_file(name)
    with source.open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle, **options)


def load_timss(country: str | None = None) -> pd.DataFrame:
    """Load the course's calibrated **synthetic** TIMSS 1995 Korea/USA data set.

    TIMSS data may not be redistributed, so the course ships simulated students
    whose fitted models reproduce the published SAS results of the original
    analysis (see ``data/README.md``). The frame's ``attrs["label"]`` says so.
    To analyse the real data, download them from IEA and read them with
    :func:`hlmteach.read_timss_files`.

    Parameters
    ----------
    country : {"Korea", "USA"}, optional
        Keep one country only. By default both are returned.

    Returns
    -------
    DataFrame
        The tidy frame described in :func:`tidy_timss`: 2901 Korean students in
        150 schools and 6944 US students in 183 schools.

    Examples
    --------
    >>> timss = load_timss()
    >>> timss.groupby("country", observed=True)["school"].nunique().to_dict()
    {'Korea': 150, 'USA': 183}
    """
    frame = _read_shipped_csv(_TIMSS_FILE)
    frame["country"] = pd.Categorical(frame["country"], categories=list(COUNTRIES.values()))
    frame["parent_educ"] = pd.Categorical(
        frame["parent_educ"], categories=list(PARENT_EDUCATION_LEVELS), ordered=True
    )
    if country is not None:
        if not isinstance(country, str) or country not in COUNTRIES.values():
            raise ModelInputError(
                f"Unknown country {country!r}; choose one of {list(COUNTRIES.values())} "
                "or leave it out for both."
            )
        frame = frame[frame["country"] == country].reset_index(drop=True)
    frame.attrs["label"] = SYNTHETIC_LABEL
    return frame


def load_hsb() -> pd.DataFrame:
    """Load High School and Beyond, the classic real data of Raudenbush & Bryk (2002).

    Returns
    -------
    DataFrame
        7185 students in 160 schools, one row per student, with the student
        variables ``school``, ``minority``, ``female``, ``ses``, ``mathach`` and
        the school variables ``size``, ``sector`` (1 = Catholic), ``pracad``,
        ``disclim``, ``himinty`` and ``meanses``.

    Examples
    --------
    >>> hsb = load_hsb()
    >>> hsb.shape[0], hsb["school"].nunique()
    (7185, 160)
    """
    frame = _read_shipped_csv(_HSB_FILE)
    frame.attrs["label"] = "High School and Beyond (Raudenbush & Bryk 2002), real data."
    return frame


def load_pisa() -> pd.DataFrame:
    """Load PISA 2012 USA, real survey data with both levels' sampling weights.

    The practice data set for survey-weighted two-level models: the extract of
    the WeMix vignette (Bailey, Kelley & Nguyen 2019), 3136 US students in 157
    schools, as distributed in the R package MLMusingR 0.4.0. The OECD is its
    source and copyright owner; ``data/pisa2012_usa.md`` gives its provenance,
    the changes made and the licence position.

    Returns
    -------
    DataFrame
        One row per student: ``student`` (row number, not a PISA id),
        ``schoolid`` (text of 7 characters, leading zeros kept),
        ``pv1math``..``pv5math``, ``escs``, the categoricals ``st29q03``,
        ``sc14q02`` and ``st04q01`` (levels in :data:`PISA_CATEGORIES`, reference
        first), ``w_fstuwt`` (total student weight), ``w_fschwt`` (school
        weight) and ``pwt1`` (conditional student weight ``w_fstuwt /
        w_fschwt``). ``attrs["label"]`` names the source.

    Examples
    --------
    >>> pisa = load_pisa()
    >>> pisa.shape, pisa["schoolid"].nunique(), pisa["schoolid"].iloc[0]
    ((3136, 14), 157, '0000001')
    >>> round(pisa["w_fstuwt"].sum())
    2236615
    >>> list(pisa["st29q03"].cat.categories[:2])
    ['Strongly agree', 'Agree']
    """
    frame = _read_shipped_csv(_PISA_FILE, dtype={"schoolid": str})
    for column, levels in PISA_CATEGORIES.items():
        frame[column] = pd.Categorical(
            frame[column], categories=list(levels), ordered=column != "st04q01"
        )
    frame.attrs["label"] = PISA_LABEL
    return frame


_CODEBOOK_ROWS: tuple[tuple[str, str, str], ...] = (
    ("timss", "country", "Country name: Korea or USA."),
    ("timss", "idcntry", "IEA country code: 410 Korea, 840 USA."),
    ("timss", "school", "School key, unique across countries: idcntry * 10000 + idschool."),
    ("timss", "idschool", "IEA school id, unique within a country (TIMSS IDSCHOOL)."),
    ("timss", "idstud", "IEA student id (TIMSS IDSTUD)."),
    ("timss", "boy", "1 if the student is a boy, 0 if a girl (TIMSS ITSEX)."),
    (
        "timss",
        "parent_educ",
        "Highest education of either parent: middle school (baseline), high school, "
        "2-year college, college.",
    ),
    ("timss", "college", "1 if a parent finished college (university), else 0."),
    (
        "timss",
        "bsmpv01..bsmpv05",
        "The five plausible values of mathematics on the TIMSS scale.",
    ),
    (
        "timss",
        "math1..math5",
        "Each plausible value as a z-score, standardised after merging both countries.",
    ),
    ("timss", "math", "The outcome of the source analysis: math1, the first plausible value."),
    (
        "timss",
        "total_weight",
        "Total student weight (TIMSS TOTWGT): inverse of the student's overall selection "
        "probability, adjusted for non-response; sums to the population size.",
    ),
    (
        "timss",
        "house_weight",
        "House weight (TIMSS HOUWGT): total_weight rescaled to sum to the country's sample size.",
    ),
    (
        "timss",
        "senate_weight",
        "Senate weight (TIMSS SENWGT): total_weight rescaled to the same total in every country.",
    ),
    (
        "timss",
        "school_weight",
        "School weight, the level-2 weight: wgtfac1 * wgtadj1, one per school.",
    ),
    (
        "timss",
        "within_school_weight",
        "The student's conditional weight within the school, the level-1 weight: "
        "total_weight / school_weight.",
    ),
    (
        "timss",
        "wgtfac1",
        "School weighting factor (TIMSS WGTFAC1): inverse of the school's selection probability.",
    ),
    ("timss", "wgtadj1", "School weighting adjustment for non-participating schools (WGTADJ1)."),
    (
        "timss",
        "wgtfac2",
        "Class weighting factor (WGTFAC2): inverse of the class's selection "
        "probability within the school.",
    ),
    (
        "timss",
        "wgtadj2",
        "Class weighting adjustment (WGTADJ2); not a 1995 variable, present "
        "only for later TIMSS releases.",
    ),
    (
        "timss",
        "wgtfac3",
        "Student weighting factor (WGTFAC3): inverse of the student's "
        "selection probability within the class.",
    ),
    ("timss", "wgtadj3", "Student weighting adjustment for non-participating students (WGTADJ3)."),
    ("timss", "jk_zone", "Jackknife (JRR) sampling zone of the student's school (TIMSS JKZONE)."),
    (
        "timss",
        "jk_replicate",
        "Jackknife replicate indicator, 0 or 1 (TIMSS 1995 JKINDIC; JKREP in later releases).",
    ),
    ("hsb", "school", "School id (160 schools)."),
    ("hsb", "minority", "1 if the student belongs to an ethnic minority."),
    ("hsb", "female", "1 if the student is female."),
    ("hsb", "ses", "Socio-economic status, a standardised composite."),
    ("hsb", "mathach", "Mathematics achievement score."),
    ("hsb", "size", "School enrolment."),
    ("hsb", "sector", "1 for a Catholic school, 0 for a public school."),
    ("hsb", "pracad", "Proportion of students in the academic track."),
    ("hsb", "disclim", "Disciplinary climate scale."),
    ("hsb", "himinty", "1 if more than 40% of the students are minority."),
    ("hsb", "meanses", "The school's mean SES."),
    ("pisa", "student", "Row number 1-3136 in MLMusingR's order (added; not a PISA id)."),
    (
        "pisa",
        "schoolid",
        "PISA school id, text of 7 characters (region, stratum, 3-digit school); 157 schools.",
    ),
    (
        "pisa",
        "pv1math..pv5math",
        "The five plausible values of mathematics literacy (PISA scale): fit each one and "
        "pool by Rubin's rules.",
    ),
    ("pisa", "escs", "PISA index of economic, social and cultural status."),
    (
        "pisa",
        "st29q03",
        "'I look forward to my mathematics lessons': Strongly agree (reference), Agree, "
        "Disagree, Strongly disagree.",
    ),
    (
        "pisa",
        "sc14q02",
        "School: instruction hindered by a lack of qualified mathematics teachers: Not at all "
        "(reference), Very little, To some extent, A lot.",
    ),
    ("pisa", "st04q01", "Gender: Female (reference), Male."),
    (
        "pisa",
        "w_fstuwt",
        "Final student weight: the total (unconditional) weight, inverse of the probability "
        "of drawing the school and then the student, adjusted for non-response.",
    ),
    (
        "pisa",
        "w_fschwt",
        "School weight (grade non-response adjusted school base weight); "
        "constant within each school.",
    ),
    ("pisa", "pwt1", "Conditional student weight within the school: w_fstuwt / w_fschwt."),
)


def codebook(dataset: str | None = None) -> pd.DataFrame:
    """Describe every variable of the shipped data sets.

    Parameters
    ----------
    dataset : {"timss", "hsb", "pisa"}, optional
        Keep one data set only.

    Returns
    -------
    DataFrame
        Columns ``dataset``, ``variable`` and ``description``.

    Examples
    --------
    >>> codebook("timss").set_index("variable").loc["college", "description"]
    '1 if a parent finished college (university), else 0.'
    """
    book = pd.DataFrame(_CODEBOOK_ROWS, columns=["dataset", "variable", "description"])
    if dataset is None:
        return book
    if not isinstance(dataset, str) or dataset not in set(book["dataset"]):
        names = ", ".join(repr(name) for name in dict.fromkeys(book["dataset"]))
        raise ModelInputError(f"Unknown data set {dataset!r}; choose one of {names}.")
    return book[book["dataset"] == dataset].reset_index(drop=True)
