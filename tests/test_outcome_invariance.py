"""The fit does not depend on the outcome's units or origin.

The engine fits the standardised outcome and maps every estimate back, so
rescaling the outcome by any factor from 1e-6 to 1e6, and shifting it, gives
exactly the transformed estimates, and -2 log L moves only by the known
constant: ``n* log(scale**2)`` with ``n* = N - p`` under REML and ``N`` under ML.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hlmteach as hlm

_SCALES = st.floats(1e-6, 1e6).filter(lambda s: s > 0)
_SHIFTS = st.floats(-1e6, 1e6)


@pytest.fixture(scope="module")
def sample(hsb: pd.DataFrame) -> pd.DataFrame:
    schools = sorted(hsb["school"].unique())[:40]
    return hsb[hsb["school"].isin(schools)].reset_index(drop=True)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    scale=_SCALES,
    shift=_SHIFTS,
    method=st.sampled_from(["REML", "ML"]),
    covariance=st.sampled_from(["un", "vc"]),
)
def test_outcome_units_and_origin_do_not_matter(
    sample: pd.DataFrame, scale: float, shift: float, method: str, covariance: str
) -> None:
    common = {"group": "school", "random": ["cses"], "method": method, "covariance": covariance}
    base = hlm.fit_hlm(sample, "mathach ~ cses + sector", **common)
    moved = hlm.fit_hlm(
        sample.assign(y=sample["mathach"] * scale + shift), "y ~ cses + sector", **common
    )
    assert moved.converged == base.converged
    expected = base.fixed["estimate"].to_numpy() * scale
    expected[0] += shift
    # The intercept absorbs the shift: its error is relative to the larger of the two.
    np.testing.assert_allclose(
        moved.fixed["estimate"], expected, rtol=1e-6, atol=1e-7 * (abs(shift) + scale * 20)
    )
    np.testing.assert_allclose(moved.fixed["se"], base.fixed["se"] * scale, rtol=1e-6)
    np.testing.assert_allclose(moved.tau, base.tau * scale**2, rtol=1e-5, atol=1e-9 * scale**2)
    assert moved.sigma2 == pytest.approx(base.sigma2 * scale**2, rel=1e-7)
    np.testing.assert_allclose(moved.covariance["se"], base.covariance["se"] * scale**2, rtol=1e-4)
    n_star = base.n_obs - len(base.fixed) if method == "REML" else base.n_obs
    assert moved.deviance == pytest.approx(
        base.deviance + n_star * np.log(scale**2), abs=1e-7 * max(1.0, abs(base.deviance))
    )
    np.testing.assert_allclose(moved.fixed["df"], base.fixed["df"])


def test_a_large_mean_with_a_small_spread_keeps_its_digits(sample: pd.DataFrame) -> None:
    """About 100 +/- 0.1 (the precision case): the same fit as the centred outcome."""
    common = {"group": "school", "random": ["cses"]}
    centred = hlm.fit_hlm(sample.assign(y=(sample["mathach"] - 13) * 0.01), "y ~ cses", **common)
    offset = hlm.fit_hlm(
        sample.assign(y=(sample["mathach"] - 13) * 0.01 + 100), "y ~ cses", **common
    )
    assert offset.deviance == pytest.approx(centred.deviance, abs=1e-8)
    # The optimiser stops where the criterion is flat to ~1e-15: estimates agree to ~1e-7.
    np.testing.assert_allclose(offset.tau, centred.tau, rtol=1e-6)
    assert offset.fixed.loc["Intercept", "estimate"] - 100 == pytest.approx(
        centred.fixed.loc["Intercept", "estimate"], abs=1e-10
    )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    factor=_SCALES, method=st.sampled_from(["REML", "ML"]), covariance=st.sampled_from(["un", "vc"])
)
def test_units_of_a_random_slope_do_not_matter(
    sample: pd.DataFrame, factor: float, method: str, covariance: str
) -> None:
    """A predictor with a random slope in other units (ses in cents instead of dollars):
    its coefficient, SE, variance and covariance move by the factor, nothing else does,
    and REML's -2 log L moves by its log-Jacobian 2 log(factor)."""
    common = {"group": "school", "method": method, "covariance": covariance}
    base = hlm.fit_hlm(sample, "mathach ~ cses + sector", random=["cses"], **common)
    moved = hlm.fit_hlm(
        sample.assign(x=sample["cses"] * factor), "mathach ~ x + sector", random=["x"], **common
    )
    assert moved.converged == base.converged
    per_unit = np.array([1.0, 1.0 / factor, 1.0])
    np.testing.assert_allclose(
        moved.fixed["estimate"], base.fixed["estimate"] * per_unit, rtol=1e-6
    )
    np.testing.assert_allclose(moved.fixed["se"], base.fixed["se"] * per_unit, rtol=1e-6)
    np.testing.assert_allclose(
        moved.tau.to_numpy(),
        base.tau.to_numpy() * np.outer(per_unit[:2], per_unit[:2]),
        rtol=1e-5,
        atol=1e-9 * base.tau.to_numpy().max(),
    )
    assert moved.sigma2 == pytest.approx(base.sigma2, rel=1e-7)
    jacobian = 2.0 * np.log(factor) if method == "REML" else 0.0
    assert moved.deviance == pytest.approx(base.deviance + jacobian, abs=1e-7 * abs(base.deviance))
    assert list(moved.covariance["boundary"]) == list(base.covariance["boundary"])
    assert len(moved.warnings) == len(base.warnings)


@pytest.mark.parametrize("factor", [1e-5, 1000.0])
def test_hsb_ses_in_other_units_keeps_its_slope_variance(hsb: pd.DataFrame, factor: float) -> None:
    """Issue 9's case: ses x 1000 with uncorrelated effects lost the slope variance."""
    base = hlm.fit_hlm(hsb, "mathach ~ ses", group="school", random=["ses"], covariance="vc")
    moved = hlm.fit_hlm(
        hsb.assign(ses=hsb["ses"] * factor),
        "mathach ~ ses",
        group="school",
        random=["ses"],
        covariance="vc",
    )
    assert base.tau.loc["ses", "ses"] > 0.1
    assert moved.tau.loc["ses", "ses"] == pytest.approx(
        base.tau.loc["ses", "ses"] / factor**2, rel=1e-5
    )
    assert moved.deviance == pytest.approx(base.deviance + 2 * np.log(factor), abs=1e-6)
    assert not any("no school-to-school variation" in w for w in moved.warnings)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(factor=_SCALES, offset=st.floats(-1e4, 1e4), method=st.sampled_from(["REML", "ML"]))
def test_origin_and_units_of_a_random_slope_do_not_matter_under_un(
    sample: pd.DataFrame, factor: float, offset: float, method: str
) -> None:
    """x = factor * (cses + offset), a random slope under unstructured covariance, is the same
    model: with B = [[1, -offset], [0, 1/factor]], beta and the random effects map by B
    (so tau by B tau B'), sigma2 and the boundary flags stay, and REML's -2 log L moves by
    2 log(factor) only. An uncentred predictor (1000 +- 1) once gave a wrong optimum.

    The offset is in SDs of cses (up to 10^4: x keeps 12 of its 16 digits); the estimates
    are compared at the battery's tolerance, 1e-5 relative, since the two fits stop at
    slightly different points within the optimiser's tolerance (-2 log L agrees to 1e-7)."""
    common = {"group": "school", "method": method, "covariance": "un"}
    base = hlm.fit_hlm(sample, "mathach ~ cses", random=["cses"], **common)
    moved = hlm.fit_hlm(
        sample.assign(x=(sample["cses"] + offset) * factor), "mathach ~ x", random=["x"], **common
    )
    B = np.array([[1.0, -offset], [0.0, 1.0 / factor]])
    assert moved.converged == base.converged
    beta = B @ base.fixed["estimate"].to_numpy()
    np.testing.assert_allclose(
        moved.fixed["estimate"], beta, rtol=1e-5, atol=1e-5 * np.abs(beta).max()
    )
    tau = B @ base.tau.to_numpy() @ B.T
    np.testing.assert_allclose(moved.tau.to_numpy(), tau, rtol=1e-5, atol=1e-5 * np.abs(tau).max())
    assert moved.fixed["se"].iloc[1] == pytest.approx(base.fixed["se"].iloc[1] / factor, rel=1e-5)
    assert moved.sigma2 == pytest.approx(base.sigma2, rel=1e-5)
    jacobian = 2.0 * np.log(factor) if method == "REML" else 0.0
    assert moved.deviance == pytest.approx(base.deviance + jacobian, abs=1e-7 * abs(base.deviance))
    assert list(moved.covariance["boundary"]) == list(base.covariance["boundary"])


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    factor=_SCALES,
    offset=st.floats(-1e5, 1e5),
    method=st.sampled_from(["REML", "ML"]),
)
def test_an_interaction_with_a_shifted_random_slope_predictor_keeps_its_digits(
    sample: pd.DataFrame, factor: float, offset: float, method: str
) -> None:
    """x = factor * (cses + offset) in ``x * sector``: the columns x and x:sector become nearly
    collinear with sector as the offset grows (a held-out data set, Blackmore's age + 1e4,
    once lost 1.2e-5 of -2 log L and its converged flag). The same model: x's and x:sector's
    slopes divide by factor, and REML's -2 log L moves by 2 log|det| of the map of X, here
    4 log(factor) (two columns scaled by factor; the shift does not change the determinant).
    The offset is in SDs of cses, up to 1e5 (x keeps 11 of its 16 digits)."""
    common = {"group": "school", "method": method, "covariance": "un"}
    base = hlm.fit_hlm(sample, "mathach ~ cses * sector", random=["cses"], **common)
    moved = hlm.fit_hlm(
        sample.assign(x=(sample["cses"] + offset) * factor),
        "mathach ~ x * sector",
        random=["x"],
        **common,
    )
    assert moved.converged and base.converged
    jacobian = 4.0 * np.log(factor) if method == "REML" else 0.0
    assert moved.deviance == pytest.approx(base.deviance + jacobian, abs=1e-8 * abs(base.deviance))
    slopes = base.fixed["estimate"].loc[["cses", "cses:sector"]].to_numpy() / factor
    np.testing.assert_allclose(
        moved.fixed["estimate"].loc[["x", "x:sector"]],
        slopes,
        rtol=1e-6,
        atol=1e-6 * abs(slopes).max(),
    )
    np.testing.assert_allclose(
        moved.fixed["se"].loc[["x", "x:sector"]],
        base.fixed["se"].loc[["cses", "cses:sector"]] / factor,
        rtol=1e-6,
    )
    assert moved.sigma2 == pytest.approx(base.sigma2, rel=1e-6)
