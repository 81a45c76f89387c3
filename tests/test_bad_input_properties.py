"""Random small and degenerate data: only a ModelInputError or a valid result, never anything else.

Hypothesis builds data frames with 1-6 schools of 1-6 students, outcomes that
may be constant, missing or huge, predictors that may be constant, school-level,
missing or numbers stored as text, and school ids of mixed kinds. Every public
entry point must answer each with a clear ModelInputError or a result whose
numbers are finite where they are defined. Nothing may warn, and the caller's
frame is never changed.
"""

from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hlmteach as hlm
from hlmteach.validation import ModelInputError

matplotlib.use("Agg")

SETTINGS = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,  # the same examples on every run: a failure is reproducible
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_VALUES = st.one_of(
    st.floats(-5, 5, allow_nan=False),
    st.sampled_from([0.0, 1.0, 1e6, -1e-6, np.nan]),
)


@st.composite
def frames(draw) -> pd.DataFrame:
    """A small two-level data set, sometimes degenerate in one or more ways."""
    sizes = draw(st.lists(st.integers(1, 6), min_size=1, max_size=6))
    n = sum(sizes)
    school = np.repeat(np.arange(len(sizes)), sizes)
    y = np.array(draw(st.lists(_VALUES, min_size=n, max_size=n)), dtype=float)
    kind = draw(st.sampled_from(["student", "constant", "school", "nan", "text", "collinear"]))
    x = np.array(draw(st.lists(_VALUES, min_size=n, max_size=n)), dtype=float)
    if kind == "constant":
        x = np.ones(n)
    elif kind == "school":
        x = school * 0.5
    frame = pd.DataFrame({"y": y, "x": x, "school": school})
    if kind == "collinear":
        frame["z"] = 2.0 * frame["x"] + 1.0
    else:
        frame["z"] = draw(st.lists(st.floats(-3, 3), min_size=n, max_size=n))
    if kind == "nan":
        frame.loc[frame.index[::2], "x"] = np.nan
    if kind == "text":
        frame["x"] = frame["x"].astype(str)
    ids = draw(st.sampled_from(["int", "str", "mixed", "float"]))
    if ids == "str":
        frame["school"] = "s" + frame["school"].astype(str)
    elif ids == "mixed":
        frame["school"] = frame["school"].astype(object).where(school % 2 == 0, school.astype(str))
    elif ids == "float":
        frame["school"] = frame["school"] + 0.5
    return frame


def _valid_hlm(fit: hlm.HLMResult) -> None:
    assert np.isfinite(fit.deviance)
    assert np.all(np.isfinite(fit.fixed["estimate"]))
    assert fit.sigma2 > 0
    assert np.all(np.linalg.eigvalsh(fit.tau.to_numpy()) >= -1e-8 * fit.sigma2)
    str(fit)
    fit._repr_html_()


def _quietly(call):
    """Run ``call`` with every warning an error; return its result or the ModelInputError."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return call()
        except ModelInputError as error:
            assert str(error).strip()
            return error


@SETTINGS
@given(
    data=frames(),
    random=st.sampled_from([[], ["x"]]),
    method=st.sampled_from(["REML", "ML"]),
    covariance=st.sampled_from(["un", "vc"]),
)
def test_fit_hlm_answers_or_refuses_clearly(data, random, method, covariance):
    before = data.copy()
    result = _quietly(
        lambda: hlm.fit_hlm(
            data, "y ~ x", group="school", random=random, method=method, covariance=covariance
        )
    )
    pd.testing.assert_frame_equal(data, before)
    if not isinstance(result, ModelInputError):
        _valid_hlm(result)
        complete = data[["y", "x", "school"]].notna().all(axis=1)
        assert result.n_dropped == int((~complete).sum())


@SETTINGS
@given(data=frames())
def test_fit_ols_answers_or_refuses_clearly(data):
    before = data.copy()
    result = _quietly(lambda: hlm.fit_ols(data, "y ~ x + z"))
    pd.testing.assert_frame_equal(data, before)
    if not isinstance(result, ModelInputError):
        assert np.all(np.isfinite(result.fixed["estimate"]))
        assert result.n_obs + result.n_dropped == len(data)
        result._repr_html_()


@SETTINGS
@given(data=frames(), method=st.sampled_from(["REML", "ML"]))
def test_lr_test_answers_or_refuses_clearly(data, method):
    small = _quietly(lambda: hlm.fit_hlm(data, "y ~ x", group="school", method=method))
    large = _quietly(
        lambda: hlm.fit_hlm(data, "y ~ x", group="school", random=["x"], method=method)
    )
    if isinstance(small, ModelInputError) or isinstance(large, ModelInputError):
        return
    test = _quietly(lambda: hlm.lr_test(small, large))
    if not isinstance(test, ModelInputError):
        assert test.statistic >= 0 and 0 <= test.p_value <= 1
        assert test.df == 2
        str(test)


@SETTINGS
@given(data=frames())
def test_contextual_effect_answers_or_refuses_clearly(data):
    before = data.copy()
    result = _quietly(lambda: hlm.contextual_effect(data, "y", "x", group="school"))
    pd.testing.assert_frame_equal(data, before)
    if not isinstance(result, ModelInputError):
        assert np.all(np.isfinite(result.table["estimate"]))
        str(result)
        result._repr_html_()
        assert result.n_dropped == int(data[["y", "x", "school"]].isna().any(axis=1).sum())


@pytest.mark.parametrize("plot", ["caterpillar", "shrinkage", "school_lines", "variance_partition"])
@settings(max_examples=25, deadline=None, derandomize=True)
@given(data=frames(), random=st.sampled_from([[], ["x"]]))
def test_plots_answer_or_refuse_clearly(plot, data, random):
    import matplotlib.pyplot as plt

    plt.close("all")  # figures left open elsewhere would make matplotlib warn here
    fit = _quietly(lambda: hlm.fit_hlm(data, "y ~ x", group="school", random=random))
    if isinstance(fit, ModelInputError):
        return
    draw = getattr(hlm.plots, plot)
    args = {"school_lines": ("x",)}.get(plot, ())
    figure = _quietly(lambda: draw(fit, *args))
    if not isinstance(figure, ModelInputError):
        assert figure.axes
        for axis in figure.axes:
            assert "nan" not in axis.get_title().lower()
    assert len(plt.get_fignums()) <= 1, "a refused plot left its figure open"
    plt.close("all")


@SETTINGS
@given(data=frames(), kind=st.sampled_from(["grand", "group"]))
def test_centring_answers_or_refuses_clearly(data, kind):
    before = data.copy()
    group = "school" if kind == "group" else None
    result = _quietly(lambda: hlm.center(data, "x", kind=kind, group=group))
    pd.testing.assert_frame_equal(data, before)
    if not isinstance(result, ModelInputError):
        centred = result.drop(columns=data.columns)
        assert centred.shape[1] == 1 and len(result) == len(data)
        present = centred.iloc[:, 0].dropna()
        assert np.all(np.isfinite(present))


@SETTINGS
@given(
    estimates=st.lists(st.floats(-1e6, 1e6), min_size=0, max_size=6),
    variances=st.lists(
        st.one_of(st.floats(-1, 1e6), st.sampled_from([0.0, np.nan, np.inf])),
        min_size=0,
        max_size=6,
    ),
)
def test_rubin_pool_answers_or_refuses_clearly(estimates, variances):
    result = _quietly(lambda: hlm.rubin_pool(estimates, variances))
    if not isinstance(result, ModelInputError):
        assert len(estimates) == len(variances) >= 2
        assert all(v > 0 and np.isfinite(v) for v in variances)
        assert np.all(np.isfinite(result["estimate"]))
        assert np.all(result["se"] > 0)
