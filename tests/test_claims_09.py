"""Claims in the prose of notebook 09 (centring and contextual effects), checked on the data.

Each test first finds its sentence in the notebook's markdown (``says``), so that a
reworded claim fails here and is checked again, then recomputes the claim from the
package and the shipped data, with a tolerance that matches the printed rounding.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from prose import says
from test_claims_08 import agrees_with_lme4

import hlmteach as hlm

NB = "09_contextual_effects.ipynb"
PVS = [f"math{k}" for k in range(1, 6)]
COUNTRIES = ("Korea", "USA")


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    """The notebook's analysis rows, with its three versions of college and the share."""
    frame = hlm.load_timss().dropna(subset=["college"])
    frame = hlm.center(frame, "college", by="country")
    frame = hlm.center(frame, "college", group="school", kind="group")
    return hlm.school_mean(frame, "college", "school", name="college_share")


def _part(data: pd.DataFrame, country: str) -> pd.DataFrame:
    return data[data["country"] == country]


@pytest.fixture(scope="module")
def timss() -> pd.DataFrame:
    return hlm.load_timss()


def _contextual(timss: pd.DataFrame, country: str, random_slope: bool = False):
    """hlm.contextual_effect on a country's rows of the loaded data, as the notebook calls it."""
    rows = timss[timss["country"] == country]
    return hlm.contextual_effect(
        rows, "math", "college", "school", covariates=["boy"], random_slope=random_slope
    )


@pytest.fixture(scope="module")
def effects(timss: pd.DataFrame) -> dict:
    return {c: _contextual(timss, c) for c in COUNTRIES}


@pytest.fixture(scope="module")
def pooled_share(data: pd.DataFrame) -> dict:
    return {
        c: hlm.fit_plausible_values(
            _part(data, c), "{pv} ~ college + college_share + boy", outcomes=PVS, group="school"
        )
        for c in COUNTRIES
    }


def _raw_share_fit(data: pd.DataFrame, country: str, random=()):
    return hlm.fit_hlm(
        _part(data, country),
        "math ~ college + college_share + boy",
        group="school",
        random=list(random),
    )


# -- the opening --------------------------------------------------------------------------------


def test_pooling_moves_the_estimates_by_a_quarter_se_at_most(effects, pooled_share) -> None:
    says(NB, "pooling moves these estimates by a quarter of a standard error at most")
    for country, pooled in pooled_share.items():
        table = effects[country].table
        for term, row in (("college", "within"), ("college_share", "contextual")):
            moved = abs(pooled.fixed.loc[term, "estimate"] - table.loc[row, "estimate"])
            assert moved <= 0.25 * table.loc[row, "se"] + 1e-9


# -- section 1 ----------------------------------------------------------------------------------


def test_centring_changes(data: pd.DataFrame) -> None:
    says(
        NB,
        "**Uncentred → grand-mean centred: only the intercept moves.** The college slope, "
        "$\\tau_{00}$ and every other number stay the same",
        "close to the country's mean for girls",
        "so the differences in that share now sit in $\\tau_{00}$, which grows. In Korea the "
        "college slope drops clearly; in the USA it drops a little.",
    )
    for country in COUNTRIES:
        part = _part(data, country)
        fits = {
            column: hlm.fit_hlm(part, f"math ~ {column} + boy", group="school")
            for column in ("college", "college_cgm", "college_cwc")
        }
        raw, grand, group = fits["college"], fits["college_cgm"], fits["college_cwc"]
        assert grand.fixed.loc["college_cgm", "estimate"] == pytest.approx(
            raw.fixed.loc["college", "estimate"], abs=1e-6
        )
        assert grand.tau.iloc[0, 0] == pytest.approx(raw.tau.iloc[0, 0], rel=1e-5)
        assert grand.deviance == pytest.approx(raw.deviance, abs=1e-5)
        girls_mean = part.loc[part["boy"] == 0, "math"].mean()
        assert grand.fixed.loc["Intercept", "estimate"] == pytest.approx(girls_mean, abs=0.01)
        assert group.tau.iloc[0, 0] > 1.05 * raw.tau.iloc[0, 0]
        drop = raw.fixed.loc["college", "estimate"] - group.fixed.loc["college_cwc", "estimate"]
        if country == "Korea":
            assert drop > 0.1
        else:
            assert 0 < drop < 0.03


# -- section 2 ----------------------------------------------------------------------------------


def test_within_between_contextual(effects) -> None:
    says(
        NB,
        "a college-educated parent goes with a higher score than a schoolmate's, more so in Korea",
        "0.49 in Korea and 0.16 in the USA: the US one is already close to the within effect, "
        "the Korean one is not",
        "positive and clearly significant in both countries, and about twice as large in the "
        "USA as in Korea. Its df are those of the between-school effect",
    )
    korea, usa = effects["Korea"].table, effects["USA"].table
    assert korea.loc["within", "estimate"] > usa.loc["within", "estimate"] > 0
    assert abs(usa.loc["within", "estimate"] - 0.16) < 0.02
    assert abs(korea.loc["within", "estimate"] - 0.49) > 0.1
    for table in (korea, usa):
        assert table.loc["between", "estimate"] > 2 * table.loc["within", "estimate"]
        assert table.loc["contextual", "p"] < 1e-4
        assert table.loc["contextual", "df"] == table.loc["between", "df"]
    ratio = usa.loc["contextual", "estimate"] / korea.loc["contextual", "estimate"]
    assert ratio == pytest.approx(2.0, abs=0.2)


def test_quick_check_answer(effects) -> None:
    says(NB, "(c), the contextual effect: about $0.1 \\times 1.25 = 0.12$ standard deviations")
    contextual = effects["USA"].table.loc["contextual", "estimate"]
    assert round(contextual, 2) == 1.25 and round(0.1 * contextual, 2) == 0.12


def test_reliability_of_the_school_share(data: pd.DataFrame) -> None:
    says(
        NB,
        "the 5 to 86 students tested in school $j$ (about 19 per school in Korea and 38 in the USA",
        "In both countries the observed share has a reliability of about 0.85",
        "here by about 15%",
    )
    sizes = data.groupby(["country", "school"], observed=True).size()
    assert (sizes.min(), sizes.max()) == (5, 86)
    means = sizes.groupby("country", observed=True).mean()
    assert round(means["Korea"]) == 19 and round(means["USA"]) == 38
    for country in COUNTRIES:
        composition = hlm.fit_hlm(_part(data, country), "college ~ 1", group="school")
        assert 0.82 <= composition.reliability["Intercept"] <= 0.87


def test_the_generator_uses_the_tested_students_share() -> None:
    """'the generator made the school effect depend on the share among the tested students'."""
    says(NB, "the generator made the school effect depend on the share among the *tested* students")
    source = (Path(hlm.__file__).parent / "synthetic.py").read_text(encoding="utf-8")
    assert "Effect on the school mean of the share (0 to 1) of the school's tested" in source


def test_equivalence_with_a_random_intercept(data: pd.DataFrame, effects) -> None:
    says(NB, "With a random intercept only, the two parametrisations are the same model:")
    for country in COUNTRIES:
        raw = _raw_share_fit(data, country)
        table = effects[country].table
        assert raw.fixed.loc["college", "estimate"] == pytest.approx(
            table.loc["within", "estimate"], abs=1e-6
        )
        assert raw.fixed.loc["college_share", "estimate"] == pytest.approx(
            table.loc["contextual", "estimate"], abs=1e-6
        )
        assert raw.deviance == pytest.approx(effects[country].fit.deviance, abs=1e-5)


# -- section 3 ----------------------------------------------------------------------------------


def _decomposition(data: pd.DataFrame, effects, country: str) -> dict[str, float]:
    """The quantities of the notebook's section-3 table."""
    part = _part(data, country)
    ri = hlm.fit_hlm(part, "math ~ college + boy", group="school")
    dev_within = part["college"] - part["college_share"]
    dev_between = part["college_share"] - part["college"].mean()
    eta2 = (dev_between**2).sum() / ((dev_within**2).sum() + (dev_between**2).sum())
    tau00, sigma2 = ri.tau.iloc[0, 0], ri.sigma2
    schools = part.groupby("school").agg(n=("college", "size"), share=("college", "mean"))
    spread = schools["n"] * (schools["share"] - part["college"].mean()) ** 2
    info_between = (spread / (sigma2 + schools["n"] * tau00)).sum()
    info_within = (dev_within**2).sum() / sigma2
    table = effects[country].table
    return {
        "within": table.loc["within", "estimate"],
        "between": table.loc["between", "estimate"],
        "eta2": eta2,
        "ols": hlm.fit_ols(part, "math ~ college + boy").fixed.loc["college", "estimate"],
        "w": info_between / (info_between + info_within),
        "ri": ri.fixed.loc["college", "estimate"],
        "school_size": schools["n"].mean(),
        "tau00": tau00,
    }


def test_why_the_us_effect_falls(data: pd.DataFrame, effects) -> None:
    says(
        NB,
        "in both countries a sizeable share of college's variation lies between schools "
        "($\\eta^2$), and the between effect is several times the within effect",
        "The simple formula reproduces the OLS estimates closely, and both are close to the "
        "published ones.",
        "US schools are large (about 38 students) and differ a lot ($\\tau_{00}$ is large)",
        "the between part gets a weight of about 1%",
        "Korean schools are smaller and differ little (small $\\tau_{00}$)",
        "keep a weight of about a fifth",
    )
    published_ols = {"Korea": 0.53, "USA": 0.357}
    found = {c: _decomposition(data, effects, c) for c in COUNTRIES}
    for country, d in found.items():
        assert d["eta2"] > 0.15
        assert d["between"] > 2.5 * d["within"]
        approximation = (1 - d["eta2"]) * d["within"] + d["eta2"] * d["between"]
        assert abs(approximation - d["ols"]) < 0.005
        assert abs(d["ols"] - published_ols[country]) < 0.01
        assert abs((1 - d["w"]) * d["within"] + d["w"] * d["between"] - d["ri"]) < 0.005
    usa, korea = found["USA"], found["Korea"]
    assert round(usa["school_size"]) == 38 and usa["school_size"] > 1.5 * korea["school_size"]
    assert usa["tau00"] > 5 * korea["tau00"]
    assert 0.005 <= usa["w"] < 0.015
    assert 0.17 <= korea["w"] <= 0.23


def test_random_slope_changes_little_but_breaks_the_equivalence(
    data: pd.DataFrame, timss: pd.DataFrame, effects
) -> None:
    says(
        NB,
        "Adding a random college slope, as the source did, changes the within and contextual "
        "effects little here",
        "but the uncentred and centred versions are then different models",
    )
    for country in COUNTRIES:
        sloped = _contextual(timss, country, random_slope=True).table
        table = effects[country].table
        for row in ("within", "contextual"):
            assert abs(sloped.loc[row, "estimate"] - table.loc[row, "estimate"]) < (
                0.5 * table.loc[row, "se"]
            )
    usa = _contextual(timss, "USA", random_slope=True)
    raw = _raw_share_fit(data, "USA", random=("college",))
    assert abs(raw.deviance - usa.fit.deviance) > 0.1


def test_fixed_effects_estimator_is_the_within_effect(data: pd.DataFrame, effects) -> None:
    says(
        NB,
        "gives 0.3435 (SE 0.0497) in Korea and 0.1484 (SE 0.0196) in the USA, the within "
        "effects of section 2 to every digit shown",
    )
    printed = {"Korea": (0.3435, 0.0497), "USA": (0.1484, 0.0196)}
    for country, (estimate, se) in printed.items():
        fe = hlm.fit_ols(_part(data, country), "math ~ C(school) + college + boy")
        row = fe.fixed.loc["college"]
        assert round(row["estimate"], 4) == estimate and round(row["se"], 4) == se
        within = effects[country].table.loc["within"]
        assert round(within["estimate"], 4) == estimate and round(within["se"], 4) == se


def test_summary_limits(data: pd.DataFrame) -> None:
    says(
        NB,
        "an observed school share is a fallible measure of composition (reliability about "
        "0.85 here)",
    )
    for country in COUNTRIES:
        composition = hlm.fit_hlm(_part(data, country), "college ~ 1", group="school")
        assert round(composition.reliability["Intercept"], 2) in (0.84, 0.85)


# -- section 4: HSB -----------------------------------------------------------------------------


def test_hsb_reading_and_same_fit() -> None:
    says(
        NB,
        "scores about 2.2 points higher",
        "differ by about 3.7 points",
        "school means of SES vary much less than students' SES",
        "Same model, same fit (compare −2 Res Log Likelihood)".replace("−", "-"),
    )
    hsb = hlm.load_hsb()
    ses = hlm.contextual_effect(hsb, "mathach", "ses", "school")
    assert round(ses.table.loc["within", "estimate"], 1) == 2.2
    assert round(ses.table.loc["contextual", "estimate"], 1) == 3.7
    school_sd = hsb.groupby("school")["ses"].mean().std()
    assert school_sd < 0.6 * hsb["ses"].std()
    grand = hlm.fit_hlm(
        hlm.school_mean(hlm.center(hsb, "ses"), "ses", "school"),
        "mathach ~ ses_cgm + ses_mean",
        group="school",
    )
    assert grand.deviance == pytest.approx(ses.fit.deviance, abs=1e-5)


# -- exercises ----------------------------------------------------------------------------------


def test_exercise_1_solution(effects, pooled_share) -> None:
    says(
        NB,
        "within: about 0.333 (SE 0.054), FMI about 0.18",
        "The pooled within-school effect is about 0.333, against 0.344 from `math1` alone; its "
        "SE grows from 0.050 to 0.054",
        "The pooled contextual effect is about 0.63 (SE 0.11), against 0.62 (0.10).",
        "For the USA the same code gives a within effect of about 0.153 and a contextual effect "
        "of about 1.25.",
        "Pooling matters more for the within effect",
    )
    korea = pooled_share["Korea"]
    within, first = korea.fixed.loc["college"], korea.first.fixed.loc["college"]
    assert round(within["estimate"], 3) == 0.333 and round(within["se"], 3) == 0.054
    assert round(within["fmi"], 2) == 0.18
    assert round(first["estimate"], 3) == 0.344 and round(first["se"], 3) == 0.050
    contextual = korea.fixed.loc["college_share"]
    assert round(contextual["estimate"], 2) == 0.63 and round(contextual["se"], 2) == 0.11
    table = effects["Korea"].table.loc["contextual"]
    assert round(table["estimate"], 2) == 0.62 and round(table["se"], 2) == 0.10
    usa = pooled_share["USA"].fixed
    assert round(usa.loc["college", "estimate"], 3) == 0.153
    assert round(usa.loc["college_share", "estimate"], 2) == 1.25
    for pooled in pooled_share.values():
        assert pooled.fixed.loc["college", "fmi"] > pooled.fixed.loc["college_share", "fmi"]
    assert hlm.check("09.1", 0.333).correct and not hlm.check("09.1", 0.344).correct


def test_exercise_2_solution(data: pd.DataFrame, timss: pd.DataFrame) -> None:
    says(
        NB,
        'raw_slope.fixed.loc["college_share"]               # about 1.19',
        'centred_slope.table.loc["contextual"]              # about 1.20',
        "14966.8 against 14967.3",
        "a twentieth of a standard error",
    )
    raw = _raw_share_fit(data, "USA", random=("college",))
    centred = _contextual(timss, "USA", random_slope=True)
    share = raw.fixed.loc["college_share", "estimate"]
    contextual = centred.table.loc["contextual"]
    assert round(share, 2) == 1.19 and round(contextual["estimate"], 2) == 1.20
    assert (round(raw.deviance, 1), round(centred.fit.deviance, 1)) == (14966.8, 14967.3)
    assert abs(share - contextual["estimate"]) / contextual["se"] == pytest.approx(0.05, abs=0.02)
    assert hlm.check("09.2", round(share, 2)).correct


def test_exercise_3_solution() -> None:
    says(
        NB,
        "The contextual effect falls from 3.68 to 3.15 (lme4 gives 3.14509 for the same model).",
        "The within-school effect does not change at all",
    )
    hsb = hlm.load_hsb()
    plain = hlm.contextual_effect(hsb, "mathach", "ses", "school").table
    sector = hlm.contextual_effect(hsb, "mathach", "ses", "school", covariates=["sector"]).table
    assert round(plain.loc["contextual", "estimate"], 2) == 3.68
    assert round(sector.loc["contextual", "estimate"], 2) == 3.15
    assert sector.loc["within", "estimate"] == pytest.approx(
        plain.loc["within", "estimate"], abs=1e-6
    )
    fixture = json.loads(
        (Path(__file__).parent / "fixtures" / "contextual_lme4.json").read_text(encoding="utf-8")
    )
    assert "ri_sector" in fixture["models"]


def test_pooled_contextual_model_agrees_with_lme4_and_mice(pooled_share) -> None:
    """Outside implementation for exercise 1: lme4 + mice::pool.scalar
    (tests/reference/pv_pool_lme4.R); tolerances as in tests/test_claims_08.py."""
    for country, pooled in pooled_share.items():
        agrees_with_lme4(pooled.fixed, country, "contextual")


def test_notebook_15_takes_up_fixed_effects() -> None:
    says(NB, "Notebook 15 (*Fixed or random school effects?*) takes this up.")
    fifteen = json.loads(
        (Path(__file__).parents[1] / "notebooks" / "15_fixed_or_random.ipynb").read_text(
            encoding="utf-8"
        )
    )
    text = " ".join("".join(cell["source"]) for cell in fifteen["cells"])
    assert "Fixed or random school effects?" in text
    assert "Mundlak" in text and "Hausman" in text
