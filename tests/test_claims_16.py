"""Notebook 16's prose and its generated write-up, checked against the data and against R.

Each test first finds the sentence in the notebook's markdown with ``says``, then recomputes
the claim. The write-up is written by a code cell: its stored text must be what the code
writes today (so a change in the data cannot leave a stale paragraph), and its numbers are
checked against lme4/lmerTest (tests/fixtures/variance_explained_lme4.json).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from prose import says

import hlmteach as hlm
from hlmteach.exercises import solution_value
from hlmteach.reporting import fixed_effects_table, variance_components_table

NB = "16_reporting.ipynb"
ROOT = Path(__file__).resolve().parents[1]
LME4 = json.loads(
    (ROOT / "tests" / "fixtures" / "variance_explained_lme4.json").read_text(encoding="utf-8")
)
FORMULA = "math ~ college + boy"


def rounds_to(value: float, printed: str) -> bool:
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return f"{value:.{decimals}f}" == printed


@cache
def country(name: str):
    return hlm.load_timss(name)


@cache
def model(name: str = "USA", random: bool = True):
    return hlm.fit_hlm(
        country(name),
        FORMULA,
        group="school",
        random=["college"] if random else [],
        covariance="vc",
    )


def _cells() -> list[dict]:
    return json.loads((ROOT / "notebooks" / NB).read_text(encoding="utf-8"))["cells"]


@cache
def executed_write_up() -> tuple[str, str]:
    """(stored write-up, write-up the notebook's code writes now)."""
    namespace: dict = {}
    stored = None
    for cell in _cells():
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        if "hlm.check" in source or ("write_up" not in source and "display(" in source):
            continue
        if "write_up" in source:
            stored = "".join(cell["outputs"][0]["data"]["text/plain"])
            source = source.replace("display(", "(lambda *a, **k: None)(")
        exec(compile(source, NB, "exec"), namespace)  # the notebook's own code
        if "write_up" in namespace:
            break
    assert stored is not None
    return stored, namespace["write_up"]


def test_the_stored_write_up_is_what_the_code_writes_now():
    stored, fresh = executed_write_up()
    assert stored.strip() == fresh.strip()


def test_the_write_up_numbers_agree_with_lme4_and_lmertest():
    text = executed_write_up()[1]
    report = LME4["us_report"]
    sat = report["satterthwaite"]
    assert f"{report['n_obs']} US 8th graders in {report['n_groups']} schools" in text
    sizes = report["cluster_sizes"]
    assert f"{sizes['Min.']:.0f} to {sizes['Max.']:.0f} students per school, median " in text
    assert f"median {sizes['Median']:.0f})" in text
    college = (
        f"scored {sat['estimate']['college']:.2f} SD higher than students without one "
        f"(SE = {sat['se']['college']:.3f}, t({sat['df']['college']:.0f}) = "
    )
    assert college in text
    boy = (
        f"boys {sat['estimate']['boy']:.3f} SD higher than girls (SE = {sat['se']['boy']:.3f}, "
        f"t({sat['df']['boy']:.0f}) ="
    )
    assert boy in text
    ref = LME4["models"]["usa_rc"]
    tau = ref["tau"]
    assert f"its variance was {tau['2'][1]:.4f}" in text
    assert f"The school intercepts had variance {tau['1'][0]:.3f}" in text
    assert f"the residual variance was {ref['sigma2']:.3f}" in text
    icc = LME4["models"]["usa_anova_complete"]["nakagawa"]["conditional"]  # tau00 / total
    assert f"(ICC = {icc:.2f})" in text
    copy = LME4["models"]["usa_rc_copy"]["nakagawa"]  # insight counting the slope variance
    assert f"explain {100 * copy['marginal']:.1f}% of the variance" in text
    assert f"together {100 * copy['conditional']:.1f}% (conditional R²)" in text


def test_the_write_up_in_words():
    text = executed_write_up()[1]
    fit = model()
    table = fixed_effects_table(fit)
    ci = table.loc["college", ["lower", "upper"]]
    assert f"95% CI [{ci['lower']:.3f}, {ci['upper']:.3f}]" in text
    assert "t(132) = 7.07, p < .001, 95% CI [0.115, 0.205]" in text
    assert "chi-square = 6.33, p = 0.006" in text
    test = hlm.boundary_lr_test(model(random=False), fit)
    assert rounds_to(test.statistic, "6.33") and rounds_to(test.p_value, "0.006")
    assert "one student with no information on parents' education was excluded" in text
    assert fit.n_dropped == 1
    assert "(Nakagawa's marginal R²)" in text and "29.0% is intercept variation" in text


def test_methods_items_and_sizes():
    says(
        NB,
        "a model with 183 schools of 6 to 86 students is not the same design as one with 183 "
        "schools of 38 each",
        "One US student has no parents' education, so the model uses 6943 of the 6944 students",
        "Here one row is dropped (listwise deletion)",
        "The one-way ANOVA of notebook 03 used all 6944 US students",
    )
    sizes = country("USA").groupby("school").size()
    assert (sizes.min(), sizes.max(), len(sizes)) == (6, 86, 183)
    assert rounds_to(model().n_obs / model().n_groups, "38")
    assert len(country("USA")) == 6944 and model().n_obs == 6943 and model().n_dropped == 1
    assert hlm.fit_hlm(country("USA"), "math ~ 1", group="school").n_obs == 6944


def test_math_is_the_first_plausible_value_and_one_pv_understates_the_se():
    says(
        NB,
        "The course's `math` is the **first** plausible value only",
        "one plausible value gives standard errors that are too small",
    )
    usa = country("USA")
    np.testing.assert_array_equal(usa["math"].to_numpy(), usa["math1"].to_numpy())
    pooled = hlm.fit_plausible_values(
        usa, "{pv} ~ college + boy", group="school", random=["college"], covariance="vc"
    )
    one = model().fixed["se"]
    assert (pooled.fixed["se"] > one.reindex(pooled.fixed.index)).all()


def test_the_df_of_the_college_effect():
    says(
        NB,
        "Satterthwaite gives it far fewer df than the between-within method",
        "the college effect has 132 Satterthwaite df, not 6758, because it varies across 183 "
        "schools",
    )
    table = fixed_effects_table(model())
    assert rounds_to(table.loc["college", "df"], "132")
    assert model().fixed.loc["college", "df"] == 6758


def test_the_slope_variance_interval_and_test():
    says(
        NB,
        "The interval for the college-slope variance runs from 0.0036 to 0.0421: not "
        "symmetric around 0.0197 (it reaches further above the estimate than below), and "
        "clear of zero.",
        "its slope variance has a profile interval of 0.0036 to 0.0421 and a mixture "
        "likelihood-ratio test of p = 0.006",
    )
    row = variance_components_table(model()).loc["Var(college)"]
    assert rounds_to(row["lower"], "0.0036") and rounds_to(row["upper"], "0.0421")
    assert rounds_to(row["estimate"], "0.0197") and not row["reaches_zero"]
    assert (row["upper"] - row["estimate"]) > 1.2 * (row["estimate"] - row["lower"])
    test = hlm.boundary_lr_test(model(random=False), model())
    assert rounds_to(test.p_value, "0.006")


def test_exercise_16_1_solution():
    says(
        NB,
        'kr_fixed.loc["college", "df"]          # 112.7',
        'kr.fixed.loc["college", "df"]          # between-within: 2748',
        "depends on the 150 schools",
        "rather than on the 2900 students. Satterthwaite's df (113) reflect that; the "
        "between-within df (2748) count students.",
    )
    korea = model("Korea")
    table = fixed_effects_table(korea)
    assert rounds_to(table.loc["college", "df"], "112.7")
    assert rounds_to(table.loc["college", "df"], "113")
    assert korea.fixed.loc["college", "df"] == 2748
    assert (korea.n_groups, korea.n_obs) == (150, 2900)
    assert solution_value("16.1") == pytest.approx(table.loc["college", "df"])


def test_exercise_16_2_solution():
    says(NB, "# 0.463, [0.373, 0.554]", "from 0.373 to 0.554 SD")
    row = fixed_effects_table(model("Korea")).loc["college"]
    assert rounds_to(row["estimate"], "0.463")
    assert rounds_to(row["lower"], "0.373") and rounds_to(row["upper"], "0.554")
    assert solution_value("16.2") == pytest.approx(row["upper"])


def test_exercise_3_korea_has_no_evidence_for_the_slope():
    says(
        NB,
        "In Korea the likelihood-ratio test gives no evidence that the college effect varies "
        "across schools",
        "the profile interval of its variance reaches zero",
    )
    korea = model("Korea")
    assert hlm.boundary_lr_test(model("Korea", random=False), korea).p_value > 0.2
    assert variance_components_table(korea).loc["Var(college)", "reaches_zero"]


def test_write_up_sentence_about_the_source():
    says(NB, "so that its numbers match notebooks 04 and 10")
    # notebooks 04 and 10 fit this same model (first plausible value, covariance='vc')
    for name in ("04_random_coefficients.ipynb", "10_testing_variances.ipynb"):
        source = (ROOT / "notebooks" / name).read_text(encoding="utf-8")
        assert re.search(r"random=\[\\?['\"]college\\?['\"]\], covariance=\\?['\"]vc", source)


def test_the_df_quick_check():
    says(
        NB,
        "so a slope that varies across 183 schools gets about 132 df. The between-within method "
        "gives a level-1 predictor the within-school df (6758) even when its slope is random",
    )
    assert model().n_groups == 183
    assert rounds_to(fixed_effects_table(model()).loc["college", "df"], "132")
    assert model().fixed.loc["college", "df"] == 6758
    says(NB, "and the residual df, $N - p = 6940$, count the students too")
    assert model().n_obs - len(model().fixed) == 6940


def test_the_plain_chi_square_p_is_twice_the_mixture_p():
    says(
        NB,
        "Report this mixture p-value, not the plain χ²(1) one, which is twice as large here",
        "for one variance on its boundary, halve it",
    )
    test = hlm.boundary_lr_test(model(random=False), model())
    assert test.mixture and test.df == 1
    assert test.p_value_naive == pytest.approx(2 * test.p_value, rel=1e-9)


def test_one_student_hardly_moves_the_icc():
    says(NB, "With one student the numbers hardly move")
    usa = country("USA")
    all_rows = hlm.fit_hlm(usa, "math ~ 1", group="school").icc
    complete = hlm.fit_hlm(usa.dropna(subset=["college", "boy"]), "math ~ 1", group="school").icc
    assert abs(all_rows - complete) < 0.001


def test_the_write_up_names_the_software_and_its_version():
    import importlib.metadata

    text = executed_write_up()[1]
    version = importlib.metadata.version("hlmteach")
    assert f"with the Python package hlmteach {version} (fit_hlm)" in text
