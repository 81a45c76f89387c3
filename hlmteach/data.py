"""The course's data sets: the calibrated synthetic TIMSS 1995 frame and High School and Beyond.

Both travel inside the package (``hlmteach.datasets``) and load by name, with no
network access. :func:`tidy_timss` is the single place where raw TIMSS-like
records become the course's tidy frame, so the synthetic generator and the
reader of real IEA files give exactly the same variables, recodes and
standardisation.
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
    "PARENT_EDUCATION_LEVELS",
    "PLAUSIBLE_VALUES",
    "codebook",
    "load_hsb",
    "load_timss",
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

_RAW_COLUMNS = ("idcntry", "idschool", "idstud", "boy", "parent_educ", *PLAUSIBLE_VALUES)


def tidy_timss(raw: pd.DataFrame) -> pd.DataFrame:
    """Turn raw TIMSS-like student records into the course's tidy frame.

    Parameters
    ----------
    raw : DataFrame
        One row per student with the columns ``idcntry`` (410 or 840), ``idschool``,
        ``idstud``, ``boy`` (1 boy, 0 girl, NaN unknown), ``parent_educ`` (one of
        :data:`PARENT_EDUCATION_LEVELS` or missing) and the five plausible values
        ``bsmpv01`` to ``bsmpv05`` on the TIMSS scale.

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

    Raises
    ------
    ModelInputError
        (a ``ValueError``) If a column is missing, an id is missing or not a
        whole number (1.5 and 1.7 would otherwise merge into school 1), a
        country code is not 410 or 840, ``boy`` is not 0/1, a parents'
        education label is unknown, or a plausible value is text or constant.

    Examples
    --------
    >>> raw = pd.DataFrame({"idcntry": [410, 840], "idschool": [1, 1], "idstud": [1, 2],
    ...     "boy": [1, 0], "parent_educ": ["college", "high school"],
    ...     **{pv: [600.0, 500.0] for pv in PLAUSIBLE_VALUES}})
    >>> tidy_timss(raw)[["country", "school", "college", "math"]].round(3)
      country    school  college   math
    0   Korea   4100001      1.0  0.707
    1     USA   8400001      0.0 -0.707
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
    out = out.sort_values(["idcntry", "idschool", "idstud"], kind="stable")
    return out.reset_index(drop=True)


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


def _read_shipped_csv(name: str) -> pd.DataFrame:
    source = _shipped_file(name)
    with source.open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle)


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
    ("timss", "math", "The outcome of the seed analysis: math1, the first plausible value."),
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
)


def codebook(dataset: str | None = None) -> pd.DataFrame:
    """Describe every variable of the shipped data sets.

    Parameters
    ----------
    dataset : {"timss", "hsb"}, optional
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
        raise ModelInputError(f"Unknown data set {dataset!r}; choose 'timss' or 'hsb'.")
    return book[book["dataset"] == dataset].reset_index(drop=True)
