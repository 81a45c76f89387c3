"""Figures: they build, are labelled, and plot exactly the numbers of the result objects."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from frames import false_positive_table
from matplotlib.collections import LineCollection, PathCollection

import hlmteach as hlm
from hlmteach import plots
from hlmteach.simulation import simulate_school_means


@pytest.fixture(scope="module")
def null_model(hsb: pd.DataFrame) -> hlm.HLMResult:
    return hlm.fit_hlm(hsb, "mathach ~ 1", group="school")


@pytest.fixture(scope="module")
def sector_model(hsb: pd.DataFrame) -> hlm.HLMResult:
    return hlm.fit_hlm(hsb, "mathach ~ ses + sector", group="school", random=["ses"])


@pytest.fixture(scope="module")
def intercept_ses_model(hsb: pd.DataFrame) -> hlm.HLMResult:
    """Random intercepts only, with a fixed level-1 slope that is not in Z."""
    return hlm.fit_hlm(hsb, "mathach ~ ses", group="school")


@pytest.fixture(scope="module")
def by_sector(hsb: pd.DataFrame) -> hlm.ByResults:
    return hlm.fit_hlm(hsb, "mathach ~ 1", group="school", by="sector")


def _labelled(fig) -> None:
    """Every figure has a title and every data axes labelled x and y axes."""
    titles = [fig.get_suptitle()] + [ax.get_title() for ax in fig.axes]
    assert any(t.strip() for t in titles)
    data_axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert any(ax.get_xlabel().strip() for ax in data_axes)
    assert any(ax.get_ylabel().strip() for ax in data_axes)


def _direct_ols(frame: pd.DataFrame, outcome: str, columns: list[str]) -> pd.DataFrame:
    """Per-school OLS of the outcome on an intercept and ``columns``; NaN if rank deficient."""
    rows = {}
    for school, part in frame.groupby("school"):
        Z = np.column_stack([np.ones(len(part)), *[part[c].to_numpy() for c in columns]])
        if np.linalg.matrix_rank(Z) < Z.shape[1]:
            rows[school] = np.full(Z.shape[1], np.nan)
        else:
            rows[school] = np.linalg.lstsq(Z, part[outcome].to_numpy(), rcond=None)[0]
    return pd.DataFrame.from_dict(rows, orient="index", columns=["Intercept", *columns])


# -- school_ols_coefficients ----------------------------------------------------------------------
def test_school_ols_equals_direct_per_school_lstsq(hsb, slope_model):
    ours = plots.school_ols_coefficients(slope_model)
    direct = _direct_ols(hsb, "mathach", ["ses"])
    assert list(ours.columns) == ["Intercept", "ses"]
    assert ours.index.name == "school"
    np.testing.assert_allclose(ours.to_numpy(), direct.loc[ours.index].to_numpy(), rtol=1e-9)


def test_school_ols_is_nan_where_zz_is_singular(small_panel):
    frame = small_panel.copy()
    extra = pd.DataFrame({"y": [0.3, 1.2, -0.4], "x": [0.5, 0.5, 0.5], "school": 99, "w": 0.0})
    lonely = pd.DataFrame({"y": [2.0], "x": [1.0], "school": 98, "w": 0.0})
    frame = pd.concat([frame, extra, lonely], ignore_index=True)
    fit = hlm.fit_hlm(frame, "y ~ x", group="school", random=["x"])
    ours = plots.school_ols_coefficients(fit)
    assert ours.loc[[98, 99]].isna().all().all()
    assert ours.drop(index=[98, 99]).notna().all().all()
    # The same schools have no reliability, as HLM 8 excludes them.
    assert fit.school_reliability.loc[[98, 99]].isna().all().all()
    direct = _direct_ols(frame, "y", ["x"])
    np.testing.assert_allclose(ours.to_numpy(), direct.loc[ours.index].to_numpy(), rtol=1e-9)


# -- caterpillar ----------------------------------------------------------------------------------
@pytest.mark.parametrize("term", ["Intercept", "ses"])
def test_caterpillar_plots_sorted_eblups_and_their_bars(slope_model, term):
    fig = plots.caterpillar(slope_model, term)
    _labelled(fig)
    ax = fig.axes[0]
    table = slope_model.random_effects.xs(term, level="term")
    (points,) = [line for line in ax.lines if line.get_label() == "EBLUP"]
    np.testing.assert_allclose(points.get_ydata(), np.sort(table["estimate"].to_numpy()))
    order = np.argsort(table["estimate"].to_numpy(), kind="stable")
    bars = next(c for c in ax.collections if isinstance(c, LineCollection))
    lengths = np.array([seg[1, 1] - seg[0, 1] for seg in bars.get_segments()])
    np.testing.assert_allclose(np.abs(lengths), 2 * 1.96 * table["se"].to_numpy()[order])
    assert "HSB score points" in ax.get_ylabel()
    assert any(np.allclose(line.get_ydata(), 0.0) for line in ax.lines if line is not points)


def test_unit_is_taken_from_the_outcome_or_the_argument(small_panel):
    frame = small_panel.rename(columns={"y": "math"})
    fit = hlm.fit_hlm(frame, "math ~ x", group="school")
    assert "z-score" in plots.caterpillar(fit).axes[0].get_ylabel()
    fig = plots.caterpillar(fit, unit="TIMSS scale points")
    assert "TIMSS scale points" in fig.axes[0].get_ylabel()


def test_terms_without_a_random_effect_are_refused(sector_model):
    with pytest.raises(hlm.ModelInputError, match="random"):
        plots.caterpillar(sector_model, "sector")
    with pytest.raises(hlm.ModelInputError, match="fit_hlm"):
        plots.caterpillar(hlm.fit_ols(hlm.load_hsb(), "mathach ~ ses"))


# -- coefficient_distribution ---------------------------------------------------------------------
def test_coefficient_distribution_one_column_per_group(by_sector):
    fig = plots.coefficient_distribution(by_sector, "Intercept")
    _labelled(fig)
    assert len(fig.axes) == 4
    assert "EBLUP" in fig.get_suptitle()
    hist_axes = [ax for ax in fig.axes if ax.get_xlabel()]
    assert len(hist_axes) == 2
    assert hist_axes[0].get_shared_x_axes().joined(hist_axes[0], hist_axes[1])
    for ax, (name, fit) in zip(hist_axes, by_sector.items(), strict=True):
        eblups = fit.random_effects["estimate"].xs("Intercept", level="term").to_numpy()
        heights = [patch.get_height() for patch in ax.patches]
        assert sum(heights) == fit.n_groups == eblups.size
        note = " ".join(t.get_text() for t in ax.texts)
        assert f"SD = {eblups.std(ddof=1):.3g}" in note
        q1, q3 = np.percentile(eblups, [25, 75], method="averaged_inverted_cdf")
        assert f"IQR = {q3 - q1:.3g}" in note
        assert any(name in ax_top.get_title() for ax_top in fig.axes)


def test_coefficient_distribution_takes_a_single_fit_and_a_slope(slope_model):
    fig = plots.coefficient_distribution(slope_model, "ses", bins=15)
    assert len(fig.axes) == 2
    hist = fig.axes[1]
    assert len(hist.patches) == 15
    assert "per unit of ses" in hist.get_xlabel()


# -- shrinkage ------------------------------------------------------------------------------------
def _scatter_points(ax) -> np.ndarray:
    (points,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    return points


def test_shrinkage_plots_ols_against_school_coefficients(hsb, null_model):
    fig = plots.shrinkage(null_model)
    _labelled(fig)
    ax = fig.axes[0]
    points = _scatter_points(ax)
    xy = points.get_offsets()
    school_means = hsb.groupby("school")["mathach"].mean()
    np.testing.assert_allclose(xy[:, 0], school_means.loc[null_model.design.group_labels])
    np.testing.assert_allclose(xy[:, 1], null_model.school_coefficients()["Intercept"])
    np.testing.assert_allclose(points.get_array(), null_model.school_reliability["Intercept"])
    gamma = null_model.fixed.loc["Intercept", "estimate"]
    assert any(np.allclose(line.get_ydata(), gamma) for line in ax.lines)


def test_shrinkage_colours_span_the_schools_reliabilities(null_model):
    """The colour scale runs over the reliabilities shown, not 0 to 1 (review B14, A5)."""
    reliability = null_model.school_reliability["Intercept"]
    points = _scatter_points(plots.shrinkage(null_model).axes[0])
    assert points.get_clim() == pytest.approx((reliability.min(), reliability.max()))


def test_shrinkage_draws_into_a_given_panel(null_model):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2)
    returned = plots.shrinkage(null_model, ax=axes[1])
    assert returned is fig
    assert not axes[0].collections and _scatter_points(axes[1]).get_offsets().shape[0] == 160
    plt.close(fig)


def test_shrinkage_pulls_each_school_by_its_reliability(intercept_ses_model):
    # Random intercepts with a fixed ses slope: the OLS intercept of y - gamma_ses * ses is
    # pulled toward gamma00 by the school's reliability: EB - g00 = lambda * (OLS - g00).
    fig = plots.shrinkage(intercept_ses_model)
    ax = fig.axes[0]
    points = _scatter_points(ax)
    ols, eb = points.get_offsets().T
    assert not [line for line in ax.lines if line.get_marker() == "x"]  # one prior for all
    prior = intercept_ses_model.fixed.loc["Intercept", "estimate"]
    reliability = intercept_ses_model.school_reliability["Intercept"].to_numpy()
    np.testing.assert_allclose(eb - prior, reliability * (ols - prior), rtol=1e-7, atol=1e-9)


def test_shrinkage_of_a_slope_leaves_out_singular_schools(small_panel):
    frame = pd.concat(
        [small_panel, pd.DataFrame({"y": [0.1, 0.9], "x": 0.2, "school": 99, "w": 0.0})],
        ignore_index=True,
    )
    fit = hlm.fit_hlm(frame, "y ~ x", group="school", random=["x"])
    fig = plots.shrinkage(fit, "x")
    points = _scatter_points(fig.axes[0])
    assert points.get_offsets().shape[0] == fit.n_groups - 1
    assert "left out" in fig.axes[0].get_title()
    eb = fit.school_coefficients()["x"].drop(index=99).to_numpy()
    np.testing.assert_allclose(points.get_offsets()[:, 1], eb)


# -- school_lines ---------------------------------------------------------------------------------
def _school_ranges(hsb: pd.DataFrame, fit: hlm.HLMResult) -> tuple[np.ndarray, np.ndarray]:
    ranges = hsb.groupby("school")["ses"].agg(["min", "max"]).loc[fit.design.group_labels]
    return ranges["min"].to_numpy(), ranges["max"].to_numpy()


def test_school_lines_follow_the_school_coefficients(hsb, slope_model):
    fig = plots.school_lines(slope_model, "ses")
    _labelled(fig)
    ax = fig.axes[0]
    (lines,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    segments = np.array(lines.get_segments())
    assert segments.shape == (slope_model.n_groups, 2, 2)
    low, high = _school_ranges(hsb, slope_model)
    np.testing.assert_allclose(segments[:, 0, 0], low)
    np.testing.assert_allclose(segments[:, 1, 0], high)
    coefs = slope_model.school_coefficients()
    np.testing.assert_allclose(segments[:, 0, 1], coefs["Intercept"] + coefs["ses"] * low)
    np.testing.assert_allclose(segments[:, 1, 1], coefs["Intercept"] + coefs["ses"] * high)
    (bold,) = ax.lines
    gamma = slope_model.fixed["estimate"]
    x = np.asarray(bold.get_xdata())
    np.testing.assert_allclose(x, [hsb["ses"].min(), hsb["ses"].max()])
    np.testing.assert_allclose(bold.get_ydata(), gamma["Intercept"] + gamma["ses"] * x)


@pytest.mark.parametrize("others", ["zero", "mean", "school"])
def test_school_lines_hold_other_predictors_as_documented(hsb, sector_model, others):
    fig = plots.school_lines(sector_model, "ses", others=others)
    (lines,) = [c for c in fig.axes[0].collections if isinstance(c, LineCollection)]
    segments = np.array(lines.get_segments())
    coefs = sector_model.school_coefficients()
    sector = hsb.groupby("school")["sector"].first().loc[sector_model.design.group_labels]
    held = {"zero": 0.0, "mean": hsb["sector"].mean(), "school": sector.to_numpy()}[others]
    low, _ = _school_ranges(hsb, sector_model)
    expected = coefs["Intercept"] + coefs["sector"] * held + coefs["ses"] * low
    np.testing.assert_allclose(segments[:, 0, 1], expected)
    assert {"zero": "at 0", "mean": "means", "school": "own means"}[others] in fig.get_suptitle()


def test_school_lines_of_a_random_intercept_model_are_parallel(intercept_ses_model):
    fig = plots.school_lines(intercept_ses_model, "ses")
    (lines,) = [c for c in fig.axes[0].collections if isinstance(c, LineCollection)]
    segments = np.array(lines.get_segments())
    slopes = (segments[:, 1, 1] - segments[:, 0, 1]) / (segments[:, 1, 0] - segments[:, 0, 0])
    np.testing.assert_allclose(slopes, intercept_ses_model.fixed.loc["ses", "estimate"])


def test_school_lines_handle_a_cross_level_interaction(hsb):
    fit = hlm.fit_hlm(hsb, "mathach ~ ses * sector", group="school", random=["ses"])
    fig = plots.school_lines(fit, "ses", others="school")
    (lines,) = [c for c in fig.axes[0].collections if isinstance(c, LineCollection)]
    segments = np.array(lines.get_segments())
    slopes = (segments[:, 1, 1] - segments[:, 0, 1]) / (segments[:, 1, 0] - segments[:, 0, 0])
    coefs = fit.school_coefficients()
    sector = hsb.groupby("school")["sector"].first().loc[fit.design.group_labels].to_numpy()
    np.testing.assert_allclose(slopes, coefs["ses"] + coefs["ses:sector"] * sector, rtol=1e-6)


def test_school_lines_of_several_fits_share_the_y_axis(hsb):
    fits = hlm.fit_hlm(hsb, "mathach ~ ses", group="school", random=["ses"], by="sector")
    fig = plots.school_lines(fits, "ses")
    assert [ax.get_title() for ax in fig.axes] == list(fits)
    assert fig.axes[0].get_shared_y_axes().joined(fig.axes[0], fig.axes[1])
    for ax, fit in zip(fig.axes, fits.values(), strict=True):
        (lines,) = [c for c in ax.collections if isinstance(c, LineCollection)]
        assert len(lines.get_segments()) == fit.n_groups


def test_school_lines_refuse_school_level_and_unknown_predictors(sector_model):
    with pytest.raises(hlm.ModelInputError, match="school-level"):
        plots.school_lines(sector_model, "sector")
    with pytest.raises(hlm.ModelInputError, match="not a predictor"):
        plots.school_lines(sector_model, "female")
    with pytest.raises(hlm.ModelInputError, match="others"):
        plots.school_lines(sector_model, "ses", others="median")


# -- variance_partition ---------------------------------------------------------------------------
def test_variance_partition_stacks_tau_and_sigma2(by_sector):
    fig = plots.variance_partition(by_sector)
    _labelled(fig)
    ax = fig.axes[0]
    heights = [patch.get_height() for patch in ax.patches]
    tau00 = [fit.tau.iloc[0, 0] for fit in by_sector.values()]
    sigma2 = [fit.sigma2 for fit in by_sector.values()]
    np.testing.assert_allclose(heights, tau00 + sigma2)
    bottoms = [patch.get_y() for patch in ax.patches]
    np.testing.assert_allclose(bottoms, [0.0, 0.0, *tau00])
    texts = [t.get_text() for t in ax.texts]
    for fit in by_sector.values():
        assert f"ICC = {fit.icc:.3f}" in texts
    assert ax.get_xlabel() == "sector"
    assert "squared" in ax.get_ylabel()


# -- simulation figures ---------------------------------------------------------------------------
def test_false_positive_rates_plot_the_table():
    table = false_positive_table()
    fig = plots.false_positive_rates(table)
    _labelled(fig)
    assert len(fig.axes) == 2
    for ax, m in zip(fig.axes, [5, 50], strict=True):
        part = table[table["school_size"] == m]
        rates = {c.get_label()[:3]: c.lines[0].get_ydata() for c in ax.containers}
        np.testing.assert_allclose(rates["OLS"], part["ols_rate"])
        np.testing.assert_allclose(rates["HLM"], part["hlm_rate"])
        dashed = [line for line in ax.lines if line.get_linestyle() == "--"]
        np.testing.assert_allclose(dashed[0].get_ydata(), [0.05, 0.05])
        assert str(m) in ax.get_title()
    with pytest.raises(hlm.ModelInputError, match="simulate_false_positives"):
        plots.false_positive_rates(table.drop(columns="hlm_mcse"))


def test_shrinkage_demo_joins_observed_means_to_eb():
    sim = simulate_school_means(tau00=0.1, sigma2=0.9, n_schools=12, seed=3)
    fig = plots.shrinkage_demo(sim)
    _labelled(fig)
    ax = fig.axes[0]
    (lines,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    segments = np.array(lines.get_segments())
    np.testing.assert_allclose(segments[:, 0, 0], sim["observed_mean"])
    np.testing.assert_allclose(segments[:, 1, 0], sim["eb"])
    np.testing.assert_allclose(lines.get_array(), sim["reliability"])
    mse_eb = np.mean((sim["eb"] - sim["true_mean"]) ** 2)
    assert f"EB {mse_eb:.3g}" in ax.get_title()
    (truth,) = [c for c in ax.collections if c.get_label() == "true mean"]
    np.testing.assert_allclose(truth.get_offsets()[:, 0], sim["true_mean"])
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == "true mean"


def test_shrinkage_demo_names_the_school_sizes_on_the_colour_bar():
    sim = simulate_school_means(0.05, 0.9, n_schools=30, school_sizes=(5, 10, 19, 30, 45), seed=1)
    fig = plots.shrinkage_demo(sim)
    (colorbar_ax,) = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    (side,) = colorbar_ax.child_axes
    labels = [t.get_text() for t in side.get_yticklabels()]
    assert labels == ["5", "10", "19", "30", "45"]
    by_size = sim.groupby("n")["reliability"].first()
    np.testing.assert_allclose(side.get_yticks(), by_size.to_numpy())
    assert "students" in side.get_ylabel()


def test_shrinkage_demo_merges_sizes_of_equal_reliability():
    """With tau00 = 0 every reliability is 0: one label, a range, instead of five on top."""
    sim = simulate_school_means(0.0, 0.9, n_schools=10, school_sizes=(3, 5, 10, 13, 20), seed=1)
    (colorbar_ax,) = [ax for ax in plots.shrinkage_demo(sim).axes if ax.get_label() == "<colorbar>"]
    (side,) = colorbar_ax.child_axes
    assert [t.get_text() for t in side.get_yticklabels()] == ["3–20"]


def test_plots_module_is_not_imported_by_the_package():
    import subprocess
    import sys

    code = "import sys, hlmteach; sys.exit('matplotlib' in sys.modules or 'seaborn' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_school_ols_removes_fixed_level1_predictors(hsb):
    """With a fixed-only level-1 predictor, a school's OLS intercept is that of
    y - gamma_female * female, and the fixed-part coefficient is gamma00 for every school."""
    fit = hlm.fit_hlm(hsb, "mathach ~ female", group="school")
    ols = plots.school_ols_coefficients(fit)
    gamma = fit.fixed["estimate"]
    adjusted = (hsb["mathach"] - gamma["female"] * hsb["female"]).groupby(hsb["school"]).mean()
    np.testing.assert_allclose(ols["Intercept"], adjusted.loc[ols.index], rtol=1e-10)
    fixed_part = plots._fixed_part_coefficients(fit)
    np.testing.assert_allclose(fixed_part["Intercept"], gamma["Intercept"], rtol=1e-10)
