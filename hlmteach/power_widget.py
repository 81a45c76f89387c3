"""The power widget of notebook 17: sliders for J, n, the ICC and the effect size.

:func:`power_view` computes everything the widget shows (closed form, so a slider move
takes a few milliseconds) and :class:`PowerView` renders it as HTML with an SVG power
curve, drawn here rather than by matplotlib so that it is fast and its markup is the
same on every machine. :func:`power_widget` only adds the controls and the wiring.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .power import (
    CURVE_OVER,
    cluster_trial_power,
    effective_sample_size,
    minimum_detectable_effect,
    power_curve,
    schools_needed,
)
from .validation import ModelInputError, require_choice

__all__ = ["PowerView", "power_view", "power_widget"]

#: The toggle's labels for what the power curve runs over.
CURVE_LABELS = {"n_schools": "number of schools (J)", "school_size": "students per school (n)"}

_WIDTH, _HEIGHT, _MARGIN = 460, 250, 44


@dataclass(frozen=True)
class PowerView:
    """What the power widget shows for one setting of its sliders."""

    effect_size: float
    n_schools: int
    school_size: int
    icc: float
    over: str
    power: float
    mdes: float
    design_effect: float
    effective_n: float
    schools_for_80: int | None
    curve: pd.DataFrame

    def summary(self) -> str:
        """The numbers in one plain-text paragraph."""
        needed = (
            f"{self.schools_for_80} schools of {self.school_size} reach power 0.80"
            if self.schools_for_80 is not None
            else "no number of schools up to 2000 reaches power 0.80"
        )
        return (
            f"J = {self.n_schools} schools x n = {self.school_size} students, ICC = "
            f"{self.icc:.2f}, effect size = {self.effect_size:.2f}: power = {self.power:.3f}. "
            f"Design effect {self.design_effect:.2f}, so the {self.n_schools * self.school_size} "
            f"students are worth {self.effective_n:.0f} independent ones. Minimum detectable "
            f"effect (power 0.80) = {self.mdes:.3f}; {needed}."
        )

    def __repr__(self) -> str:
        return self.summary()

    def to_html(self) -> str:
        """The summary and the power curve (inline SVG) as one HTML block."""
        return (
            "<div class='hlmteach-power'>"
            f"<p style='font-size:1.1em'><b>Power = {self.power:.3f}</b></p>"
            f"<p>{html.escape(self.summary())}</p>"
            f"{self._svg()}</div>"
        )

    def _repr_html_(self) -> str:
        return self.to_html()

    def _svg(self) -> str:
        x_all = self.curve[self.over].to_numpy(dtype=float)
        x_lo, x_hi = float(x_all.min()), float(x_all.max())
        plot_w, plot_h = _WIDTH - 2 * _MARGIN, _HEIGHT - 2 * _MARGIN

        def sx(x: float) -> float:
            return _MARGIN + (x - x_lo) / (x_hi - x_lo) * plot_w

        def sy(p: float) -> float:
            return _HEIGHT - _MARGIN - p * plot_h

        points = " ".join(
            f"{sx(x):.1f},{sy(p):.1f}" for x, p in zip(x_all, self.curve["power"], strict=True)
        )
        current = self.n_schools if self.over == "n_schools" else self.school_size
        parts = [
            f"<svg xmlns='http://www.w3.org/2000/svg' width='{_WIDTH}' height='{_HEIGHT}' "
            "role='img' aria-label='power curve' style='font-family:sans-serif;font-size:11px'>",
            f"<rect x='{_MARGIN}' y='{_MARGIN}' width='{plot_w}' height='{plot_h}' "
            "fill='none' stroke='#999'/>",
        ]
        for p in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
            parts.append(
                f"<text x='{_MARGIN - 6}' y='{sy(p) + 4:.1f}' text-anchor='end'>{p:.1f}</text>"
            )
        for x in (x_lo, (x_lo + x_hi) / 2, x_hi):
            parts.append(
                f"<text x='{sx(x):.1f}' y='{_HEIGHT - _MARGIN + 15}' text-anchor='middle'>"
                f"{x:.0f}</text>"
            )
        parts.append(
            f"<line x1='{_MARGIN}' x2='{_WIDTH - _MARGIN}' y1='{sy(0.8):.1f}' y2='{sy(0.8):.1f}' "
            "stroke='#888' stroke-dasharray='4 3'/>"
        )
        if "ceiling" in self.curve:
            ceiling = float(self.curve["ceiling"].iloc[0])
            label_y = sy(ceiling) + (14 if ceiling > 0.9 else -4)  # below the line near the top
            parts.append(
                f"<line x1='{_MARGIN}' x2='{_WIDTH - _MARGIN}' y1='{sy(ceiling):.1f}' "
                f"y2='{sy(ceiling):.1f}' stroke='#d95f02' stroke-dasharray='2 2'/>"
                f"<text x='{_WIDTH - _MARGIN - 4}' y='{label_y:.1f}' text-anchor='end' "
                f"fill='#d95f02'>ceiling as n grows: {ceiling:.3f}</text>"
            )
        parts.append(f"<polyline points='{points}' fill='none' stroke='#1b9e77' stroke-width='2'/>")
        if x_lo <= current <= x_hi:
            parts.append(
                f"<circle cx='{sx(current):.1f}' cy='{sy(self.power):.1f}' r='4' fill='#7570b3'/>"
            )
        parts.append(
            f"<text x='{_WIDTH / 2}' y='{_HEIGHT - 8}' text-anchor='middle'>"
            f"{html.escape(CURVE_LABELS[self.over])}</text>"
            f"<text x='12' y='{_HEIGHT / 2}' text-anchor='middle' "
            f"transform='rotate(-90 12 {_HEIGHT / 2})'>power</text>"
            f"<text x='{_WIDTH / 2}' y='{_MARGIN - 16}' text-anchor='middle'>dashed grey: power "
            "0.80; dot: the design chosen</text></svg>"
        )
        return "".join(parts)


def power_view(
    effect_size: float = 0.3,
    n_schools: int = 40,
    school_size: int = 20,
    icc: float = 0.1,
    over: str = "n_schools",
) -> PowerView:
    """Everything the power widget shows for one setting (closed form, a few milliseconds).

    Parameters
    ----------
    effect_size, n_schools, school_size, icc
        As for :func:`hlmteach.power.cluster_trial_power` (two-sided alpha 0.05).
    over : {"n_schools", "school_size"}
        What the power curve runs over.

    Returns
    -------
    PowerView

    Examples
    --------
    >>> view = power_view(0.3, 40, 20, 0.1)
    >>> round(view.power, 3), round(view.mdes, 3), view.schools_for_80
    (0.68, 0.346, 54)
    >>> power_view(over="icc")
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: Unknown power curve over 'icc'; use one of
    'n_schools', 'school_size'.
    """
    over = require_choice(over, CURVE_OVER, "power curve over")
    power = cluster_trial_power(effect_size, n_schools, school_size, icc)
    try:
        needed: int | None = schools_needed(effect_size, school_size, icc, max_schools=2000)
    except ModelInputError:  # too small an effect for any number of schools searched
        needed = None
    effective = effective_sample_size(n_schools, school_size, icc)
    return PowerView(
        effect_size=float(effect_size),
        n_schools=int(n_schools),
        school_size=int(school_size),
        icc=float(icc),
        over=over,
        power=power,
        mdes=minimum_detectable_effect(n_schools, school_size, icc),
        design_effect=n_schools * school_size / effective,
        effective_n=effective,
        schools_for_80=needed,
        curve=power_curve(effect_size, n_schools, school_size, icc, over=over),
    )


def power_widget(
    effect_size: float = 0.3, n_schools: int = 40, school_size: int = 20, icc: float = 0.1
) -> Any:
    """Sliders for J, n, the ICC and the effect size; the power and a power curve update.

    Parameters
    ----------
    effect_size, n_schools, school_size, icc
        The sliders' starting values.

    Returns
    -------
    ipywidgets.VBox
        Display it in a notebook cell.

    Examples
    --------
    >>> power_widget()  # doctest: +SKIP
    [Interactive: run this cell in JupyterLab to use the power widget.]
    >>> power_widget(n_schools=41)
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: The argument n_schools must be even (a balanced trial
    puts half the schools in each arm), not 41; use 42 or 40.
    """
    import ipywidgets as widgets

    from .widgets import _error_html, _Panel

    first = power_view(effect_size, n_schools, school_size, icc)  # checks the arguments
    sliders = {
        "n_schools": widgets.IntSlider(
            value=first.n_schools, min=4, max=200, step=2, description="schools J"
        ),
        "school_size": widgets.IntSlider(
            value=first.school_size, min=1, max=100, step=1, description="students n"
        ),
        "icc": widgets.FloatSlider(
            value=first.icc, min=0.0, max=0.5, step=0.01, description="ICC ρ"
        ),
        "effect_size": widgets.FloatSlider(
            value=first.effect_size, min=0.05, max=1.0, step=0.05, description="effect δ"
        ),
    }
    over = widgets.ToggleButtons(
        options=[(label, key) for key, label in CURVE_LABELS.items()],
        value="n_schools",
        description="curve over",
        style={"button_width": "190px"},
    )
    shown = widgets.HTML(first.to_html())

    def update(_: object = None) -> None:
        try:
            view = power_view(**{k: s.value for k, s in sliders.items()}, over=over.value)
        except Exception as error:  # shown in the widget, which stays usable
            shown.value = _error_html(error)
            return
        shown.value = view.to_html()

    for control in (*sliders.values(), over):
        control.observe(update, names="value")
    controls = widgets.VBox(
        [
            widgets.HBox([sliders["n_schools"], sliders["school_size"]]),
            widgets.HBox([sliders["icc"], sliders["effect_size"]]),
            over,
        ]
    )
    return _Panel([controls, shown], "the power widget")
