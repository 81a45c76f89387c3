"""The one validation layer that every public entry point goes through.

Each check runs before any computation and raises a :class:`ModelInputError`
(a ``ValueError``) whose message names the argument or column, says what was
found and what to do. Nothing is reinterpreted silently: text that looks
numeric, another package's formula syntax, ids that would merge, and a string
passed where a list of terms belongs each get a clear error.

Examples
--------
>>> require_choice("reml", {"REML", "ML"}, "method", normalise=str.upper)
'REML'
>>> as_term_list("ses", "random")
['ses']
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "InputFileNotFoundError",
    "ModelInputError",
    "as_numbers",
    "as_term_list",
    "check_by_levels",
    "check_formula_text",
    "check_group_ids",
    "check_integer_ids",
    "numbers_stored_as_text",
    "refuse_dates_and_complex",
    "require_choice",
    "require_column_name",
    "require_columns",
    "require_flag",
    "require_frame",
    "require_integer",
    "require_numeric_column",
    "require_positive",
    "require_probability",
    "require_result",
    "require_seed",
]


class ModelInputError(ValueError):
    """The data or the model specification cannot be used; the message says why and what to do."""


class InputFileNotFoundError(ModelInputError, FileNotFoundError):
    """A file or folder the user named is not there: both a ModelInputError and a FileNotFoundError.

    Examples
    --------
    >>> issubclass(InputFileNotFoundError, ModelInputError), issubclass(
    ...     InputFileNotFoundError, FileNotFoundError)
    (True, True)
    """


def require_frame(data: object, argument: str = "data") -> pd.DataFrame:
    """Return ``data`` if it is a non-empty DataFrame; raise otherwise.

    Examples
    --------
    >>> require_frame([1, 2])
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: The argument data must be a pandas DataFrame, not
    list; wrap it with pd.DataFrame(...).
    """
    if not isinstance(data, pd.DataFrame):
        raise ModelInputError(
            f"The argument {argument} must be a pandas DataFrame, not {type(data).__name__}; "
            "wrap it with pd.DataFrame(...)."
        )
    if data.shape[0] == 0:
        raise ModelInputError(
            f"The argument {argument} has no rows: there is nothing to analyse. Check the "
            "filter or the file that produced it."
        )
    if isinstance(data.columns, pd.MultiIndex):
        example = " ".join(map(str, data.columns[0]))
        raise ModelInputError(
            f"The argument {argument} has columns with several levels (a MultiIndex, such as "
            f"{data.columns[0]!r}), which formulas cannot name. Flatten them first, for example "
            f"{argument}.columns = ['_'.join(map(str, c)).strip('_') for c in {argument}.columns] "
            f"('{example.replace(' ', '_')}')."
        )
    if not data.columns.is_unique:
        twice = sorted({str(c) for c in data.columns[data.columns.duplicated()]})
        raise ModelInputError(
            f"The argument {argument} has duplicated column names {twice}; rename them so that "
            "each column has its own name."
        )
    return data


def require_column_name(value: object, argument: str, example: str) -> str:
    """Return ``value`` if it is a column name (a string); raise otherwise.

    Examples
    --------
    >>> require_column_name(["school"], "group", "group='school'")
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: The argument group must be the name of one column, such
    as group='school', not list (['school']).
    """
    if not isinstance(value, str):
        raise ModelInputError(
            f"The argument {argument} must be the name of one column, such as {example}, not "
            f"{type(value).__name__} ({value!r})."
        )
    return value


def require_columns(data: pd.DataFrame, names: Iterable[str], role: str) -> None:
    """Raise if any of ``names`` is not a column of ``data``.

    Examples
    --------
    >>> require_columns(pd.DataFrame({"a": [1]}), ["a", "b"], "formula")
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: The formula refers to column(s) ['b'] that the data
    do not have. Check the spelling; the data's columns are: a.
    """
    missing = [n for n in names if n not in data.columns]
    if missing:
        available = ", ".join(map(str, data.columns[:30]))
        more = f" (and {data.shape[1] - 30} more)" if data.shape[1] > 30 else ""
        raise ModelInputError(
            f"The {role} refers to column(s) {missing} that the data do not have. "
            f"Check the spelling; the data's columns are: {available}{more}."
        )


#: Text that spreadsheets and pandas write for a missing number.
_MISSING_TOKENS = frozenset({"", "nan", "na", "n/a", "null", "none", "."})
_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


def numbers_stored_as_text(column: pd.Series) -> bool:
    """Whether a text column holds numbers written as text (such as ``"0.25"``).

    Examples
    --------
    >>> numbers_stored_as_text(pd.Series(["1.5", "2", None]))
    True
    >>> numbers_stored_as_text(pd.Series(["public", "catholic"]))
    False
    """
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return False
    if isinstance(column.dtype, pd.CategoricalDtype):
        if pd.api.types.is_numeric_dtype(column.cat.categories):
            return False  # an explicit categorical of numbers is a category, not text
        values = pd.Series(column.cat.categories)
    else:
        values = column.dropna()
    if values.shape[0] == 0:
        return False
    text = values.astype(str).str.strip()
    text = text[~text.str.lower().isin(_MISSING_TOKENS)]
    return bool(text.shape[0] > 0 and text.str.match(_NUMBER).all())


def require_numeric_column(data: pd.DataFrame, column: str, role: str) -> pd.Series:
    """Return ``data[column]`` if it is numeric; name the column and the fix otherwise.

    Examples
    --------
    >>> require_numeric_column(pd.DataFrame({"x": ["1", "2"]}), "x", "variable to centre")
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: The variable to centre 'x' holds numbers stored as
    text (dtype object). Convert it with data['x'] = pd.to_numeric(data['x']) and try again.
    """
    require_columns(data, [column], role)
    values = data[column]
    if isinstance(values, pd.DataFrame):
        raise ModelInputError(f"The {role} {column!r} names more than one column; rename them.")
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iuf":  # the usual case, at once
        if dtype.kind == "f" and np.isinf(values.to_numpy()).any():
            _refuse_infinite(column, role)
        return values
    if pd.api.types.is_bool_dtype(values):
        return values.astype(float)
    refuse_dates_and_complex(values, column, role)
    if pd.api.types.is_numeric_dtype(values):
        # Only floats can be infinite; a missing value reads as NaN, which is not.
        if values.dtype.kind == "f" and np.isinf(_as_floats(values)).any():
            _refuse_infinite(column, role)
        return values
    if numbers_stored_as_text(values):
        raise ModelInputError(
            f"The {role} {column!r} holds numbers stored as text (dtype {values.dtype}). "
            f"Convert it with data[{column!r}] = pd.to_numeric(data[{column!r}]) and try again."
        )
    raise ModelInputError(
        f"The {role} {column!r} is not numeric (dtype {values.dtype}, values such as "
        f"{values.dropna().astype(str).unique()[:3].tolist()}). Use a numeric column (convert "
        "text with pd.to_numeric), or code the categories as 0/1 dummies."
    )


def _refuse_infinite(column: str, role: str) -> None:
    raise ModelInputError(
        f"The {role} {column!r} contains infinite values. Replace them (for example with "
        "NaN, which leaves those rows out) and try again."
    )


def _as_floats(values: pd.Series) -> np.ndarray:
    """A numeric column as floats, missing values as NaN; a view of a numpy float column."""
    if isinstance(values.dtype, np.dtype):
        return values.to_numpy(dtype=float)
    return values.to_numpy(dtype=float, na_value=np.nan)


def refuse_dates_and_complex(column: pd.Series, name: str, role: str) -> None:
    """Raise for dates, durations and complex numbers: not a linear model's numbers.

    Examples
    --------
    >>> refuse_dates_and_complex(pd.Series([1 + 2j]), "x", "predictor")
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: The predictor 'x' holds complex numbers (dtype
    complex128); a linear model needs real numbers. Use the real part or the modulus explicitly.
    """
    if pd.api.types.is_datetime64_any_dtype(column) or pd.api.types.is_timedelta64_dtype(column):
        raise ModelInputError(
            f"The {role} {name!r} holds dates or durations (dtype {column.dtype}). Turn it into "
            f"a number first, for example years since a start date: "
            f"(data[{name!r}] - data[{name!r}].min()).dt.days / 365.25."
        )
    if pd.api.types.is_complex_dtype(column):
        raise ModelInputError(
            f"The {role} {name!r} holds complex numbers (dtype {column.dtype}); a linear model "
            "needs real numbers. Use the real part or the modulus explicitly."
        )


_OTHER_SYNTAX = (
    (re.compile(r"\|"), "lme4/nlme's '(term | group)' random-effect syntax"),
    (re.compile(r"(^|[^\w.])(re_formula|vc_formula|groups)\s*="), "statsmodels' keyword syntax"),
)


def check_formula_text(formula: object, argument: str = "formula") -> str:
    """Check that a formula is a patsy fixed-part formula, not another package's syntax.

    Examples
    --------
    >>> check_formula_text("mathach ~ ses + (1 | school)")
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: The formula 'mathach ~ ses + (1 | school)' uses
    lme4/nlme's '(term | group)' random-effect syntax, which hlmteach does not read: write
    the fixed part only and give the school and the random slopes as arguments, for example
    fit_hlm(data, 'mathach ~ ses', group='school', random=['ses']) for lme4's mathach ~ ses
    + (ses | school).
    """
    if not isinstance(formula, str):
        raise ModelInputError(
            f"The {argument} must be a string such as 'math ~ college + boy', not "
            f"{type(formula).__name__}."
        )
    for pattern, what in _OTHER_SYNTAX:
        if pattern.search(formula):
            raise ModelInputError(
                f"The {argument} {formula!r} uses {what}, which hlmteach does not read: write the "
                "fixed part only and give the school and the random slopes as arguments, for "
                "example fit_hlm(data, 'mathach ~ ses', group='school', random=['ses']) for "
                "lme4's mathach ~ ses + (ses | school)."
            )
    if "~" not in formula:
        raise ModelInputError(
            f"The {argument} {formula!r} has no '~'; write it as 'outcome ~ predictors', "
            "for example 'math ~ college + boy' or 'math ~ 1' for the intercept-only model."
        )
    if formula.count("~") > 1:
        raise ModelInputError(
            f"The {argument} {formula!r} has more than one '~'; write one 'outcome ~ predictors'."
        )
    if not formula.split("~", 1)[0].strip():
        raise ModelInputError(
            f"The {argument} {formula!r} has no outcome before '~'; write 'outcome ~ predictors'."
        )
    return formula


def as_term_list(value: object, argument: str) -> list[str]:
    """A list of term strings from a list, a tuple or one string (one term, never its letters).

    Examples
    --------
    >>> as_term_list(("ses", "female"), "random")
    ['ses', 'female']
    >>> as_term_list(None, "random")
    []
    """
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Iterable) or isinstance(value, (bytes, pd.DataFrame, dict)):
        raise ModelInputError(
            f"The argument {argument} must be a list of column names or terms, such as "
            f"{argument}=['ses'], not {type(value).__name__}."
        )
    terms = list(value)
    bad = [t for t in terms if not isinstance(t, str) or not t.strip()]
    if bad:
        raise ModelInputError(
            f"The argument {argument} must hold non-empty strings naming terms, such as "
            f"{argument}=['ses']; found {bad!r}."
        )
    for term in terms:
        if "|" in term or "~" in term:
            raise ModelInputError(
                f"The argument {argument} holds {term!r}, which is formula syntax; give the "
                f"level-1 predictors whose slopes vary, such as {argument}=['ses'], and the "
                "school column as group=."
            )
        if term.strip() in ("1", "0", "-1"):
            raise ModelInputError(
                f"The argument {argument} holds {term!r}: the intercept is always random in "
                f"fit_hlm; list only the slopes that vary across schools, or {argument}=[]."
            )
    if len(set(terms)) < len(terms):
        raise ModelInputError(f"The argument {argument} names a term twice: {terms}.")
    return terms


def _kind(value: object) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "boolean"
    if isinstance(value, numbers.Number):
        return "numbers"
    if isinstance(value, str):
        return "text"
    return type(value).__name__


def check_group_ids(column: pd.Series, name: str) -> None:
    """Raise if a grouping column would merge or confuse its schools.

    Mixed kinds (the number ``1`` and the text ``"1"``) and text ids that differ
    only by surrounding spaces cannot be told apart safely.

    Examples
    --------
    >>> check_group_ids(pd.Series([1, "1", 2]), "school")
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: The grouping column 'school' mixes numbers and text
    (for example 1 and '1'), so the same school may appear under two ids. Make the ids one
    kind, for example data['school'] = data['school'].astype(str).
    """
    if column.dtype != object:  # only an object column can hold numbers and text together
        return
    values = column.dropna()
    if values.shape[0] == 0:
        return
    kinds = {_kind(v) for v in values.unique()}
    if len(kinds) > 1:
        by_kind: dict[str, Any] = {}
        for v in values.unique():
            by_kind.setdefault(_kind(v), v)
        examples = " and ".join(repr(v) for v in list(by_kind.values())[:2])
        raise ModelInputError(
            f"The grouping column {name!r} mixes {' and '.join(sorted(kinds))} "
            f"(for example {examples}), so the same school may appear under two ids. Make the ids "
            f"one kind, for example data[{name!r}] = data[{name!r}].astype(str)."
        )
    if kinds == {"text"}:
        text = pd.Series(values.unique())
        stripped = text.str.strip()
        if stripped.nunique() < text.nunique():
            raise ModelInputError(
                f"The grouping column {name!r} has ids that differ only by spaces (such as "
                f"{text[stripped.duplicated(keep=False)].tolist()[:2]}). Strip them with "
                f"data[{name!r}] = data[{name!r}].str.strip() if they are the same school."
            )


def as_numbers(values: pd.Series, what: str, fix: str) -> pd.Series:
    """Convert ``values`` to numbers; a value that is present but not a number is an error.

    Examples
    --------
    >>> as_numbers(pd.Series(["1", "x"]), "The column 'ITSEX'", "pass the original file")
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: The column 'ITSEX' has value(s) that are not numbers,
    such as ['x']; pass the original file.
    """
    numeric = pd.to_numeric(values, errors="coerce")
    bad = values.notna() & numeric.isna()
    if bad.any():
        raise ModelInputError(
            f"{what} has value(s) that are not numbers, such as "
            f"{values[bad].astype(str).unique()[:2].tolist()}; {fix}."
        )
    return numeric


def check_integer_ids(values: pd.Series, name: str) -> pd.Series:
    """Return integer ids, raising if any id has a fractional part (it would be truncated).

    Examples
    --------
    >>> check_integer_ids(pd.Series([1.0, 2.0]), "IDSCHOOL").tolist()
    [1, 2]
    >>> check_integer_ids(pd.Series([1.5, 1.7]), "IDSCHOOL")
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: The id column 'IDSCHOOL' has 2 value(s) that are
    not whole numbers (such as 1.5 and 1.7). Turning them into integer ids would merge
    different schools; check the file, or keep the ids as text.
    """
    numeric = as_numbers(values, f"The id column {name!r}", "check the file")
    present = numeric.dropna().to_numpy(dtype=float)
    fractional = present[(~np.isfinite(present)) | (present != np.round(present))]
    if fractional.size:
        shown = " and ".join(f"{v:g}" for v in np.unique(fractional)[:2])
        raise ModelInputError(
            f"The id column {name!r} has {fractional.size} value(s) that are not whole numbers "
            f"(such as {shown}). Turning them into integer ids would merge different schools; "
            "check the file, or keep the ids as text."
        )
    return numeric.astype("Int64") if numeric.isna().any() else numeric.astype(np.int64)


def check_by_levels(column: pd.Series, name: str) -> None:
    """Raise if the levels of a ``by=`` column are missing or would collide as labels.

    Examples
    --------
    >>> check_by_levels(pd.Series([1, "1"]), "country")
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: The by= column 'country' has levels that look the
    same as text (1 and '1'), so their fits would share one label and one of them would be
    lost. Make the levels one kind, for example data['country'] =
    data['country'].astype(str).
    """
    if column.isna().any():
        raise ModelInputError(
            f"The by= column {name!r} has {int(column.isna().sum())} missing value(s); fill or "
            "drop them so that every row belongs to a group."
        )
    seen: dict[str, Any] = {}
    for level in column.unique():
        label = str(level)
        if label in seen and seen[label] is not level:
            raise ModelInputError(
                f"The by= column {name!r} has levels that look the same as text "
                f"({seen[label]!r} and {level!r}), so their fits would share one label and one "
                f"of them would be lost. Make the levels one kind, for example "
                f"data[{name!r}] = data[{name!r}].astype(str)."
            )
        seen[label] = level


def require_choice(
    value: object,
    choices: Collection[str],
    argument: str,
    normalise: Callable[[str], str] = str,
) -> str:
    """Return the normalised ``value`` if it is one of ``choices``; raise otherwise.

    Examples
    --------
    >>> require_choice("svg", ("png", "pdf"), "kind")
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: Unknown kind 'svg'; use one of 'pdf', 'png'.
    """
    key = normalise(value) if isinstance(value, str) else value
    try:
        known = key in choices
    except TypeError:  # an unhashable value, such as a list, is no choice
        known = False
    if not known:
        options = ", ".join(repr(c) for c in sorted(choices))
        raise ModelInputError(f"Unknown {argument} {value!r}; use one of {options}.")
    return key


def _real(value: object, argument: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ModelInputError(
            f"The argument {argument} must be a number, not {type(value).__name__} ({value!r})."
        )
    number = float(value)
    if not np.isfinite(number):
        raise ModelInputError(f"The argument {argument} must be finite, not {value!r}.")
    return number


def require_positive(value: object, argument: str, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a float if it is positive (or, with ``allow_zero``, not negative).

    Examples
    --------
    >>> require_positive(-1.96, "z")
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: The argument z must be positive, not -1.96.
    """
    number = _real(value, argument)
    if number < 0 or (number == 0 and not allow_zero):
        what = "zero or more" if allow_zero else "positive"
        raise ModelInputError(f"The argument {argument} must be {what}, not {value!r}.")
    return number


def require_probability(value: object, argument: str) -> float:
    """Return ``value`` if it lies strictly between 0 and 1.

    Examples
    --------
    >>> require_probability(95, "level")
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: The argument level must lie strictly between 0 and
    1 (for example 0.95), not 95.
    """
    number = _real(value, argument)
    if not 0 < number < 1:
        raise ModelInputError(
            f"The argument {argument} must lie strictly between 0 and 1 (for example 0.95), "
            f"not {value!r}."
        )
    return number


def require_integer(value: object, argument: str, minimum: int = 1) -> int:
    """Return ``value`` if it is a whole number of at least ``minimum``.

    Examples
    --------
    >>> require_integer(2.5, "n_boot")
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: The argument n_boot must be a whole number of at
    least 1, not 2.5.
    """
    ok = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
    if not ok or int(value) < minimum:  # type: ignore[call-overload]
        raise ModelInputError(
            f"The argument {argument} must be a whole number of at least {minimum}, not {value!r}."
        )
    return int(value)  # type: ignore[call-overload]


def require_flag(value: object, argument: str) -> bool:
    """Return ``value`` if it is True or False; a string such as ``"no"`` would read as True.

    Examples
    --------
    >>> require_flag("no", "inplace")
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: The argument inplace must be True or False, not str
    ('no').
    """
    if not isinstance(value, (bool, np.bool_)):
        raise ModelInputError(
            f"The argument {argument} must be True or False, not {type(value).__name__} "
            f"({value!r})."
        )
    return bool(value)


def require_seed(seed: object) -> int | None:
    """Return ``seed`` if it is None or a whole number of at least 0, as numpy's generators take.

    Examples
    --------
    >>> require_seed(-1)
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: The argument seed must be a whole number of at least 0
    (such as seed=1), or None for a different simulation each time; not -1.
    """
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ModelInputError(
            f"The argument seed must be a whole number of at least 0 (such as seed=1), or None "
            f"for a different simulation each time; not {seed!r}."
        )
    return int(seed)


def require_result(value: object, kinds: Sequence[type], argument: str) -> None:
    """Raise if ``value`` is not a result of one of ``kinds`` (for example a whole ``by=`` set).

    Examples
    --------
    >>> require_result({"Korea": 1}, [int], "fit")
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: The argument fit must be one fitted model (int),
    not dict. A fit with by= holds one model per level: pick one, for example fits['USA'].
    """
    if isinstance(value, tuple(kinds)):
        return
    names = " or ".join(k.__name__ for k in kinds)
    hint = (
        " A fit with by= holds one model per level: pick one, for example fits['USA']."
        if hasattr(value, "keys")
        else ""
    )
    raise ModelInputError(
        f"The argument {argument} must be one fitted model ({names}), not "
        f"{type(value).__name__}.{hint}"
    )
