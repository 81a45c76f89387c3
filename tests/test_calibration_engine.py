"""The shipped synthetic TIMSS data reproduce the seed's published results with our own engine.

``test_synthetic.py`` checks the calibration with statsmodels; this module checks it again
with ``hlmteach``'s engine, and checks that the two agree on these models.

Published numbers: the seed tutorial's SAS PROC MIXED output (REML, ddfm=bw), as
transcribed in DESIGN.md §5. Each is (estimate, SE) as printed; an estimate must lie
within one published SE of it, or within its printed rounding where no SE is printed.
"""

from __future__ import annotations

import numpy as np
import pytest

import hlmteach as hlm

# (country, model, quantity): (estimate as printed, SE as printed or None)
PUBLISHED = {
    ("Korea", "null", "Intercept"): ("0.7409", "0.02692"),
    ("Korea", "null", "tau00"): ("0.06161", "0.01268"),
    ("Korea", "null", "sigma2"): ("0.9077", "0.02448"),
    ("USA", "null", "Intercept"): ("-0.3061", "0.04"),
    ("USA", "null", "tau00"): ("0.2141", "0.02"),
    ("USA", "null", "sigma2"): ("0.4769", "0.01"),
    ("Korea", "rc", "Intercept"): ("0.56", "0.03"),
    ("Korea", "rc", "college"): ("0.49", "0.05"),
    ("Korea", "rc", "boy"): ("0.14", "0.04"),
    ("Korea", "rc", "tau00"): ("0.02", "0.01"),
    ("Korea", "rc", "tau_college"): ("0.01", "0.01"),
    ("Korea", "rc", "sigma2"): ("0.88", "0.02"),
    ("USA", "rc", "Intercept"): ("-0.38", "0.04"),
    ("USA", "rc", "college"): ("0.16", "0.02"),
    ("USA", "rc", "boy"): ("0.05", "0.02"),
    ("USA", "rc", "tau00"): ("0.20", "0.02"),
    ("USA", "rc", "tau_college"): ("0.02", "0.01"),
    ("USA", "rc", "sigma2"): ("0.47", "0.01"),
}
DEVIANCE = {"Korea": 8081.8, "USA": 15088.5}
SIZES = {"Korea": (2901, 150), "USA": (6944, 183)}


@pytest.fixture(scope="module")
def fits():
    timss = hlm.load_timss()
    null = hlm.fit_hlm(timss, "math ~ 1", group="school", by="country")
    rc = hlm.fit_hlm(
        timss,
        "math ~ college + boy",
        group="school",
        random=["college"],
        covariance="vc",
        by="country",
    )
    return {"null": null, "rc": rc}


def _ours(fit, quantity: str) -> float:
    cov = fit.covariance["estimate"]
    return {
        "tau00": lambda: cov["Var(Intercept)"],
        "tau_college": lambda: cov["Var(college)"],
        "sigma2": lambda: cov["Residual"],
    }.get(quantity, lambda: fit.fixed.loc[quantity, "estimate"])()


@pytest.mark.parametrize("key", sorted(PUBLISHED), ids=lambda k: "-".join(k))
def test_estimate_within_one_published_se(fits, key):
    country, model, quantity = key
    estimate, se = PUBLISHED[key]
    value = _ours(fits[model][country], quantity)
    assert abs(value - float(estimate)) <= float(se) + 1e-12, (value, estimate, se)


@pytest.mark.parametrize("country", ["Korea", "USA"])
def test_sizes_deviance_and_df(fits, country):
    null = fits["null"][country]
    assert (null.n_obs, null.n_groups) == SIZES[country]
    assert null.fixed.loc["Intercept", "df"] == SIZES[country][1] - 1  # SAS: J - 1 (149 Korea)
    assert abs(null.deviance / DEVIANCE[country] - 1) < 0.01
    rc = fits["rc"][country]
    assert rc.n_obs == SIZES[country][0] - 1  # one student lacks parents' education


def test_us_college_effect_falls_from_ols_to_hlm(fits):
    ols = hlm.fit_ols(hlm.load_timss("USA"), "math ~ college + boy")
    drop = ols.fixed.loc["college", "estimate"] - fits["rc"]["USA"].fixed.loc["college", "estimate"]
    assert drop > 0.1  # published: 0.357 (OLS) to 0.16 (HLM)


@pytest.mark.parametrize("country", ["Korea", "USA"])
def test_engine_and_statsmodels_agree_on_the_course_models(fits, country):
    data = hlm.load_timss(country)
    for model, formula, random in (
        ("null", "math ~ 1", []),
        ("rc", "math ~ college + boy", ["college"]),
    ):
        ours = fits[model][country]
        sm = hlm.fit_hlm(
            data, formula, group="school", random=random, covariance="vc", engine="statsmodels"
        )
        assert ours.deviance <= -2 * sm.llf + 1e-6
        assert ours.deviance == pytest.approx(-2 * sm.llf, abs=1e-3)
        np.testing.assert_allclose(ours.fixed["estimate"], sm.fe_params, rtol=1e-4, atol=1e-6)
        assert ours.sigma2 == pytest.approx(sm.scale, rel=1e-4)
