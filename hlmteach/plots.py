"""Figures of fitted two-level models and of the teaching simulations.

Every figure reads result objects (or simulation tables) and never refits. Each
has a title, labelled axes with units, uses seaborn's colour-blind-safe
``"colorblind"`` palette for categories (and viridis, which is also
colour-blind safe, for continuous reliabilities) and is returned as a
matplotlib ``Figure``. The figures are made with pyplot, so a notebook shows
them at the end of the cell; assign the result (``fig = caterpillar(m)``) or
end the line with ``;`` to avoid showing a figure twice.

The unit of the outcome (``unit=``) defaults to what the course's data sets
use: "z-score" for the TIMSS ``math`` outcomes and "HSB score points" for
High School and Beyond's ``mathach``.

This module imports matplotlib and seaborn; ``import hlmteach`` does not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .models import HLMResult, OLSResult
from .validation import (
    ModelInputError,
    require_choice,
    require_frame,
    require_integer,
    require_numeric_column,
    require_positive,
    require_probability,
    require_result,
)

__all__ = [
    "caterpillar",
    "coefficient_distribution",
    "false_positive_rates",
    "school_lines",
    "school_ols_coefficients",
    "shrinkage",
    "shrinkage_demo",
    "variance_partition",
]

_RELIABILITY_CMAP = "viridis"
_MAX_BINS = 1000


# -- shared helpers ------------------------------------------------------------------------------
def _palette() -> list[tuple[float, float, float]]:
    return list(sns.color_palette("colorblind"))


def _default_unit(fit: HLMResult) -> str:
    outcome = fit.design.outcome
    if outcome == "mathach":
        return "HSB score points"
    if outcome.startswith("bsmpv"):
        return "TIMSS score points"
    if outcome.startswith("math"):
        return "z-score"
    return f"units of {outcome}"


def _unit(fit: HLMResult, unit: str | None) -> str:
    return _default_unit(fit) if unit is None else unit


def _check_unit(unit: object) -> None:
    if unit is not None and (not isinstance(unit, str) or not unit.strip()):
        raise ModelInputError(
            f"The argument unit must be a non-empty text such as unit='HSB score points', or None "
            f"for the default taken from the outcome's name; not {type(unit).__name__} ({unit!r})."
        )


def _term_unit(term: str, unit: str) -> str:
    return unit if term == "Intercept" else f"{unit} per unit of {term}"


def _check_hlm(fit: object, argument: str = "fit") -> HLMResult:
    """Return ``fit`` if it is one HLMResult; name the argument and the fix otherwise."""
    if isinstance(fit, HLMResult):
        return fit
    if isinstance(fit, OLSResult):
        raise ModelInputError(
            f"The argument {argument} is an OLS fit (OLSResult), which has no school random "
            "effects to plot. Fit the two-level model with hlm.fit_hlm(data, formula, "
            "group='school') and pass that."
        )
    if type(fit).__name__ == "PooledResult":
        raise ModelInputError(
            f"The argument {argument} is pooled over plausible values (PooledResult), which "
            "has no school random effects of its own. Plot the fit to one plausible value, "
            "for example pooled.fits['math1']."
        )
    if type(fit).__module__.startswith("statsmodels"):
        raise ModelInputError(
            f"The argument {argument} is a statsmodels result ({type(fit).__name__}); the "
            "figures read hlmteach's own fits. Refit with fit_hlm(..., engine='hlmteach'), "
            "the default."
        )
    require_result(fit, [HLMResult], argument)
    return fit  # type: ignore[return-value]  # require_result raised


def _check_term(fit: HLMResult, term: object, argument: str = "term") -> str:
    """Return ``term`` if it is one of the fit's random terms; list them otherwise."""
    names = fit.design.random_names
    if not isinstance(term, str):
        raise ModelInputError(
            f"The argument {argument} must be the name of one random term, one of {names}, "
            f"not {type(term).__name__} ({term!r})."
        )
    if term not in names and term in fit.design.fixed_names:
        raise ModelInputError(
            f"The argument {argument} {term!r} has no random effect in this model (only a fixed "
            f"effect); its random terms are {names}. Choose one of them, or refit with "
            f"random=[{term!r}]."
        )
    return require_choice(term, names, argument)


def _as_mapping(fits: object, argument: str = "fits") -> dict[str, HLMResult]:
    """One fit, or a non-empty mapping of label to fit, as a dict of distinct text labels."""
    if isinstance(fits, Mapping):
        if len(fits) == 0:
            raise ModelInputError(
                f"The argument {argument} is empty: there is no fitted model to plot. Pass one "
                "fit, or the fits of a by= column such as fit_hlm(data, formula, "
                "group='school', by='country')."
            )
        labels: dict[str, object] = {}
        for key, fit in fits.items():
            _check_hlm(fit, f"{argument}[{key!r}]")
            label = str(key)
            if label in labels:
                raise ModelInputError(
                    f"The argument {argument} has the keys {labels[label]!r} and {key!r}, which "
                    f"print the same ({label!r}), so their panels could not be told apart. "
                    "Rename one of them."
                )
            labels[label] = key
        return {label: fits[key] for label, key in labels.items()}
    if isinstance(fits, (list, tuple)):
        raise ModelInputError(
            f"The argument {argument} must be one fit or a mapping of label to fit, such as "
            f"{{'Korea': fit_korea, 'USA': fit_usa}}, not a {type(fits).__name__}."
        )
    fit = _check_hlm(fits, argument)
    return {fit.label or "all schools": fit}


def _require_table(
    table: object, columns: Sequence[str], argument: str, producer: str
) -> pd.DataFrame:
    """``table`` if it has the numeric, complete ``columns`` that ``producer`` returns."""
    table = require_frame(table, argument)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        have = ", ".join(map(str, table.columns[:20]))
        raise ModelInputError(
            f"The argument {argument} lacks the column(s) {missing} that this figure plots; pass "
            f"the table that {producer}(...) returns, unchanged. Its columns are: {have}."
        )
    for column in columns:
        values = require_numeric_column(table, column, f"{argument} column")
        if values.isna().any():
            raise ModelInputError(
                f"The {argument} column {column!r} has {int(values.isna().sum())} missing "
                f"value(s); pass the table that {producer}(...) returns, or drop those rows."
            )
    return table


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def _eblups(fit: HLMResult, term: str) -> pd.Series:
    return fit.random_effects["estimate"].xs(term, level="term")


def _estimable(ZtZ: np.ndarray) -> np.ndarray:
    """Schools whose ``Z_j'Z_j`` is non-singular (the rule of ``HLMResult.school_reliability``)."""
    det = np.linalg.det(ZtZ)
    return det > 1e-10 * np.prod(np.diagonal(ZtZ, axis1=1, axis2=2), axis=1)


def _per_school_solve(ZtZ: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    out = np.full(rhs.shape, np.nan)
    ok = _estimable(ZtZ)
    out[ok] = np.linalg.solve(ZtZ[ok], rhs[ok][..., None])[..., 0]
    return out


def _school_frame(fit: HLMResult, values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        values,
        index=pd.Index(fit.design.group_labels, name=fit.group),
        columns=fit.design.random_names,
    )


# -- school coefficients -------------------------------------------------------------------------
def school_ols_coefficients(fit: HLMResult) -> pd.DataFrame:
    """Each school's own OLS estimates of the random-effect terms.

    Within every school the outcome is regressed on the random-effect columns
    ``Z`` (the level-1 model: the intercept and the random slopes), as HLM 8
    does before it shrinks them. Level-1 predictors with a fixed slope (such as
    ``boy`` when only ``college`` is random) are first removed from the outcome
    at their fixed effect, so that a school's estimates are not coloured by its
    mix of those predictors. Schools whose ``Z_j'Z_j`` is singular (too few
    students, or no variation in a slope's predictor) get NaN, as HLM excludes
    them. Computed from the fit's stored cross products, without refitting.

    Parameters
    ----------
    fit : HLMResult
        A fitted two-level model.

    Returns
    -------
    DataFrame
        Schools x random terms.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> hsb = hlm.load_hsb()
    >>> m = hlm.fit_hlm(hsb, "mathach ~ 1", group="school")
    >>> ols = school_ols_coefficients(m)
    >>> bool(np.allclose(ols["Intercept"], hsb.groupby("school")["mathach"].mean()))
    True
    """
    fit = _check_hlm(fit)
    cp = fit.engine_fit.cross_products
    fixed_only = _fixed_level1_columns(fit)
    rhs = cp.Zty - cp.ZtX[:, :, fixed_only] @ fit.engine_fit.beta[fixed_only]
    return _school_frame(fit, _per_school_solve(cp.ZtZ, rhs))


def _fixed_level1_columns(fit: HLMResult) -> np.ndarray:
    """Fixed-effect columns that vary within schools but have no random slope."""
    design = fit.design
    return np.array(
        [
            not school and name not in design.random_names
            for name, school in zip(design.fixed_names, design.school_level, strict=True)
        ]
    )


def _fixed_part_coefficients(fit: HLMResult) -> pd.DataFrame:
    """Per school, the random terms' coefficients implied by the fixed part alone.

    The within-school OLS fit of ``X_j beta`` on ``Z_j``, without the level-1
    predictors that have only a fixed slope (removed from the outcome in
    :func:`school_ols_coefficients`). When the fixed part has
    only the random terms this is ``beta`` itself for every school; with
    school-level predictors (e.g. ``sector``) it is the school's predicted
    coefficient, e.g. ``gamma00 + gamma01 sector_j``.
    """
    cp = fit.engine_fit.cross_products
    kept = ~_fixed_level1_columns(fit)
    return _school_frame(
        fit, _per_school_solve(cp.ZtZ, cp.ZtX[:, :, kept] @ fit.engine_fit.beta[kept])
    )


def _eb_coefficients(fit: HLMResult) -> pd.DataFrame:
    """Empirical Bayes estimates of the schools' level-1 coefficients (HLM 8's EB coefficients)."""
    eblup = fit.random_effects["estimate"].unstack("term")
    eblup = eblup.loc[fit.design.group_labels, fit.design.random_names]
    return _fixed_part_coefficients(fit) + eblup.to_numpy()


# -- figures of fitted models --------------------------------------------------------------------
def _quartiles(values: np.ndarray) -> tuple[float, float, float]:
    """Q1, median and Q3 by SAS PROC UNIVARIATE's default definition (PCTLDEF=5)."""
    q1, med, q3 = np.percentile(values, [25, 50, 75], method="averaged_inverted_cdf")
    return float(q1), float(med), float(q3)


def _horizontal_box(ax: Any, values: np.ndarray, color: Any) -> None:
    """A Tukey box plot drawn by hand: box Q1..Q3, median, whiskers to 1.5 IQR, mean as '+'."""
    from matplotlib.patches import Rectangle

    q1, med, q3 = _quartiles(values)
    iqr = q3 - q1
    inside = values[(values >= q1 - 1.5 * iqr) & (values <= q3 + 1.5 * iqr)]
    low, high = float(inside.min()), float(inside.max())
    outliers = values[(values < low) | (values > high)]
    ax.add_patch(Rectangle((q1, -0.3), q3 - q1, 0.6, facecolor=color, edgecolor="black", alpha=0.8))
    ax.vlines(med, -0.3, 0.3, colors="black", linewidth=2)
    ax.hlines([0, 0], [low, q3], [q1, high], colors="black", linewidth=1)
    ax.vlines([low, high], -0.15, 0.15, colors="black", linewidth=1)
    ax.plot(outliers, np.zeros(outliers.size), "o", mfc="none", mec="black", ms=4)
    ax.plot([values.mean()], [0], "+", color="black", ms=10, mew=1.5)
    ax.set_ylim(-0.6, 0.6)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)


def coefficient_distribution(
    fits: Mapping[str, HLMResult] | HLMResult,
    term: str,
    *,
    unit: str | None = None,
    bins: int = 20,
) -> Figure:
    """Histogram and box plot of the schools' EBLUPs of one term, one column per group.

    The course's counterpart of SAS ``PROC UNIVARIATE PLOT`` on the ``solutionR``
    output: for each group (country) the distribution of the schools' EBLUPs
    of ``term`` as a histogram with a horizontal box plot above it (box from Q1
    to Q3, median line, whiskers to the last school within 1.5 IQR, open
    circles beyond, mean as "+"). All columns share the x axis and the bins, so
    the groups' dispersion can be compared directly. Each column is annotated
    with the SD (N - 1) and IQR of the EBLUPs (quartiles as SAS's default
    PCTLDEF=5) and, for comparison, the model's SD ``sqrt(tau)``: EBLUPs are
    shrunken, so their SD is smaller.

    Parameters
    ----------
    fits : mapping of str to HLMResult, or HLMResult
        For example ``fit_hlm(data, formula, group="school", by="country")``.
    term : str
        A random term: ``"Intercept"`` or a random slope.
    unit : str, optional
        Unit of the outcome; by default inferred from the outcome's name.
    bins : int
        Number of histogram bins, shared by all groups.

    Returns
    -------
    Figure

    Examples
    --------
    >>> import hlmteach as hlm
    >>> hsb = hlm.load_hsb()
    >>> fits = hlm.fit_hlm(hsb, "mathach ~ 1", group="school", by="sector")
    >>> fig = coefficient_distribution(fits, "Intercept")
    >>> type(fig).__name__, len(fig.axes)
    ('Figure', 4)
    >>> coefficient_distribution(fits, "ses")
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: Unknown term 'ses'; use one of 'Intercept'.
    """
    fits = _as_mapping(fits)
    for fit in fits.values():
        _check_term(fit, term)
    _check_unit(unit)
    bins = require_integer(bins, "bins", 1)
    if bins > _MAX_BINS:
        raise ModelInputError(
            f"The argument bins must be at most {_MAX_BINS}, not {bins}: a histogram of the "
            "schools needs far fewer bins (the default is 20)."
        )
    values = {name: _eblups(fit, term).to_numpy() for name, fit in fits.items()}
    edges = np.histogram_bin_edges(np.concatenate(list(values.values())), bins=bins)
    k = len(fits)
    fig, axes = plt.subplots(
        2,
        k,
        sharex=True,
        squeeze=False,
        figsize=(4.2 * k + 0.6, 4.8),
        gridspec_kw={"height_ratios": [1, 4]},
        layout="constrained",
    )
    colors = _palette()
    first = next(iter(fits.values()))
    unit_text = _term_unit(term, _unit(first, unit))
    for col, (name, fit) in enumerate(fits.items()):
        v = values[name]
        color = colors[col % len(colors)]
        box_ax, hist_ax = axes[0, col], axes[1, col]
        _horizontal_box(box_ax, v, color)
        box_ax.set_title(f"{name} ({v.size} schools)")
        hist_ax.hist(v, bins=edges, color=color, edgecolor="white")
        q1, _, q3 = _quartiles(v)
        model_sd = float(np.sqrt(fit.tau.loc[term, term]))
        hist_ax.text(
            0.97,
            0.96,
            f"SD = {_fmt(v.std(ddof=1))}\nIQR = {_fmt(q3 - q1)}\nmodel SD √τ = {_fmt(model_sd)}",
            transform=hist_ax.transAxes,
            ha="right",
            va="top",
            fontsize=9,
            bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8},
        )
        hist_ax.axvline(0.0, color="grey", linestyle=":", linewidth=1)
        hist_ax.set_xlabel(f"EBLUP of {term} ({unit_text})")
        hist_ax.set_ylabel("number of schools" if col == 0 else "")
    fig.suptitle(f"Distribution of the schools' EBLUPs of {term}")
    return fig


def caterpillar(
    fit: HLMResult,
    term: str = "Intercept",
    *,
    unit: str | None = None,
    z: float = 1.96,
) -> Figure:
    """Caterpillar plot: the schools' EBLUPs of one term, sorted, with ±z·SE bars.

    The standard error is SAS's "StdErr Pred" (``random_effects["se"]``), which
    includes the uncertainty of the fixed effects. Each bar is a prediction
    interval for its school's true deviation: with ``z = 1.96``, about 95% of
    the bars, on average over the schools, contain their school's true value,
    and about 5% miss it, without our knowing which. The bars show how
    uncertain each school's position, and so the ranking, is.

    A bar that excludes zero, drawn in a second colour, is not a per-school
    significance test. EBLUPs are shrunk toward zero: if the schools did not
    differ at all, the estimated variance would be about 0 and every bar would
    shrink to a short bar around 0, so that almost none would exclude it.
    Whether schools differ is one question, answered by the test of the
    variance (:func:`hlmteach.lr_test`), not by counting bars.

    Parameters
    ----------
    fit : HLMResult
        A fitted two-level model.
    term : str
        A random term: ``"Intercept"`` (default) or a random slope.
    unit : str, optional
        Unit of the outcome; by default inferred from the outcome's name.
    z : float
        Half-width of the bars in standard errors (1.96: 95% intervals).

    Returns
    -------
    Figure

    Examples
    --------
    >>> import hlmteach as hlm
    >>> m = hlm.fit_hlm(hlm.load_hsb(), "mathach ~ 1", group="school")
    >>> fig = caterpillar(m)
    >>> type(fig).__name__, fig.axes[0].get_xlabel()
    ('Figure', 'schools, ranked by their EBLUP')

    The half-width must be positive; a negative ``z`` would turn the bars inside out:

    >>> caterpillar(m, z=-1.96)
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: The argument z must be positive, not -1.96.
    """
    fit = _check_hlm(fit)
    term = _check_term(fit, term)
    _check_unit(unit)
    z = require_positive(z, "z")
    table = fit.random_effects.xs(term, level="term")
    order = np.argsort(table["estimate"].to_numpy(), kind="stable")
    est = table["estimate"].to_numpy()[order]
    se = table["se"].to_numpy()[order]
    low, high = est - z * se, est + z * se
    rank = np.arange(1, est.size + 1)
    excludes = (low > 0) | (high < 0)
    colors = _palette()
    fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    ax.vlines(rank, low, high, colors=np.where(excludes[:, None], colors[1], colors[0]), lw=1)
    ax.plot(rank, est, "o", color="black", ms=3, label="EBLUP")
    ax.axhline(0.0, color="grey", linestyle="--", linewidth=1)
    ax.legend(
        handles=[
            Line2D([], [], marker="o", color="black", linestyle="none", ms=3, label="EBLUP"),
            Line2D([], [], color=colors[0], label=f"±{z:g}·SE includes 0"),
            Line2D([], [], color=colors[1], label=f"±{z:g}·SE excludes 0"),
        ],
        loc="upper left",
        fontsize=9,
    )
    ax.set_xlabel("schools, ranked by their EBLUP")
    ax.set_ylabel(f"EBLUP of {term} ({_term_unit(term, _unit(fit, unit))})")
    ax.set_title(
        f"Schools' EBLUPs of {term} with ±{z:g}·SE bars "
        f"({int(excludes.sum())} of {est.size} exclude 0)"
    )
    return fig


def shrinkage(
    fit: HLMResult, term: str = "Intercept", *, unit: str | None = None, ax: Any = None
) -> Figure:
    """Each school's own OLS estimate against its empirical Bayes (EB) estimate.

    The x axis is the school's own OLS estimate of ``term``
    (:func:`school_ols_coefficients`), the y axis its EB estimate: what the
    fixed part predicts for the school plus the school's EBLUP. Colour is the
    reliability of the school's OLS estimate (``fit.school_reliability``), on a
    scale from the lowest to the highest reliability of the schools shown, so
    that differences between schools stay visible. Points on the 45° line are
    not shrunk at all; the less reliable a school, the closer it is pulled
    toward the fixed effect (the horizontal line).

    When the fixed part has only the random terms (e.g. ``mathach ~ 1`` or
    ``mathach ~ ses`` with a random ``ses`` slope), the EB estimates are
    ``fit.school_coefficients()``. With other predictors (e.g. ``sector``), a
    school is pulled toward its own prediction from the fixed part, drawn as
    grey crosses, rather than toward the overall fixed effect. Schools whose
    OLS estimate does not exist (singular ``Z'Z``) are left out.

    Parameters
    ----------
    fit : HLMResult
        A fitted two-level model.
    term : str
        A random term: ``"Intercept"`` (default) or a random slope.
    unit : str, optional
        Unit of the outcome; by default inferred from the outcome's name.
    ax : matplotlib Axes, optional
        Draw into this panel (e.g. one of ``plt.subplots(1, 2)``, to show two
        countries side by side) instead of a new figure.

    Returns
    -------
    Figure
        The new figure, or the figure that holds ``ax``.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> m = hlm.fit_hlm(hlm.load_hsb(), "mathach ~ 1", group="school")
    >>> fig = shrinkage(m)
    >>> type(fig).__name__, len(fig.axes)  # the plot and its colour bar
    ('Figure', 2)
    >>> low, high = fig.axes[0].collections[0].get_clim()  # the schools' own range
    >>> bool(low == m.school_reliability["Intercept"].min())
    True
    """
    fit = _check_hlm(fit)
    term = _check_term(fit, term)
    _check_unit(unit)
    ols = school_ols_coefficients(fit)[term].to_numpy()
    eb = _eb_coefficients(fit)[term].to_numpy()
    prior = _fixed_part_coefficients(fit)[term].to_numpy()
    reliability = fit.school_reliability[term].to_numpy()
    keep = np.isfinite(ols) & np.isfinite(eb)
    if not keep.any():
        raise ModelInputError(
            f"No school has its own OLS estimate of the term {term!r} (each school's Z'Z is "
            "singular: too few students, or no variation in the predictor), so there is no "
            "shrinkage to show. Choose another term, or use caterpillar(fit, term)."
        )
    gamma = float(fit.fixed.loc[term, "estimate"]) if term in fit.fixed.index else 0.0
    colors = _palette()
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 5.5), layout="constrained")
    else:
        fig = ax.figure
    shown = reliability[keep]
    low, high = float(np.nanmin(shown)), float(np.nanmax(shown))
    if not high - low > 1e-9:  # one reliability for all: centre it on a scale of 0 to 1
        low, high = 0.0, 1.0
    varying_prior = np.ptp(prior[keep]) > 1e-9 * max(1.0, float(np.abs(prior[keep]).max()))
    if varying_prior:
        ax.plot(
            ols[keep],
            prior[keep],
            "x",
            color="grey",
            ms=4,
            label="prediction from the fixed part",
        )
    points = ax.scatter(
        ols[keep],
        eb[keep],
        c=reliability[keep],
        cmap=_RELIABILITY_CMAP,
        vmin=low,
        vmax=high,
        s=22,
        edgecolors="black",
        linewidths=0.3,
        label="school (EB against OLS)",
        zorder=3,
    )
    ax.axline(
        (gamma, gamma), slope=1.0, color=colors[0], linestyle="--", label="45° line: no shrinkage"
    )
    ax.axhline(gamma, color=colors[1], linewidth=1.5, label=f"fixed effect = {_fmt(gamma)}")
    fig.colorbar(points, ax=ax, label="reliability of the school's OLS estimate")
    term_unit = _term_unit(term, _unit(fit, unit))
    ax.set_xlabel(f"school's own OLS estimate of {term} ({term_unit})")
    ax.set_ylabel(f"empirical Bayes estimate of {term} ({term_unit})")
    left_out = int((~keep).sum())
    plural = "school" if left_out == 1 else "schools"
    note = f"\n({left_out} {plural} without an OLS estimate left out)" if left_out else ""
    ax.set_title(f"Shrinkage of {term}: unreliable schools are pulled to the fixed part{note}")
    ax.legend(loc="upper left", fontsize=9)
    return fig


def _other_values(fit: HLMResult, others: str) -> tuple[np.ndarray, np.ndarray]:
    """Values of the fixed-effect columns per school and on average, by the ``others`` rule."""
    design = fit.design
    X, codes = design.X, design.group_codes
    J, p = design.n_groups, X.shape[1]
    if others == "zero":
        per_school, average = np.zeros((J, p)), np.zeros(p)
    elif others == "mean":
        average = X.mean(axis=0)
        per_school = np.tile(average, (J, 1))
    elif others == "school":
        sums = np.zeros((J, p))
        np.add.at(sums, codes, X)
        per_school = sums / np.bincount(codes, minlength=J)[:, None]
        average = X.mean(axis=0)
    else:  # pragma: no cover - school_lines checked others
        raise ModelInputError(f"Unknown others {others!r}; use one of 'mean', 'school', 'zero'.")
    if "Intercept" in design.fixed_names:
        per_school[:, design.fixed_names.index("Intercept")] = 1.0
        average[design.fixed_names.index("Intercept")] = 1.0
    return per_school, average


def _line_parts(
    names: list[str], x: str, coefs: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Intercepts and slopes in ``x`` of ``sum_k coef_k * column_k`` with the other columns fixed.

    ``x`` enters as itself and through interactions ``x:w`` whose other factors are
    columns of the design; every other column is held at ``values``.
    """
    intercept = np.zeros(coefs.shape[0])
    slope = np.zeros(coefs.shape[0])
    for k, name in enumerate(names):
        factors = name.split(":")
        if name == x:
            slope += coefs[:, k]
        elif x in factors and all(f in names for f in factors if f != x):
            product = np.prod([values[:, names.index(f)] for f in factors if f != x], axis=0)
            slope += coefs[:, k] * product
        else:
            intercept += coefs[:, k] * values[:, k]
    return intercept, slope


def school_lines(
    fits: Mapping[str, HLMResult] | HLMResult,
    x: str,
    *,
    unit: str | None = None,
    others: str = "mean",
) -> Figure:
    """Each school's fitted line against one level-1 predictor, with the average line in bold.

    A school's line uses its own coefficients (``fit.school_coefficients()``:
    fixed effect plus EBLUP), drawn over the range of ``x`` observed in that
    school. In a random-intercept model the lines are parallel; with a random
    slope of ``x`` they fan out. The bold line uses the fixed effects alone,
    over the whole observed range of ``x``. Several fits (e.g. one per country)
    are drawn side by side with a shared y axis.

    Every other fixed-effect column is held constant, by ``others``:

    - ``"mean"`` (default): at its mean over the students used, the same for
      every school, so the lines differ only by their random effects;
    - ``"zero"``: at 0 (natural when the predictors are centred);
    - ``"school"``: at the school's own mean, so each line also reflects the
      school's own values of school-level predictors (e.g. its ``sector``);
      the bold line then uses the overall means.

    Interactions ``x:w`` with a column ``w`` of the model contribute
    ``coefficient * w`` to the slope, with ``w`` held as above. Other
    transformations of ``x`` (e.g. ``I(x**2)``) are held constant like any
    other column.

    Parameters
    ----------
    fits : HLMResult or mapping of str to HLMResult
        Fitted two-level models whose fixed part has the column ``x``.
    x : str
        A level-1 predictor (varying within schools), e.g. ``"ses"``.
    unit : str, optional
        Unit of the outcome; by default inferred from the outcome's name.
    others : {"mean", "zero", "school"}
        How to hold the other fixed-effect columns.

    Returns
    -------
    Figure

    Examples
    --------
    >>> import hlmteach as hlm
    >>> m = hlm.fit_hlm(hlm.load_hsb(), "mathach ~ ses", group="school", random=["ses"])
    >>> fig = school_lines(m, "ses")
    >>> type(fig).__name__, len(fig.axes[0].collections[0].get_segments())
    ('Figure', 160)
    """
    groups = _as_mapping(fits)
    for name, fit in groups.items():
        _check_line_predictor(fit, x, name if len(groups) > 1 else None)
    others = require_choice(others, tuple(_HELD), "others")
    _check_unit(unit)
    fig, axes = plt.subplots(
        1,
        len(groups),
        figsize=(7 * len(groups), 5),
        sharey=True,
        layout="constrained",
        squeeze=False,
    )
    for ax, (name, fit) in zip(axes[0], groups.items(), strict=True):
        _draw_school_lines(ax, fit, x, others)
        ax.set_ylabel(f"predicted {fit.design.outcome} ({_unit(fit, unit)})")
        if len(groups) > 1:
            ax.set_title(name)
    outcome = next(iter(groups.values())).design.outcome
    fig.suptitle(
        f"Each school's fitted line of {outcome} on {x} (other predictors held {_HELD[others]})"
    )
    return fig


_HELD = {"mean": "at their means", "zero": "at 0", "school": "at each school's own means"}


def _check_line_predictor(fit: HLMResult, x: object, name: str | None) -> None:
    """Raise unless ``x`` is a fixed-effect column of ``fit`` that varies within schools."""
    names = fit.design.fixed_names
    candidates = [
        n
        for n, school in zip(names, fit.design.school_level, strict=True)
        if n != "Intercept" and not school
    ]
    where = "this model" if name is None else f"the fit {name!r}"
    if not isinstance(x, str):
        raise ModelInputError(
            f"The argument x must be the name of one level-1 predictor of {where}, one of "
            f"{candidates}, not {type(x).__name__} ({x!r})."
        )
    if x not in names or x == "Intercept":
        raise ModelInputError(
            f"The argument x {x!r} is not a predictor column of {where}; its level-1 "
            f"fixed-effect columns are {candidates}."
        )
    if fit.design.school_level[names.index(x)]:
        raise ModelInputError(
            f"The argument x {x!r} does not vary within any school of {where} (it is a "
            "school-level variable), so a school has no line in it. Choose a level-1 predictor"
            f"{', one of ' + str(candidates) if candidates else ''}."
        )


def _draw_school_lines(ax: Any, fit: HLMResult, x: str, others: str) -> None:
    design = fit.design
    names = design.fixed_names
    column = design.X[:, names.index(x)]
    codes = design.group_codes
    J = design.n_groups
    x_low = np.full(J, np.inf)
    x_high = np.full(J, -np.inf)
    np.minimum.at(x_low, codes, column)
    np.maximum.at(x_high, codes, column)
    per_school, average = _other_values(fit, others)
    coefs = fit.school_coefficients().loc[design.group_labels, names].to_numpy()
    a, b = _line_parts(names, x, coefs, per_school)
    a0, b0 = _line_parts(names, x, fit.engine_fit.beta[None, :], average[None, :])
    segments = np.stack(
        [np.column_stack([x_low, a + b * x_low]), np.column_stack([x_high, a + b * x_high])],
        axis=1,
    )
    colors = _palette()
    ax.add_collection(
        LineCollection(segments, colors=[colors[0]], linewidths=0.7, alpha=0.5, label="a school")
    )
    grid = np.array([column.min(), column.max()])
    ax.plot(
        grid,
        a0[0] + b0[0] * grid,
        color=colors[1],
        linewidth=3,
        label="average school (fixed effects)",
    )
    ax.autoscale_view()
    ax.set_xlabel(x)
    ax.legend(loc="upper left", fontsize=9)


def variance_partition(
    fits: Mapping[str, HLMResult] | HLMResult, *, unit: str | None = None
) -> Figure:
    """Stacked bars of the between-school (tau00) and within-school (sigma2) variance.

    One bar per group (country), with the ICC ``tau00 / (tau00 + sigma2)``
    written above it. In a model with random slopes, tau00 is the variance of
    the intercepts, i.e. between schools at the predictors' value 0.

    Parameters
    ----------
    fits : mapping of str to HLMResult, or HLMResult
        For example ``fit_hlm(data, "math ~ 1", group="school", by="country")``.
    unit : str, optional
        Unit of the outcome; by default inferred from the outcome's name.

    Returns
    -------
    Figure

    Examples
    --------
    >>> import hlmteach as hlm
    >>> fits = hlm.fit_hlm(hlm.load_hsb(), "mathach ~ 1", group="school", by="sector")
    >>> fig = variance_partition(fits)
    >>> type(fig).__name__, len(fig.axes[0].patches)
    ('Figure', 4)
    >>> variance_partition({})
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: The argument fits is empty: there is no fitted model
    to plot. Pass one fit, or the fits of a by= column such as fit_hlm(data, formula,
    group='school', by='country').
    """
    by = str(getattr(fits, "by", "model"))
    fits = _as_mapping(fits)
    _check_unit(unit)
    names = list(fits)
    tau00 = np.array([float(fit.tau.iloc[0, 0]) for fit in fits.values()])
    sigma2 = np.array([fit.sigma2 for fit in fits.values()])
    colors = _palette()
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(names) + 4.0), 4.8), layout="constrained")
    position = np.arange(len(names))
    ax.bar(position, tau00, width=0.6, color=colors[0], label="between schools (τ00)")
    ax.bar(position, sigma2, width=0.6, bottom=tau00, color=colors[1], label="within schools (σ²)")
    for k, fit in enumerate(fits.values()):
        ax.annotate(
            f"ICC = {fit.icc:.3f}",
            (position[k], tau00[k] + sigma2[k]),
            xytext=(0, 4),
            textcoords="offset points",
            ha="center",
            va="bottom",
        )
        ax.text(position[k], tau00[k] / 2, _fmt(tau00[k]), ha="center", va="center", fontsize=9)
        ax.text(
            position[k],
            tau00[k] + sigma2[k] / 2,
            _fmt(sigma2[k]),
            ha="center",
            va="center",
            fontsize=9,
        )
    ax.set_xticks(position, names)
    ax.set_ylim(0, 1.15 * float((tau00 + sigma2).max()))
    first = next(iter(fits.values()))
    ax.set_xlabel(by)
    ax.set_ylabel(f"variance ({_unit(first, unit)} squared)")
    fig.suptitle("How the variance splits between and within schools")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9)
    return fig


# -- figures of the simulations ------------------------------------------------------------------
_FALSE_POSITIVE_COLUMNS = ("icc", "school_size", "ols_rate", "ols_mcse", "hlm_rate", "hlm_mcse")
_SCHOOL_MEANS_COLUMNS = ("n", "observed_mean", "eb", "true_mean", "reliability", "grand_mean")


def _check_false_positive_table(results: pd.DataFrame) -> None:
    """Rates are shares, SEs not negative, and each (icc, school_size) cell appears once."""
    for column in ("ols_rate", "hlm_rate"):
        values = results[column].to_numpy(dtype=float)
        if ((values < 0) | (values > 1)).any():
            raise ModelInputError(
                f"The results column {column!r} must hold shares between 0 and 1 (rates, not "
                f"percentages), found {values.min():g} to {values.max():g}."
            )
    for column in ("ols_mcse", "hlm_mcse"):
        if (results[column].to_numpy(dtype=float) < 0).any():
            raise ModelInputError(
                f"The results column {column!r} holds negative standard errors; pass the table "
                "that simulate_false_positives(...) returns."
            )
    twice = results.duplicated(["icc", "school_size"], keep=False)
    if twice.any():
        first = results.loc[twice, ["icc", "school_size"]].iloc[0]
        raise ModelInputError(
            f"The argument results has {int(twice.sum())} rows for the same cells (such as "
            f"icc={first['icc']:g}, school_size={first['school_size']:g}), which would be drawn "
            "as one zig-zag line. Pass one simulation's table, or average the repeated cells."
        )


def false_positive_rates(results: pd.DataFrame, *, alpha: float | None = None) -> Figure:
    """False-positive rates of OLS and HLM by ICC, one panel per school size.

    Plots the output of :func:`hlmteach.simulation.simulate_false_positives`:
    the share of simulated data sets in which a school-level predictor with no
    effect came out "significant", with ±1.96 Monte-Carlo SE bars, and the
    nominal level ``alpha`` as a dashed line.

    Parameters
    ----------
    results : DataFrame
        The simulation table (columns ``icc``, ``school_size``, ``ols_rate``,
        ``ols_mcse``, ``hlm_rate``, ``hlm_mcse``).
    alpha : float, optional
        Nominal level; by default ``results.attrs["alpha"]`` (or 0.05).

    Returns
    -------
    Figure

    Examples
    --------
    >>> from hlmteach.simulation import simulate_false_positives
    >>> res = simulate_false_positives(iccs=(0.0, 0.2), school_sizes=(5, 20), n_schools=10,
    ...                                n_reps=5, progress=False)
    >>> fig = false_positive_rates(res)
    >>> type(fig).__name__, len(fig.axes)
    ('Figure', 2)
    """
    results = _require_table(
        results, _FALSE_POSITIVE_COLUMNS, "results", "simulate_false_positives"
    )
    if alpha is None:
        alpha = require_probability(
            results.attrs.get("alpha", 0.05), "alpha (read from results.attrs['alpha'])"
        )
    else:
        alpha = require_probability(alpha, "alpha")
    _check_false_positive_table(results)
    sizes = sorted(results["school_size"].unique())
    colors = _palette()
    fig, axes = plt.subplots(
        1,
        len(sizes),
        sharey=True,
        squeeze=False,
        figsize=(3.6 * len(sizes) + 0.8, 4.2),
        layout="constrained",
    )
    for ax, m in zip(axes[0], sizes, strict=True):
        part = results[results["school_size"] == m].sort_values("icc")
        for k, (method, label) in enumerate(
            [("ols", "OLS (naive SE)"), ("hlm", "HLM (random intercepts, df = J − 2)")]
        ):
            ax.errorbar(
                part["icc"].to_numpy(dtype=float),
                part[f"{method}_rate"].to_numpy(dtype=float),
                yerr=1.96 * part[f"{method}_mcse"].to_numpy(dtype=float),
                marker="os"[k],
                color=colors[k],
                capsize=3,
                label=label,
            )
        ax.axhline(alpha, color="black", linestyle="--", linewidth=1, label=f"α = {alpha:g}")
        ax.set_title(f"{m} students per school")
        ax.set_xlabel("intraclass correlation (ICC)")
    axes[0, 0].set_ylabel("false-positive rate (share of data sets with p < α)")
    axes[0, 0].set_ylim(bottom=0)
    axes[0, 0].legend(loc="upper left", fontsize=8)
    fig.suptitle("How often a school-level predictor with no effect is called significant")
    return fig


def _mark_school_sizes(colorbar_ax: Any, sizes: np.ndarray, reliability: np.ndarray) -> None:
    """Label the reliability colour bar, on its left, with the school sizes that have each value.

    Sizes whose reliabilities lie closer than 4% of the bar to a labelled one share its label,
    a range such as "3–20" (with tau00 = 0 every size has reliability 0), so that no labels
    overlap.
    """
    by_size = pd.Series(reliability).groupby(sizes).first().sort_values()
    positions: list[float] = []
    labels: list[list[str]] = []
    for n, value in by_size.items():
        if positions and value - positions[-1] < 0.04:
            labels[-1].append(str(n))
        else:
            positions.append(float(value))
            labels.append([str(n)])
    texts = [names[0] if len(names) == 1 else f"{names[0]}–{names[-1]}" for names in labels]
    side = colorbar_ax.secondary_yaxis("left")
    side.set_yticks(positions, texts, fontsize=8)
    side.set_ylabel("students in the school", fontsize=8)
    for value in positions:
        colorbar_ax.axhline(value, color="white", linewidth=0.8)


def shrinkage_demo(frame: pd.DataFrame, *, unit: str = "score units") -> Figure:
    """Observed school means and their EB estimates, joined by the pull of shrinkage.

    Plots the output of :func:`hlmteach.simulation.simulate_school_means`: the
    top row holds the schools' true means (known in a simulation), the middle
    row their observed means, the bottom row their EB estimates, and a line
    joins each school's observed mean to its EB estimate, coloured by its
    reliability. The colour bar names, on its left, the school sizes behind
    each reliability. Small schools (low reliability, dark) keep only the share
    λ of their distance from the grand mean and move far toward it; large
    schools (bright) barely move. The title compares the mean squared error of
    both estimates against the true means.

    Parameters
    ----------
    frame : DataFrame
        The simulated schools (columns ``n``, ``observed_mean``, ``eb``,
        ``true_mean``, ``reliability``, ``grand_mean``).
    unit : str
        Unit of the scores.

    Returns
    -------
    Figure

    Examples
    --------
    >>> from hlmteach.simulation import simulate_school_means
    >>> fig = shrinkage_demo(simulate_school_means(tau00=0.2, sigma2=0.8))
    >>> type(fig).__name__
    'Figure'
    """
    frame = _require_table(frame, _SCHOOL_MEANS_COLUMNS, "frame", "simulate_school_means")
    if unit is None:
        raise ModelInputError(
            "The argument unit must be a non-empty text such as unit='score units', not None."
        )
    _check_unit(unit)
    reliability = frame["reliability"].to_numpy(dtype=float)
    if ((reliability < 0) | (reliability > 1)).any():
        raise ModelInputError(
            f"The frame column 'reliability' must lie between 0 and 1, found "
            f"{reliability.min():g} to {reliability.max():g}; pass the table that "
            "simulate_school_means(...) returns."
        )
    grand = frame["grand_mean"].to_numpy(dtype=float)
    if np.ptp(grand) > 1e-12 * max(1.0, float(np.abs(grand).max())):
        raise ModelInputError(
            "The frame column 'grand_mean' differs between rows, so the frame holds more than "
            "one simulation; plot each simulate_school_means(...) table on its own."
        )
    observed = frame["observed_mean"].to_numpy(dtype=float)
    eb = frame["eb"].to_numpy(dtype=float)
    truth = frame["true_mean"].to_numpy(dtype=float)
    grand_mean = float(grand[0])
    cmap = _RELIABILITY_CMAP
    # A fixed layout: the constrained layout engine would double the time a widget redraw takes.
    fig = plt.figure(figsize=(8, 4.8))
    ax = fig.add_axes((0.19, 0.11, 0.58, 0.74))
    colorbar_ax = fig.add_axes((0.87, 0.11, 0.025, 0.74), label="<colorbar>")
    segments = np.stack(
        [
            np.column_stack([observed, np.ones_like(observed)]),
            np.column_stack([eb, np.zeros_like(eb)]),
        ],
        axis=1,
    )
    lines = LineCollection(segments, cmap=cmap, linewidths=1.2)
    lines.set_array(reliability)
    lines.set_clim(0.0, 1.0)
    ax.add_collection(lines)
    ax.scatter(
        truth,
        np.full_like(truth, 2.0),
        marker="D",
        facecolors="white",
        edgecolors="black",
        linewidths=0.8,
        s=22,
        zorder=3,
        label="true mean",
    )
    for values, height in ((observed, 1.0), (eb, 0.0)):
        ax.scatter(
            values,
            np.full_like(values, height),
            c=reliability,
            cmap=cmap,
            vmin=0,
            vmax=1,
            s=25,
            edgecolors="black",
            linewidths=0.3,
            zorder=3,
        )
    ax.axvline(
        grand_mean,
        color="black",
        linestyle="--",
        linewidth=1,
        label=f"grand mean = {_fmt(grand_mean)}",
    )
    colorbar = fig.colorbar(lines, cax=colorbar_ax, label="reliability λ = τ00 / (τ00 + σ²/n)")
    _mark_school_sizes(colorbar.ax, frame["n"].to_numpy(), reliability)
    ax.set_yticks([0, 1, 2], ["EB estimate", "observed mean", "true mean"])
    ax.set_ylim(-0.4, 2.9)  # room for the legend above the true means
    ax.autoscale_view(scaley=False)
    ax.set_xlabel(f"school mean ({unit})")
    ax.set_ylabel("estimate")
    mse_obs = float(np.mean((observed - truth) ** 2))
    mse_eb = float(np.mean((eb - truth) ** 2))
    ax.set_title(
        "Shrinkage: each observed school mean is pulled toward the grand mean\n"
        f"mean squared error against the true means: observed {_fmt(mse_obs)}, "
        f"EB {_fmt(mse_eb)}"
    )
    ax.legend(loc="upper right", fontsize=9)
    return fig
