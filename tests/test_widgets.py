"""The widgets: their plain functions, and callbacks driven by setting control values."""

from __future__ import annotations

import io

import ipywidgets
import matplotlib
import numpy as np
import pytest
from matplotlib.collections import LineCollection

import hlmteach as hlm
from hlmteach import widgets as w

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def timss():
    return hlm.load_timss()


def _fit(timss, country, random, method="REML"):
    return hlm.fit_hlm(
        timss[timss["country"] == country],
        "math ~ college + boy",
        group="school",
        random=random,
        method=method,
        covariance="vc",
    )


def test_view_matches_direct_fits_and_caches(timss):
    explorer = w.Explorer(timss)
    view = explorer.view(w.ExplorerSetting("Both", ("college",), "REML"))
    assert list(view.fits) == ["Korea", "USA"]
    for country, fit in view.fits.items():
        direct = _fit(timss, country, ["college"])
        assert view.intercepts()[country] == pytest.approx(
            direct.fixed.loc["Intercept", "estimate"]
        )
        assert fit.deviance == pytest.approx(direct.deviance)
    again = explorer.view(w.ExplorerSetting("USA", ("college",), "REML"))
    assert again.fits["USA"] is view.fits["USA"], "a setting is fitted once and reused"
    assert list(view.table.columns.get_level_values(0).unique()) == ["Korea", "USA"]


def test_view_tests_against_the_previous_setting(timss):
    explorer = w.Explorer(timss)
    explorer.view(w.ExplorerSetting("USA", ("college",), "REML"))
    view = explorer.view(w.ExplorerSetting("USA", (), "REML"))
    test = view.tests["USA"]
    assert isinstance(test, hlm.inference.LikelihoodRatioTest)
    assert test.mixture and test.df == 1
    expected = _fit(timss, "USA", []).deviance - _fit(timss, "USA", ["college"]).deviance
    assert test.statistic == pytest.approx(expected)
    ml = explorer.view(w.ExplorerSetting("USA", (), "ML"))
    assert "method changed" in ml.tests["USA"]


def test_view_reports_the_boundary_in_plain_words(timss):
    explorer = w.Explorer(timss)
    view = explorer.view(w.ExplorerSetting("USA", ("boy", "college"), "REML"))
    assert any("slopes of boy is estimated at zero" in note for note in view.notes)
    assert "hlmteach-note" in view.to_html()


def test_unknown_setting_is_refused(timss):
    with pytest.raises(hlm.ModelInputError, match="Unknown explorer setting"):
        w.Explorer(timss).view(w.ExplorerSetting("France", ("college",)))


def _controls(panel):
    found = {}

    def walk(widget):
        for child in getattr(widget, "children", ()):
            walk(child)
        if isinstance(widget, (ipywidgets.ToggleButtons, ipywidgets.Checkbox, ipywidgets.Dropdown)):
            found[widget.description] = widget
        if isinstance(widget, ipywidgets.HTML):
            found["tables"] = widget

    walk(panel)
    return found


def test_explorer_callbacks_update_the_tables(timss):
    panel = w.explorer(timss)
    controls = _controls(panel)
    korea = _fit(timss, "Korea", ["college"]).fixed.loc["Intercept", "estimate"]
    usa = _fit(timss, "USA", ["college"]).fixed.loc["Intercept", "estimate"]
    assert f"{korea:.3f}" in controls["tables"].value
    controls["Country"].value = "USA"
    assert f"{usa:.3f}" in controls["tables"].value
    assert f"{korea:.3f}" not in controls["tables"].value
    controls["random slope: boy"].value = True
    assert "estimated at zero" in controls["tables"].value
    controls["Figure"].value = "slope distribution"
    controls["Method"].value = "ML"
    assert "Log Likelihood" in controls["tables"].value
    assert "run this cell in JupyterLab" in repr(panel)


def test_explorer_shows_a_callback_error_and_stays_usable(timss, monkeypatch):
    panel = w.explorer(timss)
    controls = _controls(panel)
    original = w.Explorer.view

    def broken(self, setting):
        if setting.country == "Both":
            raise RuntimeError("simulated failure")
        return original(self, setting)

    monkeypatch.setattr(w.Explorer, "view", broken)
    controls["Country"].value = "Both"
    assert "could not be shown" in controls["tables"].value
    assert "simulated failure" in controls["tables"].value
    controls["Country"].value = "USA"
    assert "could not be shown" not in controls["tables"].value
    assert "USA" in controls["tables"].value


def test_teaching_widgets_redraw_from_their_sliders(monkeypatch):
    drawn = []
    monkeypatch.setattr(w, "_show_figure", lambda out, draw: drawn.append(draw()))
    panel = w.shrinkage_widget(seed=1)
    sliders = {c.description: c for c in panel.children[0].children}
    sliders["τ00"].value = 0.6
    sliders["average students per school"].value = 4
    assert len(drawn) == 3
    assert drawn[-1].axes, "the redrawn figure has axes"
    panel = w.false_positive_widget(seed=1, n_reps=20)
    sliders = {c.description: c for c in panel.children[0].children}
    sliders["ICC"].value = 0.0
    assert len(drawn) == 5


def test_shrinkage_widget_simulates_schools_of_several_sizes(monkeypatch):
    """The slider sets the average size; the schools' sizes, and so their reliabilities, differ."""
    from hlmteach.simulation import school_sizes_around

    drawn = []
    monkeypatch.setattr(w, "_show_figure", lambda out, draw: drawn.append(draw()))
    panel = w.shrinkage_widget(seed=1)
    sliders = {c.description: c for c in panel.children[0].children}
    tau, sigma2 = sliders["τ00"].value, sliders["σ²"].value

    def segments() -> np.ndarray:
        (lines,) = [c for c in drawn[-1].axes[0].collections if isinstance(c, LineCollection)]
        return np.asarray(lines.get_segments()), np.asarray(lines.get_array())

    for average in (4, 19, 60):
        sliders["average students per school"].value = average
        sizes = np.array(school_sizes_around(average))
        expected = np.unique(tau / (tau + sigma2 / sizes))
        np.testing.assert_allclose(np.unique(segments()[1]), expected)
        assert expected.size >= 4, "schools of different sizes, different colours"
    before = segments()[0]
    sliders["τ00"].value = 0.3
    sliders["τ00"].value = tau
    np.testing.assert_array_equal(segments()[0], before)


def test_widget_figures_are_shown_as_png_images():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    image = w._figure_image(fig)
    assert image.data[:4] == b"\x89PNG"
    assert not plt.fignum_exists(fig.number), "the figure is closed once drawn"


# -- the evidence for variances: likelihood ratios, not Wald stars --------------------------------
def test_variances_carry_lr_p_values_not_wald_stars(timss):
    explorer = w.Explorer(timss)
    view = explorer.view(w.ExplorerSetting("Both", ("college", "boy"), "REML"), previous=None)
    for country in ("Korea", "USA"):
        assert (country, "Var p") not in view.table.columns
        for term in ("college", "boy"):
            others = [t for t in ("college", "boy") if t != term]
            expected = hlm.lr_test(
                _fit(timss, country, others), _fit(timss, country, ["college", "boy"])
            )
            test = view.variance_tests[country, term]
            assert test.mixture and test.p_value == pytest.approx(expected.p_value)
            shown = view.table.loc[term, (country, "LR p")]
            assert shown == ("<0.001" if expected.p_value < 0.001 else f"{expected.p_value:.3f}")
        assert view.table.loc["Intercept", (country, "LR p")] == ""
        assert view.table.loc["Residual", (country, "p")] == "", "no test of the residual variance"
    assert "LR p" in view.to_html() and "50:50 mixture" in view.to_html()


def test_an_explicit_previous_setting_leaves_the_widgets_memory_alone(timss):
    explorer = w.Explorer(timss)
    remembered = w.ExplorerSetting("USA", ("boy",), "ML")
    explorer.view(remembered)
    view = explorer.view(w.ExplorerSetting("USA", (), "REML"), previous=w.ExplorerSetting("USA"))
    assert isinstance(view.tests["USA"], hlm.inference.LikelihoodRatioTest)
    assert explorer.previous == remembered
    assert explorer.view(w.ExplorerSetting("USA"), previous=None).tests == {}
    with pytest.raises(hlm.ModelInputError, match="argument previous must be an ExplorerSetting"):
        explorer.view(w.ExplorerSetting("USA"), previous="USA")


def test_a_view_prints_its_numbers_for_a_reader_without_a_kernel(timss):
    view = w.Explorer(timss).view(w.ExplorerSetting("USA", ("college",)), previous=None)
    text = repr(view)
    assert text.startswith("USA, random slopes: college, REML")
    assert f"{view.fits['USA'].tau.loc['college', 'college']:.3f}" in text
    assert "-2 Res Log Likelihood" in text
    assert view._repr_html_() == view.to_html()


# -- the figures: nothing falls back silently, and updating equals drawing afresh -----------------
def _texts(fig):
    return " | ".join(t.get_text() for ax in fig.axes for t in [*ax.texts, ax.title])


def test_slope_distribution_labels_fixed_random_and_zero_variance_slopes(timss):
    explorer = w.Explorer(timss)
    fixed = w.explorer_figure(explorer.view(w.ExplorerSetting("USA", ())), "slope distribution")
    assert len(fixed.axes) == 2, "college and boy, each drawn"
    assert _texts(fixed).count("FIXED slope: all 183 schools") == 2
    both = explorer.view(w.ExplorerSetting("USA", ("college", "boy")))
    text = _texts(w.explorer_figure(both, "slope distribution"))
    usa = both.fits["USA"]
    assert f"√τ = {np.sqrt(usa.tau.loc['college', 'college']):.3f}" in text
    eblup_sd = usa.random_effects["estimate"].xs("college", level="term").std(ddof=1)
    assert f"SD {eblup_sd:.3f}" in text
    assert "variance estimated at 0: all 183 schools" in text
    lines = w.explorer_figure(explorer.view(w.ExplorerSetting("Korea", ())), "school lines")
    assert "parallel lines" in _texts(lines)
    assert len(lines.axes[0].collections[0].get_segments()) == 150


def _pixels(png: bytes):
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


@pytest.mark.parametrize("kind", w.FIGURE_KINDS)
def test_an_updated_figure_equals_one_drawn_afresh(timss, kind):
    """The reused figure keeps nothing of the previous setting (blitting leaves no traces)."""
    target = w.ExplorerSetting("Both", ("college",), "ML")
    fresh = w.Explorer(timss)
    direct = fresh.figure_png(fresh.view(target), kind)
    toggled = w.Explorer(timss)
    for setting in (w.ExplorerSetting("Both", ("boy",)), w.ExplorerSetting("Both", ())):
        toggled.figure_png(toggled.view(setting), kind)
    after = toggled.figure_png(toggled.view(target), kind)
    assert np.array_equal(_pixels(direct), _pixels(after))
    assert not np.array_equal(
        _pixels(after),
        _pixels(toggled.figure_png(toggled.view(w.ExplorerSetting("Both", ())), kind)),
    )


def test_the_widget_shares_an_explorer_and_a_figure_change_keeps_the_test(timss, monkeypatch):
    state = w.Explorer(timss)
    fits = dict(state._fits)
    drawn = []
    monkeypatch.setattr(w, "_show_figure", lambda out, draw: drawn.append(draw()))
    controls = _controls(w.explorer(state))
    assert state._fits == fits, "no model is fitted again"
    controls["random slope: college"].value = False
    assert "against the previous setting" in controls["tables"].value
    controls["Figure"].value = "slope distribution"
    assert "against the previous setting" in controls["tables"].value
    assert len(drawn) == 3
