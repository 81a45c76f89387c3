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
