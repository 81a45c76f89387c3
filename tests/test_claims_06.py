"""Every number and claim about the data in the prose of notebook 06 (the explorer).

Each test first finds its sentences in the notebook with ``says``, so that a reworded
claim fails and is checked again, then recomputes the claim from the package and the
shipped data. Tolerances match the printed rounding: a number printed with three
decimals must round to it (``_printed``).
"""

from __future__ import annotations

import numpy as np
import pytest
from prose import says

import hlmteach as hlm
from hlmteach.exercises import solution_value
from hlmteach.published import HLM_RESULTS, compare_published
from hlmteach.widgets import Explorer, ExplorerSetting

NB = "06_explorer.ipynb"


@pytest.fixture(scope="module")
def ex() -> Explorer:
    return Explorer(hlm.load_timss())


def _printed(value: float, text: str) -> None:
    """``value`` shows as ``text`` when rounded to the decimals of ``text``."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    assert f"{value:.{decimals}f}" == text, f"{value} is not printed as {text}"


def _tau(fit, term: str) -> float:
    return float(fit.tau.loc[term, term])


def _gamma(fit, term: str) -> float:
    return float(fit.fixed.loc[term, "estimate"])


def _se(fit, term: str) -> float:
    return float(fit.fixed.loc[term, "se"])


def _lr(ex: Explorer, country: str, term: str, method: str = "REML"):
    return hlm.lr_test(ex.fit(country, (), method), ex.fit(country, (term,), method))


def _eblup_sd(fit, term: str) -> float:
    return float(fit.random_effects["estimate"].xs(term, level="term").std(ddof=1))


def test_step1_korea_source_model(ex):
    says(
        NB,
        "The source printed Korea's college-slope variance as 0.01 (SE 0.01).",
        "The fixed college effect is 0.463 (SE 0.046)",
        "The college-slope variance is small, 0.009, with a Wald SE (0.023) more than twice "
        "its size, and its **LR p is 0.342**. So there is **no evidence**",
        "In the figure the lines are nearly parallel. The source kept this slope random, but "
        "its own table shows a variance no larger than its SE.",
    )
    assert HLM_RESULTS["Korea"]["Var(college)"] == ("0.01", "0.01")
    fit = ex.fit("Korea", ("college",), "REML")
    _printed(_gamma(fit, "college"), "0.463")
    _printed(_se(fit, "college"), "0.046")
    tau, tau_se = fit.covariance.loc["Var(college)", ["estimate", "se"]]
    _printed(tau, "0.009")
    _printed(tau_se, "0.023")
    assert tau_se > 2 * tau
    p = ex.view(ExplorerSetting("Korea", ("college",)), previous=None).variance_tests
    _printed(p["Korea", "college"].p_value, "0.342")
    assert p["Korea", "college"].p_value > 0.05
    # "nearly parallel": the schools' college slopes spread by under a tenth of their mean
    assert _eblup_sd(fit, "college") < 0.1 * _gamma(fit, "college")


def test_step2_usa_and_shrinkage(ex):
    says(
        NB,
        "The US intercept is -0.379",
        "The college-slope variance is 0.020, twice Korea's, and its **LR p is 0.006**",
        "No likelihood-ratio line appears: a change of country changes the students",
        "The bars have an SD of 0.065, the curve √τ = 0.140.",
        "In Korea, where the variance is tiny next to the noise, the shrinkage is far stronger",
        "A colleague takes the SD of the bars, 0.065,",
        "The model's estimate of the spread of the true slopes is √τ = 0.140.",
    )
    usa, korea = ex.fit("USA", ("college",), "REML"), ex.fit("Korea", ("college",), "REML")
    _printed(_gamma(usa, "Intercept"), "-0.379")
    _printed(_tau(usa, "college"), "0.020")
    assert 1.8 < _tau(usa, "college") / _tau(korea, "college") < 2.5
    _printed(_lr(ex, "USA", "college").p_value, "0.006")
    view = ex.view(ExplorerSetting("USA", ("college",)), previous=ExplorerSetting("Korea"))
    assert view.tests == {}
    _printed(_eblup_sd(usa, "college"), "0.065")
    _printed(np.sqrt(_tau(usa, "college")), "0.140")
    # "far stronger": Korea's EBLUPs spread less than half as much, relative to sqrt(tau)
    korea_ratio = _eblup_sd(korea, "college") / np.sqrt(_tau(korea, "college"))
    usa_ratio = _eblup_sd(usa, "college") / np.sqrt(_tau(usa, "college"))
    assert korea_ratio < 0.5 * usa_ratio


def test_step3_fixing_the_slope_shrinks_the_se_and_the_mixture_halves_p(ex):
    says(
        NB,
        "The SE of the college effect **falls**, from 0.023 to 0.019, while the estimate "
        "hardly moves (0.160 → 0.163).",
        "the likelihood-ratio statistic is **6.328**, and its p-value is **0.0059**, from a "
        "**50:50 mixture of χ²(0) and χ²(1)**",
        "The plain χ²(1) p-value would be twice as large.",
    )
    random, fixed = ex.fit("USA", ("college",), "REML"), ex.fit("USA", (), "REML")
    _printed(_se(random, "college"), "0.023")
    _printed(_se(fixed, "college"), "0.019")
    _printed(_gamma(random, "college"), "0.160")
    _printed(_gamma(fixed, "college"), "0.163")
    test = ex.view(ExplorerSetting("USA", ()), previous=ExplorerSetting("USA")).tests["USA"]
    assert test.mixture and test.df == 1
    _printed(test.statistic, "6.328")
    _printed(test.p_value, "0.0059")
    assert test.p_value_naive == pytest.approx(2 * test.p_value, rel=1e-6)


def test_step4_boy_variance_is_zero_in_each_country(ex):
    says(
        NB,
        "In **both** countries the explorer reports, in plain words, that the variance of the "
        "boy slopes is estimated at zero.",
        "The likelihood-ratio statistic against step 3 is 0, and the LR p of boy is 1.000.",
        'In the slope distribution, boy is a single spike labelled "variance estimated at 0".',
        "with 150–183 schools",
        "notebook 04 found the same in both",
    )
    for country in ("Korea", "USA"):
        fit = ex.fit(country, ("boy",), "REML")
        assert _tau(fit, "boy") == 0.0
        assert any("slopes of boy is estimated at zero" in w for w in fit.warnings)
        view = ex.view(ExplorerSetting(country, ("boy",)), previous=ExplorerSetting(country, ()))
        assert view.tests[country].statistic == 0.0
        assert view.table.loc["boy", (country, "LR p")] == "1.000"
        figure = hlm.widgets.explorer_figure(view, "slope distribution")
        assert any("variance estimated at 0" in t.get_text() for t in figure.axes[1].texts)
    assert sorted(f.n_groups for f in (ex.fit(c, (), "REML") for c in ("Korea", "USA"))) == [
        150,
        183,
    ]


def test_step5_ml_shrinks_the_variances_and_is_not_compared_with_reml(ex):
    says(
        NB,
        "The fixed effects hardly move (college 0.463 → 0.464). The variances **shrink** a "
        "little: τ for college falls from 0.0091 to 0.0078, and τ00 from 0.0251 to 0.0246.",
        "The explorer refuses to compare a REML and an ML fit",
    )
    reml, ml = ex.fit("Korea", ("college",), "REML"), ex.fit("Korea", ("college",), "ML")
    _printed(_gamma(reml, "college"), "0.463")
    _printed(_gamma(ml, "college"), "0.464")
    _printed(_tau(reml, "college"), "0.0091")
    _printed(_tau(ml, "college"), "0.0078")
    _printed(_tau(reml, "Intercept"), "0.0251")
    _printed(_tau(ml, "Intercept"), "0.0246")
    for country in ("Korea", "USA"):  # "the variances shrink" holds in both countries
        for term in ("Intercept", "college"):
            assert _tau(ex.fit(country, ("college",), "ML"), term) < _tau(
                ex.fit(country, ("college",), "REML"), term
            )
    view = ex.view(ExplorerSetting("Korea", ("college",), "ML"), previous=ExplorerSetting())
    assert "method changed" in view.tests["Korea"]


def test_step6_both_countries_and_the_source_table(ex):
    says(
        NB,
        "US schools differ far more in their means (τ00 0.194 against 0.025, i.e. ICCs of "
        "29.3% and 2.7%) and more in their college slopes (0.020 against 0.009). Only the US "
        "slope variance has likelihood-ratio evidence behind it.",
        "Every number is within one published standard error of the source's. The largest "
        "gaps, about half an SE, are all in Korea: its college effect (0.46 against 0.49), its "
        "school variance (0.03 against 0.02) and its residual variance (0.89 against 0.88).",
        "After step 5 you are on ML. The source's table is the **REML** model with a random "
        "**college** slope and boy **fixed**.",
    )
    korea, usa = ex.fit("Korea", ("college",), "REML"), ex.fit("USA", ("college",), "REML")
    _printed(_tau(usa, "Intercept"), "0.194")
    _printed(_tau(korea, "Intercept"), "0.025")
    _printed(100 * usa.icc, "29.3")
    _printed(100 * korea.icc, "2.7")
    _printed(_tau(korea, "college"), "0.009")
    assert _lr(ex, "USA", "college").p_value < 0.05 < _lr(ex, "Korea", "college").p_value
    table = compare_published({"Korea": korea, "USA": usa}, HLM_RESULTS)
    gaps = {
        (country, row): abs(float(value))
        for country in ("Korea", "USA")
        for row, value in table[(country, "gap (SEs)")].items()
        if value
    }
    assert max(gaps.values()) < 1
    largest = {key for key, gap in gaps.items() if gap >= 0.4}
    assert largest == {("Korea", "college"), ("Korea", "Var(Intercept)"), ("Korea", "Residual")}
    assert all(gaps[key] <= 0.65 for key in largest)  # "about half an SE"
    for row, ours, published in (
        ("college", "0.46", "0.49"),
        ("Var(Intercept)", "0.03", "0.02"),
        ("Residual", "0.89", "0.88"),
    ):
        assert table.loc[row, ("Korea", "ours")].startswith(ours)
        assert HLM_RESULTS["Korea"][row][0] == published
    # the source's model is REML, college random, boy fixed (TYPE=VC)
    assert "Var(college)" in HLM_RESULTS["Korea"] and "Var(boy)" not in HLM_RESULTS["Korea"]


def test_summary_claims(ex):
    says(
        NB,
        "The fixed effects usually move little, but their standard errors grow",
        "In these data only the US college slope has such evidence.",
        "it is strongest where the data say least",
    )
    for country in ("Korea", "USA"):
        random, fixed = ex.fit(country, ("college",), "REML"), ex.fit(country, (), "REML")
        assert _se(random, "college") > _se(fixed, "college")
        assert abs(_gamma(random, "college") - _gamma(fixed, "college")) < 0.5 * _se(
            fixed, "college"
        )
    evidence = {
        (c, t): _lr(ex, c, t).p_value < 0.05 for c in ("Korea", "USA") for t in ("college", "boy")
    }
    assert [k for k, v in evidence.items() if v] == [("USA", "college")]
    korea, usa = ex.fit("Korea", ("college",), "REML"), ex.fit("USA", ("college",), "REML")
    ratio = {
        c: _eblup_sd(f, "college") / np.sqrt(_tau(f, "college"))
        for c, f in (("Korea", korea), ("USA", usa))
    }
    reliability = {
        c: f.school_reliability["college"].mean() for c, f in (("Korea", korea), ("USA", usa))
    }
    assert ratio["Korea"] < ratio["USA"] and reliability["Korea"] < reliability["USA"]


def test_exercise_solutions(ex):
    says(
        NB,
        "The statistic is about 6.06 (REML: 6.33), with a mixture p of about 0.007.",
        "Three. Only the US college slope has evidence (p ≈ 0.006). Korea's college slope has "
        "p ≈ 0.34, and the boy slope's variance is estimated at zero in both countries (p = 1).",
        "the US fraction, 0.065 / 0.140 ≈ 0.46",
        "About 0.19 (0.186): Korea's EBLUPs of the college slope spread only a fifth",
        "Korea's τ is small (0.009), its residual variance is large (0.89 against 0.47 in the "
        "USA), and its schools have about 19 students each, against about 38 in the USA.",
    )
    ml = _lr(ex, "USA", "college", "ML")
    _printed(ml.statistic, "6.06")
    _printed(_lr(ex, "USA", "college").statistic, "6.33")
    _printed(ml.p_value, "0.007")
    assert solution_value("06.1") == pytest.approx(ml.statistic)
    _printed(_lr(ex, "USA", "college").p_value, "0.006")
    _printed(_lr(ex, "Korea", "college").p_value, "0.34")
    assert all(_lr(ex, c, "boy").p_value == 1.0 for c in ("Korea", "USA"))
    assert solution_value("06.2") == 3
    korea, usa = ex.fit("Korea", ("college",), "REML"), ex.fit("USA", ("college",), "REML")
    _printed(_eblup_sd(usa, "college") / np.sqrt(_tau(usa, "college")), "0.46")
    ratio = _eblup_sd(korea, "college") / np.sqrt(_tau(korea, "college"))
    _printed(ratio, "0.19")
    _printed(ratio, "0.186")
    assert 0.15 < ratio < 0.25  # "a fifth"
    assert solution_value("06.3") == pytest.approx(ratio)
    _printed(korea.sigma2, "0.89")
    _printed(usa.sigma2, "0.47")
    sizes = hlm.load_timss().groupby("country", observed=True)["school"].value_counts()
    assert round(sizes["Korea"].mean()) == 19 and round(sizes["USA"].mean()) == 38
