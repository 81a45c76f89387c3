"""Read the real TIMSS 1995 student files of Korea and the USA into the course's tidy frame.

IEA's licence forbids redistributing TIMSS data, so the course ships synthetic
students (:func:`hlmteach.data.load_timss`). Learners who download the TIMSS 1995
international database from IEA (https://www.iea.nl/data-tools/repository/timss)
can read their own copy with :func:`read_timss_files`, which returns exactly the
tidy frame of :func:`hlmteach.data.tidy_timss`: the same variables, recodes,
sorting and z-score standardisation as the synthetic data.

What the reader expects
-----------------------
For each country, either

* one SPSS (``.sav``, ``.zsav``, ``.por``) or SAS (``.sas7bdat``, transport
  ``.xpt``) file of Population 2 students that holds every variable below,
  normally IEA's student background file (``BSGKORM1.sav`` / ``BSGUSAM1.sav`` in
  the IEA Study Data Repository release, ``BSGKOR1`` / ``BSGUSA1`` in the 1997
  CD-ROM release); or
* a ``(background, achievement)`` pair of such files (e.g. ``BSGKORM1.sav`` and
  ``BSAKORM1.sav``) that together hold them. Each variable is taken from the
  background file when it is there, otherwise from the achievement file, and the
  two are merged on ``IDCNTRY``, ``IDSCHOOL`` and ``IDSTUD``; or
* a folder holding the country's files: the reader picks the one file whose name
  starts with ``BSG`` and the country's code (``KOR``, ``USA``), and adds the
  ``BSA`` file of that country only when the background file lacks a variable.

Variable names may be upper or lower case. The variables are (TIMSS 1995 names):

* ``IDCNTRY``: IEA country code, 410 Korea, 840 USA.
* ``IDSCHOOL``: school ID, unique within a country.
* ``IDSTUD``: student ID.
* ``ITSEX``: student's sex from the tracking forms, 1 girl, 2 boy, 8 not
  administered, 9 omitted (:data:`SEX_CODES`, :data:`SEX_MISSING_CODES`).
* ``BSBGEDUM`` and ``BSBGEDUF``: highest education level of the mother and of the
  father (student questionnaire item SQ2-9), codes in :data:`PARENT_EDUCATION_CODES`.
* ``BSMPV01`` to ``BSMPV05``: the five plausible values of mathematics (see
  *Plausible values* below).
* ``IDGRADER`` (optional): 1 lower grade, 2 upper grade, 3 above the upper grade.
  When present, only the upper grade (the eighth grade in Korea and the USA) is
  kept; without it, ``IDGRADE == 8`` is kept when ``IDGRADE`` is present.
* The sampling design (:data:`DESIGN_VARIABLES`), unless ``sampling_design=False``:
  ``TOTWGT``, ``HOUWGT``, ``SENWGT``, ``WGTFAC1``, ``WGTADJ1``, ``WGTFAC2``,
  ``WGTFAC3``, ``WGTADJ3``, ``JKZONE`` and the replicate indicator ``JKREP`` or
  ``JKINDIC``; ``WGTADJ2`` is read when present (see *Sampling design* below).

Sampling design
---------------
TIMSS 1995 drew schools with probability proportional to size, then intact
classes within each school, so every two-level analysis needs the school's
weight and the student's weight within the school. The reader keeps IEA's
weights, weighting factors and jackknife variables, and
:func:`hlmteach.data.tidy_timss` derives from them ``school_weight``
(``WGTFAC1 * WGTADJ1``) and ``within_school_weight`` (``TOTWGT / school_weight``);
:mod:`hlmteach.data` documents every column and its sources.

The names differ between releases, and the reader detects them:

* IEA's 2001 re-release of the 1995 files (``BSG...M1``), whose codebook this
  module follows, calls the replicate indicator ``JKREP``; the 1997 User Guide
  (chapter 8), which documents the 1997 CD-ROM release, calls it ``JKINDIC``.
  Either becomes ``jk_replicate``.
* ``WGTADJ2`` (class weight adjustment) is not a 1995 variable: one class per
  grade needed no adjustment. TIMSS 2003 and later files have it; when both
  countries' files hold it, it is kept as ``wgtadj2``.
* The student achievement files (``BSA``) hold only ``TOTWGT``, ``HOUWGT``,
  ``SENWGT``, ``JKZONE`` and ``JKREP``; the weighting factors are in the
  background file (``BSG``), which is therefore needed.
* The school files' ``SCHWGT`` (the school weight used by EdSurvey's
  ``mixed.sdf``) is not read: the school weight comes from the student file's
  ``WGTFAC1 * WGTADJ1``, IEA's definition of the school's weight (whether
  ``SCHWGT`` equals it exactly was not checked on IEA's data).

``attrs["design_variables"]`` of the result maps each tidy design column to the
IEA variable it was read from, and ``attrs["label"]`` lists them. IEA's codes
999998 (the weights' "not administered" default in the codebook) and 999999
(omitted) in a weight, and 98 (not administered) and 99 (omitted) in ``JKZONE``,
count as missing, and a missing, zero or negative weight is an error that names
the file and the variable. ``sampling_design=False`` reads files without the
design, for unweighted analyses only.

Parents' education
------------------
The course's ``parent_educ`` is the highest education of either parent in four
levels (:data:`hlmteach.data.PARENT_EDUCATION_LEVELS`). It is built here from the
mother's and the father's answers, each recoded with :data:`PARENT_EDUCATION_CODES`;
the higher of the two known levels wins, and it is missing only when neither is
known:

====  ===================================  ================
code  IEA label (1995 codebook)            course level
====  ===================================  ================
1     <finish primary schl>                middle school
2     <finish some secondary schl>         middle school
3     <finish secondary schl>              high school
4     <some vocational education>          2-year college
5     <some university>                    2-year college
6     <finish university>                  college
7     I don't know                         missing
96    logically not applicable (*)         missing
98    not administered                     missing
99    omitted                              missing
====  ===================================  ================

(*) The 1995 codebook lists only 98 and 99 as missing codes of these two items; 96,
IEA's "logically not applicable" code of other two-digit items, is also treated as
missing because some conversions of the files carry it.

"middle school" is therefore the baseline "middle school or less". Putting codes 4
and 5 into "2-year college" is the course's judgement, not IEA's; Korea's and the
USA's national wording of these options is documented in Supplement 3 of the User
Guide, which was not checked here. Edit :data:`PARENT_EDUCATION_CODES` to change it.

IEA's own derived variable ``BSDGEDUP`` ("highest educ level\\parents") is *not*
used: in the 1995 files it has only three levels (1 university, 2 secondary
school, 3 primary school, 4 do not know, 8 not administered, 9 omitted), which
cannot give the course's "2-year college".

Missing codes
-------------
SPSS user-missing values declared in a ``.sav`` file are read as missing. Because
SAS files (and some SPSS files) carry IEA's missing codes as plain numbers, the
codes in :data:`SEX_MISSING_CODES` and :data:`PARENT_EDUCATION_MISSING_CODES` are
also treated as missing. Any other code that is not documented above is an error
that names the file, the variable, the code and the known codes.

Plausible values
----------------
The course's analysis used the 1995 plausible values of mathematics named
``BSMPV01`` to ``BSMPV05``, the default here. IEA's 2001 codebooks of the ``...M1``
files list instead ``BSMMAT01`` to ``BSMMAT05``, the 1995 results rescaled with a
three-parameter IRT model for the trend with TIMSS 1999; if your files hold those,
the error message says so, and ``plausible_values="BSMMAT"`` reads them. Either
way the tidy frame calls them ``bsmpv01`` to ``bsmpv05`` and its ``attrs["label"]``
names the source variables. The two scalings differ, so results are comparable with
the course's published SAS output only for the values that analysis used.

Sources
-------
* IEA Data Processing Center, codebook of the TIMSS 1995 Population 2 student
  background file, "Codebook DATE 29.05.2001 File:Bsgcbkm1.sdb", and of the student
  achievement file, "Codebook DATE 04.07.2001 File:Bsacbkm1.sdb", as stored in the
  public GitHub repository ``Jayecon/master`` (``TIMSS/codebooks/T95_Bsgcbkm1.cdt``
  and ``T95_Bsacbkm1.cdt``, commit ``aac38f8``). They give the codes of ``ITSEX``,
  ``BSBGEDUM``, ``BSBGEDUF``, ``BSDGEDUP``, ``IDGRADE`` and ``IDGRADER`` used above,
  and list ``BSMMAT01``..``BSMMAT05`` as the mathematics plausible values of that
  release. This is a third-party copy of IEA's codebook, not IEA's own site.
* E. J. Gonzalez and T. A. Smith (eds.), *User Guide for the TIMSS International
  Database: Primary and Middle School Years, 1995 Assessment*, TIMSS International
  Study Center, Boston College, 1997, section 7.2.5 (omitted codes 9, 99, ...;
  not administered codes 8, 98, ...); the guide and its supplements are listed at
  https://timssandpirls.bc.edu/timss1995i/Database.html.
* File names: https://isc.bc.edu/timss1995i/newscale/layout.txt (1997 layout,
  prefix + country code + ``1``) and the ``readTIMSS`` function of the R package
  EdSurvey (``bsg``/``bsa`` + country + ``m1`` for the 1995 ``.sav`` files).
* ``BSMPV01``..``BSMPV05`` as the names of the 1995 plausible values come from the
  course's original analysis and from third-party analysis scripts of the 1995
  student background files; they were not found in an IEA codebook.
* Sampling design: the same 1995 codebooks (``Bsgcbkm1`` variables 343-352,
  ``Bsacbkm1`` variables 319-323 and the school file's ``Bcgcbkm1``) and the
  TIMSS 1999 and 2003 student codebooks of the same repository (``JKREP``;
  ``WGTADJ2`` from 2003); the User Guide above, chapter 3 (the weight variables)
  and chapter 8 (``JKZONE`` and ``JKINDIC``); DataFirst's copy of the TIMSS
  weighting notes (catalogue 543: "Multiplying WGTFAC1 by WGTADJ1 gives the
  sampling weight for the school"); EdSurvey's ``R/readTIMSS.R`` (replicates
  from ``JKZONE`` and ``JKREP``) and ``R/mixed.sdf.R`` (TIMSS weights
  ``totwgt`` and ``schwgt`` by default).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .data import COUNTRIES, PARENT_EDUCATION_LEVELS, PLAUSIBLE_VALUES, tidy_timss
from .data import sampling_design as _check_design
from .validation import (
    InputFileNotFoundError,
    ModelInputError,
    as_numbers,
    check_integer_ids,
    require_choice,
    require_flag,
)

if TYPE_CHECKING:
    from typing import TypeAlias

    FilePath: TypeAlias = str | os.PathLike[str]

__all__ = [
    "DESIGN_MISSING_CODES",
    "DESIGN_VARIABLES",
    "ID_VARIABLES",
    "PARENT_EDUCATION_CODES",
    "PARENT_EDUCATION_MISSING_CODES",
    "PARENT_EDUCATION_VARIABLES",
    "SEX_CODES",
    "SEX_MISSING_CODES",
    "SEX_VARIABLE",
    "read_timss_files",
]

#: IEA identification variables; students are matched across files on all three.
ID_VARIABLES: tuple[str, ...] = ("IDCNTRY", "IDSCHOOL", "IDSTUD")

#: IEA name of the student's sex (from the tracking forms).
SEX_VARIABLE = "ITSEX"

#: Codes of ``ITSEX``: code -> (IEA label, value of the course's ``boy``).
SEX_CODES: dict[int, tuple[str, float]] = {1: ("girl", 0.0), 2: ("boy", 1.0)}

#: IEA missing codes of ``ITSEX``: 8 not administered, 9 omitted.
SEX_MISSING_CODES: tuple[int, ...] = (8, 9)

#: IEA names of the mother's and the father's highest education (item SQ2-9).
PARENT_EDUCATION_VARIABLES: tuple[str, ...] = ("BSBGEDUM", "BSBGEDUF")

#: Codes of ``BSBGEDUM`` / ``BSBGEDUF``: code -> (IEA label, course level or None
#: for missing). The course levels are those of ``PARENT_EDUCATION_LEVELS``.
PARENT_EDUCATION_CODES: dict[int, tuple[str, str | None]] = {
    1: ("<finish primary schl>", "middle school"),
    2: ("<finish some secondary schl>", "middle school"),
    3: ("<finish secondary schl>", "high school"),
    4: ("<some vocational education>", "2-year college"),
    5: ("<some university>", "2-year college"),
    6: ("<finish university>", "college"),
    7: ("I don't know", None),
}

#: IEA missing codes of the parents' education: 96 logically not applicable,
#: 98 not administered, 99 omitted.
PARENT_EDUCATION_MISSING_CODES: tuple[int, ...] = (96, 98, 99)

#: IEA names of the sampling-design variables that the reader needs, in the order read.
DESIGN_VARIABLES: tuple[str, ...] = (
    "TOTWGT",
    "HOUWGT",
    "SENWGT",
    "WGTFAC1",
    "WGTADJ1",
    "WGTFAC2",
    "WGTFAC3",
    "WGTADJ3",
    "JKZONE",
)

#: Names of the replicate indicator, preferred first: ``JKREP`` (IEA's 2001
#: re-release and later cycles) and ``JKINDIC`` (the 1997 User Guide).
_REPLICATE_VARIABLES: tuple[str, ...] = ("JKREP", "JKINDIC")

#: Design variables of later releases, read when both countries' files hold them.
_OPTIONAL_DESIGN_VARIABLES: tuple[str, ...] = ("WGTADJ2",)

#: IEA missing codes in the design variables: 999998 not administered (the
#: codebook's default of the weights) and 999999 omitted; 98 and 99 in JKZONE.
DESIGN_MISSING_CODES: dict[str, tuple[int, ...]] = {
    **{name: (999998, 999999) for name in (*DESIGN_VARIABLES[:-1], "WGTADJ2")},
    "JKZONE": (98, 99),
}

_COUNTRY_FILE_CODES: dict[int, str] = {410: "KOR", 840: "USA"}

_READERS: dict[str, str] = {
    ".sav": "read_sav",
    ".zsav": "read_sav",
    ".por": "read_por",
    ".sas7bdat": "read_sas7bdat",
    ".xpt": "read_xport",
    ".xport": "read_xport",
}

_PV_PREFIXES = ("BSMPV", "BSMMAT")


def _expected_layout(pv_prefix: str) -> str:
    """Describe the files and variables the reader expects, for error messages."""
    pvs = f"{pv_prefix}01..{pv_prefix}05"
    variables = ", ".join([*ID_VARIABLES, SEX_VARIABLE, *PARENT_EDUCATION_VARIABLES, pvs])
    design = ", ".join(DESIGN_VARIABLES)
    return (
        "Expected layout: for each country one SPSS (.sav, .zsav, .por) or SAS "
        "(.sas7bdat, .xpt) file of TIMSS 1995 Population 2 students, e.g. BSGKORM1.sav, "
        "or a (background, achievement) pair such as (BSGKORM1.sav, BSAKORM1.sav), or a "
        f"folder holding them, with the variables {variables} (upper or lower case) and "
        f"the sampling design {design}, JKREP or JKINDIC (unless sampling_design=False)."
    )


def _describe(files: Sequence[Path]) -> str:
    """Name the file(s) of one country for messages."""
    return " + ".join(repr(str(path)) for path in files)


def _import_pyreadstat() -> ModuleType:
    """Import pyreadstat, or say how to install it."""
    try:
        import pyreadstat
    except ImportError as error:
        raise ImportError(
            "Reading the TIMSS SPSS/SAS files needs the package pyreadstat, which is not "
            "installed. Install it with `pip install pyreadstat` or "
            "`pip install hlmteach[timss]`, then call read_timss_files again."
        ) from error
    return pyreadstat


def _file_example(idcntry: int, kind: str) -> str:
    """An example IEA file name of the given kind ('BSG' or 'BSA') for a country."""
    code = _COUNTRY_FILE_CODES[idcntry]
    return f"{kind}{code}M1.sav (IEA repository) or {kind}{code}1.SAV (made from the 1997 CD-ROM)"


def _check_file(path: Path, idcntry: int, kind: str) -> Path:
    """Make sure that ``path`` is an existing file of a readable format."""
    country = COUNTRIES[idcntry]
    what = "student background" if kind == "BSG" else "student achievement"
    if not path.exists():
        raise InputFileNotFoundError(
            f"No file or folder at {str(path)!r}. Expected the TIMSS 1995 Population 2 "
            f"{what} file for {country}, e.g. {_file_example(idcntry, kind)}. Download the "
            "TIMSS 1995 international database from IEA "
            "(https://www.iea.nl/data-tools/repository/timss), unzip it and pass the "
            "file's path."
        )
    if path.suffix.lower() not in _READERS:
        raise ModelInputError(
            f"Cannot read {str(path)!r} as the {what} file for {country}: the extension "
            f"{path.suffix!r} is not one of {sorted(_READERS)}. For the ASCII .DAT files "
            "of the 1997 CD-ROM, first run IEA's SPSS or SAS control file to make a .sav "
            "or .sas7bdat file."
        )
    return path


def _resolve_directory(folder: Path, idcntry: int) -> tuple[Path, ...]:
    """Find a country's background (and, if present, achievement) file in a folder."""
    code = _COUNTRY_FILE_CODES[idcntry].lower()
    found: dict[str, list[Path]] = {"BSG": [], "BSA": []}
    for path in sorted(folder.iterdir()):
        name = path.name.lower()
        if path.is_file() and path.suffix.lower() in _READERS:
            for kind, names in found.items():
                if name.startswith(f"{kind.lower()}{code}"):
                    names.append(path)
    country = COUNTRIES[idcntry]
    if not found["BSG"]:
        raise InputFileNotFoundError(
            f"The folder {str(folder)!r} holds no TIMSS 1995 student background file for "
            f"{country}: expected a file named like {_file_example(idcntry, 'BSG')}. "
            "Pass the file's path instead of the folder. " + _expected_layout("BSMPV")
        )
    for kind, names in found.items():
        if len(names) > 1:
            raise ModelInputError(
                f"The folder {str(folder)!r} holds several {kind} files for {country}: "
                f"{[path.name for path in names]}. Pass the path of the one to read "
                "instead of the folder."
            )
    return (found["BSG"][0], *found["BSA"])


def _country_files(files: object, idcntry: int) -> tuple[tuple[Path, ...], bool]:
    """Turn the user's argument for one country into a tuple of files.

    Returns the files and whether they were found in a folder.
    """
    country = COUNTRIES[idcntry]
    if isinstance(files, (str, os.PathLike)):
        path = Path(files)
        if path.is_dir():
            return _resolve_directory(path, idcntry), True
        return (_check_file(path, idcntry, "BSG"),), False
    if isinstance(files, Sequence) and len(files) == 2:
        if not all(isinstance(item, (str, os.PathLike)) for item in files):
            raise ModelInputError(
                f"The files for {country} must be paths (str or pathlib.Path); got "
                f"{files!r}. " + _expected_layout("BSMPV")
            )
        background = _check_file(Path(files[0]), idcntry, "BSG")
        achievement = _check_file(Path(files[1]), idcntry, "BSA")
        return (background, achievement), False
    raise ModelInputError(
        f"The files for {country} must be one path, a folder or a (background, "
        f"achievement) pair of paths; got {files!r}. " + _expected_layout("BSMPV")
    )


def _read_columns(pyreadstat: ModuleType, path: Path) -> dict[str, str]:
    """Map the upper-case variable names of a file to the names used in the file."""
    reader = getattr(pyreadstat, _READERS[path.suffix.lower()])
    try:
        _, meta = reader(str(path), metadataonly=True)
    except Exception as error:
        raise ModelInputError(
            f"Cannot read {str(path)!r}: pyreadstat says {error!s}. The file is damaged, "
            "incomplete, or not in the format its extension claims. Download it again "
            "from IEA, or convert it anew with IEA's SPSS/SAS control files."
        ) from error
    columns: dict[str, str] = {}
    for name in meta.column_names:
        columns.setdefault(name.upper(), name)
    return columns


def _read_variables(
    pyreadstat: ModuleType, path: Path, columns: dict[str, str], wanted: Sequence[str]
) -> pd.DataFrame:
    """Read the upper-case variables ``wanted`` from a file, named in upper case."""
    reader = getattr(pyreadstat, _READERS[path.suffix.lower()])
    try:
        frame, _ = reader(str(path), usecols=[columns[name] for name in wanted])
    except Exception as error:
        raise ModelInputError(
            f"Cannot read the data of {str(path)!r}: pyreadstat says {error!s}. The file "
            "is damaged or incomplete; download it again from IEA."
        ) from error
    frame.columns = [str(name).upper() for name in frame.columns]
    return frame[list(wanted)].copy()


def _design_hint(missing: Sequence[str], available: set[str]) -> str:
    """Explain missing sampling-design variables: where they are, what the file has instead."""
    design = set(DESIGN_VARIABLES) | {" or ".join(_REPLICATE_VARIABLES)}
    known = {*DESIGN_VARIABLES, *_REPLICATE_VARIABLES, *_OPTIONAL_DESIGN_VARIABLES}
    absent = [name for name in missing if name in design]
    if not absent:
        return ""
    similar = sorted(
        name for name in available if ("WGT" in name or name.startswith("JK")) and name not in known
    )
    instead = (
        f" The file(s) hold the weight-like variable(s) {similar} instead: if one of them is "
        "a renamed IEA variable, rename it back (e.g. in SPSS or with pyreadstat) to the "
        "name above."
        if similar
        else ""
    )
    return (
        f" The sampling-design variable(s) {absent} are in IEA's student background "
        "file (BSG...): pass that file (alone or with its BSA file), or the original "
        f"file if yours is an extract.{instead} To read the data without the sampling "
        "design (for unweighted analyses only), pass sampling_design=False."
    )


def _missing_variable_error(
    files: Sequence[Path], missing: Sequence[str], available: set[str], pv_prefix: str
) -> ModelInputError:
    """Build the error for variables that none of a country's files holds."""
    hint = _design_hint(missing, available)
    for other in _PV_PREFIXES:
        if other != pv_prefix and all(f"{other}0{k}" in available for k in range(1, 6)):
            hint += (
                f" The file(s) hold {other}01..{other}05 instead: pass "
                f"plausible_values={other!r} to read_timss_files to use them."
            )
    return ModelInputError(
        f"{_describe(files)} lack(s) the variable(s) {list(missing)}.{hint} "
        + _expected_layout(pv_prefix)
    )


def _merge(
    frames: Sequence[pd.DataFrame], files: Sequence[Path], keys: Sequence[str]
) -> pd.DataFrame:
    """Merge a background and an achievement frame, refusing to drop students."""
    background, achievement = frames
    for frame, path in zip(frames, files, strict=True):
        if frame.duplicated(list(keys)).any():
            raise ModelInputError(
                f"{str(path)!r} holds students more than once for the same "
                f"{', '.join(keys)}; pass IEA's original file of one country."
            )
    flagged = background.merge(
        achievement, on=list(keys), how="outer", indicator=True, validate="one_to_one"
    )
    only_background = int((flagged["_merge"] == "left_only").sum())
    only_achievement = int((flagged["_merge"] == "right_only").sum())
    if only_background or only_achievement:
        raise ModelInputError(
            f"Merging {str(files[0])!r} with {str(files[1])!r} on {', '.join(keys)} would "
            f"drop {only_background + only_achievement} student(s): {only_background} "
            f"found only in the first file and {only_achievement} only in the second. "
            "Pass the background and the achievement file of the same country and the "
            "same release (e.g. BSGKORM1.sav with BSAKORM1.sav)."
        )
    return flagged.drop(columns="_merge")


def _numbers(values: pd.Series, variable: str, files: Sequence[Path]) -> pd.Series:
    """Convert a column to numbers; text that is not a number is an error."""
    numbers = as_numbers(
        values,
        f"{_describe(files)}: {variable}",
        "IEA codes every variable with numbers; pass the original IEA file",
    )
    return numbers.astype(float)


def _check_codes(
    codes: pd.Series,
    variable: str,
    files: Sequence[Path],
    known: dict[int, str],
    missing_codes: Sequence[int],
    constant: str,
) -> pd.Series:
    """Return the codes with IEA missing codes as NaN; unknown codes are an error."""
    codes = codes.where(~codes.isin(list(missing_codes)))
    unknown = codes.notna() & ~codes.isin(list(known))
    if unknown.any():
        found = sorted({f"{value:g}" for value in codes[unknown]})
        described = "; ".join(f"{code} {label}" for code, label in known.items())
        raise ModelInputError(
            f"{_describe(files)}: unknown code(s) {found} in {variable} "
            f"({int(unknown.sum())} student(s)). Known codes: {described}; missing codes "
            f"{list(missing_codes)}. If your release codes {variable} differently, correct "
            f"hlmteach.timss_files.{constant}."
        )
    return codes


def _boy(frame: pd.DataFrame, files: Sequence[Path]) -> pd.Series:
    """Recode ITSEX (1 girl, 2 boy) into the course's 0/1 ``boy``."""
    codes = _check_codes(
        _numbers(frame[SEX_VARIABLE], SEX_VARIABLE, files),
        SEX_VARIABLE,
        files,
        {code: label for code, (label, _) in SEX_CODES.items()},
        SEX_MISSING_CODES,
        "SEX_CODES",
    )
    return codes.map({code: boy for code, (_, boy) in SEX_CODES.items()}).astype(float)


def _parent_education(frame: pd.DataFrame, files: Sequence[Path]) -> pd.Series:
    """The highest known education of either parent, as a course level or None."""
    rank = {level: position for position, level in enumerate(PARENT_EDUCATION_LEVELS)}
    code_rank = {
        code: (np.nan if level is None else float(rank[level]))
        for code, (_, level) in PARENT_EDUCATION_CODES.items()
    }
    ranks = []
    for variable in PARENT_EDUCATION_VARIABLES:
        codes = _check_codes(
            _numbers(frame[variable], variable, files),
            variable,
            files,
            {code: label for code, (label, _) in PARENT_EDUCATION_CODES.items()},
            PARENT_EDUCATION_MISSING_CODES,
            "PARENT_EDUCATION_CODES",
        )
        ranks.append(codes.map(code_rank).astype(float).to_numpy())
    highest = np.fmax.reduce(ranks)
    levels = [None if np.isnan(value) else PARENT_EDUCATION_LEVELS[int(value)] for value in highest]
    return pd.Series(levels, index=frame.index, dtype=object)


def _check_country(frame: pd.DataFrame, idcntry: int, files: Sequence[Path]) -> pd.Series:
    """Make sure that every student of a country's files has the expected IDCNTRY."""
    country = COUNTRIES[idcntry]
    codes = _numbers(frame["IDCNTRY"], "IDCNTRY", files)
    wrong = codes.isna() | (codes != idcntry)
    if wrong.any():
        found = sorted({"missing" if np.isnan(value) else f"{value:g}" for value in codes[wrong]})
        others = [
            f"{COUNTRIES[int(value)]} ({value:g})"
            for value in codes[wrong].dropna().unique()
            if value in COUNTRIES
        ]
        swapped = (
            f" It holds {', '.join(others)} students: did you swap the korea= and usa= files?"
            if others
            else ""
        )
        raise ModelInputError(
            f"{_describe(files)} was passed as the file for {country}, but IDCNTRY holds "
            f"{found} for {int(wrong.sum())} student(s); expected {idcntry} ({country}) "
            f"only.{swapped} Pass {country}'s own file, e.g. "
            f"{_file_example(idcntry, 'BSG')}."
        )
    return codes


def _upper_grade(frame: pd.DataFrame, files: Sequence[Path]) -> pd.DataFrame:
    """Keep the upper grade of Population 2 (the eighth grade in Korea and the USA)."""
    if "IDGRADER" in frame.columns:
        variable, keep = "IDGRADER", 2
    elif "IDGRADE" in frame.columns:
        variable, keep = "IDGRADE", 8
    else:
        return frame
    grades = _numbers(frame[variable], variable, files)
    kept = frame[grades == keep]
    if kept.empty:
        found = sorted({f"{value:g}" for value in grades.dropna()})
        raise ModelInputError(
            f"{_describe(files)} holds no upper-grade students ({variable} == {keep}); "
            f"{variable} holds {found}. The course analyses the upper grade of Population 2 "
            "(eighth grade); pass the Population 2 file, or upper_grade_only=False to keep "
            "every grade."
        )
    return kept


def _read_country(
    pyreadstat: ModuleType,
    files: tuple[Path, ...],
    idcntry: int,
    *,
    from_folder: bool,
    pv_prefix: str,
    upper_grade_only: bool,
    sampling_design: bool,
) -> tuple[pd.DataFrame, tuple[Path, ...], int]:
    """Read one country's file(s) into the raw frame expected by ``tidy_timss``.

    Returns the raw frame, the files read and the students left out as not of the upper grade.
    """
    pvs = [f"{pv_prefix}0{k}" for k in range(1, 6)]
    columns = [_read_columns(pyreadstat, path) for path in files]
    design = [*DESIGN_VARIABLES, _replicate_variable(columns)] if sampling_design else []
    needed = [*ID_VARIABLES, SEX_VARIABLE, *PARENT_EDUCATION_VARIABLES, *pvs, *design]
    optional = ["IDGRADER", "IDGRADE"] if upper_grade_only else []
    if sampling_design:
        optional += list(_OPTIONAL_DESIGN_VARIABLES)
    if from_folder and len(files) == 2 and all(name in columns[0] for name in needed):
        files, columns = files[:1], columns[:1]
    available = set().union(*columns)
    missing = [name for name in needed if name not in available]
    missing += [key for key in ID_VARIABLES if any(key not in found for found in columns)]
    if missing:
        raise _missing_variable_error(files, list(dict.fromkeys(missing)), available, pv_prefix)
    wanted: list[list[str]] = [list(ID_VARIABLES) for _ in files]
    for name in [*needed[len(ID_VARIABLES) :], *optional]:
        for position, found in enumerate(columns):
            if name in found:
                wanted[position].append(name)
                break
    frames = [
        _read_variables(pyreadstat, path, found, names)
        for path, found, names in zip(files, columns, wanted, strict=True)
    ]
    for frame in frames:
        for key in ID_VARIABLES:
            frame[key] = _numbers(frame[key], key, files)
            if frame[key].isna().any():
                raise ModelInputError(
                    f"{_describe(files)}: {key} is missing for {int(frame[key].isna().sum())} "
                    "student(s); every IEA student record has an IDCNTRY, IDSCHOOL and "
                    "IDSTUD. Pass IEA's original file."
                )
            try:
                frame[key] = check_integer_ids(frame[key], key)
            except ModelInputError as error:
                raise ModelInputError(f"{_describe(files)}: {error}") from error
    if len(frames) == 2:
        merged = _merge(frames, files, ID_VARIABLES)
    else:
        merged = frames[0]
        if merged.duplicated(list(ID_VARIABLES)).any():
            raise ModelInputError(
                f"{_describe(files)} holds students more than once for the same "
                f"{', '.join(ID_VARIABLES)}; pass IEA's original file of one country."
            )
    if merged.empty:
        raise ModelInputError(
            f"{_describe(files)} holds no students. Pass the TIMSS 1995 Population 2 "
            f"student file of {COUNTRIES[idcntry]}. " + _expected_layout(pv_prefix)
        )
    codes = _check_country(merged, idcntry, files)
    n_students = merged.shape[0]
    if upper_grade_only:
        merged = _upper_grade(merged, files)
        codes = codes.loc[merged.index]
    n_other_grades = n_students - merged.shape[0]
    raw = pd.DataFrame(
        {
            "idcntry": codes.astype(int),
            "idschool": merged["IDSCHOOL"].astype(int),
            "idstud": merged["IDSTUD"].astype(int),
            "boy": _boy(merged, files),
            "parent_educ": _parent_education(merged, files),
        }
    )
    for source, target in zip(pvs, PLAUSIBLE_VALUES, strict=True):
        raw[target] = _numbers(merged[source], source, files)
    for name in [*design, *_OPTIONAL_DESIGN_VARIABLES] if sampling_design else []:
        if name in merged.columns:
            values = _numbers(merged[name], name, files)
            raw[name.lower()] = values.where(~values.isin(DESIGN_MISSING_CODES.get(name, ())))
    raw = raw.reset_index(drop=True)
    if sampling_design:
        try:
            _check_design(raw)
        except ModelInputError as error:
            raise ModelInputError(f"{_describe(files)}: {error}") from error
    return raw, files, n_other_grades


def _replicate_variable(columns: Sequence[dict[str, str]]) -> str:
    """The name of the replicate indicator in a country's files (JKREP or JKINDIC).

    Without either, a description of both, which the missing-variable error reports.
    """
    for found in columns:
        for name in _REPLICATE_VARIABLES:
            if name in found:
                return name
    return " or ".join(_REPLICATE_VARIABLES)


def _common_design(raws: list[pd.DataFrame]) -> tuple[list[pd.DataFrame], dict[str, str], str]:
    """Give both countries' raw frames the same design columns.

    Returns the frames, the IEA name of each tidy design column (by country where
    the releases differ), and a note on optional variables left out.
    """
    countries = list(COUNTRIES.values())
    note = ""
    for name in (name.lower() for name in _OPTIONAL_DESIGN_VARIABLES):
        holders = [country for country, raw in zip(countries, raws, strict=True) if name in raw]
        if 0 < len(holders) < len(raws):
            raws = [raw.drop(columns=name, errors="ignore") for raw in raws]
            note += f" {name.upper()} was found only in {holders[0]}'s files and is left out."
    replicate = [next(c for c in raw.columns if c.upper() in _REPLICATE_VARIABLES) for raw in raws]
    raws = [
        raw.rename(columns={old: replicate[0]}) for raw, old in zip(raws, replicate, strict=True)
    ]
    names = {"jk_replicate": replicate[0].upper()}
    if len(set(replicate)) > 1:
        names["jk_replicate"] = ", ".join(
            f"{name.upper()} ({country})"
            for name, country in zip(replicate, countries, strict=True)
        )
    return raws, names, note


def read_timss_files(
    korea: FilePath | tuple[FilePath, FilePath],
    usa: FilePath | tuple[FilePath, FilePath],
    *,
    plausible_values: str = "BSMPV",
    upper_grade_only: bool = True,
    sampling_design: bool = True,
) -> pd.DataFrame:
    """Read the real TIMSS 1995 student files of Korea and the USA into the tidy frame.

    Each country's file(s) are read with pyreadstat, checked (country code, known
    codes, no student lost in a merge, positive weights, one school weight per
    school), recoded (``ITSEX`` into ``boy``, the parents' education into four
    levels, IEA missing codes into missing values) and passed to
    :func:`hlmteach.data.tidy_timss`, which standardises the plausible values over
    both countries together and derives the school and within-school weights. The
    module's documentation lists the expected variables, the code mappings, the
    names of the design variables in each release, and their sources.

    Parameters
    ----------
    korea, usa : path, (path, path) or folder
        Each country's TIMSS 1995 Population 2 student data: one SPSS (``.sav``,
        ``.zsav``, ``.por``) or SAS (``.sas7bdat``, ``.xpt``) file holding every
        variable (e.g. ``BSGKORM1.sav``); or a ``(background, achievement)`` pair
        (e.g. ``("BSGKORM1.sav", "BSAKORM1.sav")``), merged on ``IDCNTRY``,
        ``IDSCHOOL`` and ``IDSTUD``; or a folder from which the country's ``BSG``
        file (and, if that lacks a variable, its ``BSA`` file) is taken. Paths may
        be ``str`` or :class:`pathlib.Path`.
    plausible_values : str, default "BSMPV"
        Name stem of the five mathematics plausible values: ``"BSMPV"`` reads
        ``BSMPV01`` to ``BSMPV05`` (the original 1995 values); ``"BSMMAT"`` reads
        ``BSMMAT01`` to ``BSMMAT05`` (the 1999 rescaling in IEA's 2001 re-release).
    upper_grade_only : bool, default True
        Keep only the upper grade of Population 2 (``IDGRADER == 2``, or
        ``IDGRADE == 8`` when ``IDGRADER`` is absent), the eighth grade that the
        course analyses. Files with neither variable are read whole.
    sampling_design : bool, default True
        Read IEA's weights and jackknife variables (:data:`DESIGN_VARIABLES`,
        ``JKREP`` or ``JKINDIC``, and ``WGTADJ2`` when present) and derive
        ``school_weight`` and ``within_school_weight``. ``False`` reads files
        without them; the frame then has no weight columns and supports
        unweighted analyses only.

    Returns
    -------
    DataFrame
        The tidy frame of :func:`hlmteach.data.tidy_timss`, one row per student,
        sorted by country, school and student. ``attrs["label"]`` says that these
        are real TIMSS 1995 data and names the files and plausible values read,
        and the students of other grades left out, whose numbers by country are
        in ``attrs["n_other_grades"]``. With the sampling design, the weight
        columns of :func:`hlmteach.data.tidy_timss` (``total_weight``,
        ``house_weight``, ``senate_weight``, ``school_weight``,
        ``within_school_weight``, ``wgtfac1`` ... ``wgtadj3``, ``jk_zone``,
        ``jk_replicate``), and ``attrs["design_variables"]`` naming the IEA
        variable behind each (e.g. ``{"jk_replicate": "JKREP", ...}``).

    Raises
    ------
    ImportError
        If pyreadstat is not installed.
    InputFileNotFoundError
        (both a ``FileNotFoundError`` and a ``ModelInputError``) If a file does not
        exist, or a folder holds no student file of the country.
    ModelInputError
        (a ``ValueError``) If a country's argument is neither a path nor a pair
        of paths, a file cannot be read, lacks a variable, holds another country,
        an unknown code or an id that is not a whole number (which would merge
        schools), a background/achievement merge would drop students, or a
        weight is missing (or renamed), zero or negative, or the school weight
        varies within a school.

    Examples
    --------
    Two tiny files in IEA's layout, one student per school:

    >>> import tempfile
    >>> import pyreadstat
    >>> def write(folder, name, idcntry, math):
    ...     frame = pd.DataFrame({"IDCNTRY": [idcntry] * 2, "IDSCHOOL": [2, 1],
    ...         "IDSTUD": [20101, 10101], "ITSEX": [1, 2], "BSBGEDUM": [6, 3],
    ...         "BSBGEDUF": [7, 4], **{f"BSMPV0{k}": math for k in range(1, 6)},
    ...         "TOTWGT": [90.0, 40.0], "HOUWGT": 1.0, "SENWGT": 250.0,
    ...         "WGTFAC1": [30.0, 8.0], "WGTADJ1": 1.5, "WGTFAC2": [2.0, 1.0],
    ...         "WGTFAC3": 1.0, "WGTADJ3": [1.0, 10 / 3], "JKZONE": 1, "JKREP": [0, 1]})
    ...     pyreadstat.write_sav(frame, Path(folder) / name)
    ...     return Path(folder) / name
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     timss = read_timss_files(write(folder, "BSGKORM1.sav", 410, [620.0, 580.0]),
    ...                              write(folder, "BSGUSAM1.sav", 840, [520.0, 480.0]))
    >>> timss[["country", "school", "boy", "parent_educ", "math"]].round(3)
      country   school  boy     parent_educ   math
    0   Korea  4100001  1.0  2-year college  0.482
    1   Korea  4100002  0.0         college  1.126
    2     USA  8400001  1.0  2-year college -1.126
    3     USA  8400002  0.0         college -0.482
    >>> timss.attrs["label"].startswith("REAL TIMSS 1995 data")
    True
    >>> timss[["school", "total_weight", "school_weight", "within_school_weight"]].round(3)
        school  total_weight  school_weight  within_school_weight
    0  4100001          40.0           12.0                 3.333
    1  4100002          90.0           45.0                 2.000
    2  8400001          40.0           12.0                 3.333
    3  8400002          90.0           45.0                 2.000
    >>> timss.attrs["design_variables"]["jk_replicate"]
    'JKREP'
    """
    pv_prefix = require_choice(
        plausible_values, _PV_PREFIXES, "plausible_values", normalise=str.upper
    )
    require_flag(upper_grade_only, "upper_grade_only")
    require_flag(sampling_design, "sampling_design")
    pyreadstat = _import_pyreadstat()
    raws = []
    read: dict[int, tuple[Path, ...]] = {}
    other_grades: dict[str, int] = {}
    for idcntry, argument in ((410, korea), (840, usa)):
        files, from_folder = _country_files(argument, idcntry)
        raw, read[idcntry], other_grades[COUNTRIES[idcntry]] = _read_country(
            pyreadstat,
            files,
            idcntry,
            from_folder=from_folder,
            pv_prefix=pv_prefix,
            upper_grade_only=upper_grade_only,
            sampling_design=sampling_design,
        )
        raws.append(raw)
    names: dict[str, str] = {}
    design_note = (
        " Read without the sampling design (sampling_design=False): no weights, for "
        "unweighted analyses only."
    )
    if sampling_design:
        raws, names, design_note = _common_design(raws)
    tidy = tidy_timss(pd.concat(raws, ignore_index=True))
    design = {
        column: names.get(column, source.upper())
        for column, source in tidy.attrs["design_variables"].items()
    }
    if design:
        found = ", ".join(name for name in design.values() if "*" not in name)
        design_note = f" Sampling design: {found}.{design_note}"
    sources = "; ".join(
        f"{COUNTRIES[idcntry]}: {' + '.join(path.name for path in files)}"
        for idcntry, files in read.items()
    )
    grades = "upper grade" if upper_grade_only else "every grade in the files"
    left_out = sum(other_grades.values())
    not_read = (
        " Students of other grades left out: "
        + ", ".join(f"{country} {n}" for country, n in other_grades.items())
        + "."
        if left_out
        else ""
    )
    tidy.attrs["label"] = (
        f"REAL TIMSS 1995 data (IEA International Database, Population 2, {grades}) "
        f"read from your files ({sources}); plausible values {pv_prefix}01..{pv_prefix}05. "
        f"IEA's licence forbids redistributing them.{not_read}{design_note}"
    )
    tidy.attrs["n_other_grades"] = other_grades
    tidy.attrs["design_variables"] = design
    return tidy
