"""Centring predictors, school means, and the contextual effect of Raudenbush & Bryk (ch. 5).

Where a level-1 predictor is centred changes what the intercept and, with a
school mean in the model, what the slopes mean:

- **grand-mean centring** (``x - mean(x)``) keeps the model the same and moves
  the intercept to the average student;
- **group-mean centring** (``x - mean_j(x)``, "centring within cluster") removes
  all between-school differences from the predictor, so its slope is the
  pure *within-school* effect; the school mean, added at level 2, carries the
  *between-school* effect.

The *contextual effect* is how much more the school mean matters than the
student's own value: ``γ01 − γ10`` (between minus within; R&B 2002, ch. 5).

Every new column is recorded in ``frame.attrs["centering"]`` (a dict from the
new column to a sentence such as "college centred around its school mean
(group-mean centring by school)"), so a fitted model can state each variable's
centring, as HLM 8 does; :func:`describe_centering` reads it back.

Nothing is overwritten or lost silently. A new column never replaces a column of
the data unless it is the same centring made again (re-running a notebook cell)
or ``overwrite=True`` is passed; the source, school and ``by=`` columns are never
replaced. Rows that get no value because their school (or ``by=``) id is
missing are counted in ``frame.attrs["centering_missing"]`` and in the record's
sentence.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from .validation import (
    ModelInputError,
    as_term_list,
    check_group_ids,
    require_choice,
    require_column_name,
    require_columns,
    require_flag,
    require_frame,
    require_numeric_column,
)

if TYPE_CHECKING:
    from .models import HLMResult

__all__ = [
    "CenteringSpec",
    "ContextualEffect",
    "center",
    "contextual_effect",
    "describe_centering",
    "school_mean",
]

_KINDS = ("grand", "group")


@dataclass(frozen=True)
class CenteringSpec:
    """How a column was made from another: the record behind ``frame.attrs["centering"]``.

    Attributes
    ----------
    source : str
        The original column.
    kind : {"grand", "group", "school mean"}
        Grand-mean centring, group-mean centring, or the school mean itself.
    group : str, optional
        The school column (group-mean centring and school means).
    by : str, optional
        Grand means taken separately within each level of this column (e.g. country).

    Examples
    --------
    >>> CenteringSpec("college", "group", group="school").describe()
    'college centred around its school mean (group-mean centring by school)'
    """

    source: str
    kind: str
    group: str | None = None
    by: str | None = None

    def describe(self) -> str:
        """One sentence, as a model report states it."""
        if self.kind == "grand":
            within = f" within each {self.by}" if self.by else ""
            return f"{self.source} centred around its grand mean{within} (grand-mean centring)"
        if self.kind == "group":
            return (
                f"{self.source} centred around its school mean "
                f"(group-mean centring by {self.group})"
            )
        return f"school mean of {self.source} (mean over the students of each {self.group})"


def _check_inputs(
    data: object, column: object, ids: dict[str, object], role: str = "variable to centre"
) -> pd.DataFrame:
    """The frame, a numeric ``column``, and school/by columns that exist and are unambiguous."""
    frame = require_frame(data)
    require_column_name(column, "column", "column='ses'")
    require_numeric_column(frame, column, role)
    for argument, name in ids.items():
        if name is None:
            continue
        require_column_name(name, argument, f"{argument}='school'")
        require_columns(frame, [name], f"{argument} argument")
        if name == column:
            raise ModelInputError(
                f"The argument {argument} names {name!r}, the column being centred; pass the "
                "school column (or the country column for by=), not the variable itself."
            )
        check_group_ids(frame[name], name)
    return frame


def _check_new_name(data: pd.DataFrame, name: object, spec: CenteringSpec, overwrite: bool) -> str:
    """Refuse a new column name that would replace data the user did not ask to replace."""
    require_column_name(name, "name", "name='ses_c'")
    if not name.strip():
        raise ModelInputError("The argument name is empty; give the new column a name.")
    protected = {spec.source: "the column being centred", spec.group: "the school column"}
    protected[spec.by] = "the by= column"
    if name in protected:
        raise ModelInputError(
            f"The argument name={name!r} is {protected[name]}; replacing it would destroy the "
            f"values the new column is computed from. Choose another name, such as "
            f"name='{spec.source}_c'."
        )
    remade = str(data.attrs.get("centering", {}).get(name, "")).startswith(spec.describe())
    if name in data.columns and not (overwrite or remade):
        raise ModelInputError(
            f"The data already have a column {name!r}; it would be replaced. Choose another "
            f"name= (for example name='{name}_2'), or pass overwrite=True to replace it."
        )
    return name


def _without_id(data: pd.DataFrame, column: str, ids: Sequence[str | None]) -> int:
    """Rows that have a value of ``column`` but no school (or by=) id, so get no centred value."""
    present = [c for c in ids if c is not None]
    if not present:
        return 0
    return int((data[column].notna() & data[present].isna().any(axis=1)).sum())


def _record(frame: pd.DataFrame, name: str, spec: CenteringSpec, n_without_id: int) -> None:
    record = dict(frame.attrs.get("centering", {}))
    missing = dict(frame.attrs.get("centering_missing", {}))
    sentence = spec.describe()
    if n_without_id:
        ids = " or ".join(f"{c}" for c in (spec.group, spec.by) if c is not None)
        sentence += f"; {n_without_id} row(s) with no {ids} id get no value"
    record[name] = sentence
    missing[name] = n_without_id
    frame.attrs["centering"] = record
    frame.attrs["centering_missing"] = missing


def _group_means(data: pd.DataFrame, column: str, group: str) -> pd.Series:
    values = data[column].astype(float)
    return values.groupby(data[group], observed=True, sort=False).transform("mean")


def center(
    data: pd.DataFrame,
    column: str,
    group: str | None = None,
    kind: str = "grand",
    name: str | None = None,
    by: str | None = None,
    inplace: bool = False,
    overwrite: bool = False,
) -> pd.DataFrame:
    """Add a grand-mean or group-mean centred copy of a column.

    Parameters
    ----------
    data : DataFrame
        One row per student.
    column : str
        The numeric predictor to centre.
    group : str, optional
        The school column; required for ``kind="group"``.
    kind : {"grand", "group"}
        ``"grand"``: subtract the mean over all students (within each level of
        ``by`` if given); ``"group"``: subtract the mean of the student's school.
    name : str, optional
        Name of the new column; by default ``column + "_cgm"`` (centred at the
        grand mean) or ``column + "_cwc"`` (centred within cluster).
    by : str, optional
        Grand-mean centring only: take the grand mean separately within each
        level of this column (e.g. ``"country"``, when each country is analysed
        on its own).
    inplace : bool
        Add the column to ``data`` itself instead of to a copy.
    overwrite : bool
        Allow ``name`` to replace an existing column. Without it an existing
        column is replaced only when it is the same centring made again (its
        record in ``attrs["centering"]`` says so, as after re-running a cell).
        The source, school and ``by`` columns are never replaced.

    Returns
    -------
    DataFrame
        A copy of ``data`` (or ``data`` itself if ``inplace``) with the new
        column, recorded in ``attrs["centering"]``; ``attrs["centering_missing"]``
        counts, for each new column, the rows that have a value but no school
        (or ``by``) id and so get no centred value.

    Raises
    ------
    ModelInputError
        For a missing or non-numeric column (numbers stored as text included),
        an unknown ``kind``, ``group`` without ``kind="group"``, or a ``name``
        that would replace a column.

    Notes
    -----
    Means are over the rows where ``column`` is not missing; rows with a
    missing value (or a missing school id) get a missing centred value.
    Centre on the rows you analyse: drop incomplete rows first if other model
    variables are missing, or the mean includes students the model does not use.

    Examples
    --------
    >>> df = pd.DataFrame({"school": [1, 1, 2, 2], "ses": [1.0, 3.0, 0.0, 4.0]})
    >>> center(df, "ses", group="school", kind="group")["ses_cwc"].tolist()
    [-1.0, 1.0, -2.0, 2.0]
    >>> center(df, "ses")["ses_cgm"].tolist()
    [-1.0, 1.0, -2.0, 2.0]
    >>> "ses_cgm" in df.columns  # the input is unchanged
    False
    >>> center(df, "ses", name="school")
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: The data already have a column 'school'; it would be
    replaced. Choose another name= (for example name='school_2'), or pass overwrite=True to
    replace it.
    """
    kind = require_choice(kind, _KINDS, "centring kind", normalise=str.lower)
    if kind == "group" and group is None:
        raise ModelInputError("Group-mean centring needs the school column: pass group='school'.")
    if kind == "group" and by is not None:
        raise ModelInputError(
            "by= applies to grand-mean centring only; school means are already within country."
        )
    if kind == "grand" and group is not None:
        raise ModelInputError(
            f"group={group!r} is used by group-mean centring only, but kind='grand': pass "
            "kind='group' to centre around each school's mean, or leave out group= for "
            "grand-mean centring."
        )
    data = _check_inputs(data, column, {"group": group, "by": by})
    inplace = require_flag(inplace, "inplace")
    overwrite = require_flag(overwrite, "overwrite")
    spec = CenteringSpec(column, kind, group, by)
    name = f"{column}_{'cgm' if kind == 'grand' else 'cwc'}" if name is None else name
    name = _check_new_name(data, name, spec, overwrite)
    values = data[column].astype(float)
    if kind == "group":
        means = _group_means(data, column, group)
    elif by is not None:
        means = _group_means(data, column, by)
    else:
        means = pd.Series(values.mean(), index=data.index)
    out = data if inplace else data.copy()
    out[name] = values - means
    _record(out, name, spec, _without_id(data, column, [group, by]))
    return out


def school_mean(
    data: pd.DataFrame,
    column: str,
    group: str,
    name: str | None = None,
    inplace: bool = False,
    overwrite: bool = False,
) -> pd.DataFrame:
    """Add each school's mean of a column (a level-2 predictor, e.g. the share of college parents).

    Parameters
    ----------
    data : DataFrame
        One row per student.
    column : str
        The numeric student-level variable.
    group : str
        The school column.
    name : str, optional
        Name of the new column; by default ``column + "_mean"``.
    inplace : bool
        Add the column to ``data`` itself instead of to a copy.
    overwrite : bool
        Allow ``name`` to replace an existing column (see :func:`center`).

    Returns
    -------
    DataFrame
        A copy of ``data`` (or ``data``) with the new column, recorded in
        ``attrs["centering"]``; ``attrs["centering_missing"]`` counts the rows
        without a school id, which get no school mean.

    Raises
    ------
    ModelInputError
        For a missing or non-numeric column, a missing school column, or a
        ``name`` that would replace a column.

    Examples
    --------
    >>> df = pd.DataFrame({"school": [1, 1, 2, 2], "college": [1.0, 0.0, 1.0, 1.0]})
    >>> school_mean(df, "college", "school")["college_mean"].tolist()
    [0.5, 0.5, 1.0, 1.0]
    """
    if group is None:
        raise ModelInputError("A school mean needs the school column: pass group='school'.")
    data = _check_inputs(data, column, {"group": group}, role="variable to average")
    inplace = require_flag(inplace, "inplace")
    overwrite = require_flag(overwrite, "overwrite")
    spec = CenteringSpec(column, "school mean", group)
    name = _check_new_name(data, f"{column}_mean" if name is None else name, spec, overwrite)
    means = _group_means(data, column, group)
    out = data if inplace else data.copy()
    out[name] = means
    _record(out, name, spec, _without_id(data, column, [group]))
    return out


def describe_centering(data: pd.DataFrame, variables: Sequence[str] | None = None) -> pd.DataFrame:
    """State how each variable is centred, from ``data.attrs["centering"]``.

    Parameters
    ----------
    data : DataFrame
        A frame made by :func:`center` or :func:`school_mean` (or one to which
        their columns were added).
    variables : sequence of str, optional
        The variables to describe, e.g. a model's predictors; those without a
        record are "uncentred (as in the data)". By default the recorded ones.

    Returns
    -------
    DataFrame
        Columns ``variable`` and ``centring``.

    Examples
    --------
    >>> df = pd.DataFrame({"school": [1, 1, 2], "ses": [1.0, 3.0, 2.0], "boy": [0, 1, 1]})
    >>> df = center(df, "ses", group="school", kind="group")
    >>> for line in describe_centering(df, ["ses_cwc", "boy"])["centring"]:
    ...     print(line)
    ses centred around its school mean (group-mean centring by school)
    uncentred (as in the data)
    """
    require_frame(data)
    record = dict(data.attrs.get("centering", {}))
    names = list(record) if variables is None else as_term_list(variables, "variables")
    require_columns(data, names, "variables argument")
    return pd.DataFrame(
        {
            "variable": names,
            "centring": [record.get(v, "uncentred (as in the data)") for v in names],
        }
    )


@dataclass
class ContextualEffect:
    """Within-school, between-school and contextual effects of one predictor.

    Attributes
    ----------
    table : DataFrame
        Rows ``within`` (γ10, slope of the group-mean centred predictor),
        ``between`` (γ01, slope of the school mean) and ``contextual``
        (γ01 − γ10); columns estimate, se, df, t, p.
    fit : HLMResult
        The fitted model ``outcome ~ predictor_cwc + predictor_mean + ...``.
    within_term, between_term : str
        The names of the two predictors in ``fit``.
    n_dropped : int
        Rows of the data not used because a model variable was missing.
    dropped_by_column : dict
        For each variable with missing values, the number of rows missing it
        (a row can miss several).
    """

    table: pd.DataFrame
    fit: HLMResult
    within_term: str
    between_term: str
    n_dropped: int = 0
    dropped_by_column: dict[str, int] = field(default_factory=dict)

    @property
    def n_obs(self) -> int:
        """Students used."""
        return self.fit.n_obs

    def _sizes(self) -> str:
        text = f"Students used: {self.fit.n_obs}; schools: {self.fit.n_groups}"
        if self.n_dropped:
            which = ", ".join(f"{c}: {n}" for c, n in self.dropped_by_column.items())
            text += f"; rows not used (missing values): {self.n_dropped} ({which})"
        return text

    def _repr_html_(self) -> str:
        return (
            "<p>Within-school, between-school and contextual effects "
            f"(R&amp;B 2002, ch. 5) from {html.escape(self.fit.formula)}<br>"
            f"{html.escape(self._sizes())}</p>"
            + self.table.to_html(border=0, float_format=lambda v: f"{v:.4g}")
        )

    def __str__(self) -> str:
        return "\n".join([self._sizes(), self.table.to_string(float_format=lambda v: f"{v:.5g}")])


def _check_variation(frame: pd.DataFrame, predictor: str, group: str, mean: str | None) -> None:
    """Refuse a predictor without within- or between-school variation (its effect is undefined)."""
    x = frame[predictor].astype(float)
    school = _group_means(frame, predictor, group)
    spread = float((x - x.mean()).abs().max())
    if spread == 0:
        raise ModelInputError(
            f"The predictor {predictor!r} takes one value ({x.iloc[0]:g}) in every row used, so "
            "it has neither a within-school nor a between-school effect. Choose a predictor "
            "that varies."
        )
    tolerance = 1e-9 * max(spread, float(x.abs().max()))
    if float((x - school).abs().max()) <= tolerance:
        raise ModelInputError(
            f"The predictor {predictor!r} does not vary within schools (it is constant within "
            f"every {group}: a school-level variable), so it has no within-school effect and no "
            "contextual effect. Put it in fit_hlm as a school-level predictor instead."
        )
    between = school if mean is None else frame[mean].astype(float)
    if mean is not None:
        own = _group_means(frame, mean, group)
        if float((between - own).abs().max()) > 1e-9 * max(float(between.abs().max()), 1.0):
            raise ModelInputError(
                f"The mean_column {mean!r} varies within schools, so it is not a school mean of "
                f"{predictor!r}. Pass a column that is constant within every {group} (such as "
                "the school file's mean), or leave out mean_column= to use the students' mean."
            )
    if float((between - between.mean()).abs().max()) <= tolerance:
        raise ModelInputError(
            f"All schools have the same mean of {predictor!r} (no between-school variation), so "
            f"it has no between-school effect and no contextual effect. Its within-school effect "
            f"is the slope of {predictor!r} in fit_hlm."
        )


def contextual_effect(
    data: pd.DataFrame,
    outcome: str,
    predictor: str,
    group: str,
    covariates: Sequence[str] = (),
    random_slope: bool = False,
    mean_column: str | None = None,
    method: str = "REML",
    covariance: str = "un",
) -> ContextualEffect:
    """Estimate the within-school, between-school and contextual effects of a predictor.

    Fits ``outcome ~ x_cwc + x_mean + covariates`` with a random intercept (and a
    random slope of ``x_cwc`` if asked), where ``x_cwc`` is the group-mean
    centred predictor and ``x_mean`` its school mean. Then γ10 (``x_cwc``) is
    the within-school effect, γ01 (``x_mean``) the between-school effect and
    ``γ01 − γ10`` the contextual effect, with standard error
    ``sqrt(Var γ01 + Var γ10 − 2 Cov)`` from the fixed effects' covariance matrix.

    Parameters
    ----------
    data : DataFrame
        One row per student.
    outcome, predictor, group : str
        The outcome, the student-level predictor and the school column.
    covariates : sequence of str
        Further fixed-effect terms (patsy), e.g. ``["boy"]``.
    random_slope : bool
        Let the within-school slope vary across schools: a random slope on the
        group-mean centred predictor. With a random slope this is no longer the
        same model as the uncentred predictor plus its school mean (Kreft, de
        Leeuw & Aiken 1995); the centred one is the model whose within effect
        and slope variance are purely within-school (Enders & Tofighi 2007).
    mean_column : str, optional
        Use this existing column as the school mean (e.g. HSB's ``meanses``,
        from the school file) instead of the mean of the students in the data.
        The centred predictor still subtracts the students' own school mean.
    method, covariance : str
        As :func:`hlmteach.fit_hlm`.

    Returns
    -------
    ContextualEffect
        Its ``table`` has rows within, between and contextual. The contextual
        effect's df is the between-school df (the smaller of the two effects'
        between-within df, a conservative choice). Rows with a missing value in
        any model variable are left out before centring and counted in
        ``n_dropped`` (and shown in the text and HTML report).

    Raises
    ------
    ModelInputError
        For a missing or non-numeric column, covariates given as one string of
        several terms, a predictor that does not vary within schools (a
        school-level variable has no within-school effect) or whose school
        means are all equal (no between-school effect), or a ``mean_column``
        that varies within schools.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> ce = contextual_effect(hlm.load_hsb(), "mathach", "ses", "school")
    >>> ce.table["estimate"].round(3).tolist()  # R&B (2002, ch. 5): 2.191, 5.866, 3.675
    [2.191, 5.866, 3.675]
    """
    import patsy

    from .design import formula_variables
    from .models import fit_hlm

    data = require_frame(data)
    for argument, value in (("outcome", outcome), ("predictor", predictor), ("group", group)):
        require_column_name(value, argument, f"{argument}='ses'")
    require_columns(data, [outcome, predictor, group], "contextual_effect call")
    names = {"outcome": outcome, "predictor": predictor, "group": group}
    if mean_column is not None:
        names["mean_column"] = require_column_name(mean_column, "mean_column", "'meanses'")
    if len(set(names.values())) < len(names):
        raise ModelInputError(
            f"The arguments name the same column twice ({names}); the outcome, the predictor, "
            "the school column and mean_column must be different columns."
        )
    require_numeric_column(data, predictor, "predictor")
    if mean_column is not None:
        require_numeric_column(data, mean_column, "mean_column")
    check_group_ids(data[group], group)
    covariates = as_term_list(covariates, "covariates")
    random_slope = require_flag(random_slope, "random_slope")
    cwc = f"{predictor}_cwc"
    mean = mean_column or f"{predictor}_mean"
    for new in (cwc, *([] if mean_column else [mean])):
        if new in data.columns:
            raise ModelInputError(
                f"The data already have a column {new!r}; rename or drop it, because "
                "contextual_effect makes it from the predictor."
            )
    try:
        extra = formula_variables("_ ~ " + " + ".join(covariates))[1:] if covariates else []
    except patsy.PatsyError as exc:
        raise ModelInputError(f"The covariates {covariates} cannot be read: {exc}") from exc
    require_columns(data, extra, "covariates argument")
    clash = sorted(
        {predictor, outcome, group, *([mean_column] if mean_column else [])} & set(extra)
    )
    if clash:
        raise ModelInputError(
            f"The covariates {covariates} repeat {clash}, which contextual_effect already puts "
            "in the model (as the outcome, the school column or the centred predictor and its "
            "mean). Remove them from covariates=."
        )
    # Centre on the students the model uses; count every row left out.
    used = list(dict.fromkeys([outcome, predictor, group, *names.values(), *extra]))
    missing = data[used].isna()
    dropped_by_column = {c: int(n) for c, n in missing.sum().items() if n}
    frame = data.loc[~missing.any(axis=1)]
    if frame.shape[0] == 0:
        raise ModelInputError(
            f"No row has all of {used}: every row has a missing value. Check the columns for NaNs."
        )
    _check_variation(frame, predictor, group, mean_column)
    frame = center(frame, predictor, group=group, kind="group", name=cwc)
    if mean_column is None:
        frame = school_mean(frame, predictor, group, name=mean)
    formula = " + ".join([f"{outcome} ~ {cwc}", mean, *covariates])
    fit = fit_hlm(
        frame,
        formula,
        group=group,
        random=[cwc] if random_slope else [],
        method=method,
        covariance=covariance,
    )
    terms = list(fit.fixed.index)
    i, j = terms.index(cwc), terms.index(mean)
    cov = fit.engine_fit.cov_beta
    contrast = np.zeros(len(terms))
    contrast[j], contrast[i] = 1.0, -1.0
    est = float(contrast @ fit.engine_fit.beta)
    variance = float(contrast @ cov @ contrast)
    se = float(np.sqrt(variance)) if variance > 0 else float("nan")
    df = float(min(fit.fixed.loc[cwc, "df"], fit.fixed.loc[mean, "df"]))
    t = est / se if np.isfinite(se) else float("nan")
    p = 2.0 * stats.t.sf(abs(t), df) if np.isfinite(t) else float("nan")
    rows = fit.fixed.loc[[cwc, mean], ["estimate", "se", "df", "t", "p"]].copy()
    rows.loc["contextual"] = [est, se, df, t, p]
    rows.index = pd.Index(["within", "between", "contextual"], name="effect")
    n_dropped = int(data.shape[0] - frame.shape[0]) + fit.n_dropped
    return ContextualEffect(rows, fit, cwc, mean, n_dropped, dropped_by_column)
