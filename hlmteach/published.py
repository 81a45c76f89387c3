"""The source analysis's published tables, and a fit set beside them in one call.

The course replicates Kazuaki (Kaz) Uekawa's web tutorial *Hierarchical Linear Model
using SAS* (:data:`SOURCE`), which fits SAS PROC MIXED to the TIMSS 1995 files of
Korea and the USA. This module holds its three tables exactly as printed
(:data:`OLS_RESULTS`, :data:`ANOVA_RESULTS`, :data:`HLM_RESULTS`) and
:func:`compare_published`, which puts a fit's numbers next to them, rounded to the
digits the source shows, with the gap in published standard errors
(:func:`largest_gap` gives the largest, unrounded).

A published table maps a country to its rows. A row's key names the quantity, in the
package's own words:

========================= ==================================================
key                       the fit's number
========================= ==================================================
a fixed-effect term       ``fit.fixed.loc[term, ["estimate", "se"]]``
``"Var(...)"``,           ``fit.covariance.loc[key, ["estimate", "se"]]``
``"Cov(...)"``,
``"Residual"``
``"df(term)"``            ``fit.fixed.loc[term, "df"]``
``"Z(Var(...))"``         ``fit.covariance.loc["Var(...)", "z"]``
a fit statistic           ``fit.fit_stats[key]`` ("-2 Res Log Likelihood", "AIC",
                          "AICC", "BIC")
``"Sample Size"``         ``fit.n_obs``
``"N of Schools"``        ``fit.n_groups``
``"R2"``                  ``fit.r2`` (an OLS fit)
``"ICC"``                 ``fit.icc``, printed as a percentage
========================= ==================================================

A row's value is the text the source printed: one number (``"8081.8"``, ``"7%"``),
an ``(estimate, se)`` pair, or an ``(estimate, se, stars)`` triple; ``None`` means
the source printed nothing there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from .validation import ModelInputError

__all__ = [
    "ANOVA_RESULTS",
    "HLM_RESULTS",
    "OLS_RESULTS",
    "SOURCE",
    "compare_printed",
    "compare_published",
    "largest_gap",
]

#: The analysis the course replicates.
SOURCE = (
    "Kazuaki (Kaz) Uekawa, 'Hierarchical Linear Model using SAS', web tutorial, "
    "http://www.estat.us/HLM/index.htm (its SAS output is dated December 2003); "
    "SAS PROC MIXED on the TIMSS 1995 8th-grade files of Korea and the USA."
)

Printed = str | tuple[str, str] | tuple[str, str, str] | None

#: The source's "OLS Results" table (SAS ``proc reg``): coefficient (SE) and stars, N, R2.
OLS_RESULTS: dict[str, dict[str, Printed]] = {
    "Korea": {
        "Intercept": ("0.55", "0.03", "***"),
        "college": ("0.53", "0.04", "***"),
        "boy": ("0.13", "0.04", "***"),
        "Sample Size": "2900",
        "R2": "0.05",
    },
    "USA": {
        "Intercept": ("-0.435", "0.02", "***"),
        "college": ("0.357", "0.02", "***"),
        "boy": ("0.033", "0.02", ""),
        "Sample Size": "6943",
        "R2": "0.039",
    },
}

#: The intercept-only model: Korea from the source's SAS output (full digits), the USA
#: from its "HLM ANOVA models" table (rounded; no df or Z printed). The ICC row is left
#: out on purpose: the source printed tau00 / sigma2 there (7% and 45%), not the ICC.
ANOVA_RESULTS: dict[str, dict[str, Printed]] = {
    "Korea": {
        "Intercept": ("0.7409", "0.02692"),
        "df(Intercept)": "149",
        "Var(Intercept)": ("0.06161", "0.01268"),
        "Z(Var(Intercept))": "4.86",
        "Residual": ("0.9077", "0.02448"),
        "-2 Res Log Likelihood": "8081.8",
        "AIC": "8085.8",
        "AICC": "8085.8",
        "BIC": "8091.8",
        "Sample Size": "2901",
        "N of Schools": "150",
    },
    "USA": {
        "Intercept": ("-0.3061", "0.04"),
        "df(Intercept)": None,
        "Var(Intercept)": ("0.2141", "0.02"),
        "Z(Var(Intercept))": None,
        "Residual": ("0.4769", "0.01"),
        "-2 Res Log Likelihood": "15088.5",
        "AIC": "15092.5",
        "AICC": "15092.5",
        "BIC": "15098.9",
        "Sample Size": "6944",
        "N of Schools": "183",
    },
}

#: The source's "HLM Results" table: random intercept and college slope (SAS TYPE=VC),
#: boy fixed; two decimals throughout. Its ICC is the conditional one, at predictors 0.
HLM_RESULTS: dict[str, dict[str, Printed]] = {
    "Korea": {
        "Intercept": ("0.56", "0.03"),
        "college": ("0.49", "0.05"),
        "boy": ("0.14", "0.04"),
        "Var(Intercept)": ("0.02", "0.01"),
        "Var(college)": ("0.01", "0.01"),
        "Residual": ("0.88", "0.02"),
        "ICC": "3%",
    },
    "USA": {
        "Intercept": ("-0.38", "0.04"),
        "college": ("0.16", "0.02"),
        "boy": ("0.05", "0.02"),
        "Var(Intercept)": ("0.20", "0.02"),
        "Var(college)": ("0.02", "0.01"),
        "Residual": ("0.47", "0.01"),
        "ICC": "30%",
    },
}

_FIT_STATISTICS = ("-2 Res Log Likelihood", "AIC", "AICC", "BIC")
_COLUMNS = ("published", "ours", "gap (SEs)")


def _decimals(printed: str) -> int:
    """How many decimals a printed number shows ("0.02692" -> 5, "149" -> 0)."""
    number = printed.rstrip("%")
    return len(number.split(".")[1]) if "." in number else 0


def _like(value: float, printed: str | None, default: int) -> str:
    """``value`` with as many decimals as ``printed`` shows (``default`` when nothing was)."""
    decimals = default if printed is None else _decimals(printed)
    text = f"{value:.{decimals}f}"
    return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text


def _estimate_and_se(fit: Any, key: str) -> tuple[float, float, float]:
    """(estimate, SE, p) of a fixed effect or a covariance parameter."""
    if key in getattr(fit, "fixed", pd.DataFrame()).index:
        row = fit.fixed.loc[key]
    elif hasattr(fit, "covariance") and key in fit.covariance.index:
        row = fit.covariance.loc[key]
    else:
        raise ModelInputError(_unknown(fit, key))
    return float(row["estimate"]), float(row["se"]), float(row["p"])


def _number(fit: Any, key: str) -> tuple[float, int]:
    """A single quantity and the decimals to show it with when the source printed none."""
    inner = key[key.index("(") + 1 : -1] if key.endswith(")") else ""
    if key.startswith("df(") and inner in fit.fixed.index:
        return float(fit.fixed.loc[inner, "df"]), 0
    if key.startswith("Z(") and hasattr(fit, "covariance") and inner in fit.covariance.index:
        return float(fit.covariance.loc[inner, "z"]), 2
    if key in _FIT_STATISTICS and hasattr(fit, "fit_stats"):
        return float(fit.fit_stats[key]), 1
    if key == "Sample Size":
        return float(fit.n_obs), 0
    if key == "N of Schools" and hasattr(fit, "n_groups"):
        return float(fit.n_groups), 0
    if key == "R2" and hasattr(fit, "r2"):
        return float(fit.r2), 3
    if key == "ICC" and hasattr(fit, "icc"):
        return 100.0 * float(fit.icc), 0
    raise ModelInputError(_unknown(fit, key))


def _unknown(fit: Any, key: str) -> str:
    fixed = list(getattr(fit, "fixed", pd.DataFrame()).index)
    covariance = list(getattr(fit, "covariance", pd.DataFrame()).index)
    return (
        f"The published row {key!r} names nothing in this {type(fit).__name__}, whose fixed "
        f"effects are {fixed} and covariance parameters {covariance}. Use one of those, "
        "'df(term)', 'Z(Var(...))', a fit statistic ('-2 Res Log Likelihood', 'AIC', 'AICC', "
        "'BIC'), 'Sample Size', 'N of Schools', 'R2' (OLS) or 'ICC'."
    )


def _stars(p: float) -> str:
    from .tables import stars

    return stars(p)


def _row(fit: Any, key: str, printed: Printed) -> tuple[str, str, str]:
    """(published, ours, gap) as the table shows them."""
    if isinstance(printed, tuple):
        estimate, se, *star = printed
        ours_est, ours_se, p = _estimate_and_se(fit, key)
        with_stars = bool(star)
        published = f"{estimate} ({se}) {star[0]}".strip() if with_stars else f"{estimate} ({se})"
        ours = f"{_like(ours_est, estimate, 2)} ({_like(ours_se, se, 2)})"
        if with_stars:
            ours = f"{ours} {_stars(p)}".strip()
        gap = round((ours_est - float(estimate)) / float(se), 1) + 0.0  # + 0.0: no "-0.0"
        return published, ours, f"{gap:+.1f}"
    value, default = _number(fit, key)
    if printed is None:
        return "-", _like(value, None, default), ""
    ours = _like(value, printed, default)
    return printed, f"{ours}%" if printed.endswith("%") else ours, ""


def largest_gap(fits: Mapping[str, Any], published: Mapping[str, Mapping[str, Printed]]) -> float:
    """The largest |ours - published| / published SE over the rows that print an SE.

    Unrounded, unlike the ``gap (SEs)`` column of :func:`compare_published`: the
    question "does every estimate lie within one published standard error?" is
    ``largest_gap(fits, table) < 1``.

    Parameters
    ----------
    fits, published
        As for :func:`compare_published`.

    Returns
    -------
    float

    Examples
    --------
    >>> import hlmteach as hlm
    >>> ols = hlm.fit_ols(hlm.load_timss(), "math ~ college + boy", by="country")
    >>> round(largest_gap(ols, OLS_RESULTS), 2)
    0.23
    """
    compare_published(fits, published)  # the same checks of the input
    gaps = [
        abs(_estimate_and_se(fits[country], key)[0] - float(printed[0])) / float(printed[1])
        for country, rows in published.items()
        for key, printed in rows.items()
        if isinstance(printed, tuple)
    ]
    return max(gaps)


def compare_published(
    fits: Mapping[str, Any],
    published: Mapping[str, Mapping[str, Printed]],
    labels: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Set fits beside a published table, rounded to the published digits.

    Parameters
    ----------
    fits : mapping of str to HLMResult or OLSResult
        One fit per country, for example ``hlm.fit_hlm(..., by="country")``.
    published : mapping of str to mapping
        Per country, the rows as the source printed them (see the module's table of
        keys), for example :data:`ANOVA_RESULTS`.
    labels : mapping of str to str, optional
        Row labels to show instead of the keys, e.g. ``{"Var(Intercept)": "tau00"}``.

    Returns
    -------
    DataFrame
        Rows in the published order; for each country the columns ``published``,
        ``ours`` (rounded to the digits the source shows, with stars where it shows
        them) and ``gap (SEs)``: (ours - published) / published SE, where an SE was
        printed. All cells are text, ready for ``hlm.show``.

    Raises
    ------
    ModelInputError
        If a country of ``published`` has no fit, or a row names nothing in the fit.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> ols = hlm.fit_ols(hlm.load_timss(), "math ~ college + boy", by="country")
    >>> table = compare_published(ols, OLS_RESULTS)
    >>> table.loc["college", "USA"].tolist()
    ['0.357 (0.02) ***', '0.353 (0.02) ***', '-0.2']
    >>> table.loc["Sample Size", ("Korea", "ours")]
    '2900'
    """
    if not isinstance(fits, Mapping) or not isinstance(published, Mapping):
        raise ModelInputError(
            "compare_published(fits, published) needs a mapping of country to fit (for example "
            "hlm.fit_hlm(..., by='country')) and a published table such as ANOVA_RESULTS."
        )
    missing = [country for country in published if country not in fits]
    if missing:
        raise ModelInputError(
            f"The published table has {missing}, but the fits have only {list(fits)}: fit each "
            "country (by='country') or pass only the countries you fitted."
        )
    labels = dict(labels or {})
    keys = list(dict.fromkeys(k for rows in published.values() for k in rows))
    cells: dict[str, dict[tuple[str, str], str]] = {key: {} for key in keys}
    for country, rows in published.items():
        for key in keys:
            values = _row(fits[country], key, rows[key]) if key in rows else ("-", "", "")
            for column, value in zip(_COLUMNS, values, strict=True):
                cells[key][(country, column)] = value
    table = pd.DataFrame.from_dict(cells, orient="index")
    table.columns = pd.MultiIndex.from_tuples(table.columns)
    table.index = [labels.get(key, key) for key in keys]
    return table


def compare_printed(rows: Sequence[tuple[str, float, str, str]]) -> None:
    """Show our numbers beside numbers printed elsewhere (a book, lme4), one row each.

    Parameters
    ----------
    rows : sequence of (quantity, ours, printed, source)
        ``printed`` is the other value exactly as printed; ours is rounded to as many
        decimals as it shows, so the two columns read alike.

    Examples
    --------
    >>> compare_printed([("gamma00", 12.63648, "12.64", "R&B Table 4.1")])
    quantity  ours published        source
     gamma00 12.64     12.64 R&B Table 4.1
    """
    from .display import show

    for row in rows:
        if len(row) != 4 or not isinstance(row[2], str):
            raise ModelInputError(
                f"Each row is (quantity, our value, the value as printed (text), source); "
                f"got {row!r}."
            )
    values = [[q, _like(float(ours), printed, 0), printed, src] for q, ours, printed, src in rows]
    table = pd.DataFrame(values, columns=["quantity", "ours", "published", "source"])
    show(table, index=False)
