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


def _centred_with_missing_outcomes():
    """HSB's first 40 schools, ses moved off zero, every 7th outcome missing."""
    import numpy as np

    import hlmteach as hlm

    hsb = hlm.load_hsb()
    data = hsb[hsb["school"].isin(hsb["school"].unique()[:40])].reset_index(drop=True)
    data.loc[data.index % 7 == 0, "mathach"] = np.nan
    return data.assign(ses=data["ses"] + 3.0)


def test_code_for_a_centred_model_that_drops_rows_keeps_the_rows_the_fit_uses():
    import warnings

    import hlmteach as hlm

    data = _centred_with_missing_outcomes()
    fit = hlm.fit_hlm(data, "mathach ~ center(ses)", group="school", random=["center(ses)"])
    assert (fit.n_dropped, fit.n_obs) == (255, 1530)
    # lme4 1.1 (Debian's r-cran-lme4; bobyqa, rhoend 2e-10) on the R code printed here,
    # 2026-12-02: 12.81090409815, 2.45716763406, REML criterion 9937.11084657. Without the
    # complete.cases line, R centres ses on all 1785 rows: intercept 12.79905.
    assert fit.fixed["estimate"].to_numpy() == pytest.approx(
        [12.81090409815, 2.45716763406], rel=1e-7
    )
    assert fit.deviance == pytest.approx(9937.11084657, abs=1e-6)
    r = fit.code("r")
    assert 'data <- data[complete.cases(data[, c("mathach", "ses", "school")]), ]' in r
    assert r.index("complete.cases") < r.index("lmer(")
    # The statsmodels lines, run as printed, fit the same rows (to its optimiser's precision).
    statsmodels_part = fit.code("python").split("# statsmodels\n", 1)[1].strip().splitlines()
    namespace = {"data": data}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec("\n".join(statsmodels_part[:-1]), namespace)
        other = eval(statsmodels_part[-1], namespace)
    assert other.fe_params.to_numpy() == pytest.approx(fit.fixed["estimate"].to_numpy(), rel=1e-5)


def test_code_keeps_every_row_when_none_is_dropped_or_nothing_is_centred():
    import hlmteach as hlm

    data = _centred_with_missing_outcomes()
    plain = hlm.fit_hlm(data, "mathach ~ ses", group="school", random=["ses"])
    complete = data.dropna()
    centred = hlm.fit_hlm(complete, "mathach ~ center(ses)", group="school")
    for fit in (plain, centred):
        assert "complete.cases" not in fit.code("r")
        assert "dropna" not in fit.code("python")


@pytest.mark.parametrize(
    ("scaling", "fixed", "variances"),
    [
        # WeMix (GitHub American-Institutes-for-Research/WeMix at 4f1497c, built into a
        # private library with its Matrix requirement lowered to Debian's 1.5-3; mix()
        # at its defaults) on the R code printed here, 2026-12-02.
        ("size", [470.575549122, 27.810771728], [1019.70023943, 5398.50473952]),
        ("effective", [470.5822138844, 27.8075003367], [1016.73004108, 5400.63681083]),
    ],
)
def test_weighted_code_that_rescales_weights_keeps_the_rows_the_fit_uses(scaling, fixed, variances):
    import numpy as np

    import hlmteach as hlm

    data = hlm.load_pisa()
    data.loc[data.index % 9 == 0, "escs"] = np.nan  # 349 of 3136 rows

    def weighted(scaling: str) -> hlm.HLMResult:
        return hlm.fit_hlm(
            data,
            "pv1math ~ escs",
            group="schoolid",
            method="ML",
            weights="w_fstuwt",
            group_weights="w_fschwt",
            weight_scaling=scaling,
        )

    fit = weighted(scaling)
    assert fit.n_dropped == 349
    # Without the complete.cases line WeMix's size-scaled fit gives 470.62898448: the
    # school sums of the weights then include the 349 rows that no fit uses.
    # WeMix stops bobyqa at its default tolerance: its variances agree to about 2e-7, its
    # fixed effects to about 1e-8 (the missing rows move the intercept by 1e-4).
    assert fit.fixed["estimate"].to_numpy() == pytest.approx(fixed, rel=1e-7)
    assert fit.covariance["estimate"].to_numpy() == pytest.approx(variances, rel=1e-6)
    r = fit.code("r")
    keep = (
        'data <- data[complete.cases(data[, c("pv1math", "escs", "schoolid", "w_fstuwt", '
        '"w_fschwt")]), ]'
    )
    assert keep in r and r.index(keep) < r.index("ave(")
    assert "complete.cases" not in weighted("none").code("r")  # WeMix drops the rows itself
