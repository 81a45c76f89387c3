"""The glossary of symbols: every hlmteach and statsmodels name it lists exists."""

from __future__ import annotations

import re

import pytest

import hlmteach as hlm
from hlmteach.glossary import glossary


@pytest.fixture(scope="module")
def fits():
    """A random-slope model fitted by hlmteach and by statsmodels (small data: fast)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(30), 12)
    x = rng.normal(size=groups.size)
    u = rng.normal(size=(30, 2)) * [0.8, 0.4]
    y = 1.0 + 0.5 * x + u[groups, 0] + u[groups, 1] * x + rng.normal(size=groups.size)
    data = pd.DataFrame({"y": y, "x": x, "school": groups})
    kwargs = {"group": "school", "random": ["x"]}
    return (
        hlm.fit_hlm(data, "y ~ x", **kwargs),
        hlm.fit_hlm(data, "y ~ x", **kwargs, engine="statsmodels"),
    )


def test_glossary_layout():
    table = glossary()
    assert list(table.columns) == [
        "symbol",
        "meaning",
        "SAS PROC MIXED",
        "HLM 8",
        "lme4 (R)",
        "statsmodels",
        "hlmteach",
    ]
    symbols = table["symbol"].tolist()
    for symbol in ("τ00", "τ11", "τ01", "σ²", "λ_j", "ICC (ρ)"):
        assert symbol in symbols
    assert table.notna().all().all()


def test_every_hlmteach_name_exists_on_a_fitted_model(fits):
    fit, _ = fits
    assert isinstance(fit, hlm.HLMResult)
    for expression in glossary()["hlmteach"]:
        value = eval(expression, {"fit": fit})  # our own table, in a test
        assert value is not None, expression
    assert (
        eval("fit.tau.iloc[1, 0]", {"fit": fit})
        == fit.covariance.loc["Cov(Intercept, x)", "estimate"]
    )
    assert eval("fit.tau.iloc[1, 1]", {"fit": fit}) == fit.covariance.loc["Var(x)", "estimate"]


def test_statsmodels_names_exist_on_a_mixedlm_result(fits):
    _, res = fits
    j = next(iter(res.random_effects))
    evaluated = 0
    for entry in glossary()["statsmodels"]:
        code = entry.removeprefix("not provided").lstrip(": ")
        code = re.sub(r" \((SE: |a dict).*\)$", "", code)
        if "res." not in code:
            continue
        value = eval(code, {"res": res, "j": j})  # our own table, in a test
        assert value is not None, entry
        evaluated += 1
    assert evaluated == 9
