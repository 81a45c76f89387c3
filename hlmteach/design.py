"""From a data frame and a formula to checked model arrays.

Everything a learner can get wrong about the input is caught here, before any
estimation, with a message that names the problem and the fix: a missing
column, a non-numeric, constant or infinite outcome, fewer than two schools,
collinear predictors, a random slope that does not vary within schools.
Rows with missing values are dropped and counted, never silently.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import re
import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import numpy as np
import pandas as pd

from .validation import (
    ModelInputError,
    as_term_list,
    check_formula_text,
    check_group_ids,
    numbers_stored_as_text,
    refuse_dates_and_complex,
    require_column_name,
    require_columns,
    require_frame,
    require_numeric_column,
)

__all__ = [
    "Design",
    "ModelInputError",
    "build_design",
    "category_references",
    "formula_variables",
    "random_without_fixed_mean",
    "varies_within_groups",
]


@dataclass(frozen=True)
class Design:
    """Checked arrays of a two-level model.

    Attributes
    ----------
    y : ndarray
        Outcome (N,).
    X : ndarray
        Fixed-effect design (N, p), columns named by ``fixed_names``.
    Z : ndarray or None
        Random-effect design (N, q), columns named by ``random_names``; None for OLS.
    group_codes : ndarray
        School of each row as 0..J-1, in the order of ``group_labels``.
    group_labels : ndarray
        The schools' own ids.
    outcome : str
        Name of the outcome.
    n_dropped : int
        Rows not used because a variable in the model was missing
        (SAS's "Observations Not Used").
    rows : Index
        Labels of the rows used, in the input frame.
    """

    y: np.ndarray
    X: np.ndarray
    Z: np.ndarray | None
    group_codes: np.ndarray | None
    group_labels: np.ndarray | None
    outcome: str
    fixed_names: list[str]
    random_names: list[str]
    n_dropped: int
    rows: pd.Index

    @property
    def n_obs(self) -> int:
        """Rows used."""
        return int(self.y.shape[0])

    @property
    def n_groups(self) -> int:
        """Schools used."""
        return 0 if self.group_labels is None else int(self.group_labels.shape[0])

    @cached_property
    def school_level(self) -> np.ndarray:
        """Which fixed-effect columns are constant within every school (the intercept included)."""
        return ~varies_within_groups(self.X, self.group_codes)


def random_without_fixed_mean(design: Design) -> list[str]:
    """The random effects whose average across schools the fixed part does not estimate.

    A random effect's mean is estimated when its column lies in the column space of
    the fixed part, whatever the names: ``ses:female`` is ``female:ses``, ``C(x)``'s
    dummies are ``x``'s, and the dummies of ``0 + C(sector)`` hold the intercept.

    Parameters
    ----------
    design : Design
        A checked two-level design.

    Returns
    -------
    list of str
        Names of the random effects (``design.random_names``) outside X's column space.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [1.0, 2, 3, 4, 5, 7, 2, 4, 3], "x": [0, 1, 0, 1, 1, 0, 0, 1, 1],
    ...                    "z": [1.0, 2, 3, 1, 5, 2, 2, 4, 1],
    ...                    "school": [1, 1, 1, 2, 2, 2, 3, 3, 3]})
    >>> random_without_fixed_mean(build_design(df, "y ~ x", "school", random=["z"]))
    ['z']
    >>> random_without_fixed_mean(build_design(df, "y ~ 0 + C(x)", "school"))
    []
    """
    if design.Z is None:
        return []
    fixed = set(design.fixed_names)
    candidates = [k for k, name in enumerate(design.random_names) if name not in fixed]
    if not candidates:  # every column is one of X's, by name
        return []
    X = design.X / np.sqrt((design.X**2).sum(axis=0))
    Z = design.Z[:, candidates]
    Q = np.linalg.qr(X)[0]  # X has full rank: build_design checked it
    residual = np.sqrt(((Z - Q @ (Q.T @ Z)) ** 2).sum(axis=0))
    outside = residual > 1e-8 * np.sqrt((Z**2).sum(axis=0))
    return [design.random_names[k] for k, out in zip(candidates, outside, strict=True) if out]


def varies_within_groups(values: np.ndarray, group_codes: np.ndarray) -> np.ndarray:
    """For each column, whether it takes more than one value inside at least one group.

    The values are finite numbers (a design's columns).

    Examples
    --------
    >>> varies_within_groups(np.array([[1.0, 1], [1, 2], [1, 3]]), np.array([0, 0, 1])).tolist()
    [False, True]
    """
    columns = np.asarray(values, dtype=float)
    return _varies_by_column(list(columns.reshape(columns.shape[0], -1).T), group_codes)


def _varies_by_column(columns: Sequence[np.ndarray | None], group_codes: np.ndarray) -> np.ndarray:
    """:func:`varies_within_groups` of columns given one by one; None is a column of ones.

    Column by column, because numpy reduces a tall C-ordered matrix along its rows
    slowly; a design's columns are at hand as contiguous arrays before they are one.

    Examples
    --------
    >>> _varies_by_column([None, np.array([2.0, 2, 5]), np.array([1.0, 2, 2])], [1, 1, 0]).tolist()
    [False, False, True]
    """
    codes = np.asarray(group_codes)
    order = None
    if np.any(codes[1:] < codes[:-1]):  # rows not already in the order of their groups
        order = np.argsort(codes, kind="stable")
        codes = codes[order]
    # In group order, a column varies within a group where two neighbours in it differ.
    same_group = codes[1:] == codes[:-1]
    varies = np.zeros(len(columns), dtype=bool)
    for k, column in enumerate(columns):
        if column is not None:
            ordered = column if order is None else column[order]
            varies[k] = np.any((ordered[1:] != ordered[:-1]) & same_group)
    return varies


_PYTHON_NAMES = set(dir(builtins)) | {"np", "numpy"}


@lru_cache(maxsize=512)
def _model_desc(formula: str) -> Any:
    """Patsy's parse of a formula (terms and factors), kept: a fit reads it several times."""
    from patsy import ModelDesc

    return ModelDesc.from_formula(formula)


def formula_variables(formula: str, data: pd.DataFrame | None = None) -> list[str]:
    """The data columns a patsy formula refers to.

    Patsy looks a name up in the data first, then among Python's and its own
    functions; so does this. Without ``data``, a name that is also a Python or
    patsy builtin (``round``, ``C``) is taken to be the builtin.

    Parameters
    ----------
    formula : str
        A patsy formula such as ``"mathach ~ ses + C(sector)"``.
    data : DataFrame, optional
        The data the formula is applied to.

    Returns
    -------
    list of str
        Column names, in order of first appearance; ``Q('a b')`` gives ``'a b'``.

    Examples
    --------
    >>> formula_variables("math ~ college + np.log(size) + C(boy) + Q('2010 score')")
    ['math', 'college', 'size', 'boy', '2010 score']
    >>> formula_variables("math ~ round + ses", pd.DataFrame({"round": [1], "math": [1]}))
    ['math', 'round', 'ses']
    """
    names, _, _, builtin = _formula_names(formula)
    return _as_columns(names, builtin, data)


def _as_columns(
    names: Collection[str], builtin: frozenset[str], data: pd.DataFrame | None
) -> list[str]:
    """``names`` less those of ``builtin`` (the names among them that Python or patsy
    define) that are not columns of ``data``."""
    if not builtin:
        return list(names)
    present = () if data is None else data.columns
    return [n for n in names if n not in builtin or n in present]


@lru_cache(maxsize=1)
def _known_names() -> frozenset[str]:
    import patsy.builtins

    return frozenset(_PYTHON_NAMES | set(patsy.builtins.__all__))


class _KnownNames:
    """Membership in Python's and patsy's builtin names, patsy imported on first use."""

    def __contains__(self, name: object) -> bool:
        return name in _known_names()


_KNOWN_NAMES = _KnownNames()


@lru_cache(maxsize=512)
def _formula_names(
    formula: str,
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], frozenset[str]]:
    """The names a formula's factors read, the functions they call that neither Python nor
    patsy defines, the factors that are not Python expressions (such as ``a b``), each in
    order of first appearance, and the names read that Python or patsy define.

    Names include builtins (filtered by :func:`formula_variables`) and the text of
    ``Q('...')``, which is a column's name.
    """
    names: list[str] = []
    called: list[str] = []
    unreadable: list[str] = []
    desc = _model_desc(formula)
    for term in [*desc.lhs_termlist, *desc.rhs_termlist]:
        for factor in term.factors:
            code = factor.name()
            read = _factor_names(code)
            if read is None:
                unreadable.append(code)
            else:
                names.extend(read[0])
                called.extend(read[1])
    return (
        tuple(dict.fromkeys(names)),
        tuple(f for f in dict.fromkeys(called) if f not in _KNOWN_NAMES),
        tuple(unreadable),
        frozenset(n for n in names if n in _KNOWN_NAMES),
    )


@lru_cache(maxsize=1024)
def _factor_names(code: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The names one factor's Python code reads (``Q('a b')`` reads ``'a b'``, numpy's
    namespace is none) and the functions it calls by name; None if it is not Python.

    Examples
    --------
    >>> _factor_names("np.log(x + Q('a b')) * round(z)")
    (('z', 'x', 'a b'), ('round', 'Q'))
    """
    try:
        tree = ast.parse(code, mode="eval")
    except SyntaxError:
        return None
    names: list[str] = []
    called: list[str] = []
    functions: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            functions.add(id(node.func))
            called.append(node.func.id)
            argument = node.args[0] if len(node.args) == 1 else None
            if (
                node.func.id == "Q"
                and isinstance(argument, ast.Constant)
                and isinstance(argument.value, str)
            ):
                names.append(argument.value)
        elif (
            isinstance(node, ast.Name)
            and id(node) not in functions
            and node.id not in ("np", "numpy")
        ):
            names.append(node.id)
    return tuple(dict.fromkeys(names)), tuple(dict.fromkeys(called))


#: Functions of other formula languages, with patsy's spelling.
_OTHER_FUNCTIONS = {
    "poly": "a polynomial is written term by term: x + I(x**2)",
    "offset": "patsy has no offset; subtract it from the outcome instead: I(y - x) ~ ...",
    "cbind": "fit_hlm models one outcome at a time",
    "factor": "a category is C(x)",
    "as.factor": "a category is C(x)",
    "log": "the logarithm is np.log(x)",
    "exp": "the exponential is np.exp(x)",
    "sqrt": "the square root is np.sqrt(x)",
    "relevel": "a reference level is C(x, Treatment('level'))",
}


def _check_formula_names(data: pd.DataFrame, formula: str, role: str, shown: str) -> list[str]:
    """The columns ``formula`` reads, after refusing what patsy cannot evaluate on ``data``:
    text that is not a Python expression, functions patsy does not know and absent columns.

    ``role`` names the formula in messages ("formula", "random part") and ``shown`` is
    the text the user wrote.
    """
    names, called, unreadable, builtin = _formula_names(formula)
    for code in unreadable:
        if code.strip() == ".":
            raise ModelInputError(
                f"The {role} {shown} uses '.', R's shorthand for every other column, which "
                "patsy does not have: name each predictor, as in 'y ~ a + b + c'."
            )
        joined = code.replace(" ", "")
        name = code if code in data.columns or joined not in data.columns else joined
        raise ModelInputError(
            f"The {role} {shown} has the term {code!r}, which is not a Python expression. "
            f"A column whose name has spaces or other characters, or starts with a digit, "
            f"must be quoted: write Q({name!r})."
        )
    unknown = [f for f in called if f not in data.columns]
    if unknown:
        hint = _OTHER_FUNCTIONS.get(unknown[0], "use numpy's functions as np.name(x)")
        raise ModelInputError(
            f"The {role} {shown} calls {unknown[0]}(), which is not a function that patsy or "
            f"numpy provides ({hint}). Patsy's own are C(), I(), Q(), center(), standardize() "
            "and bs(); write powers as I(x**2)."
        )
    variables = _as_columns(names, builtin, data)
    require_columns(data, variables, role)
    return variables


def category_references(
    data: pd.DataFrame, formula: str, rows: pd.Index | None = None
) -> dict[str, str]:
    """The text and categorical columns of a formula, with the level patsy takes as reference.

    Patsy codes such a column with treatment contrasts against its first level: the
    first category of a pandas categorical, else the first in sorted order. Other
    programs order levels their own way (R alphabetically, SAS puts the reference
    last), so code written for them must name it.

    Parameters
    ----------
    data : DataFrame
        The data the model is fitted to.
    formula : str
        The model's patsy formula.
    rows : Index, optional
        Labels of the rows the model uses (``Design.rows``); levels found only in other
        rows are no reference, as the design drops them.

    Returns
    -------
    dict of str to str
        Column name to reference level, for the formula's non-numeric columns.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [1.0, 2.0], "g": pd.Categorical(["b", "a"], ["b", "a"])})
    >>> category_references(df, "y ~ g"), category_references(df, "y ~ g", rows=df.index[1:])
    ({'g': 'b'}, {'g': 'a'})
    """
    references: dict[str, str] = {}
    for name in formula_variables(formula, data):
        column = data[name] if name in data.columns else None
        if not isinstance(column, pd.Series):  # absent, or a name that several columns share
            continue
        if isinstance(column.dtype, np.dtype) and column.dtype.kind in "biufcmM":
            continue  # numpy numbers, booleans and dates: no text level to name
        if rows is not None:
            column = column.loc[rows]
        if isinstance(column.dtype, pd.CategoricalDtype):
            used = column.cat.remove_unused_categories().cat.categories  # as the design drops
            if len(used):
                references[name] = str(used[0])
        elif pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column):
            levels = column.dropna().unique()
            if len(levels):
                try:
                    references[name] = str(sorted(levels)[0])
                except TypeError:  # mixed types: patsy would refuse them anyway
                    continue
    return references


def _as_plain_numbers(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Nullable pandas dtypes (Int64, Float64, boolean) as numpy floats, which patsy reads."""
    extension = [c for c in columns if _is_nullable_number(frame[c])]
    if not extension:
        return frame
    return frame.assign(**{c: frame[c].to_numpy(dtype=float, na_value=np.nan) for c in extension})


def _is_nullable_number(column: pd.Series) -> bool:
    """Whether a column has a nullable pandas number or boolean dtype (Int64, Float64, boolean)."""
    return isinstance(column.dtype, pd.api.extensions.ExtensionDtype) and (
        pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)
    )


def _rows_used(data: pd.DataFrame, used: Sequence[str]) -> np.ndarray | None:
    """The rows with every column of ``used`` present (None: all), after refusing infinities.

    Each column is read once, as a numpy array where it is one: a float column's
    missing values are its NaNs, and an integer or boolean numpy column has none.

    Examples
    --------
    >>> frame = pd.DataFrame({"y": [1.0, np.nan, 3.0], "g": ["a", "b", None], "k": [1, 2, 3]})
    >>> _rows_used(frame, ["y", "g", "k"]).tolist(), _rows_used(frame, ["k"])
    ([True, False, False], None)
    """
    infinite: list[str] = []
    missing: list[np.ndarray] = []
    for name in used:
        column = data[name]
        dtype = column.dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "biu":
            continue  # can hold neither a missing nor an infinite value
        if isinstance(dtype, np.dtype) and dtype.kind == "f":
            values = column.to_numpy()
            if not (np.isfinite(values.max()) and np.isfinite(values.min())):  # NaN or inf
                if np.isinf(values).any():
                    infinite.append(name)
                missing.append(np.isnan(values))
            continue
        if (
            pd.api.types.is_numeric_dtype(column)
            and np.isinf(column.to_numpy(dtype=float, na_value=np.nan)).any()
        ):
            infinite.append(name)
        absent = column.isna().to_numpy()
        if absent.any():
            missing.append(absent)
    if infinite:
        raise ModelInputError(
            f"Column(s) {infinite} contain infinite values. Replace them (for example with "
            "NaN, which drops those rows) before fitting."
        )
    return ~np.logical_or.reduce(missing) if missing else None


class _ModelColumns:
    """A model's columns as the design reads them: on the rows used, each converted once.

    Parameters
    ----------
    data : DataFrame
        The data as given.
    keep : ndarray of bool, optional
        The rows used; None for all of them.
    plain : sequence of str
        The columns whose nullable dtypes (Int64, Float64, boolean) are read as
        floats, as :func:`_as_plain_numbers` does for patsy; their unused categories
        (pandas categoricals) are dropped, as lme4 drops unused factor levels.
    computed : collection of str
        Columns that formulas compute with (:func:`_computed_variables`): patsy gets
        integer ones as floats, whose arithmetic does not overflow.

    Examples
    --------
    >>> columns = _ModelColumns(pd.DataFrame({"x": [1, 2, 3], "t": ["a", "b", "c"]}))
    >>> columns.number("x").tolist(), columns.number("t"), columns.n_rows
    ([1.0, 2.0, 3.0], None, 3)
    """

    def __init__(
        self,
        data: pd.DataFrame,
        keep: np.ndarray | None = None,
        plain: Sequence[str] = (),
        computed: Collection[str] = (),
    ) -> None:
        self.data = data
        self.keep = keep
        self.plain = tuple(plain)
        self.computed = computed
        self.n_rows = data.shape[0] if keep is None else int(np.count_nonzero(keep))
        self._numbers: dict[str, np.ndarray | None] = {}
        self._frame: pd.DataFrame | None = None

    def number(self, name: str) -> np.ndarray | None:
        """Column ``name`` as floats when patsy would read it as one number (int or float)."""
        if name not in self._numbers:
            self._numbers[name] = self._read_number(name)
        return self._numbers[name]

    def _read_number(self, name: str) -> np.ndarray | None:
        if not name.isidentifier() or name not in self.data.columns:
            return None
        column = self.data[name]
        if not isinstance(column, pd.Series):
            return None
        if name in self.plain and _is_nullable_number(column):
            values = column.to_numpy(dtype=float, na_value=np.nan)
        elif column.dtype.kind in "iuf":
            values = column.to_numpy(dtype=float)
        else:
            return None
        return values if self.keep is None else values[self.keep]

    def floated(self) -> list[str]:
        """The integer columns that formulas compute with, which patsy gets as floats."""
        return [c for c in self.computed if c in self.plain and self.data[c].dtype.kind in "iu"]

    def frame(self) -> pd.DataFrame:
        """The rows used as a data frame for patsy, nullable numbers as floats."""
        if self._frame is None:
            rows = self.data if self.keep is None else self.data.loc[self.keep]
            frame = _as_plain_numbers(rows, self.plain)
            changed = {c: frame[c].astype(float) for c in self.floated()}
            changed.update(
                (c, frame[c].cat.remove_unused_categories())
                for c in self.plain
                if isinstance(frame[c].dtype, pd.CategoricalDtype)
            )
            self._frame = frame.assign(**changed) if changed else frame
        return self._frame


def _factor_variables(formula: str, data: pd.DataFrame | None = None) -> tuple[set[str], set[str]]:
    """Right-hand-side variables used as numbers, and those used only inside ``C(...)``
    (as :func:`formula_variables` reads names, given ``data``)."""
    as_number, as_category, builtin = _factor_variable_sets(formula)
    if not builtin:
        return set(as_number), set(as_category)
    keep = _as_columns(as_number | as_category, builtin, data)
    return set(as_number.intersection(keep)), set(as_category.intersection(keep))


@lru_cache(maxsize=512)
def _factor_variable_sets(formula: str) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    as_number: set[str] = set()
    as_category: set[str] = set()
    for term in _model_desc(formula).rhs_termlist:
        for factor in term.factors:
            code = factor.name()
            names = set((_factor_names(code) or ((),))[0])
            (as_category if code.startswith("C(") else as_number).update(names)
    builtin = frozenset(n for n in as_number | as_category if n in _KNOWN_NAMES)
    return frozenset(as_number), frozenset(as_category - as_number), builtin


@lru_cache(maxsize=512)
def _computed_variables(formula: str) -> frozenset[str]:
    """Names read inside an expression (``I(x**2)``, ``np.log(x)``), not as a bare column
    or a category, on either side of ``~``: integer columns there must be floats, or
    patsy's integer arithmetic can overflow.

    Examples
    --------
    >>> sorted(_computed_variables("I(y / 2) ~ x + I(x**2) + C(g) + z:w"))
    ['x', 'y']
    """
    desc = _model_desc(formula)
    computed: set[str] = set()
    for term in [*desc.lhs_termlist, *desc.rhs_termlist]:
        for factor in term.factors:
            code = factor.name()
            read = _factor_names(code)
            if read is not None and code not in read[0] and not code.startswith("C("):
                computed.update(read[0])
    return frozenset(computed)


def _as_model_columns(source: pd.DataFrame | _ModelColumns) -> _ModelColumns:
    """A data frame as the columns of all its rows; model columns unchanged."""
    return _ModelColumns(source) if isinstance(source, pd.DataFrame) else source


def _numeric_matrix(
    terms: Sequence[Any], source: pd.DataFrame | _ModelColumns
) -> tuple[np.ndarray, list[str], list[np.ndarray | None]] | None:
    """The design of ``terms`` when every factor is a plain numeric column, else None.

    This is patsy's matrix, built without its general machinery (which costs more
    than a small fit): with numeric factors only, patsy puts the intercept first,
    then the terms in formula order, one column each, named by the term, holding
    the product of its columns. tests/test_design.py checks it against patsy.
    The third item holds the matrix's columns as contiguous arrays (None for the
    intercept), which the checks read faster than the matrix's strided columns.
    """
    columns = _as_model_columns(source)
    ordered = [t for t in terms if not t.factors][:1] + [t for t in terms if t.factors]
    factors = [[columns.number(factor.name()) for factor in term.factors] for term in ordered]
    if any(values is None for term_values in factors for values in term_values):
        return None
    matrix = np.empty((columns.n_rows, len(ordered)))
    contiguous: list[np.ndarray | None] = []
    for k, term_values in enumerate(factors):
        product = term_values[0] if term_values else None
        for values in term_values[1:]:
            product = product * values
        matrix[:, k] = 1.0 if product is None else product
        contiguous.append(product)
    return matrix, [term.name() if term.factors else "Intercept" for term in ordered], contiguous


#: Missing values are dropped before patsy sees the data; a NaN it then meets comes from a
#: transformation (np.log of a negative number), and the finiteness checks name it.
_TRANSFORMED_NAN = None


def _transformed_nan() -> Any:
    """Patsy's NA_action that keeps NaN as a number, for the finiteness checks to report."""
    global _TRANSFORMED_NAN
    if _TRANSFORMED_NAN is None:
        import patsy

        _TRANSFORMED_NAN = patsy.NAAction(on_NA="raise", NA_types=[])
    return _TRANSFORMED_NAN


def _design_matrices(
    formula: str, source: pd.DataFrame | _ModelColumns
) -> tuple[np.ndarray, np.ndarray, list[str], list[np.ndarray | None]]:
    """``y``, ``X``, the fixed-effect names and X's columns (as :func:`_numeric_matrix`).

    Directly for numeric columns, else by patsy.
    """
    import patsy

    columns = _as_model_columns(source)
    desc = _model_desc(formula)
    lhs = desc.lhs_termlist
    outcome = _numeric_matrix(lhs, columns) if len(lhs) == 1 and lhs[0].factors else None
    fixed = _numeric_matrix(desc.rhs_termlist, columns) if outcome is not None else None
    if outcome is not None and fixed is not None:
        return outcome[0][:, 0], fixed[0], fixed[1], fixed[2]
    frame = columns.frame()
    try:
        # A transformation such as np.log(0) warns; the values it gives are checked later.
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            y_df, X_df = patsy.dmatrices(
                formula, frame, return_type="dataframe", NA_action=_transformed_nan()
            )
    except (patsy.PatsyError, ValueError, TypeError) as exc:
        types = ", ".join(f"{c}: {frame[c].dtype}" for c in formula_variables(formula))
        raise ModelInputError(
            f"The formula {formula!r} cannot be applied to the data: {exc}. Check the types of "
            f"its columns ({types})."
        ) from exc
    if y_df.shape[1] != 1:
        outcome_name = formula.split("~", 1)[0].strip()
        raise ModelInputError(
            f"The outcome {outcome_name!r} expands to {y_df.shape[1]} columns; it must be one "
            "numeric column (a categorical outcome needs a different model)."
        )
    _check_terms_kept(X_df, formula)
    X = X_df.to_numpy(dtype=float)
    names = _integer_level_names(list(X_df.columns), columns.floated())
    return y_df.iloc[:, 0].to_numpy(dtype=float), X, names, list(X.T)


def _integer_level_names(names: list[str], floated: Sequence[str]) -> list[str]:
    """Column names with the levels of integer categories as integers again.

    An integer column that a formula both computes with and names as a category
    (``C(k) + I(k**2)``) reaches patsy as floats, so its dummies would be labelled
    ``C(k)[T.1.0]``; they are labelled ``C(k)[T.1]``, as for any integer column.

    Examples
    --------
    >>> _integer_level_names(["C(k)[T.1.0]", "C(k)[T.-2.0]:x", "C(kk)[T.1.0]"], ["k"])
    ['C(k)[T.1]', 'C(k)[T.-2]:x', 'C(kk)[T.1.0]']
    """
    for column in floated:
        level = re.compile(r"(C\(" + re.escape(column) + r"\b[^\[]*\)\[[A-Za-z]*\.?)(-?\d+)\.0\]")
        names = [level.sub(r"\1\2]", name) for name in names]
    return names


def _check_predictor_types(data: pd.DataFrame, as_number: set[str], as_category: set[str]) -> None:
    """Numbers stored as text would become one dummy per distinct value: refuse them."""
    # numpy's booleans, integers and floats are neither dates, complex numbers nor text.
    named = {
        name: data[name]
        for name in sorted(as_number | as_category)
        if not (isinstance(data[name].dtype, np.dtype) and data[name].dtype.kind in "biuf")
    }
    for name, column in named.items():
        refuse_dates_and_complex(column, name, "predictor")
    for name in sorted(as_number & named.keys()):
        if numbers_stored_as_text(data[name]):
            raise ModelInputError(
                f"The predictor {name!r} holds numbers stored as text (dtype {data[name].dtype}); "
                f"fitted as it is, each distinct value would become its own dummy variable. "
                f"Convert it with data[{name!r}] = pd.to_numeric(data[{name!r}]), or write "
                f"C({name if name.isidentifier() else f'Q({name!r})'}) if it really is a "
                "category."
            )


def _check_terms_kept(X_df: pd.DataFrame, formula: str) -> None:
    """A term that yields no column (a one-level category) must not vanish silently."""
    info = X_df.design_info
    for term, columns in info.term_slices.items():
        if columns.stop == columns.start:
            raise ModelInputError(
                f"The term {term.name()!r} of the formula {formula!r} has only one level in the "
                "rows used, so it adds no column and would be dropped. Remove it from the formula, "
                "or check the data (for example a filter that kept one category)."
            )


def _check_group_argument(group: object, outcome: str, variables: Sequence[str]) -> str:
    require_column_name(group, "group", "group='school'")
    if group == outcome:
        raise ModelInputError(
            f"The grouping column {group!r} is also the outcome; give the column of school ids."
        )
    if group in variables[1:]:
        raise ModelInputError(
            f"The grouping column {group!r} is also in the fixed part of the formula. With one "
            f"fixed effect per {group} there is no {group}-to-{group} variance left to estimate. "
            f"Remove {group!r} from the formula (fit_hlm already gives each {group} its random "
            "intercept), or fit OLS with the dummies if you want fixed school effects."
        )
    return group


def _rank_check(
    X: np.ndarray, names: list[str], role: str = "predictors", y: np.ndarray | None = None
) -> float:
    """Raise if a column of X is a linear combination of the columns before it.

    With ``y``, the same QR factorisation of ``[X, y]`` also gives the residual sum
    of squares of ``y`` on ``X`` (the square of the last diagonal element), which
    is returned; without it, NaN.
    """
    largest = np.abs(X).max(axis=0)
    scale = np.sqrt(((X / np.where(largest > 0, largest, 1.0)) ** 2).sum(axis=0)) * largest
    if np.any(scale == 0):
        k = int(np.flatnonzero(scale == 0)[0])
        raise ModelInputError(f"The {role} column {names[k]!r} is zero in every row used; drop it.")
    p = X.shape[1]
    columns = X / scale if y is None else np.c_[X / scale, y]
    # Without pivoting, R's k-th diagonal is the part of column k that the columns
    # before it cannot explain: (near) zero means an exact linear combination.
    R = np.linalg.qr(columns, mode="r")
    diag = np.abs(np.diag(R))[:p]
    dependent = np.flatnonzero(diag <= 1e-9 * np.sqrt(X.shape[0]) * diag.max())
    if dependent.size:
        k = int(dependent[0])
        raise ModelInputError(
            f"The {role} are collinear: {names[k]!r} is an exact linear combination "
            f"of {names[:k]}. Drop one of them (or a dummy of a category) and fit again."
        )
    return float(R[p, p] ** 2) if y is not None else float("nan")


#: Values beyond this, or columns all of whose values are below _SMALLEST_VALUE, are refused.
#: Estimates alone would survive up to 1e150, whose squares still fit in double precision,
#: but the covariance parameters' standard errors come from an information matrix that
#: holds the fourth powers of the units (variances squared): beyond about 1e75, or below
#: 1e-75, those overflow or underflow (every SE inf, or NaN). Within the range the results
#: are the same in any units.
_LARGEST_VALUE = 1e75
_SMALLEST_VALUE = 1e-75


def _column_extent(columns: Sequence[np.ndarray | None]) -> np.ndarray:
    """The largest absolute value of each column (None: a column of ones); inf or NaN where a
    column is not finite.

    Examples
    --------
    >>> _column_extent([None, np.array([-3.0, 2.0]), np.array([1.0, np.inf])]).tolist()
    [1.0, 3.0, inf]
    """
    return np.array(
        [1.0 if c is None else np.maximum(c.max(), -c.min()) for c in columns], dtype=float
    )


def _check_magnitude(largest: np.ndarray, names: list[str]) -> None:
    """Refuse units so large or so small that the standard errors of the variances cannot
    be represented in double precision: ask for other units.

    ``largest`` holds each variable's largest absolute value (:func:`_column_extent`);
    a zero column is left to the checks that name it.
    """
    values = largest.tolist()
    if max(values) <= _LARGEST_VALUE and min(values) >= _SMALLEST_VALUE:
        return
    too_large = [n for n, v in zip(names, values, strict=True) if v > _LARGEST_VALUE]
    if too_large:
        raise ModelInputError(
            f"The variable(s) {too_large} have values beyond {_LARGEST_VALUE:g}: in such units "
            "the standard errors of the variances (which hold their fourth powers) cannot be "
            "computed in double precision. Express them in larger units (divide them by a "
            "power of ten) and fit again."
        )
    too_small = [n for n, v in zip(names, values, strict=True) if 0 < v < _SMALLEST_VALUE]
    if too_small:
        raise ModelInputError(
            f"The variable(s) {too_small} have no value larger than {_SMALLEST_VALUE:g} in "
            "absolute value: in such units the standard errors of the variances (which hold "
            "their fourth powers) cannot be computed in double precision. Express them in "
            "smaller units (multiply them by a power of ten) and fit again."
        )


def _check_residual_variation(y: np.ndarray, rss: float, outcome: str) -> None:
    """Raise if the fixed part reproduces the outcome exactly: no variance is left to model."""
    tss = float(np.sum((y - y.mean()) ** 2))
    if rss <= 1e-20 * tss:
        raise ModelInputError(
            f"The predictors reproduce the outcome {outcome!r} exactly in every row used, so no "
            "variation is left for a residual or a school variance. Check that no predictor is "
            "the outcome in another form."
        )


#: Up to this many columns, the Gram matrix is built from dot products of the columns.
_FEW_COLUMNS = 16


def _gram_proves_independent(columns: Sequence[np.ndarray | None], n_rows: int) -> bool:
    """Whether the Gram matrix of ``columns`` proves that :func:`_rank_check` would find
    nothing to refuse (None is a column of ones; with the outcome last, that it is not
    reproduced either).

    The QR factorisation of a tall matrix costs several times its Gram matrix, whose
    smallest eigenvalue, with the columns scaled to unit length, bounds every
    squared diagonal element of QR's R from below. When that eigenvalue, less the
    worst-case rounding error of forming it, is still above the square of the QR
    test's threshold (``1e-9 * sqrt(N)``; twice it for a margin), no column is a
    combination of the others, and an outcome given as the last column is not
    reproduced by the others either (its residual sum of squares is then above
    ``2e-18 * N`` times its sum of squares). That the eigenvalue exceeds this
    margin is shown by a Cholesky factorisation of the scaled Gram matrix less the
    margin, which exists exactly when it does. False means "not proven": the QR
    test then decides.

    Examples
    --------
    >>> x = np.arange(6.0)
    >>> _gram_proves_independent([None, x, x**2], 6)
    True
    >>> _gram_proves_independent([None, x, 2 * x + 1], 6)
    False
    """
    k = len(columns)
    gram = np.empty((k, k))
    if k > _FEW_COLUMNS:  # many columns: one matrix product beats k^2 / 2 dot products
        rows = np.empty((k, n_rows))
        for i, a in enumerate(columns):
            rows[i] = 1.0 if a is None else a
        np.matmul(rows, rows.T, out=gram)
    else:
        for i, a in enumerate(columns):  # dot products of contiguous columns: faster than X'X
            for j, b in enumerate(columns[: i + 1]):
                if a is None:
                    product = float(n_rows) if b is None else b.sum()
                else:
                    product = a.sum() if b is None else a @ b
                gram[i, j] = gram[j, i] = product
    diagonal = np.diag(gram)
    # Squares that overflow, or underflow too far to keep their precision, are left to QR.
    if not (np.all((diagonal > 1e-280) & (diagonal < 1e300)) and np.isfinite(gram).all()):
        return False
    norms = np.sqrt(diagonal)
    # |error| of each product sum <= N * eps/2 on unit columns; a factor 8, and 40 k^2 eps,
    # cover the scaling and the Cholesky factorisation's own rounding.
    rounding = 4.0 * k * (n_rows + 10 * k) * np.finfo(float).eps
    try:
        np.linalg.cholesky(gram / np.outer(norms, norms) - (2e-18 * n_rows + rounding) * np.eye(k))
    except np.linalg.LinAlgError:
        return False
    return True


def _check_independent(
    X: np.ndarray,
    names: list[str],
    largest: np.ndarray,
    role: str = "predictors",
    y: np.ndarray | None = None,
    outcome: str = "",
    columns: Sequence[np.ndarray | None] | None = None,
) -> None:
    """Raise if a column of X is zero, or a combination of those before it, or reproduces y.

    ``largest`` is each column's largest absolute value, and ``columns`` are X's
    as :func:`_design_matrices` gives them (by default X's own). The Gram matrix
    settles the usual case; the QR factorisation of :func:`_rank_check` decides
    the rest.
    """
    if np.any(largest == 0):
        k = int(np.flatnonzero(largest == 0)[0])
        raise ModelInputError(f"The {role} column {names[k]!r} is zero in every row used; drop it.")
    from .engine import SingleThreadedBlas

    checked = [*(list(X.T) if columns is None else columns), *([] if y is None else [y])]
    # BLAS's threads slow dot products of tall columns down (on a busy machine many times
    # over); OpenBLAS starts them beyond 10,000 rows, and limiting them costs more than
    # shorter products take. LAPACK's QR of a few columns is slower on threads at any size.
    with SingleThreadedBlas() if X.shape[0] > 10_000 else contextlib.nullcontext():
        proven = _gram_proves_independent(checked, X.shape[0])
    if proven:
        return
    with SingleThreadedBlas():
        rss = _rank_check(X, names, role, y=y)
    if y is not None:
        _check_residual_variation(y, rss, outcome)


def _random_design(
    random_formula: str,
    columns: _ModelColumns,
    X: np.ndarray,
    fixed_names: list[str],
    fixed_columns: Sequence[np.ndarray | None],
) -> tuple[np.ndarray, list[str], list[int] | None]:
    """The random-effect design and its names; the third item gives the columns of X it is.

    The columns are taken from X when the fixed part has them all and an intercept
    (the third item is then their positions in X, else None); ``fixed_columns``
    are X's as :func:`_design_matrices` gives them.
    """
    import patsy

    terms = _model_desc(random_formula).rhs_termlist
    wanted = [t.name() for t in terms]
    if wanted[:1] == ["Intercept"] and all(n in fixed_names for n in wanted):
        positions = [fixed_names.index(n) for n in wanted]
        # X[:, positions], column-major as numpy's indexing makes it, but copied from
        # contiguous columns instead of gathered across X's rows.
        Z = np.empty((X.shape[0], len(positions)), order="F")
        for j, k in enumerate(positions):
            Z[:, j] = 1.0 if fixed_columns[k] is None else fixed_columns[k]
        return Z, wanted, positions
    numeric = _numeric_matrix(terms, columns)
    if numeric is not None:
        Z, names = numeric[0], numeric[1]
    else:
        frame = columns.frame()
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                Z_df = patsy.dmatrix(
                    random_formula, frame, return_type="dataframe", NA_action=_transformed_nan()
                )
        except (patsy.PatsyError, ValueError, TypeError) as exc:
            types = ", ".join(
                f"{c}: {frame[c].dtype}" for c in formula_variables(random_formula, frame)
            )
            raise ModelInputError(
                f"The random part {random_formula!r} cannot be applied to the data: {exc}. "
                f"Check the types of its columns ({types})."
            ) from exc
        Z, names = Z_df.to_numpy(dtype=float), list(Z_df.columns)
    _check_magnitude(_check_finite(list(Z.T), names, "random-slope variable(s)"), names)
    return Z, names, None


def _check_outcome_values(y: np.ndarray, outcome: str) -> float:
    """Raise if the outcome has values that are not finite or is constant; its largest |value|."""
    highest, lowest = y.max(), y.min()  # NaN if any value is NaN
    if not np.isfinite(highest) or not np.isfinite(lowest):
        raise ModelInputError(
            f"The outcome {outcome!r} has {int((~np.isfinite(y)).sum())} value(s) that are not "
            "finite numbers after its transformation (for example the log of 0 or of a negative "
            "number). Drop or fix those rows first."
        )
    if highest == lowest:
        raise ModelInputError(
            f"The outcome {outcome!r} is constant ({y[0]:g}) in every row used: there is no "
            "variation to model. Check that you chose the right column."
        )
    return float(max(highest, -lowest))


def _check_fixed_values(
    X: np.ndarray, names: list[str], columns: Sequence[np.ndarray | None]
) -> np.ndarray:
    """Raise if the fixed design is empty or has values that are not finite; each column's
    largest absolute value (``columns`` are X's, as :func:`_design_matrices` gives them)."""
    if X.shape[1] == 0:
        raise ModelInputError("The model has no fixed effects; add at least an intercept ('~ 1').")
    return _check_finite(columns, names, "predictor(s)")


def _check_finite(columns: Sequence[np.ndarray | None], names: list[str], role: str) -> np.ndarray:
    """Each column's largest absolute value, after refusing values that are not finite."""
    largest = _column_extent(columns)
    finite = np.isfinite(largest)
    if not finite.all():
        bad = [n for n, ok in zip(names, finite, strict=True) if not ok]
        raise ModelInputError(
            f"The {role} {bad} have values that are not finite numbers after their "
            "transformation (for example the log of 0 or of a negative number). Drop or fix "
            "those rows first."
        )
    return largest


def _group_codes(data: pd.DataFrame, group: str, keep: np.ndarray | None) -> tuple[Any, Any]:
    """Codes 0..J-1 of the rows used and the sorted ids: pandas' ``factorize(sort=True)``.

    Numeric ids already in order (as most files are) are coded where they change,
    which gives the same codes and ids in a fraction of the time.

    Examples
    --------
    >>> codes, ids = _group_codes(pd.DataFrame({"g": [3, 3, 5, 7, 7]}), "g", None)
    >>> codes.tolist(), ids.tolist()
    ([0, 0, 1, 2, 2], [3, 5, 7])
    """
    column = data[group]
    if not (isinstance(column.dtype, np.dtype) and column.dtype.kind in "biuf"):
        return pd.factorize(column if keep is None else column[keep], sort=True)
    ids = column.to_numpy() if keep is None else column.to_numpy()[keep]
    if ids.dtype.kind == "b" or np.any(ids[1:] < ids[:-1]):
        return pd.factorize(ids, sort=True)  # the Series' codes and ids, without its overhead
    n_rows = ids.shape[0]
    bounds = np.empty(n_rows + 1, dtype=bool)  # where a school starts, and the end
    bounds[0] = bounds[n_rows] = True
    np.not_equal(ids[1:], ids[:-1], out=bounds[1:n_rows])
    edges = np.flatnonzero(bounds)
    codes = np.repeat(np.arange(edges.shape[0] - 1, dtype=np.intp), np.diff(edges))
    return codes, ids[edges[:-1]]


def build_design(
    data: pd.DataFrame,
    formula: str,
    group: str | None = None,
    random: Sequence[str] = (),
) -> Design:
    """Turn a data frame and a formula into checked arrays.

    Parameters
    ----------
    data : DataFrame
        One row per student.
    formula : str
        Fixed part as a patsy formula, ``"outcome ~ predictors"``.
    group : str, optional
        Column identifying the schools (level-2 units). None for OLS.
    random : sequence of str
        Level-1 predictors whose slopes vary across schools. The intercept is always
        random when ``group`` is given. Each entry is a patsy term, such as ``"ses"``.

    Returns
    -------
    Design

    Raises
    ------
    ModelInputError
        With a message that names the problem and the fix.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [1.0, 2, 3, 4, 5, 7, 2, 4, 3], "x": [0, 1, 0, 1, 1, 0, 0, 1, 1],
    ...                    "school": [1, 1, 1, 2, 2, 2, 3, 3, 3]})
    >>> d = build_design(df, "y ~ x", group="school", random=["x"])
    >>> d.fixed_names, d.random_names, d.n_groups
    (['Intercept', 'x'], ['Intercept', 'x'], 3)
    """
    import patsy

    require_frame(data)
    check_formula_text(formula)
    try:
        _model_desc(formula)
    except patsy.PatsyError as exc:
        raise ModelInputError(f"The formula {formula!r} cannot be read: {exc}") from exc
    variables = _check_formula_names(data, formula, "formula", repr(formula))
    outcome = formula.split("~", 1)[0].strip()
    outcome_variables = formula_variables(f"{outcome} ~ 1", data)
    as_number, as_category = _factor_variables(formula, data)
    on_both_sides = sorted(set(outcome_variables) & (as_number | as_category))
    if on_both_sides:
        raise ModelInputError(
            f"The formula {formula!r} has {on_both_sides} on both sides of '~': a variable "
            "cannot predict itself. Remove it from the predictors."
        )
    random = as_term_list(random, "random")
    random_formula = " + ".join(["1", *random])
    random_vars = _random_variables(data, random, random_formula)
    if random and group is None:
        raise ModelInputError("Random slopes need a grouping column: pass group='school'.")
    if group is not None:
        _check_group_argument(group, outcome, variables)
        require_columns(data, [group], "group argument")
        if group in random_vars:
            raise ModelInputError(
                f"The grouping column {group!r} is listed in random=; random= takes the level-1 "
                f"predictors whose slopes vary across the {group} units."
            )
        check_group_ids(data[group], group)
    if outcome in data.columns:
        _check_outcome_type(data, outcome)
    _check_predictor_types(data, as_number, as_category)
    if random:
        _check_predictor_types(data, *_factor_variables("_ ~ " + random_formula, data))
    used = list(dict.fromkeys([*variables, *random_vars, *([group] if group else [])]))

    keep = _rows_used(data, used)
    computed = _computed_variables(formula)
    if random:
        computed = computed | _computed_variables("_ ~ " + random_formula)
    columns = _ModelColumns(data, keep, [c for c in used if c != group], computed)
    n_dropped = data.shape[0] - columns.n_rows
    if columns.n_rows == 0:
        raise ModelInputError(
            "No row has all of the model's variables "
            f"{used}: every row has a missing value. Check the columns for NaNs."
        )
    y, X, fixed_names, fixed_columns = _design_matrices(formula, columns)
    y_largest = _check_outcome_values(y, outcome)
    X_largest = _check_fixed_values(X, fixed_names, fixed_columns)
    _check_magnitude(np.array([y_largest]), [outcome])
    _check_magnitude(X_largest, fixed_names)
    if X.shape[0] <= X.shape[1]:
        raise ModelInputError(
            f"The model has {X.shape[1]} fixed effects but only {X.shape[0]} rows with complete "
            "data: it needs more rows than fixed effects. Use fewer predictors or more data."
        )
    _check_independent(X, fixed_names, X_largest, y=y, outcome=outcome, columns=fixed_columns)
    rows = data.index if keep is None else data.index[keep]

    if group is None:
        return Design(y, X, None, None, None, outcome, fixed_names, [], n_dropped, rows)

    codes, labels = _group_codes(data, group, keep)
    if labels.shape[0] < 2:
        raise ModelInputError(
            f"Only 1 school ({group} = {labels[0]}) has complete data: a multilevel model needs "
            f"at least two schools, distinct values of {group!r} (and many more for useful "
            "variance estimates). Fit OLS instead, or check the grouping column."
        )
    if columns.n_rows == labels.shape[0]:  # before the slopes, which then cannot vary
        _refuse_one_row_per_group(group)
    Z, random_names, positions = _random_design(
        random_formula, columns, X, fixed_names, fixed_columns
    )
    if not set(random_names) <= set(fixed_names):  # columns of X are independent already
        Z_largest = _column_extent(list(Z.T))
        _check_independent(Z, random_names, Z_largest, "random effects (random=)")
    # Which columns vary within a school; Z's are X's own when it is made of them.
    within_fixed = _varies_by_column(fixed_columns, codes)
    within = within_fixed[positions] if positions is not None else varies_within_groups(Z, codes)
    for k, name in enumerate(random_names):
        if name != "Intercept" and not within[k]:
            raise ModelInputError(
                f"The random slope of {name!r} cannot be estimated: {name!r} does not vary within "
                f"any {group} (it is a {group}-level variable). Keep it as a fixed effect and "
                f"remove it from random=."
            )
    design = Design(
        y,
        X,
        Z,
        codes.astype(np.intp, copy=False),
        np.asarray(labels),
        outcome,
        fixed_names,
        random_names,
        n_dropped,
        rows,
    )
    design.__dict__["school_level"] = ~within_fixed  # the cached property's value
    _check_identifiable(design, group)
    return design


def _refuse_one_row_per_group(group: str) -> None:
    """Raise: every unit of ``group`` has one row."""
    raise ModelInputError(
        f"Every {group} has one row with complete data, so the variance between {group} "
        f"units cannot be told apart from the residual variance. A two-level model needs "
        f"several rows in at least some {group} units; check the grouping column, or fit OLS."
    )


def _random_variables(data: pd.DataFrame, random: list[str], random_formula: str) -> list[str]:
    """The columns of the random part, after refusing terms that patsy cannot read or that
    remove the random intercept."""
    import patsy

    if not random:
        return []
    shown = f"random={random!r}"
    try:
        terms = _model_desc(random_formula).rhs_termlist
    except patsy.PatsyError as exc:
        raise ModelInputError(
            f"The random part {shown} cannot be read as patsy terms: {exc}. Give each slope "
            "as a term, such as random=['ses'] or random=['ses', 'female']."
        ) from exc
    if not any(not term.factors for term in terms):
        removing = [t for t in random if _removes_intercept(t)] or random
        raise ModelInputError(
            f"The random part {shown} removes the random intercept ({removing[0]!r}); fit_hlm "
            "always keeps it, and a model without it is not one that fit_hlm can fit. List the "
            "slopes only, such as random=['ses']."
        )
    return _check_formula_names(data, random_formula, "random part", shown)


def _removes_intercept(term: str) -> bool:
    """Whether a random= term such as ``'0 + ses'`` or ``'ses - 1'`` removes the intercept."""
    rhs = _model_desc("1 + " + term).rhs_termlist
    return not any(not t.factors for t in rhs)


def _check_outcome_type(data: pd.DataFrame, outcome: str) -> None:
    """Refuse an outcome that is not numeric, or is True/False (numpy's or pandas')."""
    dtype = data[outcome].dtype
    if getattr(dtype, "kind", "") == "b":  # numpy's bool and pandas' boolean
        raise ModelInputError(
            f"The outcome {outcome!r} is True/False (dtype {dtype}); fit_hlm fits "
            "linear models of a numeric outcome. For a linear probability model convert it "
            f"explicitly, data[{outcome!r}] = data[{outcome!r}].astype(float); for a logistic "
            "multilevel model use a package that fits one (lme4's glmer in R)."
        )
    require_numeric_column(data, outcome, "outcome")


def _check_identifiable(design: Design, group: str) -> None:
    """Refuse models whose school variance cannot be told apart from the residual variance.

    Each test is skipped when a count already settles it: a rank cannot exceed
    the number of columns, and the rows beyond the random effects are at least
    ``N - q J``.
    """
    J = design.n_groups
    if design.n_obs == J:  # every school has one row
        _refuse_one_row_per_group(group)
    X, Z, codes = design.X, design.Z, design.group_codes
    between = design.school_level
    if np.count_nonzero(between) >= J:
        rank_between = int(np.linalg.matrix_rank(X[:, between]))
        if rank_between >= J:
            raise ModelInputError(
                f"The fixed part has {rank_between} {group}-level parameters for {J} {group} "
                f"units: one per {group}, so no {group}-to-{group} variance is left to estimate. "
                f"Remove {group}-level predictors (or dummies of {group}) from the formula."
            )
    q = Z.shape[1]
    if design.n_obs > q * J:  # then sum(sizes - ranks) >= N - q J > 0
        return
    sizes = np.bincount(codes, minlength=J)
    ZtZ = np.empty((J, q, q))
    for a in range(q):
        for b in range(a, q):
            ZtZ[:, a, b] = ZtZ[:, b, a] = np.bincount(codes, Z[:, a] * Z[:, b], minlength=J)
    ranks = np.linalg.matrix_rank(ZtZ, hermitian=True)
    if int((sizes - ranks).sum()) <= 0:
        raise ModelInputError(
            f"No {group} has more rows than random effects ({len(design.random_names)}), so the "
            f"{group}-level variances cannot be told apart from the residual variance. Use fewer "
            "random slopes, or data with more rows per unit."
        )
