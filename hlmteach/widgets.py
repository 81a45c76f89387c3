"""Interactive widgets: a thin ipywidgets layer over tested, plain functions.

Each widget's computation is a plain function or class that the tests drive
directly (:class:`Explorer`, :func:`explorer_view`); this module only adds
controls, layout and wiring. Fits are computed once per setting and reused,
so a toggle that returns to an earlier setting updates at once.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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


@dataclass
class ExplorerView:
    """What the explorer shows for one setting: tables, tests and plain-words notes."""

    setting: ExplorerSetting
    fits: dict[str, HLMResult]
    table: pd.DataFrame
    fit_statistics: pd.DataFrame
    tests: dict[str, LikelihoodRatioTest | str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def intercepts(self) -> dict[str, float]:
        """The fixed intercept of each country shown."""
        return {c: float(f.fixed.loc["Intercept", "estimate"]) for c, f in self.fits.items()}

    def to_html(self) -> str:
        """The tables, tests and notes as one HTML block."""
        parts = [
            "<div class='hlmteach-explorer'>",
            "<h4>Fixed effects and variance components</h4>",
            self.table.to_html(border=0, classes="hlmteach-table"),
            "<h4>Fit statistics</h4>",
            self.fit_statistics.to_html(border=0, float_format=lambda v: f"{v:.1f}"),
        ]
        for country, test in self.tests.items():
            parts.append(
                f"<p><b>{html.escape(country)}, against the previous setting:</b> "
                f"{html.escape(str(test))}</p>"
            )
        for note in self.notes:
            parts.append(f"<p class='hlmteach-note' style='color:#a6611a'>{html.escape(note)}</p>")
        parts.append("</div>")
        return "".join(parts)


class Explorer:
    """Fits the course's random-coefficient model for any explorer setting, once each.

    Parameters
    ----------
    data : DataFrame
        The TIMSS frame (``hlm.load_timss()``).
    formula : str
        The fixed part; by default the seed's ``math ~ college + boy``.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> ex = Explorer(hlm.load_timss())
    >>> view = ex.view(ExplorerSetting("USA", ("college",), "REML"))
    >>> sorted(view.fits)
    ['USA']
    """

    def __init__(self, data: pd.DataFrame, formula: str = "math ~ college + boy") -> None:
        self.data = _check_explorer_data(data, formula)
        self.formula = formula
        self._frames = {c: data[data["country"] == c] for c in COUNTRIES.values()}
        for country, frame in self._frames.items():
            frame.attrs = {**frame.attrs, "label": country}
            build_design(frame, formula, group="school")  # every check of fit_hlm, before widgets
        self._fits: dict[tuple[str, tuple[str, ...], str], HLMResult] = {}
        self._figures: dict[tuple[ExplorerSetting, str], bytes] = {}
        self.previous: ExplorerSetting | None = None

    def fit(self, country: str, random_slopes: tuple[str, ...], method: str) -> HLMResult:
        """The fit for one country and setting (cached)."""
        country = require_choice(country, tuple(self._frames), "explorer fit country")
        key = (country, tuple(sorted(_check_slopes(random_slopes))), _check_method(method))
        if key not in self._fits:
            self._fits[key] = fit_hlm(
                self._frames[country],
                self.formula,
                group="school",
                random=list(key[1]),
                method=method,
                covariance="vc",
            )
        return self._fits[key]

    def figure_png(self, view: ExplorerView, kind: str = "school lines") -> bytes:
        """The explorer's figure for ``view`` as PNG bytes, drawn once per setting and kind."""
        _check_view(view)
        key = (view.setting, require_choice(kind, FIGURE_KINDS, "figure kind"))
        if key not in self._figures:
            import io

            import matplotlib.pyplot as plt

            fig = explorer_figure(view, kind)
            buffer = io.BytesIO()
            fig.savefig(
                buffer,
                format="png",
                dpi=100,
                bbox_inches="tight",
                pil_kwargs={"compress_level": 1},  # fast to encode; size hardly matters here
            )
            plt.close(fig)
            self._figures[key] = buffer.getvalue()
        return self._figures[key]

    def view(self, setting: ExplorerSetting) -> ExplorerView:
        """Everything the explorer shows for ``setting``; remembers it as the previous one."""
        return explorer_view(self, setting)


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


def explorer_view(explorer: Explorer, setting: ExplorerSetting) -> ExplorerView:
    """Fit (or reuse) the models of ``setting`` and build the tables, tests and notes.

    Parameters
    ----------
    explorer : Explorer
        Holds the data, the cached fits and the previous setting.
    setting : ExplorerSetting
        The controls' values.

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
    fits = {c: explorer.fit(c, setting.random_slopes, setting.method) for c in setting.countries}
    fit_statistics = pd.DataFrame({c: f.fit_stats for c, f in fits.items()})
    tests: dict[str, LikelihoodRatioTest | str] = {}
    previous = explorer.previous
    if previous is not None and previous != setting:
        for country in setting.countries:
            if country in previous.countries:
                before = explorer.fit(country, previous.random_slopes, previous.method)
                tests[country] = _compare(before, fits[country])
    notes = [f"{c}: {w}" for c, f in fits.items() for w in f.warnings]
    explorer.previous = setting
    return ExplorerView(setting, fits, hlm_table(fits), fit_statistics, tests, notes)


def explorer_figure(view: ExplorerView, kind: str = "school lines") -> Any:
    """The explorer's figure: each school's fitted college line, or the slopes' spread.

    Parameters
    ----------
    view : ExplorerView
        What :meth:`Explorer.view` returned.
    kind : {"school lines", "slope distribution"}
        The figure; without a random college slope, "slope distribution" shows the lines.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import hlmteach as hlm
    >>> view = Explorer(hlm.load_timss()).view(ExplorerSetting("USA"))
    >>> type(explorer_figure(view, "slope distribution")).__name__
    'Figure'
    >>> explorer_figure(view, "histogram")
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: Unknown figure kind 'histogram'; use one of 'school
    lines', 'slope distribution'.
    """
    from . import plots

    _check_view(view)
    kind = require_choice(kind, FIGURE_KINDS, "figure kind")
    if kind == "slope distribution" and "college" in view.setting.random_slopes:
        return plots.coefficient_distribution(view.fits, "college")
    return plots.school_lines(view.fits, "college")  # without a random slope: lines


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
        display(fig)
        if isinstance(fig, plt.Figure):
            plt.close(fig)


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


def explorer(data: pd.DataFrame | None = None) -> Any:
    """The interactive explorer: toggle the country, random slopes and REML/ML.

    Parameters
    ----------
    data : DataFrame, optional
        The TIMSS frame; by default the course's synthetic data.

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

    state = Explorer(load_timss() if data is None else data)
    country = widgets.ToggleButtons(options=COUNTRY_CHOICES, value="Korea", description="Country")
    slopes = {
        term: widgets.Checkbox(value=term == "college", description=f"random slope: {term}")
        for term in SLOPE_TERMS
    }
    method = widgets.ToggleButtons(options=("REML", "ML"), value="REML", description="Method")
    figure_kind = widgets.Dropdown(
        options=("school lines", "slope distribution"), value="school lines", description="Figure"
    )
    tables = widgets.HTML()
    figure = widgets.Output()

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
            return
        tables.value = view.to_html()
        _show_figure(figure, lambda: Image(data=state.figure_png(view, figure_kind.value)))

    for control in (country, method, figure_kind, *slopes.values()):
        control.observe(update, names="value")
    update()
    controls = widgets.VBox(
        [country, widgets.HBox(list(slopes.values())), widgets.HBox([method, figure_kind])]
    )
    return _Panel([controls, tables, figure], "the explorer")


def shrinkage_widget(seed: int | None = 2026) -> Any:
    """Sliders for tau00, sigma2 and school size: OLS school means against shrunken EB estimates.

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
    from .simulation import simulate_school_means

    tau = widgets.FloatSlider(value=0.2, min=0.0, max=1.0, step=0.05, description="τ00")
    sigma2 = widgets.FloatSlider(value=0.5, min=0.05, max=2.0, step=0.05, description="σ²")
    size = widgets.IntSlider(value=10, min=2, max=60, step=1, description="students")
    return _figure_panel(
        [tau, sigma2, size],
        lambda: shrinkage_demo(
            simulate_school_means(tau.value, sigma2.value, school_sizes=size.value, seed=seed)
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
