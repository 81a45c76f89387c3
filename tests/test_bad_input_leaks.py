"""No warning from numpy, pandas, scipy, patsy or statsmodels reaches the learner.

Singular fits, zero variances, information matrices that are not positive,
outcomes in extreme units and transformations that produce infinities each go
through every view of a result with all warnings turned into errors.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import hlmteach as hlm
from hlmteach.validation import ModelInputError


@pytest.fixture(scope="module")
def hsb() -> pd.DataFrame:
    return hlm.load_hsb()


def _null_data(seed: int = 3) -> pd.DataFrame:
    """No school variation at all: variances on the boundary."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(40), 5)
    return pd.DataFrame({"y": rng.normal(size=200), "x": rng.normal(size=200), "g": g})


def _every_view(fit) -> None:
    str(fit)
    fit._repr_html_()
    fit.fixed_effects("satterthwaite")
    fit.school_coefficients()
    fit.code()
    fit.equations()
    assert fit.random_effects["estimate"].notna().all()
    assert fit.reliability.shape[0] == len(fit.design.random_names)


CASES = {
    "three random slopes (singular)": lambda hsb: hlm.fit_hlm(
        hsb, "mathach ~ ses", group="school", random=["ses", "female", "minority"]
    ),
    "zero slope variance, UN": lambda hsb: hlm.fit_hlm(
        _null_data(), "y ~ x", group="g", random=["x"]
    ),
    "zero slope variance, ML": lambda hsb: hlm.fit_hlm(
        _null_data(), "y ~ x", group="g", random=["x"], method="ML"
    ),
    "zero variances, VC": lambda hsb: hlm.fit_hlm(
        _null_data(), "y ~ x", group="g", random=["x"], covariance="vc"
    ),
    "zero intercept variance": lambda hsb: hlm.fit_hlm(_null_data(5), "y ~ x", group="g"),
    "information not positive": lambda hsb: hlm.fit_hlm(
        pd.DataFrame(
            {"y": [1.0, 2, 3, 5, 4, 4], "x": [0, 1, 2, 0, 1, 2.0], "g": [1] * 3 + [2] * 3}
        ),
        "y ~ x",
        group="g",
        random=["x"],
    ),
    "outcome in units of 1e-12": lambda hsb: hlm.fit_hlm(
        hsb.assign(m=hsb["mathach"] * 1e-12), "m ~ ses", group="school", random=["ses"]
    ),
    "outcome in units of 1e12": lambda hsb: hlm.fit_hlm(
        hsb.assign(m=hsb["mathach"] * 1e12), "m ~ ses", group="school", random=["ses"]
    ),
    "statsmodels engine, singular": lambda hsb: hlm.fit_hlm(
        _null_data(), "y ~ x", group="g", random=["x"], engine="statsmodels"
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_no_warning_escapes(hsb, case):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = CASES[case](hsb)
        if isinstance(fit, hlm.HLMResult):
            _every_view(fit)


def test_missing_standard_errors_are_explained():
    fit = CASES["information not positive"](None)
    assert fit.covariance["se"].isna().any()
    assert any("No standard error for" in note for note in fit.warnings)
    assert "No standard error for" in str(fit)


@pytest.mark.parametrize("scale", [1e-12, 1e-6, 1e6, 1e12])
def test_covariance_standard_errors_in_any_outcome_units(hsb, scale):
    """SEs of the variances scale with the square of the outcome's units, never NaN."""
    base = hlm.fit_hlm(hsb, "mathach ~ ses", group="school", random=["ses"])
    scaled = hlm.fit_hlm(
        hsb.assign(mathach=hsb["mathach"] * scale), "mathach ~ ses", group="school", random=["ses"]
    )
    np.testing.assert_allclose(scaled.covariance["se"] / scale**2, base.covariance["se"], rtol=1e-5)
    np.testing.assert_allclose(scaled.fixed["se"] / scale, base.fixed["se"], rtol=1e-6)
    np.testing.assert_allclose(scaled.satterthwaite, base.satterthwaite, rtol=1e-4)


def test_transformations_that_warn_are_refused_quietly():
    data = pd.DataFrame({"y": [0.0, 2, 3, 5, 4, 4], "g": [1, 1, 1, 2, 2, 2]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ModelInputError, match=r"np.log\(y\).*not finite"):
            hlm.fit_hlm(data, "np.log(y) ~ 1", group="g")


@pytest.mark.parametrize("scale", [1e-45, 1e-12, 1e12])
def test_ols_in_extreme_units_is_quiet_and_exact(hsb, scale):
    base = hlm.fit_ols(hsb, "mathach ~ ses")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scaled = hlm.fit_ols(hsb.assign(ses=hsb["ses"] * scale), "mathach ~ ses")
    np.testing.assert_allclose(
        scaled.fixed.loc["ses", ["estimate", "se"]] * scale,
        base.fixed.loc["ses", ["estimate", "se"]],
        rtol=1e-9,
    )
    assert scaled.fixed.loc["ses", "t"] == pytest.approx(base.fixed.loc["ses", "t"], rel=1e-9)
