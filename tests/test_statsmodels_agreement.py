"""statsmodels MixedLM as an independent second opinion, and where it fails (DESIGN.md §4)."""

from __future__ import annotations

import numpy as np
import pytest

import hlmteach as hlm


@pytest.mark.parametrize(
    "formula",
    ["mathach ~ 1", "mathach ~ meanses"],
    ids=["anova", "means_as_outcomes"],
)
def test_agrees_where_statsmodels_converges(hsb, formula):
    ours = hlm.fit_hlm(hsb, formula, group="school")
    sm = hlm.fit_hlm(hsb, formula, group="school", engine="statsmodels")
    assert sm.converged
    # statsmodels stops its optimiser earlier than we do, so its criterion is at best
    # equal to ours; at its optimum the two agree to its tolerance.
    assert ours.deviance <= -2 * sm.llf + 1e-6
    assert ours.deviance == pytest.approx(-2 * sm.llf, abs=1e-3)
    np.testing.assert_allclose(ours.fixed["estimate"], sm.fe_params, rtol=1e-5)
    assert ours.tau.iloc[0, 0] == pytest.approx(float(sm.cov_re.iloc[0, 0]), rel=1e-3)
    assert ours.sigma2 == pytest.approx(sm.scale, rel=1e-4)
    # statsmodels inverts the full Hessian for its fixed-effect SEs rather than
    # using (X'V^-1 X)^-1, so they differ slightly (documented, not hidden).
    np.testing.assert_allclose(ours.fixed["se"], sm.bse_fe, rtol=0.02)


def test_random_slope_model_where_statsmodels_fails(hsb):
    """R&B Table 4.4: statsmodels' default fit stops far from the optimum (tau11 ~ 15.6)."""
    ours = hlm.fit_hlm(hsb, "mathach ~ cses", group="school", random=["cses"])
    sm = hlm.fit_hlm(hsb, "mathach ~ cses", group="school", random=["cses"], engine="statsmodels")
    assert ours.converged
    assert ours.tau.loc["cses", "cses"] == pytest.approx(0.694, abs=1e-3)
    assert float(sm.cov_re.iloc[1, 1]) > 10.0  # about 15.6, against the true 0.69
    assert -2 * sm.llf - ours.deviance > 100.0  # about 200 units worse
    assert any("converge" in w for w in sm.fit_warnings)
