"""hlmteach.variance_explained against R: performance, the authors' r2mlm, and the formulas.

References (both fixtures record their provenance):

- tests/fixtures/variance_explained_lme4.json, written by tests/reference/variance_explained.R:
  lme4 REML fits at tight tolerances; performance::r2_nakagawa and insight::get_variance;
  Raudenbush-Bryk, Snijders-Bosker and Rights-Sterba measures from the published formulas
  applied to lme4's estimates.
- tests/fixtures/variance_explained_r2mlm.json: r2mlm 0.3.8 (Shaw, Rights, Sterba & Flake),
  the authors' own implementation of Rights & Sterba (2019), run on the same lme4 fits.

Tolerances. Both engines reach the same -2 Res Log L to about 1e-11 (the criterion's own
rounding at ~47000; ours is never higher, checked below), even after the R script restarts
lme4's bobyqa twice. In so flat a region the variances are pinned down only to about 1e-6
relative (up to 8e-7 here, the covariance of a random-slope model being the flattest
direction), so the estimates are compared at 1e-6. Every measure is a ratio of sums of those
estimates and of the data's moments, or a difference of two such ratios (the proportional
reductions), so its absolute error is at most a few times 1e-6 times its size: the measures
are compared at 2e-6 absolute (and 1e-5 relative, for the parts in the outcome's units).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hlmteach as hlm
from hlmteach.variance_explained import (
    VarianceDecomposition,
    nakagawa_r2,
    proportional_reduction,
    rights_sterba,
    snijders_bosker_r2,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
LME4 = json.loads((FIXTURES / "variance_explained_lme4.json").read_text(encoding="utf-8"))
R2MLM = json.loads((FIXTURES / "variance_explained_r2mlm.json").read_text(encoding="utf-8"))
RTOL, ATOL = 1e-5, 2e-6

#: The R models as hlmteach fits: data, formula, random slopes, covariance structure.
SPECS = {
    "hsb_anova": ("hsb", "mathach ~ 1", (), "un"),
    "hsb_meanses": ("hsb", "mathach ~ meanses", (), "un"),
    "hsb_cses": ("hsb", "mathach ~ cses", (), "un"),
    "hsb_ses_meanses": ("hsb", "mathach ~ ses + meanses", (), "un"),
    "hsb_ses_meanses_rs": ("hsb", "mathach ~ ses + meanses", ("ses",), "un"),
    "hsb_cses_meanses_rs": ("hsb", "mathach ~ cses + meanses", ("cses",), "un"),
    "hsb_full": (
        "hsb",
        "mathach ~ meanses + sector + cses + meanses:cses + sector:cses",
        ("cses",),
        "un",
    ),
    "usa_anova_complete": ("usa", "math ~ 1", (), "un"),
    "usa_ri": ("usa", "math ~ college + boy", (), "un"),
    "usa_rc": ("usa", "math ~ college + boy", ("college",), "vc"),
    "usa_rc_un": ("usa", "math ~ college + boy", ("college",), "un"),
}


@cache
def _data(name: str) -> pd.DataFrame:
    if name == "hsb":
        hsb = hlm.load_hsb()
        hsb["cses"] = hsb["ses"] - hsb.groupby("school")["ses"].transform("mean")
        return hsb
    return hlm.load_timss("USA").dropna(subset=["math", "college", "boy"])


@cache
def _fit(name: str):
    data, formula, random, covariance = SPECS[name]
    return hlm.fit_hlm(
        _data(data), formula, group="school", random=list(random), covariance=covariance
    )


def _close(ours, theirs) -> None:
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", sorted(LME4["models"]))
def test_the_fits_agree_with_lme4_first(name):
    """The measures can agree only if the estimates do: check them at 1e-6 relative."""
    ref = LME4["models"][name]
    fit = _fit("usa_rc" if name == "usa_rc_copy" else name)
    assert fit.n_obs == ref["n_obs"] and fit.n_groups == ref["n_groups"]
    np.testing.assert_allclose(fit.fixed["estimate"], list(ref["fixed"].values()), rtol=1e-6)
    tau = np.array([ref["tau"][k] for k in sorted(ref["tau"])], dtype=float)
    # tau01 of the random-slope models lies in the flattest direction of the criterion, so
    # tau is compared on the scale of its largest entry
    scale = float(np.max(np.abs(tau)))
    np.testing.assert_allclose(
        fit.tau.to_numpy(), tau.reshape(fit.tau.shape), rtol=1e-6, atol=1e-6 * scale
    )
    np.testing.assert_allclose(fit.sigma2, ref["sigma2"], rtol=1e-6)
    assert fit.deviance <= ref["reml_deviance"] + 1e-6


NAKAGAWA_MODELS = sorted(set(LME4["models"]) - {"usa_rc", "usa_rc_copy"})


@pytest.mark.parametrize("name", NAKAGAWA_MODELS)
def test_nakagawa_matches_performance(name):
    ref = LME4["models"][name]["nakagawa"]
    ours = nakagawa_r2(_fit(name))
    for key in ("marginal", "conditional", "var_fixed", "var_random", "var_residual"):
        _close(ours[key], ref[key])


def test_nakagawa_counts_an_uncorrelated_slope_as_johnson_does():
    """insight 0.19.0 drops the slope variance of (1 | school) + (0 + college | school);
    with the slope on a copy of the school factor it counts it, and agrees with us."""
    ours = nakagawa_r2(_fit("usa_rc"))
    copy = LME4["models"]["usa_rc_copy"]["nakagawa"]
    same_factor = LME4["models"]["usa_rc"]["nakagawa"]
    for key in ("marginal", "conditional", "var_random"):
        _close(ours[key], copy[key])
    tau = _fit("usa_rc").tau
    assert same_factor["var_random"] == pytest.approx(tau.loc["Intercept", "Intercept"], 1e-6)
    assert ours["conditional"] - same_factor["conditional"] > 0.005


@pytest.mark.parametrize("name", sorted(set(LME4["models"]) - {"usa_rc_copy"}))
def test_rights_sterba_matches_the_published_formulas(name):
    ref = LME4["models"][name]["rights_sterba"]
    ours = rights_sterba(_fit(name))
    assert ours.centred == ref["centred"]
    _close(ours.components[list(ref["components"])], list(ref["components"].values()))
    for column, shares in ref["shares"].items():
        _close(ours.shares[column].dropna()[list(shares)], list(shares.values()))


R2MLM_ROWS = {
    "fixed, within": "f1",
    "fixed, between": "f2",
    "fixed": "f",
    "slope variation": "v",
    "mean variation": "m",
    "sigma2": "sigma2",
}


@pytest.mark.parametrize("name", sorted(R2MLM["models"]))
def test_rights_sterba_matches_r2mlm(name):
    ref = R2MLM["models"][name]
    ours = rights_sterba(_fit(name))
    for column, values in ref["decompositions"].items():
        for row, value in values.items():
            if value is None:  # r2mlm's "NA": not part of that variance
                assert np.isnan(ours.shares.at[R2MLM_ROWS[row], column])
            else:
                _close(ours.shares.at[R2MLM_ROWS[row], column], value)
    for column, values in ref["r2"].items():
        for row, value in values.items():
            if value is None:
                assert np.isnan(ours.r2.at[row, column])
            else:
                _close(ours.r2.at[row, column], value)


@pytest.mark.parametrize("pair", sorted(LME4["pairs"]))
def test_proportional_reduction_and_snijders_bosker_match_the_formulas(pair):
    ref = LME4["pairs"][pair]
    baseline, fitted = _fit(ref["baseline"]), _fit(ref["fitted"])
    prv = proportional_reduction(baseline, fitted)
    _close(prv[list(ref["proportional_reduction"])], list(ref["proportional_reduction"].values()))
    for key, n in (("snijders_bosker_harmonic", None), ("snijders_bosker_mean", "mean")):
        size = None if n is None else baseline.n_obs / baseline.n_groups
        ours = snijders_bosker_r2(baseline, fitted, cluster_size=size)
        for item in ("cluster_size", "R2_1", "R2_2"):
            _close(ours[item], ref[key][item])


def test_marginal_r2_is_the_total_fixed_share_and_conditional_the_fvm_share():
    """Rights & Sterba (2019): Nakagawa's R2 are their R2_t(f) and R2_t(fvm), exactly when
    the moments use one denominator; ours differ by N vs N - 1 only (below 1e-3 here)."""
    for name in ("hsb_cses_meanses_rs", "hsb_ses_meanses_rs", "usa_rc"):
        fit = _fit(name)
        r2 = rights_sterba(fit).r2["total"]
        nk = nakagawa_r2(fit)
        assert nk["marginal"] == pytest.approx(r2["f"], rel=1e-3)
        assert nk["conditional"] == pytest.approx(r2["fvm"], rel=1e-3)


def test_shares_add_up_and_the_figure_stacks_them():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    decomposition = rights_sterba(_fit("hsb_full"))
    np.testing.assert_allclose(decomposition.shares.sum(), 1.0, rtol=1e-12)
    fig = decomposition.plot()
    ax = fig.axes[0]
    tops = {}
    for patch in ax.patches:
        x = round(patch.get_x() + patch.get_width() / 2)
        tops[x] = max(tops.get(x, 0.0), patch.get_y() + patch.get_height())
    assert sorted(tops) == [0, 1, 2]
    np.testing.assert_allclose(list(tops.values()), 1.0, rtol=1e-12)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["total", "within", "between"]
    plt.close(fig)


def test_an_uncentred_model_has_only_the_total_decomposition():
    decomposition = rights_sterba(_fit("usa_rc"))
    assert not decomposition.centred
    assert list(decomposition.shares.columns) == ["total"]
    assert list(decomposition.components.index) == ["f", "v", "m", "sigma2"]
    assert list(decomposition.r2.index) == ["f", "v", "m", "fv", "fvm"]


# -- errors -------------------------------------------------------------------------------


def test_fits_on_different_students_are_refused():
    usa = hlm.load_timss("USA")
    anova_all = hlm.fit_hlm(usa, "math ~ 1", group="school")  # 6944 students, model 6943
    with pytest.raises(hlm.ModelInputError, match=r"different students .* 6944.* 6943"):
        proportional_reduction(anova_all, _fit("usa_ri"))
    with pytest.raises(hlm.ModelInputError, match="different students"):
        snijders_bosker_r2(anova_all, _fit("usa_ri"))


def test_other_mismatches_are_refused():
    hsb = _data("hsb")
    ml = hlm.fit_hlm(hsb, "mathach ~ meanses", group="school", method="ML")
    with pytest.raises(hlm.ModelInputError, match="by REML and the fuller model by ML"):
        proportional_reduction(_fit("hsb_anova"), ml)
    other_outcome = hlm.fit_hlm(hsb, "ses ~ 1", group="school")
    with pytest.raises(hlm.ModelInputError, match="different outcomes"):
        proportional_reduction(other_outcome, _fit("hsb_meanses"))
    with pytest.raises(hlm.ModelInputError, match=r"random slopes .*refit without random="):
        snijders_bosker_r2(_fit("hsb_anova"), _fit("hsb_cses_meanses_rs"))
    with pytest.raises(hlm.ModelInputError, match="compare with the empty model"):
        snijders_bosker_r2(_fit("hsb_meanses"), _fit("hsb_ses_meanses"))
    with pytest.raises(hlm.ModelInputError, match="cluster_size must be a positive"):
        snijders_bosker_r2(_fit("hsb_anova"), _fit("hsb_meanses"), cluster_size=0)


def test_weighted_fits_and_whole_by_sets_are_refused():
    timss = hlm.load_timss()
    weighted = hlm.fit_hlm(
        timss[timss["country"] == "Korea"],
        "math ~ 1",
        group="school",
        method="ML",
        weights="total_weight",
        group_weights="school_weight",
    )
    for function in (nakagawa_r2, rights_sterba):
        with pytest.raises(hlm.ModelInputError, match="survey-weighted"):
            function(weighted)
    by_country = hlm.fit_hlm(timss, "math ~ 1", group="school", by="country")
    with pytest.raises(hlm.ModelInputError, match="pick one, for example fits"):
        nakagawa_r2(by_country)


def test_a_zero_baseline_variance_gives_nan_not_a_division_error():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"school": np.repeat(np.arange(30), 10), "x": rng.normal(size=300)})
    frame["y"] = frame["x"] + rng.normal(size=300)  # no school variation at all
    base = hlm.fit_hlm(frame, "y ~ 1", group="school")
    full = hlm.fit_hlm(frame, "y ~ x", group="school")
    if base.tau.iloc[0, 0] == 0.0:
        assert np.isnan(proportional_reduction(base, full)["Var(Intercept)"])
    else:  # the estimate happened to be positive: the value is then finite
        assert np.isfinite(proportional_reduction(base, full)["Var(Intercept)"])


# -- invariance (hypothesis) ---------------------------------------------------------------


def _simulated(seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    schools = np.repeat(np.arange(25), 12)
    x = rng.normal(size=schools.size) + rng.normal(size=25)[schools]
    w = rng.normal(size=25)[schools]
    u0, u1 = rng.normal(0, 0.7, 25), rng.normal(0, 0.3, 25)
    y = 1 + 0.5 * x + 0.4 * w + u0[schools] + u1[schools] * x + rng.normal(size=schools.size)
    frame = pd.DataFrame({"school": schools, "x": x, "w": w, "y": y})
    frame["xc"] = frame["x"] - frame.groupby("school")["x"].transform("mean")
    frame["xm"] = frame.groupby("school")["x"].transform("mean")
    return frame


SIMULATED = _simulated()


def _all_measures(frame: pd.DataFrame, y: str, xc: str, xm: str, w: str) -> np.ndarray:
    empty = hlm.fit_hlm(frame, f"{y} ~ 1", group="school")
    ri = hlm.fit_hlm(frame, f"{y} ~ {xc} + {xm} + {w}", group="school")
    rs = hlm.fit_hlm(frame, f"{y} ~ {xc} + {xm} + {w}", group="school", random=[xc])
    return np.concatenate(
        [
            proportional_reduction(empty, ri).to_numpy(),
            snijders_bosker_r2(empty, ri)[["R2_1", "R2_2"]].to_numpy(),
            nakagawa_r2(rs)[["marginal", "conditional"]].to_numpy(),
            rights_sterba(rs).shares.to_numpy().ravel(),
        ]
    )


BASE_MEASURES = _all_measures(SIMULATED, "y", "xc", "xm", "w")
SCALES = st.floats(min_value=1e-3, max_value=1e3).map(lambda s: float(np.float32(s)))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(outcome=SCALES, predictor=SCALES, school_level=SCALES, shift=st.floats(-50, 50))
def test_measures_do_not_depend_on_units(outcome, predictor, school_level, shift):
    """R² are ratios of variances: rescaling y, x or w (and shifting y) changes none."""
    frame = SIMULATED.copy()
    frame["y2"] = frame["y"] * outcome + shift
    frame["xc2"] = frame["xc"] * predictor
    frame["xm2"] = frame["xm"] * predictor
    frame["w2"] = frame["w"] * school_level
    measures = _all_measures(frame, "y2", "xc2", "xm2", "w2")
    np.testing.assert_allclose(measures, BASE_MEASURES, rtol=1e-5, atol=1e-8, equal_nan=True)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shift=st.floats(-20, 20))
def test_nakagawa_does_not_depend_on_where_the_random_slope_predictor_is_zero(shift):
    frame = SIMULATED.copy()
    frame["x_shifted"] = frame["x"] + shift
    plain = hlm.fit_hlm(frame, "y ~ x + w", group="school", random=["x"])
    shifted = hlm.fit_hlm(frame, "y ~ x_shifted + w", group="school", random=["x_shifted"])
    np.testing.assert_allclose(
        nakagawa_r2(shifted)[["marginal", "conditional"]],
        nakagawa_r2(plain)[["marginal", "conditional"]],
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        rights_sterba(shifted).components[["f", "sigma2"]],
        rights_sterba(plain).components[["f", "sigma2"]],
        rtol=1e-5,
    )


def test_decomposition_is_plain_data():
    parts = pd.Series({"f1": 1.0, "f2": 1.0, "v": 0.0, "m": 1.0, "sigma2": 1.0})
    d = VarianceDecomposition(parts, centred=True)
    assert d.shares.at["f1", "within"] == pytest.approx(0.5)
    assert d.r2.at["fvm", "total"] == pytest.approx(0.75)
