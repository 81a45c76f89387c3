"""The widgets: their plain functions, and callbacks driven by setting control values."""

from __future__ import annotations

import ipywidgets
import matplotlib
import pytest

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
    sliders["students"].value = 3
    assert len(drawn) == 3
    assert drawn[-1].axes, "the redrawn figure has axes"
    panel = w.false_positive_widget(seed=1, n_reps=20)
    sliders = {c.description: c for c in panel.children[0].children}
    sliders["ICC"].value = 0.0
    assert len(drawn) == 5
