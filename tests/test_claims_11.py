"""Claims about the data in the prose of notebook 11 (glossary and reading list).

Each test finds its sentence with ``says`` and recomputes the number: from our fits, from
lme4 (tests/fixtures/hsb_lme4.json, tests/reference/hsb_lme4.R) and from the published SAS
output (tests/fixtures/hsb_published.json). Tolerances follow the printed rounding.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from prose import says

import hlmteach as hlm
from hlmteach.glossary import glossary

NB = "11_glossary.ipynb"
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def lme4() -> dict:
    return json.loads((FIXTURES / "hsb_lme4.json").read_text())["models"]


@pytest.fixture(scope="module")
def published_text() -> str:
    return (FIXTURES / "hsb_published.json").read_text()


@pytest.fixture(scope="module")
def anova(hsb):
    return hlm.fit_hlm(hsb, "mathach ~ 1", group="school")


def test_aic_and_bic_differ_by_program(anova, lme4, published_text):
    says(
        NB,
        "R's `AIC(fit)` and `BIC(fit)` for this model print 47122.79 and 47143.43, the lme4 "
        "column; the UCLA replication of this model in SAS prints AIC 47120.8 and BIC 47126.9",
    )
    reml = lme4["anova"]["REML"]
    assert round(reml["aic"], 2) == 47122.79 and round(reml["bic"], 2) == 47143.43
    assert '"value": 47120.8' in published_text and '"value": 47126.9' in published_text
    assert round(anova.fit_stats["AIC"], 1) == 47120.8
    assert round(anova.fit_stats["BIC"], 1) == 47126.9
    # lme4's definitions applied to our deviance give lme4's numbers.
    p_plus_q = len(anova.fixed) + len(anova.covariance)
    assert anova.deviance + 2 * p_plus_q == pytest.approx(reml["aic"], abs=0.005)
    assert anova.deviance + p_plus_q * np.log(anova.n_obs) == pytest.approx(reml["bic"], abs=0.005)


def test_standard_errors_of_tau00(anova, lme4, published_text, hsb):
    says(
        NB,
        "for HSB's one-way ANOVA it shows 0.174 for τ00, where SAS prints 1.0778 and "
        "`hlmteach` 1.0788",
    )
    assert round(anova.covariance.loc["Var(Intercept)", "se"], 4) == 1.0788
    assert round(lme4["anova"]["REML"]["covparm_se"]["(Intercept)"], 4) == 1.0788
    assert "1.0778" in published_text
    import statsmodels.formula.api as smf

    res = smf.mixedlm("mathach ~ 1", hsb, groups=hsb["school"]).fit(reml=True)
    assert round(float(res.bse_re.iloc[0]), 3) == 0.174


def test_lme4_printout_and_exercise_answers(hsb, lme4):
    says(
        NB,
        "$\\tau_{00} = 2.935^2 = 8.61$",
        "$\\sigma^2 = 6.257^2 = 39.15$, so the ICC is $8.61 / (8.61 + 39.15) = 0.18$",
        '`hlm.fit_hlm(hsb, "mathach ~ 1", group="school").tau` gives 8.614',
        "= 0.39 \\times 1.5426 \\times 0.3183 = 0.19$. `hlmteach` gives 0.192",
        "school   (Intercept) 2.9464",
    )
    anova = lme4["anova"]["REML"]
    assert round(np.sqrt(anova["tau"]["(Intercept)"]), 3) == 2.935
    assert round(np.sqrt(anova["sigma2"]), 3) == 6.257
    assert round(2.935**2, 2) == 8.61 and round(6.257**2, 2) == 39.15
    assert round(8.61 / (8.61 + 39.15), 2) == 0.18
    assert round(hlm.fit_hlm(hsb, "mathach ~ 1", group="school").tau.iloc[0, 0], 3) == 8.614
    assert round(0.39 * 1.5426 * 0.3183, 2) == 0.19
    rc = lme4["random_coefficient"]["REML"]
    # lme4's print() stops its iterations early (its default tolerances); the fixture is the
    # converged fit, so the printed last digit may differ by one.
    assert np.sqrt(rc["tau"]["(Intercept)"]) == pytest.approx(2.9464, abs=1.5e-4)


def test_exercise_11_3_bic_under_ml(hsb, lme4):
    says(
        NB,
        "= 47115.81 + 3 ln(7185) = 47142.45",
        "uses ln(J), the 160 schools, and prints 47131.04: the same likelihood, two BICs 11 "
        "points apart",
    )
    ml = hlm.fit_hlm(hsb, "mathach ~ 1", group="school", method="ML")
    reference = lme4["anova"]["ML"]
    assert round(ml.deviance, 2) == round(reference["deviance"], 2) == 47115.81
    lme4_bic = reference["deviance"] + reference["n_par"] * np.log(reference["n_obs"])
    assert round(lme4_bic, 2) == round(reference["bic"], 2) == 47142.45
    assert hlm.check("11.3", lme4_bic).correct
    assert round(ml.fit_stats["BIC"], 2) == 47131.04 and ml.n_groups == 160
    assert round(lme4_bic - ml.fit_stats["BIC"]) == 11
    assert not hlm.check("11.3", ml.fit_stats["BIC"]).correct


def test_one_meaning_per_symbol_as_the_notebook_says():
    says(
        NB,
        "λ is always a reliability (Rubin's share of missing information is ω)",
        "B is always Rubin's between-imputation variance",
    )
    table = glossary()  # hlm.glossary is shadowed once hlmteach.glossary is imported
    by_symbol = table.set_index("symbol")
    assert "reliability" in by_symbol.loc["λ_j", "term"]
    assert "between-imputation" in by_symbol.loc["B", "term"]
    assert "missing information" in by_symbol.loc["ω", "term"]


# -- data/README.md (the reference layer's data note) --------------------------------------------
README = Path(__file__).resolve().parents[1] / "data" / "README.md"


def _readme() -> str:
    return " ".join(README.read_text(encoding="utf-8").split())


def test_data_readme_contextual_effects_and_deviances():
    text = _readme()
    assert (
        "about twice as large in the USA as in Korea: notebook 09 estimates 1.25 and 0.62" in text
    )
    assert "differ from the published ones by 0.7 (Korea) and 4.3 (USA)" in text
    timss = hlm.load_timss()
    effects = {}
    for country in ("Korea", "USA"):
        data = timss[timss["country"] == country].dropna(subset=["college"])
        ce = hlm.contextual_effect(data, "math", "college", "school", covariates=["boy"])
        effects[country] = ce.table.loc["contextual", "estimate"]
    assert round(effects["USA"], 2) == 1.25 and round(effects["Korea"], 2) == 0.62
    assert 1.7 < effects["USA"] / effects["Korea"] < 2.3
    published = {"Korea": 8081.8, "USA": 15088.5}
    for country, gap in (("Korea", 0.7), ("USA", 4.3)):
        data = timss[timss["country"] == country]
        fit = hlm.fit_hlm(data, "math ~ 1", group="school")
        assert round(fit.deviance - published[country], 1) == gap


def test_data_readme_design_and_licence_statements():
    text = _readme()
    assert "`sampling_design=False` reads files without them" in text
    assert "nlme 3.1-162 (R 4.2.2" in text and "nlme is licensed GPL (≥ 2)" in text
    import inspect

    assert "sampling_design" in inspect.signature(hlm.read_timss_files).parameters
    licence = (README.parents[1] / "LICENSE").read_text()
    assert licence.startswith("MIT License")
