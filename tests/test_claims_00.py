"""Notebook 00's prose, checked: the data claims, the course map's times and the quick check.

Each test first finds the sentence in the notebook's markdown with ``says`` (a reworded claim
fails here and is checked again), then recomputes it from the package and the shipped data.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from prose import says

import hlmteach as hlm
from hlmteach.exercises import solution_value
from hlmteach.published import (
    ANOVA_RESULTS,
    HLM_RESULTS,
    OLS_RESULTS,
    SOURCE,
    largest_gap,
)

NB = "00_start_here.ipynb"
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.fixture(scope="module")
def timss() -> pd.DataFrame:
    return hlm.load_timss()


def _map_rows() -> list[tuple[str, int, int]]:
    """(notebook, low, high minutes) for every row of the course map's two path tables."""
    cells = json.loads((NOTEBOOKS / NB).read_text(encoding="utf-8"))["cells"]
    text = "".join(next(c["source"] for c in cells if "## The course map" in "".join(c["source"])))
    rows = re.findall(r"^\| \d+ \| `(\d\d_\w+\.ipynb)` \|.*\| (\d+)–(\d+) min \|$", text, re.M)
    return [(name, int(low), int(high)) for name, low, high in rows]


def test_the_source_is_cited():
    says(NB, "Kazuaki (Kaz) Uekawa's web tutorial *Hierarchical Linear Model using SAS*")
    says(NB, "<http://www.estat.us/HLM/index.htm>; its SAS output is dated December 2003")
    assert "estat.us/HLM/index.htm" in SOURCE and "December 2003" in SOURCE


def test_the_path_and_its_times():
    rows = _map_rows()
    names = [name for name, _, _ in rows]
    assert len(rows) == 16 and len(set(names)) == 16
    order = [name[:2] for name in names]
    # 13 after 05, 14 after 07, 15 after 09, 16 after 10, 17 after 16.
    for before, after in [("05", "13"), ("07", "14"), ("09", "15"), ("10", "16"), ("16", "17")]:
        assert order.index(after) > order.index(before)
    part1, part2 = rows[:8], rows[8:]
    says(
        NB,
        "**Part 1: from OLS to the multilevel model (the source analysis), about 6–8 hours**",
        "**Part 2: practice, and beyond the source analysis, about 7–10 hours**",
        "takes **about 13.5 to 17.5 hours**",
        "In all, 13.5 to 17.5 hours.",
    )
    # Each stated total is the sum of the rows' times, rounded to the hour (or half hour).
    assert sum(low for _, low, _ in part1) / 60 == pytest.approx(6, abs=0.3)
    assert sum(high for _, _, high in part1) / 60 == pytest.approx(8, abs=0.3)
    assert sum(low for _, low, _ in part2) / 60 == pytest.approx(7, abs=0.3)
    assert sum(high for _, _, high in part2) / 60 == pytest.approx(10, abs=0.3)
    assert sum(low for _, low, _ in rows) / 60 == pytest.approx(13.5, abs=0.05)
    assert sum(high for _, _, high in rows) / 60 == pytest.approx(17.5, abs=0.05)
    says(NB, "`11_glossary.ipynb`", "`12_real_timss_files.ipynb`", "(75–90 min)")


def test_the_map_agrees_with_every_notebooks_own_time():
    """The first number of each notebook's "About ... minutes" lies in its row's range."""
    for name, low, high in _map_rows():
        cells = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))["cells"]
        stated = re.search(r"About (\d+)", "".join(cells[0]["source"]))
        assert stated is not None, name
        assert low <= int(stated.group(1)) <= high, name


def test_the_map_agrees_with_the_headers_of_notebooks_00_to_03():
    for name, low, high in _map_rows():
        if name[:2] in ("00", "01", "02", "03"):
            cells = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))["cells"]
            assert f"About {low}–{high} minutes" in "".join(cells[0]["source"]), name


def test_sizes_and_calibration(timss):
    says(
        NB,
        "(sample sizes exactly; every estimate within one published standard error)",
        "How many students and schools each country has — the same numbers as the original study",
    )
    sizes = timss.groupby("country", observed=True).agg(
        students=("idstud", "size"), schools=("school", "nunique")
    )
    for country in ("Korea", "USA"):
        assert str(sizes.loc[country, "students"]) == ANOVA_RESULTS[country]["Sample Size"]
        assert str(sizes.loc[country, "schools"]) == ANOVA_RESULTS[country]["N of Schools"]
    fits = {
        "ols": (hlm.fit_ols(timss, "math ~ college + boy", by="country"), OLS_RESULTS),
        "anova": (hlm.fit_hlm(timss, "math ~ 1", group="school", by="country"), ANOVA_RESULTS),
        "hlm": (
            hlm.fit_hlm(
                timss,
                "math ~ college + boy",
                group="school",
                random=["college"],
                covariance="vc",
                by="country",
            ),
            HLM_RESULTS,
        ),
    }
    for fitted, published in fits.values():
        assert largest_gap(fitted, published) < 1


def test_hsb_size():
    says(NB, "7185 US high-school students in 160 schools")
    hsb = hlm.load_hsb()
    assert len(hsb) == 7185 and hsb["school"].nunique() == 160


def test_z_score_outcome(timss):
    says(NB, "0 is the average of all Korean and US students together, and 1 is one standard")
    assert timss["math"].mean() == pytest.approx(0, abs=1e-6)
    assert timss["math"].std() == pytest.approx(1, abs=1e-3)
    says(NB, "TIMSS does not give one score per student but five plausible values")
    assert [c for c in timss.columns if re.fullmatch(r"math\d", c)] == [
        f"math{k}" for k in range(1, 6)
    ]
    assert (timss["math"] == timss["math1"]).all()


def test_quick_check_answer():
    says(NB, "About 0.06: lme4 prints a standard deviation", "$0.25^2 \\approx 0.06$")
    assert round(0.25**2, 2) == 0.06


def test_setup_exercise(timss):
    says(NB, "the one student with no parents' education is missing and not counted either way")
    korea = timss[timss["country"] == "Korea"]
    assert korea["college"].isna().sum() == 1
    assert solution_value("00.1") == (korea["college"] == 1).sum() == korea["college"].sum()


def test_readme_claims(timss):
    """The README's course text says what 00 says, and its SE claim holds on the data."""
    readme = re.sub(r"\s+", " ", (NOTEBOOKS.parent / "README.md").read_text(encoding="utf-8"))
    assert "the course takes about 13.5 to 17.5 hours" in readme
    assert "Kazuaki (Kaz) Uekawa's web tutorial *Hierarchical Linear Model using SAS*" in readme
    for name, _, _ in _map_rows():
        assert f"`{name.removesuffix('.ipynb')}`" in readme, name
    claim = (
        "above all for comparisons between schools (for a predictor that varies within "
        "schools, such as a student's sex, the multilevel SE can even be smaller)"
    )
    assert claim in readme
    usa = timss[timss["country"] == "USA"]
    ols = hlm.fit_ols(usa, "math ~ college + boy").fixed.loc["boy", "se"]
    ri = hlm.fit_hlm(usa, "math ~ college + boy", group="school").fixed.loc["boy", "se"]
    assert ri < 0.9 * ols


def test_the_instructor_guide_uses_the_same_path_and_times():
    guide = (NOTEBOOKS.parent / "INSTRUCTORS.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d+) \| (\d\d) [^|]+\| (\d+)–(\d+) min", guide, re.M)
    path = [(name[:2], low, high) for name, low, high in _map_rows()]
    assert [(number, int(low), int(high)) for _, number, low, high in rows] == path
    for total in ("**about 6–8 h**", "**about 7–10 h**", "13.5–17.5 hours"):
        assert total in guide


def test_every_notebook_has_a_summary_and_exercises():
    says(NB, "ends with a summary and exercises (this one with a single set-up exercise)")
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        markdown = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        assert "## Summary" in markdown, path.name
        assert "## Exercises" in markdown or path.name == NB, path.name


def test_the_python_versions_match_the_package():
    says(NB, "**On your own machine** (Python 3.11.5 to 3.13)")
    import tomllib

    project = tomllib.loads((NOTEBOOKS.parent / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["requires-python"] == ">=3.11.5,<3.14"


def test_statsmodels_gives_no_aic_under_reml(timss):
    says(NB, "statsmodels reports no AIC under REML")
    import numpy as np
    import statsmodels.formula.api as smf

    korea = timss[timss["country"] == "Korea"]
    fit = smf.mixedlm("math ~ 1", korea, groups=korea["school"]).fit(reml=True)
    assert np.isnan(fit.aic)
