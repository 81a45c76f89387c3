"""Tables: fitted results as tidy DataFrames, side-by-side country tables and HTML reports.

Tables read result objects and never refit. The ``*_table`` functions give the
shapes of the course's source analysis (countries side by side, stars for
p-values); the ``*_report`` functions render one result the way SAS PROC MIXED
orders its output.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .validation import ModelInputError, require_integer

if TYPE_CHECKING:
    from .results import HLMResult, OLSResult

__all__ = [
    "anova_table",
    "hlm_html_report",
    "hlm_table",
    "hlm_text_report",
    "ols_html_report",
    "ols_table",
    "side_by_side_html",
    "stars",
]


def stars(p: float) -> str:
    """Significance stars as the source tables print them.

    Examples
    --------
    >>> [stars(p) for p in (0.0001, 0.004, 0.03, 0.2)]
    ['***', '**', '*', '']
    """
    if not np.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


def _column_block(estimate: float, se: float, p: float, digits: int) -> dict[str, str]:
    return {
        "Coefficient": f"{estimate:.{digits}f}",
        "Error": f"({se:.{digits}f})" if np.isfinite(se) else "",
        "p": stars(p),
    }


def _variance_block(estimate: float, se: float, p: float, digits: int) -> dict[str, str]:
    block = _column_block(estimate, se, p, digits)
    return {"Variance": block["Coefficient"], "Var Error": block["Error"], "Var p": block["p"]}


def _checked_fits(fits: Any, kinds: str, digits: object) -> Mapping[str, Any]:
    """The fits of a side-by-side table as a mapping; one result becomes a one-column table."""
    require_integer(digits, "digits", minimum=0)

    def allowed(fit: object) -> bool:
        return kinds in getattr(type(fit), "table_kinds", ())

    if allowed(fits):
        return {"model": fits}
    if not isinstance(fits, Mapping) or not len(fits):
        raise ModelInputError(
            f"The argument fits must be a fitted model or a non-empty mapping of label to "
            f"model, such as the result of by='country'; got {type(fits).__name__}."
        )
    for label, fit in fits.items():
        if not allowed(fit):
            names = {"ols": "OLSResult or PooledResult", "hlm": "HLMResult or PooledResult"}[kinds]
            raise ModelInputError(
                f"The argument fits holds {type(fit).__name__} for {label!r}; this table needs "
                f"{names} results (fit_{'ols' if kinds == 'ols' else 'hlm'})."
            )
    return fits


def ols_table(fits: Mapping[str, OLSResult], digits: int = 3) -> pd.DataFrame:
    """OLS coefficients of several groups side by side, with N and R².

    Parameters
    ----------
    fits : mapping of str to OLSResult
        For example ``fit_ols(data, formula, by="country")``.
    digits : int
        Decimals shown.

    Returns
    -------
    DataFrame
        Rows: terms, then "Sample Size" and "R2"; columns: (group, Coefficient/Error/p).

    Examples
    --------
    >>> import hlmteach as hlm
    >>> fits = hlm.fit_ols(hlm.load_timss(), "math ~ college + boy", by="country")
    >>> ols_table(fits).loc["Sample Size", ("USA", "Coefficient")]
    '6943'
    """
    blocks = {}
    for name, fit in _checked_fits(fits, "ols", digits).items():
        rows = {
            term: _column_block(r.estimate, r.se, r.p, digits) for term, r in fit.fixed.iterrows()
        }
        rows["Sample Size"] = {"Coefficient": f"{fit.n_obs}", "Error": "", "p": ""}
        rows["R2"] = {"Coefficient": f"{fit.r2:.{digits}f}", "Error": "", "p": ""}
        blocks[name] = pd.DataFrame(rows).T
    return pd.concat(blocks, axis=1).fillna("")


def anova_table(fits: Mapping[str, HLMResult], digits: int = 4) -> pd.DataFrame:
    """The intercept-only ("ANOVA") model of several groups side by side.

    Shows the intercept and the school variance with SE and stars, the level-1
    variance, the ICC computed as tau00 / (tau00 + sigma2), the sample sizes and
    the fit statistics.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> fits = hlm.fit_hlm(hlm.load_timss(), "math ~ 1", group="school", by="country")
    >>> anova_table(fits).loc["N of Schools", ("Korea", "Coefficient")]
    '150'
    """
    blocks = {}
    for name, fit in _checked_fits(fits, "hlm", digits).items():
        if "Intercept" not in fit.fixed.index:
            raise ModelInputError(
                f"The model {name!r} has no fixed intercept, so it is not an intercept-only "
                "(ANOVA) model; fit it with 'outcome ~ 1'."
            )
        fixed = fit.fixed.loc["Intercept"]
        cov = fit.covariance
        rows: dict[str, dict[str, str]] = {
            "Intercept": {
                **_column_block(fixed.estimate, fixed.se, fixed.p, digits),
                **_variance_block(*cov.loc["Var(Intercept)", ["estimate", "se", "p"]], digits),
            },
            "Level-1 variance": _column_block(
                *cov.loc["Residual", ["estimate", "se", "p"]], digits
            ),
            "ICC": {"Coefficient": f"{100 * fit.icc:.1f}%"},
            "Sample Size": {"Coefficient": f"{fit.n_obs}"},
            "N of Schools": {"Coefficient": f"{fit.n_groups}"},
        }
        # Pooled results over plausible values have no single likelihood to report.
        for label, value in getattr(fit, "fit_stats", pd.Series(dtype=float)).items():
            rows[str(label)] = {"Coefficient": f"{value:.1f}"}
        blocks[name] = pd.DataFrame(rows).T
    return pd.concat(blocks, axis=1).fillna("")


def hlm_table(fits: Mapping[str, HLMResult], digits: int = 3) -> pd.DataFrame:
    """A random-coefficient model of several groups side by side.

    For each term: the fixed effect (SE, stars) and, for random terms, the
    variance of the school coefficients (SE, stars; "FIXED" for fixed terms);
    then the residual variance and the ICC of the model.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> fits = hlm.fit_hlm(hlm.load_timss(), "math ~ college + boy", group="school",
    ...                    random=["college"], covariance="vc", by="country")
    >>> hlm_table(fits).loc["boy", ("Korea", "Variance")]
    'FIXED'
    """
    blocks = {}
    for name, fit in _checked_fits(fits, "hlm", digits).items():
        cov = fit.covariance
        rows: dict[str, dict[str, str]] = {}
        for term, r in fit.fixed.iterrows():
            row = _column_block(r.estimate, r.se, r.p, digits)
            label = f"Var({term})"
            if label in cov.index:
                row |= _variance_block(*cov.loc[label, ["estimate", "se", "p"]], digits)
            else:
                row |= {"Variance": "FIXED", "Var Error": "", "Var p": ""}
            rows[str(term)] = row
        rows["Residual"] = _column_block(*cov.loc["Residual", ["estimate", "se", "p"]], digits)
        rows["ICC"] = {"Coefficient": f"{100 * fit.icc:.1f}%"}
        rows["Sample Size"] = {"Coefficient": f"{fit.n_obs}"}
        rows["N of Schools"] = {"Coefficient": f"{fit.n_groups}"}
        blocks[name] = pd.DataFrame(rows).T
    return pd.concat(blocks, axis=1).fillna("")


def _format_frame(frame: pd.DataFrame) -> pd.DataFrame:
    def fmt(column: pd.Series) -> pd.Series:
        if column.dtype == bool:
            return column.map({True: "yes", False: ""})
        if column.name == "p":
            return column.map(lambda v: "<.0001" if v < 1e-4 else f"{v:.4f}")
        if column.name == "df":
            return column.map(lambda v: f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}")
        return column.map(lambda v: "." if not np.isfinite(v) else f"{v:.5g}")

    return frame.apply(fmt)


def _header_lines(m: HLMResult) -> list[str]:
    lines = [
        f"Two-level model fitted by {m.method}"
        + (" with survey weights (pseudo-likelihood)" if m.weighted else "")
        + f": {m.formula}",
        f"Random effects by {m.group}: {', '.join(m.design.random_names)}"
        + (
            ""
            if len(m.design.random_names) == 1
            else f" ({'unstructured' if m.covariance_structure == 'un' else 'variance components'})"
        ),
        f"Students used: {m.n_obs}; schools: {m.n_groups}; observations not used "
        f"(missing values): {m.n_dropped}",
    ]
    terms = set(m.design.fixed_names) | set(m.design.random_names)
    lines += [f"{name}: {how}" for name, how in m.centering.items() if name in terms]
    if m.label:
        lines.append(m.label)
    return lines


def hlm_text_report(m: HLMResult) -> str:
    """A plain-text report of a fitted HLM in SAS PROC MIXED's order.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> m = hlm.fit_hlm(hlm.load_hsb(), "mathach ~ 1", group="school")
    >>> "Covariance Parameter Estimates" in hlm_text_report(m)
    True
    """
    parts = [*_header_lines(m), *m.warnings, ""]
    parts += ["Covariance Parameter Estimates", _format_frame(m.covariance).to_string(), ""]
    parts += ["Fit Statistics", m.fit_stats.round(1).to_string(), ""]
    parts += ["Solution for Fixed Effects", _format_frame(m.fixed).to_string(), ""]
    parts.append(_icc_line(m).replace("τ", "tau").replace("σ²", "sigma2"))
    return "\n".join(parts)


def _icc_line(m: HLMResult) -> str:
    conditional = len(m.design.fixed_names) > 1 or len(m.design.random_names) > 1
    label = "Conditional ICC (at predictors = 0)" if conditional else "ICC"
    return f"{label} = τ00 / (τ00 + σ²) = {m.icc:.4f}"


def _html_table(frame: pd.DataFrame | pd.Series, caption: str) -> str:
    if isinstance(frame, pd.Series):
        frame = frame.to_frame("value")
    body = frame.to_html(border=0, escape=True)
    return f"<h4 style='margin:0.6em 0 0.2em'>{html.escape(caption)}</h4>{body}"


def hlm_html_report(m: HLMResult) -> str:
    """The HTML display of a fitted HLM in a notebook."""
    header = "<br>".join(html.escape(line) for line in _header_lines(m))
    notes = "".join(
        f"<p style='color:#a6611a'><b>Note.</b> {html.escape(w)}</p>" for w in m.warnings
    )
    return (
        f"<div class='hlmteach-result'><p>{header}</p>{notes}"
        + _html_table(_format_frame(m.covariance), "Covariance Parameter Estimates")
        + _html_table(m.fit_stats.round(1), "Fit Statistics")
        + _html_table(_format_frame(m.fixed), "Solution for Fixed Effects")
        + f"<p>{html.escape(_icc_line(m))}</p></div>"
    )


def ols_html_report(ols: OLSResult) -> str:
    """The HTML display of an OLS fit."""
    header = (
        f"OLS: {html.escape(ols.formula)}<br>N = {ols.n_obs} (not used: {ols.n_dropped}); "
        f"R² = {ols.r2:.4f}"
    )
    return (
        f"<div><p>{header}</p>" + _html_table(_format_frame(ols.fixed), "Coefficients") + "</div>"
    )


def side_by_side_html(results: Mapping[str, Any]) -> str:
    """Results for several groups next to each other."""
    cells = "".join(
        f"<td style='vertical-align:top;padding-right:2em'><h3>{html.escape(str(k))}</h3>"
        f"{v._repr_html_()}</td>"
        for k, v in results.items()
    )
    return f"<table><tr>{cells}</tr></table>"
