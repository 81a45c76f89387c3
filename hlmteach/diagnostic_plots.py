"""Figures for checking a fitted two-level model (the tables come from :mod:`hlmteach.diagnostics`).

Each function returns a matplotlib ``Figure``. This module imports matplotlib;
``import hlmteach`` does not.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .diagnostics import (
    _INFLUENCE,
    _normal_scores,
    eblup_qq,
    level1_residuals,
    school_residual_variances,
)
from .models import HLMResult
from .validation import ModelInputError, require_choice, require_frame, require_integer

__all__ = ["eblup_qq_plot", "influence_plot", "residual_plot", "residual_variance_plot"]

_POINT = "#4c72b0"
_LINE = "#dd8452"
_BAND = "0.8"


def _binned_means(x: np.ndarray, y: np.ndarray, bins: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Mean of y in equal-count bins of x: a smooth trend without a smoother's tuning."""
    order = np.argsort(x, kind="stable")
    groups = np.array_split(order, min(bins, max(1, x.size // 10)))
    return (
        np.array([x[g].mean() for g in groups]),
        np.array([y[g].mean() for g in groups]),
    )


def residual_plot(fit: HLMResult, against: str = "fitted") -> Figure:
    """Level-1 residuals against the fitted values and against each level-1 predictor.

    The first panel plots each student's conditional residual against the
    fitted value, with the residuals' mean in 20 equal-count bins of the fitted
    value (orange): a flat line at 0 says the level-1 model is linear enough,
    an even band says the variance is constant. Against the school
    regression's fitted values (``against="fitted"``) a slight upward tilt is
    built in when the EBLUPs are strongly shrunk; against the fixed part's
    (``against="fixed_fitted"``) there is none under the model (see
    :func:`~hlmteach.diagnostics.level1_residuals`). The other panels show the
    residuals for each value of each level-1 predictor (box plots for 0/1
    predictors, points and bin means otherwise).

    Parameters
    ----------
    fit : HLMResult
        An unweighted fit.
    against : {"fitted", "fixed_fitted"}
        The school regression's fitted values ``X b + Z u_j`` (default) or the
        fixed part's, ``X b``.

    Returns
    -------
    Figure

    Examples
    --------
    >>> import hlmteach as hlm
    >>> fit = hlm.fit_hlm(hlm.load_hsb(), "mathach ~ ses", group="school")
    >>> fig = residual_plot(fit)
    >>> [ax.get_xlabel() for ax in fig.axes]
    ['fitted value (school regression)', 'ses']
    """
    require_choice(against, ("fitted", "fixed_fitted"), "against")
    table = level1_residuals(fit)
    predictors = [
        name
        for name, between in zip(fit.design.fixed_names, fit.design.school_level, strict=True)
        if not between
    ]
    fig, axes = plt.subplots(
        1,
        1 + len(predictors),
        figsize=(4.2 * (1 + len(predictors)), 3.8),
        layout="constrained",
        squeeze=False,
    )
    residual = table["residual"].to_numpy()
    first = {
        "fitted": "fitted value (school regression)",
        "fixed_fitted": "fitted value (fixed part)",
    }
    panels = [(against, first[against]), *[(p, p) for p in predictors]]
    for ax, (column, label) in zip(axes[0], panels, strict=True):
        x = table[column].to_numpy()
        values = np.unique(x)
        if column != against and values.size <= 2:
            ax.boxplot([residual[x == v] for v in values], positions=values, widths=0.5)
            ax.set_xticks(values, [f"{v:g}" for v in values])
        else:
            ax.scatter(x, residual, s=3, alpha=0.25, color=_POINT, rasterized=True)
            bx, by = _binned_means(x, residual)
            ax.plot(bx, by, color=_LINE, lw=2, label="mean in bins")
        ax.axhline(0.0, color="grey", ls="--", lw=1)
        ax.set_xlabel(label)
    axes[0][0].set_ylabel("level-1 residual")
    axes[0][0].legend(loc="upper left", fontsize=8)
    fig.suptitle(f"Level-1 residuals ({fit.n_obs} students)")
    return fig


def eblup_qq_plot(
    fit: HLMResult, term: str = "Intercept", simulations: pd.DataFrame | None = None
) -> Figure:
    """Normal Q–Q plots of the schools' EBLUPs: raw (left) and standardised (right).

    Left: the EBLUPs against normal scores, with the line the *true* effects
    would follow under the model, slope ``sqrt(tau)``. The EBLUPs lie on a
    flatter curve (shrinkage). Right: each EBLUP divided by its own sampling SD,
    against the 45° line. With ``simulations`` (from
    :func:`~hlmteach.diagnostics.simulated_eblups`), the grey bands show where
    the curves of data simulated from the fitted model fall, rank by rank: the
    observed curve should lie inside them.

    Parameters
    ----------
    fit : HLMResult
        An unweighted fit.
    term : str
        A random term, ``"Intercept"`` (default) or a random slope.
    simulations : DataFrame, optional
        The output of ``simulated_eblups(fit, data, term)``.

    Returns
    -------
    Figure

    Examples
    --------
    >>> import hlmteach as hlm
    >>> fit = hlm.fit_hlm(hlm.load_hsb(), "mathach ~ ses", group="school")
    >>> fig = eblup_qq_plot(fit)
    >>> [ax.get_ylabel() for ax in fig.axes]
    ['EBLUP of Intercept', 'standardised EBLUP']
    """
    qq = eblup_qq(fit, term)
    if simulations is not None:
        simulations = require_frame(simulations, "simulations")
        needed = {"rank", "eblup", "standardised"}
        if not needed <= set(simulations.columns) or simulations["rank"].max() != len(qq):
            raise ModelInputError(
                "simulations must be the table simulated_eblups(fit, data, term) returns for "
                "this fit (one row per simulation and school rank)."
            )
    fig, (raw, std) = plt.subplots(1, 2, figsize=(9.5, 4.2), layout="constrained")
    score = qq["normal_score"].to_numpy()
    tau_sd = float(np.sqrt(fit.tau.loc[term, term]))
    for ax, column in ((raw, "eblup"), (std, "standardised")):
        values = np.sort(qq[column].dropna().to_numpy())
        scores = _normal_scores(values.size)
        if simulations is not None:
            # Ranks 1..m of each simulation: its finite values, sorted (NaN come last). A
            # simulation with fewer finite values (tau estimated at 0) drops out of the band.
            ranks = simulations[simulations["rank"] <= values.size]
            band = ranks.groupby("rank")[column].agg(["min", "max"])
            ax.fill_between(
                scores, band["min"], band["max"], color=_BAND, label="simulated (model right)"
            )
        ax.plot(scores, values, "o", ms=3, color=_POINT, label="observed")
    grid = np.array([score.min(), score.max()])
    raw.plot(grid, tau_sd * grid, color=_LINE, lw=2, label="N(0, τ): true effects")
    std.plot(grid, grid, color=_LINE, lw=2, label="N(0, 1)")
    raw.set_ylabel(f"EBLUP of {term}")
    std.set_ylabel("standardised EBLUP")
    for ax in (raw, std):
        ax.set_xlabel("normal score")
        ax.legend(loc="upper left", fontsize=8)
    fig.suptitle(f"Normal Q–Q plots of the {len(qq)} schools' EBLUPs of {term}")
    return fig


def residual_variance_plot(fit: HLMResult, min_df: int = 10) -> Figure:
    """Each school's own residual SD against its number of students.

    Under the model every school has the same level-1 SD, ``sqrt(sigma2)``
    (the line); the schools' own OLS residual SDs scatter around it, more for
    small schools (the grey band: the central 95% of the SD of a school of that
    size when the variance is the same everywhere). Schools with fewer than
    ``min_df`` residual df (open circles) are left out of the H test.

    Parameters
    ----------
    fit : HLMResult
        An unweighted fit.
    min_df : int
        The H test's smallest residual df (default 10).

    Returns
    -------
    Figure

    Examples
    --------
    >>> import hlmteach as hlm
    >>> fit = hlm.fit_hlm(hlm.load_hsb(), "mathach ~ ses", group="school")
    >>> residual_variance_plot(fit).axes[0].get_xlabel()
    'students in the school'
    """
    from scipy import stats

    min_df = require_integer(min_df, "min_df")
    table = school_residual_variances(fit).dropna()
    sd = np.sqrt(table["variance"].to_numpy())
    n = table["n_students"].to_numpy()
    used = table["df"].to_numpy() >= min_df
    sigma = float(np.sqrt(fit.sigma2))
    fig, ax = plt.subplots(figsize=(6.5, 4.2), layout="constrained")
    lost = int(np.round(np.median(n - table["df"].to_numpy())))
    grid = np.arange(max(lost + 1, int(n.min())), int(n.max()) + 1)
    f = grid - lost
    ax.fill_between(
        grid,
        sigma * np.sqrt(stats.chi2.ppf(0.025, f) / f),
        sigma * np.sqrt(stats.chi2.ppf(0.975, f) / f),
        color=_BAND,
        label="95% range if σ² is common",
    )
    ax.scatter(n[used], sd[used], s=14, color=_POINT, label=f"school (≥ {min_df} df)")
    ax.scatter(n[~used], sd[~used], s=14, facecolors="none", edgecolors=_POINT, label="too small")
    ax.axhline(sigma, color=_LINE, lw=2, label="√σ² of the model")
    ax.set_xlabel("students in the school")
    ax.set_ylabel("school's own residual SD")
    ax.legend(fontsize=8)
    ax.set_title("Level-1 residual SD, school by school")
    return fig


def influence_plot(
    influence: pd.DataFrame, statistic: str = "cooks_distance", label: int = 5
) -> Figure:
    """An index plot of one influence statistic, the largest schools labelled.

    For Cook's distance a dashed line marks ``4/J`` (J schools), a common rule of
    thumb for "worth a look", not a test.

    Parameters
    ----------
    influence : DataFrame
        From :func:`~hlmteach.diagnostics.school_influence` or
        :func:`~hlmteach.diagnostics.deletion_influence`.
    statistic : str
        ``"cooks_distance"`` (default), ``"mdffits"``, ``"covratio"`` or ``"covtrace"``.
    label : int
        How many of the largest schools to label (0 for none).

    Returns
    -------
    Figure

    Examples
    --------
    >>> import hlmteach as hlm
    >>> from hlmteach.diagnostics import school_influence
    >>> fit = hlm.fit_hlm(hlm.load_hsb(), "mathach ~ ses", group="school")
    >>> influence_plot(school_influence(fit)).axes[0].get_ylabel()
    "Cook's distance"
    """
    influence = require_frame(influence, "influence")
    if statistic not in _INFLUENCE or statistic not in influence.columns:
        raise ModelInputError(
            f"statistic must be one of {_INFLUENCE} and a column of influence, not {statistic!r}."
        )
    label = require_integer(label, "label", minimum=0)
    values = influence[statistic].to_numpy()
    position = np.arange(1, values.size + 1)
    fig, ax = plt.subplots(figsize=(8, 3.8), layout="constrained")
    ax.vlines(position, 0 if statistic != "covratio" else 1, values, color=_POINT, lw=1)
    ax.plot(position, values, "o", ms=3, color=_POINT)
    if statistic == "cooks_distance":
        ax.axhline(4 / values.size, color=_LINE, ls="--", lw=1, label="4/J, a rule of thumb")
        ax.legend(fontsize=8)
    top = np.argsort(values, kind="stable")[::-1][:label]
    for k in top:
        ax.annotate(
            str(influence.index[k]),
            (position[k], values[k]),
            fontsize=8,
            xytext=(3, 3),
            textcoords="offset points",
        )
    names = {
        "cooks_distance": "Cook's distance",
        "mdffits": "MDFFITS",
        "covratio": "COVRATIO",
        "covtrace": "COVTRACE",
    }
    ax.set_ylabel(names[statistic])
    ax.set_xlabel(f"{influence.index.name or 'school'} (in the order of the data)")
    ax.set_title(f"{names[statistic]} of each of {values.size} schools")
    return fig
