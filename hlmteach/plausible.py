"""Plausible values: fit the model once per plausible value and pool with Rubin's rules.

TIMSS does not measure a student's mathematics score; it draws five *plausible
values* from each student's posterior distribution of proficiency. Analysing
only the first one (as the course's source analysis does) gives the right
estimates on average but standard errors that are too small, because they
ignore how much the answer changes from one plausible value to the next. The
remedy (Rubin 1987; Mislevy et al. 1992) is to fit the model to each plausible
value and combine the ``M`` answers:

- estimate: the mean of the ``M`` estimates, ``Q̄``;
- within variance ``Ū``: the mean of the ``M`` squared standard errors;
- between variance ``B``: the variance of the ``M`` estimates;
- total variance ``T = Ū + (1 + 1/M) B``, and standard error ``sqrt(T)``;
- degrees of freedom by Barnard & Rubin (1999), which never exceed the
  complete-data degrees of freedom ``ν_com`` of the single-value analysis.

:func:`rubin_pool` does the arithmetic on arrays; :func:`fit_plausible_values`
fits and pools an HLM (or OLS) and returns a :class:`PooledResult`.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from .models import ByResults, HLMResult, OLSResult, _split_by, fit_hlm, fit_ols
from .validation import (
    ModelInputError,
    as_term_list,
    check_formula_text,
    require_choice,
    require_columns,
    require_frame,
    require_numeric_column,
)

__all__ = ["MATH_PVS", "PooledResult", "fit_plausible_values", "rubin_pool"]

#: The course's five plausible values of mathematics, as z-scores.
MATH_PVS: tuple[str, ...] = ("math1", "math2", "math3", "math4", "math5")

_POOLED_COLUMNS = [
    "estimate",
    "se",
    "df",
    "t",
    "p",
    "within",
    "between",
    "total",
    "riv",
    "lambda",
    "fmi",
    "df_complete",
]


#: The columns of the pooled covariance parameters that the reports print: no df, t or p,
#: because a Wald test of a variance (near its boundary at zero) is not to be trusted.
_COVARIANCE_COLUMNS = ["estimate", "se", "fmi", "n_boundary"]
_COVARIANCE_NOTE = (
    "(no t or p: test a variance with a likelihood-ratio test, hlmteach.variance_tests; "
    "the table .covariance keeps the Wald columns)"
)


def rubin_pool(
    estimates: np.ndarray | Sequence[Sequence[float]],
    variances: np.ndarray | Sequence[Sequence[float]],
    df_complete: float | np.ndarray | Sequence[float] = np.inf,
    names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Combine M analyses by Rubin's rules with Barnard–Rubin degrees of freedom.

    Parameters
    ----------
    estimates : array (M, k)
        One row per plausible value (or imputation), one column per parameter.
    variances : array (M, k)
        The squared standard errors of ``estimates``.
    df_complete : float or array (k,)
        Complete-data degrees of freedom ``ν_com`` of each parameter (the df of
        the analysis of one plausible value); ``np.inf`` for large-sample
        (normal) tests.
    names : sequence of str, optional
        Parameter names for the index.

    Returns
    -------
    DataFrame
        One row per parameter with columns ``estimate`` (Q̄), ``se`` (√T),
        ``df`` (Barnard–Rubin), ``t`` and two-sided ``p``; ``within`` (Ū),
        ``between`` (B), ``total`` (T = Ū + (1 + 1/M) B), ``riv`` (relative
        increase in variance, (1 + 1/M) B / Ū), ``lambda`` (ω in the course, so
        that λ stays the reliability: the share of the total variance due to the
        missing information, (1 + 1/M) B / T; mice calls it ``lambda``), ``fmi``
        (fraction of missing information, (riv + 2/(df + 3)) / (riv + 1)) and
        ``df_complete``. ``attrs["m"]`` holds M.

    Raises
    ------
    ModelInputError
        For fewer than two analyses, estimates and variances of different
        shapes, non-finite estimates, variances that are not positive and
        finite, or df_complete that are not positive.

    Notes
    -----
    With ``ω = (1 + 1/M) B / T`` (column ``lambda``), the Barnard–Rubin df are
    ``1 / (1/ν_old + 1/ν_obs)`` with ``ν_old = (M - 1) / ω²`` (Rubin 1987) and
    ``ν_obs = (ν_com + 1) / (ν_com + 3) · ν_com · (1 - ω)``; with
    ``ν_com = ∞`` they are ``ν_old``, and with ``B = 0`` they are ``ν_obs``.
    This is ``mice::pool.scalar(Q, U, n, k)`` with ``n - k = ν_com`` (mice
    replaces ω below 1e-4 by 1e-4; the exact formula does not).

    Examples
    --------
    Two analyses that disagree: ``Q̄ = 2``, ``Ū = 1``, ``B = 2`` and
    ``T = 1 + 1.5 × 2 = 4``.

    >>> table = rubin_pool([[1.0], [3.0]], [[1.0], [1.0]], df_complete=np.inf)
    >>> table[["estimate", "se", "total", "riv", "lambda"]].round(4).iloc[0].tolist()
    [2.0, 2.0, 4.0, 3.0, 0.75]
    >>> round(float(table["df"].iloc[0]), 4)  # (M - 1) / omega**2 = 16 / 9
    1.7778
    >>> rubin_pool([[1.0], [3.0]], [[1.0], [-3.0]])
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: variances must be positive finite numbers (squared
    standard errors), but 1 value(s) are not, such as -3.0 for parameter 0 of analysis 1.
    Pass se**2, not the standard errors' differences or a missing value.
    """
    Q = _as_matrix(estimates, "estimates")
    U = _as_matrix(variances, "variances")
    if Q.shape != U.shape:
        raise ModelInputError(
            f"estimates {Q.shape} and variances {U.shape} must have the same shape (M, k): "
            "one row per plausible value, one column per parameter."
        )
    m, k = Q.shape
    if m < 2:
        raise ModelInputError(
            f"Pooling needs at least two plausible values (or imputations); got {m}. "
            "Pass all of them, e.g. outcomes=['math1', ..., 'math5']."
        )
    if k == 0:
        raise ModelInputError("estimates has no columns: pass at least one parameter.")
    if not np.isfinite(Q).all():
        r, c = np.argwhere(~np.isfinite(Q))[0]
        raise ModelInputError(
            f"estimates holds a value that is not a finite number ({Q[r, c]} for parameter "
            f"{c} of analysis {r}); pool only analyses that gave an estimate."
        )
    bad = ~np.isfinite(U) | (U <= 0)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ModelInputError(
            f"variances must be positive finite numbers (squared standard errors), but "
            f"{int(bad.sum())} value(s) are not, such as {U[r, c]} for parameter {c} of "
            f"analysis {r}. Pass se**2, not the standard errors' differences or a missing value."
        )
    try:
        df_com = np.broadcast_to(np.asarray(df_complete, dtype=float), (k,)).copy()
    except (TypeError, ValueError) as exc:
        raise ModelInputError(
            f"df_complete must be one number or one per parameter ({k}); got {df_complete!r}."
        ) from exc
    if np.any(df_com <= 0) or np.any(np.isnan(df_com)):
        raise ModelInputError(
            f"df_complete must be positive (np.inf for large-sample tests); got {df_com}."
        )
    if isinstance(names, str):
        names = [names]
    if names is not None and len(list(names)) != k:
        raise ModelInputError(f"{len(list(names))} names given for {k} parameters.")
    return _pool(Q, U, df_com, names)


def _as_matrix(values: object, argument: str) -> np.ndarray:
    """An (M, k) float array from a sequence of rows (or of M numbers, for one parameter)."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ModelInputError(
            f"{argument} must be numbers, one row per plausible value and one column per "
            f"parameter, with rows of equal length; could not read {values!r}."
        ) from exc
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ModelInputError(
            f"{argument} must be a table (M, k), one row per plausible value; got an array of "
            f"{array.ndim} dimensions."
        )
    return array


def _pool(
    Q: np.ndarray, U: np.ndarray, df_com: np.ndarray, names: Sequence[str] | None
) -> pd.DataFrame:
    """Rubin's rules on checked arrays (NaN variances, as at a boundary, give NaN rows)."""
    m, k = Q.shape
    with np.errstate(divide="ignore", invalid="ignore"):
        qbar = Q.mean(axis=0)
        ubar = U.mean(axis=0)
        b = Q.var(axis=0, ddof=1)
        inflation = (1.0 + 1.0 / m) * b
        total = ubar + inflation
        riv = inflation / ubar
        lam = inflation / total
        df_old = np.where(lam > 0, (m - 1) / lam**2, np.inf)
        finite = np.isfinite(df_com)
        df_obs = np.where(finite, (df_com + 1.0) / (df_com + 3.0) * df_com * (1.0 - lam), np.inf)
        df = np.where(
            ~finite,
            df_old,
            np.where(np.isinf(df_old), df_obs, 1.0 / (1.0 / df_old + 1.0 / df_obs)),
        )
        df = np.where(np.isnan(lam), np.nan, df)
        fmi = (riv + 2.0 / (df + 3.0)) / (riv + 1.0)
        se = np.sqrt(total)
        t = qbar / se
        p = np.where(np.isnan(t), np.nan, 2.0 * stats.t.sf(np.abs(np.nan_to_num(t)), df))
    index = pd.Index(list(names) if names is not None else range(k), name="term")
    table = pd.DataFrame(
        {
            "estimate": qbar,
            "se": se,
            "df": df,
            "t": t,
            "p": p,
            "within": ubar,
            "between": b,
            "total": total,
            "riv": riv,
            "lambda": lam,
            "fmi": fmi,
            "df_complete": df_com,
        },
        index=index,
    )
    table.attrs["m"] = m
    return table


def _outcome_formula(formula: str, outcome: str) -> str:
    """The formula for one plausible value: fill ``{pv}`` or put the outcome on the left."""
    if "{pv}" in formula:
        return formula.replace("{pv}", outcome)
    if "~" not in formula:
        return f"{outcome} ~ {formula}"
    lhs, rhs = formula.split("~", 1)
    if lhs.strip():
        raise ModelInputError(
            f"The formula {formula!r} names the outcome {lhs.strip()!r}. For plausible values "
            "write the outcome as '{pv}' (e.g. '{pv} ~ college + boy') or leave it out "
            "('~ college + boy'), and list the plausible values in outcomes=."
        )
    return f"{outcome} ~{rhs}"


@dataclass
class PooledResult:
    """One model fitted to each plausible value, pooled by Rubin's rules.

    It has the same ``fixed``, ``covariance``, ``icc``, ``n_obs`` and
    ``n_groups`` as an :class:`~hlmteach.models.HLMResult` (``r2`` as an
    :class:`~hlmteach.models.OLSResult` for OLS), so the course's side-by-side
    tables read it too.

    Attributes
    ----------
    formula : str
        The formula template, with ``{pv}`` standing for the outcome.
    outcomes : list of str
        The plausible values, in order.
    fits : dict
        The fit to each plausible value (HLMResult or OLSResult), by outcome.
    model : {"hlm", "ols"}
        Which kind of model was fitted.
    n_dropped : int
        Rows left out because a plausible value was missing (on top of the rows
        each fit drops for missing predictors, :attr:`n_dropped_predictors`;
        :attr:`n_dropped_total` is their sum).
    label : str
        The data set's label.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> hsb = hlm.load_hsb()
    >>> rng = np.random.default_rng(5)
    >>> for k in (1, 2, 3):  # three artificial "plausible values" of mathach
    ...     hsb[f"pv{k}"] = hsb["mathach"] + rng.normal(scale=2.0, size=len(hsb))
    >>> pooled = fit_plausible_values(hsb, "{pv} ~ ses", ["pv1", "pv2", "pv3"], group="school")
    >>> list(pooled.fixed.columns[:5])
    ['estimate', 'se', 'df', 't', 'p']
    >>> bool(pooled.fixed.loc["ses", "se"] > pooled.fits["pv1"].fixed.loc["ses", "se"])
    True
    """

    #: The side-by-side tables a pooled result can appear in (read by hlmteach.tables).
    table_kinds: ClassVar[tuple[str, ...]] = ("ols", "hlm")

    formula: str
    outcomes: list[str]
    fits: dict[str, HLMResult | OLSResult]
    model: str
    n_dropped: int = 0
    label: str = ""

    @property
    def m(self) -> int:
        """Number of plausible values."""
        return len(self.outcomes)

    @property
    def first(self) -> HLMResult | OLSResult:
        """The fit to the first plausible value alone (the source analysis's choice)."""
        return self.fits[self.outcomes[0]]

    @property
    def n_obs(self) -> int:
        """Students used (the same in every fit)."""
        return self.first.n_obs

    @property
    def n_groups(self) -> int:
        """Schools used (HLM only)."""
        return self.first.n_groups

    @property
    def n_dropped_predictors(self) -> int:
        """Rows with every plausible value but a missing predictor (or school id)."""
        return self.first.n_dropped

    @property
    def n_dropped_total(self) -> int:
        """Every row of the data not used: no plausible value or a missing predictor."""
        return self.n_dropped + self.n_dropped_predictors

    def per_pv(self, column: str = "estimate", part: str = "fixed") -> pd.DataFrame:
        """One column per plausible value: a column of the fits' ``fixed`` or ``covariance``.

        Shows at a glance how much each estimate moves from one plausible value to the next.
        """
        require_choice(part, ("fixed", "covariance"), "part")
        require_columns(getattr(self.first, part), [column], f"{part} table of a fit")
        return pd.DataFrame({pv: getattr(fit, part)[column] for pv, fit in self.fits.items()})

    @cached_property
    def fixed(self) -> pd.DataFrame:
        """Pooled fixed effects (see :func:`rubin_pool` for the columns).

        ``ν_com`` is each effect's df in the single-value analysis: between-within
        df for an HLM (SAS ``DDFM=BW``), residual df for OLS.
        """
        estimates = self.per_pv("estimate").T.to_numpy()
        variances = (self.per_pv("se").T ** 2).to_numpy()
        df_com = self.first.fixed["df"].to_numpy(dtype=float)
        return _pool(estimates, variances, df_com, self.first.fixed.index)

    @cached_property
    def covariance(self) -> pd.DataFrame:
        """Pooled covariance parameters (tau entries and the residual variance sigma2).

        Pooled on the variance scale with the Wald standard errors of each fit
        (SAS ``COVTEST``) and ``ν_com = ∞``; ``p`` is one-sided for variances, as
        ``COVTEST`` prints it. ``n_boundary`` counts the plausible values in
        which the parameter sits on the boundary (a variance estimated at
        zero): there the fit has no standard error, so the pooled one is NaN.
        Rubin's rules assume roughly normal estimates, which a variance near
        zero is not; prefer likelihood-based checks there
        (:mod:`hlmteach.variance_tests`).
        """
        self._require_hlm("covariance parameters")
        estimates = self.per_pv("estimate", "covariance").T.to_numpy()
        variances = (self.per_pv("se", "covariance").T ** 2).to_numpy()
        index = self.first.covariance.index
        table = _pool(estimates, variances, np.full(len(index), np.inf), index)
        table.index.name = "parameter"
        is_variance = np.array([not str(name).startswith("Cov(") for name in index])
        z = table["t"].to_numpy()
        with np.errstate(invalid="ignore"):
            one_sided = stats.t.sf(np.nan_to_num(z), table["df"].to_numpy())
        table["p"] = np.where(np.isnan(z), np.nan, np.where(is_variance, one_sided, table["p"]))
        table["n_boundary"] = self.per_pv("boundary", "covariance").sum(axis=1).astype(int)
        return table

    @property
    def tau(self) -> pd.DataFrame:
        """Pooled random-effect covariance matrix (the mean over plausible values)."""
        self._require_hlm("tau")
        return sum(fit.tau for fit in self.fits.values()) / self.m

    @property
    def sigma2(self) -> float:
        """Pooled level-1 variance (the mean over plausible values)."""
        self._require_hlm("sigma2")
        return float(np.mean([fit.sigma2 for fit in self.fits.values()]))

    @property
    def icc(self) -> float:
        """tau00 / (tau00 + sigma2) from the pooled variances."""
        tau00 = float(self.tau.iloc[0, 0])
        return tau00 / (tau00 + self.sigma2)

    @property
    def r2(self) -> float:
        """OLS only: the mean R² over plausible values (the usual point estimate)."""
        if self.model != "ols":
            raise AttributeError("r2 is defined for pooled OLS fits only.")
        return float(np.mean([fit.r2 for fit in self.fits.values()]))

    @cached_property
    def warnings(self) -> list[str]:
        """Plain-words notes: boundary estimates and convergence problems in any plausible value."""
        notes: list[str] = []
        if self.model != "hlm":
            return notes
        for name, row in self.covariance.iterrows():
            if row["n_boundary"] > 0:
                which = [
                    pv for pv, fit in self.fits.items() if fit.covariance.loc[name, "boundary"]
                ]
                what = (
                    "part of a singular fit"
                    if str(name).startswith("Cov(")
                    else "estimated at zero"
                )
                notes.append(
                    f"{name} is on the boundary ({what}) with {', '.join(which)}: it has no "
                    "standard error there, so its pooled SE, df and p are not reported. Test "
                    "it with a likelihood-ratio test (hlmteach.variance_tests) instead."
                )
        for pv, fit in self.fits.items():
            if not fit.converged:
                notes.append(f"The fit to {pv} did not converge: {fit.engine_fit.message}")
        return notes

    def comparison(self) -> pd.DataFrame:
        """First plausible value alone vs all of them pooled: estimates and standard errors.

        Returns
        -------
        DataFrame
            Indexed by (part, term), part ``"fixed"`` or ``"covariance"``; columns
            ``estimate_first``, ``se_first`` (the first plausible value only),
            ``estimate_pooled``, ``se_pooled`` (all M), ``se_ratio``
            (pooled / first) and ``fmi`` (fraction of missing information).
        """
        parts = [("fixed", self.first.fixed, self.fixed)]
        if self.model == "hlm":
            parts.append(("covariance", self.first.covariance, self.covariance))
        blocks = []
        for part, first, pooled in parts:
            block = pd.DataFrame(
                {
                    "estimate_first": first["estimate"],
                    "se_first": first["se"],
                    "estimate_pooled": pooled["estimate"],
                    "se_pooled": pooled["se"],
                    "se_ratio": pooled["se"] / first["se"],
                    "fmi": pooled["fmi"],
                }
            )
            block.index = pd.MultiIndex.from_product(
                [[part], block.index.astype(str)], names=["part", "term"]
            )
            blocks.append(block)
        return pd.concat(blocks)

    def _require_hlm(self, what: str) -> None:
        if self.model != "hlm":
            raise AttributeError(f"{what} exist for pooled HLM fits only, not for OLS.")

    # -- presentation ------------------------------------------------------------------------
    def _header(self) -> list[str]:
        kind = "Two-level model" if self.model == "hlm" else "OLS"
        lines = [
            f"{kind} fitted to each of {self.m} plausible values ({', '.join(self.outcomes)}) "
            f"and pooled by Rubin's rules: {self.formula}",
            f"Students used: {self.n_obs}"
            + (f"; schools: {self.n_groups}" if self.model == "hlm" else "")
            + (f"; rows without plausible values: {self.n_dropped}" if self.n_dropped else "")
            + (
                f"; rows with a missing predictor: {self.n_dropped_predictors}"
                if self.n_dropped_predictors
                else ""
            ),
        ]
        if self.label:
            lines.append(self.label)
        survey = getattr(self.first, "survey_weights", None)
        if survey is not None:  # every fit has the same weights
            lines.append(
                f"{survey.describe()} The within-PV variance of each estimate is the mean of the "
                f"{self.m} fits' sandwich variances."
            )
        return lines

    def summary(self) -> str:
        """A plain-text report: pooled fixed effects, then covariance parameters."""
        cols = ["estimate", "se", "df", "t", "p", "fmi"]
        parts = [*self._header(), *self.warnings, "", "Pooled fixed effects"]
        parts.append(self.fixed[cols].to_string(float_format=lambda v: f"{v:.5g}"))
        if self.model == "hlm":
            parts += ["", "Pooled covariance parameters", _COVARIANCE_NOTE]
            parts.append(
                self.covariance[_COVARIANCE_COLUMNS].to_string(float_format=lambda v: f"{v:.5g}")
            )
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        cols = ["estimate", "se", "df", "t", "p", "fmi"]
        fmt = {c: "{:.4g}" for c in cols}
        header = "<br>".join(html.escape(line) for line in self._header())
        notes = "".join(
            f"<p style='color:#a6611a'><b>Note.</b> {html.escape(w)}</p>" for w in self.warnings
        )
        body = "<h4>Pooled fixed effects</h4>" + self.fixed[cols].to_html(
            border=0, formatters={c: fmt[c].format for c in cols}
        )
        if self.model == "hlm":
            shown = [c for c in _COVARIANCE_COLUMNS if c in fmt]
            body += (
                "<h4>Pooled covariance parameters</h4>"
                f"<p>{html.escape(_COVARIANCE_NOTE)}</p>"
                + self.covariance[_COVARIANCE_COLUMNS].to_html(
                    border=0, formatters={c: fmt[c].format for c in shown}
                )
            )
        return f"<div class='hlmteach-result'><p>{header}</p>{notes}{body}</div>"


def _plausible_value_columns(data: pd.DataFrame, outcomes: object) -> list[str]:
    """The plausible-value columns: at least two, distinct, present and numeric."""
    if isinstance(outcomes, str):
        outcomes = [outcomes]
    if not isinstance(outcomes, Sequence) or not all(isinstance(o, str) for o in outcomes):
        raise ModelInputError(
            "The argument outcomes must be a list of column names, such as "
            f"outcomes=['math1', 'math2', 'math3', 'math4', 'math5']; got {outcomes!r}."
        )
    outcomes = list(outcomes)
    if len(outcomes) < 2:
        raise ModelInputError(
            f"Pooling needs at least two plausible values; got {outcomes}. "
            "Pass them all, e.g. outcomes=['math1', 'math2', 'math3', 'math4', 'math5']."
        )
    if len(set(outcomes)) < len(outcomes):
        raise ModelInputError(
            f"The argument outcomes names a plausible value twice ({outcomes}); the same "
            "column twice would make the plausible values look as if they agreed. List each "
            "once."
        )
    require_columns(data, outcomes, "outcomes argument (plausible values)")
    for outcome in outcomes:
        require_numeric_column(data, outcome, "plausible value")
    return outcomes


def _formula_template(formula: object, first: str) -> str:
    """The formula with ``{pv}`` for the outcome, checked on the first plausible value."""
    if not isinstance(formula, str):
        raise ModelInputError(
            f"The formula must be a string such as '{{pv}} ~ college + boy', not "
            f"{type(formula).__name__}."
        )
    if "{pv}" in formula and (
        formula.count("{pv}") > 1 or "~" not in formula or "{pv}" not in formula.split("~")[0]
    ):
        raise ModelInputError(
            f"The formula {formula!r} must use '{{pv}}' once, as the outcome before '~', such "
            "as '{pv} ~ college + boy'."
        )
    check_formula_text(_outcome_formula(formula, first))
    if "{pv}" in formula:
        return formula
    return _outcome_formula(formula if "~" in formula else f"~ {formula}", "{pv}")


def fit_plausible_values(
    data: pd.DataFrame,
    formula: str,
    outcomes: Sequence[str] = MATH_PVS,
    group: str | None = None,
    random: Sequence[str] = (),
    method: str = "REML",
    covariance: str = "un",
    by: str | None = None,
    model: str = "hlm",
    weights: str | None = None,
    group_weights: str | None = None,
    conditional_weights: bool = False,
    weight_scaling: str = "none",
) -> PooledResult | ByResults:
    """Fit one model to each plausible value and pool the results by Rubin's rules.

    Parameters
    ----------
    data : DataFrame
        One row per student, with a column per plausible value.
    formula : str
        The model with ``{pv}`` for the outcome, ``"{pv} ~ college + boy"``;
        ``"~ college + boy"`` or ``"college + boy"`` mean the same.
    outcomes : sequence of str
        The plausible-value columns; by default the course's ``math1`` .. ``math5``.
    group : str, optional
        The column of school ids (required for ``model="hlm"``).
    random : sequence of str
        Level-1 predictors with random slopes (HLM only).
    method : {"REML", "ML"}
        As :func:`hlmteach.fit_hlm`.
    covariance : {"un", "vc"}
        As :func:`hlmteach.fit_hlm`.
    by : str, optional
        Pool separately within each level of this column (SAS ``BY``), e.g.
        ``"country"``; returns a :class:`~hlmteach.models.ByResults` of pooled results.
    model : {"hlm", "ols"}
        A two-level model (:func:`hlmteach.fit_hlm`) or OLS (:func:`hlmteach.fit_ols`).
    weights, group_weights, conditional_weights, weight_scaling
        Survey weights of each fit, as :func:`hlmteach.fit_hlm` takes them
        (two-level models with ``method="ML"`` only). Every plausible value is
        fitted with the same weights, and the pooled SEs combine the
        cluster-robust within-PV variances with the between-PV variance.

    Returns
    -------
    PooledResult or ByResults

    Raises
    ------
    ModelInputError
        For fewer than two (or repeated) plausible values, a missing or
        non-numeric plausible-value column (numbers stored as text included), a
        formula that names its own outcome, or options OLS does not have.

    Notes
    -----
    Every fit uses the same students: rows missing any plausible value are
    dropped first (and counted in ``n_dropped``); rows missing a predictor are
    counted in ``n_dropped_predictors``. Both are shown in the report.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> hsb = hlm.load_hsb()
    >>> rng = np.random.default_rng(1)
    >>> for k in (1, 2):
    ...     hsb[f"pv{k}"] = hsb["mathach"] + rng.normal(scale=2.0, size=len(hsb))
    >>> ols = fit_plausible_values(hsb, "~ ses", ["pv1", "pv2"], model="ols")
    >>> float(ols.fixed.loc["ses", "df_complete"]), ols.m
    (7183.0, 2)
    """
    data = require_frame(data)
    model = require_choice(model, ("hlm", "ols"), "model", normalise=str.lower)
    outcomes = _plausible_value_columns(data, outcomes)
    template = _formula_template(formula, outcomes[0])
    random = as_term_list(random, "random")
    if model == "hlm" and group is None:
        raise ModelInputError(
            "A two-level model needs the school column: pass group='school' "
            "(or model='ols' for OLS)."
        )
    weighting = {
        "weights": weights,
        "group_weights": group_weights,
        "conditional_weights": conditional_weights,
        "weight_scaling": weight_scaling,
    }
    if model == "ols" and (weights is not None or group_weights is not None):
        raise ModelInputError(
            "Survey weights are supported for two-level models: use model='hlm' with "
            "group='school' and method='ML'."
        )
    if model == "ols" and (group is not None or random):
        raise ModelInputError("OLS has no schools or random slopes: drop group= and random=.")
    if model == "ols" and (str(method).upper() != "REML" or covariance != "un"):
        raise ModelInputError(
            "OLS has no method= or covariance= (they belong to two-level models): drop them, "
            "or use model='hlm' with group='school'."
        )
    if by is not None:
        return ByResults(
            by,
            {
                level: fit_plausible_values(
                    part,
                    formula,
                    outcomes,
                    group,
                    random,
                    method,
                    covariance,
                    None,
                    model,
                    **weighting,
                )
                for level, part in _split_by(data, by).items()
            },
        )
    complete = data[outcomes].notna().all(axis=1)
    if not complete.any():
        raise ModelInputError(
            f"No row has all the plausible values {outcomes}: every row misses at least one. "
            "Check the columns for NaNs."
        )
    frame = data.loc[complete]
    fits: dict[str, Any] = {}
    for outcome in outcomes:
        pv_formula = _outcome_formula(formula, outcome)
        if model == "hlm":
            fits[outcome] = fit_hlm(
                frame,
                pv_formula,
                group,
                random,
                method=method,
                covariance=covariance,
                **weighting,
            )
        else:
            fits[outcome] = fit_ols(frame, pv_formula)
    sizes = {fit.n_obs for fit in fits.values()}
    if len(sizes) != 1:  # pragma: no cover - rows with all PVs share the predictors
        raise ModelInputError(f"The fits used different numbers of students: {sizes}.")
    return PooledResult(
        formula=template,
        outcomes=outcomes,
        fits=fits,
        model=model,
        n_dropped=int((~complete).sum()),
        label=str(data.attrs.get("label", "")),
    )
