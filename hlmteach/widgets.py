"""Interactive widgets: a thin ipywidgets layer over tested, plain functions.

Each widget's computation is a plain function or class that the tests drive
directly (:class:`Explorer`, :func:`explorer_view`); this module only adds
controls, layout and wiring. The explorer fits every setting's models, and
makes its figures, when it is built; a toggle then only looks up its fits and
tables and updates a figure that already exists (new data, the same axes,
drawn over a stored image of what never changes), so that even the first
toggle of a setting takes a few tens of milliseconds.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .data import COUNTRIES
from .design import build_design
from .inference import LikelihoodRatioTest, lr_test
from .models import HLMResult, fit_hlm
from .tables import hlm_table
from .validation import (
    ModelInputError,
    as_term_list,
    check_formula_text,
    require_choice,
    require_columns,
    require_frame,
    require_integer,
    require_numeric_column,
    require_seed,
)

__all__ = [
    "Explorer",
    "ExplorerSetting",
    "ExplorerView",
    "explorer",
    "explorer_view",
    "false_positive_widget",
    "shrinkage_widget",
]

COUNTRY_CHOICES = (*COUNTRIES.values(), "Both")
SLOPE_TERMS = ("college", "boy")
METHODS = ("REML", "ML")
FIGURE_KINDS = ("school lines", "slope distribution")


def _check_slopes(random_slopes: object, argument: str = "random_slopes") -> tuple[str, ...]:
    """The random slopes as a tuple in the explorer's order; each must be one of SLOPE_TERMS."""
    slopes = as_term_list(random_slopes, argument)
    for term in slopes:
        require_choice(term, SLOPE_TERMS, f"explorer {argument} term")
    return tuple(t for t in SLOPE_TERMS if t in slopes)


def _check_method(method: object) -> str:
    return require_choice(method, METHODS, "explorer method", normalise=str.upper)


@dataclass(frozen=True)
class ExplorerSetting:
    """One position of the explorer's controls.

    Attributes
    ----------
    country : {"Korea", "USA", "Both"}
        Which country, or both side by side.
    random_slopes : tuple of str
        Level-1 predictors whose slopes vary across schools (of "college", "boy").
    method : {"REML", "ML"}
        Estimation method (``"reml"`` and ``"ml"`` are read as upper case).

    Examples
    --------
    >>> ExplorerSetting("USA", ["boy", "college"], "ml")
    ExplorerSetting(country='USA', random_slopes=('college', 'boy'), method='ML')
    >>> ExplorerSetting("France")
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: Unknown explorer setting country 'France'; use one of
    'Both', 'Korea', 'USA'.
    """

    country: str = "Korea"
    random_slopes: tuple[str, ...] = ("college",)
    method: str = "REML"

    def __post_init__(self) -> None:
        require_choice(self.country, COUNTRY_CHOICES, "explorer setting country")
        object.__setattr__(self, "random_slopes", _check_slopes(self.random_slopes))
        object.__setattr__(self, "method", _check_method(self.method))

    @property
    def countries(self) -> tuple[str, ...]:
        """The countries this setting shows."""
        return tuple(COUNTRIES.values()) if self.country == "Both" else (self.country,)


#: Every choice of random slopes the explorer offers (each is fitted once, when it is built).
SLOPE_CHOICES: tuple[tuple[str, ...], ...] = ((), ("college",), ("boy",), ("college", "boy"))

_REMEMBERED: Any = object()  # view(setting) without previous=: compare with the last view


def _p_text(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _describe(setting: ExplorerSetting) -> str:
    slopes = " and ".join(setting.random_slopes) or "none"
    return f"{setting.country}, random slopes: {slopes}, {setting.method}"


@dataclass(repr=False)
class ExplorerView:
    """What the explorer shows for one setting: tables, tests and plain-words notes.

    Attributes
    ----------
    setting : ExplorerSetting
        The controls' values.
    fits : dict of str to HLMResult
        The model of each country shown.
    table : DataFrame
        Fixed effects (SE, stars of their t tests) and variances (SE, and in the
        column "LR p" the likelihood-ratio p-value for dropping that slope's
        variance, from the 50:50 boundary mixture; never a Wald test).
    fit_statistics : DataFrame
        -2 log-likelihood, AIC, AICC and BIC of each country's model.
    tests : dict
        Per country, the likelihood-ratio test against the previous setting (or
        why there is none).
    notes : list of str
        Plain-words notes, such as a variance estimated at zero.
    variance_tests : dict
        Per (country, slope), the likelihood-ratio test of that slope's variance:
        this model against the same model with the slope fixed.
    """

    setting: ExplorerSetting
    fits: dict[str, HLMResult]
    table: pd.DataFrame
    fit_statistics: pd.DataFrame
    tests: dict[str, LikelihoodRatioTest | str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    variance_tests: dict[tuple[str, str], LikelihoodRatioTest] = field(default_factory=dict)
    _tables_html: str = ""  # the explorer keeps each setting's tables as HTML, made once

    def intercepts(self) -> dict[str, float]:
        """The fixed intercept of each country shown."""
        return {c: float(f.fixed.loc["Intercept", "estimate"]) for c, f in self.fits.items()}

    def to_html(self) -> str:
        """The tables, tests and notes as one HTML block."""
        parts = ["<div class='hlmteach-explorer'>", self._tables_html or _tables_html(self)]
        for country, test in self.tests.items():
            parts.append(
                f"<p><b>{html.escape(country)}, against the previous setting:</b> "
                f"{html.escape(str(test))}</p>"
            )
        for note in self.notes:
            parts.append(f"<p class='hlmteach-note' style='color:#a6611a'>{html.escape(note)}</p>")
        parts.append("</div>")
        return "".join(parts)

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        lines = [_describe(self.setting), self.table.to_string(), TABLE_KEY, ""]
        lines.append(self.fit_statistics.to_string(float_format=lambda v: f"{v:.1f}"))
        lines += [f"{c}, against the previous setting: {t}" for c, t in self.tests.items()]
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)


def _tables_html(view: ExplorerView) -> str:
    """The heading, the table, its key and the fit statistics of ``view`` as HTML."""
    return "".join(
        [
            f"<h4>{html.escape(_describe(view.setting))}: fixed effects and variances</h4>",
            view.table.to_html(border=0, classes="hlmteach-table"),
            f"<p style='font-size:85%'>{html.escape(TABLE_KEY)}</p>",
            "<h4>Fit statistics</h4>",
            view.fit_statistics.to_html(border=0, float_format=lambda v: f"{v:.1f}"),
        ]
    )


#: The explanation printed under every explorer table.
TABLE_KEY = (
    "Stars: t tests of the fixed effects. LR p: likelihood-ratio test of dropping that "
    "slope's variance from this model (50:50 mixture of chi2(0) and chi2(1)). The school "
    "variance of the intercept stays in every setting (notebook 10 tests it); the Wald "
    "standard errors of the variances are shown, but not tested: notebook 10 explains why."
)


class Explorer:
    """Fits the course's random-coefficient model for every explorer setting, once each.

    All 16 models (two countries, four choices of random slopes, REML and ML)
    are fitted when the explorer is built, and the figures' axes are fixed from
    them, so that every toggle only looks up its fits and updates a figure
    that already exists, and so that the figures of different settings share
    their scales and can be compared by eye.

    Parameters
    ----------
    data : DataFrame
        The TIMSS frame (``hlm.load_timss()``).
    formula : str
        The fixed part; by default the source analysis's ``math ~ college + boy``.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> ex = Explorer(hlm.load_timss())
    >>> view = ex.view(ExplorerSetting("USA", ("college",), "REML"))
    >>> sorted(view.fits)
    ['USA']
    >>> view.table.loc["college", ("USA", "LR p")]
    '0.006'
    """

    def __init__(self, data: pd.DataFrame, formula: str = "math ~ college + boy") -> None:
        self.data = _check_explorer_data(data, formula)
        self.formula = formula
        self._frames = {c: data[data["country"] == c] for c in COUNTRIES.values()}
        for country, frame in self._frames.items():
            frame.attrs = {**frame.attrs, "label": country}
            build_design(frame, formula, group="school")  # every check of fit_hlm, before widgets
        self._fits: dict[tuple[str, tuple[str, ...], str], HLMResult] = {}
        for country in self._frames:
            for slopes in SLOPE_CHOICES:
                for method in METHODS:
                    self.fit(country, slopes, method)
        self._figures: dict[tuple[ExplorerSetting, str], bytes] = {}
        self._tables: dict[ExplorerSetting, tuple[pd.DataFrame, pd.DataFrame, dict, str]] = {}
        # The figures, made (and their fixed parts drawn) now, so that no toggle waits for them.
        scale = _FigureScale(list(self._fits.values()))
        self._canvases = {
            (kind, n): _ExplorerCanvas(kind, n, scale) for kind in FIGURE_KINDS for n in (1, 2)
        }
        for canvas in self._canvases.values():
            canvas.prepare()
        self.previous: ExplorerSetting | None = None

    def fit(self, country: str, random_slopes: tuple[str, ...], method: str) -> HLMResult:
        """The fit for one country and setting (all are fitted when the explorer is built)."""
        country = require_choice(country, tuple(self._frames), "explorer fit country")
        key = (country, _check_slopes(random_slopes), _check_method(method))
        if key not in self._fits:
            self._fits[key] = fit_hlm(
                self._frames[country],
                self.formula,
                group="school",
                random=list(key[1]),
                method=key[2],
                covariance="vc",
            )
        return self._fits[key]

    def figure_png(self, view: ExplorerView, kind: str = "school lines") -> bytes:
        """The explorer's figure for ``view`` as PNG bytes, drawn once per setting and kind.

        The figure of each kind and number of countries is made once and then
        only updated: new lines and bar heights, new texts, the same axes.

        Examples
        --------
        >>> import hlmteach as hlm
        >>> ex = Explorer(hlm.load_timss())
        >>> view = ex.view(ExplorerSetting("Both", ("college",)), previous=None)
        >>> png = ex.figure_png(view, "slope distribution")
        >>> png[:4], ex.figure_png(view, "slope distribution") is png
        (b'\x89PNG', True)
        >>> type(ex.figure(view)).__name__
        'Image'
        """
        _check_view(view)
        key = (view.setting, require_choice(kind, FIGURE_KINDS, "figure kind"))
        if key not in self._figures:
            self._figures[key] = self._canvases[key[1], len(view.fits)].png(view)
        return self._figures[key]

    def figure(self, view: ExplorerView, kind: str = "school lines") -> Any:
        """The figure of :meth:`figure_png` as an image for a notebook cell to show."""
        from IPython.display import Image

        return Image(data=self.figure_png(view, kind))

    def view(self, setting: ExplorerSetting, previous: Any = _REMEMBERED) -> ExplorerView:
        """Everything the explorer shows for ``setting`` (see :func:`explorer_view`)."""
        return explorer_view(self, setting, previous)


def _check_explorer_data(data: object, formula: object) -> pd.DataFrame:
    """The explorer's data: a frame with both countries, the schools and the slopes' columns."""
    data = require_frame(data, "data")
    check_formula_text(formula)
    require_columns(data, ["country", "school"], "explorer (argument data)")
    for term in SLOPE_TERMS:
        require_numeric_column(data, term, "explorer's random-slope column")
    present = data["country"].dropna().unique()
    missing = [c for c in COUNTRIES.values() if c not in set(present)]
    if missing:
        shown = sorted(map(repr, present))[:6]
        raise ModelInputError(
            f"The argument data has no rows for {missing} in its column 'country', which holds "
            f"{', '.join(shown) or 'only missing values'}. The explorer compares "
            f"{' and '.join(COUNTRIES.values())}: pass hlm.load_timss(), or a frame whose "
            "country column names both countries so (codes such as 410 and 840 can be mapped "
            "with hlm.data.COUNTRIES)."
        )
    return data


def _check_view(view: object) -> ExplorerView:
    if not isinstance(view, ExplorerView):
        raise ModelInputError(
            f"The argument view must be an ExplorerView (from Explorer.view(setting)), not "
            f"{type(view).__name__}."
        )
    return view


def _compare(previous: HLMResult, current: HLMResult) -> LikelihoodRatioTest | str:
    if previous is current:
        return "same model."
    small, large = sorted((previous, current), key=lambda f: len(f.covariance))
    if previous.method != current.method:
        return "the method changed (REML vs ML), so the likelihoods are not comparable."
    if not set(small.random_terms) <= set(large.random_terms):
        return "the two models are not nested, so no likelihood-ratio test."
    try:
        return lr_test(small, large)
    except ModelInputError as error:
        return str(error)


def _with_lr_column(
    table: pd.DataFrame, variance_tests: dict[tuple[str, str], LikelihoodRatioTest]
) -> pd.DataFrame:
    """``hlm_table``'s table with the Wald stars of the variances replaced by LR p-values."""
    table = table.copy()
    for country in table.columns.get_level_values(0).unique():
        table[(country, "Var p")] = ""
        table.loc["Residual", (country, "p")] = ""  # no test of the residual variance
    for (country, term), test in variance_tests.items():
        table.loc[term, (country, "Var p")] = _p_text(test.p_value)
    return table.rename(columns={"Var p": "LR p"}, level=1)


def explorer_view(
    explorer: Explorer, setting: ExplorerSetting, previous: Any = _REMEMBERED
) -> ExplorerView:
    """The explorer's models of ``setting`` with its tables, tests and notes.

    Parameters
    ----------
    explorer : Explorer
        Holds the data, the fits and the previous setting.
    setting : ExplorerSetting
        The controls' values.
    previous : ExplorerSetting or None, optional
        The setting to compare with by a likelihood-ratio test (None: no
        comparison). Without it, the setting of the last call that did not
        pass ``previous`` is used, and ``setting`` becomes the new one: that is
        how the widget compares each toggle with the one before.

    Returns
    -------
    ExplorerView

    Examples
    --------
    >>> import hlmteach as hlm
    >>> ex = Explorer(hlm.load_timss())
    >>> _ = explorer_view(ex, ExplorerSetting("USA", ("college",)))
    >>> view = explorer_view(ex, ExplorerSetting("USA", ("college", "boy")))
    >>> any("estimated at zero" in note for note in view.notes)
    True
    >>> round(view.tests["USA"].statistic, 3)
    0.0
    >>> step = explorer_view(ex, ExplorerSetting("USA", ()), previous=ExplorerSetting("USA"))
    >>> round(step.tests["USA"].statistic, 2), ex.previous.random_slopes
    (6.33, ('college', 'boy'))
    """
    if not isinstance(explorer, Explorer):
        raise ModelInputError(
            f"The argument explorer must be an Explorer (Explorer(hlm.load_timss())), not "
            f"{type(explorer).__name__}."
        )
    if not isinstance(setting, ExplorerSetting):
        raise ModelInputError(
            f"The argument setting must be an ExplorerSetting, such as "
            f"ExplorerSetting('USA', ('college',), 'REML'), not {type(setting).__name__}."
        )
    remember = previous is _REMEMBERED
    previous = explorer.previous if remember else previous
    if previous is not None and not isinstance(previous, ExplorerSetting):
        raise ModelInputError(
            f"The argument previous must be an ExplorerSetting or None, not "
            f"{type(previous).__name__}."
        )
    fits = {c: explorer.fit(c, setting.random_slopes, setting.method) for c in setting.countries}
    if setting not in explorer._tables:
        variance_tests = {
            (country, term): lr_test(
                explorer.fit(country, tuple(t for t in setting.random_slopes if t != term), method),
                fit,
            )
            for country, fit in fits.items()
            for term in setting.random_slopes
            for method in (fit.method,)
        }
        table = _with_lr_column(hlm_table(fits), variance_tests)
        fit_statistics = pd.DataFrame({c: f.fit_stats for c, f in fits.items()})
        bare = ExplorerView(setting, fits, table, fit_statistics)
        explorer._tables[setting] = (table, fit_statistics, variance_tests, _tables_html(bare))
    table, fit_statistics, variance_tests, tables_html = explorer._tables[setting]
    tests: dict[str, LikelihoodRatioTest | str] = {}
    if previous is not None and previous != setting:
        for country in setting.countries:
            if country in previous.countries:
                before = explorer.fit(country, previous.random_slopes, previous.method)
                tests[country] = _compare(before, fits[country])
    notes = [f"{c}: {w}" for c, f in fits.items() for w in f.warnings]
    if remember:
        explorer.previous = setting
    return ExplorerView(
        setting, fits, table, fit_statistics, tests, notes, variance_tests, tables_html
    )


# -- the explorer's figures: made once, then updated ---------------------------------------------
_LINE_X = "college"  # the school lines are drawn against this predictor


def _school_lines(fit: HLMResult) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Each school's intercept and slope in ``college`` (boy at its mean), and the average's."""
    from .plots import _line_parts, _other_values

    names = fit.design.fixed_names
    per_school, average = _other_values(fit, "mean")
    coefs = fit.school_coefficients().loc[fit.design.group_labels, names].to_numpy()
    a, b = _line_parts(names, _LINE_X, coefs, per_school)
    a0, b0 = _line_parts(names, _LINE_X, fit.engine_fit.beta[None, :], average[None, :])
    return a, b, float(a0[0]), float(b0[0])


def _school_slopes(fit: HLMResult, term: str) -> np.ndarray:
    """Each school's estimated slope of ``term``: the fixed effect plus its EBLUP (if random)."""
    names = fit.design.fixed_names
    beta = fit.engine_fit.beta[names.index(term)]
    if term not in fit.design.random_names:
        return np.full(fit.n_groups, beta)
    return beta + _eblups(fit, term)


def _eblups(fit: HLMResult, term: str) -> np.ndarray:
    return fit.random_effects["estimate"].xs(term, level="term").to_numpy()


class _FigureScale:
    """Axis ranges shared by every setting's figure, so that settings compare by eye.

    From all the fits the figures will show: one y range for the school lines,
    and per slope one set of bins and one height for its histograms (both
    countries on the same axis, so that their spreads compare directly).
    """

    def __init__(self, fits: list[HLMResult]) -> None:
        column = fits[0].design.X[:, fits[0].design.fixed_names.index(_LINE_X)]
        self.x = (float(column.min()), float(column.max()))
        ends = []
        for fit in fits:
            a, b, _, _ = _school_lines(fit)
            ends += [a + b * self.x[0], a + b * self.x[1]]
        y = np.concatenate(ends)
        pad = 0.05 * (y.max() - y.min())
        self.lines_y = (float(y.min() - pad), float(y.max() + pad))
        self.edges: dict[str, np.ndarray] = {}
        heights = [1.0]
        for term in SLOPE_TERMS:
            values = [_school_slopes(f, term) for f in fits]
            spread = [
                f for f in fits if term in f.design.random_names and f.tau.loc[term, term] > 0
            ]
            for f in spread:
                sd = np.sqrt(f.tau.loc[term, term])
                values.append(f.fixed.loc[term, "estimate"] + np.array([-3, 3]) * sd)
            low, high = float(np.min(np.hstack(values))), float(np.max(np.hstack(values)))
            half = max(high - low, 0.4) * 0.55
            edges = np.linspace((low + high) / 2 - half, (low + high) / 2 + half, 41)
            heights += [np.histogram(_school_slopes(f, term), bins=edges)[0].max() for f in spread]
            self.edges[term] = edges
        # A fixed slope (or a zero variance) is a spike over the whole height: all schools.
        self.top = 1.15 * max(heights)

    @staticmethod
    def ticks(low: float, high: float) -> np.ndarray:
        """Round tick positions between ``low`` and ``high``, fixed once (no locator at draw)."""
        from matplotlib.ticker import MaxNLocator

        ticks = MaxNLocator(5).tick_values(low, high)
        return ticks[(ticks >= low) & (ticks <= high)]


class _ExplorerCanvas:
    """One figure of the explorer whose artists are updated for each setting, never re-made.

    Its axes, ticks, labels and legend are made once; an update changes only
    data (line segments, histogram heights) and a few texts, and the PNG is
    drawn without any layout engine or tight bounding box, which is where
    matplotlib spends its time.
    """

    def __init__(self, kind: str, n_countries: int, scale: _FigureScale) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        from .plots import _palette

        self.kind, self.n_countries, self.scale = kind, n_countries, scale
        self.colors = _palette()
        rows = 1 if kind == "school lines" else len(SLOPE_TERMS)
        k = n_countries
        width, height = 4.3 * k + 0.9, 3.5 if rows == 1 else 5.4
        self.figure = Figure(figsize=(width, height), dpi=80)
        FigureCanvasAgg(self.figure)
        left, right, top, bottom = 0.75 / width, 0.2 / width, 0.9 / height, 0.55 / height
        hgap, vgap = 0.45 / width, 0.8 / height
        panel_w = (1 - left - right - (k - 1) * hgap) / k
        panel_h = (1 - top - bottom - (rows - 1) * vgap) / rows
        self.axes = [
            [
                self.figure.add_axes(
                    (
                        left + col * (panel_w + hgap),
                        1 - top - (row + 1) * panel_h - row * vgap,
                        panel_w,
                        panel_h,
                    )
                )
                for col in range(k)
            ]
            for row in range(rows)
        ]
        self.title = self.figure.suptitle("", fontsize=10)
        self.background: Any = None  # the pixels of everything that never changes
        if kind == "school lines":
            self._make_lines()
        else:
            self._make_distributions()
        self.dynamic: list[Any] = [self.title, *self._changing()]

    def _changing(self) -> list[Any]:
        """The artists an update changes: drawn anew each time, over the stored background."""
        if self.kind == "school lines":
            return [*self.lines, *self.ends, *self.average, *self.titles]
        groups = (self.bars, self.curves, self.spikes, self.labels, self.titles)
        return [group[key] for group in groups for key in group]

    def _make_lines(self) -> None:
        from matplotlib.collections import LineCollection

        x0, x1 = self.scale.x
        y0, y1 = self.scale.lines_y
        self.lines, self.ends, self.average, self.titles = [], [], [], []
        for col, ax in enumerate(self.axes[0]):
            collection = LineCollection(
                [], colors=[self.colors[0]], linewidths=0.7, alpha=0.45, label="a school"
            )
            ax.add_collection(collection)
            (ends,) = ax.plot([], [], "o", color=self.colors[0], ms=2.5, alpha=0.6)
            (average,) = ax.plot(
                [], [], "-o", color=self.colors[1], lw=3, label="average school (fixed effects)"
            )
            ax.set_xlim(x0 - 0.15 * (x1 - x0), x1 + 0.15 * (x1 - x0))
            ax.set_ylim(y0, y1)
            ax.set_xticks([x0, x1], [f"{_LINE_X} = {x0:g}", f"{_LINE_X} = {x1:g}"])
            ax.set_yticks(self.scale.ticks(y0, y1))
            if col == 0:
                ax.set_ylabel("predicted math (z-score)", fontsize=9)
                ax.legend(loc="lower right", fontsize=8)
            self.lines.append(collection)
            self.ends.append(ends)
            self.average.append(average)
            self.titles.append(ax.set_title("", fontsize=10))

    def _make_distributions(self) -> None:
        self.bars, self.curves, self.spikes, self.labels, self.titles = {}, {}, {}, {}, {}
        top = self.scale.top
        for row, term in enumerate(SLOPE_TERMS):
            edges = self.scale.edges[term]
            for col, ax in enumerate(self.axes[row]):
                key = (term, col)
                self.bars[key] = ax.stairs(
                    np.zeros(edges.size - 1), edges, fill=True, color=self.colors[0]
                )
                (self.curves[key],) = ax.plot([], [], color="black", lw=1.2)
                (self.spikes[key],) = ax.plot([], [], color=self.colors[1], lw=3)
                self.labels[key] = ax.text(
                    0.98,
                    0.95,
                    "",
                    transform=ax.transAxes,
                    ha="right",
                    va="top",
                    fontsize=8,
                    bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85},
                )
                ax.set_xlim(edges[0], edges[-1])
                ax.set_ylim(0, top)
                ax.set_xticks(self.scale.ticks(edges[0], edges[-1]))
                ax.set_yticks(self.scale.ticks(0, top))
                ax.set_xlabel(f"a school's slope of {term} (z-score)", fontsize=9)
                if col == 0:
                    ax.set_ylabel("number of schools", fontsize=9)
                self.titles[key] = ax.set_title("", fontsize=10)

    def prepare(self) -> None:
        """Draw and store everything that never changes (the first update then costs no more)."""
        for artist in self.dynamic:
            artist.set_animated(True)
        self.figure.canvas.draw()
        self.background = self.figure.canvas.copy_from_bbox(self.figure.bbox)

    def png(self, view: ExplorerView) -> bytes:
        """The figure updated to ``view``, as PNG bytes.

        Only the artists that change are drawn, onto a stored image of the
        rest (axes, ticks, labels, legend: blitting), and the pixels go
        straight to the PNG encoder.
        """
        import io

        from PIL import Image

        if len(view.fits) != self.n_countries:  # pragma: no cover - the explorer picks it
            raise ValueError(f"this figure has {self.n_countries} columns, not {len(view.fits)}")
        if self.kind == "school lines":
            self._update_lines(view)
        else:
            self._update_distributions(view)
        canvas = self.figure.canvas
        if self.background is None:
            self.prepare()
        canvas.restore_region(self.background)
        for artist in self.dynamic:
            self.figure.draw_artist(artist)
        pixels = np.asarray(canvas.buffer_rgba())[..., :3]
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="png", compress_level=1)
        return buffer.getvalue()

    def _update_lines(self, view: ExplorerView) -> None:
        x0, x1 = self.scale.x
        random = _LINE_X in view.setting.random_slopes
        shape = "random slope: lines may fan out" if random else "fixed slope: parallel lines"
        for col, (country, fit) in enumerate(view.fits.items()):
            a, b, a0, b0 = _school_lines(fit)
            low, high = a + b * x0, a + b * x1
            at_x0, at_x1 = np.full(low.size, x0), np.full(high.size, x1)
            self.lines[col].set_segments(
                np.stack([np.column_stack([at_x0, low]), np.column_stack([at_x1, high])], axis=1)
            )
            self.ends[col].set_data(np.r_[at_x0, at_x1], np.r_[low, high])
            self.average[col].set_data([x0, x1], [a0 + b0 * x0, a0 + b0 * x1])
            self.titles[col].set_text(f"{country}, {fit.n_groups} schools: {shape}")
        self.title.set_text(
            f"{_describe(view.setting)}\nEach school's predicted math at {_LINE_X} = {x0:g} "
            f"and {x1:g}, boy at its mean"
        )

    def _update_distributions(self, view: ExplorerView) -> None:
        top = self.scale.top
        for term in SLOPE_TERMS:
            edges = self.scale.edges[term]
            for col, (country, fit) in enumerate(view.fits.items()):
                key = (term, col)
                slopes = _school_slopes(fit, term)
                gamma = float(fit.fixed.loc[term, "estimate"])
                random = term in fit.design.random_names
                tau = float(fit.tau.loc[term, term]) if random else 0.0
                if tau > 0:
                    self.bars[key].set_data(np.histogram(slopes, bins=edges)[0])
                    grid = np.linspace(edges[0], edges[-1], 150)
                    density = np.exp(-0.5 * (grid - gamma) ** 2 / tau) / np.sqrt(2 * np.pi * tau)
                    self.curves[key].set_data(grid, fit.n_groups * (edges[1] - edges[0]) * density)
                    self.spikes[key].set_data([], [])
                    text = (
                        f"bars: the schools' estimated slopes, SD {np.std(slopes, ddof=1):.3f}\n"
                        f"curve: the model's true slopes, √τ = {np.sqrt(tau):.3f}"
                    )
                else:
                    self.bars[key].set_data(np.zeros(edges.size - 1))
                    self.curves[key].set_data([], [])
                    self.spikes[key].set_data([gamma, gamma], [0, top])
                    why = "variance estimated at 0" if random else "FIXED slope"
                    text = f"{why}: all {fit.n_groups} schools\nshare the slope {gamma:.3f}"
                self.labels[key].set_text(text)
                state = "random" if random else "fixed"
                self.titles[key].set_text(f"{country}: slope of {term} {state}")
        self.title.set_text(
            f"{_describe(view.setting)}\nThe schools' slopes, estimated and modelled"
        )


def explorer_figure(view: ExplorerView, kind: str = "school lines") -> Any:
    """The explorer's figure: each school's fitted college line, or the schools' slopes.

    Parameters
    ----------
    view : ExplorerView
        What :meth:`Explorer.view` returned.
    kind : {"school lines", "slope distribution"}
        "school lines": each school's predicted math at college = 0 and 1 (boy
        held at its mean), with the average school in bold; with a fixed college
        slope the lines are parallel. "slope distribution": for college and for
        boy, a histogram of the schools' estimated slopes (fixed effect plus
        EBLUP) with the model's normal distribution of the true slopes as a
        curve; a fixed slope, or a variance estimated at zero, is one spike,
        labelled so.

    Returns
    -------
    matplotlib.figure.Figure
        Drawn on the scales of ``view``'s own fits (the widget's figures share
        the scales of all its settings instead).

    Examples
    --------
    >>> import hlmteach as hlm
    >>> view = Explorer(hlm.load_timss()).view(ExplorerSetting("USA"))
    >>> fig = explorer_figure(view, "slope distribution")
    >>> type(fig).__name__, len(fig.axes)
    ('Figure', 2)
    >>> explorer_figure(view, "histogram")
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: Unknown figure kind 'histogram'; use one of 'school
    lines', 'slope distribution'.
    """
    _check_view(view)
    kind = require_choice(kind, FIGURE_KINDS, "figure kind")
    canvas = _ExplorerCanvas(kind, len(view.fits), _FigureScale(list(view.fits.values())))
    canvas.png(view)
    return canvas.figure


def _Panel(children: list, name: str) -> Any:  # noqa: N802 - behaves as a class
    """A VBox whose plain-text form tells a static reader how to use it."""
    import ipywidgets as widgets

    class Panel(widgets.VBox):
        def __repr__(self) -> str:
            return f"[Interactive: run this cell in JupyterLab to use {name}.]"

    return Panel(children)


def _error_html(error: Exception) -> str:
    return (
        f"<p style='color:#b2182b'><b>This setting could not be shown:</b> "
        f"{html.escape(type(error).__name__)}: {html.escape(str(error))}</p>"
    )


def _figure_image(fig: Any) -> Any:
    """``fig`` as a PNG image, drawn once with Agg and quickly compressed, and then closed.

    Displaying a figure as it is costs two draws (the notebook crops it with
    ``bbox_inches="tight"``) and a slow PNG compression: about half of a widget's redraw.
    """
    import io

    import matplotlib.pyplot as plt
    from IPython.display import Image
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image as PILImage

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    buffer = io.BytesIO()
    PILImage.fromarray(np.asarray(canvas.buffer_rgba())[..., :3]).save(
        buffer, format="png", compress_level=1
    )
    plt.close(fig)
    return Image(data=buffer.getvalue())


def _show_figure(out: Any, draw: Callable[[], Any]) -> None:
    """Replace the figure in the output widget ``out``; an error is shown there instead."""
    import matplotlib.pyplot as plt
    from IPython.display import HTML, display

    with out:
        out.clear_output(wait=True)
        try:
            fig = draw()
        except Exception as error:  # shown in the widget, which stays usable
            display(HTML(_error_html(error)))
            return
        display(_figure_image(fig) if isinstance(fig, plt.Figure) else fig)


def _figure_panel(controls: list, draw: Callable[[], Any], name: str) -> Any:
    """Controls in a row above a figure that ``draw`` redraws whenever a control changes."""
    import ipywidgets as widgets

    out = widgets.Output()

    def update(_: object = None) -> None:
        _show_figure(out, draw)

    for control in controls:
        control.observe(update, names="value")
    update()
    return _Panel([widgets.HBox(controls), out], name)


def explorer(data: pd.DataFrame | Explorer | None = None) -> Any:
    """The interactive explorer: toggle the country, random slopes and REML/ML.

    Parameters
    ----------
    data : DataFrame or Explorer, optional
        The TIMSS frame; by default the course's synthetic data. An
        :class:`Explorer` is used as it is, so that a notebook can show the
        same fits in the widget and in ordinary cells without fitting twice.

    Returns
    -------
    ipywidgets.VBox
        Display it in a notebook cell.

    Raises
    ------
    ModelInputError
        Before any widget is built, if ``data`` is not a frame with the columns
        ``country`` (holding both Korea and USA), ``school``, ``math``,
        ``college`` and ``boy``.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> panel = explorer(hlm.load_timss())  # doctest: +SKIP
    >>> panel  # doctest: +SKIP
    [Interactive: run this cell in JupyterLab to use the explorer.]
    >>> explorer(hlm.load_hsb())
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: The explorer (argument data) refers to column(s)
    ['country'] that the data do not have. Check the spelling; the data's columns are:
    school, minority, female, ses, mathach, size, sector, pracad, disclim, himinty, meanses.
    """
    import ipywidgets as widgets
    from IPython.display import Image

    from .data import load_timss

    state = data if isinstance(data, Explorer) else Explorer(load_timss() if data is None else data)
    country = widgets.ToggleButtons(options=COUNTRY_CHOICES, value="Korea", description="Country")
    slopes = {
        term: widgets.Checkbox(value=term == "college", description=f"random slope: {term}")
        for term in SLOPE_TERMS
    }
    method = widgets.ToggleButtons(options=("REML", "ML"), value="REML", description="Method")
    figure_kind = widgets.Dropdown(
        options=FIGURE_KINDS, value=FIGURE_KINDS[0], description="Figure"
    )
    tables = widgets.HTML()
    figure = widgets.Output()
    shown: list[ExplorerView] = []  # the view on screen, for a change of figure alone

    def redraw(_: object = None) -> None:
        if shown:
            view = shown[-1]
            _show_figure(figure, lambda: Image(data=state.figure_png(view, figure_kind.value)))

    def update(_: object = None) -> None:
        setting = ExplorerSetting(
            country.value,
            tuple(t for t, box in slopes.items() if box.value),
            method.value,
        )
        try:
            view = state.view(setting)
        except Exception as error:  # shown in the widget, which stays usable
            tables.value = _error_html(error)
            figure.clear_output()
            shown.clear()
            return
        tables.value = view.to_html()
        shown[:] = [view]
        redraw()

    for control in (country, method, *slopes.values()):
        control.observe(update, names="value")
    figure_kind.observe(redraw, names="value")
    update()
    controls = widgets.VBox(
        [country, widgets.HBox(list(slopes.values())), widgets.HBox([method, figure_kind])]
    )
    return _Panel([controls, tables, figure], "the explorer")


def shrinkage_widget(seed: int | None = 2026) -> Any:
    """Sliders for tau00, sigma2 and school size: OLS school means against shrunken EB estimates.

    The 30 simulated schools come in five sizes around the average that the
    third slider sets, from a quarter of it to twice it
    (:func:`hlmteach.simulation.school_sizes_around`), so that the figure shows
    small schools pulled further toward the grand mean than large ones.

    Parameters
    ----------
    seed : int or None
        Seed of the simulated schools (a whole number of at least 0); None draws
        new schools at every redraw.

    Returns
    -------
    ipywidgets.VBox
        Display it in a notebook cell.

    Examples
    --------
    >>> shrinkage_widget(seed=1)  # doctest: +SKIP
    [Interactive: run this cell in JupyterLab to use the shrinkage widget.]
    >>> shrinkage_widget(seed=-1)
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: The argument seed must be a whole number of at
    least 0 (such as seed=1), or None for a different simulation each time; not -1.
    """
    import ipywidgets as widgets

    seed = require_seed(seed)

    from .plots import shrinkage_demo
    from .simulation import school_sizes_around, simulate_school_means

    tau = widgets.FloatSlider(value=0.2, min=0.0, max=1.0, step=0.05, description="τ00")
    sigma2 = widgets.FloatSlider(value=0.5, min=0.05, max=2.0, step=0.05, description="σ²")
    size = widgets.IntSlider(
        value=10,
        min=4,
        max=60,
        step=1,
        description="average students per school",
        style={"description_width": "initial"},
    )
    return _figure_panel(
        [tau, sigma2, size],
        lambda: shrinkage_demo(
            simulate_school_means(
                tau.value, sigma2.value, school_sizes=school_sizes_around(size.value), seed=seed
            )
        ),
        "the shrinkage widget",
    )


def false_positive_widget(seed: int | None = 2026, n_reps: int = 100) -> Any:
    """Sliders for the ICC and school size: how often OLS and HLM find an effect that is absent.

    Parameters
    ----------
    seed : int or None
        Seed of the simulated data sets (a whole number of at least 0); None
        draws new ones at every redraw.
    n_reps : int
        Simulated data sets per setting (at least 1); each redraw fits them all.

    Returns
    -------
    ipywidgets.VBox
        Display it in a notebook cell.

    Examples
    --------
    >>> false_positive_widget(seed=1, n_reps=5)  # doctest: +SKIP
    [Interactive: run this cell in JupyterLab to use the false-positive widget.]
    >>> false_positive_widget(n_reps=0)
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: The argument n_reps must be a whole number of at
    least 1, not 0.
    """
    import ipywidgets as widgets

    seed = require_seed(seed)
    n_reps = require_integer(n_reps, "n_reps", 1)

    from .plots import false_positive_rates
    from .simulation import simulate_false_positives

    icc = widgets.FloatSlider(value=0.2, min=0.0, max=0.5, step=0.05, description="ICC")
    size = widgets.IntSlider(value=20, min=2, max=80, step=2, description="school size")
    return _figure_panel(
        [icc, size],
        lambda: false_positive_rates(
            simulate_false_positives(
                iccs=(icc.value,),
                school_sizes=(size.value,),
                n_reps=n_reps,
                seed=seed,
                progress=False,
            )
        ),
        "the false-positive widget",
    )
