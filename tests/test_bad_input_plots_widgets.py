"""Bad input to the figures and widgets: a ModelInputError that names the argument, or a figure.

Every refused case asserts the error type (``ModelInputError``) and that the
message names the culprit argument. Degenerate fits (a variance of zero, two
schools, schools of one student) must give a figure without any warning and
without "nan" in its texts.
"""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from frames import false_positive_table

import hlmteach as hlm
from hlmteach import plots
from hlmteach import widgets as w
from hlmteach.simulation import simulate_school_means

ModelInputError = hlm.ModelInputError


# -- fits --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sector_model(hsb: pd.DataFrame) -> hlm.HLMResult:
    return hlm.fit_hlm(hsb, "mathach ~ ses + sector", group="school")


@pytest.fixture(scope="module")
def by_sector(hsb: pd.DataFrame) -> hlm.ByResults:
    return hlm.fit_hlm(hsb, "mathach ~ ses", group="school", by="sector")


@pytest.fixture(scope="module")
def timss() -> pd.DataFrame:
    return hlm.load_timss()


def _simulated(n_schools: int, size: int, tau00: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    school = np.repeat(np.arange(n_schools), size)
    x = rng.normal(size=school.size)
    u = rng.normal(scale=np.sqrt(tau00), size=n_schools)
    y = 1.0 + 0.5 * x + u[school] + rng.normal(size=school.size)
    return pd.DataFrame({"y": y, "x": x, "school": school})


def _zero_variance_frame() -> pd.DataFrame:
    """Every school has exactly the same mean of y: the school variance is truly 0."""
    frame = _simulated(30, 10, 0.0, seed=1)
    frame["y"] = frame["y"] - frame.groupby("school")["y"].transform("mean") + 1.0
    return frame


def _singleton_frame() -> pd.DataFrame:
    """Forty schools of one student and five of ten."""
    small = _simulated(40, 1, 0.5, seed=2)
    large = _simulated(5, 10, 0.5, seed=3).assign(school=lambda d: d["school"] + 100)
    return pd.concat([small, large], ignore_index=True)


_DEGENERATE = {
    "zero variance": (_zero_variance_frame, []),
    "zero variance, random slope": (_zero_variance_frame, ["x"]),
    "two schools": (lambda: _simulated(2, 20, 0.5, seed=4), []),
    "two schools, random slope": (lambda: _simulated(2, 20, 0.5, seed=4), ["x"]),
    "schools of one student": (_singleton_frame, []),
    "schools of one student, random slope": (_singleton_frame, ["x"]),
}


@pytest.fixture(scope="module", params=list(_DEGENERATE))
def degenerate(request) -> hlm.HLMResult:
    make, random = _DEGENERATE[request.param]
    return hlm.fit_hlm(make(), "y ~ x", group="school", random=random)


def test_the_zero_variance_fit_is_truly_at_the_boundary():
    fit = hlm.fit_hlm(_zero_variance_frame(), "y ~ x", group="school")
    assert fit.tau.iloc[0, 0] == 0.0
    assert any("estimated at zero" in note for note in fit.warnings)


def _texts(fig) -> list[str]:
    texts = [fig.get_suptitle()]
    for ax in fig.axes:
        texts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        texts += [t.get_text() for t in ax.texts]
        legend = ax.get_legend()
        if legend is not None:
            texts += [t.get_text() for t in legend.get_texts()]
    return texts


def _draw_without_warnings(draw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = draw()
        fig.canvas.draw()  # layout and rendering warnings too
    assert isinstance(fig, matplotlib.figure.Figure)
    bad = [t for t in _texts(fig) if "nan" in t.lower().split() or "nan" in t.lower()]
    assert not bad, bad
    return fig


_FIGURES_OF_ONE_FIT = {
    "caterpillar": lambda fit, term: plots.caterpillar(fit, term),
    "shrinkage": lambda fit, term: plots.shrinkage(fit, term),
    "coefficient_distribution": lambda fit, term: plots.coefficient_distribution(fit, term),
    "school_lines": lambda fit, term: plots.school_lines(fit, "x"),
    "school_lines others=school": lambda fit, term: plots.school_lines(fit, "x", others="school"),
    "variance_partition": lambda fit, term: plots.variance_partition(fit),
}


@pytest.mark.parametrize("figure", list(_FIGURES_OF_ONE_FIT))
def test_degenerate_fits_give_a_figure_without_warnings(degenerate, figure):
    for term in degenerate.design.random_names:
        _draw_without_warnings(lambda term=term: _FIGURES_OF_ONE_FIT[figure](degenerate, term))
        plt.close("all")


def test_degenerate_fits_side_by_side():
    fits = {
        "zero variance": hlm.fit_hlm(_zero_variance_frame(), "y ~ x", group="school"),
        "two schools": hlm.fit_hlm(_simulated(2, 20, 0.5, seed=4), "y ~ x", group="school"),
    }
    _draw_without_warnings(lambda: plots.variance_partition(fits))
    _draw_without_warnings(lambda: plots.coefficient_distribution(fits, "Intercept"))
    _draw_without_warnings(lambda: plots.school_lines(fits, "x"))


def test_degenerate_simulations_give_a_figure_without_warnings():
    no_school_variance = simulate_school_means(tau00=0.0, sigma2=1.0, n_schools=5)
    _draw_without_warnings(lambda: plots.shrinkage_demo(no_school_variance))
    one_cell = pd.DataFrame(
        {
            "icc": [0.0],
            "school_size": [2],
            "ols_rate": [0.0],
            "ols_mcse": [0.0],
            "hlm_rate": [1.0],
            "hlm_mcse": [0.0],
        }
    )
    _draw_without_warnings(lambda: plots.false_positive_rates(one_cell))


# -- the fit argument ----------------------------------------------------------------------------
_ONE_FIT_FUNCTIONS = {
    "caterpillar": plots.caterpillar,
    "shrinkage": plots.shrinkage,
    "school_ols_coefficients": plots.school_ols_coefficients,
}


def _not_a_fit(kind: str, hsb: pd.DataFrame, by_sector):
    return {
        "OLS fit": lambda: hlm.fit_ols(hsb, "mathach ~ ses"),
        "by= fits": lambda: by_sector,
        "dict of fits": lambda: dict(by_sector),
        "None": lambda: None,
        "data frame": lambda: hsb,
        "text": lambda: "mathach ~ ses",
        "list of fits": lambda: list(by_sector.values()),
    }[kind]()


_NOT_A_FIT = {
    "OLS fit": "fit_hlm",
    "by= fits": r"pick one, for example fits\['USA'\]",
    "dict of fits": r"pick one, for example fits\['USA'\]",
    "None": "NoneType",
    "data frame": "DataFrame",
    "text": "str",
    "list of fits": "list",
}


@pytest.mark.parametrize("function", list(_ONE_FIT_FUNCTIONS))
@pytest.mark.parametrize("kind", list(_NOT_A_FIT))
def test_one_fit_functions_refuse_what_is_not_one_hlm(hsb, by_sector, function, kind):
    value = _not_a_fit(kind, hsb, by_sector)
    with pytest.raises(ModelInputError, match=rf"argument fit .*{_NOT_A_FIT[kind]}"):
        _ONE_FIT_FUNCTIONS[function](value)


def test_a_statsmodels_result_is_refused_with_the_engine_to_use():
    frame = _simulated(20, 10, 0.5, seed=5)
    result = hlm.fit_hlm(frame, "y ~ x", group="school", engine="statsmodels")
    with pytest.raises(ModelInputError, match=r"argument fit .*engine='hlmteach'"):
        plots.caterpillar(result)


def test_a_pooled_result_is_refused_with_the_fit_to_pick():
    frame = _simulated(20, 10, 0.5, seed=6)
    frame["pv2"] = frame["y"] + 0.1
    pooled = hlm.fit_plausible_values(frame, "{pv} ~ x", ["y", "pv2"], group="school")
    with pytest.raises(ModelInputError, match=r"argument fit .*pooled.fits\["):
        plots.shrinkage(pooled)


_MANY_FIT_FUNCTIONS = {
    "coefficient_distribution": lambda fits: plots.coefficient_distribution(fits, "Intercept"),
    "school_lines": lambda fits: plots.school_lines(fits, "ses"),
    "variance_partition": plots.variance_partition,
}


@pytest.mark.parametrize("function", list(_MANY_FIT_FUNCTIONS))
@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("empty dict", r"argument fits is empty"),
        ("OLS by= fits", r"argument fits\['0'\] is an OLS fit"),
        ("nested by= fits", r"argument fits\['all'\] .*pick one"),
        ("list of fits", r"argument fits .*mapping of label to fit"),
        ("None", r"argument fits .*NoneType"),
        ("keys that print the same", r"argument fits has the keys 1 and '1'"),
    ],
)
def test_many_fit_functions_refuse_bad_collections(hsb, by_sector, function, kind, message):
    fits = {
        "empty dict": lambda: {},
        "OLS by= fits": lambda: hlm.fit_ols(hsb, "mathach ~ ses", by="sector"),
        "nested by= fits": lambda: {"all": by_sector},
        "list of fits": lambda: list(by_sector.values()),
        "None": lambda: None,
        "keys that print the same": lambda: {1: by_sector["0"], "1": by_sector["1"]},
    }[kind]()
    with pytest.raises(ModelInputError, match=message):
        _MANY_FIT_FUNCTIONS[function](fits)


# -- term, z, bins, unit ---------------------------------------------------------------------
@pytest.mark.parametrize("function", ["caterpillar", "shrinkage", "coefficient_distribution"])
@pytest.mark.parametrize(
    ("term", "message"),
    [
        ("sector", r"argument term 'sector' has no random effect .*random=\['sector'\]"),
        ("sess", r"Unknown term 'sess'; use one of 'Intercept'"),
        ("intercept", r"Unknown term 'intercept'; use one of 'Intercept'"),
        (5, r"argument term must be the name of one random term, one of \['Intercept'\]"),
        (None, r"argument term must be .*NoneType"),
        (["Intercept"], r"argument term must be .*list"),
        (np.array(["Intercept"]), r"argument term must be .*ndarray"),
    ],
)
def test_terms_are_checked_and_the_random_terms_listed(sector_model, function, term, message):
    with pytest.raises(ModelInputError, match=message):
        getattr(plots, function)(sector_model, term)


def test_an_unknown_term_in_one_of_several_fits(hsb):
    fits = {
        "slope": hlm.fit_hlm(hsb, "mathach ~ ses", group="school", random=["ses"]),
        "no slope": hlm.fit_hlm(hsb, "mathach ~ ses", group="school"),
    }
    with pytest.raises(ModelInputError, match=r"argument term 'ses' has no random effect"):
        plots.coefficient_distribution(fits, "ses")


@pytest.mark.parametrize(
    ("z", "message"),
    [
        (-1.96, "must be positive, not -1.96"),
        (0, "must be positive, not 0"),
        (float("nan"), "must be finite"),
        (float("inf"), "must be finite"),
        ("1.96", "must be a number, not str"),
        (True, "must be a number, not bool"),
        (None, "must be a number, not NoneType"),
    ],
)
def test_caterpillar_z_is_positive(slope_model, z, message):
    with pytest.raises(ModelInputError, match=f"argument z {message}"):
        plots.caterpillar(slope_model, z=z)


def test_caterpillar_title_counts_are_right_for_a_valid_z(slope_model):
    fig = plots.caterpillar(slope_model, z=1.96)
    table = slope_model.random_effects.xs("Intercept", level="term")
    low = table["estimate"] - 1.96 * table["se"]
    high = table["estimate"] + 1.96 * table["se"]
    expected = int(((low > 0) | (high < 0)).sum())
    assert f"({expected} of 160 exclude 0)" in fig.axes[0].get_title()
    assert expected < 160


@pytest.mark.parametrize(
    ("bins", "message"),
    [
        (0, "whole number of at least 1, not 0"),
        (-3, "whole number of at least 1, not -3"),
        (2.5, "whole number of at least 1, not 2.5"),
        ("20", "whole number of at least 1, not '20'"),
        (True, "whole number of at least 1, not True"),
        (10**9, "at most 1000"),
    ],
)
def test_coefficient_distribution_bins(slope_model, bins, message):
    with pytest.raises(ModelInputError, match=f"argument bins must be (a )?{message}"):
        plots.coefficient_distribution(slope_model, "ses", bins=bins)


_UNIT_FUNCTIONS = {
    "caterpillar": lambda fit, unit: plots.caterpillar(fit, unit=unit),
    "shrinkage": lambda fit, unit: plots.shrinkage(fit, unit=unit),
    "coefficient_distribution": lambda fit, unit: plots.coefficient_distribution(
        fit, "ses", unit=unit
    ),
    "school_lines": lambda fit, unit: plots.school_lines(fit, "ses", unit=unit),
    "variance_partition": lambda fit, unit: plots.variance_partition(fit, unit=unit),
    "shrinkage_demo": lambda fit, unit: plots.shrinkage_demo(
        simulate_school_means(0.2, 0.8, n_schools=5), unit=unit
    ),
}


@pytest.mark.parametrize("function", list(_UNIT_FUNCTIONS))
@pytest.mark.parametrize("unit", [5, "", "   ", ["points"]])
def test_unit_must_be_text(slope_model, function, unit):
    with pytest.raises(ModelInputError, match="argument unit must be a non-empty text"):
        _UNIT_FUNCTIONS[function](slope_model, unit)


def test_shrinkage_demo_unit_cannot_be_none():
    with pytest.raises(ModelInputError, match="argument unit must be a non-empty text"):
        plots.shrinkage_demo(simulate_school_means(0.2, 0.8, n_schools=5), unit=None)


# -- school_lines: x and others ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("x", "message"),
    [
        ("sector", r"argument x 'sector' does not vary within any school .*one of \['ses'\]"),
        ("female", r"argument x 'female' is not a predictor column .*\['ses'\]"),
        ("Intercept", r"argument x 'Intercept' is not a predictor column"),
        (3, r"argument x must be the name of one level-1 predictor .*int"),
        (None, r"argument x must be the name .*NoneType"),
        (["ses"], r"argument x must be the name .*list"),
    ],
)
def test_school_lines_x(sector_model, x, message):
    with pytest.raises(ModelInputError, match=message):
        plots.school_lines(sector_model, x)
    assert not plt.get_fignums(), "no half-drawn figure is left behind"


def test_school_lines_name_the_fit_without_x(hsb, slope_model):
    fits = {"with ses": slope_model, "without": hlm.fit_hlm(hsb, "mathach ~ 1", group="school")}
    with pytest.raises(ModelInputError, match=r"argument x 'ses' is not .* of the fit 'without'"):
        plots.school_lines(fits, "ses")


@pytest.mark.parametrize("others", ["median", "MEAN", None, 1, ["mean"]])
def test_school_lines_others(slope_model, others):
    with pytest.raises(ModelInputError, match=r"Unknown others .*'mean', 'school', 'zero'"):
        plots.school_lines(slope_model, "ses", others=others)
    assert not plt.get_fignums(), "no half-drawn figure is left behind"


# -- simulation tables ---------------------------------------------------------------------------
def _bad_rates(kind: str) -> object:
    table = false_positive_table()
    if kind == "list":
        return table.to_dict("records")
    if kind == "no rows":
        return table.iloc[:0]
    if kind == "missing column":
        return table.drop(columns=["hlm_mcse", "icc"])
    if kind == "numbers as text":
        return table.assign(ols_rate=table["ols_rate"].astype(str))
    if kind == "missing value":
        return table.assign(hlm_rate=[0.04, np.nan, 0.05, 0.06])
    if kind == "infinite value":
        return table.assign(ols_mcse=[0.01, np.inf, 0.01, 0.03])
    if kind == "percentages":
        return table.assign(ols_rate=table["ols_rate"] * 100)
    if kind == "negative SE":
        return table.assign(hlm_mcse=-table["hlm_mcse"])
    if kind == "repeated cells":
        return pd.concat([table, table], ignore_index=True)
    if kind == "duplicated column":
        return pd.concat([table, table[["icc"]]], axis=1)
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("list", r"argument results must be a pandas DataFrame"),
        ("no rows", r"argument results has no rows"),
        ("missing column", r"argument results lacks the column\(s\) \['icc', 'hlm_mcse'\]"),
        ("numbers as text", r"results column 'ols_rate' holds numbers stored as text"),
        ("missing value", r"results column 'hlm_rate' has 1 missing"),
        ("infinite value", r"results column 'ols_mcse' contains infinite"),
        ("percentages", r"results column 'ols_rate' must hold shares between 0 and 1"),
        ("negative SE", r"results column 'hlm_mcse' holds negative"),
        ("repeated cells", r"argument results has 8 rows for the same cells"),
        ("duplicated column", r"argument results has duplicated column names \['icc'\]"),
    ],
)
def test_false_positive_rates_table(kind, message):
    with pytest.raises(ModelInputError, match=message):
        plots.false_positive_rates(_bad_rates(kind))


@pytest.mark.parametrize("alpha", [0, 1, 5, -0.05, "0.05", float("nan"), True])
def test_false_positive_rates_alpha(alpha):
    with pytest.raises(ModelInputError, match=r"argument alpha must"):
        plots.false_positive_rates(false_positive_table(), alpha=alpha)


def test_false_positive_rates_alpha_from_the_table_is_checked():
    table = false_positive_table()
    table.attrs["alpha"] = 95
    with pytest.raises(ModelInputError, match=r"argument alpha \(read from results.attrs"):
        plots.false_positive_rates(table)


def _bad_school_means(kind: str) -> object:
    sim = simulate_school_means(0.2, 0.8, n_schools=6)
    if kind == "list":
        return sim.to_numpy().tolist()
    if kind == "no rows":
        return sim.iloc[:0]
    if kind == "missing column":
        return sim.drop(columns="eb")
    if kind == "numbers as text":
        return sim.assign(eb=sim["eb"].astype(str))
    if kind == "missing value":
        return sim.assign(true_mean=np.where(sim["school"] == 2, np.nan, sim["true_mean"]))
    if kind == "reliability above 1":
        return sim.assign(reliability=sim["reliability"] * 10)
    if kind == "two simulations":
        other = simulate_school_means(0.2, 0.8, n_schools=6, gamma00=3.0)
        return pd.concat([sim, other], ignore_index=True)
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("list", r"argument frame must be a pandas DataFrame"),
        ("no rows", r"argument frame has no rows"),
        ("missing column", r"argument frame lacks the column\(s\) \['eb'\]"),
        ("numbers as text", r"frame column 'eb' holds numbers stored as text"),
        ("missing value", r"frame column 'true_mean' has 1 missing"),
        ("reliability above 1", r"frame column 'reliability' must lie between 0 and 1"),
        ("two simulations", r"frame column 'grand_mean' differs between rows"),
    ],
)
def test_shrinkage_demo_table(kind, message):
    with pytest.raises(ModelInputError, match=message):
        plots.shrinkage_demo(_bad_school_means(kind))


# -- widgets ---------------------------------------------------------------------------------
def _bad_explorer_data(kind: str, timss: pd.DataFrame, hsb: pd.DataFrame) -> object:
    if kind == "HSB (no country)":
        return hsb
    if kind == "a list":
        return timss.to_dict("records")
    if kind == "no rows":
        return timss.iloc[:0]
    if kind == "Korea only":
        return timss[timss["country"] == "Korea"]
    if kind == "country codes":
        return timss.assign(country=timss["country"].map({"Korea": 410, "USA": 840}))
    if kind == "no college column":
        return timss.drop(columns="college")
    if kind == "college as text":
        return timss.assign(college=timss["college"].astype(str))
    if kind == "no school column":
        return timss.drop(columns="school")
    raise AssertionError(kind)


_BAD_EXPLORER_DATA = {
    "HSB (no country)": r"explorer \(argument data\) refers to column\(s\) \['country'\]",
    "a list": r"argument data must be a pandas DataFrame",
    "no rows": r"argument data has no rows",
    "Korea only": r"argument data has no rows for \['USA'\] in its column 'country'",
    "country codes": r"argument data has no rows for \['Korea', 'USA'\] .*410",
    "no college column": r"refers to column\(s\) \['college'\]",
    "college as text": r"random-slope column 'college' holds numbers stored as text",
    "no school column": r"explorer \(argument data\) refers to column\(s\) \['school'\]",
}


@pytest.mark.parametrize("entry", ["explorer", "Explorer"])
@pytest.mark.parametrize("kind", list(_BAD_EXPLORER_DATA))
def test_explorer_data_is_checked_before_any_widget(timss, hsb, monkeypatch, entry, kind):
    built = []
    monkeypatch.setattr(w, "_Panel", lambda *args: built.append(args))
    data = _bad_explorer_data(kind, timss, hsb)
    with pytest.raises(ModelInputError, match=_BAD_EXPLORER_DATA[kind]):
        w.explorer(data) if entry == "explorer" else w.Explorer(data)
    assert not built


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("math ~ college + boy + (1 | school)", r"formula .* lme4"),
        ("math ~ college + nosuchcolumn", r"nosuchcolumn"),
        (["math ~ college"], r"formula must be a string"),
    ],
)
def test_explorer_formula_is_checked(timss, formula, message):
    with pytest.raises(ModelInputError, match=message):
        w.Explorer(timss, formula)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"country": "France"}, r"Unknown explorer setting country 'France'"),
        ({"country": "korea"}, r"Unknown explorer setting country 'korea'"),
        ({"country": None}, r"Unknown explorer setting country None"),
        ({"random_slopes": ("female",)}, r"Unknown explorer random_slopes term 'female'"),
        ({"random_slopes": (1,)}, r"argument random_slopes must hold non-empty strings"),
        ({"random_slopes": ("boy", "boy")}, r"argument random_slopes names a term twice"),
        ({"random_slopes": 5}, r"argument random_slopes must be a list"),
        ({"method": "GLS"}, r"Unknown explorer method 'GLS'"),
        ({"method": None}, r"Unknown explorer method None"),
    ],
)
def test_explorer_settings_are_checked(kwargs, message):
    with pytest.raises(ModelInputError, match=message):
        w.ExplorerSetting(**kwargs)


def test_explorer_setting_reads_one_slope_as_one_term_not_its_letters():
    setting = w.ExplorerSetting("USA", "college", "ml")
    assert setting.random_slopes == ("college",)
    assert setting.method == "ML"
    assert w.ExplorerSetting("USA", ("boy", "college")) == w.ExplorerSetting(
        "USA", ("college", "boy")
    )


def test_explorer_methods_check_their_arguments(timss):
    explorer = w.Explorer(timss)
    with pytest.raises(ModelInputError, match=r"Unknown explorer fit country 'Both'"):
        explorer.fit("Both", ("college",), "REML")
    with pytest.raises(ModelInputError, match=r"Unknown explorer method 'OLS'"):
        explorer.fit("USA", ("college",), "OLS")
    with pytest.raises(ModelInputError, match=r"argument setting must be an ExplorerSetting"):
        w.explorer_view(explorer, ("USA", ("college",), "REML"))
    with pytest.raises(ModelInputError, match=r"argument explorer must be an Explorer"):
        w.explorer_view(timss, w.ExplorerSetting())
    view = explorer.view(w.ExplorerSetting("USA", ()))
    with pytest.raises(ModelInputError, match=r"Unknown figure kind 'histogram'"):
        w.explorer_figure(view, "histogram")
    with pytest.raises(ModelInputError, match=r"Unknown figure kind 'histogram'"):
        explorer.figure_png(view, "histogram")
    with pytest.raises(ModelInputError, match=r"argument view must be an ExplorerView"):
        w.explorer_figure(view.fits, "school lines")


@pytest.mark.parametrize("seed", [-1, 1.5, "1", True, [1]])
@pytest.mark.parametrize("widget", ["shrinkage_widget", "false_positive_widget"])
def test_widget_seeds_are_checked(monkeypatch, widget, seed):
    built = []
    monkeypatch.setattr(w, "_figure_panel", lambda *args: built.append(args))
    with pytest.raises(ModelInputError, match=r"argument seed must be a whole number"):
        getattr(w, widget)(seed=seed)
    assert not built


@pytest.mark.parametrize("n_reps", [0, -5, 2.5, "100", None, True])
def test_false_positive_widget_n_reps_is_checked(monkeypatch, n_reps):
    built = []
    monkeypatch.setattr(w, "_figure_panel", lambda *args: built.append(args))
    with pytest.raises(ModelInputError, match=r"argument n_reps must be a whole number"):
        w.false_positive_widget(n_reps=n_reps)
    assert not built


def test_widget_seed_none_is_a_new_draw_each_time(monkeypatch):
    drawn = []
    monkeypatch.setattr(w, "_show_figure", lambda out, draw: drawn.append(draw()))
    w.shrinkage_widget(seed=None)
    assert drawn and drawn[0].axes


def test_widget_sliders_cannot_reach_an_invalid_simulation(monkeypatch):
    """Every corner of the sliders draws a figure, without a warning."""
    drawn = []

    def draw_quietly(out, draw):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            drawn.append(draw())

    monkeypatch.setattr(w, "_show_figure", draw_quietly)
    panel = w.shrinkage_widget(seed=1)
    sliders = {c.description: c for c in panel.children[0].children}
    for name in sliders:
        for value in (sliders[name].min, sliders[name].max):
            sliders[name].value = value
    assert len(drawn) == 7
    panel = w.false_positive_widget(seed=1, n_reps=3)
    sliders = {c.description: c for c in panel.children[0].children}
    sliders["ICC"].value = sliders["ICC"].min
    sliders["school size"].value = sliders["school size"].min
    assert len(drawn) == 10
