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
import warnings
from collections.abc import Sequence
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


def varies_within_groups(values: np.ndarray, group_codes: np.ndarray) -> np.ndarray:
    """For each column, whether it takes more than one value inside at least one group.

    Examples
    --------
    >>> varies_within_groups(np.array([[1.0, 1], [1, 2], [1, 3]]), np.array([0, 0, 1])).tolist()
    [False, True]
    """
    order = np.argsort(group_codes, kind="stable")
    codes = group_codes[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ordered = np.asarray(values, dtype=float)[order]
    if ordered.ndim == 1:
        ordered = ordered[:, None]
    spread = np.maximum.reduceat(ordered, starts) - np.minimum.reduceat(ordered, starts)
    return np.any(spread != 0, axis=0)


_PYTHON_NAMES = set(dir(builtins)) | {"np", "numpy"}


@lru_cache(maxsize=512)
def _model_desc(formula: str) -> Any:
    """Patsy's parse of a formula (terms and factors), kept: a fit reads it several times."""
    from patsy import ModelDesc

    return ModelDesc.from_formula(formula)


def formula_variables(formula: str) -> list[str]:
    """The data columns a patsy formula refers to.

    Parameters
    ----------
    formula : str
        A patsy formula such as ``"mathach ~ ses + C(sector)"``.

    Returns
    -------
    list of str
        Column names, in order of first appearance.

    Examples
    --------
    >>> formula_variables("math ~ college + np.log(size) + C(boy)")
    ['math', 'college', 'size', 'boy']
    """
    return list(_formula_variables(formula))


@lru_cache(maxsize=512)
def _formula_variables(formula: str) -> tuple[str, ...]:
    import patsy.builtins

    known = _PYTHON_NAMES | set(patsy.builtins.__all__)
    desc = _model_desc(formula)
    names: list[str] = []
    for term in [*desc.lhs_termlist, *desc.rhs_termlist]:
        for factor in term.factors:
            code = factor.name()
            try:
                tree = ast.parse(code, mode="eval")
            except SyntaxError:
                names.append(code)
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Name) and node.id not in known:
                    names.append(node.id)
    return tuple(dict.fromkeys(names))


def category_references(data: pd.DataFrame, formula: str) -> dict[str, str]:
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

    Returns
    -------
    dict of str to str
        Column name to reference level, for the formula's non-numeric columns.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [1.0, 2.0], "g": pd.Categorical(["b", "a"], ["b", "a"])})
    >>> category_references(df, "y ~ g")
    {'g': 'b'}
    """
    references: dict[str, str] = {}
    for name in formula_variables(formula):
        if name not in data.columns or isinstance(data[name], pd.DataFrame):
            continue
        column = data[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            if len(column.cat.categories):
                references[name] = str(column.cat.categories[0])
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
    extension = [
        c
        for c in columns
        if isinstance(frame[c].dtype, pd.api.extensions.ExtensionDtype)
        and (pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]))
    ]
    if not extension:
        return frame
    return frame.assign(**{c: frame[c].to_numpy(dtype=float, na_value=np.nan) for c in extension})


def _check_finite(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    numeric = [c for c in columns if pd.api.types.is_numeric_dtype(frame[c])]
    bad = [c for c in numeric if np.isinf(frame[c].to_numpy(dtype=float)).any()]
    if bad:
        raise ModelInputError(
            f"Column(s) {bad} contain infinite values. Replace them (for example with "
            "NaN, which drops those rows) before fitting."
        )


def _factor_variables(formula: str) -> tuple[set[str], set[str]]:
    """Right-hand-side variables used as numbers, and those used only inside ``C(...)``."""
    as_number, as_category = _factor_variable_sets(formula)
    return set(as_number), set(as_category)


@lru_cache(maxsize=512)
def _factor_variable_sets(formula: str) -> tuple[frozenset[str], frozenset[str]]:
    as_number: set[str] = set()
    as_category: set[str] = set()
    for term in _model_desc(formula).rhs_termlist:
        for factor in term.factors:
            code = factor.name()
            names = set(formula_variables(f"_ ~ {code}")[1:])
            (as_category if code.startswith("C(") else as_number).update(names)
    return frozenset(as_number), frozenset(as_category - as_number)


def _numeric_column(frame: pd.DataFrame, name: str) -> np.ndarray | None:
    """Column ``name`` as floats when patsy would read it as one number (int or float)."""
    if not name.isidentifier() or name not in frame.columns:
        return None
    column = frame[name]
    if not isinstance(column, pd.Series) or column.dtype.kind not in "iuf":
        return None
    return column.to_numpy(dtype=float)


def _numeric_matrix(
    terms: Sequence[Any], frame: pd.DataFrame
) -> tuple[np.ndarray, list[str]] | None:
    """The design of ``terms`` when every factor is a plain numeric column, else None.

    This is patsy's matrix, built without its general machinery (which costs more
    than a small fit): with numeric factors only, patsy puts the intercept first,
    then the terms in formula order, one column each, named by the term, holding
    the product of its columns. tests/test_design.py checks it against patsy.
    """
    ordered = [t for t in terms if not t.factors][:1] + [t for t in terms if t.factors]
    values: dict[str, np.ndarray] = {}
    for term in ordered:
        for factor in term.factors:
            name = factor.name()
            if name not in values:
                column = _numeric_column(frame, name)
                if column is None:
                    return None
                values[name] = column
    matrix = np.ones((frame.shape[0], len(ordered)))
    for k, term in enumerate(ordered):
        for factor in term.factors:
            matrix[:, k] *= values[factor.name()]
    return matrix, [term.name() if term.factors else "Intercept" for term in ordered]


def _design_matrices(formula: str, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``y``, ``X`` and the fixed-effect names: directly for numeric columns, else by patsy."""
    import patsy

    desc = _model_desc(formula)
    lhs = desc.lhs_termlist
    outcome = _numeric_matrix(lhs, frame) if len(lhs) == 1 and lhs[0].factors else None
    fixed = _numeric_matrix(desc.rhs_termlist, frame) if outcome is not None else None
    if outcome is not None and fixed is not None:
        return outcome[0][:, 0], fixed[0], fixed[1]
    try:
        # A transformation such as np.log(0) warns; the values it gives are checked later.
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            y_df, X_df = patsy.dmatrices(formula, frame, return_type="dataframe", NA_action="raise")
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
    return y_df.iloc[:, 0].to_numpy(dtype=float), X_df.to_numpy(dtype=float), list(X_df.columns)


def _check_predictor_types(data: pd.DataFrame, as_number: set[str], as_category: set[str]) -> None:
    """Numbers stored as text would become one dummy per distinct value: refuse them."""
    for name in sorted(as_number | as_category):
        refuse_dates_and_complex(data[name], name, "predictor")
    for name in sorted(as_number):
        if numbers_stored_as_text(data[name]):
            raise ModelInputError(
                f"The predictor {name!r} holds numbers stored as text (dtype {data[name].dtype}); "
                f"fitted as it is, each distinct value would become its own dummy variable. "
                f"Convert it with data[{name!r}] = pd.to_numeric(data[{name!r}]), or write "
                f"C({name}) if it really is a category."
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


#: Beyond this, squares and cross-products overflow double precision.
_LARGEST_VALUE = 1e150


def _check_magnitude(values: np.ndarray, names: list[str]) -> None:
    """Refuse values so large that their squares overflow: ask for other units."""
    largest = np.abs(values.reshape(values.shape[0], -1)).max(axis=0)
    too_large = [n for n, v in zip(names, largest, strict=True) if v > _LARGEST_VALUE]
    if too_large:
        raise ModelInputError(
            f"The variable(s) {too_large} have values beyond {_LARGEST_VALUE:g}, whose squares "
            "cannot be computed in double precision. Express them in larger units (divide "
            "them by a power of ten) and fit again."
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


def _random_design(
    random_formula: str, frame: pd.DataFrame, X: np.ndarray, fixed_names: list[str]
) -> tuple[np.ndarray, list[str]]:
    """The random-effect design; its columns are taken from X when the fixed part has them."""
    import patsy

    terms = _model_desc(random_formula).rhs_termlist
    wanted = [t.name() for t in terms]
    if wanted[:1] == ["Intercept"] and all(n in fixed_names for n in wanted):
        return X[:, [fixed_names.index(n) for n in wanted]], wanted
    numeric = _numeric_matrix(terms, frame)
    if numeric is not None:
        return numeric
    Z_df = patsy.dmatrix(random_formula, frame, return_type="dataframe", NA_action="raise")
    return Z_df.to_numpy(dtype=float), list(Z_df.columns)


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
        variables = formula_variables(formula)
    except patsy.PatsyError as exc:
        raise ModelInputError(f"The formula {formula!r} cannot be read: {exc}") from exc
    outcome = formula.split("~", 1)[0].strip()
    require_columns(data, variables, "formula")
    outcome_variables = formula_variables(f"{outcome} ~ 1")
    as_number, as_category = _factor_variables(formula)
    on_both_sides = sorted(set(outcome_variables) & (as_number | as_category))
    if on_both_sides:
        raise ModelInputError(
            f"The formula {formula!r} has {on_both_sides} on both sides of '~': a variable "
            "cannot predict itself. Remove it from the predictors."
        )
    random = as_term_list(random, "random")
    random_formula = " + ".join(["1", *random])
    random_vars = formula_variables("_ ~ " + random_formula)[1:] if random else []
    require_columns(data, random_vars, "random part")
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
        require_numeric_column(data, outcome, "outcome")
    _check_predictor_types(data, as_number, as_category)
    if random:
        _check_predictor_types(data, *_factor_variables("_ ~ " + random_formula))
    used = list(dict.fromkeys([*variables, *random_vars, *([group] if group else [])]))
    _check_finite(data, used)

    complete = data[used].notna().all(axis=1)
    frame = _as_plain_numbers(data.loc[complete], [c for c in used if c != group])
    n_dropped = int((~complete).sum())
    if frame.shape[0] == 0:
        raise ModelInputError(
            "No row has all of the model's variables "
            f"{used}: every row has a missing value. Check the columns for NaNs."
        )
    y, X, fixed_names = _design_matrices(formula, frame)
    if not np.isfinite(y).all():
        raise ModelInputError(
            f"The outcome {outcome!r} has {int((~np.isfinite(y)).sum())} value(s) that are not "
            "finite numbers after its transformation (for example the log of 0 or of a negative "
            "number). Drop or fix those rows first."
        )
    if np.ptp(y) == 0:
        raise ModelInputError(
            f"The outcome {outcome!r} is constant ({y[0]:g}) in every row used: there is no "
            "variation to model. Check that you chose the right column."
        )
    if X.shape[1] == 0:
        raise ModelInputError("The model has no fixed effects; add at least an intercept ('~ 1').")
    if not np.isfinite(X).all():
        bad = [n for n, ok in zip(fixed_names, np.isfinite(X).all(axis=0), strict=True) if not ok]
        raise ModelInputError(
            f"The predictor(s) {bad} have values that are not finite numbers after their "
            "transformation (for example the log of 0). Drop or fix those rows first."
        )
    _check_magnitude(y, [outcome])
    _check_magnitude(X, fixed_names)
    if X.shape[0] <= X.shape[1]:
        raise ModelInputError(
            f"The model has {X.shape[1]} fixed effects but only {X.shape[0]} rows with complete "
            "data: it needs more rows than fixed effects. Use fewer predictors or more data."
        )
    _check_residual_variation(y, _rank_check(X, fixed_names, y=y), outcome)

    if group is None:
        return Design(y, X, None, None, None, outcome, fixed_names, [], n_dropped, frame.index)

    codes, labels = pd.factorize(frame[group], sort=True)
    if labels.shape[0] < 2:
        raise ModelInputError(
            f"Only 1 school ({group} = {labels[0]}) has complete data: a multilevel model needs "
            f"at least two schools, distinct values of {group!r} (and many more for useful "
            "variance estimates). Fit OLS instead, or check the grouping column."
        )
    Z, random_names = _random_design(random_formula, frame, X, fixed_names)
    if not set(random_names) <= set(fixed_names):  # columns of X are independent already
        _rank_check(Z, random_names, "random effects (random=)")
    # One pass over the groups for both designs: which columns vary within a school.
    within_all = varies_within_groups(np.c_[X, Z], codes)
    within = within_all[X.shape[1] :]
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
        codes.astype(np.intp),
        np.asarray(labels),
        outcome,
        fixed_names,
        random_names,
        n_dropped,
        frame.index,
    )
    design.__dict__["school_level"] = ~within_all[: X.shape[1]]  # the cached property's value
    _check_identifiable(design, group)
    return design


def _check_identifiable(design: Design, group: str) -> None:
    """Refuse models whose school variance cannot be told apart from the residual variance."""
    J = design.n_groups
    sizes = np.bincount(design.group_codes, minlength=J)
    if sizes.max() == 1:
        raise ModelInputError(
            f"Every {group} has one row with complete data, so the variance between {group} "
            f"units cannot be told apart from the residual variance. A two-level model needs "
            f"several rows in at least some {group} units; check the grouping column, or fit OLS."
        )
    X, Z, codes = design.X, design.Z, design.group_codes
    between = design.school_level
    rank_between = int(np.linalg.matrix_rank(X[:, between])) if between.any() else 0
    if rank_between >= J:
        raise ModelInputError(
            f"The fixed part has {rank_between} {group}-level parameters for {J} {group} units: "
            f"one per {group}, so no {group}-to-{group} variance is left to estimate. Remove "
            f"{group}-level predictors (or dummies of {group}) from the formula."
        )
    q = Z.shape[1]
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
