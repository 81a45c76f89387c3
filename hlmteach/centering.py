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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from .design import ModelInputError

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


def _check(data: pd.DataFrame, columns: Sequence[str | None]) -> None:
    if not isinstance(data, pd.DataFrame):
        raise ModelInputError(
            f"The data must be a pandas DataFrame, not {type(data).__name__}; "
            "wrap it with pd.DataFrame(...)."
        )
    missing = [c for c in columns if c is not None and c not in data.columns]
    if missing:
        raise ModelInputError(
            f"Column(s) {missing} are not in the data; its columns are {list(data.columns)[:30]}."
        )
    for c in columns:
        if c is not None and c == columns[0] and not pd.api.types.is_numeric_dtype(data[c]):
            raise ModelInputError(
                f"Column {c!r} is not numeric (dtype {data[c].dtype}); only numeric predictors "
                "can be centred. Make a 0/1 dummy for a category first."
            )


def _record(frame: pd.DataFrame, name: str, spec: CenteringSpec) -> None:
    record = dict(frame.attrs.get("centering", {}))
    record[name] = spec.describe()
    frame.attrs["centering"] = record


def _group_means(data: pd.DataFrame, column: str, group: str) -> pd.Series:
    return data.groupby(group, observed=True, sort=False)[column].transform("mean")


def center(
    data: pd.DataFrame,
    column: str,
    group: str | None = None,
    kind: str = "grand",
    name: str | None = None,
    by: str | None = None,
    inplace: bool = False,
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

    Returns
    -------
    DataFrame
        A copy of ``data`` (or ``data`` itself if ``inplace``) with the new
        column, recorded in ``attrs["centering"]``.

    Notes
    -----
    Means are over the rows where ``column`` is not missing; rows with a
    missing value get a missing centred value. Centre on the rows you analyse:
    drop incomplete rows first if other model variables are missing, or the
    mean includes students the model does not use.

    Examples
    --------
    >>> df = pd.DataFrame({"school": [1, 1, 2, 2], "ses": [1.0, 3.0, 0.0, 4.0]})
    >>> center(df, "ses", group="school", kind="group")["ses_cwc"].tolist()
    [-1.0, 1.0, -2.0, 2.0]
    >>> center(df, "ses")["ses_cgm"].tolist()
    [-1.0, 1.0, -2.0, 2.0]
    >>> "ses_cgm" in df.columns  # the input is unchanged
    False
    """
    if kind not in _KINDS:
        raise ModelInputError(
            f"Unknown centring kind {kind!r}; use 'grand' (grand-mean) or 'group' (group-mean)."
        )
    if kind == "group" and group is None:
        raise ModelInputError("Group-mean centring needs the school column: pass group='school'.")
    if kind == "group" and by is not None:
        raise ModelInputError(
            "by= applies to grand-mean centring only; school means are already within country."
        )
    _check(data, [column, group if kind == "group" else None, by])
    out = data if inplace else data.copy()
    if name is None:
        name = f"{column}_{'cgm' if kind == 'grand' else 'cwc'}"
    if kind == "group":
        means = _group_means(data, column, group)
    elif by is not None:
        means = data.groupby(by, observed=True, sort=False)[column].transform("mean")
    else:
        means = pd.Series(data[column].mean(), index=data.index)
    out[name] = data[column] - means
    _record(out, name, CenteringSpec(column, kind, group if kind == "group" else None, by))
    return out


def school_mean(
    data: pd.DataFrame,
    column: str,
    group: str,
    name: str | None = None,
    inplace: bool = False,
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

    Returns
    -------
    DataFrame
        A copy of ``data`` (or ``data``) with the new column, recorded in
        ``attrs["centering"]``.

    Examples
    --------
    >>> df = pd.DataFrame({"school": [1, 1, 2, 2], "college": [1.0, 0.0, 1.0, 1.0]})
    >>> school_mean(df, "college", "school")["college_mean"].tolist()
    [0.5, 0.5, 1.0, 1.0]
    """
    _check(data, [column, group])
    out = data if inplace else data.copy()
    name = name or f"{column}_mean"
    out[name] = _group_means(data, column, group)
    _record(out, name, CenteringSpec(column, "school mean", group))
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
    record = dict(data.attrs.get("centering", {}))
    names = list(record) if variables is None else list(variables)
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
    """

    table: pd.DataFrame
    fit: HLMResult
    within_term: str
    between_term: str

    def _repr_html_(self) -> str:
        return (
            "<p>Within-school, between-school and contextual effects "
            f"(R&amp;B 2002, ch. 5) from {self.fit.formula}</p>"
            + self.table.to_html(border=0, float_format=lambda v: f"{v:.4g}")
        )

    def __str__(self) -> str:
        return self.table.to_string(float_format=lambda v: f"{v:.5g}")


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
        Let the within-school slope vary across schools.
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
        between-within df, a conservative choice).

    Examples
    --------
    >>> import hlmteach as hlm
    >>> ce = contextual_effect(hlm.load_hsb(), "mathach", "ses", "school")
    >>> ce.table["estimate"].round(3).tolist()  # R&B (2002, ch. 5): 2.191, 5.866, 3.675
    [2.191, 5.866, 3.675]
    """
    from .design import formula_variables
    from .models import fit_hlm

    _check(data, [predictor, outcome, group, mean_column])
    cwc = f"{predictor}_cwc"
    mean = mean_column or f"{predictor}_mean"
    for new in (cwc, *([] if mean_column else [mean])):
        if new in data.columns:
            raise ModelInputError(
                f"The data already have a column {new!r}; rename or drop it, because "
                "contextual_effect makes it from the predictor."
            )
    # Centre on the students the model uses.
    extra = formula_variables("_ ~ " + " + ".join(covariates))[1:] if covariates else []
    used = [outcome, predictor, group, *([mean_column] if mean_column else []), *extra]
    frame = data.dropna(subset=used)
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
    names = list(fit.fixed.index)
    i, j = names.index(cwc), names.index(mean)
    cov = fit.engine_fit.cov_beta
    contrast = np.zeros(len(names))
    contrast[j], contrast[i] = 1.0, -1.0
    est = float(contrast @ fit.engine_fit.beta)
    se = float(np.sqrt(contrast @ cov @ contrast))
    df = float(min(fit.fixed.loc[cwc, "df"], fit.fixed.loc[mean, "df"]))
    rows = fit.fixed.loc[[cwc, mean], ["estimate", "se", "df", "t", "p"]].copy()
    rows.loc["contextual"] = [est, se, df, est / se, 2.0 * stats.t.sf(abs(est / se), df)]
    rows.index = pd.Index(["within", "between", "contextual"], name="effect")
    return ContextualEffect(rows, fit, cwc, mean)
