"""High School and Beyond: the engine against R's lme4/lmerTest, run at tight tolerances.

The references in ``fixtures/hsb_lme4.json`` come from ``reference/hsb_lme4.R``
(lme4 + lmerTest, bobyqa then Newton polishing, cross-checked with Nelder-Mead,
a second start and nlme; see the file's ``provenance``). Agreement required:

- -2 log-likelihood within 1e-4 absolute, and never above lme4's: both programs
  evaluate the same function, so a worse value would mean a worse optimum;
- estimates within 1e-5 relative: the references are converged to ~1e-9 in theta;
- standard errors within 1e-4 relative: fixed-effect SEs are exact functions of
  the estimates, covariance-parameter SEs come from numerical Hessians (R's
  numDeriv with Richardson extrapolation, ours by central differences of the
  exact gradient), each accurate to ~1e-7;
- Satterthwaite df within 1e-2 absolute (lmerTest differentiates numerically too).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import hlmteach as hlm

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "hsb_lme4.json").read_text())

MODELS = {
    "anova": ("mathach ~ 1", [], "un"),
    "means_as_outcomes": ("mathach ~ meanses", [], "un"),
    "random_coefficient": ("mathach ~ cses", ["cses"], "un"),
    "intercepts_slopes_as_outcomes": (
        "mathach ~ meanses + sector + cses + meanses:cses + sector:cses",
        ["cses"],
        "un",
    ),
    "random_coefficient_diag": ("mathach ~ cses", ["cses"], "vc"),
}
CASES = [(model, method) for model in MODELS for method in ("REML", "ML")]


def _term(name: str) -> str:
    return "Intercept" if name == "(Intercept)" else name


def _covparm(name: str) -> str:
    if name == "sigma2":
        return "Residual"
    if ":" in name and name.startswith("(Intercept):"):
        return f"Cov(Intercept, {name.split(':', 1)[1]})"
    return f"Var({_term(name)})"


@pytest.fixture(scope="module")
def fits(hsb):
    cache = {}

    def get(model: str, method: str):
        if (model, method) not in cache:
            formula, random, covariance = MODELS[model]
            cache[model, method] = hlm.fit_hlm(
                hsb, formula, group="school", random=random, method=method, covariance=covariance
            )
        return cache[model, method]

    return get


def test_fixture_was_made_from_the_shipped_file():
    import hashlib

    digest = hashlib.md5((Path(__file__).parents[1] / "data" / "hsb.csv").read_bytes()).hexdigest()
    assert digest == FIXTURE["data"]["md5"]


@pytest.mark.parametrize(("model", "method"), CASES)
def test_criterion(fits, model, method):
    ref = FIXTURE["models"][model][method]
    fit = fits(model, method)
    assert fit.converged
    assert (fit.n_obs, fit.n_groups) == (ref["n_obs"], ref["n_groups"])
    assert fit.deviance == pytest.approx(ref["deviance"], abs=1e-4)
    assert fit.deviance <= ref["deviance"] + 1e-7, "our optimum must not be worse than lme4's"


@pytest.mark.parametrize(("model", "method"), CASES)
def test_fixed_effects(fits, model, method):
    ref = FIXTURE["models"][model][method]["fixed"]
    fit = fits(model, method)
    sat = fit.fixed_effects("satterthwaite")
    assert list(sat.index) == [_term(t) for t in ref]
    for term, r in ref.items():
        row = sat.loc[_term(term)]
        assert row["estimate"] == pytest.approx(r["estimate"], rel=1e-5)
        assert row["se"] == pytest.approx(r["se"], rel=1e-4)
        assert row["df"] == pytest.approx(r["df"], abs=1e-2)
        assert row["t"] == pytest.approx(r["t"], rel=1e-4)


@pytest.mark.parametrize(("model", "method"), CASES)
def test_covariance_parameters(fits, model, method):
    ref = FIXTURE["models"][model][method]
    cov = fits(model, method).covariance
    estimates = {**ref["tau"], "sigma2": ref["sigma2"]}
    assert sorted(cov.index) == sorted(_covparm(k) for k in estimates)
    for name, value in estimates.items():
        assert cov.loc[_covparm(name), "estimate"] == pytest.approx(value, rel=1e-5, abs=1e-9)
    for name, se in ref["covparm_se"].items():
        assert cov.loc[_covparm(name), "se"] == pytest.approx(se, rel=1e-4)


def test_eblups_and_conditional_sds(fits):
    ref = FIXTURE["models"]["random_coefficient"]["REML"]["ranef"]
    re = fits("random_coefficient", "REML").random_effects
    for school, r in ref.items():
        for term, mode in r["mode"].items():
            row = re.loc[(int(school), _term(term))]
            assert row["estimate"] == pytest.approx(mode, rel=1e-5, abs=1e-7)
            assert row["cond_sd"] == pytest.approx(r["cond_sd"][term], rel=1e-4)


@pytest.mark.parametrize(
    "model", [m for m in MODELS if "reliability_rb" in FIXTURE["models"][m]["REML"]]
)
def test_reliability_as_hlm(fits, model):
    ref = FIXTURE["models"][model]["REML"]["reliability_rb"]
    rel = fits(model, "REML").reliability
    for term, value in ref.items():
        assert rel[_term(term)] == pytest.approx(value, rel=1e-4)


def test_nlme_cross_check_agrees(fits):
    for model in ("anova", "means_as_outcomes"):
        nlme = FIXTURE["models"][model]["cross_check_nlme"]
        assert fits(model, "REML").deviance == pytest.approx(nlme["deviance"], abs=1e-4)


def test_aic_differs_from_r_only_by_sas_counting(fits):
    """R's REML AIC counts the fixed effects; SAS's (ours) counts covariance parameters only."""
    for model in MODELS:
        ref = FIXTURE["models"][model]["REML"]
        fit = fits(model, "REML")
        n_fixed = len(ref["fixed"])
        assert fit.fit_stats["AIC"] + 2 * n_fixed == pytest.approx(ref["aic"], abs=1e-4)
        assert ref["n_par"] == len(fit.covariance) + n_fixed
    assert np.isfinite(fits("anova", "ML").fit_stats["BIC"])
