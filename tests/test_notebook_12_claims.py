"""Notebook 12's prose, checked: every number it quotes and every claim it makes about the data.

Each test first finds the sentence in the notebook's markdown (so that a reworded claim
fails here and is checked again), then recomputes the claim from the package and the
shipped data. The published numbers are those of the WeMix vignette's Table 1 (Bailey,
Kelley & Nguyen 2019), as copied in the notebook.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hlmteach as hlm
from hlmteach.exercises import EXERCISES, solution_value
from hlmteach.survey_weights import scale_conditional_weights

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "12_real_timss_files.ipynb"
FORMULA = "pv1math ~ st29q03 + sc14q02 + st04q01 + escs"
PVS = [f"pv{k}math" for k in range(1, 6)]
SCHOOL_LEVELS = ["sc14q02[T.Very little]", "sc14q02[T.To some extent]", "sc14q02[T.A lot]"]
INTEREST = ["st29q03[T.Agree]", "st29q03[T.Disagree]", "st29q03[T.Strongly disagree]"]

#: WeMix vignette, Table 1, WeMix column: fixed effects (estimate, SE) as printed.
WEMIX_FIXED = {
    "Intercept": ("486.80", "7.7780"),
    "st29q03[T.Agree]": ("-11.108", "5.6998"),
    "st29q03[T.Strongly disagree]": ("-41.542", "6.8643"),
    "st29q03[T.Disagree]": ("-19.255", "5.4556"),
    "sc14q02[T.A lot]": ("-26.913", "7.6573"),
    "sc14q02[T.To some extent]": ("-11.782", "12.821"),
    "sc14q02[T.Very little]": ("-21.340", "17.060"),
    "st04q01[T.Male]": ("9.5077", "2.9860"),
    "escs": ("25.568", "2.1175"),
}
#: Table 1's SE of tau00 in each package.
SE_TAU = {"WeMix": 327.50, "Stata mixed": 340.75, "GLLAMM": 365.91, "SAS": 364.73, "Mplus": 364.725}


def _decimals(printed: str) -> int:
    """How many decimals a printed number has ("7.7780" -> 4)."""
    return len(printed.split(".")[1]) if "." in printed else 0


@pytest.fixture(scope="module")
def prose() -> str:
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return re.sub(r"\s+", " ", text.replace("\u2212", "-"))


def says(prose: str, *phrases: str) -> None:
    for phrase in phrases:
        assert re.sub(r"\s+", " ", phrase) in prose, (
            f"notebook 12 no longer says {phrase!r}: check the new wording and update this test"
        )


@pytest.fixture(scope="module")
def pisa() -> pd.DataFrame:
    return hlm.load_pisa()


def _fit(data, **weights):
    return hlm.fit_hlm(data, FORMULA, group="schoolid", method="ML", **weights)


BOTH = {"weights": "w_fstuwt", "group_weights": "w_fschwt"}


@pytest.fixture(scope="module")
def fits(pisa) -> dict:
    return {
        "unweighted": _fit(pisa),
        "none": _fit(pisa, **BOTH),
        "size": _fit(pisa, weight_scaling="size", **BOTH),
        "effective": _fit(pisa, weight_scaling="effective", **BOTH),
        "school only": _fit(pisa, group_weights="w_fschwt"),
    }


def _tau(fit) -> float:
    return float(fit.tau.iloc[0, 0])


# -- the data -------------------------------------------------------------------------------


def test_students_schools_and_weight_total(prose, pisa):
    says(prose, "(3,136 students in 157 schools)", "(2,236,615 for these students)")
    assert len(pisa) == 3136 and pisa["schoolid"].nunique() == 157
    assert round(pisa["w_fstuwt"].sum()) == 2236615


def test_load_pisa_puts_the_reference_levels_first(prose, pisa):
    says(
        prose,
        "(`load_pisa` already puts the reference levels first)",
        "(reference: *Strongly agree*)",
        "(reference: *Not at all*)",
        "(reference: *Female*)",
    )
    first = {name: pisa[name].cat.categories[0] for name in ("st29q03", "sc14q02", "st04q01")}
    assert first == {"st29q03": "Strongly agree", "sc14q02": "Not at all", "st04q01": "Female"}


def test_the_weights_are_what_section_1_says(prose, pisa):
    says(prose, "the extract's `pwt1` is the conditional weight `w_fstuwt / w_fschwt`")
    assert (pisa.groupby("schoolid")["w_fschwt"].nunique() == 1).all()
    np.testing.assert_allclose(pisa["pwt1"], pisa["w_fstuwt"] / pisa["w_fschwt"], rtol=1e-12)


def test_quick_checks_of_sections_2_4_and_5(prose, pisa, fits):
    says(
        prose,
        "It counts her as 200 students; it should count her as $200 / 40 = 5$.",
        "with every school weight multiplied by 10 the same two models would differ by 340",
        "With raw weights, $20 \\times 9 = 180$ students.",
    )
    assert 200 / 40 == 5 and 20 * 9 == 180
    # The drop in -2 log PL between two weighted fits scales with the school weights.
    data = pisa.assign(w10=10 * pisa["w_fschwt"])
    pair = {}
    for column in ("w_fschwt", "w10"):
        options = {"weights": "pwt1", "conditional_weights": True, "group_weights": column}
        smaller = hlm.fit_hlm(
            data, "pv1math ~ st29q03 + st04q01 + escs", group="schoolid", method="ML", **options
        )
        pair[column] = smaller.deviance - _fit(data, **options).deviance
    assert pair["w10"] == pytest.approx(10 * pair["w_fschwt"], rel=1e-6)


def test_quick_check_arithmetic(prose):
    says(prose, "The school weight is $50 \\times 1.2 = 60$", "$300 / 60 = 5$")
    assert pytest.approx(60) == 50 * 1.2 and 300 / 60 == 5


# -- section 2: the two weight forms give one fit; REML refused -------------------------------


def test_total_and_conditional_forms_give_the_same_fit(prose, pisa, fits):
    says(prose, "Both give the same fit.")
    conditional = _fit(pisa, weights="pwt1", group_weights="w_fschwt", conditional_weights=True)
    assert conditional.deviance == pytest.approx(fits["none"].deviance, rel=1e-10)
    np.testing.assert_allclose(
        conditional.fixed["estimate"], fits["none"].fixed["estimate"], rtol=1e-5
    )
    assert _tau(conditional) == pytest.approx(_tau(fits["none"]), rel=1e-5)


def test_reml_is_refused_with_weights(prose, pisa):
    says(prose, "`hlmteach` refuses it with weights")
    with pytest.raises(hlm.ModelInputError, match="method='ML'"):
        hlm.fit_hlm(pisa, FORMULA, group="schoolid", **BOTH)


# -- section 3: weighted against unweighted, and the published fit ----------------------------


def test_weighting_raises_tau_and_the_icc(prose, fits):
    says(
        prose,
        "Weighting raises the between-school variance $\\tau_{00}$ by about a third and lowers "
        "$\\sigma^2$ a little, so the ICC rises.",
    )
    weighted, unweighted = fits["none"], fits["unweighted"]
    assert 1.25 <= _tau(weighted) / _tau(unweighted) <= 1.42
    assert 0.95 < weighted.sigma2 / unweighted.sigma2 < 1.0
    assert weighted.icc > unweighted.icc


def test_schools_with_large_weights_differ_more(prose, pisa):
    says(
        prose,
        "the means of `pv1math` vary more across the schools with above-median school weights "
        "than across the others",
    )
    schools = pisa.groupby("schoolid").agg(weight=("w_fschwt", "first"), mean=("pv1math", "mean"))
    above = schools["weight"] > schools["weight"].median()
    assert schools.loc[above, "mean"].var() > schools.loc[~above, "mean"].var()


def test_the_total_weight_passed_as_conditional_runs_and_is_wrong(prose, pisa, fits):
    says(
        prose,
        "Passing the total weight with `conditional_weights=True` is a mistake that runs "
        "without any error",
    )
    wrong = _fit(pisa, weights="w_fstuwt", group_weights="w_fschwt", conditional_weights=True)
    assert wrong.converged
    assert abs(_tau(wrong) / _tau(fits["none"]) - 1) > 0.2


def test_how_the_fixed_effects_move(prose, pisa, fits):
    says(
        prose,
        "The intercept and the `escs` slope are lower with the weights, `escs` by about one "
        "standard error.",
        "(*Very little* by almost two unweighted SEs)",
        "its three levels come from only 25, 13 and 3 schools",
    )
    weighted, unweighted = fits["none"].fixed, fits["unweighted"].fixed
    shift = (weighted["estimate"] - unweighted["estimate"]) / unweighted["se"]
    assert shift["Intercept"] < 0 and -1.3 < shift["escs"] < -0.8
    assert 1.6 < abs(shift["sc14q02[T.Very little]"]) < 2.0
    # The school-level effects move most.
    assert abs(shift[SCHOOL_LEVELS[:2]]).min() > abs(shift.drop(SCHOOL_LEVELS)).max()
    schools = pisa.groupby("sc14q02", observed=True)["schoolid"].nunique()
    assert schools[["Very little", "To some extent", "A lot"]].tolist() == [25, 13, 3]
    assert (pisa.groupby("schoolid")["sc14q02"].nunique() == 1).all(), "a school-level answer"


def test_standard_errors_grow_for_8_of_9(prose, fits):
    says(prose, "grow with the weights for 8 of the 9 fixed effects", "*A lot*, rests on only 3")
    grew = fits["none"].fixed["se"] > fits["unweighted"].fixed["se"]
    assert grew.sum() == 8 and len(grew) == 9
    assert not grew["sc14q02[T.A lot]"]


def test_the_published_fit_to_its_printed_digits(prose, fits):
    says(
        prose,
        "agree with WeMix to every printed digit (Stata differs from both in the last digit of "
        "the log-likelihood and of $\\tau_{00}$)",
        "The SEs of the two variances are Stata `mixed`'s (to within 0.01), not WeMix's",
        "The pseudo-log-likelihood above is -12,789,992.",
    )
    weighted = fits["none"]
    assert round(-weighted.deviance / 2, 1) == -12789992.0
    assert round(_tau(weighted), 2) == 1413.81 and round(weighted.sigma2, 2) == 5264.80
    se_tau, se_sigma2 = weighted.covariance["se"]
    assert round(se_tau, 2) == pytest.approx(SE_TAU["Stata mixed"], abs=0.011)
    assert round(se_sigma2, 2) == 152.58  # Stata mixed; WeMix prints 152.49
    # Stata's own log-likelihood and tau00 differ from WeMix's in their last printed digit.
    assert round(-weighted.deviance / 2, 1) != -12789991.9 and round(_tau(weighted), 2) != 1413.85
    assert abs(se_tau - SE_TAU["WeMix"]) > 10


def test_fixed_effects_and_their_ses_match_wemix(prose, fits):
    says(
        prose,
        "`hlmteach` matches Stata `mixed` for the variances' SEs, and WeMix and Stata "
        "for the fixed effects'",
    )
    fixed = fits["none"].fixed
    for term, (estimate, se) in WEMIX_FIXED.items():
        assert f"{fixed.loc[term, 'estimate']:.{_decimals(estimate)}f}" == estimate, term
        assert f"{fixed.loc[term, 'se']:.{_decimals(se)}f}" == se, term


def test_packages_disagree_on_the_se_of_tau_by_up_to_12_percent(prose):
    says(
        prose,
        "327.50 (WeMix), 340.75 (Stata `mixed`), 365.91 (GLLAMM), 364.73 (SAS) and 364.725 "
        "(Mplus): up to 12% apart",
    )
    spread = max(SE_TAU.values()) / min(SE_TAU.values()) - 1
    assert 0.11 < spread <= 0.12


# -- section 4: what a pseudo-likelihood can and cannot do ------------------------------------


def test_school_weights_times_10(prose, pisa, fits):
    says(
        prose,
        "Multiply every school weight by 10, and it is 10 times larger, while every "
        "estimate stays the same",
    )
    data = pisa.assign(w_fschwt_x10=10 * pisa["w_fschwt"])
    times10 = _fit(data, weights="pwt1", conditional_weights=True, group_weights="w_fschwt_x10")
    assert times10.deviance / fits["none"].deviance == pytest.approx(10, rel=1e-9)
    np.testing.assert_allclose(times10.fixed["estimate"], fits["none"].fixed["estimate"], rtol=1e-5)
    assert _tau(times10) == pytest.approx(_tau(fits["none"]), rel=1e-5)


def test_no_aic_and_no_lr_test(prose, pisa, fits):
    says(prose, "`hlmteach` prints no AIC or BIC for a weighted fit, and `hlm.lr_test` refuses one")
    stats = fits["none"].fit_stats
    assert stats[["AIC", "AICC", "BIC"]].isna().all()
    smaller = hlm.fit_hlm(
        pisa, "pv1math ~ st29q03 + st04q01 + escs", group="schoolid", method="ML", **BOTH
    )
    with pytest.raises(hlm.ModelInputError, match="pseudo-likelihood"):
        hlm.lr_test(smaller, fits["none"])


# -- section 5: scaling -----------------------------------------------------------------------


def test_scaled_weights_collapse_to_one_when_constant(prose):
    says(
        prose,
        "When every student of a school has the same conditional weight, both turn them all into 1",
    )
    codes = np.array([0, 0, 0, 1, 1])
    weights = np.array([7.0, 7.0, 7.0, 2.5, 2.5])
    for scaling in ("size", "effective"):
        np.testing.assert_allclose(scale_conditional_weights(weights, codes, scaling), 1.0)


def test_wemix_gives_the_same_scaled_fits(prose, fits):
    says(
        prose,
        "WeMix, given the same rescaled weights (with `cWeights = TRUE`), finds the same two fits",
    )
    wemix = json.loads((ROOT / "tests" / "fixtures" / "weighted_wemix.json").read_text())["fits"]
    for name in ("size", "effective"):
        reference = wemix[f"table1_scaled_{name}"]
        assert reference["call"]["weights"] == [f"w_{name}", "w_fschwt"]
        fit = fits[name]
        assert _tau(fit) == pytest.approx(
            reference["variances"]["(Intercept)"]["estimate"], rel=1e-5
        )
        assert fit.sigma2 == pytest.approx(reference["variances"]["Residual"]["estimate"], rel=1e-6)
        for term, wemix_term in (("escs", "escs"), ("Intercept", "(Intercept)")):
            assert fit.fixed.loc[term, "estimate"] == pytest.approx(
                reference["fixed"][wemix_term]["estimate"], rel=1e-5
            ), (name, term)


def test_size_and_effective_nearly_agree(prose, pisa, fits):
    says(
        prose,
        '**`"size"` and `"effective"` give nearly the same fit**',
        "the conditional weights vary little within a school",
    )
    conditional = pisa["w_fstuwt"] / pisa["w_fschwt"]
    spread = conditional.groupby(pisa["schoolid"]).agg(lambda w: w.std() / w.mean()).dropna()
    assert spread.median() < 0.1
    size, effective = fits["size"], fits["effective"]
    assert _tau(effective) == pytest.approx(_tau(size), rel=0.01)
    gap = (size.fixed["estimate"] - effective.fixed["estimate"]).abs() / size.fixed["se"]
    assert gap.max() < 0.05


def test_scaling_lowers_tau_by_a_fifth_towards_school_weights_only(prose, fits):
    says(
        prose,
        "**Both lower $\\tau_{00}$ by about a fifth** compared with raw weights, and "
        "bring the whole fit close to the one with school weights only.",
    )
    raw = _tau(fits["none"])
    for name in ("size", "effective"):
        assert 0.75 <= _tau(fits[name]) / raw <= 0.85, name
        assert _tau(fits[name]) == pytest.approx(_tau(fits["school only"]), rel=0.03)
        gap = (fits[name].fixed["estimate"] - fits["school only"].fixed["estimate"]).abs()
        assert (gap / fits[name].fixed["se"]).max() < 0.15, name


def test_scaling_moves_some_fixed_effects_by_more_than_an_se(prose, fits):
    says(
        prose,
        "The maths-interest contrasts (`st29q03`) grow (*Agree* about doubles), and "
        "`escs` is about 3 points steeper.",
    )
    raw, size = fits["none"].fixed, fits["size"].fixed
    assert (size.loc[INTEREST, "estimate"] < raw.loc[INTEREST, "estimate"]).all()
    assert 1.8 <= size.loc[INTEREST[0], "estimate"] / raw.loc[INTEREST[0], "estimate"] <= 2.4
    steeper = size.loc["escs", "estimate"] - raw.loc["escs", "estimate"]
    assert 2.5 <= steeper <= 3.5 and steeper > raw.loc["escs", "se"]
    assert (
        abs(size.loc[INTEREST[0], "estimate"] - raw.loc[INTEREST[0], "estimate"])
        > (raw.loc[INTEREST[0], "se"])
    )


# -- section 6: plausible values with weights -------------------------------------------------


@pytest.fixture(scope="module")
def pooled(pisa):
    return hlm.fit_plausible_values(
        pisa,
        "{pv} ~ st29q03 + sc14q02 + st04q01 + escs",
        outcomes=PVS,
        group="schoolid",
        method="ML",
        **BOTH,
    )


def test_pooling_moves_estimates_by_a_fraction_of_an_se(prose, pooled):
    says(
        prose,
        "The pooled estimates move by a fraction of a standard error.",
        "The pooled SEs are larger for most fixed effects",
        "An SE can come out a little smaller (`escs` here)",
    )
    comparison = pooled.comparison()
    moved = (comparison["estimate_pooled"] - comparison["estimate_first"]).abs()
    assert (moved / comparison["se_first"]).max() < 0.5
    fixed = comparison.loc["fixed"]
    assert (fixed["se_ratio"] > 1).sum() > len(fixed) / 2
    assert fixed.loc["escs", "se_ratio"] < 1


def test_the_pooled_report_states_the_weighting(prose, pooled):
    says(
        prose,
        "The within-PV variance $\\bar U$ is then the average of the five *sandwich* variances.",
        "gives the full pooled report, which states the weighting too",
    )
    sandwich = pd.DataFrame({pv: fit.fixed["se"] ** 2 for pv, fit in pooled.fits.items()})
    np.testing.assert_allclose(pooled.fixed["within"], sandwich.mean(axis=1), rtol=1e-12)
    for report in (pooled.summary(), pooled._repr_html_()):
        assert "Survey weights: students &#x27;w_fstuwt&#x27;" in report or (
            "Survey weights: students 'w_fstuwt'" in report
        )
        assert "sandwich variances" in report


# -- section 8: the reader's instructions -----------------------------------------------------


def test_the_code_shown_for_your_own_files_is_valid_python(prose):
    says(
        prose,
        "`hlm.read_timss_files` needs the `pyreadstat` package, which the course's "
        "environment (and Binder) already has",
    )
    assert re.search(r"^pyreadstat==", (ROOT / "binder" / "requirements.txt").read_text(), re.M)
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    blocks = [
        block
        for cell in cells
        if cell["cell_type"] == "markdown"
        for block in re.findall(r"```python\n(.*?)```", "".join(cell["source"]), re.S)
    ]
    assert len(blocks) >= 6
    for block in blocks:
        ast.parse(block)
    assert "hlm.read_timss_files(" in "\n".join(blocks)
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert "hlm.load_timss()   # with your files: timss = hlm.read_timss_files(...)" in code
    assert 'weights="total_weight", group_weights="school_weight"' in code


# -- the exercises' solutions -----------------------------------------------------------------


def test_exercise_12_1_the_stata_form_gives_the_published_log_likelihood(pisa):
    stata = _fit(pisa, weights="pwt1", conditional_weights=True, group_weights="w_fschwt")
    assert hlm.check("12.1", -stata.deviance / 2).correct
    assert not hlm.check("12.1", stata.deviance).correct


def test_exercise_12_2_school_weights_only_is_close_to_the_scaled_fits(prose, fits, pisa, pooled):
    says(
        prose,
        'school_only.fixed.loc["escs", ["estimate", "se"]]   # about 28.4 (SE 2.65)',
        "# raw weights, section 6: about 25.9 (SE 2.11)",
        "The pooled `escs` coefficient is about 28.4 with school weights only, against 25.9 with "
        "raw weights at both levels: a difference of about 2.6, about one standard error, so "
        "not small. As in the single-PV fits of section 5, school weights only agree with the "
        '`"size"` fit (pooled, also about 28.4) and not with raw weights',
    )
    pooled_fit = {
        name: hlm.fit_plausible_values(
            pisa,
            "{pv} ~ st29q03 + sc14q02 + st04q01 + escs",
            outcomes=PVS,
            group="schoolid",
            method="ML",
            **weights,
        ).fixed.loc["escs"]
        for name, weights in (
            ("school only", {"group_weights": "w_fschwt"}),
            ("size", {"weight_scaling": "size", **BOTH}),
        )
    }
    school, raw = pooled_fit["school only"], pooled.fixed.loc["escs"]
    assert solution_value("12.2") == pytest.approx(school["estimate"])
    assert (round(school["estimate"], 1), round(school["se"], 2)) == (28.4, 2.65)
    assert (round(raw["estimate"], 1), round(raw["se"], 2)) == (25.9, 2.11)
    assert round(pooled_fit["size"]["estimate"], 1) == 28.4
    difference = school["estimate"] - raw["estimate"]
    assert round(difference, 1) == 2.6
    assert 0.9 < difference / school["se"] < 1.25 and 0.9 < difference / raw["se"] < 1.25
    # the single-PV fits of section 5: school weights only next to "size", away from raw
    escs = {name: fit.fixed.loc["escs", "estimate"] for name, fit in fits.items()}
    assert abs(escs["school only"] - escs["size"]) < 0.1
    assert abs(escs["school only"] - escs["none"]) > 2
    # the self-check rejects the printed single-PV number and the raw-weight pooled one
    assert hlm.check("12.2", school["estimate"]).correct
    for wrong in (escs["school only"], raw["estimate"]):
        assert not hlm.check("12.2", wrong).correct, wrong


def test_exercise_12_3_effective_scaling_shrinks_the_slope_variance(prose, pisa):
    says(
        prose,
        "With effective scaling the slope variance is about a quarter of the raw-weight estimate.",
    )
    slopes = {"random": ["escs"], "covariance": "vc", **BOTH}
    raw = hlm.fit_hlm(pisa, FORMULA, group="schoolid", method="ML", **slopes)
    effective = hlm.fit_hlm(
        pisa, FORMULA, group="schoolid", method="ML", weight_scaling="effective", **slopes
    )
    tau11 = {"raw": raw.tau.loc["escs", "escs"], "effective": effective.tau.loc["escs", "escs"]}
    assert 0.2 <= tau11["effective"] / tau11["raw"] <= 0.3
    says(
        prose,
        "The raw-weight fit is the vignette's Table 2 ($\\hat\\tau_{11}$ = 370.33 there too).",
    )
    assert round(tau11["raw"], 2) == 370.33
    assert hlm.check("12.3", tau11["effective"]).correct
    assert not hlm.check("12.3", tau11["raw"]).correct


def test_exercise_12_4_pooled_se_exceeds_the_first_pv(prose, pooled):
    says(
        prose,
        "so its pooled SE is larger than the first plausible value's SE by more than any other "
        "fixed effect's",
    )
    term = "st29q03[T.Disagree]"
    assert pooled.fixed["fmi"].idxmax() == term
    assert pooled.comparison().loc["fixed", "se_ratio"].idxmax() == term
    assert pooled.fixed.loc[term, "se"] > pooled.first.fixed.loc[term, "se"]
    assert hlm.check("12.4", pooled.fixed.loc[term, "se"]).correct
    assert not hlm.check("12.4", pooled.first.fixed.loc[term, "se"]).correct


def test_exercise_12_5_the_house_weight_trap(prose, pisa, fits):
    says(
        prose,
        "each school now counts as if it had tested only a fraction of a student",
        "($\\hat\\tau_{00} = 0$, on the boundary)",
        'the fit equals the `"size"` fit with the total weight',
    )
    data = pisa.assign(house=pisa["w_fstuwt"] * len(pisa) / pisa["w_fstuwt"].sum())
    assert (data["house"] / data["w_fschwt"]).groupby(data["schoolid"]).sum().max() < 1
    house = _fit(data, weights="house", group_weights="w_fschwt")
    assert _tau(house) == 0 and house.covariance.loc["Var(Intercept)", "boundary"]
    assert house.sigma2 > fits["none"].sigma2
    assert any("Boundary fit" in w for w in house.warnings)
    assert hlm.check("12.5", house.sigma2).correct
    house_size = _fit(data, weights="house", group_weights="w_fschwt", weight_scaling="size")
    np.testing.assert_allclose(
        house_size.fixed["estimate"], fits["size"].fixed["estimate"], rtol=1e-5
    )
    assert _tau(house_size) == pytest.approx(_tau(fits["size"]), rel=1e-5)


def test_every_exercise_of_notebook_12_is_asked_and_checked():
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    keys = sorted(k for k in EXERCISES if k.startswith("12."))
    assert keys == ["12.1", "12.2", "12.3", "12.4", "12.5"]
    for key in keys:
        assert f'hlm.check("{key}", my_answer)' in code


# -- section 7: the synthetic TIMSS design ----------------------------------------------------

RC = {"group": "school", "random": ["college"], "covariance": "vc", "method": "ML"}
DESIGN = {"weights": "total_weight", "group_weights": "school_weight"}
WAYS = {
    "unweighted": {},
    "none": DESIGN,
    "size": {**DESIGN, "weight_scaling": "size"},
    "school only": {"group_weights": "school_weight"},
}


@pytest.fixture(scope="module")
def timss() -> pd.DataFrame:
    return hlm.load_timss()


@pytest.fixture(scope="module")
def timss_fits(timss) -> dict:
    return {
        (country, way): hlm.fit_hlm(part, "math ~ college + boy", **RC, **weights)
        for country, part in timss.groupby("country", observed=True)
        for way, weights in WAYS.items()
    }


def _params(fit) -> pd.DataFrame:
    return pd.concat([fit.fixed[["estimate", "se"]], fit.covariance[["estimate", "se"]]])


def test_the_synthetic_design_is_what_section_7_says(prose, timss):
    says(
        prose,
        "a frame of schools is split into a stratum of small and one of large schools, and "
        "schools are drawn by PPS within each; then one or two classes per school",
        "students whose parents did not finish college were absent more often, so the "
        "non-response adjustment weights them up",
    )
    assert "SYNTHETIC" in timss.attrs["label"]
    factors = timss[["wgtfac1", "wgtadj1", "wgtfac2", "wgtadj2", "wgtfac3", "wgtadj3"]]
    np.testing.assert_allclose(timss["total_weight"], factors.prod(axis=1), rtol=1e-5)
    np.testing.assert_allclose(
        timss["school_weight"], timss["wgtfac1"] * timss["wgtadj1"], rtol=1e-6
    )
    for _, part in timss.groupby("country", observed=True):
        # IDSTUD = IDSCHOOL * 10000 + class * 100 + seat, as in the IEA files.
        classes = (part["idstud"] // 100 % 100).groupby(part["school"]).nunique()
        assert set(classes) == {1, 2}
        known = part.dropna(subset=["college"])
        adjustment = known.groupby("college")["wgtadj3"].mean()
        assert adjustment[0.0] > adjustment[1.0], "no-college students are weighted up more"


def test_raw_weights_inflate_the_timss_variances(prose, timss, timss_fits):
    says(
        prose,
        "the raw conditional weights of a school add up to many times the number of students "
        "tested",
        "With raw weights Korea's $\\tau_{00}$ more than triples and the variance of its college "
        "slopes grows many times over; in the USA the college-slope variance grows about "
        "fivefold; $\\sigma^2$ falls in both.",
    )
    per_school = timss.groupby(["country", "school"], observed=True)["within_school_weight"]
    ratio = (per_school.sum() / per_school.size()).groupby(level="country", observed=True)
    assert ratio.median()["Korea"] > 10 and ratio.median()["USA"] > 2
    tau = {key: fit.tau for key, fit in timss_fits.items()}
    korea_raw, korea = tau[("Korea", "none")], tau[("Korea", "unweighted")]
    assert korea_raw.loc["Intercept", "Intercept"] > 3 * korea.loc["Intercept", "Intercept"]
    assert korea_raw.loc["college", "college"] > 10 * korea.loc["college", "college"]
    usa = (
        tau[("USA", "none")].loc["college", "college"]
        / tau[("USA", "unweighted")].loc["college", "college"]
    )
    assert 4 <= usa <= 6.5
    for country in ("Korea", "USA"):
        assert timss_fits[(country, "none")].sigma2 < timss_fits[(country, "unweighted")].sigma2


def test_scaled_and_school_only_agree_and_stay_near_unweighted(prose, timss_fits):
    says(
        prose,
        "**Scaled weights and school weights only agree with each other**, within a fraction "
        "of an SE, and their variances stay within about one SE of the unweighted ones.",
    )
    for country in ("Korea", "USA"):
        size = _params(timss_fits[(country, "size")])
        school_only = _params(timss_fits[(country, "school only")])
        unweighted = _params(timss_fits[(country, "unweighted")])
        assert ((size["estimate"] - school_only["estimate"]).abs() / size["se"]).max() < 0.3
        variances = timss_fits[(country, "size")].covariance.index
        for fit in (size, school_only):
            gap = (fit.loc[variances, "estimate"] - unweighted.loc[variances, "estimate"]).abs()
            assert (gap / unweighted.loc[variances, "se"]).max() <= 1.1, country


def test_weighted_intercepts_are_lower_and_heavy_schools_score_lower(prose, timss, timss_fits):
    says(
        prose,
        "**The intercept is lower with the weights** (scaled, or school weights only) in both "
        "countries.",
        "the school weight and the school's mean `math` are negatively correlated in both "
        "countries",
    )
    for country, part in timss.groupby("country", observed=True):
        unweighted = timss_fits[(country, "unweighted")].fixed.loc["Intercept", "estimate"]
        for way in ("size", "school only"):
            assert timss_fits[(country, way)].fixed.loc["Intercept", "estimate"] < unweighted
        schools = part.groupby("school").agg(w=("school_weight", "first"), m=("math", "mean"))
        assert np.corrcoef(schools["w"], schools["m"])[0, 1] < 0, country


def test_the_stand_in_analysis_runs_and_reports_dropped_students(prose, timss):
    says(
        prose, "Mind the students with a missing predictor: each fit drops them and says how many."
    )
    result = hlm.fit_plausible_values(
        timss,
        "{pv} ~ college + boy",
        outcomes=["math1", "math2", "math3", "math4", "math5"],
        group="school",
        random=["college"],
        covariance="vc",
        by="country",
        method="ML",
        weights="total_weight",
        group_weights="school_weight",
        weight_scaling="size",
    )
    for country in ("Korea", "USA"):
        report = result[country].summary()
        assert "missing predictor: 1" in report, report[:400]
        assert "Survey weights" in report and "rescaled" in report


# -- section 8, end to end: IEA-layout files -> read_timss_files -> the weighted analysis ------

#: The course's parents' education levels as IEA codes of BSBGEDUM/BSBGEDUF (1995 codebook).
_EDUCATION_CODE = {"middle school": 1, "high school": 3, "2-year college": 5, "college": 6}


def _iea_files(folder: Path, timss: pd.DataFrame) -> dict[str, Path]:
    """Each country's synthetic students as an IEA student background file, BSG<country>M1.sav."""
    import pyreadstat

    paths = {}
    for country, code in (("Korea", "KOR"), ("USA", "USA")):
        part = timss[timss["country"] == country]
        education = part["parent_educ"].astype(object).map(_EDUCATION_CODE).fillna(99)
        frame = pd.DataFrame(
            {
                "IDCNTRY": part["idcntry"].astype(int),
                "IDSCHOOL": part["idschool"].astype(int),
                "IDSTUD": part["idstud"].astype(int),
                "ITSEX": np.where(part["boy"] == 1, 2, 1),
                "BSBGEDUM": education.astype(int),
                "BSBGEDUF": 7,  # "I don't know": the mother's answer decides
                **{f"BSMPV0{k}": part[f"bsmpv0{k}"] for k in range(1, 6)},
                "TOTWGT": part["total_weight"],
                "HOUWGT": part["house_weight"],
                "SENWGT": part["senate_weight"],
                **{name.upper(): part[name] for name in ("wgtfac1", "wgtadj1", "wgtfac2")},
                **{name.upper(): part[name] for name in ("wgtfac3", "wgtadj3")},
                "JKZONE": part["jk_zone"].astype(int),
                "JKREP": part["jk_replicate"].astype(int),
            }
        )
        folder_of_country = folder / country.lower()
        folder_of_country.mkdir()
        paths[country] = folder_of_country / f"BSG{code}M1.sav"
        pyreadstat.write_sav(frame, str(paths[country]))
    return paths


def test_section_8_runs_on_files_in_the_iea_layout(prose, tmp_path, timss):
    says(
        prose,
        "You may pass a folder instead of a file: the reader picks the file whose name starts "
        "with `BSG` and the country's code.",
        "with your files, replace `hlm.load_timss()` by the `read_timss_files(...)` call above",
    )
    paths = _iea_files(tmp_path, timss)
    real = hlm.read_timss_files(paths["Korea"].parent, paths["USA"].parent)
    assert real.attrs["label"].startswith("REAL TIMSS 1995 data")
    assert real.attrs["design_variables"]["jk_replicate"] == "JKREP"
    assert len(real) == len(timss)
    columns = [
        "math1",
        "math5",
        "college",
        "boy",
        "total_weight",
        "school_weight",
        "within_school_weight",
    ]
    np.testing.assert_allclose(
        real[columns].to_numpy(float), timss[columns].to_numpy(float), rtol=1e-5, atol=1e-5
    )
    # The notebook's one-cell analysis gives the same answer on what the reader returns.
    analysis = {
        "outcomes": ["math1", "math2", "math3", "math4", "math5"],
        "group": "school",
        "random": ["college"],
        "covariance": "vc",
        "by": "country",
        "method": "ML",
        "weights": "total_weight",
        "group_weights": "school_weight",
        "weight_scaling": "size",
    }
    from_files = hlm.fit_plausible_values(real, "{pv} ~ college + boy", **analysis)
    stand_in = hlm.fit_plausible_values(timss, "{pv} ~ college + boy", **analysis)
    for country in ("Korea", "USA"):
        np.testing.assert_allclose(
            from_files[country].fixed["estimate"], stand_in[country].fixed["estimate"], atol=1e-4
        )


def test_a_missing_weight_variable_is_named_with_its_file(prose, tmp_path, timss):
    says(prose, "A missing or renamed weight variable is an error that names it and the file.")
    import pyreadstat

    paths = _iea_files(tmp_path, timss)
    frame, _ = pyreadstat.read_sav(str(paths["USA"]))
    pyreadstat.write_sav(frame.drop(columns="TOTWGT"), str(paths["USA"]))
    with pytest.raises(hlm.ModelInputError, match=r"TOTWGT") as error:
        hlm.read_timss_files(paths["Korea"], paths["USA"])
    assert "BSGUSAM1.sav" in str(error.value)


def test_the_sensitivity_runs_of_section_8(prose, timss):
    says(prose, "`weighted_analysis(timss, weights=None)` (school weights only)")
    usa = timss[timss["country"] == "USA"]
    pooled = hlm.fit_plausible_values(
        usa,
        "{pv} ~ college + boy",
        outcomes=["math1", "math2", "math3", "math4", "math5"],
        group="school",
        random=["college"],
        covariance="vc",
        method="ML",
        weights=None,
        group_weights="school_weight",
        weight_scaling="size",
    )
    first = hlm.fit_hlm(usa, "math1 ~ college + boy", group_weights="school_weight", **RC)
    np.testing.assert_allclose(pooled.first.fixed["estimate"], first.fixed["estimate"], rtol=1e-6)
