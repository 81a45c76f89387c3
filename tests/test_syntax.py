"""Equations and equivalent code in SAS, R and Python."""

from __future__ import annotations

import pytest

from hlmteach.syntax import model_code, model_equations


def test_intercepts_and_slopes_as_outcomes_equations():
    tex = model_equations(
        "mathach",
        ["Intercept", "meanses", "cses", "meanses:cses", "sector", "sector:cses"],
        ["Intercept", "cses"],
        school_level=["meanses", "sector"],
    )
    lines = tex.splitlines()
    assert lines[1] == (
        r"\text{Level 1:}\quad & \text{mathach}_{ij} = \beta_{0j} + "
        r"\beta_{1j}\,\text{cses}_{ij} + r_{ij}\\"
    )
    assert r"\beta_{0j} = \gamma_{00} + \gamma_{01}\,\text{meanses}_{j} + " in lines[2]
    assert r"\beta_{1j} = \gamma_{10} + \gamma_{11}\,\text{meanses}_{j} + " in lines[3]
    assert r"u_{1j}\,\text{cses}_{ij}" in lines[-2]


def test_fixed_slope_has_no_random_part():
    tex = model_equations(
        "math", ["Intercept", "college", "boy"], ["Intercept", "college"], covariance="vc"
    )
    assert r"\beta_{2j} = \gamma_{20}\\" in tex
    assert r"\beta_{1j} = \gamma_{10} + u_{1j}\\" in tex
    assert "diagonal" in tex


def test_sas_code_matches_seed_layout():
    sas = model_code("math ~ college + boy", "school", ["college"], covariance="vc", language="sas")
    assert "proc mixed data=data covtest noclprint;" in sas
    assert "model math = college boy / solution ddfm=bw;" in sas
    assert "random intercept college / subject=school type=vc solution;" in sas


def test_r_code_uses_double_bar_for_uncorrelated_effects():
    r = model_code("math ~ college", "school", ["college"], covariance="vc", language="r")
    assert "(1 + college || school)" in r
    ml = model_code("math ~ 1", "school", [], method="ML", language="r")
    assert "(1 | school)" in ml and "REML = FALSE" in ml


def test_python_code_is_valid_python():
    code = model_code("math ~ college", "school", ["college"], covariance="vc", language="python")
    compile(code, "<model_code>", "exec")
    assert "vc_formula={'college': '0 + college'}" in code


def test_unknown_language():
    with pytest.raises(ValueError, match="Unknown language 'stata'"):
        model_code("y ~ x", "g", [], language="stata")


def test_ols_code_and_equation():
    import hlmteach as hlm

    ols = hlm.fit_ols(hlm.load_hsb(), "mathach ~ ses + sector")
    assert "model mathach = ses sector;" in ols.code("sas")
    assert "lm(mathach ~ ses + sector, data = data)" in ols.code("r")
    compile(ols.code("python"), "<ols_code>", "exec")
    assert r"\beta_{2}\,\text{sector}_i" in ols.equations()
